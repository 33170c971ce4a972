/* api.c — the public wrappers declared in include/gemrun.h (generator, job queue, router decision,
 * plan and probe as JSON) over the internal modules. Only translation between public and internal
 * types lives here: it must not add behaviour the internal modules do not have. Every engine it
 * creates is wrapped in the structured-output pipeline (layer/structured.h), which passes free-text
 * requests straight through. */
#include "gemrun.h"

#include "core/error.h"
#include "engine/engine_local.h"
#include "layer/plan.h"
#include "layer/probe.h"
#include "layer/queue.h"
#include "layer/router.h"
#include "layer/runtime_check.h"
#include "layer/structured.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(GR_OUT_TEXT == GR_OUTPUT_TEXT && GR_OUT_JSON == GR_OUTPUT_JSON &&
                   GR_OUT_JSON_SCHEMA == GR_OUTPUT_JSON_SCHEMA && GR_OUT_MERMAID == GR_OUTPUT_MERMAID &&
                   GR_OUT_SVG == GR_OUTPUT_SVG,
               "public output kinds mirror gr_output_kind");

void gr_free(void *p) {
    free(p);
}

void gr_gen_output_clear(gr_gen_output *o) {
    if (!o) return;
    free(o->text);
    memset(o, 0, sizeof *o);
}

/* ---- translation --------------------------------------------------------------------------------
 */

static gr_status to_request(const gr_msg *msgs, size_t n, const gr_gen_opts *o, gr_message *tmp,
                            gr_request *req, char *err, size_t errlen) {
    if (!msgs || !n) return gr_err(GR_E_INVALID_ARG, err, errlen, "messages: none given");
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].role < GR_MSG_SYSTEM || msgs[i].role > GR_MSG_MODEL)
            return gr_err(GR_E_INVALID_ARG, err, errlen, "messages[%zu].role: %d is not a role", i,
                          msgs[i].role);
        tmp[i] = (gr_message){.role = (gr_chat_role)msgs[i].role,
                              .text = msgs[i].text ? msgs[i].text : ""};
    }
    gr_gen_opts d = {0};
    if (!o) o = &d;
    *req = (gr_request){.messages = tmp, .n_messages = n, .max_tokens = o->max_tokens};
    req->sampling = (gr_sampling){
        .temperature = o->temperature, .top_k = o->top_k, .top_p = o->top_p, .seed = o->seed};
    if (o->timeout_s > 0) req->deadline = gr_now() + o->timeout_s;
    if (o->output < GR_OUT_TEXT || o->output > GR_OUT_SVG)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "opts.output: %d is not a GR_OUT_* kind",
                      o->output);
    if (o->output == GR_OUT_JSON_SCHEMA && (!o->schema || !*o->schema))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "opts.schema: required with GR_OUT_JSON_SCHEMA");
    req->output = (gr_output_constraint){(gr_output_kind)o->output,
                                         o->output == GR_OUT_JSON_SCHEMA ? o->schema : NULL};
    return GR_OK;
}

static void to_output(const gr_result *r, bool take_text, gr_gen_output *out) {
    memset(out, 0, sizeof *out);
    out->status = r->status;
    out->finish = gr_finish_str(r->finish);
    if (take_text)
        out->text = r->text;
    else if (r->text && (out->text = malloc(r->text_len + 1)))
        memcpy(out->text, r->text, r->text_len + 1);
    out->text_len = out->text ? r->text_len : 0;
    out->prompt_tokens = r->usage.prompt_tokens;
    out->completion_tokens = r->usage.completion_tokens;
    out->ttft_ms = r->timings.ttft_ms;
    out->prompt_tok_s = r->timings.prompt_tok_s;
    out->gen_tok_s = r->timings.gen_tok_s;
    out->total_ms = r->timings.total_ms;
    snprintf(out->model, sizeof out->model, "%s", r->model);
    snprintf(out->error, sizeof out->error, "%s", r->error);
    snprintf(out->engine, sizeof out->engine, "%s", r->engine);
}

static gr_status engine_from(const gr_generator_params *p, gr_engine **out, char *err,
                             size_t errlen) {
    if (!p || !p->model) return gr_err(GR_E_INVALID_ARG, err, errlen, "params.model: required");
    gr_local_config c = {
        .model = p->model, .n_ctx = p->n_ctx, .n_batch = p->n_batch, .n_threads = p->n_threads};
    gr_engine *local = NULL;
    gr_status s = gr_local_engine_new(&c, &local, err, errlen);
    if (s) return s;
    s = gr_structured_engine_new(local, NULL, NULL, out, err, errlen);
    if (s) gr_engine_destroy(local);
    return s;
}

/* ---- generator ----------------------------------------------------------------------------------
 */

struct gr_generator {
    gr_engine *e;
};

