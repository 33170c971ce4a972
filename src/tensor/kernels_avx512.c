/* kernels_avx512.c — AVX-512 (F/BW/VL/DQ/VNNI) dot products. All use vpdpbusd; Q4_0, Q8_0 and Q4_K
 * also come as multi-row kernels (one activation load for up to GR_DOT_ROWS_MAX weight rows, with
 * software prefetch because the hardware prefetcher loses track of several short row streams).
 * Integer parts equal quant_ref.c exactly; only float accumulation order differs. Dequantization and
 * activation quantization reuse the AVX2 functions (not the bottleneck). Must only be called after
 * the CPU check in kernels.c. */
#include <immintrin.h>

#include "tensor/kernels_isa.h"
#include "tensor/quant_ref.h"

static inline float h2f(const uint8_t *p) { return _cvtsh_ss(gr_rd16(p)); }
static inline __m256i load256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i load128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline __m512i load512(const void *p) { return _mm512_loadu_si512(p); }
static inline __m512i join256(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* 16 bytes of nibbles -> 32 bytes (low nibbles = elems 0..15, high = 16..31). */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i t = load128(qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}
/* Signed x signed bytes, 8 int32 lanes, through VNNI's unsigned x signed: |x| times y with x's sign. */
static inline __m256i dot_i8_256(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
}

/* ---------------------------------------------------------------- 32-element blocks */

/* Q4_0 / Q8_0 weights against Q8_0, 4 blocks per step, up to GR_DOT_ROWS_MAX rows per pass.
 * Layout in a zmm: 128-bit lane k = block k; "lo" registers hold elements 0..15 of each block, "hi"
 * 16..31, so each lane's 4 int32 sums belong to one block and the block scales are a word permute
 * of one 64-byte load (Q4_0 d at words 0,9,18,27; Q8_0 d at words 0,17,34,51 of 128 bytes). */

/* The tile loops must unroll fully (NR, NT are constants here): otherwise GCC 12 keeps acc[][] and
 * the activation registers in stack arrays, and every multiply-add becomes load-fma-store (perf
 * showed the stores as the hottest instructions of prompt processing). */
#define GR_UNROLL _Pragma("GCC unroll 8")

/* Prefetch distance in row groups (NR rows each); 4 measured best on Zen 4 among 1, 2, 4, 8. */
#ifndef GR_PF_GROUPS
#define GR_PF_GROUPS 4
#endif

static inline __m512i load4x128(const uint8_t *p, size_t stride) {
    __m512i v = _mm512_castsi128_si512(load128(p));
    v = _mm512_inserti32x4(v, load128(p + stride), 1);
    v = _mm512_inserti32x4(v, load128(p + 2 * stride), 2);
    return _mm512_inserti32x4(v, load128(p + 3 * stride), 3);
}
/* fp16 scales of 4 Q8_0 blocks (136 bytes from p), each repeated over its 128-bit lane. */
static inline __m512 q8_0_scales4(const uint8_t *p) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0x00110011, 0x00110011, 0x00220022, 0x00220022, 0x00330033,
                                          0x00330033, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i v = _mm512_permutex2var_epi16(load512(p), idx, load512(p + 64));
    return _mm512_cvtph_ps(_mm512_castsi512_si256(v));
}
static inline __m512 q4_0_scales4(const uint8_t *p) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0x00090009, 0x00090009, 0x00120012, 0x00120012, 0x001B001B,
                                          0x001B001B, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(idx, load512(p))));
}
/* One block of a Q4_0 / Q8_0 row against one Q8_0 block, for the tails (same arithmetic as scalar). */
static inline float q4_0_block(const uint8_t *a, const uint8_t *b) {
    const __m256i q = _mm256_sub_epi8(nibbles32(a + 2), _mm256_set1_epi8(8));
    return (float)hsum256(_mm256_cvtepi32_ps(dot_i8_256(q, load256(b + 2)))) * (h2f(a) * h2f(b));
}
static inline float q8_0_block(const uint8_t *a, const uint8_t *b) {
    return (float)hsum256(_mm256_cvtepi32_ps(dot_i8_256(load256(a + 2), load256(b + 2)))) * (h2f(a) * h2f(b));
}

