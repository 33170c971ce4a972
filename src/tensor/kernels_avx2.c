/* kernels_avx2.c — AVX2+FMA+F16C kernels: dot products for the weight types, activation
 * quantization (Q8_0/Q8_1/Q8_K) and dequantization of the common types. Integer parts are exact and
 * equal to quant_ref.c; only float accumulation order differs. Must only be called after the CPU
 * check in kernels.c; anything not here comes from the scalar table. */
#include <immintrin.h>
#include <math.h>

#include "tensor/kernels_isa.h"
#include "tensor/quant_ref.h"

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline int hsum256_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
static inline float h2f(const uint8_t *p) { return _cvtsh_ss(gr_rd16(p)); }
static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* 16 bytes of packed nibbles -> 32 bytes: low nibbles (elems 0..15) then high nibbles (16..31). */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i t = load128(qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}
/* 32 bits -> 32 bytes, byte j = 0x10 if bit j is set (the 5th bit of a Q5 quant). */
static inline __m256i expand_qh(uint32_t qh) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}
/* Signed x signed byte dot, 8 int32 lanes (|x| <= 128 and |y| <= 127 cannot saturate). */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}
/* Unsigned x signed byte dot, 8 int32 lanes (x <= 63). */
static inline __m256i dot_u8(__m256i x, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/* ---------------------------------------------------------------- 32-element blocks */

static void vec_dot_q4_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q4_0_SIZE, b += GR_Q8_0_SIZE) {
        const __m256 d = _mm256_set1_ps(h2f(a) * h2f(b));
        const __m256i q = _mm256_sub_epi8(unpack_nibbles(a + 2), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8(q, load256(b + 2))), d, acc);
    }
    *s = hsum256(acc);
}
static void vec_dot_q5_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q5_0_SIZE, b += GR_Q8_0_SIZE) {
        const __m256 d = _mm256_set1_ps(h2f(a) * h2f(b));
        __m256i q = _mm256_or_si256(unpack_nibbles(a + 6), expand_qh(gr_rd32(a + 2)));
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8(q, load256(b + 2))), d, acc);
    }
    *s = hsum256(acc);
}
static void vec_dot_q8_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q8_0_SIZE, b += GR_Q8_0_SIZE) {
        const __m256 d = _mm256_set1_ps(h2f(a) * h2f(b));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_i8(load256(a + 2), load256(b + 2))), d, acc);
    }
    *s = hsum256(acc);
}
static void vec_dot_q4_1(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q4_1_SIZE, b += GR_Q8_1_SIZE) {
        const __m256 d = _mm256_set1_ps(h2f(a) * h2f(b));
        summ += h2f(a + 2) * h2f(b + 2);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8(unpack_nibbles(a + 4), load256(b + 4))), d, acc);
    }
    *s = hsum256(acc) + summ;
}
static void vec_dot_q5_1(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0;
    for (int64_t i = 0; i < n / 32; i++, a += GR_Q5_1_SIZE, b += GR_Q8_1_SIZE) {
        const __m256 d = _mm256_set1_ps(h2f(a) * h2f(b));
        summ += h2f(a + 2) * h2f(b + 2);
        const __m256i q = _mm256_or_si256(unpack_nibbles(a + 8), expand_qh(gr_rd32(a + 4)));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8(q, load256(b + 4))), d, acc);
    }
    *s = hsum256(acc) + summ;
}

/* ---------------------------------------------------------------- K-quants */

/* The 12 packed bytes -> 8 scales (bytes 0..7) and 8 mins (bytes 8..15), as gr_k4_scale_min. */
static inline void k4_unpack_scales(const uint8_t *q, uint32_t u[4]) {
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4);
    const uint32_t m03 = u[1] & 0x3F3F3F3F;
    u[1] = (u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = m03;
    u[0] &= 0x3F3F3F3F;
}
/* sum_j m_j * (bsum[2j] + bsum[2j+1]) for the 8 mins in bytes 8..15 of u. */
static inline int k4_mins_dot(const uint32_t u[4], const uint8_t *bsums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(u + 2)));
    const __m128i pairs = _mm_hadd_epi16(load128(bsums), load128(bsums + 16));
    __m128i p = _mm_madd_epi16(mins, pairs);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4E));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xB1));
    return _mm_cvtsi128_si32(p);
}

