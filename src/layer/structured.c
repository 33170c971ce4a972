/* structured.c — the structured-output wrapper engine (structured.h): pass-through for free text,
 * and for structured kinds the pipeline answer -> validate -> repair -> fallback -> typed error. It
 * must never hand out text that failed validation, and must not know which engines it wraps. */
#include "layer/structured.h"

#include "core/error.h"
#include "core/json.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#define DEFAULT_SCHEMA_IN_PROMPT 8192

typedef struct structured_engine {
    gr_engine base;
    gr_engine *primary, *fallback;
    gr_structured_opts o;
    atomic_int busy;
    pthread_mutex_t mu; /* guards last / have_last */
    gr_structured_report last;
    bool have_last;
} structured_engine;

/* State of one pipeline run. */
typedef struct run {
    structured_engine *se;
    const gr_request *req;
    gr_cancel *cancel;
    gr_schema *schema;
    gr_structured_report rep;
    gr_usage usage;          /* summed over attempts */
    gr_status engine_status; /* the last engine failure, when no answer validated */
    char engine_err[256];
    char last_invalid[256]; /* the last validation error, "" if none */
    char last_engine[16];
    char invalid_engine[16]; /* the engine that gave the last invalid answer */
    double t0;
} run;

/* ---- the repair turn
 * ----------------------------------------------------------------------------- */

static const char *requirement(gr_output_kind k) {
    switch (k) {
    case GR_OUTPUT_JSON:
        return "valid JSON (RFC 8259)";
    case GR_OUTPUT_JSON_SCHEMA:
        return "valid JSON that matches the JSON Schema below";
    case GR_OUTPUT_MERMAID:
        return "a valid Mermaid diagram (a flowchart/graph or a mindmap)";
    case GR_OUTPUT_SVG:
        return "a well-formed SVG document (one <svg> root element in the "
               "http://www.w3.org/2000/svg "
               "namespace)";
    default:
        return "valid";
    }
}

static const char *noun(gr_output_kind k) {
    switch (k) {
    case GR_OUTPUT_MERMAID:
        return "Mermaid diagram";
    case GR_OUTPUT_SVG:
        return "SVG document";
    default:
        return "JSON";
    }
}

/* The user turn that asks for a corrected answer (malloc'ed). docs/structured.md shows it. */
static char *repair_text(const run *r, const char *error, bool cut_off) {
    const gr_output_constraint *oc = &r->req->output;
    size_t cap = r->se->o.max_schema_in_prompt;
    size_t slen = oc->kind == GR_OUTPUT_JSON_SCHEMA && oc->schema ? strlen(oc->schema) : 0;
    bool trunc = slen > cap;
    if (trunc) slen = cap;
    size_t n = 1024 + strlen(error) + slen;
    char *t = malloc(n);
    if (!t) return NULL;
    int k = snprintf(
        t, n,
        "Your previous answer is not %s.\nError: %s\n%s"
        "Reply again with only the corrected %s: no explanations, no Markdown code fences.",
        requirement(oc->kind), error,
        cut_off ? "The answer was cut off by the length limit: make it shorter.\n" : "",
        noun(oc->kind));
    if (slen && k > 0 && (size_t)k < n)
        snprintf(t + k, n - (size_t)k, "\nJSON Schema:\n%.*s%s", (int)slen, oc->schema,
                 trunc ? "\n(schema truncated)" : "");
    return t;
}

/* The conversation + the invalid answer as the model turn + the repair turn. *msgs and *turn are
 * malloc'ed (free both). */
static gr_status repair_request(const run *r, const char *answer, const char *error, bool cut_off,
                                gr_request *out, gr_message **msgs, char **turn) {
    const gr_request *req = r->req;
    *msgs = malloc((req->n_messages + 2) * sizeof **msgs);
    *turn = repair_text(r, error, cut_off);
    if (!*msgs || !*turn) {
        free(*msgs), free(*turn);
        *msgs = NULL, *turn = NULL;
        return GR_E_NOMEM;
    }
    if (req->n_messages) memcpy(*msgs, req->messages, req->n_messages * sizeof **msgs);
    (*msgs)[req->n_messages] =
        (gr_message){.role = GR_ROLE_MODEL, .text = answer ? answer : ""};
    (*msgs)[req->n_messages + 1] = (gr_message){.role = GR_ROLE_USER, .text = *turn};
    *out = *req;
    out->messages = *msgs;
    out->n_messages = req->n_messages + 2;
    return GR_OK;
}

