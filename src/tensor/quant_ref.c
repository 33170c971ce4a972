/* quant_ref.c — scalar reference quantization, dequantization and dot products for every supported
 * tensor type, byte-compatible with ggml/GGUF. These are the ground truth for the SIMD kernels, so
 * they favour clarity over speed. Dot products follow ggml's arithmetic (integer block sums times
 * d_w * d_x, K-quant mins through the Q8_K bsums) so logits track llama.cpp. Must not use SIMD. */
#include <math.h>

#include "tensor/quant_ref.h"

static float h2f(const uint8_t *p) { return gr_fp16_to_fp32(gr_rd16(p)); }
static void f2h(uint8_t *p, float f) { gr_wr16(p, gr_fp32_to_fp16(f)); }

/* ---------------------------------------------------------------- plain float types */

void gr_ref_to_float_f32(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }
void gr_ref_from_float_f32(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * 4); }

void gr_ref_to_float_f16(const void *x, float *y, int64_t n) {
    const uint8_t *p = x;
    for (int64_t i = 0; i < n; i++) y[i] = h2f(p + 2 * i);
}
void gr_ref_from_float_f16(const float *x, void *y, int64_t n) {
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) f2h(p + 2 * i, x[i]);
}
void gr_ref_to_float_bf16(const void *x, float *y, int64_t n) {
    const uint8_t *p = x;
    for (int64_t i = 0; i < n; i++) y[i] = gr_bf16_to_fp32(gr_rd16(p + 2 * i));
}
void gr_ref_from_float_bf16(const float *x, void *y, int64_t n) {
    uint8_t *p = y;
    for (int64_t i = 0; i < n; i++) gr_wr16(p + 2 * i, gr_fp32_to_bf16(x[i]));
}

/* Float dots accumulate in double: the reference should be the most accurate one. */
void gr_ref_vec_dot_f32(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)gr_rdf32(a + 4 * i) * gr_rdf32(b + 4 * i);
    *s = (float)acc;
}
void gr_ref_vec_dot_f16(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)h2f(a + 2 * i) * h2f(b + 2 * i);
    *s = (float)acc;
}
void gr_ref_vec_dot_bf16(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    double acc = 0;
    for (int64_t i = 0; i < n; i++)
        acc += (double)gr_bf16_to_fp32(gr_rd16(a + 2 * i)) * gr_bf16_to_fp32(gr_rd16(b + 2 * i));
    *s = (float)acc;
}

/* ---------------------------------------------------------------- 32-element blocks */

/* Element i (0..31) of a Q4/Q5 block as an unsigned integer (without offset). */
static int q4_elem(const uint8_t *qs, int i) { return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4; }
static int q5_elem(const uint8_t *qs, uint32_t qh, int i) {
    return q4_elem(qs, i) | (int)(((qh >> i) & 1) << 4);
}

void gr_ref_to_float_q4_0(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q4_0_SIZE, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(q4_elem(b + 2, j) - 8) * d;
    }
}
void gr_ref_to_float_q4_1(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q4_1_SIZE, y += 32) {
        const float d = h2f(b), m = h2f(b + 2);
        for (int j = 0; j < 32; j++) y[j] = (float)q4_elem(b + 4, j) * d + m;
    }
}
void gr_ref_to_float_q5_0(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q5_0_SIZE, y += 32) {
        const float d = h2f(b);
        const uint32_t qh = gr_rd32(b + 2);
        for (int j = 0; j < 32; j++) y[j] = (float)(q5_elem(b + 6, qh, j) - 16) * d;
    }
}
void gr_ref_to_float_q5_1(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q5_1_SIZE, y += 32) {
        const float d = h2f(b), m = h2f(b + 2);
        const uint32_t qh = gr_rd32(b + 4);
        for (int j = 0; j < 32; j++) y[j] = (float)q5_elem(b + 8, qh, j) * d + m;
    }
}
void gr_ref_to_float_q8_0(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_0_SIZE, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    }
}
void gr_ref_to_float_q8_1(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_1_SIZE, y += 32) {
        const float d = h2f(b);
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[4 + j] * d;
    }
}

