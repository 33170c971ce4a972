/* status.c — read-only views of the server: GET /api/status (the web page's contract:
 * /tmp/contract_server.txt, docs/server.md), the Gemini and OpenAI model lists, countTokens, and
 * the probe + fit plan computed once at start. It must not change routing or engines. */
#include "server/srv.h"

#include "core/error.h"
#include "layer/plan.h"
#include "layer/probe.h"
#include "layer/registry.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static char *take(gr_jw *w) {
    char *s = gr_jw_take(w, NULL);
    gr_jw_free(w);
    return s;
}

/* Copy JSON text (from another module) into the writer as a value; null when it does not parse. */
static void raw_value(gr_jw *w, const char *json) {
    gr_json *d = NULL;
    if (json && gr_json_parse(json, strlen(json), NULL, &d, NULL, 0) == GR_OK)
        gr_jw_value(w, gr_json_root(d));
    else
        gr_jw_null(w);
    gr_json_free(d);
}

/* ---- probe and plan (once, at start) -----------------------------------------------------------
 */

static char *probe_json(const gr_probe *p) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    char cpu[128];
    snprintf(cpu, sizeof cpu, "%s%s%s%s", p->cpu.avx512f ? "avx512 " : "",
             p->cpu.avx2 ? "avx2 " : "", p->cpu.fma ? "fma " : "", p->cpu.neon ? "neon" : "");
    size_t n = strlen(cpu);
    if (n && cpu[n - 1] == ' ') cpu[n - 1] = 0;
    gr_jw_key(&w, "cpu"), gr_jw_str(&w, cpu[0] ? cpu : "generic");
    gr_jw_key(&w, "threads"), gr_jw_int(&w, p->cpu.cores_usable);
    gr_jw_key(&w, "ram_bytes"), gr_jw_int(&w, (int64_t)p->ram_total);
    gr_jw_key(&w, "avail_bytes"), gr_jw_int(&w, (int64_t)p->ram_available);
    gr_jw_key(&w, "gpu");
    if (p->n_gpus) {
        gr_jw_obj(&w);
        gr_jw_key(&w, "name"), gr_jw_str(&w, p->gpus[0].name);
        gr_jw_key(&w, "mem_bytes"), gr_jw_int(&w, (int64_t)p->gpus[0].mem_total);
        gr_jw_key(&w, "count"), gr_jw_int(&w, p->n_gpus);
        gr_jw_end(&w);
    } else {
        gr_jw_null(&w);
    }
    gr_jw_key(&w, "gpu_note"), gr_jw_str(&w, p->gpu_note);
    char *detail = gr_probe_to_json(p);
    gr_jw_key(&w, "detail"), raw_value(&w, detail);
    free(detail);
    gr_jw_end(&w);
    return take(&w);
}

static void plan_row(gr_jw *w, const gr_fit_plan *p, bool loaded) {
    gr_jw_obj(w);
    gr_jw_key(w, "id"), gr_jw_str(w, p->model_id);
    gr_jw_key(w, "fits"), gr_jw_bool(w, p->fits);
    gr_jw_key(w, "total_bytes"), gr_jw_int(w, (int64_t)p->total);
    gr_jw_key(w, "n_ctx"), gr_jw_int(w, p->n_ctx);
    gr_jw_key(w, "quant"), gr_jw_str(w, gr_quant_name(p->quant));
    if (loaded) gr_jw_key(w, "loaded"), gr_jw_bool(w, true);
    gr_jw_end(w);
}

