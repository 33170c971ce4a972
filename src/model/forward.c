/* forward.c — the Gemma 3 / Gemma 4 forward pass on the CPU (spec §2, §5) and the inference
 * context that owns its KV cache, scratch buffers and thread pool.
 *
 * Shape of one chunk of T tokens: a few pool dispatches per layer (QKV matmuls together, attention
 * over (token, head) pairs, output projection, gate+up with GELU and the quantization of the down
 * input fused in, down projection, PLE gate and projection); the small per-token steps in between
 * (norms, residual adds, RoPE, cache stores) run per token row, on the caller alone when T = 1.
 * Every matmul input is quantized to the weight's vec_dot_type first.
 * Must not allocate after gr_context_new; must not write to the model. */
#include "model/model.h"

#include "core/error.h"
#include "core/threadpool.h"
#include "model/kvcache.h"
#include "model/model_impl.h"
#include "model/ops.h"
#include "tensor/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { QA_IN0, QA_IN1, QA_OUT, QA_MOE, QA_N }; /* quantized-activation buffers */

typedef struct mm_job {
    const uint8_t *w;
    gr_type type;
    size_t w_stride;
    int64_t n, rows;
    const uint8_t *x;
    size_t x_stride;
    float *y;
    int64_t ldy;
    int T;
} mm_job;

typedef struct gr_context gr_context;
typedef void (*mm_post_fn)(gr_context *c, int64_t r0, int64_t r1);
typedef void (*rows_fn)(gr_context *c, int64_t i0, int64_t i1, int ith);

struct gr_context {
    const gr_model *m;
    const gr_gemma_config *cfg;
    const gr_kernels *k;
    const gr_ops *ops;
    gr_pool *pool;
    int nth;
    uint32_t n_ctx, n_batch, n_past;
    bool all_logits;
    gr_kvcache kv;

    size_t q_dim, kv_dim, ff_max, lp, hd_max, qa_stride;
    float *x, *xn, *q, *kk, *vv, *att, *ao, *gate, *up, *down, *ple, *ple_tok, *pg;
    uint8_t *qa[QA_N];
    float *scores, *qhead; /* per thread: scores over keys, the rounded query head */
    float *rope_cs[2], *rope_sn[2]; /* [0] sliding, [1] full: [n_batch][n_rot/2] */
    float *logits;
    uint32_t n_logits; /* rows of valid logits; 0 = none */

    /* MoE scratch */
    float *router, *selw, *moe_gu, *moe_out;
    int32_t *sel, *slot_pos, *pos_slot;
    uint32_t *exp_start, *exp_cnt;
    uint8_t *moe_in, *moe_act;
    size_t moe_in_stride, moe_act_stride;

    /* state of the chunk being evaluated */
    uint32_t T, p0, l;
    const int32_t *tok;
    int64_t rows_n;
    rows_fn rows_cb;
    mm_job *jobs;
    int njobs, max_jobs;
    int64_t mm_align;
    int64_t small_work; /* see SMALL_WORK */
    mm_post_fn mm_post;
    void *allocs[64];
    int nalloc;
};

/* ---------- small helpers ---------- */

static gr_type vdt_of(const gr_context *c, gr_tref t) { return c->k->vec_dot_type[t->type]; }

static void quant_row(const gr_context *c, gr_type vdt, const float *x, int64_t n, void *dst) {
    if (vdt == GR_TYPE_F32) memcpy(dst, x, (size_t)n * sizeof(float));
    else c->k->from_float[vdt](x, dst, n);
}

static const float *fvec(gr_tref t) { return t ? (const float *)t->data : NULL; }

static uint8_t *qa_row(const gr_context *c, int buf, int64_t t) {
    return c->qa[buf] + (size_t)t * c->qa_stride;
}

/* Below this many multiply-adds a dispatch costs more than it saves (a wake-up of the workers
 * per call; on a busy machine a worker may not even be scheduled), so the caller works alone. */
enum { SMALL_WORK = 1 << 19 };

void gr_context_set_small_work(gr_context *c, int64_t macs) { c->small_work = macs; }

/* Run cb over rows [0, n): split across the pool, or on the caller alone for one row. */
static void rows_task(void *arg, int chunk, int nchunks, int thread) {
    gr_context *c = arg;
    long lo, hi;
    gr_split_range((long)c->rows_n, chunk, nchunks, &lo, &hi);
    if (lo < hi) c->rows_cb(c, lo, hi, thread);
}

static void run_rows_w(gr_context *c, rows_fn cb, int64_t n, int64_t work) {
    if (n <= 0) return;
    if (n == 1 || c->nth == 1 || work < c->small_work) {
        cb(c, 0, n, 0);
        return;
    }
    c->rows_n = n;
    c->rows_cb = cb;
    gr_pool_run(c->pool, rows_task, c, c->nth);
}

static void run_rows(gr_context *c, rows_fn cb, int64_t n) { run_rows_w(c, cb, n, INT64_MAX); }

/* ---------- matmul dispatch ---------- */

static void mm_reset(gr_context *c) {
    c->njobs = 0;
    c->mm_post = NULL;
    c->mm_align = 1;
}

/* Rows [row0, row0+rows) of matrix `e` (3-D expert tensors) of t, times T inputs. */
static void mm_add(gr_context *c, gr_tref t, int64_t e, int64_t row0, int64_t rows,
                   const uint8_t *x, int T, float *y, int64_t ldy) {
    mm_job *j = &c->jobs[c->njobs++];
    j->type = t->type;
    j->n = t->ne[0];
    j->w_stride = gr_row_size(t->type, t->ne[0]);
    j->w = (const uint8_t *)t->data + ((size_t)e * (size_t)t->ne[1] + (size_t)row0) * j->w_stride;
    j->rows = rows;
    j->x = x;
    j->x_stride = c->qa_stride;
    j->y = y;
    j->ldy = ldy;
    j->T = T;
}

