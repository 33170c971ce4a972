/* gram_vocab.c — per-vocabulary token data and the token mask (see grammar.h).
 *
 * Built once per vocabulary:
 *  - `full`: a byte trie of every normal token, stored in preorder (node i's subtree is [i,
 * end[i]), its first child is i + 1, the next sibling of child c is end[c]), so a walk prunes a
 * dead prefix by jumping to end[c];
 *  - `unsafe`: the same for the tokens that are NOT string-safe (gram_internal.h): tokens holding
 * '"',
 *    '\\', a control character or an incomplete UTF-8 character;
 *  - safe_upto[k]: the mask of string-safe tokens of at most k code points.
 * The mask of a state is the union over its stacks. A stack sitting in a JSON string body with r
 * code points of room takes every string-safe token of <= r code points without a walk (one OR of
 * precomputed words); only the unsafe trie is walked for it. Other stacks walk the full trie, where
 * structural positions prune almost everything at the first byte. Must not allocate in the mask. */
#include "grammar/gram_internal.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN_BYTES 128 /* longer tokens are never allowed (none in Gemma's vocabularies) */

typedef struct trie {
    uint32_t n;
    uint8_t *byte;
    uint32_t *end;
    uint32_t *tok_off; /* n + 1 entries: node i ends the tokens tok[tok_off[i] .. tok_off[i+1]) */
    int32_t *tok;
} trie;

struct gr_gvocab {
    int32_t n;
    uint32_t words;
    char *bytes;
    uint32_t *off;
    uint8_t *kind;
    int32_t *eog;
    int32_t n_eog;
    trie full, unsafe;
    uint32_t *safe_upto; /* (k - 1) * words: tokens of <= k code points, k = 1 .. safe_kmax */
    uint32_t safe_kmax;
    uint32_t max_len;
};

typedef struct entry {
    const char *p;
    uint32_t len;
    int32_t id;
} entry;