/* ---- one attempt
 * ----------------------------------------------------------------------------------- */

static gr_structured_attempt *new_attempt(run *r, const gr_result *res, bool fallback, int repair,
                                          double t) {
    gr_structured_attempt *a = &r->rep.attempts[r->rep.n_attempts++];
    memset(a, 0, sizeof *a);
    snprintf(a->engine, sizeof a->engine, "%s", res->engine);
    snprintf(a->model, sizeof a->model, "%s", res->model);
    a->fallback = fallback;
    a->repair = repair;
    a->status = res->status;
    a->finish = res->finish;
    a->usage = res->usage;
    a->ms = (gr_now() - t) * 1e3;
    a->valid = -1;
    r->usage.prompt_tokens += res->usage.prompt_tokens;
    r->usage.completion_tokens += res->usage.completion_tokens;
    snprintf(r->last_engine, sizeof r->last_engine, "%s", res->engine);
    return a;
}

/* Fill the caller's result with the validated answer. */
static void succeed(run *r, gr_result *out, const gr_result *res, char *text, size_t len) {
    memset(out, 0, sizeof *out);
    out->status = GR_OK;
    out->finish = res->finish == GR_FINISH_LENGTH ? GR_FINISH_LENGTH : GR_FINISH_STOP;
    out->text = text;
    out->text_len = len;
    out->usage = r->usage;
    out->timings = res->timings;
    out->timings.total_ms = out->timings.ttft_ms = (gr_now() - r->t0) * 1e3;
    snprintf(out->engine, sizeof out->engine, "%s", res->engine);
    snprintf(out->model, sizeof out->model, "%s", res->model);
    r->rep.used = r->rep.n_attempts - 1;
}

typedef enum step { STEP_VALID, STEP_INVALID, STEP_ENGINE_FAILED, STEP_STOP } step;

/* Run one engine call and judge it. INVALID keeps the answer in *answer (for the repair turn).
 * STOP: the pipeline ends with *stop_status (cancel, deadline, out of memory); its message is in
 * out->error. */
static step attempt(run *r, gr_engine *e, bool fallback, int repair, const gr_request *areq,
                    gr_result *out, char **answer, bool *cut_off, gr_status *stop_status) {
    double t = gr_now();
    gr_result res;
    gr_status s = gr_engine_generate(e, areq, NULL, NULL, r->cancel, &res);
    res.status = s;
    gr_structured_attempt *a = new_attempt(r, &res, fallback, repair, t);
    if (s == GR_E_CANCELLED || s == GR_E_TIMEOUT || s == GR_E_NOMEM) {
        snprintf(a->error, sizeof a->error, "%s", res.error);
        gr_err(s, out->error, sizeof out->error, "%s", res.error[0] ? res.error : gr_status_str(s));
        gr_result_clear(&res);
        *stop_status = s;
        return STEP_STOP;
    }
    if (s != GR_OK) {
        snprintf(a->error, sizeof a->error, "%s", res.error);
        r->engine_status = s;
        gr_err(s, r->engine_err, sizeof r->engine_err, "%s: %s", res.engine, res.error);
        gr_result_clear(&res);
        return STEP_ENGINE_FAILED;
    }
    char *text = NULL;
    size_t len = 0, removed = 0;
    s = gr_structured_check_with(&r->req->output, r->schema, res.text, res.text_len, &text, &len,
                                 &removed, a->error, sizeof a->error);
    if (s == GR_OK) {
        a->valid = 1;
        r->rep.svg_removed = removed;
        succeed(r, out, &res, text, len);
        gr_result_clear(&res);
        return STEP_VALID;
    }
    if (s != GR_E_FORMAT) { /* out of memory or a validator bug: not the model's fault, stop */
        gr_err(s, out->error, sizeof out->error, "validating the answer: %s", a->error);
        gr_result_clear(&res);
        *stop_status = s;
        return STEP_STOP;
    }
    a->valid = 0;
    snprintf(r->last_invalid, sizeof r->last_invalid, "%s", a->error);
    snprintf(r->invalid_engine, sizeof r->invalid_engine, "%s", a->engine);
    *cut_off = res.finish == GR_FINISH_LENGTH;
    *answer = res.text ? res.text : calloc(1, 1);
    res.text = NULL;
    gr_result_clear(&res);
    return STEP_INVALID;
}