static void job_range(const gr_context *c, const mm_job *j, int ith, int nth, int64_t *r0,
                      int64_t *r1) {
    const int64_t a = c->mm_align;
    long lo, hi;
    gr_split_range((long)((j->rows + a - 1) / a), ith, nth, &lo, &hi);
    *r0 = lo * a;
    *r1 = hi * a < j->rows ? hi * a : j->rows;
}

enum { TOKEN_BLOCK = 32, MM_CHUNKS_PER_THREAD = 2 };

static void mm_task(void *arg, int ith, int nth, int thread) {
    gr_context *c = arg;
    (void)thread;
    int64_t p0 = 0, p1 = 0;
    for (int i = 0; i < c->njobs; i++) {
        const mm_job *j = &c->jobs[i];
        int64_t r0, r1;
        job_range(c, j, ith, nth, &r0, &r1);
        if (i == 0) p0 = r0, p1 = r1;
        /* Token blocks keep the activation rows cache-resident while a weight tile is reused;
         * the weights are re-streamed once per block, which is cheap next to the dot products. */
        for (int t0 = 0; r0 < r1 && t0 < j->T; t0 += TOKEN_BLOCK) {
            const int tb = j->T - t0 < TOKEN_BLOCK ? j->T - t0 : TOKEN_BLOCK;
            gr_matmul(c->k, j->type, j->w, j->w_stride, j->x + (size_t)t0 * j->x_stride,
                      j->x_stride, j->y + (int64_t)t0 * j->ldy, j->ldy, j->n, r0, r1, tb);
        }
    }
    if (c->mm_post && p0 < p1) c->mm_post(c, p0, p1);
}

static void mm_run(gr_context *c) {
    int64_t work = 0;
    for (int i = 0; i < c->njobs; i++) work += c->jobs[i].rows * c->jobs[i].n * c->jobs[i].T;
    /* More chunks than threads: if a worker is descheduled, the others take its share. */
    if (c->nth == 1 || work < c->small_work) mm_task(c, 0, 1, 0);
    else gr_pool_run(c->pool, mm_task, c, c->nth * MM_CHUNKS_PER_THREAD);
}

/* Assign quantized-input buffers (QA_IN0 / QA_IN1) to weights by vec_dot_type. */
static void slots2(const gr_context *c, gr_tref a, gr_tref b, int *sa, int *sb) {
    *sa = QA_IN0;
    *sb = (b && vdt_of(c, b) != vdt_of(c, a)) ? QA_IN1 : QA_IN0;
}

/* ---------- embedding and PLE inputs ---------- */

static void embed_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_model *m = c->m;
    const gr_gemma_config *g = c->cfg;
    const int64_t d = g->n_embd;
    const float sc = sqrtf((float)d);
    for (int64_t t = t0; t < t1; t++) {
        gr_tref e = m->tok_embd;
        const size_t rs = gr_row_size(e->type, d);
        float *x = c->x + t * d;
        c->k->to_float[e->type]((const uint8_t *)e->data + (size_t)c->tok[t] * rs, x, d);
        for (int64_t i = 0; i < d; i++) x[i] *= sc;
        if (m->ple_tok_embd) {
            gr_tref pe = m->ple_tok_embd;
            const int64_t lp = (int64_t)c->lp;
            float *pt = c->ple_tok + t * lp;
            c->k->to_float[pe->type]((const uint8_t *)pe->data +
                                         (size_t)c->tok[t] * gr_row_size(pe->type, lp),
                                     pt, lp);
            const float ps = sqrtf((float)g->n_embd_per_layer);
            for (int64_t i = 0; i < lp; i++) pt[i] *= ps;
            quant_row(c, vdt_of(c, m->ple_model_proj), x, d, qa_row(c, QA_IN0, t));
        }
        /* RoPE tables of this position, sliding and full. */
        const float pos = (float)(c->p0 + t);
        gr_rope_cache(c->rope_cs[0] + t * (g->n_rot_swa / 2), c->rope_sn[0] + t * (g->n_rot_swa / 2),
                      (int)g->n_rot_swa, pos, g->rope_base_swa, 1.0f, NULL);
        gr_rope_cache(c->rope_cs[1] + t * (g->n_rot / 2), c->rope_sn[1] + t * (g->n_rot / 2),
                      (int)g->n_rot, pos, g->rope_base, 1.0f / g->rope_scale, fvec(m->rope_freqs));
    }
    (void)ith;
}

static void ple_finish_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_gemma_config *g = c->cfg;
    const int64_t lp = (int64_t)c->lp, P = g->n_embd_per_layer;
    const float s_proj = 1.0f / sqrtf((float)g->n_embd), s_in = 1.0f / sqrtf(2.0f);
    for (int64_t t = t0; t < t1; t++) {
        float *mp = c->ple + t * lp;
        const float *tok = c->ple_tok + t * lp;
        for (int64_t i = 0; i < lp; i++) mp[i] *= s_proj;
        for (uint32_t l = 0; l < g->n_layer; l++)
            gr_rmsnorm(mp + l * P, mp + l * P, fvec(c->m->ple_proj_norm), (int)P, g->rms_eps);
        for (int64_t i = 0; i < lp; i++) mp[i] = (mp[i] + tok[i]) * s_in;
    }
    (void)ith;
}

/* ---------- attention block ---------- */

