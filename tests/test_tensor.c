/* test_tensor.c — tensor formats and kernels: fp16/bf16 edge cases, hand-written known-answer
 * blocks for every quant layout, quantize/dequantize error bounds, every SIMD table against the
 * scalar reference (incl. odd block counts and unaligned pointers), and gr_matmul tiling.
 * Must stay fast (< a few seconds): heavy timing lives in bench/bench_kernels.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tensor/kernels.h"
#include "tensor/types.h"

static const gr_type all_types[] = {GR_TYPE_F32,  GR_TYPE_F16,  GR_TYPE_BF16, GR_TYPE_Q4_0, GR_TYPE_Q4_1,
                                    GR_TYPE_Q5_0, GR_TYPE_Q5_1, GR_TYPE_Q8_0, GR_TYPE_Q8_1, GR_TYPE_Q4_K,
                                    GR_TYPE_Q5_K, GR_TYPE_Q6_K, GR_TYPE_Q8_K};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static uint32_t rng_next(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}
/* Uniform in [-1, 1) with occasional larger outliers, like real activations. */
static float rng_float(uint32_t *s) {
    float v = (float)(rng_next(s) >> 8) / 8388608.0f - 1.0f;
    if ((rng_next(s) & 63) == 0) v *= 8;
    return v;
}
static void fill(float *x, int64_t n, uint32_t seed) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_float(&seed);
}
static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t f_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ------------------------------------------------------------------ fp16 / bf16 */

static void test_fp16_edges(void **state) {
    (void)state;
    assert_int_equal(gr_fp32_to_fp16(1.0f), 0x3C00);
    assert_int_equal(gr_fp32_to_fp16(-2.0f), 0xC000);
    assert_int_equal(gr_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(gr_fp32_to_fp16(65504.0f), 0x7BFF);
    assert_int_equal(gr_fp32_to_fp16(65519.99f), 0x7BFF);
    assert_int_equal(gr_fp32_to_fp16(65520.0f), 0x7C00);     /* tie rounds to even = inf */
    assert_int_equal(gr_fp32_to_fp16(1e10f), 0x7C00);
    assert_int_equal(gr_fp32_to_fp16(-INFINITY), 0xFC00);
    assert_int_equal(gr_fp32_to_fp16(ldexpf(1, -24)), 0x0001); /* smallest subnormal */
    assert_int_equal(gr_fp32_to_fp16(ldexpf(1, -25)), 0x0000); /* tie to even -> 0 */
    assert_int_equal(gr_fp32_to_fp16(ldexpf(3, -25)), 0x0002); /* 1.5 ulp -> tie to even 2 */
    assert_int_equal(gr_fp32_to_fp16(ldexpf(1, -14)), 0x0400); /* smallest normal */
    assert_int_equal(gr_fp32_to_fp16(ldexpf(1023, -24) + ldexpf(1, -25)), 0x0400); /* rounds up into normal */
    assert_int_equal(gr_fp32_to_fp16(1.0f + ldexpf(1, -11)), 0x3C00);               /* tie -> even */
    assert_int_equal(gr_fp32_to_fp16(1.0f + ldexpf(3, -11)), 0x3C02);               /* tie -> even (up) */
    assert_int_equal(gr_fp32_to_fp16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3C01);
    const uint16_t hn = gr_fp32_to_fp16(NAN);
    assert_true((hn & 0x7C00) == 0x7C00 && (hn & 0x3FF) != 0);
    assert_true(isnan(gr_fp16_to_fp32(0x7E01)));
    assert_true(isinf(gr_fp16_to_fp32(0x7C00)) && gr_fp16_to_fp32(0xFC00) < 0);
    assert_true(gr_fp16_to_fp32(0x0001) == ldexpf(1, -24));
    assert_true(gr_fp16_to_fp32(0x03FF) == ldexpf(1023, -24));
    assert_true(gr_fp16_to_fp32(0x3555) == 0.333251953125f);
    assert_true(signbit(gr_fp16_to_fp32(0x8000)));
    /* Every non-NaN half survives a round trip through float. */
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = gr_fp16_to_fp32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(gr_fp32_to_fp16(f), h);
    }
}

