/* model.h — a loaded Gemma 3 / Gemma 4 text model (weights used in place from the GGUF mapping) and
 * an inference context (KV cache, scratch, thread pool) that runs the forward pass on the CPU.
 *
 * Thread safety: a gr_model is immutable after load and may be shared by several contexts on
 * different threads. A gr_context is used by one thread at a time.
 * Allocation: gr_context_new allocates everything; gr_context_eval never allocates.
 */
#ifndef GR_MODEL_MODEL_H
#define GR_MODEL_MODEL_H

#include "core/cancel.h"
#include "gemrun.h"
#include "gguf/gguf.h"
#include "model/config.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_model gr_model;
typedef struct gr_context gr_context;

/* Opens the file, reads the config and binds every tensor, checking presence, type and shape.
 * Errors: GR_E_UNSUPPORTED (architecture or tensor type), GR_E_FORMAT (missing / mis-shaped tensor,
 * bad metadata; the message names the tensor or key), GR_E_IO. */
gr_status gr_model_load(const char *path, gr_model **out, char *err, size_t errlen);
void gr_model_free(gr_model *m);
const gr_gemma_config *gr_model_config(const gr_model *m);
const gr_gguf *gr_model_gguf(const gr_model *m);

typedef struct {
    uint32_t n_ctx;   /* KV cache length in tokens (0: min(4096, trained context)) */
    uint32_t n_batch; /* prompt tokens per forward chunk */
    int n_threads;    /* >= 1 */
    int isa;          /* gr_isa; GR_ISA_BEST (-1) by default */
    bool all_logits;  /* keep logits of every token of an eval call (then n <= n_batch per call) */
} gr_context_params;

gr_context_params gr_context_default_params(void);

gr_status gr_context_new(const gr_model *m, const gr_context_params *p, gr_context **out,
                         char *err, size_t errlen);
void gr_context_free(gr_context *c);

/* Evaluates n tokens at positions n_past .. n_past+n-1 (prefill in chunks of n_batch). The cancel
 * token is checked between chunks and between layers. GR_E_CONTEXT_FULL if n_past + n > n_ctx;
 * GR_E_INVALID_ARG for a token id outside the vocabulary (or n > n_batch with all_logits).
 * On any error the cache is rolled back to the n_past it had before the call. */
gr_status gr_context_eval(gr_context *c, const int32_t *tokens, uint32_t n, const gr_cancel *cancel,
                          char *err, size_t errlen);

/* n_vocab logits: i = -1 is the last token of the last successful eval call; i >= 0 (index in that
 * call) only with all_logits. NULL when not available. */
const float *gr_context_logits(const gr_context *c, int32_t i);
uint32_t gr_context_n_past(const gr_context *c);
uint32_t gr_context_n_ctx(const gr_context *c);
/* Bytes of scratch gr_context_new allocates besides the KV cache, for a config and parameters;
 * qa_stride = bytes of the widest quantized input row. The fit plan uses this (same buffer list). */
uint64_t gr_context_scratch_bytes(const gr_gemma_config *g, uint32_t n_ctx, uint32_t n_batch,
                                  int n_threads, size_t qa_stride);
/* Forget tokens from position n_past on (n_past >= current: no-op). Sliding-window layers keep a
 * ring buffer, so going back further than the ring still holds for the window is impossible; the
 * context is then reset to n_past 0 (callers check gr_context_n_past afterwards). */
void gr_context_truncate(gr_context *c, uint32_t n_past);

#endif
