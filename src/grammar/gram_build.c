/* gram_build.c — builds the grammar node graph (see gram_internal.h) and checks its invariants:
 * productive nodes, no unbounded repetition of a nullable node, no left recursion. Must not know
 * about JSON, vocabularies or matching. */
#include "grammar/gram_internal.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return true;
    uint32_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *t = realloc(*p, (size_t)c * elem);
    if (!t) return false;
    *p = t, *cap = c;
    return true;
}

gr_grammar *gr_gram_new(void) {
    gr_grammar *g = calloc(1, sizeof *g);
    if (g) gr_gram_empty(g); /* node 0: EMPTY, also what failed builder calls return */
    return g;
}

void gr_grammar_free(gr_grammar *g) {
    if (!g) return;
    free(g->nodes);
    free(g->kids);
    free(g->ranges);
    free(g);
}

size_t gr_grammar_size(const gr_grammar *g) {
    return g ? g->n_nodes : 0;
}

static uint32_t add_node(gr_grammar *g, gr_gnode nd) {
    if (g->status) return 0;
    if (g->n_nodes >= GR_GRAMMAR_MAX_NODES) {
        g->status = GR_E_UNSUPPORTED;
        return 0;
    }
    if (!grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) {
        g->status = GR_E_NOMEM;
        return 0;
    }
    g->nodes[g->n_nodes] = nd;
    return g->n_nodes++;
}

uint32_t gr_gram_empty(gr_grammar *g) {
    return add_node(g, (gr_gnode){.kind = GN_EMPTY});
}

static int range_cmp(const void *a, const void *b) {
    const uint32_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Sorted, merged, surrogates cut out, clipped to U+10FFFF. */
uint32_t gr_gram_chars(gr_grammar *g, const uint32_t *ranges, uint32_t n_pairs) {
    if (g->status) return 0;
    uint32_t tmp[64];
    if (n_pairs > 16) {
        g->status = GR_E_UNSUPPORTED;
        return 0;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < n_pairs; i++) {
        uint32_t lo = ranges[2 * i],
                 hi = ranges[2 * i + 1] > 0x10FFFF ? 0x10FFFF : ranges[2 * i + 1];
        if (lo > hi) continue;
        if (lo < 0xD800 && hi > 0xDFFF) {
            tmp[2 * k] = lo, tmp[2 * k + 1] = 0xD7FF, k++;
            tmp[2 * k] = 0xE000, tmp[2 * k + 1] = hi, k++;
        } else if (lo >= 0xD800 && hi <= 0xDFFF) {
            continue;
        } else {
            if (lo >= 0xD800 && lo <= 0xDFFF) lo = 0xE000;
            if (hi >= 0xD800 && hi <= 0xDFFF) hi = 0xD7FF;
            tmp[2 * k] = lo, tmp[2 * k + 1] = hi, k++;
        }
    }
    qsort(tmp, k, 2 * sizeof *tmp, range_cmp);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (m && tmp[2 * i] <= tmp[2 * (m - 1) + 1] + 1) {
            if (tmp[2 * i + 1] > tmp[2 * (m - 1) + 1]) tmp[2 * (m - 1) + 1] = tmp[2 * i + 1];
        } else {
            tmp[2 * m] = tmp[2 * i], tmp[2 * m + 1] = tmp[2 * i + 1], m++;
        }
    }
    if (!grow((void **)&g->ranges, &g->cap_ranges, 2 * (g->n_ranges + m), sizeof *g->ranges)) {
        g->status = GR_E_NOMEM;
        return 0;
    }
    gr_gnode nd = {.kind = GN_CHARS, .a = g->n_ranges, .n = m};
    for (uint32_t i = 0; i < m; i++)
        for (uint32_t c = tmp[2 * i]; c <= tmp[2 * i + 1] && c < 128; c++)
            nd.ascii[c >> 6] |= 1ull << (c & 63);
    memcpy(g->ranges + 2 * (size_t)g->n_ranges, tmp, 2 * m * sizeof *tmp);
    g->n_ranges += m;
    return add_node(g, nd);
}

uint32_t gr_gram_range(gr_grammar *g, uint32_t lo, uint32_t hi) {
    uint32_t r[2] = {lo, hi};
    return gr_gram_chars(g, r, 1);
}

uint32_t gr_gram_char(gr_grammar *g, uint32_t cp) {
    return gr_gram_range(g, cp, cp);
}

uint32_t gr_gram_class(gr_grammar *g, const char *spec) {
    uint32_t r[32], k = 0;
    for (const char *p = spec; *p && k < 16; k++) {
        r[2 * k] = r[2 * k + 1] = (unsigned char)*p;
        if (p[1] == '-' && p[2]) {
            r[2 * k + 1] = (unsigned char)p[2];
            p += 3;
        } else {
            p++;
        }
    }
    return gr_gram_chars(g, r, k);
}