static void test_bf16_edges(void **state) {
    (void)state;
    assert_int_equal(gr_fp32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(gr_fp32_to_bf16(bits_f(0x3F808000u)), 0x3F80); /* tie -> even */
    assert_int_equal(gr_fp32_to_bf16(bits_f(0x3F818000u)), 0x3F82); /* tie -> even (up) */
    assert_int_equal(gr_fp32_to_bf16(bits_f(0x3F808001u)), 0x3F81);
    assert_int_equal(gr_fp32_to_bf16(INFINITY), 0x7F80);
    assert_int_equal(gr_fp32_to_bf16(bits_f(0x7F7FFFFFu)), 0x7F80); /* FLT_MAX rounds to inf */
    assert_int_equal(gr_fp32_to_bf16(bits_f(0x00000001u)), 0x0000); /* tiny subnormal */
    assert_int_equal(gr_fp32_to_bf16(bits_f(0x00018000u)), 0x0002); /* subnormal kept, rounded */
    const uint16_t n1 = gr_fp32_to_bf16(bits_f(0x7F800001u)); /* NaN with only low payload bits */
    assert_true((n1 & 0x7F80) == 0x7F80 && (n1 & 0x7F) != 0);
    assert_true(gr_bf16_to_fp32(0xC040) == -3.0f);
    assert_true(f_bits(gr_bf16_to_fp32(0x8000)) == 0x80000000u);
}

/* ------------------------------------------------------------------ known-answer blocks */

static void check_deq(gr_type t, const uint8_t *blk, const float *expect, int n) {
    float y[256];
    gr_kernels_get(GR_ISA_SCALAR)->to_float[t](blk, y, n);
    for (int i = 0; i < n; i++) {
        if (y[i] != expect[i]) fail_msg("%s elem %d: got %g want %g", gr_type_get(t)->name, i, y[i], expect[i]);
    }
    for (int isa = GR_ISA_AVX2; isa < GR_ISA_COUNT; isa++) {
        const gr_kernels *k = gr_kernels_get((gr_isa)isa);
        if (!k) continue;
        k->to_float[t](blk, y, n);
        for (int i = 0; i < n; i++)
            if (y[i] != expect[i]) fail_msg("%s/%s elem %d: %g vs %g", k->name, gr_type_get(t)->name, i, y[i], expect[i]);
    }
}
static void fill_f(float *e, int n, float v) {
    for (int i = 0; i < n; i++) e[i] = v;
}

static void test_known_q4_q5_q8(void **state) {
    (void)state;
    uint8_t b[40];
    float e[32];
    /* Q4_0: d = 1.0; qs byte j -> elems j (low nibble) and j+16 (high), value (q - 8) * d */
    memset(b, 0x88, sizeof b);
    b[0] = 0x00, b[1] = 0x3C;
    b[2 + 0] = 0x21;
    b[2 + 15] = 0xF0;
    fill_f(e, 32, 0);
    e[0] = -7, e[16] = -6, e[15] = -8, e[31] = 7;
    check_deq(GR_TYPE_Q4_0, b, e, 32);
    /* Q4_1: d = 0.5, m = -1; value q * d + m */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x38, b[2] = 0x00, b[3] = 0xBC;
    b[4 + 1] = 0x4A;
    fill_f(e, 32, -1);
    e[1] = 4, e[17] = 1;
    check_deq(GR_TYPE_Q4_1, b, e, 32);
    /* Q5_0: d = 2; qh (little-endian u32) bit j is the 5th bit of elem j; value (q - 16) * d */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x40;
    b[2] = 0x01, b[5] = 0x80;
    b[6 + 0] = 0x03;
    b[6 + 15] = 0x50;
    fill_f(e, 32, -32);
    e[0] = 6, e[16] = -32, e[15] = -32, e[31] = 10;
    check_deq(GR_TYPE_Q5_0, b, e, 32);
    /* Q5_1: d = 1, m = 0.5; qh bit 8 set -> elem 8 gets +16 */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x3C, b[2] = 0x00, b[3] = 0x38;
    b[5] = 0x01;
    b[8 + 8] = 0x21;
    fill_f(e, 32, 0.5f);
    e[8] = 17.5f, e[24] = 2.5f;
    check_deq(GR_TYPE_Q5_1, b, e, 32);
    /* Q8_0: d = 0.25 */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x34;
    b[2 + 5] = (uint8_t)(int8_t)-3;
    b[2 + 31] = 127;
    fill_f(e, 32, 0);
    e[5] = -0.75f, e[31] = 31.75f;
    check_deq(GR_TYPE_Q8_0, b, e, 32);
    /* Q8_1: d = 0.25, s ignored by dequantization */
    memset(b, 0, sizeof b);
    b[0] = 0x00, b[1] = 0x34, b[2] = 0x00, b[3] = 0x3C;
    b[4 + 9] = (uint8_t)(int8_t)-128;
    fill_f(e, 32, 0);
    e[9] = -32;
    check_deq(GR_TYPE_Q8_1, b, e, 32);
}

/* Q4_K/Q5_K header: d = 1, dmin = 0.5; sub-block 0: scale 1, min 2; sub-block 1: scale 0, min 1;
 * sub-block 5: scale 37 (low 4 bits from byte 9, high 2 from byte 1 bits 6-7), min 26 (low 4 from
 * byte 9 high nibble, high 2 from byte 5 bits 6-7). All other scales/mins 0. */
static void k4_header(uint8_t *b) {
    b[0] = 0x00, b[1] = 0x3C, b[2] = 0x00, b[3] = 0x38;
    uint8_t *s = b + 4;
    s[0] = 0x01; /* sc0 = 1 */
    s[4] = 0x02; /* m0 = 2 */
    s[1] = 0x80; /* sc1 = 0, high bits of sc5 = 2 */
    s[5] = 0x41; /* m1 = 1, high bits of m5 = 1 */
    s[9] = 0xA5; /* sc5 low = 5, m5 low = 10 */
}

static void test_known_k(void **state) {
    (void)state;
    static uint8_t b[300];
    static float e[256];
    /* Q4_K: quants in 64-element chunks; byte 32c+l holds elem 64c+l (low) and 64c+32+l (high). */
    memset(b, 0, sizeof b);
    k4_header(b);
    b[16 + 0] = 0x37;      /* elem 0 = 7, elem 32 = 3 */
    b[16 + 64 + 3] = 0xC0; /* elem 131 = 0, elem 163 = 12 */
    for (int i = 0; i < 256; i++) e[i] = 0;
    for (int i = 0; i < 32; i++) e[i] = -1.0f, e[32 + i] = -0.5f, e[160 + i] = -13.0f;
    e[0] = 7 - 1.0f, e[32] = -0.5f, e[163] = 37 * 12 - 13.0f;
    check_deq(GR_TYPE_Q4_K, b, e, 256);
    /* Q5_K: same header and quants plus qh: bit 2c of qh[l] -> elem 64c+l, bit 2c+1 -> 64c+32+l */
    memset(b, 0, sizeof b);
    k4_header(b);
    b[16 + 0] = 0x01;          /* qh[0] bit 0: elem 0 += 16 */
    b[16 + 3] = 0x20;          /* qh[3] bit 5: elem 64*2+32+3 = 163 += 16 */
    b[48 + 0] = 0x37;
    b[48 + 64 + 3] = 0xC0;
    e[0] = 23 - 1.0f, e[163] = 37 * 28 - 13.0f;
    check_deq(GR_TYPE_Q5_K, b, e, 256);
    /* Q6_K: d = 0.5 at byte 208, scales[16] at 192 (one per 16 elems); value d*sc*(q - 32).
     * Within each 128-half h: elem l (l<32): ql[64h+l] low, qh[32h+l] bits 0-1; elem 32+l: ql[64h+32+l]
     * low, bits 2-3; elem 64+l: ql[64h+l] high, bits 4-5; elem 96+l: ql[64h+32+l] high, bits 6-7. */
    memset(b, 0, sizeof b);
    b[208] = 0x00, b[209] = 0x38;
    int8_t *sc = (int8_t *)(b + 192);
    sc[0] = 2, sc[3] = 1, sc[7] = -3, sc[15] = 1;
    b[0] = 0x05, b[128 + 0] = 0x02;    /* elem 0: 5 | 2<<4 = 37 */
    b[48] = 0x90, b[128 + 16] = 0x40; /* elem 48: 0; elem 112: 9 | 1<<4 = 25 */
    b[127] = 0xF0, b[128 + 63] = 0xC0; /* elem 255: 15 | 3<<4 = 63 */
    for (int i = 0; i < 256; i++) e[i] = 0.5f * (float)sc[i / 16] * -32.0f;
    e[0] = 0.5f * 2 * 5, e[48] = -16, e[112] = 0.5f * -3 * -7, e[255] = 0.5f * 31;
    check_deq(GR_TYPE_Q6_K, b, e, 256);
    /* Q8_K: f32 d, then 256 int8 */
    memset(b, 0, sizeof b);
    const float d = 0.5f;
    memcpy(b, &d, 4);
    b[4 + 7] = (uint8_t)(int8_t)-4;
    for (int i = 0; i < 256; i++) e[i] = 0;
    e[7] = -2;
    check_deq(GR_TYPE_Q8_K, b, e, 256);
}

/* Q8_K bsums and Q8_1's s are part of the activation format: check them by hand too. */
static void test_known_activation_sums(void **state) {
    (void)state;
    float x[256];
    static uint8_t q[300];
    for (int i = 0; i < 256; i++) x[i] = (float)((i % 7) - 3);
    x[100] = -6.0f; /* largest magnitude, negative: maps to -127 -> d = 6/127 */
    gr_kernels_get(GR_ISA_SCALAR)->from_float[GR_TYPE_Q8_K](x, q, 256);
    float d;
    memcpy(&d, q, 4);
    assert_true(fabsf(d - 6.0f / 127.0f) < 1e-7f);
    assert_int_equal((int8_t)q[4 + 100], -127);
    for (int g = 0; g < 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += (int8_t)q[4 + 16 * g + l];
        int16_t bs;
        memcpy(&bs, q + 260 + 2 * g, 2);
        assert_int_equal(bs, sum);
    }
    for (int i = 0; i < 32; i++) x[i] = (float)i / 31.0f; /* amax 1 at elem 31 */
    gr_kernels_get(GR_ISA_SCALAR)->from_float[GR_TYPE_Q8_1](x, q, 32);
    assert_int_equal((int8_t)q[4 + 31], 127);
    int sum = 0;
    for (int i = 0; i < 32; i++) sum += (int8_t)q[4 + i];
    const float dd = gr_fp16_to_fp32((uint16_t)(q[0] | q[1] << 8));
    const float s = gr_fp16_to_fp32((uint16_t)(q[2] | q[3] << 8));
    assert_true(fabsf(dd - 1.0f / 127.0f) < 1e-5f);
    assert_true(fabsf(s - dd * (float)sum) <= 1e-3f * fabsf(s));
}

/* ------------------------------------------------------------------ round-trip error */

static void test_roundtrip_error(void **state) {
    (void)state;
    const int64_t n = 1024;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    uint8_t *q = malloc(gr_row_size(GR_TYPE_F32, n));
    const gr_kernels *k = gr_kernels_get(GR_ISA_SCALAR);
    for (size_t i = 0; i < N_TYPES; i++) {
        const gr_type t = all_types[i];
        double bound;
        switch (t) {
        case GR_TYPE_F32: bound = 0; break;
        case GR_TYPE_F16: bound = 1e-3; break;
        case GR_TYPE_BF16: bound = 5e-3; break;
        case GR_TYPE_Q8_0: case GR_TYPE_Q8_1: bound = 0.015; break;
        case GR_TYPE_Q8_K: bound = 0.03; break; /* 256-wide blocks suffer more from outliers */
        case GR_TYPE_Q6_K: bound = 0.04; break;
        case GR_TYPE_Q5_0: case GR_TYPE_Q5_1: case GR_TYPE_Q5_K: bound = 0.1; break;
        default: bound = 0.2; break;
        }
        fill(x, n, 1234u + (uint32_t)i);
        k->from_float[t](x, q, n);
        k->to_float[t](q, y, n);
        double err = 0, ref = 0;
        for (int64_t j = 0; j < n; j++) {
            err += (double)(x[j] - y[j]) * (x[j] - y[j]);
            ref += (double)x[j] * x[j];
        }
        const double rel = sqrt(err / ref);
        if (getenv("GR_TEST_VERBOSE")) print_message("%s rel rms %g\n", gr_type_get(t)->name, rel);
        if (rel > bound) fail_msg("%s: relative RMS error %g > %g", gr_type_get(t)->name, rel, bound);
        /* All-zero input must stay exactly zero (no NaN from 0/0 scales). */
        memset(x, 0, n * 4);
        k->from_float[t](x, q, n);
        k->to_float[t](q, y, n);
        for (int64_t j = 0; j < n; j++) assert_true(y[j] == 0.0f);
    }
    free(x), free(y), free(q);
}

/* ------------------------------------------------------------------ dot vs dequantized */

/* Bytes of a row of n elements of t plus one, so tests can shift pointers by one byte; no more slack,
 * so that the sanitizer build catches kernels reading past a row. */
static uint8_t *alloc_row(gr_type t, int64_t n) { return calloc(gr_row_size(t, n) + 1, 1); }

/* The dot product must equal the sum of dequantized products: catches a dot kernel whose idea of
 * the layout differs from to_float's (e.g. a wrong mins/bsums path). */
static void test_dot_matches_dequant(void **state) {
    (void)state;
    const gr_kernels *k = gr_kernels_get(GR_ISA_SCALAR);
    const int64_t n = 512;
    float *w = malloc(n * 4), *x = malloc(n * 4), *wd = malloc(n * 4), *xd = malloc(n * 4);
    for (size_t i = 0; i < N_TYPES; i++) {
        const gr_type t = all_types[i];
        if (!k->vec_dot[t]) continue;
        const gr_type vt = k->vec_dot_type[t];
        uint8_t *wq = alloc_row(t, n), *xq = alloc_row(vt, n);
        fill(w, n, 77u + (uint32_t)i);
        fill(x, n, 99u + (uint32_t)i);
        k->from_float[t](w, wq, n);
        k->from_float[vt](x, xq, n);
        k->to_float[t](wq, wd, n);
        k->to_float[vt](xq, xd, n);
        double ref = 0, mag = 0;
        for (int64_t j = 0; j < n; j++) {
            ref += (double)wd[j] * xd[j];
            mag += fabs((double)wd[j] * xd[j]);
        }
        float s;
        k->vec_dot[t](n, &s, wq, xq);
        /* Q8_1's s and the Q4_K scale products are rounded to fp16/float: allow 1e-3 of magnitude. */
        if (fabs(s - ref) > 1e-3 * mag + 1e-6)
            fail_msg("%s: dot %g vs dequantized %g (mag %g)", gr_type_get(t)->name, s, ref, mag);
        free(wq), free(xq);
    }
    free(w), free(x), free(wd), free(xd);
}

/* ------------------------------------------------------------------ SIMD vs scalar */

static void compare_isa(const gr_kernels *k, const gr_kernels *ref, gr_type t, int64_t n, int off) {
    const char *tn = gr_type_get(t)->name;
    float *x = malloc(n * 4), *y0 = malloc(n * 4 + 4), *y1 = malloc(n * 4 + 4);
    uint8_t *q0 = alloc_row(t, n), *q1 = alloc_row(t, n);
    const size_t rs = gr_row_size(t, n);
    fill(x, n, (uint32_t)(n * 31 + t * 7 + off + 1));
    /* from_float: byte-identical */
    ref->from_float[t](x, q0 + off, n);
    k->from_float[t](x, q1 + off, n);
    if (memcmp(q0 + off, q1 + off, rs) != 0) fail_msg("%s from_float %s n=%lld off=%d differs", k->name, tn, (long long)n, off);
    /* to_float: equal up to fma contraction */
    ref->to_float[t](q0 + off, y0, n);
    k->to_float[t](q0 + off, y1 + 1, n); /* misaligned float output */
    for (int64_t i = 0; i < n; i++)
        if (fabsf(y0[i] - y1[i + 1]) > 1e-6f * fabsf(y0[i]) + 1e-30f)
            fail_msg("%s to_float %s n=%lld [%lld]: %g vs %g", k->name, tn, (long long)n, (long long)i, y0[i], y1[i + 1]);
    if (ref->vec_dot[t]) {
        const gr_type vt = ref->vec_dot_type[t];
        assert_int_equal(k->vec_dot_type[t], vt);
        uint8_t *a = alloc_row(vt, n);
        float *xx = malloc(n * 4), *wd = malloc(n * 4), *xd = malloc(n * 4);
        fill(xx, n, (uint32_t)(n + 5));
        ref->from_float[vt](xx, a + off, n);
        ref->to_float[t](q0 + off, wd, n);
        ref->to_float[vt](a + off, xd, n);
        double mag = 0;
        for (int64_t i = 0; i < n; i++) mag += fabs((double)wd[i] * xd[i]);
        float s0, s1;
        ref->vec_dot[t](n, &s0, q0 + off, a + off);
        k->vec_dot[t](n, &s1, q0 + off, a + off);
        if (fabs((double)s0 - s1) > 1e-5 * mag + 1e-30)
            fail_msg("%s vec_dot %s n=%lld off=%d: %.9g vs %.9g (mag %g)", k->name, tn, (long long)n, off, s0, s1, mag);
        free(a), free(xx), free(wd), free(xd);
    }
    free(x), free(y0), free(y1), free(q0), free(q1);
}

static void test_isa_vs_scalar(void **state) {
    (void)state;
    const gr_kernels *ref = gr_kernels_get(GR_ISA_SCALAR);
    static const int64_t nblocks[] = {1, 3, 5, 7, 8, 16, 33};
    static const int64_t nfloat[] = {1, 3, 15, 16, 17, 31, 33, 64, 100, 1000, 4099};
    int tested = 0;
    for (int isa = GR_ISA_SCALAR; isa < GR_ISA_COUNT; isa++) {
        const gr_kernels *k = gr_kernels_get((gr_isa)isa);
        if (!k) continue;
        assert_int_equal(k->isa, isa);
        tested++;
        for (size_t i = 0; i < N_TYPES; i++) {
            const gr_type t = all_types[i];
            assert_non_null(k->to_float[t]);
            assert_non_null(k->from_float[t]);
            assert_true((k->vec_dot[t] != NULL) == (ref->vec_dot[t] != NULL));
            const int blck = gr_type_get(t)->blck;
            for (int off = 0; off < 2; off++) {
                if (blck == 1)
                    for (size_t j = 0; j < sizeof nfloat / sizeof nfloat[0]; j++) compare_isa(k, ref, t, nfloat[j], off);
                else
                    for (size_t j = 0; j < sizeof nblocks / sizeof nblocks[0]; j++)
                        compare_isa(k, ref, t, nblocks[j] * blck, off);
            }
        }
    }
    print_message("compared %d kernel tables (best: %s)\n", tested, gr_kernels_get(GR_ISA_BEST)->name);
}

/* Extreme values: full-range quants (+-127 / 15 / 31 / 63) must not overflow the SIMD int16 paths. */
static void test_isa_extremes(void **state) {
    (void)state;
    const gr_kernels *ref = gr_kernels_get(GR_ISA_SCALAR);
    const int64_t n = 1024;
    for (int isa = GR_ISA_AVX2; isa < GR_ISA_COUNT; isa++) {
        const gr_kernels *k = gr_kernels_get((gr_isa)isa);
        if (!k) continue;
        for (size_t i = 0; i < N_TYPES; i++) {
            const gr_type t = all_types[i];
            if (!ref->vec_dot[t]) continue;
            const gr_type vt = ref->vec_dot_type[t];
            uint8_t *w = alloc_row(t, n), *x = alloc_row(vt, n);
            for (int pat = 0; pat < 3; pat++) {
                const size_t ws = gr_row_size(t, n), xs = gr_row_size(vt, n);
                /* Random bytes are valid blocks for every quant type; then fix scales to sane floats. */
                uint32_t seed = 4242u + (uint32_t)(pat * 100 + t);
                for (size_t j = 0; j < ws; j++) w[j] = pat == 0 ? 0xFF : pat == 1 ? 0x00 : (uint8_t)rng_next(&seed);
                float *xf = malloc(n * 4);
                for (int64_t j = 0; j < n; j++) xf[j] = pat == 1 ? -1.0f : (j & 1 ? 1.0f : -1.0f);
                ref->from_float[vt](xf, x, n);
                (void)xs;
                float *wf = malloc(n * 4);
                fill(wf, n, 5u);
                if (t == GR_TYPE_F32 || t == GR_TYPE_F16 || t == GR_TYPE_BF16) ref->from_float[t](wf, w, n);
                else {
                    /* overwrite the block scales with a safe value, keep the extreme quants */
                    const int blck = gr_type_get(t)->blck;
                    const size_t bs = gr_type_get(t)->size;
                    for (int64_t b = 0; b < n / blck; b++) {
                        uint8_t *p = w + b * bs;
                        const size_t at = t == GR_TYPE_Q6_K ? 208 : 0;
                        p[at] = 0x00, p[at + 1] = 0x3C;
                        if (t == GR_TYPE_Q4_1 || t == GR_TYPE_Q5_1 || t == GR_TYPE_Q4_K || t == GR_TYPE_Q5_K)
                            p[2] = 0x00, p[3] = 0x38;
                    }
                }
                float s0, s1;
                ref->vec_dot[t](n, &s0, w, x);
                k->vec_dot[t](n, &s1, w, x);
                if (fabsf(s0 - s1) > 1e-5f * fabsf(s0) + 1e-3f)
                    fail_msg("%s %s pattern %d: %.9g vs %.9g", k->name, gr_type_get(t)->name, pat, s0, s1);
                free(xf), free(wf);
            }
            free(w), free(x);
        }
    }
}

/* ------------------------------------------------------------------ matmul */

static void test_matmul(void **state) {
    (void)state;
    const int64_t n = 512, R = 37, r0 = 2, r1 = 35, ldy = R + 3;
    static const int Ts[] = {1, 3, 17};
    float *wf = malloc(n * 4), *xf = malloc(n * 4);
    for (int isa = GR_ISA_SCALAR; isa < GR_ISA_COUNT; isa++) {
        const gr_kernels *k = gr_kernels_get((gr_isa)isa);
        if (!k) continue;
        for (size_t i = 0; i < N_TYPES; i++) {
            const gr_type t = all_types[i];
            if (!k->vec_dot[t]) continue;
            const gr_type vt = k->vec_dot_type[t];
            const size_t ws = gr_row_size(t, n) + 3, xs = gr_row_size(vt, n) + 1; /* odd strides */
            uint8_t *w = calloc(ws * R, 1), *x = calloc(xs * 17, 1);
            for (int64_t r = 0; r < R; r++) {
                fill(wf, n, (uint32_t)(r + 10));
                k->from_float[t](wf, w + r * ws, n);
            }
            for (int tt = 0; tt < 17; tt++) {
                fill(xf, n, (uint32_t)(tt + 1000));
                k->from_float[vt](xf, x + tt * xs, n);
            }
            for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                const int T = Ts[ti];
                float *y = malloc(sizeof(float) * ldy * T);
                for (int64_t j = 0; j < ldy * T; j++) y[j] = -12345.0f;
                gr_matmul(k, t, w, ws, x, xs, y, ldy, n, r0, r1, T);
                for (int tt = 0; tt < T; tt++)
                    for (int64_t r = 0; r < ldy; r++) {
                        const float got = y[tt * ldy + r];
                        if (r < r0 || r >= r1) {
                            assert_true(got == -12345.0f);
                            continue;
                        }
                        float want;
                        k->vec_dot[t](n, &want, w + r * ws, x + tt * xs);
                        if (got != want) fail_msg("%s %s T=%d t=%d r=%lld: %g vs %g", k->name, gr_type_get(t)->name, T, tt, (long long)r, got, want);
                    }
                free(y);
            }
            free(w), free(x);
        }
    }
    free(wf), free(xf);
}