/* The loaded file's plan (when there is one) is the choice; otherwise automatic selection's. */
static char *plan_json(const gr_server *s, const gr_probe *pr) {
    gr_plan_opts o = gr_plan_default_opts();
    o.budget = pr->ram_available ? pr->ram_available : pr->ram_total;
    if (!o.budget) o.budget = 1; /* nothing probed: every row says it does not fit */
    if (s->cfg.n_ctx) o.n_ctx = s->cfg.n_ctx;
    gr_fit_plan choice = {0}, p;
    bool have_choice = false;
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "candidates");
    gr_jw_arr(&w);
    if (s->cfg.model_path) {
        gr_gguf *g = NULL;
        gr_model_profile prof;
        const char *base = strrchr(s->cfg.model_path, '/');
        if (gr_gguf_open(s->cfg.model_path, &g, NULL, 0) == GR_OK &&
            gr_registry_from_gguf(g, base ? base + 1 : s->cfg.model_path, &prof, NULL, 0) ==
                GR_OK &&
            gr_plan_for_profile(&prof, &o, &choice, NULL, 0) == GR_OK) {
            have_choice = true;
            plan_row(&w, &choice, true);
        }
        gr_gguf_close(g);
    }
    for (size_t i = 0; i < gr_registry_count(); i++) {
        gr_model_profile prof;
        if (gr_registry_get(gr_registry_id(i), &prof, NULL, 0) == GR_OK &&
            gr_plan_for_profile(&prof, &o, &p, NULL, 0) == GR_OK)
            plan_row(&w, &p, false);
    }
    gr_jw_end(&w);
    if (!have_choice && gr_plan_select(&o, &choice, NULL, 0) == GR_OK) have_choice = choice.fits;
    gr_jw_key(&w, "choice");
    if (have_choice)
        gr_jw_str(&w, choice.model_id);
    else
        gr_jw_null(&w);
    gr_jw_key(&w, "reason"),
        gr_jw_str(&w, choice.reason[0] ? choice.reason : "no plan could be made");
    gr_jw_key(&w, "budget_bytes"), gr_jw_int(&w, (int64_t)o.budget);
    char *sel = gr_plan_to_json(&choice);
    gr_jw_key(&w, "selected"), raw_value(&w, sel);
    free(sel);
    gr_jw_end(&w);
    return take(&w);
}

void srv_compute_plan(gr_server *s) {
    gr_probe pr;
    memset(&pr, 0, sizeof pr);
    gr_probe_run(&pr, NULL, NULL, 0);
    s->probe_json = probe_json(&pr);
    s->plan_json = plan_json(s, &pr);
}

/* ---- /api/status -------------------------------------------------------------------------------
 */

static const char *output_name(gr_output_kind k) {
    switch (k) {
    case GR_OUTPUT_JSON:
    case GR_OUTPUT_JSON_SCHEMA:
        return "json";
    case GR_OUTPUT_MERMAID:
        return "mermaid";
    case GR_OUTPUT_SVG:
        return "svg";
    default:
        return "text";
    }
}

/* What gr_server_load wrote (engines, plan, probe, errors) is read only after it published the
 * outcome in s->ready (1 ready, 2 failed): no reads racing the loader. */
static bool loaded(gr_server *s) {
    return atomic_load(&s->ready) != 0;
}

static void engines_json(gr_jw *w, gr_server *s, const gr_router_state *st) {
    bool up = loaded(s);
    gr_jw_key(w, "engines");
    gr_jw_obj(w);
    gr_jw_key(w, "local");
    gr_jw_obj(w);
    gr_jw_key(w, "usable"), gr_jw_bool(w, st->local_loaded && !st->local_degraded);
    gr_jw_key(w, "degraded"), gr_jw_bool(w, st->local_degraded);
    const char *reason = st->local_degraded   ? st->degraded_reason
                         : st->local_loaded   ? "model loaded"
                         : !s->cfg.model_path ? "no local model configured"
                         : !up                ? "loading"
                         : s->load_error[0]   ? s->load_error
                                              : "not loaded";
    gr_jw_key(w, "reason"), gr_jw_str(w, reason);
    if (up && s->rt_on) {
        pthread_mutex_lock(&s->rt_mu);
        gr_jw_key(w, "runtime_check"), gr_jw_str(w, gr_rtcheck_state_str(s->rt.state));
        gr_jw_key(w, "expected_tok_s"), gr_jw_num(w, s->rt.o.expected_tok_s);
        if (s->rt.state != GR_RTCHECK_PENDING)
            gr_jw_key(w, "measured_tok_s"), gr_jw_num(w, s->rt.measured_tok_s);
        pthread_mutex_unlock(&s->rt_mu);
    }
    gr_jw_end(w);
    gr_jw_key(w, "cloud");
    gr_jw_obj(w);
    gr_jw_key(w, "configured"), gr_jw_bool(w, st->cloud_configured);
    gr_jw_key(w, "reachable"), gr_jw_bool(w, st->cloud_configured && st->cloud_reachable);
    gr_jw_key(w, "protocol");
    if (up && s->cloud.queue)
        gr_jw_str(w, s->cloud_protocol);
    else
        gr_jw_null(w);
    gr_jw_key(w, "model");
    if (up && s->cloud.queue)
        gr_jw_str(w, s->cloud.model_id);
    else
        gr_jw_null(w);
    gr_jw_end(w);
    gr_jw_end(w);
}

