/* tokenizer.h — text <-> token ids for Gemma vocabularies stored in GGUF metadata:
 * Gemma 4's merge-ranked BPE (tokenizer.ggml.model = "gemma4") and Gemma 3's SentencePiece style
 * (tokenizer.ggml.model = "llama", with scores). Byte fallback, special/user-defined tokens.
 * Thread safety: a gr_tokenizer is immutable after creation; concurrent use is fine. */
#ifndef GR_TEXT_TOKENIZER_H
#define GR_TEXT_TOKENIZER_H

#include "gemrun.h"
#include "gguf/gguf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_tokenizer gr_tokenizer;

gr_status gr_tokenizer_from_gguf(const gr_gguf *g, gr_tokenizer **out, char *err, size_t errlen);
void gr_tokenizer_free(gr_tokenizer *t);

int32_t gr_tokenizer_n_vocab(const gr_tokenizer *t);
int32_t gr_tokenizer_bos(const gr_tokenizer *t);
/* End of generation: <eos>, <turn|> / <end_of_turn>, ... */
bool gr_tokenizer_is_eog(const gr_tokenizer *t, int32_t id);

/* Encode UTF-8 text. add_bos prepends BOS; parse_special turns special-token strings in the text
 * into their ids (otherwise they are encoded as plain text). Writes up to cap ids to out and the
 * total count to *n_out (call again with a bigger buffer if *n_out > cap). */
gr_status gr_tokenize(const gr_tokenizer *t, const char *text, size_t len, bool add_bos,
                      bool parse_special, int32_t *out, size_t cap, size_t *n_out, char *err,
                      size_t errlen);

/* The bytes of one token (▁ -> space, <0xXX> -> that byte; control tokens render as "" unless
 * render_special). Returns the piece length; writes at most cap bytes. May be a partial UTF-8
 * sequence: streaming callers use gr_utf8_stream below. */
size_t gr_token_piece(const gr_tokenizer *t, int32_t id, bool render_special, char *buf,
                      size_t cap);

/* Streaming detokenizer: buffers incomplete UTF-8 sequences across tokens so every emitted chunk
 * is valid UTF-8 (invalid sequences become U+FFFD). */
typedef struct gr_utf8_stream {
    unsigned char pending[8];
    size_t n_pending;
} gr_utf8_stream;
/* Feed bytes; writes complete UTF-8 to out (cap >= len + 8 is always enough); returns bytes out. */
size_t gr_utf8_stream_feed(gr_utf8_stream *s, const char *in, size_t len, char *out, size_t cap);
/* Flush at end of stream (a dangling partial sequence becomes U+FFFD). */
size_t gr_utf8_stream_flush(gr_utf8_stream *s, char *out, size_t cap);

/* ---- additions (text helper) ---- */
int32_t gr_tokenizer_eos(const gr_tokenizer *t);
/* Whether prompts should start with BOS (always true for Gemma 4, whatever the file says). */
bool gr_tokenizer_add_bos(const gr_tokenizer *t);
/* true for the Gemma 3 SentencePiece vocabulary ("llama"), false for Gemma 4 BPE. */
bool gr_tokenizer_is_spm(const gr_tokenizer *t);
/* Id of the token whose text is exactly text[0..len), or -1. */
int32_t gr_tokenizer_find(const gr_tokenizer *t, const char *text, size_t len);
/* GGUF token type of id (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte); 0 if invalid. */
int32_t gr_tokenizer_token_type(const gr_tokenizer *t, int32_t id);
/* Note on gr_utf8_stream_feed's cap: len + 8 is enough for valid UTF-8; every invalid byte becomes
 * the 3-byte U+FFFD, so invalid-heavy input can need up to 3 * len + 8. Output never exceeds cap. */

#endif
