/* kvcache.c — allocation and bookkeeping of the F16 KV cache (see kvcache.h). Must not compute
 * attention or allocate after init. */
#include "model/kvcache.h"

#include "core/error.h"

#include <stdlib.h>
#include <string.h>

gr_status gr_kvcache_init(gr_kvcache *kv, const gr_gemma_config *c, uint32_t n_ctx,
                          uint32_t n_batch, char *err, size_t errlen) {
    memset(kv, 0, sizeof *kv);
    kv->n_layer = c->n_layer;
    size_t total = 0;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        gr_kv_layer *L = &kv->layer[l];
        L->row = c->n_head_kv[l] * gr_layer_head_dim(c, l);
        if (gr_kv_source_layer(c, l) != l) continue;
        uint64_t cells = n_ctx;
        if (c->is_swa[l] && (uint64_t)c->sliding_window + n_batch < cells)
            cells = (uint64_t)c->sliding_window + n_batch;
        L->n_cells = (uint32_t)cells;
        total += 2 * (size_t)cells * L->row;
    }
    kv->mem = total ? malloc(total * sizeof(uint16_t)) : NULL;
    if (total && !kv->mem)
        return gr_err(GR_E_NOMEM, err, errlen, "KV cache: cannot allocate %zu MiB",
                      total * 2 >> 20);
    /* Zero so stale cells can never hold NaN bit patterns that leak through a 0 weight. */
    if (total) memset(kv->mem, 0, total * sizeof(uint16_t));
    kv->bytes = total * sizeof(uint16_t);
    uint16_t *p = kv->mem;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        gr_kv_layer *L = &kv->layer[l];
        if (gr_kv_source_layer(c, l) != l) continue;
        L->k = p;
        p += (size_t)L->n_cells * L->row;
        L->v = p;
        p += (size_t)L->n_cells * L->row;
    }
    for (uint32_t l = 0; l < c->n_layer; l++) {
        uint32_t src = gr_kv_source_layer(c, l);
        if (src != l) kv->layer[l] = (gr_kv_layer){kv->layer[src].k, kv->layer[src].v,
                                                   kv->layer[src].n_cells, kv->layer[src].row};
    }
    return GR_OK;
}

void gr_kvcache_free(gr_kvcache *kv) {
    free(kv->mem);
    kv->mem = NULL;
}

int gr_kvcache_can_truncate(const gr_kvcache *kv, const gr_gemma_config *c, uint32_t n_past) {
    for (uint32_t l = 0; l < c->n_layer; l++) {
        const gr_kv_layer *L = &kv->layer[l];
        if (!c->is_swa[l] || !L->k) continue;
        /* The next query (at n_past) needs positions n_past-W+1 .. n_past-1 intact; position p was
         * overwritten once anything at p + n_cells or later was written. */
        uint64_t need_lo = n_past + 1 > c->sliding_window ? n_past + 1 - c->sliding_window : 0;
        if ((uint64_t)kv->hi_written > need_lo + L->n_cells) return 0;
    }
    return 1;
}