/* All attempts on one engine: its first answer, then repairs. */
static step on_engine(run *r, gr_engine *e, bool fallback, int tries, gr_result *out,
                      gr_status *stop_status) {
    char *answer = NULL;
    bool cut_off = false;
    step st = STEP_ENGINE_FAILED;
    for (int k = 0; k < tries; k++) {
        gr_status s = gr_engine_check(r->cancel, r->req);
        if (s != GR_OK) {
            gr_err(s, out->error, sizeof out->error, "%s before attempt %d", gr_status_str(s),
                   r->rep.n_attempts + 1);
            *stop_status = s;
            st = STEP_STOP;
            break;
        }
        gr_request areq = *r->req;
        gr_message *msgs = NULL;
        char *turn = NULL;
        if (k > 0 &&
            repair_request(r, answer, r->last_invalid, cut_off, &areq, &msgs, &turn) != GR_OK) {
            gr_err(GR_E_NOMEM, out->error, sizeof out->error, "out of memory");
            *stop_status = GR_E_NOMEM;
            st = STEP_STOP;
            break;
        }
        char *prev = answer; /* quoted by areq: freed only after the call */
        answer = NULL;
        st = attempt(r, e, fallback, k, &areq, out, &answer, &cut_off, stop_status);
        free(prev);
        free(msgs);
        free(turn);
        if (st != STEP_INVALID) break;
    }
    free(answer);
    return st;
}

/* No answer validated: the typed error (or the engine's own). */
static gr_status give_up(run *r, gr_result *out) {
    if (r->last_invalid[0]) {
        gr_err(GR_E_INVALID_OUTPUT, out->error, sizeof out->error,
               "invalid %s output after %d attempt%s; last error (%s): %s",
               gr_output_kind_str(r->req->output.kind), r->rep.n_attempts,
               r->rep.n_attempts == 1 ? "" : "s", r->invalid_engine, r->last_invalid);
        return GR_E_INVALID_OUTPUT;
    }
    snprintf(out->error, sizeof out->error, "%s", r->engine_err);
    return r->engine_status ? r->engine_status : GR_E_INTERNAL;
}

/* Calls on one engine: its answer plus repairs (0: the default, < 0: none). */
static int tries_of(int repairs, int dflt) {
    repairs = repairs == 0 ? dflt : repairs < 0 ? 0 : repairs;
    return 1 + (repairs > GR_STRUCTURED_MAX_REPAIRS ? GR_STRUCTURED_MAX_REPAIRS : repairs);
}

static gr_status pipeline(run *r, gr_result *out) {
    gr_status stop = GR_OK;
    step st = on_engine(r, r->se->primary, false, tries_of(r->se->o.repairs, 1), out, &stop);
    if (st != STEP_VALID && st != STEP_STOP && r->se->fallback)
        st =
            on_engine(r, r->se->fallback, true, tries_of(r->se->o.fallback_repairs, 0), out, &stop);
    if (st == STEP_VALID) return GR_OK;
    if (st == STEP_STOP) return stop;
    return give_up(r, out);
}

/* ---- the engine ---------------------------------------------------------------------------------
 */

static void save_report(structured_engine *se, const gr_structured_report *rep) {
    pthread_mutex_lock(&se->mu);
    se->last = *rep;
    se->have_last = true;
    pthread_mutex_unlock(&se->mu);
}

