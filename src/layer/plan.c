/* plan.c — fit-plan arithmetic and model selection (see plan.h). The buffer term mirrors what
 * gr_context_new allocates (src/model/forward.c alloc_scratch, src/model/kvcache.c); keep them in
 * step. Must not load or allocate model memory. */
#include "layer/plan.h"

#include "core/error.h"
#include "model/model.h"
#include "tensor/types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GIB_D (1024.0 * 1024.0 * 1024.0)
#define MAX_BUDGET (1ull << 50) /* 1 PiB: anything above is a unit mistake */
#define MAX_CTX (1u << 22)
#define PAGE 4096ull

gr_plan_opts gr_plan_default_opts(void) {
    return (gr_plan_opts){.budget = 0,
                          .reserve = GR_PLAN_DEFAULT_RESERVE,
                          .n_ctx = 4096,
                          .n_batch = 512,
                          .n_threads = 2,
                          .quant = GR_QUANT_Q4_0};
}

uint64_t gr_plan_kv_bytes(const gr_gemma_config *c, uint32_t n_ctx, uint32_t n_batch) {
    uint64_t halves = 0;
    if (n_batch > n_ctx) n_batch = n_ctx;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        if (c->n_kv_shared && l >= c->n_layer - c->n_kv_shared) continue; /* reads a donor's */
        uint64_t cells = n_ctx;
        if (c->is_swa[l] && (uint64_t)c->sliding_window + n_batch < cells)
            cells = (uint64_t)c->sliding_window + n_batch;
        halves += 2 * cells * c->n_head_kv[l] * gr_layer_head_dim(c, l);
    }
    return halves * 2;
}

static uint64_t max3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* What gr_context_new allocates besides the KV cache (the model's own buffer list), with the
 * quantized input rows estimated at Q8_0 size, plus the GELU table and the tokenizer's tables. */
uint64_t gr_plan_buffer_bytes(const gr_gemma_config *c, uint32_t n_ctx, uint32_t n_batch,
                              int n_threads) {
    uint64_t widest = c->n_embd;
    for (uint32_t l = 0; l < c->n_layer; l++) widest = c->n_ff[l] > widest ? c->n_ff[l] : widest;
    const uint64_t hd = c->head_dim > c->head_dim_swa ? c->head_dim : c->head_dim_swa;
    widest = max3(widest, (uint64_t)c->n_head * hd, (uint64_t)c->n_layer * c->n_embd_per_layer);
    widest = widest > c->n_ff_exp ? widest : c->n_ff_exp;
    const uint64_t qa =
        (gr_row_size(GR_TYPE_Q8_0, (int64_t)((widest + 31) / 32 * 32)) + 63) & ~63ull;
    return gr_context_scratch_bytes(c, n_ctx, n_batch, n_threads, (size_t)qa) + 65536 * 4 +
           (uint64_t)c->n_vocab * 48;
}

void gr_plan_estimate(const gr_model_profile *p, const gr_plan_opts *o, uint32_t n_ctx,
                      gr_fit_plan *out) {
    const gr_quant q = p->from_file ? p->file_quant : o->quant;
    out->quant = q;
    out->n_ctx = n_ctx;
    snprintf(out->model_id, sizeof out->model_id, "%s", p->id);
    /* PLE rows: at most one per context token (distinct ids), whole pages */
    uint64_t ple_rows = n_ctx < p->cfg.n_vocab ? n_ctx : p->cfg.n_vocab;
    uint64_t ple =
        p->ple_row_bytes[q] ? ple_rows * ((p->ple_row_bytes[q] + PAGE - 1) / PAGE * PAGE) : 0;
    out->weights = p->resident_bytes[q] + ple;
    out->kv_cache = gr_plan_kv_bytes(&p->cfg, n_ctx, o->n_batch);
    out->buffers = gr_plan_buffer_bytes(&p->cfg, n_ctx, o->n_batch, o->n_threads);
    out->reserve = o->reserve;
    out->total = out->weights + out->kv_cache + out->buffers + out->reserve;
    out->budget = o->budget;
}

static gr_status check_opts(const gr_plan_opts *o, gr_plan_opts *n, char *err, size_t errlen) {
    if (!o) return gr_err(GR_E_INVALID_ARG, err, errlen, "plan options are NULL");
    *n = *o;
    if (n->reserve == UINT64_MAX) n->reserve = GR_PLAN_DEFAULT_RESERVE;
    if (!n->n_ctx) n->n_ctx = 4096;
    if (!n->n_batch) n->n_batch = 512;
    if (!n->n_threads) n->n_threads = 2;
    if (n->budget == 0)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "memory: must be given and above 0");
    if (n->budget > MAX_BUDGET)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "memory: %.0f GiB is not a plausible amount",
                      (double)n->budget / GIB_D);
    if (n->reserve >= n->budget)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "reserve: %.2f GiB leaves nothing of memory %.2f GiB",
                      (double)n->reserve / GIB_D, (double)n->budget / GIB_D);
    if (n->n_ctx > MAX_CTX)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "ctx: %u is above %u", n->n_ctx, MAX_CTX);
    if (n->n_threads < 1 || n->n_threads > 256)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "threads: %d out of range", n->n_threads);
    if ((unsigned)n->quant >= GR_QUANT_COUNT)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "quant: invalid");
    return GR_OK;
}

