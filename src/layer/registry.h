/* registry.h — model profiles for memory-aware selection (pattern 2) and the shape of a fit plan.
 * TYPES ONLY for now: the registry table, the GGUF-derived profile and the fit-plan computation are a
 * later session's work (issue 4), so nothing here is declared as if it existed. The intended API is
 * sketched at the end as a comment. Must not depend on the model code: the plan must be computable
 * before anything loads, from a profile or from GGUF metadata alone.
 *
 * Geometry fields exist because the KV cache, not the weights, decides whether a long context fits:
 * Gemma 4 mixes sliding-window layers (KV bounded by the window) with full-attention layers (KV grows
 * with the context), uses different KV-head counts and head sizes per layer type, and in E2B/E4B lets
 * the last layers reuse earlier layers' KV (no cache of their own). See ../shared/spec/gemma4.md. */
#ifndef GR_LAYER_REGISTRY_H
#define GR_LAYER_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

/* Weight formats a profile can list sizes for (GGUF file sizes as published / measured). */
typedef enum gr_quant {
    GR_QUANT_F16 = 0,
    GR_QUANT_Q8_0,
    GR_QUANT_Q6_K,
    GR_QUANT_Q5_K_M,
    GR_QUANT_Q4_K_M,
    GR_QUANT_Q4_0,
    GR_QUANT_COUNT
} gr_quant;

/* What a model is good for (bit flags). */
enum {
    GR_CAP_CONVERSATIONAL = 1u << 0, /* chat, tutoring: selection picks the largest of these */
    GR_CAP_STRUCTURED = 1u << 1,     /* reliable JSON / Mermaid / SVG (with constrained decoding) */
    GR_CAP_VISION = 1u << 2          /* image input (handwriting OCR) */
};

/* Where a model may run (bit flags): 26B-A4B and 31B are server models for the seed. */
enum { GR_PLACE_LOCAL = 1u << 0, GR_PLACE_CLOUD = 1u << 1 };

/* KV geometry of one layer type. */
typedef struct gr_kv_geometry {
    int n_layers;      /* layers of this type that own a KV cache (KV-sharing layers excluded) */
    int n_kv_heads;
    int head_dim;      /* K and V width per head */
    bool k_eq_v;       /* V is the K projection (31B/26B full layers): one cache tensor, not two */
    int window;        /* sliding window in tokens; 0 = full attention (grows with the context) */
} gr_kv_geometry;

typedef struct gr_model_profile {
    const char *id;     /* "gemma-4-e2b-it", "gemma-4-e4b-it", "gemma-4-26b-a4b-it", "gemma-4-31b-it", ... */
    const char *family; /* "gemma4" or "gemma3" */
    uint64_t n_params;        /* total parameters */
    uint64_t n_active_params; /* per token (MoE: ~4B of 26B); = n_params for dense models */
    uint64_t weight_bytes[GR_QUANT_COUNT]; /* file size per format; 0 = not available */
    unsigned capabilities;    /* GR_CAP_* */
    unsigned placement;       /* GR_PLACE_* */
    uint64_t min_memory;      /* dedicated memory below which this profile is never selected
                                 (seed: E2B 4 GiB, E4B 8 GiB), in bytes */
    int n_ctx_max;            /* trained context length */
    gr_kv_geometry kv_sliding;
    gr_kv_geometry kv_full;
    int n_layers;             /* all layers, including KV-sharing ones */
    int d_model, n_vocab;     /* for working buffers (logits, activations) */
} gr_model_profile;

/* A fit plan: every term in bytes, so `gemrun plan` can print the arithmetic before loading. */
typedef struct gr_fit_plan {
    const gr_model_profile *model; /* NULL: no local model fits (route to cloud) */
    gr_quant quant;
    int n_ctx;                   /* context the plan was made for (may be shrunk to fit) */
    uint64_t weights;            /* weight_bytes[quant] or the GGUF's tensor bytes */
    uint64_t kv_cache;           /* sliding layers: min(window, n_ctx); full layers: n_ctx */
    uint64_t buffers;            /* activations, logits, scratch */
    uint64_t reserve;            /* runtime overhead + host; default 1.5 GiB, configurable */
    uint64_t total;              /* weights + kv_cache + buffers + reserve */
    uint64_t budget;             /* dedicated memory the plan was checked against */
    char reason[256];            /* why this model / context / nothing was chosen */
} gr_fit_plan;

/* Intended API (not implemented yet; do not declare until it exists):
 *   const gr_model_profile *gr_registry_find(const char *id);
 *   gr_status gr_registry_profile_from_gguf(const gr_gguf *g, gr_model_profile *out, ...);
 *   gr_status gr_fit_plan_make(const gr_model_profile *const *candidates, size_t n, const gr_probe *hw,
 *                              int n_ctx, uint64_t reserve, gr_fit_plan *out, char *err, size_t errlen);
 * Selection: the largest GR_CAP_CONVERSATIONAL, GR_PLACE_LOCAL profile with total <= budget and
 * budget >= min_memory; otherwise shrink n_ctx; otherwise model = NULL. */

#endif
