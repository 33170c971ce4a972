/* kernels_isa.h — constructors of the per-ISA kernel tables and the AVX2 converters the AVX-512
 * table shares (private to src/tensor). Each table is immutable; kernels.c checks the CPU before
 * handing one out. Only declarations here. */
#ifndef GR_TENSOR_KERNELS_ISA_H
#define GR_TENSOR_KERNELS_ISA_H

#include "tensor/kernels.h"

#if defined(GR_X86)
const gr_kernels *gr_kernels_avx2(void);
const gr_kernels *gr_kernels_avx512(void);

/* AVX2 conversions (AVX-512 CPUs have AVX2; these are not on the decode hot path). */
void gr_avx2_to_float_f16(const void *x, float *y, int64_t n);
void gr_avx2_to_float_bf16(const void *x, float *y, int64_t n);
void gr_avx2_to_float_q4_0(const void *x, float *y, int64_t n);
void gr_avx2_to_float_q8_0(const void *x, float *y, int64_t n);
void gr_avx2_to_float_q4_k(const void *x, float *y, int64_t n);
void gr_avx2_to_float_q6_k(const void *x, float *y, int64_t n);
void gr_avx2_from_float_f16(const float *x, void *y, int64_t n);
void gr_avx2_from_float_q8_0(const float *x, void *y, int64_t n);
void gr_avx2_from_float_q8_1(const float *x, void *y, int64_t n);
void gr_avx2_from_float_q8_k(const float *x, void *y, int64_t n);

/* to_float / from_float initializers shared by the AVX2 and AVX-512 tables (needs quant_ref.h). */
#define GR_AVX2_CONVERTERS                                                                          \
    .to_float = {[GR_TYPE_F32] = gr_ref_to_float_f32,    [GR_TYPE_F16] = gr_avx2_to_float_f16,       \
                 [GR_TYPE_BF16] = gr_avx2_to_float_bf16, [GR_TYPE_Q4_0] = gr_avx2_to_float_q4_0,     \
                 [GR_TYPE_Q4_1] = gr_ref_to_float_q4_1,  [GR_TYPE_Q5_0] = gr_ref_to_float_q5_0,      \
                 [GR_TYPE_Q5_1] = gr_ref_to_float_q5_1,  [GR_TYPE_Q8_0] = gr_avx2_to_float_q8_0,     \
                 [GR_TYPE_Q8_1] = gr_ref_to_float_q8_1,  [GR_TYPE_Q4_K] = gr_avx2_to_float_q4_k,     \
                 [GR_TYPE_Q5_K] = gr_ref_to_float_q5_k,  [GR_TYPE_Q6_K] = gr_avx2_to_float_q6_k,     \
                 [GR_TYPE_Q8_K] = gr_ref_to_float_q8_k},                                             \
    .from_float = {[GR_TYPE_F32] = gr_ref_from_float_f32,   [GR_TYPE_F16] = gr_avx2_from_float_f16,  \
                   [GR_TYPE_BF16] = gr_ref_from_float_bf16, [GR_TYPE_Q4_0] = gr_ref_from_float_q4_0, \
                   [GR_TYPE_Q4_1] = gr_ref_from_float_q4_1, [GR_TYPE_Q5_0] = gr_ref_from_float_q5_0, \
                   [GR_TYPE_Q5_1] = gr_ref_from_float_q5_1, [GR_TYPE_Q8_0] = gr_avx2_from_float_q8_0,\
                   [GR_TYPE_Q8_1] = gr_avx2_from_float_q8_1,[GR_TYPE_Q4_K] = gr_ref_from_float_q4_k, \
                   [GR_TYPE_Q5_K] = gr_ref_from_float_q5_k, [GR_TYPE_Q6_K] = gr_ref_from_float_q6_k, \
                   [GR_TYPE_Q8_K] = gr_avx2_from_float_q8_k}
#endif

#endif