static int entry_cmp(const void *a, const void *b) {
    const entry *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void trie_free(trie *t) {
    free(t->byte), free(t->end), free(t->tok_off), free(t->tok);
    memset(t, 0, sizeof *t);
}

/* e[0..n) sorted. Node count is at most 1 + the total length. */
static gr_status trie_build(trie *t, const entry *e, uint32_t n) {
    size_t cap = 1;
    for (uint32_t i = 0; i < n; i++)
        cap += e[i].len;
    t->byte = malloc(cap);
    t->end = malloc(cap * sizeof *t->end);
    t->tok_off = malloc((cap + 1) * sizeof *t->tok_off);
    t->tok = malloc((n ? n : 1) * sizeof *t->tok);
    if (!t->byte || !t->end || !t->tok_off || !t->tok) return GR_E_NOMEM;
    uint32_t path[MAX_TOKEN_BYTES + 1], cur = 0, nn = 1, nt = 0;
    path[0] = 0, t->byte[0] = 0, t->tok_off[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t l = 0;
        if (i) {
            const entry *p = &e[i - 1];
            while (l < p->len && l < e[i].len && p->p[l] == e[i].p[l])
                l++;
        }
        for (uint32_t d = cur; d > l; d--)
            t->end[path[d]] = nn;
        for (uint32_t d = l + 1; d <= e[i].len; d++) {
            t->byte[nn] = (uint8_t)e[i].p[d - 1];
            t->tok_off[nn] = nt;
            path[d] = nn++;
        }
        cur = e[i].len;
        t->tok[nt++] = e[i].id;
    }
    for (uint32_t d = cur; d > 0; d--)
        t->end[path[d]] = nn;
    t->end[0] = nn;
    t->tok_off[nn] = nt;
    t->n = nn;
    return GR_OK;
}

/* Code points of a string-safe token, or 0 when it is not string-safe. */
static uint32_t safe_len(const unsigned char *s, size_t n) {
    uint32_t k = 0;
    for (size_t i = 0; i < n; k++) {
        uint32_t cp, len;
        if (s[i] < 0x80)
            cp = s[i], len = 1;
        else if (s[i] >= 0xC2 && s[i] <= 0xDF)
            cp = s[i] & 0x1F, len = 2;
        else if (s[i] >= 0xE0 && s[i] <= 0xEF)
            cp = s[i] & 0x0F, len = 3;
        else if (s[i] >= 0xF0 && s[i] <= 0xF4)
            cp = s[i] & 0x07, len = 4;
        else
            return 0;
        if (i + len > n) return 0;
        for (uint32_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < minv[len] || !gr_gram_is_strchar(cp)) return 0;
        i += len;
    }
    return k;
}

void gr_gvocab_free(gr_gvocab *v) {
    if (!v) return;
    free(v->bytes), free(v->off), free(v->kind), free(v->eog), free(v->safe_upto);
    trie_free(&v->full);
    trie_free(&v->unsafe);
    free(v);
}

int32_t gr_gvocab_n(const gr_gvocab *v) {
    return v->n;
}
size_t gr_gvocab_mask_words(const gr_gvocab *v) {
    return v->words;
}

static gr_status copy_tokens(gr_gvocab *v, const gr_gtoken *toks) {
    size_t total = 0;
    for (int32_t i = 0; i < v->n; i++)
        total += toks[i].len;
    v->bytes = malloc(total ? total : 1);
    v->off = malloc(((size_t)v->n + 1) * sizeof *v->off);
    v->kind = malloc((size_t)v->n);
    v->eog = malloc((size_t)v->n * sizeof *v->eog);
    if (!v->bytes || !v->off || !v->kind || !v->eog || total > UINT32_MAX) return GR_E_NOMEM;
    size_t o = 0;
    for (int32_t i = 0; i < v->n; i++) {
        v->off[i] = (uint32_t)o;
        if (toks[i].len) memcpy(v->bytes + o, toks[i].bytes, toks[i].len);
        o += toks[i].len;
        v->kind[i] = (uint8_t)toks[i].kind;
        if (toks[i].kind == GR_GTOK_EOG) v->eog[v->n_eog++] = i;
    }
    v->off[v->n] = (uint32_t)o;
    return GR_OK;
}

/* Sorted entries for both tries and the safe masks. */
static gr_status build_index(gr_gvocab *v) {
    entry *all = malloc(((size_t)v->n + 1) * sizeof *all),
          *uns = malloc(((size_t)v->n + 1) * sizeof *uns);
    uint32_t *klen = calloc((size_t)v->n + 1, sizeof *klen);
    gr_status s = GR_E_NOMEM;
    if (!all || !uns || !klen) goto out;
    uint32_t na = 0, nu = 0;
    for (int32_t i = 0; i < v->n; i++) {
        uint32_t len = v->off[i + 1] - v->off[i];
        if (v->kind[i] != GR_GTOK_NORMAL || len == 0 || len > MAX_TOKEN_BYTES) continue;
        entry e = {v->bytes + v->off[i], len, i};
        all[na++] = e;
        if (len > v->max_len) v->max_len = len;
        klen[i] = safe_len((const unsigned char *)e.p, len);
        if (!klen[i]) uns[nu++] = e;
        if (klen[i] > v->safe_kmax) v->safe_kmax = klen[i];
    }
    qsort(all, na, sizeof *all, entry_cmp);
    qsort(uns, nu, sizeof *uns, entry_cmp);
    if ((s = trie_build(&v->full, all, na)) || (s = trie_build(&v->unsafe, uns, nu))) goto out;
    size_t kmax = v->safe_kmax ? v->safe_kmax : 1;
    v->safe_upto = calloc(kmax * v->words, sizeof *v->safe_upto);
    if (!v->safe_upto) {
        s = GR_E_NOMEM;
        goto out;
    }
    for (int32_t i = 0; i < v->n; i++)
        if (klen[i])
            v->safe_upto[(size_t)(klen[i] - 1) * v->words + (uint32_t)i / 32] |= 1u << (i % 32);
    for (size_t k = 1; k < kmax; k++) /* cumulative: <= k code points */
        for (uint32_t w = 0; w < v->words; w++)
            v->safe_upto[k * v->words + w] |= v->safe_upto[(k - 1) * v->words + w];
    s = GR_OK;
out:
    free(all), free(uns), free(klen);
    return s;
}

gr_status gr_gvocab_new(const gr_gtoken *toks, int32_t n, gr_gvocab **out, char *err,
                        size_t errlen) {
    if (!out || (!toks && n) || n <= 0)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "gvocab: no tokens");
    *out = NULL;
    gr_gvocab *v = calloc(1, sizeof *v);
    if (!v) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    v->n = n;
    v->words = (uint32_t)(((size_t)n + 31) / 32);
    gr_status s = copy_tokens(v, toks);
    if (!s) s = build_index(v);
    if (s) {
        gr_gvocab_free(v);
        return gr_err(s, err, errlen, "gvocab: out of memory");
    }
    *out = v;
    return GR_OK;
}

