/* bpe.c — Gemma 4 tokenizer: merge-ranked BPE over UTF-8 characters (spec gemma4.md §4.1).
 * Spaces become U+2581, the text is pre-split into newline runs and non-newline runs, a newline
 * run that is itself a token is emitted whole, otherwise pairs are merged lowest rank first
 * (leftmost on ties) with a heap, and symbols outside the vocabulary fall back to <0xXX> bytes.
 * O(n log n) per piece, so megabyte lines are fine. For speed, pieces are further cut into words
 * before ▁ wherever the vocabulary proves no token can span the cut (then BPE gives the same ids),
 * and short words are cached for the rest of the call (also used by spm.c).
 * Must not handle special tokens (tokenizer.c does). */
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>

typedef gr_tok_sym sym;

typedef struct pair {
    uint64_t key; /* rank << 32 | left symbol index: smallest first */
    int32_t lid, rid, res;
} pair;

static void heap_push(pair *h, size_t *n, pair e) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h[parent].key <= e.key) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static pair heap_pop(pair *h, size_t *n) {
    pair top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].key < h[c].key) c++;
        if (h[c].key >= last.key) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void try_pair(const gr_tokenizer *t, const sym *s, int32_t l, pair *h, size_t *nh) {
    if (l < 0 || s[l].next < 0) return;
    int32_t r = s[l].next, rank, res;
    if (s[l].id < 0 || s[r].id < 0) return;
    if (!gr_tok_merge_find(t, s[l].id, s[r].id, &rank, &res)) return;
    heap_push(h, nh, (pair){((uint64_t)(uint32_t)rank << 32) | (uint32_t)l, s[l].id, s[r].id, res});
}

/* BPE over one piece p[0..n) (already escaped). */
static gr_status bpe_piece(const gr_tokenizer *t, const char *p, size_t n, gr_tok_scratch *sc,
                           gr_tok_out *o) {
    if (!gr_tok_grow(&sc->sym, &sc->sym_cap, n, sizeof(sym)) ||
        !gr_tok_grow(&sc->heap, &sc->heap_cap, 3 * n + 4, sizeof(pair)))
        return GR_E_NOMEM;
    sym *s = sc->sym;
    pair *h = sc->heap;
    int32_t ns = gr_tok_split_chars(t, p, n, s);
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) try_pair(t, s, i, h, &nh);
    while (nh) {
        pair e = heap_pop(h, &nh);
        int32_t l = (int32_t)(uint32_t)e.key, r = s[l].next;
        /* Stale entries: a merged symbol changes id, so matching ids mean the pair still exists. */
        if (s[l].len == 0 || r < 0 || s[l].id != e.lid || s[r].id != e.rid) continue;
        s[l].id = e.res;
        s[l].len += s[r].len;
        s[r].len = 0;
        s[l].next = s[r].next;
        if (s[r].next >= 0) s[s[r].next].prev = l;
        try_pair(t, s, s[l].prev, h, &nh);
        try_pair(t, s, l, h, &nh);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        if (s[i].id >= 0) gr_tok_emit(o, s[i].id);
        else gr_tok_emit_bytes(t, (const unsigned char *)p + s[i].start, s[i].len, o);
    }
    return GR_OK;
}

/* ---- per-call cache of short segments (words): repeated words skip the merge loop ---- */

enum { SEG_MAX = 30, SEG_IDS = 8 };
struct gr_seg_cache {
    uint32_t hash;
    uint8_t len, n_ids; /* len 0: empty slot */
    char text[SEG_MAX];
    int32_t ids[SEG_IDS];
};

static gr_seg_cache *cache_slot(gr_tok_scratch *sc, const char *p, size_t n, uint32_t *h) {
    if (n > SEG_MAX || !sc->use_cache) return NULL;
    if (!sc->cache) {
        sc->cache = calloc(4096, sizeof *sc->cache);
        if (!sc->cache) return NULL;
        sc->cache_mask = 4095;
    }
    *h = (uint32_t)gr_tok_hash(p, n);
    return &sc->cache[*h & sc->cache_mask];
}