static inline __attribute__((always_inline)) void q4_0_tile(int64_t n, const int NR, const int NT, float *s, int64_t lds,
                                                            const uint8_t *w, size_t ws, const uint8_t *x, size_t xs) {
    const int64_t nb = n / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    __m512 acc[GR_DOT_ROWS_MAX][GR_DOT_COLS_MAX];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i ylo[GR_DOT_COLS_MAX], yhi[GR_DOT_COLS_MAX], sy[GR_DOT_COLS_MAX];
        __m512 yd[GR_DOT_COLS_MAX];
        GR_UNROLL
        for (int t = 0; t < NT; t++) {
            const uint8_t *yb = x + t * xs + i * GR_Q8_0_SIZE;
            ylo[t] = load4x128(yb + 2, GR_Q8_0_SIZE), yhi[t] = load4x128(yb + 18, GR_Q8_0_SIZE);
            /* -8 * sum(y) per block: the start value of the weight dot, so no subtraction per row */
            sy[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                     _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, ylo[t]), eight, yhi[t]));
            yd[t] = q8_0_scales4(yb);
        }
        GR_UNROLL
        for (int r = 0; r < NR; r++) {
            const uint8_t *wb = w + r * ws + i * GR_Q4_0_SIZE;
            /* The hardware prefetcher does not follow NR short interleaved row streams: fetch the
             * same spot GR_PF_GROUPS row groups ahead (rows are usually contiguous). */
            _mm_prefetch((const char *)(wb + GR_PF_GROUPS * NR * ws), _MM_HINT_T0);
            _mm_prefetch((const char *)(wb + GR_PF_GROUPS * NR * ws + 64), _MM_HINT_T0);
            const __m512i v = load4x128(wb + 2, GR_Q4_0_SIZE);
            const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            const __m512 wd = q4_0_scales4(wb);
            GR_UNROLL
            for (int t = 0; t < NT; t++) {
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sy[t], lo, ylo[t]), hi, yhi[t]);
                const __m512 d = _mm512_mul_ps(wd, yd[t]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            float v = _mm512_reduce_add_ps(acc[r][t]);
            for (int64_t j = i; j < nb; j++) v += q4_0_block(w + r * ws + j * GR_Q4_0_SIZE, x + t * xs + j * GR_Q8_0_SIZE);
            s[t * lds + r] = v;
        }
}
static inline __attribute__((always_inline)) void q8_0_tile(int64_t n, const int NR, const int NT, float *s, int64_t lds,
                                                            const uint8_t *w, size_t ws, const uint8_t *x, size_t xs) {
    const int64_t nb = n / 32;
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512 acc[GR_DOT_ROWS_MAX][GR_DOT_COLS_MAX];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i ylo[GR_DOT_COLS_MAX], yhi[GR_DOT_COLS_MAX], sy[GR_DOT_COLS_MAX];
        __m512 yd[GR_DOT_COLS_MAX];
        GR_UNROLL
        for (int t = 0; t < NT; t++) {
            const uint8_t *yb = x + t * xs + i * GR_Q8_0_SIZE;
            ylo[t] = load4x128(yb + 2, GR_Q8_0_SIZE), yhi[t] = load4x128(yb + 18, GR_Q8_0_SIZE);
            /* -128 * sum(y) per block: the start value of the weight dot (see Q4_0) */
            sy[t] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                     _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, ylo[t]), bias, yhi[t]));
            yd[t] = q8_0_scales4(yb);
        }
        GR_UNROLL
        for (int r = 0; r < NR; r++) {
            const uint8_t *wb = w + r * ws + i * GR_Q8_0_SIZE;
            _mm_prefetch((const char *)(wb + GR_PF_GROUPS * NR * ws), _MM_HINT_T0); /* 136 bytes/step */
            _mm_prefetch((const char *)(wb + GR_PF_GROUPS * NR * ws + 64), _MM_HINT_T0);
            _mm_prefetch((const char *)(wb + GR_PF_GROUPS * NR * ws + 128), _MM_HINT_T0);
            const __m512i lo = _mm512_xor_si512(load4x128(wb + 2, GR_Q8_0_SIZE), bias);
            const __m512i hi = _mm512_xor_si512(load4x128(wb + 18, GR_Q8_0_SIZE), bias);
            const __m512 wd = q8_0_scales4(wb);
            GR_UNROLL
            for (int t = 0; t < NT; t++) {
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sy[t], lo, ylo[t]), hi, yhi[t]);
                const __m512 d = _mm512_mul_ps(wd, yd[t]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc[r][t]);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) {
            float v = _mm512_reduce_add_ps(acc[r][t]);
            for (int64_t j = i; j < nb; j++) v += q8_0_block(w + r * ws + j * GR_Q8_0_SIZE, x + t * xs + j * GR_Q8_0_SIZE);
            s[t * lds + r] = v;
        }
}