/* Quantized-input buffers of Q, K, V: shared where the vec_dot_types agree. */
static void qkv_slots(const gr_context *c, const gr_layer_w *w, int *sq, int *sk, int *sv) {
    slots2(c, w->wq, w->wk, sq, sk);
    slots2(c, w->wq, w->wv, sq, sv);
    if (w->wk && w->wv && *sk == QA_IN1 && *sv == QA_IN1 && vdt_of(c, w->wk) != vdt_of(c, w->wv))
        *sv = QA_MOE; /* free during attention */
}

/* attn_norm of layer l for token t, quantized for its Q/K/V weights. */
static void attn_in_row(gr_context *c, uint32_t l, int64_t t) {
    const gr_layer_w *w = &c->m->layers[l];
    const int64_t d = c->cfg->n_embd;
    int sq, sk, sv;
    qkv_slots(c, w, &sq, &sk, &sv);
    float *xn = c->xn + t * d;
    gr_rmsnorm(xn, c->x + t * d, fvec(w->attn_norm), (int)d, c->cfg->rms_eps);
    quant_row(c, vdt_of(c, w->wq), xn, d, qa_row(c, sq, t));
    if (w->wk && sk != sq) quant_row(c, vdt_of(c, w->wk), xn, d, qa_row(c, sk, t));
    if (w->wv && sv != sq && sv != sk) quant_row(c, vdt_of(c, w->wv), xn, d, qa_row(c, sv, t));
}

static void attn_in_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    for (int64_t t = t0; t < t1; t++) attn_in_row(c, 0, t);
    (void)ith;
}

static void qkv_matmul(gr_context *c) {
    const gr_layer_w *w = &c->m->layers[c->l];
    int sq, sk, sv;
    qkv_slots(c, w, &sq, &sk, &sv);
    mm_reset(c);
    mm_add(c, w->wq, 0, 0, w->wq->ne[1], c->qa[sq], (int)c->T, c->q, (int64_t)c->q_dim);
    if (w->wk) mm_add(c, w->wk, 0, 0, w->wk->ne[1], c->qa[sk], (int)c->T, c->kk, (int64_t)c->kv_dim);
    if (w->wv) mm_add(c, w->wv, 0, 0, w->wv->ne[1], c->qa[sv], (int)c->T, c->vv, (int64_t)c->kv_dim);
    mm_run(c);
}

/* Q/K norms, RoPE, V norm, and the store of this chunk's K/V into the cache. */
static void qk_post_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_gemma_config *g = c->cfg;
    const uint32_t l = c->l;
    const gr_layer_w *w = &c->m->layers[l];
    const int hd = (int)gr_layer_head_dim(g, l), nh = (int)g->n_head, nkv = (int)g->n_head_kv[l];
    const int full = !g->is_swa[l];
    const int nrot = (int)(full ? g->n_rot : g->n_rot_swa);
    const bool g4 = g->arch == GR_ARCH_GEMMA4;
    gr_kv_layer *kvl = &c->kv.layer[l];
    for (int64_t t = t0; t < t1; t++) {
        const float *cs = c->rope_cs[full] + t * (nrot / 2), *sn = c->rope_sn[full] + t * (nrot / 2);
        float *q = c->q + t * c->q_dim;
        for (int h = 0; h < nh; h++) {
            float *qh = q + h * hd;
            gr_rmsnorm(qh, qh, fvec(w->q_norm), hd, g->rms_eps);
            gr_rope_neox(qh, nrot, cs, sn);
            if (g->attn_scale != 1.0f)
                for (int i = 0; i < hd; i++) qh[i] *= g->attn_scale;
        }
        if (w->kv_src != l) continue;
        const uint32_t cell = gr_kv_cell(kvl, c->p0 + (uint32_t)t);
        float *k = c->kk + t * c->kv_dim, *v = c->vv + t * c->kv_dim;
        if (!w->wv) memcpy(v, k, (size_t)nkv * hd * sizeof(float)); /* V = raw K (k_eq_v) */
        for (int h = 0; h < nkv; h++) {
            float *kh = k + h * hd, *vh = v + h * hd;
            gr_rmsnorm(kh, kh, fvec(w->k_norm), hd, g->rms_eps);
            gr_rope_neox(kh, nrot, cs, sn);
            if (g4) gr_rmsnorm(vh, vh, NULL, hd, g->rms_eps);
        }
        c->ops->to_f16(kvl->k + (size_t)cell * kvl->row, k, nkv * hd);
        c->ops->to_f16(kvl->v + (size_t)cell * kvl->row, v, nkv * hd);
    }
    (void)ith;
}

/* One (token, head) pair per item; the head's output is quantized right away when the o-proj
 * input type's blocks tile a head. */
