/* kernels.h — per-ISA kernel tables for quantized dot products and conversions.
 *
 * Matmul follows ggml's scheme: the activation row is first quantized to the weight type's
 * "vec_dot_type" (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16,
 * BF16 for BF16, F32 for F32), then each output is an integer/float dot product of one weight row
 * with that row. Tables are immutable and chosen by ISA: tests compare every ISA with the scalar
 * reference; the engine asks for GR_ISA_BEST.
 */
#ifndef GR_TENSOR_KERNELS_H
#define GR_TENSOR_KERNELS_H

#include "tensor/types.h"

typedef enum gr_isa { GR_ISA_SCALAR = 0, GR_ISA_AVX2, GR_ISA_AVX512, GR_ISA_COUNT, GR_ISA_BEST = -1 } gr_isa;

/* y[0..n) = dequantize(x); n is a multiple of the type's block size. */
typedef void (*gr_to_float_fn)(const void *x, float *y, int64_t n);
/* y = quantize(x): n floats into n/blck blocks. */
typedef void (*gr_from_float_fn)(const float *x, void *y, int64_t n);
/* *s = sum_i w[i] * x[i] over n elements; w of the weight type, x of its vec_dot_type. */
typedef void (*gr_vec_dot_fn)(int64_t n, float *s, const void *w, const void *x);
/* A small tile: s[t * lds + r] = dot(W row r, X row t) for r < nr <= GR_DOT_ROWS_MAX and
 * t < nt <= GR_DOT_COLS_MAX; rows w_stride / x_stride bytes apart. Unpacks each weight block once
 * for nt tokens and loads each activation block once for nr rows; results equal vec_dot bit for bit. */
typedef void (*gr_vec_dot_rows_fn)(int64_t n, int nr, int nt, float *s, int64_t lds, const void *w, size_t w_stride,
                                   const void *x, size_t x_stride);
#define GR_DOT_ROWS_MAX 4
#define GR_DOT_COLS_MAX 2

typedef struct gr_kernels {
    gr_isa isa;
    const char *name; /* "scalar", "avx2", "avx512" */
    gr_type vec_dot_type[GR_TYPE_COUNT];
    gr_vec_dot_fn vec_dot[GR_TYPE_COUNT];     /* NULL: type not supported as a weight */
    gr_to_float_fn to_float[GR_TYPE_COUNT];   /* every supported type */
    gr_from_float_fn from_float[GR_TYPE_COUNT]; /* every supported type incl. Q8_K, Q8_1 */
    gr_vec_dot_rows_fn vec_dot_rows[GR_TYPE_COUNT]; /* optional (NULL: gr_matmul uses vec_dot) */
} gr_kernels;

/* The table for an ISA, or NULL if this CPU (or this build) lacks it. GR_ISA_BEST never fails. */
const gr_kernels *gr_kernels_get(gr_isa isa);

/* Multiply a block of weight rows by T activation rows (already quantized to vec_dot_type):
 *   y[t * ldy + r] = dot(W row r, X row t)   for r in [r0, r1), t in [0, T)
 * w points at row 0; w_stride / x_stride are bytes between rows; n is the row length in elements.
 * Implementations tile so a weight row is read from memory once for all T tokens. */
void gr_matmul(const gr_kernels *k, gr_type wtype, const void *w, size_t w_stride, const void *x,
               size_t x_stride, float *y, int64_t ldy, int64_t n, int64_t r0, int64_t r1, int T);

/* Scalar half/bfloat conversions shared by all kernels. */
float gr_fp16_to_fp32(uint16_t h);
uint16_t gr_fp32_to_fp16(float f);
float gr_bf16_to_fp32(uint16_t h);
uint16_t gr_fp32_to_bf16(float f); /* round to nearest even, NaN kept */

#endif