/* Largest context (multiple of 256, >= GR_PLAN_MIN_CTX, below `want`) that fits; 0 if none. */
static uint32_t shrink(const gr_model_profile *p, const gr_plan_opts *o, uint32_t want) {
    uint32_t lo = GR_PLAN_MIN_CTX / 256, hi = (want - 1) / 256, best = 0;
    while (lo <= hi) {
        uint32_t mid = (lo + hi) / 2;
        gr_fit_plan t;
        gr_plan_estimate(p, o, mid * 256, &t);
        if (t.total <= o->budget)
            best = mid * 256, lo = mid + 1;
        else
            hi = mid - 1;
    }
    return best;
}

#define G(x) ((double)(x) / GIB_D)

static void fits_at(const gr_model_profile *p, const gr_plan_opts *o, gr_fit_plan *out, bool *fit,
                    bool *shrunk) {
    uint32_t want =
        o->n_ctx > p->cfg.n_ctx_train && p->cfg.n_ctx_train ? p->cfg.n_ctx_train : o->n_ctx;
    gr_plan_estimate(p, o, want, out);
    *fit = out->total <= o->budget;
    *shrunk = false;
    if (*fit || want <= GR_PLAN_MIN_CTX) return;
    uint32_t s = shrink(p, o, want);
    if (!s) return;
    gr_plan_estimate(p, o, s, out);
    *fit = *shrunk = true;
}

gr_status gr_plan_for_profile(const gr_model_profile *p, const gr_plan_opts *o, gr_fit_plan *out,
                              char *err, size_t errlen) {
    gr_plan_opts n;
    gr_status s = check_opts(o, &n, err, errlen);
    if (s) return s;
    if (!p) return gr_err(GR_E_INVALID_ARG, err, errlen, "model: profile is NULL");
    memset(out, 0, sizeof *out);
    out->n_ctx_requested = n.n_ctx;
    bool fit, shrunk;
    fits_at(p, &n, out, &fit, &shrunk);
    out->fits = fit;
    if (fit && !shrunk)
        snprintf(out->reason, sizeof out->reason, "%s (%s) fits at context %u: %.2f of %.2f GiB",
                 p->id, gr_quant_name(out->quant), out->n_ctx, G(out->total), G(n.budget));
    else if (fit)
        snprintf(out->reason, sizeof out->reason,
                 "%s (%s) fits only with the context shrunk from %u to %u: %.2f of %.2f GiB", p->id,
                 gr_quant_name(out->quant), n.n_ctx, out->n_ctx, G(out->total), G(n.budget));
    else {
        /* report the smallest context tried, so the numbers and the reason agree */
        uint32_t least = out->n_ctx < GR_PLAN_MIN_CTX ? out->n_ctx : GR_PLAN_MIN_CTX;
        gr_plan_estimate(p, &n, least, out);
        out->n_ctx_requested = n.n_ctx;
        snprintf(out->reason, sizeof out->reason,
                 "%s (%s) does not fit even at context %u: needs %.2f GiB, %.2f GiB available; "
                 "route to cloud",
                 p->id, gr_quant_name(out->quant), least, G(out->total), G(n.budget));
    }
    return GR_OK;
}

