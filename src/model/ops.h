/* ops.h — the small fp32 operations of the Gemma forward pass (RMSNorm, NeoX RoPE, GELU through a
 * half-precision table as ggml's CPU backend does, softmax, soft-cap) and the f16 KV-cache dot/axpy
 * used by attention, with a scalar and an AVX2 (F16C) table. No allocation, no state. */
#ifndef GR_MODEL_OPS_H
#define GR_MODEL_OPS_H

#include <stdint.h>

/* Per-ISA attention and activation kernels. */
typedef struct gr_ops {
    /* sum_i k[i] * q[i], k in IEEE half. */
    float (*dot_f16)(const uint16_t *k, const float *q, int n);
    /* y[i] += a * v[i]. */
    void (*axpy_f16)(float *y, const uint16_t *v, float a, int n);
    /* dst[i] = half(src[i]). */
    void (*to_f16)(uint16_t *dst, const float *src, int n);
    /* x[i] = float(half(x[i])): the rounding llama.cpp applies to the query and to the attention
     * probabilities when its KV cache is F16. */
    void (*round_f16)(float *x, int n);
    /* x[i] = cap * tanh(x[i] / cap) (absolute error below 1e-5 * cap). */
    void (*softcap)(float *x, int n, float cap);
    /* g[i] = gelu(g[i]) * (u ? u[i] : 1), gelu read from a 65536-entry table indexed by half(g). */
    void (*gelu_mul)(float *g, const float *u, int n, const float *tab);
} gr_ops;

/* isa: a gr_isa value; falls back to scalar when the CPU or build lacks AVX2. */
const gr_ops *gr_ops_get(int isa);

/* Fill the table: tab[h] = half-rounded gelu(half h) (what ggml_table_gelu_f16 holds). */
void gr_gelu_table_init(float *tab);
float gr_gelu_exact(float x);

/* y = x / sqrt(mean(x^2) + eps) * (w ? w : 1); y may alias x. Sum of squares in double. */
void gr_rmsnorm(float *y, const float *x, const float *w, int n, float eps);
/* NeoX rotation of the first n_rot dims of one head: pairs (i, i + n_rot/2). */
void gr_rope_neox(float *x, int n_rot, const float *cs, const float *sn);
/* cos/sin for one position: theta_i = scale * pos * base^(-2i/n_rot) / ff[i] (ff may be NULL),
 * computed like ggml (running product in float). */
void gr_rope_cache(float *cs, float *sn, int n_rot, float pos, float base, float scale,
                   const float *ff);
/* In-place softmax over n values; returns nothing. */
void gr_softmax(float *x, int n);
void gr_softcap(float *x, int n, float cap);

#endif