/* Entry points: the tile shapes are compile-time constants inside, so the loops unroll. */
#define TILE_CASES(IMPL, NT)                                                                         \
    switch (nr) {                                                                                    \
    case 4: IMPL(n, 4, NT, s, lds, w, ws, x, xs); break;                                             \
    case 3: IMPL(n, 3, NT, s, lds, w, ws, x, xs); break;                                             \
    case 2: IMPL(n, 2, NT, s, lds, w, ws, x, xs); break;                                             \
    default: IMPL(n, 1, NT, s, lds, w, ws, x, xs); break;                                            \
    }
#define ROWS_ENTRY(NAME, IMPL)                                                                       \
    static void NAME##_rows(int64_t n, int nr, int nt, float *s, int64_t lds, const void *w, size_t ws, \
                            const void *x, size_t xs) {                                              \
        if (nt >= 2) {                                                                               \
            TILE_CASES(IMPL, 2)                                                                      \
        } else {                                                                                     \
            TILE_CASES(IMPL, 1)                                                                      \
        }                                                                                            \
    }                                                                                                \
    static void NAME(int64_t n, float *s, const void *w, const void *x) { IMPL(n, 1, 1, s, 1, w, 0, x, 0); }
ROWS_ENTRY(vec_dot_q4_0, q4_0_tile)
ROWS_ENTRY(vec_dot_q8_0, q8_0_tile)

/* Q4_1, Q5_0, Q5_1 use the same 4-blocks-per-zmm lane layout as Q4_0 (one row at a time). */

/* fp16 field at byte off of 4 blocks of `size` bytes (4*size >= 64 readable from p), as floats: each
 * repeated over its block's 128-bit lane (keep = 0xFFFF) or only in the lane's first float (0x1111). */
static inline __m512 halves4(const uint8_t *p, int size, int off, __mmask32 keep) {
    int32_t wd[4];
    for (int k = 0; k < 4; k++) wd[k] = ((off + k * size) / 2) * 0x10001;
    const __m512i idx = _mm512_setr_epi32(wd[0], wd[0], wd[1], wd[1], wd[2], wd[2], wd[3], wd[3], 0, 0, 0, 0, 0, 0, 0, 0);
    __m512i v;
    if ((off + 3 * size) / 2 < 32) {
        v = _mm512_maskz_permutexvar_epi16(keep, idx, load512(p));
    } else { /* second half from a masked load: never touch bytes past the 4 blocks */
        const __mmask32 rest = (__mmask32)((1ull << ((4 * size - 64) / 2)) - 1);
        v = _mm512_maskz_permutex2var_epi16(keep, load512(p), idx, _mm512_maskz_loadu_epi16(rest, p + 64));
    }
    return _mm512_cvtph_ps(_mm512_castsi512_si256(v));
}
/* The 5th bits of 4 Q5 blocks (u32 qh at byte off): masks for elements 0..15 (lo) and 16..31 (hi). */
static inline void qh4(const uint8_t *p, int size, int off, __mmask64 *lo, __mmask64 *hi) {
    uint64_t l = 0, h = 0;
    for (int k = 0; k < 4; k++) {
        const uint64_t q = gr_rd32(p + off + k * size);
        l |= (q & 0xFFFF) << (16 * k);
        h |= (q >> 16) << (16 * k);
    }
    *lo = l, *hi = h;
}

