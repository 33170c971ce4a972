/* types.h — tensor element types (GGML numbering, so GGUF files carry them as-is) and their block
 * layouts. Only layout facts live here; kernels are in kernels.h. */
#ifndef GR_TENSOR_TYPES_H
#define GR_TENSOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gr_type {
    GR_TYPE_F32 = 0,
    GR_TYPE_F16 = 1,
    GR_TYPE_Q4_0 = 2,
    GR_TYPE_Q4_1 = 3,
    GR_TYPE_Q5_0 = 6,
    GR_TYPE_Q5_1 = 7,
    GR_TYPE_Q8_0 = 8,
    GR_TYPE_Q8_1 = 9,
    GR_TYPE_Q2_K = 10,
    GR_TYPE_Q3_K = 11,
    GR_TYPE_Q4_K = 12,
    GR_TYPE_Q5_K = 13,
    GR_TYPE_Q6_K = 14,
    GR_TYPE_Q8_K = 15,
    GR_TYPE_BF16 = 30,
    GR_TYPE_COUNT = 40 /* upper bound on GGML type numbers we size tables by */
} gr_type;

#define GR_QK 32   /* block size of Q4_0..Q8_1 */
#define GR_QK_K 256 /* super-block size of the K-quants */

/* Block size (elements) and bytes per block; 0/0 for types we do not know. */
typedef struct gr_type_info {
    const char *name; /* "q4_0", ... */
    int blck;         /* elements per block */
    size_t size;      /* bytes per block */
    bool supported;   /* we can read (dequantize/dot) it */
} gr_type_info;

/* Never NULL: unknown types get an entry with supported = false and blck = 0. */
const gr_type_info *gr_type_get(int type);
/* Bytes of a row of n elements (n must be a multiple of the block size), or 0 if invalid. */
size_t gr_row_size(gr_type t, int64_t n);
/* Parse a name like "q4_0", "Q4_K", "bf16"; -1 if unknown. */
int gr_type_from_name(const char *name);

#endif