static gr_status run_structured(structured_engine *se, const gr_request *req, gr_sink_fn sink,
                                void *user, gr_cancel *cancel, gr_result *out,
                                gr_structured_report *rep) {
    run *r = calloc(1, sizeof *r); /* the report is a few KiB: keep it off small worker stacks */
    if (!r) return gr_err(GR_E_NOMEM, out->error, sizeof out->error, "out of memory");
    *r = (run){.se = se, .req = req, .cancel = cancel, .t0 = gr_now()};
    r->rep.kind = req->output.kind;
    r->rep.used = -1;
    gr_status s =
        gr_structured_compile_schema(&req->output, &r->schema, out->error, sizeof out->error);
    if (s == GR_OK) s = pipeline(r, out);
    gr_schema_free(r->schema);
    if (s != GR_OK) {
        char keep[sizeof out->error];
        snprintf(keep, sizeof keep, "%s", out->error);
        free(out->text);
        memset(out, 0, sizeof *out); /* never leave an invalid answer behind */
        snprintf(out->error, sizeof out->error, "%s", keep);
        snprintf(out->engine, sizeof out->engine, "%s",
                 r->last_engine[0] ? r->last_engine : se->primary->ops->name);
        snprintf(out->model, sizeof out->model, "%s", se->primary->ops->model_id(se->primary));
        out->usage = r->usage;
        out->timings.total_ms = (gr_now() - r->t0) * 1e3;
    } else if (sink && out->text_len) {
        (void)sink(user, out->text,
                   out->text_len); /* the whole answer exists already: nothing to stop */
    }
    out->status = s;
    out->finish = s == GR_OK ? out->finish : gr_finish_for_status(s, false);
    r->rep.status = s;
    *rep = r->rep;
    free(r);
    return s;
}

static gr_status structured_generate(gr_engine *e, const gr_request *req, gr_sink_fn sink,
                                     void *user, gr_cancel *cancel, gr_result *out) {
    structured_engine *se = (structured_engine *)e;
    memset(out, 0, sizeof *out);
    snprintf(out->engine, sizeof out->engine, "%s", se->primary->ops->name);
    if (!req || (req->n_messages && !req->messages)) {
        out->finish = GR_FINISH_ERROR;
        return out->status = gr_err(GR_E_INVALID_ARG, out->error, sizeof out->error,
                                    "structured: NULL request");
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&se->busy, &expected, 1)) {
        out->finish = GR_FINISH_ERROR;
        return out->status = gr_err(GR_E_BUSY, out->error, sizeof out->error,
                                    "structured engine: previous invocation is still ongoing");
    }
    gr_structured_report *rep = calloc(1, sizeof *rep);
    gr_status s;
    if (!rep) {
        s = out->status = gr_err(GR_E_NOMEM, out->error, sizeof out->error, "out of memory");
        out->finish = GR_FINISH_ERROR;
    } else if (req->output.kind == GR_OUTPUT_TEXT) {
        s = gr_engine_generate(se->primary, req, sink, user, cancel, out); /* streams as it comes */
        *rep = (gr_structured_report){.kind = GR_OUTPUT_TEXT, .status = s, .used = -1};
    } else {
        s = run_structured(se, req, sink, user, cancel, out, rep);
    }
    if (rep) save_report(se, rep);
    free(rep);
    atomic_store(&se->busy, 0);
    return s;
}

static const char *structured_model_id(const gr_engine *e) {
    const structured_engine *se = (const structured_engine *)e;
    return se->primary->ops->model_id(se->primary);
}

static void structured_destroy(gr_engine *e) {
    structured_engine *se = (structured_engine *)e;
    if (!se) return;
    gr_engine_destroy(se->primary);
    gr_engine_destroy(se->fallback);
    pthread_mutex_destroy(&se->mu);
    free(se);
}

static const gr_engine_ops STRUCTURED_OPS = {1, "structured", structured_generate,
                                             structured_model_id, structured_destroy};