static void features_json(gr_jw *w, gr_server *s) {
    gr_jw_key(w, "features");
    gr_jw_arr(w);
    for (const char *const *f = gr_router_features(); *f; f++) {
        gr_route_decision d;
        gr_route rt = gr_router_route(s->router, *f, &d);
        gr_jw_obj(w);
        gr_jw_key(w, "name"), gr_jw_str(w, *f);
        gr_jw_key(w, "route"), gr_jw_str(w, gr_route_str(rt));
        gr_jw_key(w, "reason"), gr_jw_str(w, d.reason);
        gr_jw_key(w, "output"), gr_jw_str(w, output_name(d.output));
        gr_jw_key(w, "stream"), gr_jw_bool(w, d.stream);
        gr_jw_key(w, "fallback"), gr_jw_bool(w, d.fallback);
        gr_jw_end(w);
    }
    gr_jw_end(w);
}

char *srv_status_json(gr_server *s) {
    gr_router_state st;
    gr_router_state_get(s->router, &st);
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "ready"), gr_jw_bool(&w, atomic_load(&s->ready) == 1);
    gr_jw_key(&w, "model");
    gr_jw_obj(&w);
    bool up = loaded(s);
    gr_jw_key(&w, "id");
    if (up && s->local.queue)
        gr_jw_str(&w, s->local.model_id);
    else
        gr_jw_null(&w);
    gr_jw_key(&w, "path"), gr_jw_str(&w, s->cfg.model_path);
    gr_jw_key(&w, "loaded"), gr_jw_bool(&w, st.local_loaded);
    gr_jw_end(&w);
    engines_json(&w, s, &st);
    gr_jw_key(&w, "plan"), raw_value(&w, up ? s->plan_json : NULL);
    gr_jw_key(&w, "probe"), raw_value(&w, up ? s->probe_json : NULL);
    gr_queue_status qs = {0};
    if (up && s->local.queue) gr_queue_status_get(s->local.queue, &qs);
    gr_jw_key(&w, "queue");
    gr_jw_obj(&w);
    gr_jw_key(&w, "depth"), gr_jw_int(&w, (int64_t)qs.depth);
    gr_jw_key(&w, "running"), gr_jw_bool(&w, qs.running_id != 0);
    gr_jw_key(&w, "max_pending"), gr_jw_int(&w, (int64_t)s->cfg.queue_size);
    gr_jw_end(&w);
    features_json(&w, s);
    gr_jw_end(&w);
    return take(&w);
}

/* ---- model lists -------------------------------------------------------------------------------
 */

static void gemini_model(gr_jw *w, gr_server *s, const char *id, const char *desc) {
    char name[160];
    snprintf(name, sizeof name, "models/%s", id);
    uint32_t ctx = s->cfg.n_ctx ? s->cfg.n_ctx : 4096;
    gr_jw_obj(w);
    gr_jw_key(w, "name"), gr_jw_str(w, name);
    /* OpenAI's Model fields too: GET /v1/models[/{id}] serves both clients */
    gr_jw_key(w, "id"), gr_jw_str(w, id);
    gr_jw_key(w, "object"), gr_jw_str(w, "model");
    gr_jw_key(w, "created"), gr_jw_int(w, 0);
    gr_jw_key(w, "owned_by"), gr_jw_str(w, "gemrun");
    gr_jw_key(w, "baseModelId"), gr_jw_str(w, id);
    gr_jw_key(w, "version"), gr_jw_str(w, "001");
    gr_jw_key(w, "displayName"), gr_jw_str(w, id);
    gr_jw_key(w, "description"), gr_jw_str(w, desc);
    gr_jw_key(w, "inputTokenLimit"), gr_jw_int(w, ctx);
    gr_jw_key(w, "outputTokenLimit"), gr_jw_int(w, s->cfg.max_output_tokens);
    gr_jw_key(w, "supportedGenerationMethods");
    gr_jw_arr(w);
    gr_jw_str(w, "generateContent");
    gr_jw_str(w, "streamGenerateContent");
    gr_jw_str(w, "countTokens");
    gr_jw_end(w);
    gr_jw_key(w, "temperature"), gr_jw_num(w, 1.0);
    gr_jw_key(w, "maxTemperature"), gr_jw_num(w, 2.0);
    gr_jw_key(w, "topP"), gr_jw_num(w, 0.95);
    gr_jw_key(w, "topK"), gr_jw_int(w, 64);
    gr_jw_end(w);
}

