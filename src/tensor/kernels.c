/* kernels.c — kernel table selection (runtime CPU detection), the scalar table, half/bfloat
 * conversions and the tiled matmul driver. Must not contain ISA-specific code: SIMD kernels live in
 * kernels_avx2.c / kernels_avx512.c, which are only built (and only called) on x86. */
#include <string.h>

#include "tensor/kernels_isa.h"
#include "tensor/quant_ref.h"

#if defined(GR_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

/* ---------------------------------------------------------------- half / bfloat */

static float bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float gr_fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 is exact in float */
        const float v = (float)man * 5.9604644775390625e-8f;
        return bits_to_f32(f32_to_bits(v) | sign);
    }
    if (exp == 31) return bits_to_f32(sign | 0x7F800000u | (man << 13)); /* inf/nan, payload kept */
    return bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

/* Round to nearest even, like F16C's vcvtps2ph with imm 0, so scalar and SIMD agree bit-exactly. */
uint16_t gr_fp32_to_fp16(float f) {
    uint32_t u = f32_to_bits(f);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    u &= 0x7FFFFFFFu;
    if (u > 0x7F800000u) return (uint16_t)(sign | 0x7E00 | ((u >> 13) & 0x3FF)); /* quiet NaN */
    if (u >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); /* >= 65520 rounds to inf */
    if (u < 0x38800000u) { /* below 2^-14: subnormal; adding 0.5 lets the FPU round at 2^-24 */
        const float r = bits_to_f32(u) + 0.5f;
        return (uint16_t)(sign | (f32_to_bits(r) - 0x3F000000u));
    }
    const uint32_t odd = (u >> 13) & 1;
    u += 0xC8000000u + 0xFFF + odd; /* rebias exponent (-112 << 23) and round */
    return (uint16_t)(sign | (u >> 13));
}

float gr_bf16_to_fp32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t gr_fp32_to_bf16(float f) {
    const uint32_t u = f32_to_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40); /* keep NaN, quiet */
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

/* ---------------------------------------------------------------- scalar table */

static const gr_kernels scalar_table = {
    .isa = GR_ISA_SCALAR,
    .name = "scalar",
    .vec_dot_type = {GR_REF_VEC_DOT_TYPES},
    .vec_dot =
        {
            [GR_TYPE_F32] = gr_ref_vec_dot_f32,   [GR_TYPE_F16] = gr_ref_vec_dot_f16,
            [GR_TYPE_BF16] = gr_ref_vec_dot_bf16, [GR_TYPE_Q4_0] = gr_ref_vec_dot_q4_0,
            [GR_TYPE_Q4_1] = gr_ref_vec_dot_q4_1, [GR_TYPE_Q5_0] = gr_ref_vec_dot_q5_0,
            [GR_TYPE_Q5_1] = gr_ref_vec_dot_q5_1, [GR_TYPE_Q8_0] = gr_ref_vec_dot_q8_0,
            [GR_TYPE_Q4_K] = gr_ref_vec_dot_q4_k, [GR_TYPE_Q5_K] = gr_ref_vec_dot_q5_k,
            [GR_TYPE_Q6_K] = gr_ref_vec_dot_q6_k,
        },
    .to_float =
        {
            [GR_TYPE_F32] = gr_ref_to_float_f32,   [GR_TYPE_F16] = gr_ref_to_float_f16,
            [GR_TYPE_BF16] = gr_ref_to_float_bf16, [GR_TYPE_Q4_0] = gr_ref_to_float_q4_0,
            [GR_TYPE_Q4_1] = gr_ref_to_float_q4_1, [GR_TYPE_Q5_0] = gr_ref_to_float_q5_0,
            [GR_TYPE_Q5_1] = gr_ref_to_float_q5_1, [GR_TYPE_Q8_0] = gr_ref_to_float_q8_0,
            [GR_TYPE_Q8_1] = gr_ref_to_float_q8_1, [GR_TYPE_Q4_K] = gr_ref_to_float_q4_k,
            [GR_TYPE_Q5_K] = gr_ref_to_float_q5_k, [GR_TYPE_Q6_K] = gr_ref_to_float_q6_k,
            [GR_TYPE_Q8_K] = gr_ref_to_float_q8_k,
        },
    .from_float =
        {
            [GR_TYPE_F32] = gr_ref_from_float_f32,   [GR_TYPE_F16] = gr_ref_from_float_f16,
            [GR_TYPE_BF16] = gr_ref_from_float_bf16, [GR_TYPE_Q4_0] = gr_ref_from_float_q4_0,
            [GR_TYPE_Q4_1] = gr_ref_from_float_q4_1, [GR_TYPE_Q5_0] = gr_ref_from_float_q5_0,
            [GR_TYPE_Q5_1] = gr_ref_from_float_q5_1, [GR_TYPE_Q8_0] = gr_ref_from_float_q8_0,
            [GR_TYPE_Q8_1] = gr_ref_from_float_q8_1, [GR_TYPE_Q4_K] = gr_ref_from_float_q4_k,
            [GR_TYPE_Q5_K] = gr_ref_from_float_q5_k, [GR_TYPE_Q6_K] = gr_ref_from_float_q6_k,
            [GR_TYPE_Q8_K] = gr_ref_from_float_q8_k,
        },
};