/* Symmetric quantizers put the value of largest magnitude at -2^(bits-1) (as ggml does). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    return max;
}
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Quantize one 32-block to unsigned levels L with x ~ (L - off) * d (symmetric types). */
static float quant_sym32(const float *x, int nlev, uint8_t *L) {
    const float max = signed_absmax(x, 32);
    const float d = max / -(float)(nlev / 2);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)clampi(gr_nearest_int(x[j] * id) + nlev / 2, 0, nlev - 1);
    return d;
}
/* Quantize one 32-block to levels L with x ~ L * d + m (asymmetric types). */
static void quant_asym32(const float *x, int nlev, uint8_t *L, float *d, float *m) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    *d = (mx - mn) / (float)(nlev - 1);
    *m = mn;
    const float id = *d != 0 ? 1.0f / *d : 0.0f;
    for (int j = 0; j < 32; j++) L[j] = (uint8_t)clampi(gr_nearest_int((x[j] - mn) * id), 0, nlev - 1);
}
static void pack_nibbles(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
}
static void pack_qh(const uint8_t *L, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)(L[j] >> 4) << j;
    memcpy(qh, &h, 4);
}

void gr_ref_from_float_q4_0(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[32];
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q4_0_SIZE, x += 32) {
        f2h(b, quant_sym32(x, 16, L));
        pack_nibbles(L, b + 2);
    }
}
void gr_ref_from_float_q5_0(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[32];
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q5_0_SIZE, x += 32) {
        f2h(b, quant_sym32(x, 32, L));
        pack_qh(L, b + 2);
        pack_nibbles(L, b + 6);
    }
}
void gr_ref_from_float_q4_1(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[32];
    float d, m;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q4_1_SIZE, x += 32) {
        quant_asym32(x, 16, L, &d, &m);
        f2h(b, d);
        f2h(b + 2, m);
        pack_nibbles(L, b + 4);
    }
}
void gr_ref_from_float_q5_1(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[32];
    float d, m;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q5_1_SIZE, x += 32) {
        quant_asym32(x, 32, L, &d, &m);
        f2h(b, d);
        f2h(b + 2, m);
        pack_qh(L, b + 4);
        pack_nibbles(L, b + 8);
    }
}

/* Activation quantizers: d = amax/127, q = round_even(x * 127/amax) — the exact recipe the SIMD
 * versions use, so scalar and SIMD agree bit for bit. Returns the integer sum (for Q8_1's s). */
static float quant_q8_32(const float *x, int8_t *q, int *sum) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0 ? 127.f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)gr_nearest_int(x[j] * id);
        s += q[j];
    }
    *sum = s;
    return d;
}
void gr_ref_from_float_q8_0(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    int sum;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_0_SIZE, x += 32) f2h(b, quant_q8_32(x, (int8_t *)(b + 2), &sum));
}
void gr_ref_from_float_q8_1(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    int sum;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_1_SIZE, x += 32) {
        const float d = quant_q8_32(x, (int8_t *)(b + 4), &sum);
        f2h(b, d);
        f2h(b + 2, d * (float)sum);
    }
}

