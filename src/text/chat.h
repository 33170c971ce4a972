/* chat.h — chat prompt formatting for Gemma 4 (<|turn>role ... <turn|>, system turn, thinking
 * switch, thought channel stripped from earlier answers) and Gemma 3 (<start_of_turn> ...
 * <end_of_turn>, system text folded into the first user turn), the stop tokens of each format, and a
 * streaming filter that separates the thought channel from a generated answer.
 * Layouts: spec gemma4.md §4.4 and §5. The rendered prompt starts with the text "<bos>": tokenize it
 * with add_bos = true and parse_special = true (gr_tokenize then adds no second BOS).
 * Thread safety: all functions are reentrant; a gr_thought_filter belongs to one stream. */
#ifndef GR_TEXT_CHAT_H
#define GR_TEXT_CHAT_H

#include "gemrun.h"
#include "gguf/gguf.h"
#include "text/tokenizer.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gr_chat_format { GR_CHAT_GEMMA4 = 0, GR_CHAT_GEMMA3 = 1 } gr_chat_format;

typedef enum gr_chat_role { GR_ROLE_SYSTEM = 0, GR_ROLE_USER = 1, GR_ROLE_MODEL = 2 } gr_chat_role;

typedef struct gr_chat_msg {
    gr_chat_role role;
    const char *content; /* UTF-8, not necessarily NUL-terminated */
    size_t len;
} gr_chat_msg;

typedef struct gr_chat_opts {
    bool thinking;              /* Gemma 4: <|think|> in the system turn; ignored by Gemma 3 */
    bool add_generation_prompt; /* end with the opening of a model turn */
} gr_chat_opts;

/* Format from the chat template text (contains "<|turn>" -> Gemma 4, "<start_of_turn>" -> Gemma 3),
 * else from the architecture ("gemma4" / "gemma3"); GR_E_UNSUPPORTED when neither tells. Either
 * argument may be NULL. */
gr_status gr_chat_detect(const char *tmpl, size_t tmpl_len, const char *arch, gr_chat_format *out,
                         char *err, size_t errlen);
/* The same from a GGUF's tokenizer.chat_template and general.architecture. */
gr_status gr_chat_detect_gguf(const gr_gguf *g, gr_chat_format *out, char *err, size_t errlen);
const char *gr_chat_format_name(gr_chat_format f);

/* Render a conversation into a new NUL-terminated malloc'd string (*out, length *out_len).
 * Contents are trimmed of surrounding ASCII whitespace like the templates' `| trim` (Gemma 3's
 * folded system text is kept as is, followed by a blank line). Errors: GR_E_INVALID_ARG for a bad
 * role, or (Gemma 3) turns that do not alternate user/model after the optional system message. */
gr_status gr_chat_render(gr_chat_format f, const gr_chat_msg *msgs, size_t n, const gr_chat_opts *o,
                         char **out, size_t *out_len, char *err, size_t errlen);

/* Token ids that end a model turn in this format ({<turn|>, <eos>} or {<end_of_turn>, <eos>}),
 * looked up in the vocabulary; returns how many (at most cap written). */
size_t gr_chat_stop_tokens(gr_chat_format f, const gr_tokenizer *t, int32_t *ids, size_t cap);

/* Streaming splitter of a generated Gemma 4 answer into thought text (inside
 * "<|channel>" ... "<channel|>") and answer text. Holds back bytes that may start a marker, so
 * markers split across tokens are still recognised. Answer and thought buffers need len + 16 bytes. */
typedef struct gr_thought_filter {
    int in_thought;
    size_t n_hold;
    char hold[16];
} gr_thought_filter;
void gr_thought_filter_init(gr_thought_filter *f);
/* Feeds bytes; writes answer bytes to ans (*n_ans) and thought bytes to th (*n_th; th may be NULL
 * to drop them). */
void gr_thought_filter_feed(gr_thought_filter *f, const char *in, size_t len, char *ans,
                            size_t *n_ans, char *th, size_t *n_th);
/* End of stream: releases held bytes (to the answer, or to the thought inside a channel). */
void gr_thought_filter_flush(gr_thought_filter *f, char *ans, size_t *n_ans, char *th,
                             size_t *n_th);
/* Whole-string version: copies text without any thought channel into out (len + 16 bytes);
 * returns the length written. An unterminated channel drops everything after it. */
size_t gr_chat_strip_thought(const char *text, size_t len, char *out);

#endif