gr_status gr_plan_select(const gr_plan_opts *o, gr_fit_plan *out, char *err, size_t errlen) {
    gr_plan_opts n;
    gr_status s = check_opts(o, &n, err, errlen);
    if (s) return s;
    memset(out, 0, sizeof *out);
    out->n_ctx_requested = n.n_ctx;
    out->budget = n.budget;
    out->reserve = n.reserve;
    gr_model_profile cand[8];
    size_t nc = 0;
    for (size_t i = 0; i < gr_registry_count() && nc < 8; i++) {
        gr_model_profile p;
        if (gr_registry_get(gr_registry_id(i), &p, err, errlen)) return GR_E_INTERNAL;
        if ((p.placement & GR_PLACE_AUTO) && (p.capabilities & GR_CAP_CONVERSATIONAL))
            cand[nc++] = p;
    }
    /* largest first */
    for (size_t i = 1; i < nc; i++)
        for (size_t j = i; j > 0 && cand[j].n_params > cand[j - 1].n_params; j--) {
            gr_model_profile t = cand[j];
            cand[j] = cand[j - 1], cand[j - 1] = t;
        }
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nc; i++) {
            if (n.budget < cand[i].min_memory) continue;
            gr_fit_plan t = {0};
            bool fit, shrunk;
            fits_at(&cand[i], &n, &t, &fit, &shrunk);
            if (!fit || (pass == 0 && shrunk)) continue;
            *out = t;
            out->fits = true;
            out->n_ctx_requested = n.n_ctx;
            snprintf(out->reason, sizeof out->reason,
                     "%s (%s): the largest conversational model for %.2f GiB%s%u; needs %.2f GiB",
                     t.model_id, gr_quant_name(t.quant), G(n.budget),
                     shrunk ? ", with the context shrunk to " : " at context ", t.n_ctx,
                     G(t.total));
            return GR_OK;
        }
    gr_model_profile *small = nc ? &cand[nc - 1] : NULL;
    if (small) gr_plan_estimate(small, &n, GR_PLAN_MIN_CTX, out);
    out->fits = false;
    out->model_id[0] = 0;
    out->n_ctx_requested = n.n_ctx;
    snprintf(out->reason, sizeof out->reason,
             "no local model fits in %.2f GiB (the smallest, %s, needs %.2f GiB of memory at least "
             "and %.2f GiB at context %u); route to cloud",
             G(n.budget), small ? small->id : "-", small ? G(small->min_memory) : 0,
             small ? G(out->total) : 0, GR_PLAN_MIN_CTX);
    return GR_OK;
}

char *gr_plan_to_json(const gr_fit_plan *p) {
    char *s = malloc(1024);
    if (!s) return NULL;
    char reason[2 * sizeof p->reason];
    size_t k = 0;
    for (const char *r = p->reason; *r && k + 2 < sizeof reason; r++) {
        if (*r == '"' || *r == '\\') reason[k++] = '\\';
        reason[k++] = *r;
    }
    reason[k] = 0;
    snprintf(s, 1024,
             "{\"fits\":%s,\"model\":\"%s\",\"quant\":\"%s\",\"n_ctx\":%u,\"n_ctx_requested\":%u,"
             "\"bytes\":{\"weights\":%llu,\"kv_cache\":%llu,\"buffers\":%llu,\"reserve\":%llu,"
             "\"total\":%llu,\"budget\":%llu},\"reason\":\"%s\"}",
             p->fits ? "true" : "false", p->model_id, gr_quant_name(p->quant), p->n_ctx,
             p->n_ctx_requested, (unsigned long long)p->weights, (unsigned long long)p->kv_cache,
             (unsigned long long)p->buffers, (unsigned long long)p->reserve,
             (unsigned long long)p->total, (unsigned long long)p->budget, reason);
    return s;
}