/* Q4_K (hbits NULL) and Q5_K: per 64-element chunk, low nibbles are sub-block 2c, high 2c+1. */
static inline void dot_k_asym(int64_t n, float *s, const uint8_t *a, const uint8_t *b, int q5) {
    const size_t bs = q5 ? GR_Q5_K_SIZE : GR_Q4_K_SIZE;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    for (int64_t i = 0; i < n / 256; i++, a += bs, b += GR_Q8_K_SIZE) {
        const float dy = gr_rdf32(b);
        uint32_t u[4];
        k4_unpack_scales(a + 4, u);
        const uint8_t *sc = (const uint8_t *)u, *qs = a + (q5 ? 48 : 16), *yq = b + 4;
        accm += h2f(a + 2) * dy * (float)k4_mins_dot(u, b + 260);
        const __m256i hb = q5 ? load256(a + 16) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = load256(qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (q5) {
                const __m128i sh0 = _mm_cvtsi32_si128(2 * c), sh1 = _mm_cvtsi32_si128(2 * c + 1);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hb, sh0), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hb, sh1), one), 4));
            }
            const __m256i plo = _mm256_maddubs_epi16(lo, load256(yq + 64 * c));
            const __m256i phi = _mm256_maddubs_epi16(hi, load256(yq + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * c])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * c + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a) * dy), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum256(acc) - accm;
}
static void vec_dot_q4_k(int64_t n, float *s, const void *w, const void *x) { dot_k_asym(n, s, w, x, 0); }
static void vec_dot_q5_k(int64_t n, float *s, const void *w, const void *x) { dot_k_asym(n, s, w, x, 1); }

/* Q6_K: levels 0..63 times y, minus 32 * sum_g sc_g * bsum_g (the -32 offset via Q8_K's bsums). */
static void vec_dot_q6_k(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    /* int32 lane holds (sc[2k], sc[2k+1]) as int16: spread sc[2k] over the low 128 bits, sc[2k+1] high */
    const __m256i pair_shuf = _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 1, 0, 1, 0, 1, 0, 1,
                                              0, 1, 0, 1, 0, 1, 0, 1, 0);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++, a += GR_Q6_K_SIZE, b += GR_Q8_K_SIZE) {
        const uint8_t *ql = a, *qh = a + 128, *yq = b + 4;
        const __m256i sc16 = _mm256_cvtepi8_epi16(load128(a + 192));
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = load256(ql + 64 * h), l1 = load256(ql + 64 * h + 32), hh = load256(qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i scp = _mm256_shuffle_epi8(
                    _mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(4 * h + k)), pair_shuf);
                const __m256i p = _mm256_maddubs_epi16(q[k], load256(yq + 128 * h + 32 * k));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scp));
            }
        }
        const __m256i corr = _mm256_madd_epi16(sc16, load256(b + 260));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a + 208) * gr_rdf32(b)), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum256(acc);
}

/* ---------------------------------------------------------------- float types */

static inline __m256 load_bf16x8(const uint8_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
}
static inline __m256 load_f16x8(const uint8_t *p) { return _mm256_cvtph_ps(load128(p)); }
static inline __m256 load_f32x8(const uint8_t *p) { return _mm256_loadu_ps((const float *)(const void *)p); }

#define FLOAT_DOT(NAME, LOAD, ES, SCALAR)                                                            \
    static void NAME(int64_t n, float *s, const void *w, const void *x) {                         \
        const uint8_t *a = w, *b = x;                                                               \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();                                   \
        int64_t i = 0;                                                                              \
        for (; i + 16 <= n; i += 16) {                                                              \
            s0 = _mm256_fmadd_ps(LOAD(a + ES * i), LOAD(b + ES * i), s0);                           \
            s1 = _mm256_fmadd_ps(LOAD(a + ES * (i + 8)), LOAD(b + ES * (i + 8)), s1);               \
        }                                                                                           \
        for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(LOAD(a + ES * i), LOAD(b + ES * i), s0);     \
        float r = hsum256(_mm256_add_ps(s0, s1));                                                   \
        for (; i < n; i++) r += SCALAR(a + ES * i) * SCALAR(b + ES * i);                            \
        *s = r;                                                                                     \
    }
static inline float bf16_at(const uint8_t *p) { return gr_bf16_to_fp32(gr_rd16(p)); }
FLOAT_DOT(vec_dot_f32, load_f32x8, 4, gr_rdf32)
FLOAT_DOT(vec_dot_f16, load_f16x8, 2, h2f)
FLOAT_DOT(vec_dot_bf16, load_bf16x8, 2, bf16_at)

