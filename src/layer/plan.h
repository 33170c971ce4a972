/* plan.h — the fit plan: will this model, at this context, fit in this much memory? Every term in
 * bytes so `gemrun plan` can print the arithmetic before anything loads:
 *   weights  resident tensor bytes (the PLE table counts one row per context token, not whole)
 *   kv       F16 K and V per layer that owns a cache: full layers n_ctx cells, sliding layers
 *            min(n_ctx, window + n_batch), KV-shared layers none (what gr_kvcache_init allocates)
 *   buffers  what gr_context_new allocates besides the cache (activations for n_batch tokens,
 *            quantized-activation rows, attention scores, logits) plus the tokenizer tables
 *   reserve  runtime, OS and host headroom (default 1.5 GiB)
 * Selection: the largest automatically selectable conversational model (GR_PLACE_AUTO) whose
 * min_memory the budget meets and whose total fits; otherwise the largest such model at a shrunk
 * context (multiple of 256, at least 512); otherwise none (route to cloud). The reason says which.
 * Must not allocate model memory or load weights. Thread safety: reentrant. */
#ifndef GR_LAYER_PLAN_H
#define GR_LAYER_PLAN_H

#include "layer/registry.h"

typedef struct gr_plan_opts {
    uint64_t budget;  /* memory the plan must fit in (bytes); 0: not given (error) */
    uint64_t reserve; /* bytes; UINT64_MAX: default 1.5 GiB */
    uint32_t n_ctx;   /* requested context; 0: 4096 */
    uint32_t n_batch; /* 0: 512 (gemrun run's default) */
    int n_threads;    /* 0: 2 */
    gr_quant quant;   /* format for registry profiles (files use their own) */
} gr_plan_opts;

#define GR_PLAN_DEFAULT_RESERVE (3ull * 512ull * 1024ull * 1024ull)
#define GR_PLAN_MIN_CTX 512u

typedef struct gr_fit_plan {
    bool fits;         /* false: no local model (route to cloud) */
    char model_id[64]; /* chosen (or examined) model; "" when none */
    gr_quant quant;
    uint32_t n_ctx; /* context the plan was made for (may be shrunk) */
    uint32_t n_ctx_requested;
    uint64_t weights, kv_cache, buffers, reserve, total, budget;
    char reason[320];
} gr_fit_plan;

gr_plan_opts gr_plan_default_opts(void);

/* The four terms for one profile at n_ctx (no decision). */
uint64_t gr_plan_kv_bytes(const gr_gemma_config *c, uint32_t n_ctx, uint32_t n_batch);
uint64_t gr_plan_buffer_bytes(const gr_gemma_config *c, uint32_t n_ctx, uint32_t n_batch,
                              int n_threads);
void gr_plan_estimate(const gr_model_profile *p, const gr_plan_opts *o, uint32_t n_ctx,
                      gr_fit_plan *out);

/* One given model: fits at the requested context, or at a shrunk one, or not at all (fits = false,
 * reason says why). Errors only for bad options (GR_E_INVALID_ARG naming the field). */
gr_status gr_plan_for_profile(const gr_model_profile *p, const gr_plan_opts *o, gr_fit_plan *out,
                              char *err, size_t errlen);
/* Automatic selection over the registry (see above). */
gr_status gr_plan_select(const gr_plan_opts *o, gr_fit_plan *out, char *err, size_t errlen);

/* JSON object of the plan (malloc'ed; NULL on no memory). */
char *gr_plan_to_json(const gr_fit_plan *p);

#endif