void gr_ref_vec_dot_q4_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    float sumf = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q4_0_SIZE, b += GR_Q8_0_SIZE) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (q4_elem(a + 2, j) - 8) * (int8_t)b[2 + j];
        sumf += (float)sumi * (h2f(a) * h2f(b));
    }
    *s = sumf;
}
void gr_ref_vec_dot_q5_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    float sumf = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q5_0_SIZE, b += GR_Q8_0_SIZE) {
        const uint32_t qh = gr_rd32(a + 2);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (q5_elem(a + 6, qh, j) - 16) * (int8_t)b[2 + j];
        sumf += (float)sumi * (h2f(a) * h2f(b));
    }
    *s = sumf;
}
void gr_ref_vec_dot_q8_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    float sumf = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q8_0_SIZE, b += GR_Q8_0_SIZE) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += (int8_t)a[2 + j] * (int8_t)b[2 + j];
        sumf += (float)sumi * (h2f(a) * h2f(b));
    }
    *s = sumf;
}
/* Asymmetric types: sum (q*d + m) * y_j = d*dy*sum(q*yq) + m * s_y, with s_y = dy*sum(yq). */
void gr_ref_vec_dot_q4_1(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    float sumf = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q4_1_SIZE, b += GR_Q8_1_SIZE) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += q4_elem(a + 4, j) * (int8_t)b[4 + j];
        sumf += (float)sumi * (h2f(a) * h2f(b)) + h2f(a + 2) * h2f(b + 2);
    }
    *s = sumf;
}
void gr_ref_vec_dot_q5_1(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    float sumf = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q5_1_SIZE, b += GR_Q8_1_SIZE) {
        const uint32_t qh = gr_rd32(a + 4);
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += q5_elem(a + 8, qh, j) * (int8_t)b[4 + j];
        sumf += (float)sumi * (h2f(a) * h2f(b)) + h2f(a + 2) * h2f(b + 2);
    }
    *s = sumf;
}

/* ---------------------------------------------------------------- K-quants (256-element) */

/* Q4_K/Q5_K element i of a super-block (0..255) as its unsigned level. Quants are stored in
 * 64-element chunks: byte l of chunk c holds elem 64c+l (low nibble) and 64c+32+l (high). Q5_K's
 * 5th bit of elem 64c+l is bit 2c of qh[l], of elem 64c+32+l bit 2c+1. */
static int q4k_level(const uint8_t *qs, int i) {
    const int c = i / 64, r = i % 64;
    const uint8_t byte = qs[32 * c + (r % 32)];
    return r < 32 ? byte & 0xF : byte >> 4;
}
static int q5k_level(const uint8_t *qh, const uint8_t *qs, int i) {
    const int c = i / 64, r = i % 64;
    const int bit = 2 * c + (r >= 32);
    return q4k_level(qs, i) | (((qh[r % 32] >> bit) & 1) << 4);
}
/* Q6_K element i: 128-element halves h; within, quarter q = r/32, l = r%32: low 4 bits are
 * ql[64h + l + 32*(q&1)] (low nibble for q<2, high for q>=2), high 2 bits are qh[32h+l] >> 2q. */
static int q6k_level(const uint8_t *ql, const uint8_t *qh, int i) {
    const int h = i / 128, r = i % 128, q = r / 32, l = r % 32;
    const uint8_t lo = ql[64 * h + l + 32 * (q & 1)];
    const int low = q < 2 ? lo & 0xF : lo >> 4;
    return low | (((qh[32 * h + l] >> (2 * q)) & 3) << 4);
}

void gr_ref_to_float_q4_k(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q4_K_SIZE, y += 256) {
        const float d = h2f(b), dmin = h2f(b + 2);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            gr_k4_scale_min(j, b + 4, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[32 * j + l] = d1 * (float)q4k_level(b + 16, 32 * j + l) - m1;
        }
    }
}
void gr_ref_to_float_q5_k(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q5_K_SIZE, y += 256) {
        const float d = h2f(b), dmin = h2f(b + 2);
        for (int j = 0; j < 8; j++) {
            int sc, m;
            gr_k4_scale_min(j, b + 4, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                y[32 * j + l] = d1 * (float)q5k_level(b + 16, b + 48, 32 * j + l) - m1;
        }
    }
}
void gr_ref_to_float_q6_k(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q6_K_SIZE, y += 256) {
        const float d = h2f(b + 208);
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int j = 0; j < 256; j++) y[j] = d * (float)sc[j / 16] * (float)(q6k_level(b, b + 128, j) - 32);
    }
}
void gr_ref_to_float_q8_k(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q8_K_SIZE, y += 256) {
        const float d = gr_rdf32(b);
        for (int j = 0; j < 256; j++) y[j] = d * (float)(int8_t)b[4 + j];
    }
}