const gr_kernels *gr_kernels_scalar(void) { return &scalar_table; }

/* ---------------------------------------------------------------- selection */

#if defined(GR_X86) && (defined(__GNUC__) || defined(__clang__))
/* CPUID feature bits plus XGETBV (the OS must save the YMM/ZMM state), so a CPU whose OS disabled
 * AVX-512 is not handed the AVX-512 table. Plain cpuid works alike with gcc and clang. */
static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
static bool cpu_has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c) || (xcr0() & 0x6) != 0x6) return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return b & (1u << 5);
}
static bool cpu_has_avx512(void) {
    unsigned a, b, c, d;
    if (!cpu_has_avx2() || (xcr0() & 0xE6) != 0xE6) return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const unsigned need_b = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31); /* F, DQ, BW, VL */
    return (b & need_b) == need_b && (c & (1u << 11)); /* VNNI */
}
#endif

const gr_kernels *gr_kernels_get(gr_isa isa) {
    switch (isa) {
    case GR_ISA_SCALAR: return &scalar_table;
#if defined(GR_X86) && (defined(__GNUC__) || defined(__clang__))
    case GR_ISA_AVX2: return cpu_has_avx2() ? gr_kernels_avx2() : NULL;
    case GR_ISA_AVX512: return cpu_has_avx512() ? gr_kernels_avx512() : NULL;
    case GR_ISA_BEST:
        if (cpu_has_avx512()) return gr_kernels_avx512();
        if (cpu_has_avx2()) return gr_kernels_avx2();
        return &scalar_table;
#else
    case GR_ISA_BEST: return &scalar_table;
#endif
    default: return NULL;
    }
}

/* ---------------------------------------------------------------- matmul */

/* Rows per tile: enough weight bytes to stay in L1/L2 while every activation row passes over them. */
static int64_t rows_per_tile(size_t w_stride) {
    const size_t budget = 48 * 1024;
    int64_t rb = w_stride ? (int64_t)(budget / w_stride) : 64;
    rb -= rb % GR_DOT_ROWS_MAX; /* whole multi-row groups */
    return rb < GR_DOT_ROWS_MAX ? GR_DOT_ROWS_MAX : rb > 64 ? 64 : rb;
}

/* Rows [r0, r1) of W against nt activation rows, through the table's tile kernel when it has one. */
static void mm_block(const gr_kernels *k, gr_type wtype, const uint8_t *w, size_t w_stride, const uint8_t *x,
                     size_t x_stride, float *y, int64_t ldy, int64_t n, int64_t r0, int64_t r1, int nt) {
    const gr_vec_dot_rows_fn tile = k->vec_dot_rows[wtype];
    if (tile) {
        for (int64_t r = r0; r < r1; r += GR_DOT_ROWS_MAX) {
            const int nr = r1 - r < GR_DOT_ROWS_MAX ? (int)(r1 - r) : GR_DOT_ROWS_MAX;
            tile(n, nr, nt, &y[r], ldy, w + (size_t)r * w_stride, w_stride, x, x_stride);
        }
        return;
    }
    const gr_vec_dot_fn dot = k->vec_dot[wtype];
    for (int t = 0; t < nt; t++)
        for (int64_t r = r0; r < r1; r++) dot(n, &y[t * ldy + r], w + (size_t)r * w_stride, x + (size_t)t * x_stride);
}

void gr_matmul(const gr_kernels *k, gr_type wtype, const void *w, size_t w_stride, const void *x,
               size_t x_stride, float *y, int64_t ldy, int64_t n, int64_t r0, int64_t r1, int T) {
    const uint8_t *wb = w, *xb = x;
    if (T == 1) { /* decode: one straight stream over the rows */
        mm_block(k, wtype, wb, w_stride, xb, 0, y, ldy, n, r0, r1, 1);
        return;
    }
    const int64_t rb = rows_per_tile(w_stride);
    for (int64_t rt = r0; rt < r1; rt += rb) {
        const int64_t re = rt + rb < r1 ? rt + rb : r1;
        for (int t = 0; t < T; t += GR_DOT_COLS_MAX) {
            const int nt = T - t < GR_DOT_COLS_MAX ? T - t : GR_DOT_COLS_MAX;
            mm_block(k, wtype, wb, w_stride, xb + (size_t)t * x_stride, x_stride, y + (int64_t)t * ldy, ldy, n, rt, re, nt);
        }
    }
}