gr_status gr_generator_new(const gr_generator_params *p, gr_generator **out, char *err,
                           size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "out: NULL");
    *out = NULL;
    gr_generator *g = calloc(1, sizeof *g);
    if (!g) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_status s = engine_from(p, &g->e, err, errlen);
    if (s) {
        free(g);
        return s;
    }
    *out = g;
    return GR_OK;
}

gr_status gr_generator_chat(gr_generator *g, const gr_msg *msgs, size_t n, const gr_gen_opts *o,
                            gr_text_fn fn, void *user, gr_gen_output *out) {
    if (!out) return GR_E_INVALID_ARG;
    memset(out, 0, sizeof *out);
    gr_message *tmp = calloc(n ? n : 1, sizeof *tmp);
    gr_request req;
    gr_status s = !g ? gr_err(GR_E_INVALID_ARG, out->error, sizeof out->error, "generator: NULL")
                  : !tmp ? gr_err(GR_E_NOMEM, out->error, sizeof out->error, "out of memory")
                         : to_request(msgs, n, o, tmp, &req, out->error, sizeof out->error);
    if (s) {
        free(tmp);
        out->status = s;
        out->finish = "error";
        return s;
    }
    gr_result r;
    s = gr_engine_generate(g->e, &req, fn, user, NULL, &r);
    to_output(&r, true, out);
    free(tmp);
    return s;
}

void gr_generator_free(gr_generator *g) {
    if (!g) return;
    gr_engine_destroy(g->e);
    free(g);
}

char *gr_generator_last_report(gr_generator *g) {
    gr_structured_report *r = g ? malloc(sizeof *r) : NULL;
    bool have = r && gr_structured_last_report(g->e, r) == GR_OK;
    char *json = have ? gr_structured_report_json(r) : NULL;
    free(r);
    return json;
}

gr_status gr_output_validate(int output, const char *schema, const char *text, size_t len,
                             char **out, char *err, size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "out: NULL");
    *out = NULL;
    if (output < GR_OUT_TEXT || output > GR_OUT_SVG)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "output: %d is not a GR_OUT_* kind", output);
    gr_output_constraint oc = {(gr_output_kind)output, schema};
    return gr_structured_check(&oc, text, len, out, NULL, NULL, err, errlen);
}

/* ---- job queue ----------------------------------------------------------------------------------
 */

struct gr_job_queue {
    gr_queue *q;
    gr_generator_params p;
};

struct gr_job {
    gr_task *t;
    gr_gen_output out;
    bool have_out;
    pthread_mutex_t mu;
};

static gr_status factory(void *user, gr_engine **out, char *err, size_t errlen) {
    return engine_from(&((gr_job_queue *)user)->p, out, err, errlen);
}

gr_status gr_job_queue_new(const gr_generator_params *p, size_t max_pending, gr_job_queue **out,
                           char *err, size_t errlen) {
    if (!out || !p || !p->model)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "params.model and out: required");
    *out = NULL;
    gr_job_queue *jq = calloc(1, sizeof *jq);
    if (!jq) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    jq->p = *p;
    gr_queue_config c = {.factory = factory, .factory_user = jq, .max_pending = max_pending};
    gr_status s = gr_queue_new(&c, &jq->q, err, errlen);
    if (s) {
        free(jq);
        return s;
    }
    *out = jq;
    return GR_OK;
}

gr_status gr_job_submit(gr_job_queue *q, const gr_msg *msgs, size_t n, const gr_gen_opts *o,
                        gr_text_fn fn, void *user, gr_job **out, char *err, size_t errlen) {
    if (!q || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "queue and out: required");
    *out = NULL;
    gr_message *tmp = calloc(n ? n : 1, sizeof *tmp);
    gr_job *j = calloc(1, sizeof *j);
    gr_request req;
    gr_status s = !tmp || !j ? gr_err(GR_E_NOMEM, err, errlen, "out of memory")
                             : to_request(msgs, n, o, tmp, &req, err, errlen);
    gr_task_opts to = {.sink = fn, .sink_user = user};
    if (!s) s = gr_queue_submit(q->q, &req, &to, &j->t, err, errlen); /* deep-copies req */
    free(tmp);
    if (s) {
        free(j);
        return s;
    }
    pthread_mutex_init(&j->mu, NULL);
    *out = j;
    return GR_OK;
}

void gr_job_cancel(gr_job *j) {
    if (j) gr_task_cancel(j->t);
}

void gr_job_wait(gr_job *j) {
    if (j) gr_task_wait(j->t);
}

int gr_job_done(gr_job *j) {
    return j && gr_task_state_of(j->t) == GR_TASK_DONE;
}

const gr_gen_output *gr_job_output(gr_job *j) {
    if (!j) return NULL;
    const gr_result *r = gr_task_result(j->t);
    if (!r) return NULL;
    pthread_mutex_lock(&j->mu);
    if (!j->have_out) to_output(r, false, &j->out), j->have_out = true;
    pthread_mutex_unlock(&j->mu);
    return &j->out;
}