static uint32_t add_list(gr_grammar *g, int kind, const uint32_t *kids, uint32_t n) {
    if (g->status) return 0;
    if (!grow((void **)&g->kids, &g->cap_kids, g->n_kids + n, sizeof *g->kids)) {
        g->status = GR_E_NOMEM;
        return 0;
    }
    memcpy(g->kids + g->n_kids, kids, n * sizeof *kids);
    gr_gnode nd = {.kind = (uint8_t)kind, .a = g->n_kids, .n = n};
    g->n_kids += n;
    return add_node(g, nd);
}

uint32_t gr_gram_seq(gr_grammar *g, const uint32_t *kids, uint32_t n) {
    if (n == 1) return kids[0];
    return n ? add_list(g, GN_SEQ, kids, n) : gr_gram_empty(g);
}

uint32_t gr_gram_alt(gr_grammar *g, const uint32_t *kids, uint32_t n) {
    if (n == 1) return kids[0];
    if (!n) { /* an empty choice has no string: callers check for it, this is a safety net */
        if (!g->status) g->status = GR_E_INVALID_ARG;
        return 0;
    }
    return add_list(g, GN_ALT, kids, n);
}

uint32_t gr_gram_seq2(gr_grammar *g, uint32_t a, uint32_t b) {
    uint32_t k[2] = {a, b};
    return gr_gram_seq(g, k, 2);
}

uint32_t gr_gram_seq3(gr_grammar *g, uint32_t a, uint32_t b, uint32_t c) {
    uint32_t k[3] = {a, b, c};
    return gr_gram_seq(g, k, 3);
}

uint32_t gr_gram_alt2(gr_grammar *g, uint32_t a, uint32_t b) {
    uint32_t k[2] = {a, b};
    return gr_gram_alt(g, k, 2);
}

uint32_t gr_gram_rep(gr_grammar *g, uint32_t child, uint32_t min, uint32_t max) {
    if (max == 0) return gr_gram_empty(g);
    if (min == 1 && max == 1) return child;
    return add_node(g, (gr_gnode){.kind = GN_REP, .a = child, .min = min, .max = max});
}

uint32_t gr_gram_opt(gr_grammar *g, uint32_t child) {
    return gr_gram_rep(g, child, 0, 1);
}

uint32_t gr_gram_lit(gr_grammar *g, const char *s, size_t n) {
    uint32_t kids[64];
    uint32_t parts[64], np = 0, nk = 0;
    for (size_t i = 0; i < n && !g->status;) {
        const unsigned char *u = (const unsigned char *)s + i;
        uint32_t cp, len;
        if (u[0] < 0x80)
            cp = u[0], len = 1;
        else if ((u[0] & 0xE0) == 0xC0)
            cp = u[0] & 0x1F, len = 2;
        else if ((u[0] & 0xF0) == 0xE0)
            cp = u[0] & 0x0F, len = 3;
        else if ((u[0] & 0xF8) == 0xF0)
            cp = u[0] & 0x07, len = 4;
        else
            len = 0, cp = 0;
        if (!len || i + len > n) {
            g->status = GR_E_FORMAT;
            return 0;
        }
        for (uint32_t j = 1; j < len; j++)
            cp = cp << 6 | (u[j] & 0x3F);
        i += len;
        kids[nk++] = gr_gram_char(g, cp);
        if (nk == 64) { /* long literals: sequences of sequences */
            parts[np++] = gr_gram_seq(g, kids, nk);
            nk = 0;
            if (np == 64) {
                parts[0] = gr_gram_seq(g, parts, np);
                np = 1;
            }
        }
    }
    if (nk) parts[np++] = gr_gram_seq(g, kids, nk);
    return np ? gr_gram_seq(g, parts, np) : gr_gram_empty(g);
}

uint32_t gr_gram_fwd(gr_grammar *g) {
    uint32_t zero = 0;
    return add_list(g, GN_SEQ, &zero, 1);
}

void gr_gram_fwd_set(gr_grammar *g, uint32_t fwd, uint32_t target) {
    if (!g->status) g->kids[g->nodes[fwd].a] = target;
}

bool gr_gram_meets(const gr_grammar *g, const gr_gnode *nd, uint32_t lo, uint32_t hi) {
    const uint32_t *r = g->ranges + 2 * (size_t)nd->a;
    for (uint32_t i = 0; i < nd->n; i++)
        if (r[2 * i] <= hi && r[2 * i + 1] >= lo) return true;
    return false;
}