static void vec_dot_q5_0(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    const int64_t nb = n / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4, a += 4 * GR_Q5_0_SIZE, b += 4 * GR_Q8_0_SIZE) {
        const __m512i ylo = load4x128(b + 2, GR_Q8_0_SIZE), yhi = load4x128(b + 18, GR_Q8_0_SIZE);
        const __m512i sy = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), sixteen, ylo), sixteen, yhi);
        const __m512i v = load4x128(a + 6, GR_Q5_0_SIZE);
        __mmask64 hl, hh;
        qh4(a, GR_Q5_0_SIZE, 2, &hl, &hh);
        __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        lo = _mm512_mask_add_epi8(lo, hl, lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, hh, hi, sixteen);
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, ylo), hi, yhi);
        const __m512 d = _mm512_mul_ps(halves4(a, GR_Q5_0_SIZE, 0, 0xFFFF), halves4(b, GR_Q8_0_SIZE, 0, 0xFFFF));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(dot, sy)), d, acc);
    }
    float r = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++, a += GR_Q5_0_SIZE, b += GR_Q8_0_SIZE) {
        __m256i q = _mm256_or_si256(nibbles32(a + 6), _mm256_maskz_mov_epi8(gr_rd32(a + 2), _mm256_set1_epi8(16)));
        q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
        r += hsum256(_mm256_cvtepi32_ps(dot_i8_256(q, load256(b + 2)))) * (h2f(a) * h2f(b));
    }
    *s = r;
}
/* Q4_1/Q5_1: unsigned levels, plus m * s per block (m and s kept in one float per lane). */
static void vec_dot_q4_1(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    const int64_t nb = n / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps(), accm = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4, a += 4 * GR_Q4_1_SIZE, b += 4 * GR_Q8_1_SIZE) {
        const __m512i ylo = load4x128(b + 4, GR_Q8_1_SIZE), yhi = load4x128(b + 20, GR_Q8_1_SIZE);
        const __m512i v = load4x128(a + 4, GR_Q4_1_SIZE);
        const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, ylo), hi, yhi);
        const __m512 d = _mm512_mul_ps(halves4(a, GR_Q4_1_SIZE, 0, 0xFFFF), halves4(b, GR_Q8_1_SIZE, 0, 0xFFFF));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc);
        accm = _mm512_fmadd_ps(halves4(a, GR_Q4_1_SIZE, 2, 0x1111), halves4(b, GR_Q8_1_SIZE, 2, 0x1111), accm);
    }
    float r = _mm512_reduce_add_ps(acc) + _mm512_reduce_add_ps(accm);
    for (; i < nb; i++, a += GR_Q4_1_SIZE, b += GR_Q8_1_SIZE) {
        const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles32(a + 4), load256(b + 4));
        r += hsum256(_mm256_cvtepi32_ps(dot)) * (h2f(a) * h2f(b)) + h2f(a + 2) * h2f(b + 2);
    }
    *s = r;
}
static void vec_dot_q5_1(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    const int64_t nb = n / 32;
    const __m512i m4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps(), accm = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4, a += 4 * GR_Q5_1_SIZE, b += 4 * GR_Q8_1_SIZE) {
        const __m512i ylo = load4x128(b + 4, GR_Q8_1_SIZE), yhi = load4x128(b + 20, GR_Q8_1_SIZE);
        const __m512i v = load4x128(a + 8, GR_Q5_1_SIZE);
        __mmask64 hl, hh;
        qh4(a, GR_Q5_1_SIZE, 4, &hl, &hh);
        __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        lo = _mm512_mask_add_epi8(lo, hl, lo, sixteen);
        hi = _mm512_mask_add_epi8(hi, hh, hi, sixteen);
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, ylo), hi, yhi);
        const __m512 d = _mm512_mul_ps(halves4(a, GR_Q5_1_SIZE, 0, 0xFFFF), halves4(b, GR_Q8_1_SIZE, 0, 0xFFFF));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc);
        accm = _mm512_fmadd_ps(halves4(a, GR_Q5_1_SIZE, 2, 0x1111), halves4(b, GR_Q8_1_SIZE, 2, 0x1111), accm);
    }
    float r = _mm512_reduce_add_ps(acc) + _mm512_reduce_add_ps(accm);
    for (; i < nb; i++, a += GR_Q5_1_SIZE, b += GR_Q8_1_SIZE) {
        const __m256i q = _mm256_or_si256(nibbles32(a + 8), _mm256_maskz_mov_epi8(gr_rd32(a + 4), _mm256_set1_epi8(16)));
        r += hsum256(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, load256(b + 4)))) * (h2f(a) * h2f(b)) +
             h2f(a + 2) * h2f(b + 2);
    }
    *s = r;
}