void gr_avx2_to_float_f16(const void *x, float *y, int64_t n) {
    const uint8_t *p = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_f16x8(p + 2 * i));
    for (; i < n; i++) y[i] = h2f(p + 2 * i);
}
void gr_avx2_to_float_bf16(const void *x, float *y, int64_t n) {
    const uint8_t *p = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, load_bf16x8(p + 2 * i));
    for (; i < n; i++) y[i] = bf16_at(p + 2 * i);
}
void gr_avx2_from_float_f16(const float *x, void *y, int64_t n) {
    uint8_t *p = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(void *)(p + 2 * i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) gr_wr16(p + 2 * i, gr_fp32_to_fp16(x[i]));
}

/* ---------------------------------------------------------------- dequantization */

static inline void store_i8x32(float *y, __m256i q, __m256 d) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(y + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}
void gr_avx2_to_float_q4_0(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q4_0_SIZE, y += 32)
        store_i8x32(y, _mm256_sub_epi8(unpack_nibbles(b + 2), _mm256_set1_epi8(8)), _mm256_set1_ps(h2f(b)));
}
void gr_avx2_to_float_q8_0(const void *x, float *y, int64_t n) {
    const uint8_t *b = x;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_0_SIZE, y += 32) store_i8x32(y, load256(b + 2), _mm256_set1_ps(h2f(b)));
}
/* Q6_K: levels - 32 as int8, then scale per 16 elements. */
void gr_avx2_to_float_q6_k(const void *x, float *y, int64_t n) {
    const uint8_t *a = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / 256; i++, a += GR_Q6_K_SIZE, y += 256) {
        const float d = h2f(a + 208);
        const int8_t *sc = (const int8_t *)(a + 192);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = load256(a + 64 * h), l1 = load256(a + 64 * h + 32), hh = load256(a + 128 + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m3), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i v = _mm256_sub_epi8(q[k], off);
                const __m128i lo = _mm256_castsi256_si128(v), hi = _mm256_extracti128_si256(v, 1);
                const int g = 8 * h + 2 * k;
                float *yy = y + 128 * h + 32 * k;
                const __m256 d0 = _mm256_set1_ps(d * (float)sc[g]), d1 = _mm256_set1_ps(d * (float)sc[g + 1]);
                _mm256_storeu_ps(yy, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d0));
                _mm256_storeu_ps(yy + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d0));
                _mm256_storeu_ps(yy + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d1));
                _mm256_storeu_ps(yy + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d1));
            }
        }
    }
}
/* Q4_K: y = (d*sc) * q - (dmin*m) computed as a multiply then a subtract (no fma), like the scalar. */
void gr_avx2_to_float_q4_k(const void *x, float *y, int64_t n) {
    const uint8_t *a = x;
    for (int64_t i = 0; i < n / 256; i++, a += GR_Q4_K_SIZE, y += 256) {
        const float d = h2f(a), dmin = h2f(a + 2);
        uint32_t u[4];
        k4_unpack_scales(a + 4, u);
        const uint8_t *sc = (const uint8_t *)u;
        for (int c = 0; c < 4; c++) {
            const __m128i q = load128(a + 16 + 32 * c), q2 = load128(a + 16 + 32 * c + 16);
            for (int half = 0; half < 2; half++) {
                const int j = 2 * c + half;
                const __m256 d1 = _mm256_set1_ps(d * (float)sc[j]), m1 = _mm256_set1_ps(dmin * (float)sc[8 + j]);
                const __m128i mask = _mm_set1_epi8(0x0F);
                const __m128i v0 = half ? _mm_and_si128(_mm_srli_epi16(q, 4), mask) : _mm_and_si128(q, mask);
                const __m128i v1 = half ? _mm_and_si128(_mm_srli_epi16(q2, 4), mask) : _mm_and_si128(q2, mask);
                float *yy = y + 32 * j;
                const __m128i parts[4] = {v0, _mm_srli_si128(v0, 8), v1, _mm_srli_si128(v1, 8)};
                for (int p = 0; p < 4; p++) {
                    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[p]));
                    _mm256_storeu_ps(yy + 8 * p, _mm256_sub_ps(_mm256_mul_ps(d1, f), m1));
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- activation quantization */

static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
static inline float hmax256(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
/* 32 floats * id rounded to nearest-even int8 in element order; returns the int sum. */
static inline int quant32(const float *x, __m256 id, int8_t *q) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    const int sum = hsum256_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    i0 = _mm256_min_epi32(i0, _mm256_set1_epi32(127)); /* only Q8_K's opposite-sign extreme can hit +128 */
    i1 = _mm256_min_epi32(i1, _mm256_set1_epi32(127));
    i2 = _mm256_min_epi32(i2, _mm256_set1_epi32(127));
    i3 = _mm256_min_epi32(i3, _mm256_set1_epi32(127));
    const __m256i p16a = _mm256_packs_epi32(i0, i1), p16b = _mm256_packs_epi32(i2, i3);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b); /* lane-interleaved order: fix with a permute */
    _mm256_storeu_si256((__m256i *)(void *)q, _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    return sum;
}
static inline float amax32(const float *x) {
    const __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(_mm256_loadu_ps(x)), abs_ps(_mm256_loadu_ps(x + 8))),
                                   _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + 16)), abs_ps(_mm256_loadu_ps(x + 24))));
    return hmax256(m);
}
void gr_avx2_from_float_q8_0(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_0_SIZE, x += 32) {
        const float amax = amax32(x);
        gr_wr16(b, gr_fp32_to_fp16(amax / 127.f));
        quant32(x, _mm256_set1_ps(amax != 0 ? 127.f / amax : 0.0f), (int8_t *)(b + 2));
    }
}
void gr_avx2_from_float_q8_1(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    for (int64_t i = 0; i < n / 32; i++, b += GR_Q8_1_SIZE, x += 32) {
        const float amax = amax32(x), d = amax / 127.f;
        const int sum = quant32(x, _mm256_set1_ps(amax != 0 ? 127.f / amax : 0.0f), (int8_t *)(b + 4));
        gr_wr16(b, gr_fp32_to_fp16(d));
        gr_wr16(b + 2, gr_fp32_to_fp16(d * (float)sum));
    }
}
void gr_avx2_from_float_q8_k(const float *x, void *y, int64_t n) {
    uint8_t *b = y;
    for (int64_t i = 0; i < n / 256; i++, b += GR_Q8_K_SIZE, x += 256) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(x + j)));
        const float amax = hmax256(m);
        if (amax == 0) {
            memset(b, 0, GR_Q8_K_SIZE);
            continue;
        }
        float max = 0; /* the first element of largest magnitude decides the sign, as in the reference */
        for (int j = 0; j < 256; j += 8) {
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (mask) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.f / max;
        int8_t *q = (int8_t *)(b + 4);
        for (int j = 0; j < 256; j += 32) quant32(x + j, _mm256_set1_ps(iscale), q + j);
        for (int g = 0; g < 16; g++) {
            const __m128i v = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(q + 16 * g)));
            const __m128i v2 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(q + 16 * g + 8)));
            __m128i s = _mm_add_epi16(v, v2);
            s = _mm_add_epi16(s, _mm_srli_si128(s, 8));
            s = _mm_add_epi16(s, _mm_srli_si128(s, 4));
            s = _mm_add_epi16(s, _mm_srli_si128(s, 2));
            gr_wr16(b + 260 + 2 * g, (uint16_t)_mm_cvtsi128_si32(s));
        }
        const float d = 1.0f / iscale;
        memcpy(b, &d, 4);
    }
}

static const gr_kernels avx2_table = {
    .isa = GR_ISA_AVX2,
    .name = "avx2",
    .vec_dot_type = {GR_REF_VEC_DOT_TYPES},
    .vec_dot =
        {
            [GR_TYPE_F32] = vec_dot_f32,   [GR_TYPE_F16] = vec_dot_f16,   [GR_TYPE_BF16] = vec_dot_bf16,
            [GR_TYPE_Q4_0] = vec_dot_q4_0, [GR_TYPE_Q4_1] = vec_dot_q4_1, [GR_TYPE_Q5_0] = vec_dot_q5_0,
            [GR_TYPE_Q5_1] = vec_dot_q5_1, [GR_TYPE_Q8_0] = vec_dot_q8_0, [GR_TYPE_Q4_K] = vec_dot_q4_k,
            [GR_TYPE_Q5_K] = vec_dot_q5_k, [GR_TYPE_Q6_K] = vec_dot_q6_k,
        },
    GR_AVX2_CONVERTERS,
};

const gr_kernels *gr_kernels_avx2(void) { return &avx2_table; }
