/* gram_match.c — the matcher (see grammar.h and gram_internal.h): parse stacks advanced one byte at
 * a time, partial UTF-8 characters held in the state, and the public gr_gmatch object. Must not
 * know about vocabularies beyond gr_gmatch_accept's token lookup, and must not allocate per byte.
 */
#include "grammar/gram_internal.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

#define EXPAND_BUDGET 4096 /* node visits per character: a safety net against cycles */

typedef struct xctx {
    const gr_grammar *g;
    gm_state *out;
    int budget;
} xctx;

/* Adds a stack to out unless an identical one is there or out is full (dropping narrows only). */
static void emit(gm_state *out, const gm_frame *stk, uint32_t d) {
    if ((uint32_t)out->ns >= GM_MAXS || out->nf + d > GM_MAXF) return;
    for (uint32_t i = 0; i < out->ns; i++)
        if ((uint32_t)(out->off[i + 1] - out->off[i]) == d &&
            !memcmp(out->f + out->off[i], stk, d * sizeof *stk))
            return;
    memcpy(out->f + out->nf, stk, d * sizeof *stk);
    out->nf += d;
    out->off[++out->ns] = (uint16_t)out->nf;
}

/* Expands the stack's top until every path reaches a CHARS node (emitted) or empties (accept). */
static void expand(xctx *x, gm_frame *stk, uint32_t d) {
    const gr_grammar *g = x->g;
    while (d > 0) {
        if (--x->budget < 0) return;
        gm_frame *t = &stk[d - 1];
        const gr_gnode *nd = &g->nodes[t->node];
        switch (nd->kind) {
        case GN_CHARS:
            emit(x->out, stk, d);
            return;
        case GN_EMPTY:
            d--;
            break;
        case GN_SEQ:
            if (t->n >= nd->n) {
                d--;
                break;
            }
            if (t->n + 1 == nd->n) { /* last child: replace the frame (keeps stacks shallow) */
                *t = (gm_frame){g->kids[nd->a + t->n], 0};
                break;
            }
            if (d == GM_MAXD) return;
            stk[d] = (gm_frame){g->kids[nd->a + t->n], 0};
            t->n++;
            d++;
            break;
        case GN_ALT: {
            if (nd->n == 0) return;
            for (uint32_t i = 0; i + 1 < nd->n; i++) {
                gm_frame fork[GM_MAXD];
                memcpy(fork, stk, d * sizeof *stk);
                fork[d - 1] = (gm_frame){g->kids[nd->a + i], 0};
                expand(x, fork, d);
            }
            *t = (gm_frame){g->kids[nd->a + nd->n - 1], 0};
            break;
        }
        case GN_REP: {
            uint32_t c = t->n;
            bool more = c < nd->max, stop = c >= nd->min;
            if (more && d == GM_MAXD) more = false;
            if (more && stop) {
                gm_frame fork[GM_MAXD];
                memcpy(fork, stk, d * sizeof *stk);
                fork[d - 1].n = c + 1;
                fork[d] = (gm_frame){nd->a, 0};
                expand(x, fork, d + 1);
                d--;
            } else if (more) {
                t->n = c + 1;
                stk[d++] = (gm_frame){nd->a, 0};
            } else if (stop) {
                d--;
            } else {
                return; /* cannot repeat enough within the depth bound: path dies */
            }
            break;
        }
        default:
            return;
        }
    }
    x->out->accept = 1;
}

static void clear(gm_state *s) {
    s->ns = 0, s->accept = 0, s->upend = 0, s->ucp = 0, s->umin = 0, s->nf = 0, s->off[0] = 0;
}

void gm_init(const gr_grammar *g, gm_state *s) {
    clear(s);
    gm_frame stk[GM_MAXD] = {{g->root, 0}};
    xctx x = {g, s, EXPAND_BUDGET};
    expand(&x, stk, 1);
}

void gm_copy(gm_state *dst, const gm_state *src) {
    memcpy(dst, src, offsetof(gm_state, f));
    memcpy(dst->f, src->f, src->nf * sizeof *src->f);
}

void gm_one_stack(gm_state *dst, const gm_state *src, uint32_t i) {
    uint32_t a = src->off[i], d = src->off[i + 1] - a;
    clear(dst);
    dst->upend = src->upend, dst->ucp = src->ucp, dst->umin = src->umin;
    memcpy(dst->f, src->f + a, d * sizeof *dst->f);
    dst->nf = d, dst->ns = 1, dst->off[1] = (uint16_t)d;
}

