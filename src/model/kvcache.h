/* kvcache.h — the F16 key/value cache of one context. Layers that own KV get K and V arrays of
 * n_cells rows of n_head_kv*head_dim halves; full-attention layers hold n_ctx cells, sliding layers
 * a ring of min(n_ctx, sliding_window + n_batch) cells (cell = pos % n_cells); KV-shared layers
 * have none and read their donor's. Allocated once; never reallocated. Not thread-safe. */
#ifndef GR_MODEL_KVCACHE_H
#define GR_MODEL_KVCACHE_H

#include "gemrun.h"
#include "model/config.h"
#include <stdint.h>

typedef struct gr_kv_layer {
    uint16_t *k, *v;  /* NULL for KV-shared layers */
    uint32_t n_cells; /* rows */
    uint32_t row;     /* halves per row = n_head_kv * head_dim */
} gr_kv_layer;

typedef struct gr_kvcache {
    uint32_t n_layer;
    gr_kv_layer layer[GR_MAX_LAYERS];
    uint16_t *mem;
    size_t bytes;
    /* Highest position ever written to a sliding ring (+1); bounds how far truncation may go. */
    uint32_t hi_written;
} gr_kvcache;

gr_status gr_kvcache_init(gr_kvcache *kv, const gr_gemma_config *c, uint32_t n_ctx,
                          uint32_t n_batch, char *err, size_t errlen);
void gr_kvcache_free(gr_kvcache *kv);

static inline uint32_t gr_kv_cell(const gr_kv_layer *l, uint32_t pos) { return pos % l->n_cells; }

/* Whether every sliding ring still holds the window that precedes position n_past. */
int gr_kvcache_can_truncate(const gr_kvcache *kv, const gr_gemma_config *c, uint32_t n_past);

#endif