gr_status gr_structured_engine_new(gr_engine *primary, gr_engine *fallback,
                                   const gr_structured_opts *opts, gr_engine **out, char *err,
                                   size_t errlen) {
    if (!out || !primary)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "structured: primary engine and out required");
    *out = NULL;
    if (primary == fallback)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "structured: fallback is the primary");
    structured_engine *se = calloc(1, sizeof *se);
    if (!se) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    se->base.ops = &STRUCTURED_OPS;
    se->primary = primary;
    se->fallback = fallback;
    se->o = opts ? *opts : (gr_structured_opts){0};
    if (!se->o.max_schema_in_prompt) se->o.max_schema_in_prompt = DEFAULT_SCHEMA_IN_PROMPT;
    pthread_mutex_init(&se->mu, NULL);
    *out = &se->base;
    return GR_OK;
}

int gr_structured_is(const gr_engine *e) {
    return e && e->ops == &STRUCTURED_OPS;
}

gr_engine *gr_structured_primary(gr_engine *e) {
    return gr_structured_is(e) ? ((structured_engine *)e)->primary : NULL;
}

gr_engine *gr_structured_fallback(gr_engine *e) {
    return gr_structured_is(e) ? ((structured_engine *)e)->fallback : NULL;
}

gr_status gr_structured_last_report(const gr_engine *e, gr_structured_report *out) {
    if (!gr_structured_is(e) || !out) return GR_E_INVALID_ARG;
    structured_engine *se = (structured_engine *)e;
    pthread_mutex_lock(&se->mu);
    bool have = se->have_last;
    if (have) *out = se->last;
    pthread_mutex_unlock(&se->mu);
    return have ? GR_OK : GR_E_NOT_FOUND;
}

/* ---- report as JSON
 * ------------------------------------------------------------------------------ */

static void attempt_json(gr_jw *w, const gr_structured_attempt *a) {
    gr_jw_obj(w);
    gr_jw_key(w, "engine"), gr_jw_str(w, a->engine);
    gr_jw_key(w, "model"), gr_jw_str(w, a->model);
    gr_jw_key(w, "fallback"), gr_jw_bool(w, a->fallback != 0);
    gr_jw_key(w, "repair"), gr_jw_int(w, a->repair);
    gr_jw_key(w, "status"), gr_jw_str(w, gr_status_str(a->status));
    gr_jw_key(w, "valid");
    if (a->valid < 0)
        gr_jw_null(w);
    else
        gr_jw_bool(w, a->valid == 1);
    gr_jw_key(w, "finish"), gr_jw_str(w, gr_finish_str(a->finish));
    gr_jw_key(w, "error"), gr_jw_str(w, a->error);
    gr_jw_key(w, "prompt_tokens"), gr_jw_int(w, a->usage.prompt_tokens);
    gr_jw_key(w, "completion_tokens"), gr_jw_int(w, a->usage.completion_tokens);
    gr_jw_key(w, "ms"), gr_jw_num(w, a->ms);
    gr_jw_end(w);
}

char *gr_structured_report_json(const gr_structured_report *r) {
    if (!r) return NULL;
    gr_jw *w = malloc(sizeof *w); /* the writer holds its nesting stack inline (a few KiB) */
    if (!w) return NULL;
    gr_jw_init(w);
    gr_jw_obj(w);
    gr_jw_key(w, "kind"), gr_jw_str(w, gr_output_kind_str(r->kind));
    gr_jw_key(w, "status"), gr_jw_str(w, gr_status_str(r->status));
    gr_jw_key(w, "used"), gr_jw_int(w, r->used);
    gr_jw_key(w, "svg_removed"), gr_jw_int(w, (int64_t)r->svg_removed);
    gr_jw_key(w, "attempts"), gr_jw_arr(w);
    for (int i = 0; i < r->n_attempts && i < GR_STRUCTURED_MAX_ATTEMPTS; i++)
        attempt_json(w, &r->attempts[i]);
    gr_jw_end(w);
    gr_jw_end(w);
    char *s = gr_jw_take(w, NULL);
    gr_jw_free(w);
    free(w);
    return s;
}