static void attn_rows(gr_context *c, int64_t i0, int64_t i1, int ith) {
    const gr_gemma_config *g = c->cfg;
    const uint32_t l = c->l;
    const gr_layer_w *w = &c->m->layers[l];
    const int hd = (int)gr_layer_head_dim(g, l), nh = (int)g->n_head, nkv = (int)g->n_head_kv[l];
    const int grp = nh / nkv;
    const gr_kv_layer *kvl = &c->kv.layer[l];
    const gr_type ot = vdt_of(c, w->wo);
    const int blck = gr_type_get(ot)->blck;
    const bool quant_head = blck > 0 && hd % blck == 0;
    float *sc = c->scores + (size_t)ith * c->n_ctx;
    for (int64_t it = i0; it < i1; it++) {
        const int64_t t = it / nh;
        const int h = (int)(it % nh), kh = h / grp;
        const uint32_t pos = c->p0 + (uint32_t)t;
        uint32_t lo = 0;
        if (g->is_swa[l] && pos + 1 > g->sliding_window) lo = pos + 1 - g->sliding_window;
        const int nk = (int)(pos - lo + 1);
        /* The query and the probabilities are rounded to half, as llama.cpp's CPU path does
         * when it multiplies them with an F16 cache: this keeps our logits comparable with it. */
        float *qh = c->qhead + (size_t)ith * c->hd_max;
        memcpy(qh, c->q + t * c->q_dim + (size_t)h * hd, (size_t)hd * sizeof(float));
        c->ops->round_f16(qh, hd);
        for (int j = 0; j < nk; j++) {
            const uint32_t cell = gr_kv_cell(kvl, lo + (uint32_t)j);
            sc[j] = c->ops->dot_f16(kvl->k + (size_t)cell * kvl->row + (size_t)kh * hd, qh, hd);
        }
        gr_softmax(sc, nk);
        c->ops->round_f16(sc, nk);
        float *out = c->att + t * c->q_dim + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int j = 0; j < nk; j++) {
            const uint32_t cell = gr_kv_cell(kvl, lo + (uint32_t)j);
            c->ops->axpy_f16(out, kvl->v + (size_t)cell * kvl->row + (size_t)kh * hd, sc[j], hd);
        }
        if (quant_head) {
            uint8_t *dst = qa_row(c, QA_OUT, t) + gr_row_size(ot, (int64_t)h * hd);
            quant_row(c, ot, out, hd, dst);
        }
    }
}

static void attn_quant_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_layer_w *w = &c->m->layers[c->l];
    for (int64_t t = t0; t < t1; t++)
        quant_row(c, vdt_of(c, w->wo), c->att + t * c->q_dim, w->wo->ne[0], qa_row(c, QA_OUT, t));
    (void)ith;
}

/* ---------- feed-forward ---------- */

static void moe_route_row(gr_context *c, int64_t t);

/* Residual add of the attention output, FFN pre-norm, quantized for gate/up (+ MoE router). */
static void attn_res_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t d = c->cfg->n_embd;
    const float eps = c->cfg->rms_eps;
    int sg, su;
    slots2(c, w->gate, w->up, &sg, &su);
    for (int64_t t = t0; t < t1; t++) {
        float *x = c->x + t * d, *ao = c->ao + t * d, *xn = c->xn + t * d;
        gr_rmsnorm(ao, ao, fvec(w->post_attn_norm), (int)d, eps);
        for (int64_t i = 0; i < d; i++) x[i] += ao[i];
        gr_rmsnorm(xn, x, fvec(w->ffn_norm), (int)d, eps);
        quant_row(c, vdt_of(c, w->gate), xn, d, qa_row(c, sg, t));
        if (su != sg) quant_row(c, vdt_of(c, w->up), xn, d, qa_row(c, su, t));
        if (w->moe) moe_route_row(c, t);
    }
    (void)ith;
}

/* After gate and up rows [r0, r1) of every token: act = gelu(gate) * up, quantized in place
 * block-wise (r0 is a multiple of the block size) into the down projection's input. */
static void gelu_post(gr_context *c, int64_t r0, int64_t r1) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t F = w->gate->ne[1];
    const gr_type dt = vdt_of(c, w->down);
    for (uint32_t t = 0; t < c->T; t++) {
        float *g = c->gate + (size_t)t * F + r0;
        c->ops->gelu_mul(g, c->up + (size_t)t * F + r0, (int)(r1 - r0), c->m->gelu_tab);
        quant_row(c, dt, g, r1 - r0, qa_row(c, QA_OUT, t) + gr_row_size(dt, r0));
    }
}

static void dense_ffn(gr_context *c) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t F = w->gate->ne[1];
    int sg, su;
    slots2(c, w->gate, w->up, &sg, &su);
    mm_reset(c);
    c->mm_align = gr_type_get(vdt_of(c, w->down))->blck;
    c->mm_post = gelu_post;
    mm_add(c, w->gate, 0, 0, F, c->qa[sg], (int)c->T, c->gate, F);
    mm_add(c, w->up, 0, 0, F, c->qa[su], (int)c->T, c->up, F);
    mm_run(c);
    mm_reset(c);
    mm_add(c, w->down, 0, 0, w->down->ne[1], c->qa[QA_OUT], (int)c->T, c->down,
           (int64_t)c->cfg->n_embd);
    mm_run(c);
}

/* Router (spec §2.8): softmax over experts of ffn_gate_inp · (rms(x) ⊙ scale / sqrt(d)), top-k,
 * renormalised, times the per-expert scale. Also the expert pre-norm input, quantized. */
static void moe_route_row(gr_context *c, int64_t t) {
    const gr_gemma_config *g = c->cfg;
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t d = g->n_embd;
    const int E = (int)g->n_expert, K = (int)g->n_expert_used;
    const float *x = c->x + t * d;
    float *z = c->ao + t * d; /* ao is free again after the residual add */
    gr_rmsnorm(z, x, NULL, (int)d, g->rms_eps);
    const float *s = fvec(w->gate_inp_scale);
    const float inv = 1.0f / sqrtf((float)d);
    for (int64_t i = 0; i < d; i++) z[i] = z[i] * inv * s[i];
    gr_tref gi = w->gate_inp;
    uint8_t *zq = qa_row(c, QA_MOE, t);
    quant_row(c, vdt_of(c, gi), z, d, zq);
    float *p = c->router + t * E;
    const size_t rs = gr_row_size(gi->type, d);
    for (int e = 0; e < E; e++)
        c->k->vec_dot[gi->type](d, &p[e], (const uint8_t *)gi->data + (size_t)e * rs, zq);
    gr_softmax(p, E);
    int32_t *sel = c->sel + t * K;
    float *sw = c->selw + t * K, sum = 0;
    for (int j = 0; j < K; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            bool taken = false;
            for (int q = 0; q < j; q++) taken |= sel[q] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        sel[j] = best;
        sw[j] = p[best];
        sum += p[best];
    }
    if (sum < 6.1e-5f) sum = 6.1e-5f;
    const float *es = fvec(w->down_exps_scale);
    for (int j = 0; j < K; j++) sw[j] = sw[j] / sum * (es ? es[sel[j]] : 1.0f);
    /* expert input (overwrites the router's quantized z, no longer needed) */
    float *u = z;
    gr_rmsnorm(u, x, fvec(w->pre_ffw_norm_2), (int)d, g->rms_eps);
    gr_tref ge = w->gate_up_exps ? w->gate_up_exps : w->gate_exps;
    quant_row(c, vdt_of(c, ge), u, d, zq);
}