/* ---------------------------------------------------------------- K-quants */

static inline void k4_unpack_scales(const uint8_t *q, uint32_t u[4]) {
    memcpy(u, q, 12);
    u[3] = ((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4);
    const uint32_t m03 = u[1] & 0x3F3F3F3F;
    u[1] = (u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = m03;
    u[0] &= 0x3F3F3F3F;
}
static inline int k4_mins_dot(const uint32_t u[4], const uint8_t *bsums) {
    const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(const void *)(u + 2)));
    const __m128i pairs = _mm_hadd_epi16(load128(bsums), load128(bsums + 16));
    __m128i p = _mm_madd_epi16(mins, pairs);
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0x4E));
    p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0xB1));
    return _mm_cvtsi128_si32(p);
}

/* Q5_K: chunk c (64 elems) = sub-blocks 2c (low nibbles) and 2c+1 (high) in one zmm against 64
 * contiguous activations; the 16 int32 lanes are weighted by d*sc in float. */
static void vec_dot_q5_k(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512 acc = _mm512_setzero_ps();
    float accm = 0;
    for (int64_t i = 0; i < n / 256; i++, a += GR_Q5_K_SIZE, b += GR_Q8_K_SIZE) {
        const float dy = gr_rdf32(b);
        uint32_t u[4];
        k4_unpack_scales(a + 4, u);
        accm += h2f(a + 2) * dy * (float)k4_mins_dot(u, b + 260);
        const __m256 sc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(void *)u))),
                                         _mm256_set1_ps(h2f(a) * dy));
        const __m512 scf = _mm512_castps256_ps512(sc8);
        const uint8_t *qs = a + 48, *yq = b + 4;
        const __m512i hb = _mm512_broadcast_i64x4(load256(a + 16));
        for (int c = 0; c < 4; c++) {
            const __m256i t = load256(qs + 32 * c);
            __m512i q = join256(_mm256_and_si256(t, m4), _mm256_and_si256(_mm256_srli_epi16(t, 4), m4));
            const __m512i bits = join256(_mm256_set1_epi8((char)(1 << (2 * c))), _mm256_set1_epi8((char)(2 << (2 * c))));
            q = _mm512_or_si512(q, _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(hb, bits), _mm512_set1_epi8(16)));
            const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, load512(yq + 64 * c));
            const __m512i idx = join256(_mm256_set1_epi32(2 * c), _mm256_set1_epi32(2 * c + 1));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_permutexvar_ps(idx, scf), acc);
        }
    }
    *s = _mm512_reduce_add_ps(acc) - accm;
}

/* Q4_K, up to GR_DOT_ROWS_MAX rows per pass. A 64-byte load of quants holds chunks c, c+1; its low
 * nibbles are sub-blocks 2c | 2c+2, high nibbles 2c+1 | 2c+3, so the activations are regrouped once
 * per super-block (shared by the rows) to match: Y[k] = [y sub-block k' | y sub-block k'+2]. */
