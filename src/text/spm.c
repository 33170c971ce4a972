/* spm.c — Gemma 3 tokenizer: SentencePiece-style merging by token score (tokenizer.ggml.model =
 * "llama"), as llama.cpp does it: start from UTF-8 characters, repeatedly merge the adjacent pair
 * whose concatenation is the highest-scoring vocabulary token (leftmost on ties), then emit byte
 * tokens for characters outside the vocabulary. Spaces become U+2581; no dummy prefix. Text is cut
 * into words first where no token can span the cut (gr_tok_encode_words in bpe.c).
 * Must not handle special tokens (tokenizer.c does). */
#include "text/tok_internal.h"

#include <stdlib.h>

typedef gr_tok_sym sym;

typedef struct bigram {
    float score;
    int32_t left, right, id;
    uint32_t size;
} bigram;

/* a before b: higher score, then leftmost. */
static bool before(const bigram *a, const bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void push(bigram *h, size_t *n, bigram e) {
    size_t i = (*n)++;
    while (i > 0 && before(&e, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = e;
}

static bigram pop(bigram *h, size_t *n) {
    bigram top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Only tokens a merge could produce in the reference (normal and user-defined ones) are targets;
 * control, byte and unknown tokens are never formed from text. */
static void try_bigram(const gr_tokenizer *t, const char *p, const sym *s, int32_t l, bigram *h,
                       size_t *nh) {
    if (l < 0 || s[l].next < 0) return;
    int32_t r = s[l].next;
    uint32_t size = s[l].len + s[r].len;
    int32_t id = gr_tok_find(t, p + s[l].start, size);
    if (id < 0 || (t->type[id] != GR_TT_NORMAL && t->type[id] != GR_TT_USER)) return;
    push(h, nh, (bigram){t->score[id], l, r, id, size});
}

static gr_status spm_run(const gr_tokenizer *t, const char *p, size_t n, gr_tok_scratch *sc,
                         gr_tok_out *o) {
    if (!gr_tok_grow(&sc->sym, &sc->sym_cap, n, sizeof(sym)) ||
        !gr_tok_grow(&sc->heap, &sc->heap_cap, 3 * n + 4, sizeof(bigram)))
        return GR_E_NOMEM;
    sym *s = sc->sym;
    bigram *h = sc->heap;
    int32_t ns = gr_tok_split_chars(t, p, n, s);
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < ns; i++) try_bigram(t, p, s, i, h, &nh);
    while (nh) {
        bigram b = pop(h, &nh);
        sym *l = &s[b.left], *r = &s[b.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.size || l->next != b.right) continue;
        l->len += r->len;
        l->id = b.id;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        try_bigram(t, p, s, l->prev, h, &nh);
        try_bigram(t, p, s, b.left, h, &nh);
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        if (s[i].id >= 0) gr_tok_emit(o, s[i].id);
        else gr_tok_emit_bytes(t, (const unsigned char *)p + s[i].start, s[i].len, o);
    }
    return GR_OK;
}

gr_status gr_spm_encode(const gr_tokenizer *t, const char *s, size_t n, gr_tok_scratch *sc,
                        gr_tok_out *o) {
    sc->use_cache = sc->use_cache || n >= 256;
    size_t m;
    const char *p = gr_tok_escape_spaces(s, n, sc, &m);
    if (!p) return GR_E_NOMEM;
    return gr_tok_encode_words(t, p, m, sc, o, spm_run);
}