static void moe_act_rows(gr_context *c, int64_t i0, int64_t i1, int ith) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t F = c->cfg->n_ff_exp;
    const gr_type dt = vdt_of(c, w->down_exps);
    for (int64_t i = i0; i < i1; i++) {
        float *gu = c->moe_gu + i * 2 * F;
        c->ops->gelu_mul(gu, gu + F, (int)F, c->m->gelu_tab);
        quant_row(c, dt, gu, F, c->moe_act + (size_t)i * c->moe_act_stride);
    }
    (void)ith;
}

static void moe_experts(gr_context *c) {
    const gr_gemma_config *g = c->cfg;
    const gr_layer_w *w = &c->m->layers[c->l];
    const int E = (int)g->n_expert, K = (int)g->n_expert_used;
    const int64_t F = g->n_ff_exp, d = g->n_embd, n = (int64_t)c->T * K;
    /* Counting sort of (token, slot) pairs by expert so each expert sees a contiguous batch. */
    memset(c->exp_cnt, 0, (size_t)E * sizeof *c->exp_cnt);
    for (int64_t i = 0; i < n; i++) c->exp_cnt[c->sel[i]]++;
    c->exp_start[0] = 0;
    for (int e = 0; e < E; e++) c->exp_start[e + 1] = c->exp_start[e] + c->exp_cnt[e];
    memset(c->exp_cnt, 0, (size_t)E * sizeof *c->exp_cnt);
    gr_tref ge = w->gate_up_exps ? w->gate_up_exps : w->gate_exps;
    const size_t in_bytes = gr_row_size(vdt_of(c, ge), d);
    for (int64_t i = 0; i < n; i++) {
        const int e = c->sel[i];
        const int32_t pos = (int32_t)(c->exp_start[e] + c->exp_cnt[e]++);
        c->slot_pos[i] = pos;
        c->pos_slot[pos] = (int32_t)i;
        memcpy(c->moe_in + (size_t)pos * c->moe_in_stride, qa_row(c, QA_MOE, i / K), in_bytes);
    }
    mm_reset(c);
    for (int e = 0; e < E; e++) {
        const uint32_t cnt = c->exp_cnt[e], st = c->exp_start[e];
        if (!cnt) continue;
        const uint8_t *xin = c->moe_in + (size_t)st * c->moe_in_stride;
        float *y = c->moe_gu + (size_t)st * 2 * F;
        if (w->gate_up_exps) mm_add(c, w->gate_up_exps, e, 0, 2 * F, xin, (int)cnt, y, 2 * F);
        else {
            mm_add(c, w->gate_exps, e, 0, F, xin, (int)cnt, y, 2 * F);
            mm_add(c, w->up_exps, e, 0, F, xin, (int)cnt, y + F, 2 * F);
        }
        c->jobs[c->njobs - 1].x_stride = c->moe_in_stride;
        if (!w->gate_up_exps) c->jobs[c->njobs - 2].x_stride = c->moe_in_stride;
    }
    mm_run(c);
    run_rows(c, moe_act_rows, n);
    mm_reset(c);
    for (int e = 0; e < E; e++) {
        const uint32_t cnt = c->exp_cnt[e], st = c->exp_start[e];
        if (!cnt) continue;
        mm_add(c, w->down_exps, e, 0, d, c->moe_act + (size_t)st * c->moe_act_stride, (int)cnt,
               c->moe_out + (size_t)st * d, d);
        c->jobs[c->njobs - 1].x_stride = c->moe_act_stride;
    }
    mm_run(c);
}

/* ---------- end of layer ---------- */

static void layer_end_row(gr_context *c, int64_t t);

static void ffn_res_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_gemma_config *g = c->cfg;
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t d = g->n_embd;
    const int K = (int)g->n_expert_used;
    for (int64_t t = t0; t < t1; t++) {
        float *x = c->x + t * d, *f = c->down + t * d;
        if (w->moe) {
            float *m2 = c->ao + t * d;
            gr_rmsnorm(f, f, fvec(w->post_ffw_norm_1), (int)d, g->rms_eps);
            memset(m2, 0, (size_t)d * sizeof(float));
            for (int j = 0; j < K; j++) {
                const float *y = c->moe_out + (size_t)c->slot_pos[t * K + j] * d;
                const float wj = c->selw[t * K + j];
                for (int64_t i = 0; i < d; i++) m2[i] += wj * y[i];
            }
            gr_rmsnorm(m2, m2, fvec(w->post_ffw_norm_2), (int)d, g->rms_eps);
            for (int64_t i = 0; i < d; i++) f[i] += m2[i];
        }
        gr_rmsnorm(f, f, fvec(w->post_ffw_norm), (int)d, g->rms_eps);
        for (int64_t i = 0; i < d; i++) x[i] += f[i];
        if (w->inp_gate) quant_row(c, vdt_of(c, w->inp_gate), x, d, qa_row(c, QA_IN0, t));
        else layer_end_row(c, t);
    }
    (void)ith;
}