static inline __attribute__((always_inline)) void q4_k_rows(int64_t n, const int NR, float *s, const uint8_t *w,
                                                            size_t ws, const uint8_t *x) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i i02 = join256(_mm256_set1_epi32(0), _mm256_set1_epi32(2));
    const __m512i i13 = join256(_mm256_set1_epi32(1), _mm256_set1_epi32(3));
    const __m512i i46 = join256(_mm256_set1_epi32(4), _mm256_set1_epi32(6));
    const __m512i i57 = join256(_mm256_set1_epi32(5), _mm256_set1_epi32(7));
    __m512 acc[GR_DOT_ROWS_MAX];
    __m128 accm[GR_DOT_ROWS_MAX];
    for (int r = 0; r < NR; r++) acc[r] = _mm512_setzero_ps(), accm[r] = _mm_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *b = x + i * GR_Q8_K_SIZE, *yq = b + 4;
        const float dy = gr_rdf32(b);
        const __m512i y0 = join256(load256(yq), load256(yq + 64)), y1 = join256(load256(yq + 32), load256(yq + 96));
        const __m512i y2 = join256(load256(yq + 128), load256(yq + 192)), y3 = join256(load256(yq + 160), load256(yq + 224));
        const __m128i pairs = _mm_hadd_epi16(load128(b + 260), load128(b + 276)); /* bsum per sub-block */
        GR_UNROLL
        for (int r = 0; r < NR; r++) {
            const uint8_t *a = w + r * ws + i * GR_Q4_K_SIZE;
            _mm_prefetch((const char *)(a + GR_PF_GROUPS * NR * ws), _MM_HINT_T0);
            _mm_prefetch((const char *)(a + GR_PF_GROUPS * NR * ws + 64), _MM_HINT_T0);
            _mm_prefetch((const char *)(a + GR_PF_GROUPS * NR * ws + 128), _MM_HINT_T0);
            uint32_t u[4];
            k4_unpack_scales(a + 4, u);
            const __m128i mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(void *)(u + 2)));
            accm[r] = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_madd_epi16(mins, pairs)), _mm_set1_ps(h2f(a + 2) * dy), accm[r]);
            const __m256 sc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(void *)u))),
                                             _mm256_set1_ps(h2f(a) * dy));
            const __m512 scf = _mm512_castps256_ps512(sc8);
            const __m512i v0 = load512(a + 16), v1 = load512(a + 80);
            const __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v0, m4), y0);
            const __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(v0, 4), m4), y1);
            const __m512i d2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v1, m4), y2);
            const __m512i d3 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(_mm512_srli_epi16(v1, 4), m4), y3);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_permutexvar_ps(i02, scf), acc[r]);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d1), _mm512_permutexvar_ps(i13, scf), acc[r]);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d2), _mm512_permutexvar_ps(i46, scf), acc[r]);
            acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d3), _mm512_permutexvar_ps(i57, scf), acc[r]);
        }
    }
    for (int r = 0; r < NR; r++) {
        __m128 m = _mm_add_ps(accm[r], _mm_movehl_ps(accm[r], accm[r]));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        s[r] = _mm512_reduce_add_ps(acc[r]) - _mm_cvtss_f32(m);
    }
}
static inline __attribute__((always_inline)) void q4_k_tile(int64_t n, const int NR, const int NT, float *s,
                                                            int64_t lds, const uint8_t *w, size_t ws,
                                                            const uint8_t *x, size_t xs) {
    for (int t = 0; t < NT; t++) q4_k_rows(n, NR, s + t * lds, w, ws, x + t * xs);
}
ROWS_ENTRY(vec_dot_q4_k, q4_k_tile)


/* Q6_K: per 128-half, zmm A = elems 0..63 (ql low nibbles, qh bits 0-1 / 2-3), zmm B = 64..127
 * (high nibbles, qh bits 4-5 / 6-7). Levels 0..63; the -32 offset comes from Q8_K's bsums. */
static void vec_dot_q6_k(int64_t n, float *s, const void *w, const void *x) {
    const uint8_t *a = w, *b = x;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    /* qh bits 2k..2k+1 must land on bits 4..5: shift left 4 / 2 (A), right 0 / 2 (B) */
    const __m512i shA = join256(_mm256_set1_epi16(4), _mm256_set1_epi16(2));
    const __m512i shB = join256(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
    __m512 acc = _mm512_setzero_ps();
    float accc = 0;
    for (int64_t i = 0; i < n / 256; i++, a += GR_Q6_K_SIZE, b += GR_Q8_K_SIZE) {
        const float d = h2f(a + 208) * gr_rdf32(b);
        const __m128i sc = load128(a + 192);
        const __m512 scf = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc)), _mm512_set1_ps(d));
        const __m256i corr = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), load256(b + 260));
        accc += d * 32.0f * (float)hsum256(_mm256_cvtepi32_ps(corr)); /* exact: |corr| < 2^24 */
        for (int h = 0; h < 2; h++) {
            const __m512i l = load512(a + 64 * h);
            const __m512i hh = _mm512_broadcast_i64x4(load256(a + 128 + 32 * h));
            const __m512i ha = _mm512_and_si512(_mm512_sllv_epi16(hh, shA), m30);
            const __m512i hb = _mm512_and_si512(_mm512_srlv_epi16(hh, shB), m30);
            /* (x & 0x0F) | y in one instruction: truth table (A & C) | B = 0xEC */
            const __m512i qa = _mm512_ternarylogic_epi32(l, ha, m4, 0xEC);
            const __m512i qb = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), hb, m4, 0xEC);
            const uint8_t *yq = b + 4 + 128 * h;
            const __m512i da = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qa, load512(yq));
            const __m512i db = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qb, load512(yq + 64));
            /* int32 lane j covers elems 4j..4j+3: group (8h + j/4) for A, (8h + 4 + j/4) for B */
            const __m512i ia = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
            const __m512i ga = _mm512_add_epi32(ia, _mm512_set1_epi32(8 * h));
            const __m512i gb = _mm512_add_epi32(ga, _mm512_set1_epi32(4));
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(da), _mm512_permutexvar_ps(ga, scf), acc);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(db), _mm512_permutexvar_ps(gb, scf), acc);
        }
    }
    *s = _mm512_reduce_add_ps(acc) - accc;
}