/* ---- mask
 * ---------------------------------------------------------------------------------------- */

static void set_tokens(const trie *t, uint32_t c, uint32_t *mask) {
    for (uint32_t k = t->tok_off[c]; k < t->tok_off[c + 1]; k++)
        mask[(uint32_t)t->tok[k] / 32] |= 1u << ((uint32_t)t->tok[k] % 32);
}

static void walk(const gr_grammar *g, const trie *t, gm_state *st, uint32_t node, uint32_t *mask) {
    const uint32_t end = t->end[node];
    for (uint32_t c = node + 1; c < end; c = t->end[c]) {
        if (!gm_step(g, st, t->byte[c], st + 1)) continue;
        set_tokens(t, c, mask);
        if (t->end[c] > c + 1) walk(g, t, st + 1, c, mask);
    }
}

/* ---- ASCII runs: a stack looping over one ASCII class (email atoms, uri bodies, digits)
 * -------------- While a token's bytes stay in the class and within the repetition's room, the loop
 * alone accepts them, so those trie nodes cost a bitmap test instead of a matcher step. Real states
 * are built (lazily, one matcher step per depth, from the parent's) only where a byte leaves the
 * run, so every other continuation is judged by the matcher itself. */
typedef struct run_ctx {
    const gr_grammar *g;
    const trie *t;
    uint32_t *mask;
    gm_state *st; /* st[d]: the real state after the first d bytes of the current path */
    bool have[MAX_TOKEN_BYTES + 1];
    uint8_t path[MAX_TOKEN_BYTES + 1];
    uint64_t cls[2];
    uint32_t room;
} run_ctx;

static const gm_state *run_state(run_ctx *r, uint32_t d) {
    if (r->have[d]) return &r->st[d];
    const gm_state *prev = run_state(r, d - 1);
    if (!prev || !gm_step(r->g, prev, r->path[d - 1], &r->st[d])) return NULL;
    r->have[d] = true;
    return &r->st[d];
}

static void walk_run(run_ctx *r, uint32_t node, uint32_t d) {
    const trie *t = r->t;
    for (uint32_t c = node + 1; c < t->end[node]; c = t->end[c]) {
        uint8_t b = t->byte[c];
        r->path[d] = b;
        r->have[d + 1] = false;
        if (b < 128 && d < r->room && ((r->cls[b >> 6] >> (b & 63)) & 1)) {
            set_tokens(t, c, r->mask);
            if (t->end[c] > c + 1) walk_run(r, c, d + 1);
            continue;
        }
        const gm_state *s = run_state(r, d);
        if (!s || !gm_step(r->g, s, b, &r->st[d + 1])) continue;
        r->have[d + 1] = true;
        set_tokens(t, c, r->mask);
        if (t->end[c] > c + 1) walk(r->g, t, &r->st[d + 1], c, r->mask);
    }
}

/* Room of an ASCII-class loop at the stack's top (REP directly over an ASCII-only CHARS), else 0.
 */