/* vec_dot_rows (when a table has it) must equal vec_dot, bit for bit, for every tile shape, odd
 * strides and block counts that leave tails, and write nothing outside the tile. */
static void test_dot_rows(void **state) {
    (void)state;
    static const int64_t nblocks[] = {1, 3, 4, 5, 7, 9, 48};
    int checked = 0;
    for (int isa = GR_ISA_SCALAR; isa < GR_ISA_COUNT; isa++) {
        const gr_kernels *k = gr_kernels_get((gr_isa)isa);
        if (!k) continue;
        for (size_t i = 0; i < N_TYPES; i++) {
            const gr_type t = all_types[i];
            if (!k->vec_dot_rows[t]) continue;
            assert_non_null(k->vec_dot[t]);
            const gr_type vt = k->vec_dot_type[t];
            for (size_t j = 0; j < sizeof nblocks / sizeof nblocks[0]; j++) {
                const int64_t n = nblocks[j] * gr_type_get(t)->blck;
                const size_t ws = gr_row_size(t, n) + 3;
                const size_t xs = gr_row_size(vt, n) + 5;
                uint8_t *w = calloc(ws * (GR_DOT_ROWS_MAX - 1) + gr_row_size(t, n) + 1, 1);
                uint8_t *x = calloc(xs * (GR_DOT_COLS_MAX - 1) + gr_row_size(vt, n) + 1, 1);
                float *f = malloc(sizeof(float) * (size_t)n);
                for (int r = 0; r < GR_DOT_ROWS_MAX; r++) {
                    fill(f, n, (uint32_t)(r * 17 + j + 3));
                    k->from_float[t](f, w + 1 + r * ws, n);
                }
                for (int tt = 0; tt < GR_DOT_COLS_MAX; tt++) {
                    fill(f, n, (uint32_t)(j + 71 + 1000 * tt));
                    k->from_float[vt](f, x + 1 + tt * xs, n);
                }
                for (int nr = 1; nr <= GR_DOT_ROWS_MAX; nr++)
                    for (int nt = 1; nt <= GR_DOT_COLS_MAX; nt++) {
                        const int64_t lds = GR_DOT_ROWS_MAX + 1;
                        float got[(GR_DOT_ROWS_MAX + 1) * GR_DOT_COLS_MAX], want;
                        for (size_t g = 0; g < sizeof got / sizeof got[0]; g++) got[g] = -7.0f;
                        k->vec_dot_rows[t](n, nr, nt, got, lds, w + 1, ws, x + 1, xs);
                        for (int tt = 0; tt < GR_DOT_COLS_MAX; tt++)
                            for (int r = 0; r < lds; r++) {
                                const float g = got[tt * lds + r];
                                if (tt >= nt || r >= nr) { /* writes exactly the nr x nt results */
                                    assert_true(g == -7.0f);
                                    continue;
                                }
                                k->vec_dot[t](n, &want, w + 1 + r * ws, x + 1 + tt * xs);
                                if (g != want)
                                    fail_msg("%s %s n=%lld nr=%d nt=%d [%d,%d]: %.9g vs %.9g", k->name, gr_type_get(t)->name,
                                             (long long)n, nr, nt, tt, r, g, want);
                            }
                        checked++;
                    }
                free(w), free(x), free(f);
            }
        }
    }
    print_message("checked %d multi-row cases\n", checked);
}

