/* ops.c — scalar implementations of the forward pass's fp32 operations (see ops.h). Must stay
 * portable C11: SIMD variants live in ops_avx2.c and are chosen by gr_ops_get. */
#include "model/ops.h"

#include "tensor/kernels.h"

#include <math.h>
#include <string.h>

#if defined(GR_X86)
const gr_ops *gr_ops_avx2(void);
#endif

float gr_gelu_exact(float x) {
    const float c = 0.79788456080286535587989211986876f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * x * (1.0f + 0.044715f * x * x)));
}

void gr_gelu_table_init(float *tab) {
    for (uint32_t h = 0; h < 65536; h++) {
        float x = gr_fp16_to_fp32((uint16_t)h);
        tab[h] = gr_fp16_to_fp32(gr_fp32_to_fp16(gr_gelu_exact(x)));
    }
}

static float dot_f16_scalar(const uint16_t *k, const float *q, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += gr_fp16_to_fp32(k[i]) * q[i];
    return s;
}

static void axpy_f16_scalar(float *y, const uint16_t *v, float a, int n) {
    for (int i = 0; i < n; i++) y[i] += a * gr_fp16_to_fp32(v[i]);
}

static void to_f16_scalar(uint16_t *dst, const float *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = gr_fp32_to_fp16(src[i]);
}

static void round_f16_scalar(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = gr_fp16_to_fp32(gr_fp32_to_fp16(x[i]));
}

/* ggml's rule: below -10 the result is 0, above 10 it is x, else the table. */
static void gelu_mul_scalar(float *g, const float *u, int n, const float *tab) {
    for (int i = 0; i < n; i++) {
        float x = g[i], y;
        if (x <= -10.0f) y = 0.0f;
        else if (x >= 10.0f) y = x;
        else y = tab[gr_fp32_to_fp16(x)];
        g[i] = u ? y * u[i] : y;
    }
}

static const gr_ops scalar_ops = {dot_f16_scalar, axpy_f16_scalar, to_f16_scalar, round_f16_scalar,
                                 gr_softcap, gelu_mul_scalar};

const gr_ops *gr_ops_get(int isa) {
#if defined(GR_X86)
    if (isa != GR_ISA_SCALAR && gr_kernels_get(GR_ISA_AVX2) != NULL) return gr_ops_avx2();
#else
    (void)isa;
#endif
    return &scalar_ops;
}

void gr_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    if (w)
        for (int i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
    else
        for (int i = 0; i < n; i++) y[i] = x[i] * scale;
}

void gr_rope_neox(float *x, int n_rot, const float *cs, const float *sn) {
    const int h = n_rot / 2;
    for (int i = 0; i < h; i++) {
        const float a = x[i], b = x[i + h];
        x[i] = a * cs[i] - b * sn[i];
        x[i + h] = a * sn[i] + b * cs[i];
    }
}

void gr_rope_cache(float *cs, float *sn, int n_rot, float pos, float base, float scale,
                   const float *ff) {
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float theta = pos;
    for (int i = 0; i < n_rot / 2; i++) {
        const float t = scale * (ff ? theta / ff[i] : theta);
        cs[i] = cosf(t);
        sn[i] = sinf(t);
        theta *= theta_scale;
    }
}

void gr_softmax(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void gr_softcap(float *x, int n, float cap) {
    const float inv = 1.0f / cap;
    for (int i = 0; i < n; i++) x[i] = cap * tanhf(x[i] * inv);
}
