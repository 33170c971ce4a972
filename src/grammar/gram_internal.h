/* gram_internal.h — the grammar's node graph and its builder, shared by gram_build.c (builder),
 * gram_json.c (JSON / JSON Schema -> nodes), gram_match.c (matcher) and gram_vocab.c (masks). Not a
 * public interface: nothing outside src/grammar/ may include it.
 *
 * A grammar is a graph of nodes over code points: CHARS (a set of code point ranges), SEQ (children
 * in order), ALT (one child), REP (child repeated min..max times) and EMPTY. Recursion ($ref,
 * nested JSON values) is a cycle in the graph. Every grammar this module builds is "productive"
 * (each node derives some finite string), REP children are never nullable when max is unbounded,
 * and surrogates are never inside a CHARS set (so every output is valid UTF-8 the JSON parser
 * accepts). */
#ifndef GR_GRAMMAR_GRAM_INTERNAL_H
#define GR_GRAMMAR_GRAM_INTERNAL_H

#include "grammar/grammar.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { GN_CHARS = 0, GN_SEQ, GN_ALT, GN_REP, GN_EMPTY };
enum { GF_STRCHAR = 1 }; /* CHARS node = the unescaped JSON string character set (see below) */

#define GN_UNBOUNDED UINT32_MAX
#define GR_GRAMMAR_MAX_NODES (1u << 20) /* hostile schemas stop here with GR_E_UNSUPPORTED */

typedef struct gr_gnode {
    uint8_t kind, flags;
    uint32_t a, n;     /* CHARS: ranges[a .. a+n) pairs; SEQ/ALT: kids[a .. a+n); REP: a = child */
    uint32_t min, max; /* REP bounds */
    uint64_t ascii[2]; /* CHARS: bitmap of the ASCII members (fast path of the match) */
} gr_gnode;

struct gr_grammar {
    gr_gnode *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *kids;
    uint32_t n_kids, cap_kids;
    uint32_t *ranges; /* lo, hi pairs (inclusive) */
    uint32_t n_ranges, cap_ranges;
    uint32_t root;
    gr_status status; /* sticky builder error (GR_E_NOMEM / GR_E_UNSUPPORTED for size) */
};

/* The unescaped string character set: U+0020..U+10FFFF without '"', '\\' and surrogates. A token
 * made only of such characters (complete UTF-8) is "string-safe": inside a string body it can only
 * extend the string (gram_vocab.c's fast path relies on this being the exact set of GF_STRCHAR
 * nodes). */
static inline bool gr_gram_is_strchar(uint32_t cp) {
    return cp >= 0x20 && cp != '"' && cp != '\\' && (cp < 0xD800 || cp > 0xDFFF) && cp <= 0x10FFFF;
}

/* Builder: every function returns a node id; after an allocation failure it returns 0 and the
 * grammar's status is set (check once at the end). */
gr_grammar *gr_gram_new(void);
uint32_t gr_gram_chars(gr_grammar *g, const uint32_t *ranges, uint32_t n_pairs);
uint32_t gr_gram_char(gr_grammar *g, uint32_t cp);
uint32_t gr_gram_range(gr_grammar *g, uint32_t lo, uint32_t hi);
/* ASCII class from a string like "a-zA-Z0-9._-" (ranges written x-y; a '-' last is literal). */
uint32_t gr_gram_class(gr_grammar *g, const char *spec);
uint32_t gr_gram_seq(gr_grammar *g, const uint32_t *kids, uint32_t n);
uint32_t gr_gram_alt(gr_grammar *g, const uint32_t *kids, uint32_t n);
uint32_t gr_gram_seq2(gr_grammar *g, uint32_t a, uint32_t b);
uint32_t gr_gram_seq3(gr_grammar *g, uint32_t a, uint32_t b, uint32_t c);
uint32_t gr_gram_alt2(gr_grammar *g, uint32_t a, uint32_t b);
uint32_t gr_gram_rep(gr_grammar *g, uint32_t child, uint32_t min, uint32_t max);
uint32_t gr_gram_opt(gr_grammar *g, uint32_t child);
uint32_t gr_gram_empty(gr_grammar *g);
/* The UTF-8 text as a sequence of single-character nodes (invalid UTF-8: status GR_E_FORMAT). */
uint32_t gr_gram_lit(gr_grammar *g, const char *s, size_t n);
/* A one-child SEQ whose child is set later (forward references for $ref cycles). */
uint32_t gr_gram_fwd(gr_grammar *g);
void gr_gram_fwd_set(gr_grammar *g, uint32_t fwd, uint32_t target);
/* Checks the invariants above (unbounded REP over a nullable child, unproductive nodes); returns
 * GR_OK or GR_E_UNSUPPORTED with a message. */
gr_status gr_gram_check(gr_grammar *g, char *err, size_t errlen);

static inline bool gr_gram_has(const gr_grammar *g, const gr_gnode *nd, uint32_t cp) {
    if (cp < 128) return (nd->ascii[cp >> 6] >> (cp & 63)) & 1;
    const uint32_t *r = g->ranges + 2 * (size_t)nd->a;
    for (uint32_t i = 0; i < nd->n; i++)
        if (cp >= r[2 * i] && cp <= r[2 * i + 1]) return true;
    return false;
}
/* Whether the node's set meets [lo, hi]. */
bool gr_gram_meets(const gr_grammar *g, const gr_gnode *nd, uint32_t lo, uint32_t hi);

/* ---- matcher state (gram_match.c)
 * ------------------------------------------------------------------ A state is a set of parse
 * stacks (an NFA over pushdown stacks): each stack is the list of frames (node, position /
 * repetition count) from the root down to a CHARS node that the next character must match. The
 * output is a valid prefix iff at least one stack exists or the state accepts. Stacks that would
 * exceed the depth or count limits are dropped, which only narrows the language (never widens it).
 * A partial UTF-8 character leaves the stacks as they are and records the bytes seen so far. */
#define GM_MAXD 64u   /* frames per stack (nesting bound) */
#define GM_MAXS 32u   /* stacks per state */
#define GM_MAXF 1024u /* frames per state */

typedef struct gm_frame {
    uint32_t node, n; /* SEQ: next child; REP: repetitions begun */
} gm_frame;

typedef struct gm_state {
    uint16_t ns;    /* stacks */
    uint8_t accept; /* the output so far is complete (some stack emptied) */
    uint8_t upend;  /* continuation bytes still due for a partial UTF-8 character */
    uint32_t ucp;   /* bits of the partial character so far */
    uint32_t umin;  /* smallest code point its length may encode (overlong check) */
    uint32_t nf;    /* frames used */
    uint16_t off[GM_MAXS + 1];
    gm_frame f[GM_MAXF];
} gm_state;

void gm_init(const gr_grammar *g, gm_state *s);
/* out = in after byte b; false (out undefined) if b cannot follow. */
bool gm_step(const gr_grammar *g, const gm_state *in, uint8_t b, gm_state *out);
/* dst = src (only the used part is copied) / dst = src's stack i alone. */
void gm_copy(gm_state *dst, const gm_state *src);
void gm_one_stack(gm_state *dst, const gm_state *src, uint32_t i);

struct gr_gmatch {
    const gr_grammar *g;
    gm_state *cur, *tmp, *tmp2;
    bool ended; /* an end-of-generation token was accepted */
    /* mask scratch: one state per trie depth, sized for the largest vocabulary seen */
    gm_state *walk;
    uint32_t walk_cap;
    gm_state *one;
    void *run; /* gram_vocab.c's ASCII-run walk context */
};

#endif