/* ---------------------------------------------------------------- float types */

static inline __m512 load_f32x16(const uint8_t *p) { return _mm512_loadu_ps(p); }
static inline __m512 load_f16x16(const uint8_t *p) { return _mm512_cvtph_ps(load256(p)); }
static inline __m512 load_bf16x16(const uint8_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load256(p)), 16));
}
static inline float f16_at(const uint8_t *p) { return h2f(p); }
static inline float bf16_at(const uint8_t *p) { return gr_bf16_to_fp32(gr_rd16(p)); }

#define FLOAT_DOT(NAME, LOAD, ES, SCALAR)                                                            \
    static void NAME(int64_t n, float *s, const void *w, const void *x) {                         \
        const uint8_t *a = w, *b = x;                                                               \
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();                                   \
        int64_t i = 0;                                                                              \
        for (; i + 32 <= n; i += 32) {                                                              \
            s0 = _mm512_fmadd_ps(LOAD(a + ES * i), LOAD(b + ES * i), s0);                           \
            s1 = _mm512_fmadd_ps(LOAD(a + ES * (i + 16)), LOAD(b + ES * (i + 16)), s1);             \
        }                                                                                           \
        for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(LOAD(a + ES * i), LOAD(b + ES * i), s0);   \
        float r = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));                                      \
        for (; i < n; i++) r += SCALAR(a + ES * i) * SCALAR(b + ES * i);                            \
        *s = r;                                                                                     \
    }
FLOAT_DOT(vec_dot_f32, load_f32x16, 4, gr_rdf32)
FLOAT_DOT(vec_dot_f16, load_f16x16, 2, f16_at)
FLOAT_DOT(vec_dot_bf16, load_bf16x16, 2, bf16_at)

static const gr_kernels avx512_table = {
    .isa = GR_ISA_AVX512,
    .name = "avx512",
    .vec_dot_type = {GR_REF_VEC_DOT_TYPES},
    .vec_dot =
        {
            [GR_TYPE_F32] = vec_dot_f32,   [GR_TYPE_F16] = vec_dot_f16,   [GR_TYPE_BF16] = vec_dot_bf16,
            [GR_TYPE_Q4_0] = vec_dot_q4_0, [GR_TYPE_Q4_1] = vec_dot_q4_1, [GR_TYPE_Q5_0] = vec_dot_q5_0,
            [GR_TYPE_Q5_1] = vec_dot_q5_1, [GR_TYPE_Q8_0] = vec_dot_q8_0, [GR_TYPE_Q4_K] = vec_dot_q4_k,
            [GR_TYPE_Q5_K] = vec_dot_q5_k, [GR_TYPE_Q6_K] = vec_dot_q6_k,
        },
    GR_AVX2_CONVERTERS,
    .vec_dot_rows = {[GR_TYPE_Q4_0] = vec_dot_q4_0_rows, [GR_TYPE_Q8_0] = vec_dot_q8_0_rows,
                     [GR_TYPE_Q4_K] = vec_dot_q4_k_rows},
};

const gr_kernels *gr_kernels_avx512(void) { return &avx512_table; }