/* One segment, through the cache when the segment is short. */
static gr_status cached_segment(const gr_tokenizer *t, const char *p, size_t n, gr_tok_scratch *sc,
                                gr_tok_out *o, gr_tok_piece_fn fn) {
    uint32_t h = 0;
    gr_seg_cache *c = cache_slot(sc, p, n, &h);
    if (c && c->len == n && c->hash == h && !memcmp(c->text, p, n)) {
        for (int i = 0; i < c->n_ids; i++) gr_tok_emit(o, c->ids[i]);
        return GR_OK;
    }
    size_t before = o->n;
    gr_status st = fn(t, p, n, sc, o);
    size_t k = o->n - before;
    if (!st && c && k <= SEG_IDS && o->n <= o->cap) { /* the ids must actually be in the buffer */
        c->hash = h;
        c->len = (uint8_t)n;
        c->n_ids = (uint8_t)k;
        memcpy(c->text, p, n);
        memcpy(c->ids, o->ids + before, k * sizeof(int32_t));
    }
    return st;
}

static bool is_marker(const char *p) {
    return (unsigned char)p[0] == 0xE2 && (unsigned char)p[1] == 0x96 && (unsigned char)p[2] == 0x81;
}

/* May the text be cut before a ▁ that follows the character p[0..cl)? */
static bool cut_ok(const gr_tokenizer *t, const char *p, size_t cl) {
    const unsigned char *u = (const unsigned char *)p;
    if (cl == 3 && is_marker(p)) return false;
    if (cl == 4) return !t->cross_astral;
    if (cl == 1 && u[0] >= 0x80) return false; /* a stray byte: keep it with its neighbours */
    uint32_t cp = cl == 1 ? u[0] : cl == 2 ? (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F)
                                           : (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    return !(t->cross_bits[cp >> 6] >> (cp & 63) & 1);
}

gr_status gr_tok_encode_words(const gr_tokenizer *t, const char *p, size_t n, gr_tok_scratch *sc,
                              gr_tok_out *o, gr_tok_piece_fn fn) {
    size_t seg = 0, prev = 0, prev_len = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = gr_utf8_char_len((const unsigned char *)p + i, n - i);
        if (i > seg && cl == 3 && is_marker(p + i) && cut_ok(t, p + prev, prev_len)) {
            gr_status st = cached_segment(t, p + seg, i - seg, sc, o, fn);
            if (st) return st;
            seg = i;
        }
        prev = i;
        prev_len = cl;
        i += cl;
    }
    return cached_segment(t, p + seg, n - seg, sc, o, fn);
}

const char *gr_tok_escape_spaces(const char *s, size_t n, gr_tok_scratch *sc, size_t *out_n) {
    size_t spaces = 0;
    for (size_t i = 0; i < n; i++) spaces += s[i] == ' ';
    if (!spaces) {
        *out_n = n;
        return s;
    }
    if (!gr_tok_grow((void **)&sc->buf, &sc->buf_cap, n + 2 * spaces, 1)) return NULL;
    char *d = sc->buf;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            *d++ = (char)0xE2;
            *d++ = (char)0x96;
            *d++ = (char)0x81;
        } else {
            *d++ = s[i];
        }
    }
    *out_n = (size_t)(d - sc->buf);
    return sc->buf;
}

gr_status gr_bpe_encode(const gr_tokenizer *t, const char *s0, size_t n0, gr_tok_scratch *sc,
                        gr_tok_out *o) {
    size_t n;
    /* The cache is a 272 KB allocation (lazily zeroed pages) per call: skip it for short texts. */
    sc->use_cache = sc->use_cache || n0 >= 256;
    const char *s = gr_tok_escape_spaces(s0, n0, sc, &n);
    if (!s) return GR_E_NOMEM;
    for (size_t i = 0; i < n;) {
        bool nl = s[i] == '\n';
        size_t j = i + 1;
        while (j < n && (s[j] == '\n') == nl) j++;
        int32_t whole = nl ? gr_tok_find(t, s + i, j - i) : -1;
        gr_status st = GR_OK;
        if (whole >= 0) gr_tok_emit(o, whole);
        else st = nl ? bpe_piece(t, s + i, j - i, sc, o) : gr_tok_encode_words(t, s + i, j - i, sc, o, bpe_piece);
        if (st) return st;
        i = j;
    }
    return GR_OK;
}
