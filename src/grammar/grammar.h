/* grammar.h — the grammar engine for constrained decoding. Three objects:
 *  - gr_grammar: a context-free grammar over Unicode code points with bounded repetition, compiled
 * from a JSON Schema (gr_grammar_from_schema) or the built-in "any JSON value" grammar
 * (gr_grammar_json).
 *  - gr_gvocab: per-vocabulary token data (a byte trie of every normal token, the subset of tokens
 * a JSON string body cannot contain whole, and masks of "string-safe" tokens by length), built ONCE
 * per vocabulary and shared by every matcher of any grammar.
 *  - gr_gmatch: the matcher: the set of parse stacks after the output so far. It says which tokens
 * keep the output a valid prefix (gr_gmatch_mask), consumes tokens (gr_gmatch_accept), and reports
 * when the output is complete. Bytes may split UTF-8 characters, inside one token or across tokens.
 * The grammar engine fails closed: a keyword it cannot enforce is a compile error
 * (GR_E_UNSUPPORTED, message "<schema pointer>: ..."), never ignored; the language it generates is
 * a subset of what the schema accepts (docs/grammar.md lists where it is narrower: bounded
 * whitespace, string lengths, numbers, declared properties only). Must not know about models,
 * tokenizers' internals, engines or samplers. Thread safety: gr_grammar and gr_gvocab are immutable
 * after creation (share freely across threads); a gr_gmatch belongs to one thread at a time. */
#ifndef GR_GRAMMAR_GRAMMAR_H
#define GR_GRAMMAR_GRAMMAR_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_grammar gr_grammar;
typedef struct gr_gvocab gr_gvocab;
typedef struct gr_gmatch gr_gmatch;

/* Bounds the generated language so that even a random model finishes. Zero fields mean the default.
 */
typedef struct gr_grammar_opts {
    uint32_t max_ws;          /* whitespace characters between two tokens of JSON; default 8 */
    uint32_t max_string;      /* code points of a string without maxLength; default 256 */
    uint32_t max_int_digits;  /* digits of an integer part without a bound; default 15 */
    uint32_t max_frac_digits; /* digits after the point; default 6 */
    uint32_t max_props; /* members of an object whose keys are free; default 1, because a grammar
                           cannot keep free keys distinct and duplicate keys are invalid JSON
                           here (src/core/json.h): above 1 the output may fail to parse */
} gr_grammar_opts;

/* Compile JSON Schema text. Errors: GR_E_FORMAT (not JSON, malformed keyword value),
 * GR_E_UNSUPPORTED (a keyword or combination the grammar cannot enforce), GR_E_INVALID_ARG
 * (contradictory bounds: an empty language, e.g. minimum > maximum), GR_E_NOMEM. opts may be NULL.
 */
gr_status gr_grammar_from_schema(const char *text, size_t len, const gr_grammar_opts *opts,
                                 gr_grammar **out, char *err, size_t errlen);
/* Any JSON value (RFC 8259, within the opts bounds). */
gr_status gr_grammar_json(const gr_grammar_opts *opts, gr_grammar **out, char *err, size_t errlen);
void gr_grammar_free(gr_grammar *g);
/* Node count (for diagnostics and benchmarks). */
size_t gr_grammar_size(const gr_grammar *g);

/* One vocabulary entry. NORMAL tokens are matched by their bytes; EOG tokens (end of turn / EOS)
 * are allowed only where the grammar accepts the output as complete; SPECIAL tokens are never
 * allowed. */
typedef enum gr_gtok_kind { GR_GTOK_NORMAL = 0, GR_GTOK_EOG, GR_GTOK_SPECIAL } gr_gtok_kind;
typedef struct gr_gtoken {
    const char *bytes;
    size_t len;
    gr_gtok_kind kind;
} gr_gtoken;

gr_status gr_gvocab_new(const gr_gtoken *toks, int32_t n, gr_gvocab **out, char *err,
                        size_t errlen);
void gr_gvocab_free(gr_gvocab *v);
int32_t gr_gvocab_n(const gr_gvocab *v);
/* Words of a mask: (n + 31) / 32 uint32_t, bit i%32 of word i/32 = token i allowed. */
size_t gr_gvocab_mask_words(const gr_gvocab *v);

/* A matcher for one output. Works with any vocabulary; scratch space is sized on first use. */
gr_status gr_gmatch_new(const gr_grammar *g, gr_gmatch **out, char *err, size_t errlen);
void gr_gmatch_free(gr_gmatch *m);
void gr_gmatch_reset(gr_gmatch *m);
/* Feed raw output bytes. Returns false (and leaves the matcher unchanged) if they do not keep the
 * output a valid prefix. */
bool gr_gmatch_feed(gr_gmatch *m, const char *bytes, size_t n);
/* The output so far is a complete document (no partial UTF-8 character pending). */
bool gr_gmatch_accepting(const gr_gmatch *m);
/* Complete and nothing may follow: the caller stops generating. */
bool gr_gmatch_done(const gr_gmatch *m);
/* Fill mask (gr_gvocab_mask_words words) with the tokens allowed next; returns how many are allowed
 * (0 = dead end: cannot happen for grammars this module compiles, but callers must treat it as an
 * error). */
int32_t gr_gmatch_mask(gr_gmatch *m, const gr_gvocab *v, uint32_t *mask);
/* Consume one token: NORMAL -> its bytes; EOG -> allowed only when accepting (the matcher is then
 * done); SPECIAL -> rejected. Returns false (matcher unchanged) if the token is not allowed. */
bool gr_gmatch_accept(gr_gmatch *m, const gr_gvocab *v, int32_t token);

#endif
