/* tok_internal.h — internal layout of gr_tokenizer shared by tokenizer.c (loading, special-token
 * splitting, pieces), bpe.c (Gemma 4 merge BPE) and spm.c (Gemma 3 SentencePiece). Not a public
 * interface: nothing outside src/text/ may include it. */
#ifndef GR_TEXT_TOK_INTERNAL_H
#define GR_TEXT_TOK_INTERNAL_H

#include "text/tokenizer.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { GR_TT_NORMAL = 1, GR_TT_UNKNOWN = 2, GR_TT_CONTROL = 3, GR_TT_USER = 4, GR_TT_UNUSED = 5,
       GR_TT_BYTE = 6 };

typedef enum gr_tok_kind { GR_TOK_BPE_GEMMA4, GR_TOK_SPM } gr_tok_kind;

/* Open-addressing map from token text to id (capacity a power of two). A slot holds the id in its
 * low 32 bits and the high 32 bits of the text's hash as a tag, so most mismatching probes are
 * rejected without touching the token text; UINT64_MAX = empty. */
typedef struct gr_str_map {
    uint64_t *slots;
    uint32_t mask;
} gr_str_map;

/* Open-addressing map from a (left id, right id) pair to its merge rank and result id. */
typedef struct gr_merge_slot {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t result;
} gr_merge_slot;

/* Distinct lengths of special-token strings starting with one byte, longest first. */
typedef struct gr_special_lens {
    uint16_t *lens;
    uint32_t n;
} gr_special_lens;

struct gr_tokenizer {
    gr_tok_kind kind;
    int32_t n_vocab;
    char *text;       /* all token strings, back to back */
    uint32_t *off;    /* n_vocab + 1 offsets into text */
    uint8_t *type;    /* GR_TT_* per token */
    float *score;     /* SPM scores (NULL for BPE) */
    gr_str_map map;
    gr_merge_slot *merges;
    uint32_t merge_mask;
    int32_t n_merges;
    int32_t byte_id[256]; /* <0xXX> tokens; -1 if missing */
    int32_t *bmp_id;      /* id of each single-character token below U+10000, -1 if none */
    /* BPE word split: bit set for each character c (below U+10000) such that some token contains
     * "c▁" with c != ▁, i.e. a merge may cross a boundary before ▁. For all other characters the
     * text can be cut before ▁ without changing the result (no merge spans the cut). */
    uint64_t *cross_bits;
    bool cross_astral; /* a character above U+FFFF precedes ▁ inside some token */
    int32_t bos, eos, eot, unk, pad;
    bool add_bos;
    gr_special_lens special[256]; /* by first byte */
    int32_t *eog;     /* end-of-generation ids */
    int32_t n_eog;
};

/* Hash of a byte string (also used for the pair map). */
uint64_t gr_tok_hash(const char *s, size_t n);
/* Id of the token whose text is s[0..n), or -1. */
int32_t gr_tok_find(const gr_tokenizer *t, const char *s, size_t n);
static inline const char *gr_tok_text(const gr_tokenizer *t, int32_t id, size_t *n) {
    *n = t->off[id + 1] - t->off[id];
    return t->text + t->off[id];
}
/* Id of the one-character token s[0..n) (n = its UTF-8 length), or -1. */
int32_t gr_tok_find_char(const gr_tokenizer *t, const char *s, size_t n);
/* Merge (rank, result) of the pair, false if the pair is not a merge. */
bool gr_tok_merge_find(const gr_tokenizer *t, int32_t l, int32_t r, int32_t *rank,
                       int32_t *result);

/* Growable id output shared by the encoders: writes up to cap ids, always counts. */
typedef struct gr_tok_out {
    int32_t *ids;
    size_t cap;
    size_t n;
} gr_tok_out;
static inline void gr_tok_emit(gr_tok_out *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}
/* Emit one byte-fallback token per byte (unk if the vocabulary lacks the byte token). */
void gr_tok_emit_bytes(const gr_tokenizer *t, const unsigned char *s, size_t n, gr_tok_out *o);

/* Scratch space reused across fragments of one gr_tokenize call. */
typedef struct gr_seg_cache gr_seg_cache;
typedef struct gr_tok_scratch {
    gr_seg_cache *cache; /* BPE results of short segments, for this call only */
    size_t cache_mask;
    bool use_cache;
    void *sym;
    size_t sym_cap;
    void *heap;
    size_t heap_cap;
    char *buf;
    size_t buf_cap;
} gr_tok_scratch;
void gr_tok_scratch_free(gr_tok_scratch *s);

/* Encoder of one escaped piece of text. */
typedef gr_status (*gr_tok_piece_fn)(const gr_tokenizer *t, const char *p, size_t n,
                                     gr_tok_scratch *sc, gr_tok_out *o);
/* Cut an escaped piece into words before each U+2581 where no token can span the cut (see
 * cross_bits), encode each word with fn, caching short words for the rest of the call. */
gr_status gr_tok_encode_words(const gr_tokenizer *t, const char *p, size_t n, gr_tok_scratch *sc,
                              gr_tok_out *o, gr_tok_piece_fn fn);
/* s with ' ' replaced by U+2581 (in sc->buf, or s itself when it has no space); NULL: no memory. */
const char *gr_tok_escape_spaces(const char *s, size_t n, gr_tok_scratch *sc, size_t *out_n);

/* Encode one fragment of plain text (no special tokens inside). Return GR_OK or GR_E_NOMEM. */
gr_status gr_bpe_encode(const gr_tokenizer *t, const char *s, size_t n, gr_tok_scratch *sc,
                        gr_tok_out *o);
gr_status gr_spm_encode(const gr_tokenizer *t, const char *s, size_t n, gr_tok_scratch *sc,
                        gr_tok_out *o);

/* Length of the UTF-8 character at s (1..4), or 1 for an invalid/truncated sequence, so that every
 * byte of invalid input becomes its own symbol (and then a byte token). */
size_t gr_utf8_char_len(const unsigned char *s, size_t n);


/* A symbol of the merge loop shared by BPE and SPM: a run of text with its token id, linked to its
 * neighbours. */
typedef struct gr_tok_sym {
    int32_t id; /* token of the symbol's text, -1 if none (byte fallback) */
    int32_t prev, next;
    uint32_t start, len;
} gr_tok_sym;

/* Split p[0..n) (n > 0) into one symbol per UTF-8 character; returns the symbol count. */
int32_t gr_tok_split_chars(const gr_tokenizer *t, const char *p, size_t n, gr_tok_sym *s);

/* Make *p hold at least need elements of elem bytes (doubling from 256); false on no memory. */
bool gr_tok_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