void gr_job_release(gr_job *j) {
    if (!j) return;
    gr_task_release(j->t);
    gr_gen_output_clear(&j->out);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void gr_job_queue_free(gr_job_queue *q) {
    if (!q) return;
    gr_queue_free(q->q);
    free(q);
}

/* ---- router -------------------------------------------------------------------------------------
 */

void gr_router_set_local(gr_router *r, int loaded) {
    gr_router_set_local_loaded(r, loaded != 0);
}

void gr_router_set_cloud_state(gr_router *r, int configured, int reachable) {
    gr_router_set_cloud(r, configured != 0, reachable != 0);
}

const char *gr_router_decide(gr_router *r, const char *feature, char *reason, size_t cap) {
    gr_route_decision d;
    gr_route rt = gr_router_route(r, feature, &d);
    if (reason && cap) snprintf(reason, cap, "%s", d.reason);
    return gr_route_str(rt);
}

/* ---- plan and probe -----------------------------------------------------------------------------
 */

static gr_status profile_for(const char *model, gr_model_profile *p, char *err, size_t errlen) {
    if (gr_registry_get(model, p, NULL, 0) == GR_OK) return GR_OK;
    gr_gguf *g = NULL;
    gr_status s = gr_gguf_open(model, &g, err, errlen);
    if (s == GR_E_IO)
        return gr_err(GR_E_NOT_FOUND, err, errlen,
                      "model: '%s' is neither a registry id nor a "
                      "readable GGUF file",
                      model);
    if (!s) {
        const char *base = strrchr(model, '/');
        s = gr_registry_from_gguf(g, base ? base + 1 : model, p, err, errlen);
    }
    gr_gguf_close(g);
    return s;
}

gr_status gr_plan_json(const char *model, unsigned long long memory_bytes, unsigned n_ctx,
                       char **json, char *err, size_t errlen) {
    if (!json) return gr_err(GR_E_INVALID_ARG, err, errlen, "json: NULL");
    *json = NULL;
    gr_plan_opts o = gr_plan_default_opts();
    o.budget = memory_bytes;
    if (n_ctx) o.n_ctx = n_ctx;
    if (!o.budget) {
        gr_probe pr;
        if (gr_probe_run(&pr, NULL, err, errlen) || !pr.ram_available)
            return gr_err(GR_E_NOT_FOUND, err, errlen, "memory: not given and not probed");
        o.budget = pr.ram_available;
    }
    gr_fit_plan plan;
    gr_status s;
    if (model) {
        gr_model_profile p;
        s = profile_for(model, &p, err, errlen);
        if (!s) s = gr_plan_for_profile(&p, &o, &plan, err, errlen);
    } else {
        s = gr_plan_select(&o, &plan, err, errlen);
    }
    if (s) return s;
    *json = gr_plan_to_json(&plan);
    return *json ? GR_OK : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
}

char *gr_probe_json(void) {
    gr_probe p;
    if (gr_probe_run(&p, NULL, NULL, 0) != GR_OK) return NULL;
    return gr_probe_to_json(&p);
}

/* ---- runtime speed check ------------------------------------------------------------------------
 */

gr_status gr_expected_decode_tok_s(const gr_model *m, unsigned n_ctx, int n_threads, double *tok_s,
                                   double *bandwidth, char *err, size_t errlen) {
    return gr_rtcheck_expected_tok_s(m, n_ctx, n_threads, 0, tok_s, bandwidth, err, errlen);
}

gr_status gr_router_check_speed(gr_router *r, const gr_gen_output *outs, size_t n,
                                double expected_tok_s, int n_tokens, double threshold,
                                int *verdict, char *reason, size_t cap, char *err, size_t errlen) {
    if (!verdict || (n && !outs))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "verdict or outs: NULL");
    *verdict = 0;
    if (reason && cap) reason[0] = '\0';
    gr_rtcheck_opts o = {.expected_tok_s = expected_tok_s, .n_tokens = n_tokens,
                         .threshold = threshold};
    gr_runtime_check c;
    gr_status s = gr_rtcheck_init(&c, &o, NULL, err, errlen);
    if (s) return s;
    for (size_t i = 0; i < n; i++)
        if (outs[i].completion_tokens > 1 && outs[i].gen_tok_s > 0)
            gr_rtcheck_feed(&c, outs[i].completion_tokens - 1,
                            (outs[i].completion_tokens - 1) / outs[i].gen_tok_s);
    if (c.state == GR_RTCHECK_PENDING) return GR_OK;
    *verdict = c.state == GR_RTCHECK_OK ? 1 : -1;
    if (reason && cap) snprintf(reason, cap, "%s", c.reason);
    if (r) gr_router_set_local_degraded(r, *verdict < 0, c.reason);
    return GR_OK;
}
