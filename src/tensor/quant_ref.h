/* quant_ref.h — block layouts (byte offsets, ggml/GGUF-identical) and the scalar reference kernels.
 * The scalar functions are the ground truth every SIMD kernel is tested against; SIMD tables reuse
 * them for anything they do not accelerate. Must not contain ISA-specific code. */
#ifndef GR_TENSOR_QUANT_REF_H
#define GR_TENSOR_QUANT_REF_H

#include <stdint.h>
#include <string.h>

#include "tensor/kernels.h"

/* Block sizes in bytes. Fields are read through memcpy (gr_rd16/gr_rdf32) because blocks are
 * packed and a row may start at any byte, so struct access would be misaligned. */
#define GR_Q4_0_SIZE 18  /* f16 d | u8 qs[16]: elem j = qs[j] & 15, elem j+16 = qs[j] >> 4 */
#define GR_Q4_1_SIZE 20  /* f16 d, m | u8 qs[16] */
#define GR_Q5_0_SIZE 22  /* f16 d | u8 qh[4] (bit j = 5th bit of elem j) | u8 qs[16] */
#define GR_Q5_1_SIZE 24  /* f16 d, m | u8 qh[4] | u8 qs[16] */
#define GR_Q8_0_SIZE 34  /* f16 d | i8 qs[32] */
#define GR_Q8_1_SIZE 36  /* f16 d, s (= d * sum qs) | i8 qs[32] */
#define GR_Q4_K_SIZE 144 /* f16 d, dmin | u8 scales[12] | u8 qs[128] */
#define GR_Q5_K_SIZE 176 /* f16 d, dmin | u8 scales[12] | u8 qh[32] | u8 qs[128] */
#define GR_Q6_K_SIZE 210 /* u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d */
#define GR_Q8_K_SIZE 292 /* f32 d | i8 qs[256] | i16 bsums[16] */

static inline uint16_t gr_rd16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline float gr_rdf32(const void *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint32_t gr_rd32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void gr_wr16(void *p, uint16_t v) { memcpy(p, &v, 2); }

/* Round to nearest, ties to even (what SIMD cvtps does), valid for |f| <= 2^22. */
static inline int gr_nearest_int(float f) {
    float v = f + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Q4_K/Q5_K sub-block j (0..7): 6-bit scale and min unpacked from the 12 scale bytes. */
static inline void gr_k4_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Table of the scalar reference kernels (also reachable as gr_kernels_get(GR_ISA_SCALAR)). */
const gr_kernels *gr_kernels_scalar(void);

void gr_ref_to_float_f32(const void *x, float *y, int64_t n);
void gr_ref_to_float_f16(const void *x, float *y, int64_t n);
void gr_ref_to_float_bf16(const void *x, float *y, int64_t n);
void gr_ref_to_float_q4_0(const void *x, float *y, int64_t n);
void gr_ref_to_float_q4_1(const void *x, float *y, int64_t n);
void gr_ref_to_float_q5_0(const void *x, float *y, int64_t n);
void gr_ref_to_float_q5_1(const void *x, float *y, int64_t n);
void gr_ref_to_float_q8_0(const void *x, float *y, int64_t n);
void gr_ref_to_float_q8_1(const void *x, float *y, int64_t n);
void gr_ref_to_float_q4_k(const void *x, float *y, int64_t n);
void gr_ref_to_float_q5_k(const void *x, float *y, int64_t n);
void gr_ref_to_float_q6_k(const void *x, float *y, int64_t n);
void gr_ref_to_float_q8_k(const void *x, float *y, int64_t n);

void gr_ref_from_float_f32(const float *x, void *y, int64_t n);
void gr_ref_from_float_f16(const float *x, void *y, int64_t n);
void gr_ref_from_float_bf16(const float *x, void *y, int64_t n);
void gr_ref_from_float_q4_0(const float *x, void *y, int64_t n);
void gr_ref_from_float_q4_1(const float *x, void *y, int64_t n);
void gr_ref_from_float_q5_0(const float *x, void *y, int64_t n);
void gr_ref_from_float_q5_1(const float *x, void *y, int64_t n);
void gr_ref_from_float_q8_0(const float *x, void *y, int64_t n);
void gr_ref_from_float_q8_1(const float *x, void *y, int64_t n);
void gr_ref_from_float_q4_k(const float *x, void *y, int64_t n);
void gr_ref_from_float_q5_k(const float *x, void *y, int64_t n);
void gr_ref_from_float_q6_k(const float *x, void *y, int64_t n);
void gr_ref_from_float_q8_k(const float *x, void *y, int64_t n);

void gr_ref_vec_dot_f32(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_f16(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_bf16(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q4_0(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q4_1(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q5_0(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q5_1(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q8_0(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q4_k(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q5_k(int64_t n, float *s, const void *w, const void *x);
void gr_ref_vec_dot_q6_k(int64_t n, float *s, const void *w, const void *x);

/* Initializer fragments so every ISA table starts from the same scalar entries. */
#define GR_REF_VEC_DOT_TYPES                                                                        \
    [GR_TYPE_F32] = GR_TYPE_F32, [GR_TYPE_F16] = GR_TYPE_F16, [GR_TYPE_BF16] = GR_TYPE_BF16,        \
    [GR_TYPE_Q4_0] = GR_TYPE_Q8_0, [GR_TYPE_Q5_0] = GR_TYPE_Q8_0, [GR_TYPE_Q8_0] = GR_TYPE_Q8_0,    \
    [GR_TYPE_Q4_1] = GR_TYPE_Q8_1, [GR_TYPE_Q5_1] = GR_TYPE_Q8_1, [GR_TYPE_Q4_K] = GR_TYPE_Q8_K,    \
    [GR_TYPE_Q5_K] = GR_TYPE_Q8_K, [GR_TYPE_Q6_K] = GR_TYPE_Q8_K

#endif