/* PLE gate rows [r0, r1): gelu(gate) * ple[l], quantized for proj. */
static void ple_post(gr_context *c, int64_t r0, int64_t r1) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t P = c->cfg->n_embd_per_layer;
    const gr_type pt = vdt_of(c, w->proj);
    for (uint32_t t = 0; t < c->T; t++) {
        float *gp = c->pg + (size_t)t * P + r0;
        c->ops->gelu_mul(gp, c->ple + (size_t)t * c->lp + (size_t)c->l * P + r0, (int)(r1 - r0),
                         c->m->gelu_tab);
        quant_row(c, pt, gp, r1 - r0, qa_row(c, QA_OUT, t) + gr_row_size(pt, r0));
    }
}

static void ple_res_rows(gr_context *c, int64_t t0, int64_t t1, int ith) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t d = c->cfg->n_embd;
    for (int64_t t = t0; t < t1; t++) {
        float *x = c->x + t * d, *o = c->ao + t * d;
        gr_rmsnorm(o, o, fvec(w->post_norm), (int)d, c->cfg->rms_eps);
        for (int64_t i = 0; i < d; i++) x[i] += o[i];
        layer_end_row(c, t);
    }
    (void)ith;
}

/* Layer scalar, then the next layer's attention input (fused to save a pass). */
static void layer_end_row(gr_context *c, int64_t t) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t d = c->cfg->n_embd;
    float *x = c->x + t * d;
    if (w->out_scale_v != 1.0f)
        for (int64_t i = 0; i < d; i++) x[i] *= w->out_scale_v;
    if (c->l + 1 < c->cfg->n_layer) attn_in_row(c, c->l + 1, t);
}

static void ple_block(gr_context *c) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const int64_t P = c->cfg->n_embd_per_layer, d = c->cfg->n_embd;
    mm_reset(c);
    c->mm_align = gr_type_get(vdt_of(c, w->proj))->blck;
    c->mm_post = ple_post;
    mm_add(c, w->inp_gate, 0, 0, P, c->qa[QA_IN0], (int)c->T, c->pg, P);
    mm_run(c);
    mm_reset(c);
    mm_add(c, w->proj, 0, 0, d, c->qa[QA_OUT], (int)c->T, c->ao, d);
    mm_run(c);
    run_rows(c, ple_res_rows, c->T);
}

/* ---------- one layer, one chunk ---------- */

static void layer_forward(gr_context *c) {
    const gr_layer_w *w = &c->m->layers[c->l];
    const uint32_t hd = gr_layer_head_dim(c->cfg, c->l);
    qkv_matmul(c);
    run_rows(c, qk_post_rows, c->T);
    /* work ~ query heads x visible keys x head dim x 2 (scores and values) */
    const int64_t keys = c->cfg->is_swa[c->l] && c->p0 + c->T > c->cfg->sliding_window
                             ? c->cfg->sliding_window
                             : c->p0 + c->T;
    run_rows_w(c, attn_rows, (int64_t)c->T * c->cfg->n_head,
               (int64_t)c->T * c->cfg->n_head * keys * hd * 2);
    const int blck = gr_type_get(vdt_of(c, w->wo))->blck;
    if (!(blck > 0 && hd % (uint32_t)blck == 0)) run_rows(c, attn_quant_rows, c->T);
    mm_reset(c);
    mm_add(c, w->wo, 0, 0, c->cfg->n_embd, c->qa[QA_OUT], (int)c->T, c->ao,
           (int64_t)c->cfg->n_embd);
    mm_run(c);
    run_rows(c, attn_res_rows, c->T);
    dense_ffn(c);
    if (w->moe) moe_experts(c);
    run_rows(c, ffn_res_rows, c->T);
    if (w->inp_gate) ple_block(c);
}

static void softcap_post(gr_context *c, int64_t r0, int64_t r1) {
    const float cap = c->cfg->final_softcap;
    for (uint32_t t = 0; t < c->n_logits; t++)
        c->ops->softcap(c->logits + (size_t)t * c->cfg->n_vocab + r0, (int)(r1 - r0), cap);
}

static void out_norm_rows(gr_context *c, int64_t i0, int64_t i1, int ith) {
    const gr_model *m = c->m;
    const int64_t d = c->cfg->n_embd;
    gr_tref out = m->output ? m->output : m->tok_embd;
    const int64_t first = (int64_t)c->T - (int64_t)c->n_logits;
    for (int64_t i = i0; i < i1; i++) {
        float *xn = c->xn + i * d;
        gr_rmsnorm(xn, c->x + (first + i) * d, fvec(m->output_norm), (int)d, c->cfg->rms_eps);
        quant_row(c, vdt_of(c, out), xn, d, qa_row(c, QA_IN0, i));
    }
    (void)ith;
}

static void lm_head(gr_context *c) {
    gr_tref out = c->m->output ? c->m->output : c->m->tok_embd;
    c->n_logits = c->all_logits ? c->T : 1;
    run_rows(c, out_norm_rows, c->n_logits);
    mm_reset(c);
    if (c->cfg->final_softcap > 0) c->mm_post = softcap_post;
    mm_add(c, out, 0, 0, c->cfg->n_vocab, c->qa[QA_IN0], (int)c->n_logits, c->logits,
           (int64_t)c->cfg->n_vocab);
    mm_run(c);
}