static uint32_t run_room(const gr_grammar *g, const gm_state *s, uint64_t cls[2]) {
    if (s->upend || s->nf < 2) return 0;
    const gm_frame *top = &s->f[s->nf - 1], *rep = top - 1;
    const gr_gnode *c = &g->nodes[top->node], *r = &g->nodes[rep->node];
    if (c->kind != GN_CHARS || r->kind != GN_REP || r->a != top->node || rep->n > r->max) return 0;
    if (c->n == 0 || g->ranges[2 * ((size_t)c->a + c->n - 1) + 1] >= 128) return 0;
    cls[0] = c->ascii[0], cls[1] = c->ascii[1];
    uint64_t room = (uint64_t)r->max - rep->n + 1;
    return room > MAX_TOKEN_BYTES ? MAX_TOKEN_BYTES : (uint32_t)room;
}

/* Room left in the string body when the stack's top is the string character under its repetition:
 * the code points the stack may still take without closing the string (>= 1), else 0. */
static uint32_t string_room(const gr_grammar *g, const gm_state *s) {
    if (s->upend || s->nf < 2) return 0;
    const gm_frame *top = &s->f[s->nf - 1], *rep = top - 1;
    if (!(g->nodes[top->node].flags & GF_STRCHAR)) return 0;
    const gr_gnode *r = &g->nodes[rep->node];
    if (r->kind != GN_REP || rep->n > r->max) return 0;
    uint64_t room = (uint64_t)r->max - rep->n + 1;
    return room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
}

static bool ensure_walk(gr_gmatch *m, const gr_gvocab *v) {
    if (!m->run) m->run = malloc(sizeof(run_ctx));
    if (!m->run) return false;
    if (m->walk_cap >= v->max_len + 1) return true;
    gm_state *w = realloc(m->walk, ((size_t)v->max_len + 1) * sizeof *w);
    if (!w) return false;
    m->walk = w, m->walk_cap = v->max_len + 1;
    return true;
}

int32_t gr_gmatch_mask(gr_gmatch *m, const gr_gvocab *v, uint32_t *mask) {
    memset(mask, 0, v->words * sizeof *mask);
    if (m->ended || !ensure_walk(m, v)) return 0;
    const gm_state *st = m->cur;
    for (uint32_t i = 0; i < st->ns; i++) {
        gm_one_stack(m->walk, st, i);
        uint32_t room = string_room(m->g, m->walk);
        if (room) {
            uint32_t k = room < v->safe_kmax ? room : v->safe_kmax;
            if (k) {
                const uint32_t *src = v->safe_upto + (size_t)(k - 1) * v->words;
                for (uint32_t w = 0; w < v->words; w++)
                    mask[w] |= src[w];
            }
            walk(m->g, &v->unsafe, m->walk, 0, mask);
            continue;
        }
        run_ctx *r = m->run;
        if (r && (r->room = run_room(m->g, m->walk, r->cls)) > 0) {
            *r = (run_ctx){m->g,   &v->full, mask, m->walk, {true}, {0}, {r->cls[0], r->cls[1]},
                           r->room};
            walk_run(r, 0, 0);
        } else {
            walk(m->g, &v->full, m->walk, 0, mask);
        }
    }
    if (gr_gmatch_accepting(m))
        for (int32_t i = 0; i < v->n_eog; i++)
            mask[(uint32_t)v->eog[i] / 32] |= 1u << (v->eog[i] % 32);
    int32_t count = 0;
    for (uint32_t w = 0; w < v->words; w++)
        count += __builtin_popcount(mask[w]);
    return count;
}

bool gr_gmatch_accept(gr_gmatch *m, const gr_gvocab *v, int32_t token) {
    if (m->ended || token < 0 || token >= v->n) return false;
    if (v->kind[token] == GR_GTOK_SPECIAL) return false;
    if (v->kind[token] == GR_GTOK_EOG) {
        if (!gr_gmatch_accepting(m)) return false;
        m->ended = true;
        return true;
    }
    uint32_t len = v->off[token + 1] - v->off[token];
    if (len == 0 || len > MAX_TOKEN_BYTES) return false;
    return gr_gmatch_feed(m, v->bytes + v->off[token], len);
}