/* Every name a request may use: served model ids, then the features. */
typedef void (*name_fn)(void *u, const char *id, const char *desc);

static void each_name(gr_server *s, name_fn fn, void *u) {
    bool up = loaded(s); /* no engine is listed while loading */
    if (up && s->local.queue) fn(u, s->local.model_id, "the local model (feature chat)");
    if (up && s->cloud.queue) fn(u, s->cloud.model_id, "the cloud model (feature chat)");
    for (const char *const *f = gr_router_features(); *f; f++)
        fn(u, *f, "a gemrun feature: the router picks the local or the cloud engine");
}

typedef struct list_ctx {
    gr_jw *w;
    gr_server *s;
    const char *one;
    bool found;
} list_ctx;

static void add_gemini(void *u, const char *id, const char *desc) {
    list_ctx *c = u;
    if (c->one && (c->found || strcmp(c->one, id))) return;
    c->found = true;
    gemini_model(c->w, c->s, id, desc);
}

static void add_openai(void *u, const char *id, const char *desc) {
    (void)desc;
    list_ctx *c = u;
    gr_jw_obj(c->w);
    gr_jw_key(c->w, "id"), gr_jw_str(c->w, id);
    gr_jw_key(c->w, "object"), gr_jw_str(c->w, "model");
    gr_jw_key(c->w, "created"), gr_jw_int(c->w, 0);
    gr_jw_key(c->w, "owned_by"), gr_jw_str(c->w, "gemrun");
    gr_jw_end(c->w);
}

/* The list answers both APIs at once ({"models": [...]} for Gemini, {"object": "list", "data":
 * [...]} for OpenAI): @google/genai 3 lists under /v1/models, which is also OpenAI's path. */
char *srv_gemini_models_json(gr_server *s, const char *one) {
    gr_jw w;
    gr_jw_init(&w);
    list_ctx c = {&w, s, one, false};
    if (one) {
        each_name(s, add_gemini, &c);
        if (!c.found) {
            gr_jw_free(&w);
            return NULL;
        }
        return take(&w);
    }
    gr_jw_obj(&w);
    gr_jw_key(&w, "object"), gr_jw_str(&w, "list");
    gr_jw_key(&w, "models");
    gr_jw_arr(&w);
    each_name(s, add_gemini, &c);
    gr_jw_end(&w);
    gr_jw_key(&w, "data");
    gr_jw_arr(&w);
    each_name(s, add_openai, &c);
    gr_jw_end(&w);
    gr_jw_end(&w);
    return take(&w);
}

char *srv_openai_models_json(gr_server *s) {
    return srv_gemini_models_json(s, NULL);
}

/* ---- countTokens -------------------------------------------------------------------------------
 */

int srv_count_tokens(gr_server *s, const gr_request *req, char *err, size_t errlen) {
    if (!s->tok) {
        gr_err(GR_E_UNAVAILABLE, err, errlen,
               "countTokens needs the local model's tokenizer, and no local model is loaded");
        return -1;
    }
    gr_chat_msg *msgs = calloc(req->n_messages ? req->n_messages : 1, sizeof *msgs);
    if (!msgs) return -1;
    for (size_t i = 0; i < req->n_messages; i++)
        msgs[i] = (gr_chat_msg){req->messages[i].role, req->messages[i].text,
                                strlen(req->messages[i].text)};
    gr_chat_opts o = {.add_generation_prompt = true};
    char *text = NULL;
    size_t len = 0, got = 0;
    char e2[200];
    gr_status st = gr_chat_render(s->fmt, msgs, req->n_messages, &o, &text, &len, e2, sizeof e2);
    free(msgs);
    int32_t *ids = st ? NULL : malloc((len + 16) * sizeof *ids);
    if (!st && !ids) st = GR_E_NOMEM;
    if (!st) st = gr_tokenize(s->tok, text, len, true, true, ids, len + 16, &got, e2, sizeof e2);
    free(ids);
    free(text);
    if (st) {
        gr_err(st, err, errlen, "countTokens: %s", e2);
        return -2; /* the conversation cannot be rendered (e.g. Gemma 3 turn order) */
    }
    return (int)got;
}
