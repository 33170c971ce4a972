/* config.h — hyper-parameters of a Gemma 3 / Gemma 4 text decoder, as read from (or written to) a
 * GGUF file's metadata. One struct serves the loader (config.c), the synthetic-model writer
 * (synth.c) and the fit plan, so the three cannot disagree about what a shape means.
 * Key names and meanings: ../shared/spec/gemma4.md §3.1 (Gemma 4) and §5 (Gemma 3). */
#ifndef GR_MODEL_CONFIG_H
#define GR_MODEL_CONFIG_H

#include "gemrun.h"
#include "gguf/gguf.h"
#include <stdbool.h>
#include <stdint.h>

#define GR_MAX_LAYERS 256

typedef enum gr_arch { GR_ARCH_GEMMA3 = 3, GR_ARCH_GEMMA4 = 4 } gr_arch;

typedef struct gr_gemma_config {
    gr_arch arch;
    uint32_t n_layer, n_embd, n_head, n_vocab, n_ctx_train;
    uint32_t n_head_kv[GR_MAX_LAYERS]; /* per layer */
    uint32_t n_ff[GR_MAX_LAYERS];      /* dense / shared MLP width per layer */
    bool is_swa[GR_MAX_LAYERS];        /* sliding-window layer */
    uint32_t head_dim;                 /* full layers (key_length == value_length) */
    uint32_t head_dim_swa;             /* sliding layers (Gemma 3: same as head_dim) */
    uint32_t n_rot, n_rot_swa;         /* rope.dimension_count(_swa) */
    uint32_t sliding_window;
    uint32_t n_kv_shared;      /* Gemma 4: trailing layers that reuse a donor's KV (0 = none) */
    uint32_t n_embd_per_layer; /* Gemma 4 PLE dim P (0 = none) */
    uint32_t n_expert, n_expert_used, n_ff_exp; /* Gemma 4 MoE (0 = dense) */
    float rope_base, rope_base_swa;
    float rope_scale; /* Gemma 3 full layers: linear position scaling factor (1 = none) */
    float rms_eps;
    float final_softcap; /* 0 = none */
    float attn_scale;    /* multiplies q·k: 1.0 for Gemma 4, 1/sqrt(query_pre_attn_scalar) Gemma 3 */
} gr_gemma_config;

/* Read and validate the config; every error names the key. */
gr_status gr_gemma_config_from_gguf(const gr_gguf *g, gr_gemma_config *c, char *err, size_t errlen);

/* Head dim and KV head count of layer l. */
static inline uint32_t gr_layer_head_dim(const gr_gemma_config *c, uint32_t l) {
    return c->is_swa[l] ? c->head_dim_swa : c->head_dim;
}
/* The layer whose KV cache layer l reads: itself, or its donor when l is KV-shared (§1.2);
 * UINT32_MAX when a shared layer has no donor of its kind (gr_gemma_config_from_gguf rejects
 * such files, so a loaded config never yields it). */
uint32_t gr_kv_source_layer(const gr_gemma_config *c, uint32_t l);

#endif
