/* runtime_check.h — the runtime speed check (issue 4): measure the first decoded tokens and, when the
 * device is far below the expected decode speed (the wrong-GPU or memory-spill cliff: 15 -> 2 tok/s),
 * mark the local engine degraded in the router so features route per its policy (cloud fallback or
 * unavailable). Expected speed (memory-bound decode):
 *   bytes/token = resident weights (every tensor except the PLE table) + one PLE row
 *                 + KV cache at the current context (gr_plan_kv_bytes with n_batch 1)
 *   expected tok/s = measured read bandwidth (gr_probe_mem_bandwidth) / bytes/token
 * or given by configuration. It is fed finished generations (gr_result timings: gen_tok_s over the
 * completion tokens after the first), not per-token timestamps: no sink wrapper, works for every
 * caller of generate(). It must not run generations itself or route anything: the router decides.
 *
 * Thread safety: a gr_runtime_check is plain data owned by one thread (the one finishing
 * generations); the router it updates is thread-safe. */
#ifndef GR_LAYER_RUNTIME_CHECK_H
#define GR_LAYER_RUNTIME_CHECK_H

#include "engine/engine.h"
#include "layer/router.h"
#include "model/model.h"

#define GR_RTCHECK_DEFAULT_TOKENS 16
#define GR_RTCHECK_DEFAULT_THRESHOLD 0.25

typedef enum gr_rtcheck_state {
    GR_RTCHECK_PENDING = 0, /* fewer than n_tokens decoded tokens seen */
    GR_RTCHECK_OK,
    GR_RTCHECK_DEGRADED
} gr_rtcheck_state;

typedef struct gr_rtcheck_opts {
    double expected_tok_s; /* > 0, required */
    int n_tokens;          /* decoded tokens (after the first) to measure; 0: 16 */
    double threshold;      /* degraded below threshold * expected; 0: 0.25; must be in (0, 1] */
} gr_rtcheck_opts;

typedef struct gr_runtime_check {
    gr_rtcheck_opts o;
    gr_router *router; /* may be NULL (decide only) */
    gr_rtcheck_state state;
    long tokens;    /* decode intervals seen */
    double seconds; /* their time */
    double measured_tok_s;
    char reason[128];
} gr_runtime_check;

/* GR_E_INVALID_ARG naming the bad option. router is borrowed. */
gr_status gr_rtcheck_init(gr_runtime_check *c, const gr_rtcheck_opts *o, gr_router *router,
                          char *err, size_t errlen);
/* Add `tokens` decoded tokens that took `seconds`. Once the total reaches n_tokens the state is
 * decided (once: later feeds do not change it until reset); DEGRADED sets the router's flag with the
 * reason. Returns the state. Non-positive inputs are ignored. */
gr_rtcheck_state gr_rtcheck_feed(gr_runtime_check *c, long tokens, double seconds);
/* The same from a finished generation: completion_tokens - 1 tokens at timings.gen_tok_s. Results of
 * non-local engines and results without decode timings are ignored. */
gr_rtcheck_state gr_rtcheck_feed_result(gr_runtime_check *c, const gr_result *r);
/* Measure again (e.g. after the device changed): clears the counts and the router's degraded flag. */
void gr_rtcheck_reset(gr_runtime_check *c);
const char *gr_rtcheck_state_str(gr_rtcheck_state s); /* "pending", "ok", "degraded" */

/* Bytes read per decoded token for this model at context position n_ctx (formula above). */
gr_status gr_rtcheck_bytes_per_token(const gr_model *m, uint32_t n_ctx, uint64_t *bytes, char *err,
                                     size_t errlen);
/* Expected tok/s = bandwidth / bytes per token; bandwidth 0: probed with n_threads (written to
 * *bandwidth_out when not NULL). */
gr_status gr_rtcheck_expected_tok_s(const gr_model *m, uint32_t n_ctx, int n_threads,
                                    double bandwidth, double *tok_s, double *bandwidth_out,
                                    char *err, size_t errlen);

#endif