static gr_status forward_chunk(gr_context *c, const int32_t *tok, uint32_t T, bool want_logits,
                               const gr_cancel *cancel, char *err, size_t errlen) {
    c->T = T;
    c->p0 = c->n_past;
    c->tok = tok;
    c->l = 0;
    run_rows(c, embed_rows, T);
    if (c->m->ple_tok_embd) {
        mm_reset(c);
        mm_add(c, c->m->ple_model_proj, 0, 0, (int64_t)c->lp, c->qa[QA_IN0], (int)T, c->ple,
               (int64_t)c->lp);
        mm_run(c);
        run_rows(c, ple_finish_rows, T);
    }
    run_rows(c, attn_in_rows, T);
    if (c->p0 + T > c->kv.hi_written) c->kv.hi_written = c->p0 + T;
    for (uint32_t l = 0; l < c->cfg->n_layer; l++) {
        gr_status s = gr_cancel_check(cancel);
        if (s) return gr_err(s, err, errlen, "evaluation %s at layer %u",
                             s == GR_E_TIMEOUT ? "timed out" : "cancelled", l);
        c->l = l;
        layer_forward(c);
    }
    if (want_logits) lm_head(c);
    return GR_OK;
}

/* ---------- public API ---------- */

gr_context_params gr_context_default_params(void) {
    return (gr_context_params){.n_ctx = 0, .n_batch = 512, .n_threads = 1, .isa = GR_ISA_BEST,
                               .all_logits = false};
}

static void *zalloc(gr_context *c, size_t n, size_t sz) {
    if (c->nalloc >= (int)(sizeof c->allocs / sizeof c->allocs[0])) return NULL;
    void *p = calloc(n ? n : 1, sz);
    if (p) c->allocs[c->nalloc++] = p;
    return p;
}

/* Largest quantized row (bytes) any matmul input can need. */
static size_t max_qrow(const gr_context *c) {
    const gr_model *m = c->m;
    size_t best = 0;
    gr_tref list[32];
    for (uint32_t l = 0; l < c->cfg->n_layer; l++) {
        const gr_layer_w *w = &m->layers[l];
        gr_tref a[] = {w->wq, w->wk, w->wv, w->wo, w->gate, w->up, w->down, w->inp_gate,
                       w->proj, w->gate_inp, w->gate_up_exps, w->gate_exps, w->up_exps,
                       w->down_exps};
        for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
            if (a[i]) {
                size_t r = gr_row_size(vdt_of(c, a[i]), a[i]->ne[0]);
                best = r > best ? r : best;
            }
    }
    list[0] = m->tok_embd, list[1] = m->output, list[2] = m->ple_model_proj;
    for (int i = 0; i < 3; i++)
        if (list[i]) {
            size_t r = gr_row_size(vdt_of(c, list[i]), list[i]->ne[0]);
            best = r > best ? r : best;
        }
    return (best + 63) & ~(size_t)63;
}

/* Buffer dimensions that follow from the config (qa_stride: bytes of one quantized input row). */
static void scratch_dims(gr_context *c, size_t qa_stride) {
    const gr_gemma_config *g = c->cfg;
    size_t nkv_max = 0, ff = 0;
    for (uint32_t l = 0; l < g->n_layer; l++) {
        nkv_max = g->n_head_kv[l] > nkv_max ? g->n_head_kv[l] : nkv_max;
        ff = g->n_ff[l] > ff ? g->n_ff[l] : ff;
    }
    c->hd_max = g->head_dim > g->head_dim_swa ? g->head_dim : g->head_dim_swa;
    c->q_dim = g->n_head * c->hd_max;
    c->kv_dim = nkv_max * c->hd_max;
    c->ff_max = ff;
    c->lp = (size_t)g->n_layer * g->n_embd_per_layer;
    c->qa_stride = qa_stride;
    c->max_jobs = 2 * (int)g->n_expert + 8;
    c->moe_in_stride = c->moe_act_stride = qa_stride;
}

/* The one list of scratch buffers. With count == NULL it allocates them into c; otherwise it only
 * adds up their bytes, which is how the fit plan learns what gr_context_new will allocate. */
static bool scratch_walk(gr_context *c, uint64_t *count) {
    const gr_gemma_config *g = c->cfg;
    const size_t B = c->n_batch, d = g->n_embd, ff = c->ff_max;
    bool ok = true;
#define A(ptr, n, T)                                                                               \
    do {                                                                                           \
        if (count) *count += (uint64_t)(n) * sizeof(T);                                            \
        else ok = ok && ((ptr) = zalloc(c, (n), sizeof(T))) != NULL;                               \
    } while (0)
    A(c->x, B * d, float);
    A(c->xn, B * d, float);
    A(c->ao, B * d, float);
    A(c->down, B * d, float);
    A(c->q, B * c->q_dim, float);
    A(c->att, B * c->q_dim, float);
    A(c->kk, B * c->kv_dim, float);
    A(c->vv, B * c->kv_dim, float);
    A(c->gate, B * ff, float);
    A(c->up, B * ff, float);
    for (int i = 0; i < QA_N; i++) A(c->qa[i], B * c->qa_stride, uint8_t);
    A(c->scores, (size_t)c->nth * c->n_ctx, float);
    A(c->qhead, (size_t)c->nth * c->hd_max, float);
    A(c->rope_cs[0], B * g->n_rot_swa / 2 + 1, float);
    A(c->rope_sn[0], B * g->n_rot_swa / 2 + 1, float);
    A(c->rope_cs[1], B * g->n_rot / 2 + 1, float);
    A(c->rope_sn[1], B * g->n_rot / 2 + 1, float);
    A(c->logits, (c->all_logits ? B : 1) * (size_t)g->n_vocab, float);
    A(c->jobs, (size_t)c->max_jobs, mm_job);
    if (c->lp) {
        A(c->ple, B * c->lp, float);
        A(c->ple_tok, B * c->lp, float);
        A(c->pg, B * g->n_embd_per_layer, float);
    }
    if (g->n_expert) {
        const size_t E = g->n_expert, K = g->n_expert_used, F = g->n_ff_exp;
        A(c->router, B * E, float);
        A(c->sel, B * K, int32_t);
        A(c->selw, B * K, float);
        A(c->slot_pos, B * K, int32_t);
        A(c->pos_slot, B * K, int32_t);
        A(c->exp_start, E + 1, uint32_t);
        A(c->exp_cnt, E, uint32_t);
        A(c->moe_in, B * K * c->moe_in_stride, uint8_t);
        A(c->moe_act, B * K * c->moe_act_stride, uint8_t);
        A(c->moe_gu, B * K * 2 * F, float);
        A(c->moe_out, B * K * d, float);
    }
#undef A
    return ok;
}

