/* types.c — the table of tensor element types: names, block sizes, bytes per block. Layout facts
 * only; nothing here computes. Sizes follow the GGUF/ggml block structs (see kernels.h). */
#include "tensor/types.h"

#include <string.h>
#include <strings.h>

static const gr_type_info type_table[GR_TYPE_COUNT] = {
    [GR_TYPE_F32] = {"f32", 1, 4, true},
    [GR_TYPE_F16] = {"f16", 1, 2, true},
    [GR_TYPE_Q4_0] = {"q4_0", GR_QK, 2 + GR_QK / 2, true},
    [GR_TYPE_Q4_1] = {"q4_1", GR_QK, 4 + GR_QK / 2, true},
    [GR_TYPE_Q5_0] = {"q5_0", GR_QK, 2 + 4 + GR_QK / 2, true},
    [GR_TYPE_Q5_1] = {"q5_1", GR_QK, 4 + 4 + GR_QK / 2, true},
    [GR_TYPE_Q8_0] = {"q8_0", GR_QK, 2 + GR_QK, true},
    [GR_TYPE_Q8_1] = {"q8_1", GR_QK, 4 + GR_QK, true},
    [GR_TYPE_Q2_K] = {"q2_k", GR_QK_K, GR_QK_K / 16 + GR_QK_K / 4 + 4, false},
    [GR_TYPE_Q3_K] = {"q3_k", GR_QK_K, GR_QK_K / 8 + GR_QK_K / 4 + 12 + 2, false},
    [GR_TYPE_Q4_K] = {"q4_k", GR_QK_K, 4 + 12 + GR_QK_K / 2, true},
    [GR_TYPE_Q5_K] = {"q5_k", GR_QK_K, 4 + 12 + GR_QK_K / 8 + GR_QK_K / 2, true},
    [GR_TYPE_Q6_K] = {"q6_k", GR_QK_K, GR_QK_K / 2 + GR_QK_K / 4 + GR_QK_K / 16 + 2, true},
    [GR_TYPE_Q8_K] = {"q8_k", GR_QK_K, 4 + GR_QK_K + GR_QK_K / 16 * 2, true},
    [GR_TYPE_BF16] = {"bf16", 1, 2, true},
};

static const gr_type_info unknown_type = {"unknown", 0, 0, false};

const gr_type_info *gr_type_get(int type) {
    if (type < 0 || type >= GR_TYPE_COUNT || type_table[type].name == NULL) return &unknown_type;
    return &type_table[type];
}

size_t gr_row_size(gr_type t, int64_t n) {
    const gr_type_info *ti = gr_type_get(t);
    if (ti->blck == 0 || n < 0 || n % ti->blck != 0) return 0;
    return (size_t)(n / ti->blck) * ti->size;
}

int gr_type_from_name(const char *name) {
    for (int t = 0; t < GR_TYPE_COUNT; t++)
        if (type_table[t].name && strcasecmp(type_table[t].name, name) == 0) return t;
    return -1;
}
