/* runtime_check.c — the runtime speed check (see runtime_check.h for the formula). Only arithmetic
 * over timings and one router flag: it must not run generations or choose routes itself. */
#include "layer/runtime_check.h"

#include "core/error.h"
#include "layer/plan.h"
#include "layer/probe.h"
#include "layer/registry.h"

#include <stdio.h>

gr_status gr_rtcheck_init(gr_runtime_check *c, const gr_rtcheck_opts *o, gr_router *router,
                          char *err, size_t errlen) {
    if (!c || !o) return gr_err(GR_E_INVALID_ARG, err, errlen, "runtime check: NULL argument");
    gr_rtcheck_opts n = *o;
    if (!(n.expected_tok_s > 0) || n.expected_tok_s > 1e9)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "expected_tok_s: %g is not a positive speed",
                      n.expected_tok_s);
    if (!n.n_tokens) n.n_tokens = GR_RTCHECK_DEFAULT_TOKENS;
    if (n.n_tokens < 1 || n.n_tokens > 1000000)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "n_tokens: %d is not in 1..1000000",
                      n.n_tokens);
    if (n.threshold == 0) n.threshold = GR_RTCHECK_DEFAULT_THRESHOLD;
    if (!(n.threshold > 0 && n.threshold <= 1))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "threshold: %g is not in (0, 1]",
                      n.threshold);
    *c = (gr_runtime_check){.o = n, .router = router};
    return GR_OK;
}

static void decide(gr_runtime_check *c) {
    c->measured_tok_s = c->tokens / c->seconds;
    const double ratio = c->measured_tok_s / c->o.expected_tok_s;
    if (ratio >= c->o.threshold) {
        c->state = GR_RTCHECK_OK;
        snprintf(c->reason, sizeof c->reason, "decode %.1f tok/s is %.0f%% of the expected %.1f tok/s",
                 c->measured_tok_s, ratio * 100, c->o.expected_tok_s);
        return;
    }
    c->state = GR_RTCHECK_DEGRADED;
    snprintf(c->reason, sizeof c->reason,
             "decode %.1f tok/s is %.0f%% of the expected %.1f tok/s (memory spill or wrong "
             "device?)",
             c->measured_tok_s, ratio * 100, c->o.expected_tok_s);
    if (c->router) gr_router_set_local_degraded(c->router, true, c->reason);
}

gr_rtcheck_state gr_rtcheck_feed(gr_runtime_check *c, long tokens, double seconds) {
    if (!c) return GR_RTCHECK_PENDING;
    if (c->state != GR_RTCHECK_PENDING || tokens <= 0 || !(seconds > 0)) return c->state;
    c->tokens += tokens;
    c->seconds += seconds;
    if (c->tokens >= c->o.n_tokens) decide(c);
    return c->state;
}

gr_rtcheck_state gr_rtcheck_feed_result(gr_runtime_check *c, const gr_result *r) {
    if (!c) return GR_RTCHECK_PENDING;
    if (!r || strcmp(r->engine, "local") || r->usage.completion_tokens < 2 ||
        !(r->timings.gen_tok_s > 0))
        return c->state;
    const long n = r->usage.completion_tokens - 1; /* gen_tok_s excludes the first token */
    return gr_rtcheck_feed(c, n, n / r->timings.gen_tok_s);
}

void gr_rtcheck_reset(gr_runtime_check *c) {
    if (!c) return;
    c->state = GR_RTCHECK_PENDING;
    c->tokens = 0;
    c->seconds = 0;
    c->measured_tok_s = 0;
    c->reason[0] = '\0';
    if (c->router) gr_router_set_local_degraded(c->router, false, NULL);
}

const char *gr_rtcheck_state_str(gr_rtcheck_state s) {
    switch (s) {
    case GR_RTCHECK_PENDING: return "pending";
    case GR_RTCHECK_OK: return "ok";
    case GR_RTCHECK_DEGRADED: return "degraded";
    }
    return "unknown";
}

gr_status gr_rtcheck_bytes_per_token(const gr_model *m, uint32_t n_ctx, uint64_t *bytes, char *err,
                                     size_t errlen) {
    if (!m || !bytes) return gr_err(GR_E_INVALID_ARG, err, errlen, "model or bytes: NULL");
    gr_model_profile p;
    gr_status s = gr_registry_from_gguf(gr_model_gguf(m), "model", &p, err, errlen);
    if (s) return s;
    if (!n_ctx) n_ctx = 1;
    /* every weight except the PLE table is read per token; of the table, one row */
    *bytes = p.resident_bytes[p.file_quant] + p.ple_row_bytes[p.file_quant] +
             gr_plan_kv_bytes(&p.cfg, n_ctx, 1);
    return GR_OK;
}

gr_status gr_rtcheck_expected_tok_s(const gr_model *m, uint32_t n_ctx, int n_threads,
                                    double bandwidth, double *tok_s, double *bandwidth_out,
                                    char *err, size_t errlen) {
    if (!tok_s) return gr_err(GR_E_INVALID_ARG, err, errlen, "tok_s: NULL");
    *tok_s = 0;
    uint64_t bytes = 0;
    gr_status s = gr_rtcheck_bytes_per_token(m, n_ctx, &bytes, err, errlen);
    if (!s && !(bandwidth > 0))
        s = gr_probe_mem_bandwidth(n_threads, 0, &bandwidth, err, errlen);
    if (s) return s;
    if (bandwidth_out) *bandwidth_out = bandwidth;
    *tok_s = bandwidth / (double)(bytes ? bytes : 1);
    return GR_OK;
}
