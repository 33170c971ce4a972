/* load.c — what `gemrun serve` loads after it starts listening: the hardware probe and fit plan
 * (for /api/status), the local model with its queue (one engine per queue, created by the factory
 * below, re-created on a force reset) and the runtime speed check's expectation, then the cloud
 * engine with its own queue when the configuration has a "cloud" section. The router learns each
 * engine's state here. It must not handle HTTP. */
#include "server/srv.h"

#include "core/error.h"
#include "engine/engine_cloud.h"
#include "engine/engine_local.h"
#include "layer/structured.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Every engine goes into the structured-output wrapper: text passes through (streamed), JSON /
 * Mermaid / SVG answers are validated (and repaired) before anyone sees them. */
static gr_status wrap(gr_status st, gr_engine **inner_p, gr_engine **out, char *err,
                      size_t errlen) {
    if (st) return st;
    gr_engine *inner = *inner_p;
    st = gr_structured_engine_new(inner, NULL, NULL, out, err, errlen);
    if (st) gr_engine_destroy(inner);
    return st;
}

/* The local queue's factory: a fresh engine over the shared, immutable model. */
static gr_status local_factory(void *user, gr_engine **out, char *err, size_t errlen) {
    gr_server *s = user;
    gr_local_config lc = {.model = s->model,
                          .n_ctx = s->cfg.n_ctx,
                          .n_threads = s->cfg.n_threads,
                          .default_max_tokens = s->cfg.default_max_tokens,
                          .model_id = s->local.model_id};
    gr_engine *e = NULL;
    gr_status st = gr_local_engine_new(&lc, &e, err, errlen);
    return wrap(st, &e, out, err, errlen);
}

/* The id the local engine reports: configured, else general.name, else the file name. */
static void local_model_id(gr_server *s) {
    if (s->cfg.model_id) {
        snprintf(s->local.model_id, sizeof s->local.model_id, "%s", s->cfg.model_id);
        return;
    }
    gr_gguf_str n;
    if (gr_gguf_get_str(gr_model_gguf(s->model), "general.name", &n) == GR_OK && n.len) {
        int k = n.len < 63 ? (int)n.len : 63;
        snprintf(s->local.model_id, sizeof s->local.model_id, "%.*s", k, n.ptr);
    } else {
        const char *slash = strrchr(s->cfg.model_path, '/');
        snprintf(s->local.model_id, sizeof s->local.model_id, "%.63s",
                 slash ? slash + 1 : s->cfg.model_path);
    }
    /* ids travel in URLs: keep [A-Za-z0-9._-], other runs become one '-' */
    char *w = s->local.model_id;
    for (const char *p = s->local.model_id; *p; p++) {
        bool ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
        if (ok)
            *w++ = *p;
        else if (w > s->local.model_id && w[-1] != '-')
            *w++ = '-';
    }
    while (w > s->local.model_id && w[-1] == '-')
        w--;
    *w = 0;
    if (!s->local.model_id[0]) snprintf(s->local.model_id, sizeof s->local.model_id, "local");
}

static gr_status start_runtime_check(gr_server *s, char *err, size_t errlen) {
    if (!s->cfg.runtime_check) return GR_OK;
    double expected = s->cfg.expected_tok_s;
    if (expected <= 0) {
        uint32_t n_ctx = s->cfg.n_ctx ? s->cfg.n_ctx : 4096;
        int threads = s->cfg.n_threads ? s->cfg.n_threads : 2;
        gr_status st =
            gr_rtcheck_expected_tok_s(s->model, n_ctx, threads, 0, &expected, NULL, err, errlen);
        if (st) return st;
    }
    gr_rtcheck_opts o = {.expected_tok_s = expected};
    gr_status st = gr_rtcheck_init(&s->rt, &o, s->router, err, errlen);
    if (!st) s->rt_on = true;
    return st;
}

static gr_status load_local(gr_server *s, char *err, size_t errlen) {
    gr_status st = gr_model_load(s->cfg.model_path, &s->model, err, errlen);
    if (st) return st;
    const gr_gguf *g = gr_model_gguf(s->model);
    st = gr_tokenizer_from_gguf(g, &s->tok, err, errlen);
    if (!st) st = gr_chat_detect_gguf(g, &s->fmt, err, errlen);
    if (st) return st;
    local_model_id(s);
    gr_queue_config qc = {
        .factory = local_factory, .factory_user = s, .max_pending = s->cfg.queue_size};
    st = gr_queue_new(&qc, &s->local.queue, err, errlen);
    if (!st) st = start_runtime_check(s, err, errlen);
    if (!st) gr_router_set_local_loaded(s->router, true);
    return st;
}

static gr_status cloud_factory(void *user, gr_engine **out, char *err, size_t errlen) {
    gr_engine *e = NULL;
    gr_status st = gr_cloud_engine_new(user, &e, err, errlen);
    return wrap(st, &e, out, err, errlen);
}

/* The "cloud" section, if any: an engine with its own queue. */
static gr_status load_cloud(gr_server *s, char *err, size_t errlen) {
    if (!s->cfg.config_json) return GR_OK;
    char perr[200];
    if (gr_json_parse(s->cfg.config_json, s->cfg.config_len, NULL, &s->config_doc, perr,
                      sizeof perr))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "config: %s", perr);
    const gr_json_val *sec = gr_json_get(gr_json_root(s->config_doc), "cloud");
    if (!sec) return GR_OK;
    gr_status st = gr_cloud_config_from_json(sec, &s->cloud_cfg, err, errlen);
    gr_engine *probe = NULL;
    if (!st) st = gr_cloud_engine_new(&s->cloud_cfg, &probe, err, errlen);
    if (st) return st;
    bool has_key = gr_cloud_engine_has_key(probe);
    snprintf(s->cloud.model_id, sizeof s->cloud.model_id, "%s", probe->ops->model_id(probe));
    gr_engine_destroy(probe);
    snprintf(s->cloud_protocol, sizeof s->cloud_protocol, "%s",
             s->cloud_cfg.protocol == GR_CLOUD_OPENAI ? "openai" : "gemini");
    gr_queue_config qc = {
        .factory = cloud_factory, .factory_user = &s->cloud_cfg, .max_pending = s->cfg.queue_size};
    st = gr_queue_new(&qc, &s->cloud.queue, err, errlen);
    if (!st) gr_router_set_cloud(s->router, has_key, true);
    return st;
}

gr_status gr_server_load(gr_server *s, char *err, size_t errlen) {
    srv_compute_plan(s);
    gr_status st = s->cfg.model_path ? load_local(s, err, errlen) : GR_OK;
    if (!st) st = load_cloud(s, err, errlen);
    if (st) {
        snprintf(s->load_error, sizeof s->load_error, "%s", err ? err : gr_status_str(st));
        atomic_store(&s->ready, 2); /* failed: /health stays 503, /api/status shows why */
        return st;
    }
    atomic_store(&s->ready, 1);
    return GR_OK;
}