/* Advance every stack whose top accepts cp. */
static bool step_cp(const gr_grammar *g, const gm_state *in, uint32_t cp, gm_state *out) {
    clear(out);
    xctx x = {g, out, EXPAND_BUDGET};
    for (uint32_t s = 0; s < in->ns; s++) {
        uint32_t a = in->off[s], d = in->off[s + 1] - a;
        const gm_frame *top = &in->f[a + d - 1];
        if (!gr_gram_has(g, &g->nodes[top->node], cp)) continue;
        gm_frame stk[GM_MAXD];
        memcpy(stk, in->f + a, (d - 1) * sizeof *stk);
        expand(&x, stk, d - 1);
    }
    return out->ns > 0 || out->accept;
}

/* Whether some stack's top can still take a character in [lo, hi] (partial UTF-8 pruning). */
static bool any_meets(const gr_grammar *g, const gm_state *s, uint32_t lo, uint32_t hi) {
    for (uint32_t i = 0; i < s->ns; i++) {
        const gr_gnode *nd = &g->nodes[s->f[s->off[i + 1] - 1].node];
        if (gr_gram_meets(g, nd, lo, hi)) return true;
    }
    return false;
}

static bool partial(const gr_grammar *g, const gm_state *in, uint32_t ucp, uint32_t upend,
                    uint32_t umin, gm_state *out) {
    uint32_t lo = ucp << (6 * upend), hi = lo | ((1u << (6 * upend)) - 1);
    if (lo < umin) lo = umin;
    if (hi > 0x10FFFF) hi = 0x10FFFF;
    if (lo > hi || !any_meets(g, in, lo, hi)) return false;
    if (out != in) gm_copy(out, in);
    out->accept = 0, out->ucp = ucp, out->upend = (uint8_t)upend, out->umin = umin;
    return true;
}

bool gm_step(const gr_grammar *g, const gm_state *in, uint8_t b, gm_state *out) {
    if (in->upend == 0) {
        if (b < 0x80) return step_cp(g, in, b, out);
        if (b >= 0xC2 && b <= 0xDF) return partial(g, in, b & 0x1F, 1, 0x80, out);
        if (b >= 0xE0 && b <= 0xEF) return partial(g, in, b & 0x0F, 2, 0x800, out);
        if (b >= 0xF0 && b <= 0xF4) return partial(g, in, b & 0x07, 3, 0x10000, out);
        return false;
    }
    if ((b & 0xC0) != 0x80) return false;
    uint32_t cp = in->ucp << 6 | (b & 0x3F);
    if (in->upend > 1) return partial(g, in, cp, in->upend - 1u, in->umin, out);
    if (cp < in->umin || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    return step_cp(g, in, cp, out);
}

/* ---- public matcher
 * ------------------------------------------------------------------------------ */

gr_status gr_gmatch_new(const gr_grammar *g, gr_gmatch **out, char *err, size_t errlen) {
    if (!out || !g) return gr_err(GR_E_INVALID_ARG, err, errlen, "gmatch: NULL argument");
    *out = NULL;
    gr_gmatch *m = calloc(1, sizeof *m);
    if (m) {
        m->g = g;
        m->cur = malloc(sizeof *m->cur);
        m->tmp = malloc(sizeof *m->tmp);
        m->tmp2 = malloc(sizeof *m->tmp2);
        m->one = malloc(sizeof *m->one);
    }
    if (!m || !m->cur || !m->tmp || !m->tmp2 || !m->one) {
        gr_gmatch_free(m);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    gr_gmatch_reset(m);
    *out = m;
    return GR_OK;
}

void gr_gmatch_free(gr_gmatch *m) {
    if (!m) return;
    free(m->cur), free(m->tmp), free(m->tmp2), free(m->one), free(m->walk), free(m->run);
    free(m);
}

void gr_gmatch_reset(gr_gmatch *m) {
    gm_init(m->g, m->cur);
    m->ended = false;
}

bool gr_gmatch_feed(gr_gmatch *m, const char *bytes, size_t n) {
    if (m->ended) return n == 0;
    if (n == 0) return true;
    gm_state *a = m->tmp, *b = m->tmp2;
    const gm_state *src = m->cur;
    for (size_t i = 0; i < n; i++) {
        if (!gm_step(m->g, src, (uint8_t)bytes[i], a)) return false;
        src = a;
        gm_state *t = a;
        a = b, b = t;
    }
    /* src is the final state (in tmp or tmp2): swap it in */
    gm_state *t = m->cur;
    m->cur = (gm_state *)src;
    if (src == m->tmp)
        m->tmp = t;
    else
        m->tmp2 = t;
    return true;
}

bool gr_gmatch_accepting(const gr_gmatch *m) {
    return m->ended || (m->cur->accept && m->cur->upend == 0);
}

bool gr_gmatch_done(const gr_gmatch *m) {
    return m->ended || (m->cur->accept && m->cur->upend == 0 && m->cur->ns == 0);
}