/* Pack 8 six-bit scales and mins into the 12 Q4_K/Q5_K scale bytes (inverse of gr_k4_scale_min). */
static void pack_k4_scales(const int *ls, const int *lm, uint8_t *q) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
    }
}

/* Q4_K/Q5_K: per 32-sub-block min/max, then 6-bit scales/mins relative to the super-block maxima,
 * then levels against the scales actually stored (after fp16 and 6-bit rounding). */
static void quant_k_asym(const float *x, int nlev, uint8_t *hdr, uint8_t *L) {
    float scale[8], mins[8], maxs = 0, maxm = 0;
    for (int j = 0; j < 8; j++) {
        float mn = 0, mx = 0; /* the min is clamped to <= 0, as in ggml: stored mins are >= 0 */
        for (int l = 0; l < 32; l++) {
            mn = fminf(mn, x[32 * j + l]);
            mx = fmaxf(mx, x[32 * j + l]);
        }
        scale[j] = (mx - mn) / (float)(nlev - 1);
        mins[j] = -mn;
        maxs = fmaxf(maxs, scale[j]);
        maxm = fmaxf(maxm, mins[j]);
    }
    f2h(hdr, maxs / 63.f);
    f2h(hdr + 2, maxm / 63.f);
    const float d = h2f(hdr), dmin = h2f(hdr + 2);
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = d > 0 ? clampi(gr_nearest_int(scale[j] / d), 0, 63) : 0;
        lm[j] = dmin > 0 ? clampi(gr_nearest_int(mins[j] / dmin), 0, 63) : 0;
    }
    pack_k4_scales(ls, lm, hdr + 4);
    for (int j = 0; j < 8; j++) {
        const float dl = d * (float)ls[j], ml = dmin * (float)lm[j];
        for (int l = 0; l < 32; l++) {
            const int v = dl > 0 ? gr_nearest_int((x[32 * j + l] + ml) / dl) : 0;
            L[32 * j + l] = (uint8_t)clampi(v, 0, nlev - 1);
        }
    }
}
static void pack_k4_quants(const uint8_t *L, uint8_t *qs) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((L[64 * c + l] & 0xF) | ((L[64 * c + 32 + l] & 0xF) << 4));
}

void gr_ref_from_float_q4_k(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[256];
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q4_K_SIZE, x += 256) {
        quant_k_asym(x, 16, b, L);
        pack_k4_quants(L, b + 16);
    }
}
void gr_ref_from_float_q5_k(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[256];
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q5_K_SIZE, x += 256) {
        quant_k_asym(x, 32, b, L);
        uint8_t *qh = b + 16;
        memset(qh, 0, 32);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                qh[l] |= (uint8_t)((L[64 * c + l] >> 4) << (2 * c));
                qh[l] |= (uint8_t)((L[64 * c + 32 + l] >> 4) << (2 * c + 1));
            }
        pack_k4_quants(L, b + 48);
    }
}
/* Q6_K: per 16-element group a signed scale (max magnitude -> level -32), 8-bit scales relative to
 * the super-block's largest scale, levels against the stored scales. */