static gr_status alloc_scratch(gr_context *c, char *err, size_t errlen) {
    scratch_dims(c, max_qrow(c));
    if (!scratch_walk(c, NULL)) return gr_err(GR_E_NOMEM, err, errlen, "context scratch: out of memory");
    return GR_OK;
}

uint64_t gr_context_scratch_bytes(const gr_gemma_config *g, uint32_t n_ctx, uint32_t n_batch,
                                  int n_threads, size_t qa_stride) {
    gr_context c = {.cfg = g, .nth = n_threads, .n_ctx = n_ctx};
    c.n_batch = n_batch < n_ctx ? n_batch : n_ctx;
    scratch_dims(&c, qa_stride);
    uint64_t total = 0;
    scratch_walk(&c, &total);
    return total;
}

gr_status gr_context_new(const gr_model *m, const gr_context_params *p, gr_context **out,
                         char *err, size_t errlen) {
    *out = NULL;
    gr_context_params d = p ? *p : gr_context_default_params();
    const gr_gemma_config *g = &m->cfg;
    if (d.n_threads < 1 || d.n_threads > 256)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "n_threads %d out of range", d.n_threads);
    if (d.n_ctx == 0) d.n_ctx = g->n_ctx_train && g->n_ctx_train < 4096 ? g->n_ctx_train : 4096;
    if (d.n_batch == 0) d.n_batch = 512;
    if (d.n_batch > d.n_ctx) d.n_batch = d.n_ctx;
    const gr_kernels *k = gr_kernels_get((gr_isa)d.isa);
    if (!k) return gr_err(GR_E_UNSUPPORTED, err, errlen, "ISA %d not available on this CPU", d.isa);
    gr_context *c = calloc(1, sizeof *c);
    if (!c) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    c->m = m;
    c->cfg = g;
    c->k = k;
    c->ops = gr_ops_get(k->isa);
    c->nth = d.n_threads;
    c->small_work = SMALL_WORK;
    c->n_ctx = d.n_ctx;
    c->n_batch = d.n_batch;
    c->all_logits = d.all_logits;
    gr_status s = gr_kvcache_init(&c->kv, g, c->n_ctx, c->n_batch, err, errlen);
    if (!s) s = alloc_scratch(c, err, errlen);
    if (!s && gr_pool_new(c->nth, &c->pool) != GR_OK)
        s = gr_err(GR_E_NOMEM, err, errlen, "cannot start %d threads", c->nth);
    if (s) {
        gr_context_free(c);
        return s;
    }
    *out = c;
    return GR_OK;
}

void gr_context_free(gr_context *c) {
    if (!c) return;
    gr_pool_free(c->pool);
    gr_kvcache_free(&c->kv);
    for (int i = 0; i < c->nalloc; i++) free(c->allocs[i]);
    free(c);
}

gr_status gr_context_eval(gr_context *c, const int32_t *tokens, uint32_t n, const gr_cancel *cancel,
                          char *err, size_t errlen) {
    if (n == 0) return GR_OK;
    if (!tokens) return gr_err(GR_E_INVALID_ARG, err, errlen, "tokens is NULL");
    if ((uint64_t)c->n_past + n > c->n_ctx)
        return gr_err(GR_E_CONTEXT_FULL, err, errlen, "context full: %u + %u tokens > n_ctx %u",
                      c->n_past, n, c->n_ctx);
    if (c->all_logits && n > c->n_batch)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "all_logits: at most n_batch (%u) tokens per call, got %u", c->n_batch, n);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= c->cfg->n_vocab)
            return gr_err(GR_E_INVALID_ARG, err, errlen, "token %d at index %u outside vocab %u",
                          tokens[i], i, c->cfg->n_vocab);
    const uint32_t start = c->n_past;
    for (uint32_t i = 0; i < n; i += c->n_batch) {
        const uint32_t T = n - i < c->n_batch ? n - i : c->n_batch;
        gr_status s = gr_cancel_check(cancel);
        if (!s) s = forward_chunk(c, tokens + i, T, i + T == n, cancel, err, errlen);
        else gr_err(s, err, errlen, "evaluation cancelled");
        if (s) {
            c->n_past = start;
            return s;
        }
        c->n_past += T;
    }
    return GR_OK;
}

const float *gr_context_logits(const gr_context *c, int32_t i) {
    if (c->n_logits == 0) return NULL;
    if (i < 0) return c->logits + (size_t)(c->n_logits - 1) * c->cfg->n_vocab;
    if (!c->all_logits || (uint32_t)i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * c->cfg->n_vocab;
}

uint32_t gr_context_n_past(const gr_context *c) { return c->n_past; }
uint32_t gr_context_n_ctx(const gr_context *c) { return c->n_ctx; }

void gr_context_truncate(gr_context *c, uint32_t n_past) {
    if (n_past >= c->n_past) return;
    c->n_past = gr_kvcache_can_truncate(&c->kv, c->cfg, n_past) ? n_past : 0;
    if (c->n_past == 0) c->kv.hi_written = 0;
    c->n_logits = 0;
}