static void test_selection(void **state) {
    (void)state;
    const gr_kernels *best = gr_kernels_get(GR_ISA_BEST);
    assert_non_null(best);
    assert_string_equal(gr_kernels_get(GR_ISA_SCALAR)->name, "scalar");
    assert_null(gr_kernels_get(GR_ISA_COUNT));
    assert_null(gr_kernels_get((gr_isa)99));
    /* Best is the widest available table. */
    for (int isa = GR_ISA_COUNT - 1; isa >= 0; isa--)
        if (gr_kernels_get((gr_isa)isa)) {
            assert_int_equal(best->isa, isa);
            break;
        }
    assert_int_equal(best->vec_dot_type[GR_TYPE_Q4_0], GR_TYPE_Q8_0);
    assert_int_equal(best->vec_dot_type[GR_TYPE_Q4_1], GR_TYPE_Q8_1);
    assert_int_equal(best->vec_dot_type[GR_TYPE_Q6_K], GR_TYPE_Q8_K);
    assert_int_equal(best->vec_dot_type[GR_TYPE_BF16], GR_TYPE_BF16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selection),       cmocka_unit_test(test_fp16_edges),
        cmocka_unit_test(test_bf16_edges),      cmocka_unit_test(test_known_q4_q5_q8),
        cmocka_unit_test(test_known_k),         cmocka_unit_test(test_known_activation_sums),
        cmocka_unit_test(test_roundtrip_error), cmocka_unit_test(test_dot_matches_dequant),
        cmocka_unit_test(test_isa_vs_scalar),   cmocka_unit_test(test_isa_extremes),
        cmocka_unit_test(test_matmul),          cmocka_unit_test(test_dot_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