void gr_ref_from_float_q6_k(const float *x, void *y, int64_t n) {
    uint8_t *b = y, L[256];
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q6_K_SIZE, x += 256) {
        float scale[16], maxs = 0, amaxs = 0;
        for (int g = 0; g < 16; g++) {
            scale[g] = signed_absmax(x + 16 * g, 16) / -32.f;
            if (fabsf(scale[g]) > amaxs) {
                amaxs = fabsf(scale[g]);
                maxs = scale[g];
            }
        }
        int8_t *sc = (int8_t *)(b + 192);
        f2h(b + 208, amaxs > 0 ? maxs / -128.f : 0.0f);
        const float d = h2f(b + 208);
        for (int g = 0; g < 16; g++) {
            sc[g] = (int8_t)(d != 0 ? clampi(gr_nearest_int(scale[g] / d), -128, 127) : 0);
            const float dl = d * (float)sc[g];
            for (int l = 0; l < 16; l++) {
                const int v = dl != 0 ? gr_nearest_int(x[16 * g + l] / dl) : 0;
                L[16 * g + l] = (uint8_t)(clampi(v, -32, 31) + 32);
            }
        }
        uint8_t *ql = b, *qh = b + 128;
        memset(qh, 0, 64);
        for (int j = 0; j < 256; j++) {
            const int h = j / 128, r = j % 128, q = r / 32, l = r % 32;
            uint8_t *lo = &ql[64 * h + l + 32 * (q & 1)];
            *lo = (uint8_t)(q < 2 ? (*lo & 0xF0) | (L[j] & 0xF) : (*lo & 0x0F) | ((L[j] & 0xF) << 4));
            qh[32 * h + l] |= (uint8_t)((L[j] >> 4) << (2 * q));
        }
    }
}
/* Q8_K as ggml: the largest-magnitude value maps to -127 (clamped at +127), d = 1/iscale. */
void gr_ref_from_float_q8_k(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q8_K_SIZE, x += 256) {
        const float max = signed_absmax(x, 256);
        int8_t *q = (int8_t *)(b + 4);
        if (max == 0) {
            memset(b, 0, GR_Q8_K_SIZE);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < 256; j++) {
            const int v = gr_nearest_int(iscale * x[j]);
            q[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += q[16 * g + l];
            const int16_t s16 = (int16_t)sum;
            memcpy(b + 260 + 2 * g, &s16, 2);
        }
        const float d = 1.0f / iscale;
        memcpy(b, &d, 4);
    }
}

static int q8k_bsum(const uint8_t *b, int g) {
    int16_t v;
    memcpy(&v, b + 260 + 2 * g, 2);
    return v;
}

/* sum_j (d*sc_j*q - dmin*m_j) * dy*y = dy*(d*sum_j sc_j*sum(q*y) - dmin*sum_j m_j*bsum_j). */
static void dot_k_asym(int64_t n, float *s, const uint8_t *a, const uint8_t *b, int q5) {
    float sumf = 0;
    const size_t bs = q5 ? GR_Q5_K_SIZE : GR_Q4_K_SIZE;
    for (int64_t i = 0; i < n / 256; i++, a += bs, b += GR_Q8_K_SIZE) {
        const float dy = gr_rdf32(b);
        const int8_t *yq = (const int8_t *)(b + 4);
        int sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m, acc = 0;
            gr_k4_scale_min(j, a + 4, &sc, &m);
            for (int l = 0; l < 32; l++) {
                const int e = 32 * j + l;
                acc += (q5 ? q5k_level(a + 16, a + 48, e) : q4k_level(a + 16, e)) * yq[e];
            }
            sumi += sc * acc;
            summ += m * (q8k_bsum(b, 2 * j) + q8k_bsum(b, 2 * j + 1));
        }
        sumf += h2f(a) * dy * (float)sumi - h2f(a + 2) * dy * (float)summ;
    }
    *s = sumf;
}
void gr_ref_vec_dot_q4_k(int64_t n, float *s, const void *w, const void *x) { dot_k_asym(n, s, w, x, 0); }
void gr_ref_vec_dot_q5_k(int64_t n, float *s, const void *w, const void *x) { dot_k_asym(n, s, w, x, 1); }

void gr_ref_vec_dot_q6_k(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    float sumf = 0;
    for (int64_t i = 0; i < n / 256; i++, a += GR_Q6_K_SIZE, b += GR_Q8_K_SIZE) {
        const int8_t *sc = (const int8_t *)(a + 192), *yq = (const int8_t *)(b + 4);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int acc = 0;
            for (int l = 0; l < 16; l++) acc += (q6k_level(a, a + 128, 16 * g + l) - 32) * yq[16 * g + l];
            sumi += sc[g] * acc;
        }
        sumf += h2f(a + 208) * gr_rdf32(b) * (float)sumi;
    }
    *s = sumf;
}