/* ---- invariants
 * ---------------------------------------------------------------------------------- */

/* Fixpoint of a per-node property over the graph (productive / nullable). */
static void fixpoint(const gr_grammar *g, uint8_t *p, bool nullable) {
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t i = 0; i < g->n_nodes; i++) {
            if (p[i]) continue;
            const gr_gnode *nd = &g->nodes[i];
            bool v = false;
            switch (nd->kind) {
            case GN_CHARS:
                v = !nullable && nd->n > 0;
                break;
            case GN_EMPTY:
                v = true;
                break;
            case GN_REP:
                v = nd->min == 0 || p[nd->a];
                break;
            case GN_SEQ:
                v = true;
                for (uint32_t k = 0; k < nd->n; k++)
                    v = v && p[g->kids[nd->a + k]];
                break;
            case GN_ALT:
                for (uint32_t k = 0; k < nd->n; k++)
                    v = v || p[g->kids[nd->a + k]];
                break;
            }
            if (v) p[i] = 1, changed = true;
        }
    }
}

/* Left recursion: a cycle among "first position" edges (DFS with colours). */
static bool left_cycle(const gr_grammar *g, const uint8_t *nullable, uint8_t *col, uint32_t *stk,
                       uint32_t *pos, uint32_t root) {
    uint32_t d = 0;
    stk[0] = root, pos[0] = 0, col[root] = 1;
    while (d != UINT32_MAX) {
        uint32_t v = stk[d];
        const gr_gnode *nd = &g->nodes[v];
        uint32_t next = UINT32_MAX;
        if (nd->kind == GN_REP && pos[d] == 0)
            next = nd->a;
        else if (nd->kind == GN_ALT && pos[d] < nd->n)
            next = g->kids[nd->a + pos[d]];
        else if (nd->kind == GN_SEQ && pos[d] < nd->n &&
                 (pos[d] == 0 || nullable[g->kids[nd->a + pos[d] - 1]]))
            next = g->kids[nd->a + pos[d]];
        pos[d]++;
        if (next == UINT32_MAX) {
            col[v] = 2;
            d--;
            continue;
        }
        if (col[next] == 1) return true;
        if (col[next] == 0) {
            col[next] = 1;
            d++;
            stk[d] = next, pos[d] = 0;
        }
    }
    return false;
}

gr_status gr_gram_check(gr_grammar *g, char *err, size_t errlen) {
    if (g->status == GR_E_NOMEM) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    if (g->status == GR_E_UNSUPPORTED)
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "grammar: more than %u nodes",
                      GR_GRAMMAR_MAX_NODES);
    if (g->status)
        return gr_err(g->status, err, errlen, "grammar: malformed literal or empty choice");
    uint32_t n = g->n_nodes;
    uint8_t *prod = calloc(n, 1), *nul = calloc(n, 1), *col = calloc(n, 1);
    uint32_t *stk = malloc((size_t)n * sizeof *stk), *pos = malloc((size_t)n * sizeof *pos);
    gr_status s = GR_OK;
    if (!prod || !nul || !col || !stk || !pos) {
        s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
        goto out;
    }
    fixpoint(g, prod, false);
    fixpoint(g, nul, true);
    if (!prod[g->root]) {
        s = gr_err(GR_E_UNSUPPORTED, err, errlen,
                   "grammar: no finite document matches (a recursive $ref that never ends?)");
        goto out;
    }
    /* Drop choices that cannot finish, so no parse path can walk into a dead end. */
    for (uint32_t i = 0; i < n; i++) {
        gr_gnode *nd = &g->nodes[i];
        if (nd->kind == GN_REP && !prod[nd->a]) nd->max = 0;
        if (nd->kind != GN_ALT || !prod[i]) continue;
        uint32_t k = 0;
        for (uint32_t j = 0; j < nd->n; j++)
            if (prod[g->kids[nd->a + j]]) g->kids[nd->a + k++] = g->kids[nd->a + j];
        nd->n = k;
    }
    for (uint32_t i = 0; i < n; i++) {
        const gr_gnode *nd = &g->nodes[i];
        if (nd->kind == GN_REP && nd->max == GN_UNBOUNDED && nul[nd->a]) {
            s = gr_err(GR_E_UNSUPPORTED, err, errlen,
                       "grammar: unbounded repetition of an empty match");
            goto out;
        }
    }
    if (left_cycle(g, nul, col, stk, pos, g->root))
        s = gr_err(GR_E_UNSUPPORTED, err, errlen,
                   "grammar: a $ref cycle that consumes no input (left recursion)");
out:
    free(prod), free(nul), free(col), free(stk), free(pos);
    return s;
}
