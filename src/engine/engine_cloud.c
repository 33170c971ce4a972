/* engine_cloud.c — the cloud engine (see engine_cloud.h): endpoint strategy, retries with backoff,
 * deadlines and cancellation around one HTTP call per attempt. The wire formats live in src/cloud/
 * (gemini.c, openai.c, sse.c, jarray.c) and the transport in src/net/http.h; this file only decides
 * which call to make, feeds the bytes through, and turns what came back into a gr_result.
 * It must never write the API key anywhere but the request header. */
#include "engine/engine_cloud.h"

#include "cloud/gemini.h"
#include "cloud/jarray.h"
#include "cloud/openai.h"
#include "cloud/proto.h"
#include "cloud/sse.h"
#include "core/error.h"
#include "net/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define GR_CLOUD_MAX_ERR_BODY ((size_t)1 << 20)
#define GR_CLOUD_MAX_BODY ((size_t)64 << 20)

typedef struct cloud_engine {
    gr_engine base;
    gr_cloud_protocol protocol;
    char *base_url, *model, *api_version;
    char *api_key; /* NULL when none; wiped on destroy */
    size_t key_len;
    int max_retries, stream, json_array_stream, fold_system;
    double timeout_s, connect_timeout_s, backoff_initial_s, backoff_max_s;
    uint64_t rng; /* jitter for the backoff */
} cloud_engine;

/* ---- configuration ------------------------------------------------------------------------- */

void gr_cloud_config_init(gr_cloud_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->protocol = GR_CLOUD_GEMINI;
    cfg->max_retries = -1;
    cfg->stream = 1;
}

static gr_status cfg_str(const gr_json_val *v, const char *key, const char **out, char *err,
                         size_t errlen) {
    if (!gr_json_is(v, GR_JSON_STRING))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud.%s: expected a string, found %s", key,
                      gr_json_type_name(gr_json_type_of(v)));
    *out = gr_json_str(v, NULL);
    return GR_OK;
}

static gr_status cfg_bool(const gr_json_val *v, const char *key, int *out, char *err,
                          size_t errlen) {
    if (!gr_json_is(v, GR_JSON_TRUE) && !gr_json_is(v, GR_JSON_FALSE))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud.%s: expected true or false, found %s",
                      key, gr_json_type_name(gr_json_type_of(v)));
    *out = gr_json_bool(v);
    return GR_OK;
}

static gr_status cfg_seconds(const gr_json_val *v, const char *key, double *out, char *err,
                             size_t errlen) {
    double x = gr_json_num(v);
    if (!gr_json_is(v, GR_JSON_NUMBER) || x < 0 || x > 86400)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "cloud.%s: expected seconds between 0 and 86400", key);
    *out = x;
    return GR_OK;
}

static gr_status cfg_member(const char *k, const gr_json_val *v, gr_cloud_config *c, char *err,
                            size_t errlen) {
    if (!strcmp(k, "protocol")) {
        const char *p = NULL;
        gr_status s = cfg_str(v, k, &p, err, errlen);
        if (s != GR_OK) return s;
        if (!strcmp(p, "gemini"))
            c->protocol = GR_CLOUD_GEMINI;
        else if (!strcmp(p, "openai"))
            c->protocol = GR_CLOUD_OPENAI;
        else
            return gr_err(
                GR_E_INVALID_ARG, err, errlen,
                "cloud.protocol: unknown protocol \"%.40s\" (expected \"gemini\" or \"openai\")",
                p);
        return GR_OK;
    }
    if (!strcmp(k, "base_url")) return cfg_str(v, k, &c->base_url, err, errlen);
    if (!strcmp(k, "model")) return cfg_str(v, k, &c->model, err, errlen);
    if (!strcmp(k, "api_key")) return cfg_str(v, k, &c->api_key, err, errlen);
    if (!strcmp(k, "api_key_env")) return cfg_str(v, k, &c->api_key_env, err, errlen);
    if (!strcmp(k, "api_version")) return cfg_str(v, k, &c->api_version, err, errlen);
    if (!strcmp(k, "max_retries")) {
        int64_t n = 0;
        if (gr_json_int(v, &n) != GR_OK || n < 0 || n > 20)
            return gr_err(GR_E_INVALID_ARG, err, errlen,
                          "cloud.max_retries: expected an integer between 0 and 20");
        c->max_retries = (int)n;
        return GR_OK;
    }
    if (!strcmp(k, "timeout_s")) return cfg_seconds(v, k, &c->timeout_s, err, errlen);
    if (!strcmp(k, "connect_timeout_s"))
        return cfg_seconds(v, k, &c->connect_timeout_s, err, errlen);
    if (!strcmp(k, "backoff_initial_s"))
        return cfg_seconds(v, k, &c->backoff_initial_s, err, errlen);
    if (!strcmp(k, "backoff_max_s")) return cfg_seconds(v, k, &c->backoff_max_s, err, errlen);
    if (!strcmp(k, "stream")) return cfg_bool(v, k, &c->stream, err, errlen);
    if (!strcmp(k, "json_array_stream")) return cfg_bool(v, k, &c->json_array_stream, err, errlen);
    if (!strcmp(k, "fold_system")) return cfg_bool(v, k, &c->fold_system, err, errlen);
    if (!strcmp(k, "comment")) return GR_OK;
    return gr_err(
        GR_E_INVALID_ARG, err, errlen,
        "cloud.%.40s: unknown key (known: protocol, base_url, model, api_key, api_key_env, "
        "api_version, "
        "max_retries, timeout_s, connect_timeout_s, backoff_initial_s, backoff_max_s, stream, "
        "json_array_stream, fold_system, comment)",
        k);
}

gr_status gr_cloud_config_from_json(const gr_json_val *sec, gr_cloud_config *out, char *err,
                                    size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud: no output config");
    gr_cloud_config_init(out);
    if (!sec) return GR_OK;
    if (!gr_json_is(sec, GR_JSON_OBJECT))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud: expected an object, found %s",
                      gr_json_type_name(gr_json_type_of(sec)));
    const gr_json_val *k, *v;
    for (size_t i = 0; gr_json_member(sec, i, &k, &v); i++) {
        gr_status s = cfg_member(gr_json_str(k, NULL), v, out, err, errlen);
        if (s != GR_OK) return s;
    }
    return GR_OK;
}

/* ---- engine object --------------------------------------------------------------------------- */

static const char *proto_name(const cloud_engine *e) {
    return e->protocol == GR_CLOUD_OPENAI ? "openai" : "gemini";
}

static void cloud_destroy(gr_engine *g) {
    cloud_engine *e = (cloud_engine *)g;
    if (!e) return;
    if (e->api_key) explicit_bzero(e->api_key, e->key_len);
    free(e->api_key);
    free(e->base_url);
    free(e->model);
    free(e->api_version);
    free(e);
}

static const char *cloud_model_id(const gr_engine *g) {
    return ((const cloud_engine *)g)->model;
}

int gr_cloud_engine_has_key(const gr_engine *g) {
    return g && ((const cloud_engine *)g)->api_key && ((const cloud_engine *)g)->key_len > 0;
}

static gr_status cloud_generate(gr_engine *g, const gr_request *req, gr_sink_fn sink,
                                void *sink_user, gr_cancel *cancel, gr_result *out);

static const gr_engine_ops cloud_ops = {1, "cloud", cloud_generate, cloud_model_id, cloud_destroy};

static bool model_id_ok(const char *m) {
    if (!m || !*m || strlen(m) > 120 || strstr(m, "..")) return false;
    for (const char *p = m; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-._/:@", *p)))
            return false;
    return true;
}

static gr_status copy_key(cloud_engine *e, const gr_cloud_config *cfg) {
    const char *key = cfg->api_key;
    if (!key) {
        const char *env = cfg->api_key_env                   ? cfg->api_key_env
                          : cfg->protocol == GR_CLOUD_OPENAI ? "OPENAI_API_KEY"
                                                             : "GEMINI_API_KEY";
        key = getenv(env);
    }
    if (!key || !*key) return GR_OK;
    e->key_len = strlen(key);
    e->api_key = malloc(e->key_len + 1);
    if (!e->api_key) return GR_E_NOMEM;
    memcpy(e->api_key, key, e->key_len + 1);
    return GR_OK;
}

gr_status gr_cloud_engine_new(const gr_cloud_config *cfg, gr_engine **out, char *err,
                              size_t errlen) {
    if (out) *out = NULL;
    if (!cfg || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud: config missing");
    const char *model = cfg->model;
    if (model && !strncmp(model, "models/", 7)) model += 7;
    if (!model_id_ok(model))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "cloud.model: missing or not a model id (letters, digits, -._/:@)");
    const char *base = cfg->base_url ? cfg->base_url
                       : cfg->protocol == GR_CLOUD_OPENAI
                           ? "https://api.openai.com"
                           : "https://generativelanguage.googleapis.com";
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "cloud.base_url: must start with http:// or https://");
    if (strpbrk(base, "?# \r\n"))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "cloud.base_url: must not hold a query, fragment or spaces");
    cloud_engine *e = calloc(1, sizeof *e);
    if (!e) return gr_err(GR_E_NOMEM, err, errlen, "cloud: out of memory");
    e->base.ops = &cloud_ops;
    e->protocol = cfg->protocol;
    e->base_url = strdup(base);
    e->model = strdup(model);
    e->api_version = strdup(cfg->api_version ? cfg->api_version : "v1beta");
    if (!e->base_url || !e->model || !e->api_version || copy_key(e, cfg) != GR_OK) {
        cloud_destroy(&e->base);
        return gr_err(GR_E_NOMEM, err, errlen, "cloud: out of memory");
    }
    size_t n = strlen(e->base_url);
    while (n > 0 && e->base_url[n - 1] == '/')
        e->base_url[--n] = 0;
    e->max_retries = cfg->max_retries < 0 ? 3 : cfg->max_retries;
    e->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 120;
    e->connect_timeout_s = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 10;
    e->backoff_initial_s = cfg->backoff_initial_s > 0 ? cfg->backoff_initial_s : 1;
    e->backoff_max_s = cfg->backoff_max_s > 0 ? cfg->backoff_max_s : 30;
    e->stream = cfg->stream;
    e->json_array_stream = cfg->json_array_stream;
    e->fold_system = cfg->fold_system;
    e->rng = (uint64_t)(gr_now() * 1e9) ^ (uint64_t)(uintptr_t)e;
    *out = &e->base;
    return GR_OK;
}

/* ---- one HTTP call ------------------------------------------------------------------------ */

typedef struct call {
    cloud_engine *e;
    gr_sink_fn sink;
    void *sink_user;
    bool stream;          /* streaming endpoint asked for */
    bool sse;             /* the response is text/event-stream */
    int status;           /* HTTP status of the current response */
    double retry_after_s; /* Retry-After / retry-after-ms; < 0: none */
    int dropped;          /* the transport's verdict on a failed call (net/http.h) */
    gr_sse sse_p;
    gr_jarray ja;
    char *body; /* non-streamed body (or an error body) */
    size_t body_len, body_cap;
    char *text; /* answer text so far (the result's text) */
    size_t text_len, text_cap;
    bool sink_stopped, oom;
    gr_status parse_status; /* GR_E_UPSTREAM when the stream could not be read */
    char perr[200];
    gr_cloud_reply reply;
    double t0, t_first;
} call;

static int append(char **buf, size_t *len, size_t *cap, const void *d, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 1024;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return 1;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, d, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

/* Answer text from the protocol parsers: kept for the result and passed to the sink. */
static int on_text(void *user, const char *t, size_t n) {
    call *c = user;
    if (append(&c->text, &c->text_len, &c->text_cap, t, n)) return c->oom = true, 1;
    if (c->t_first == 0) c->t_first = gr_now();
    if (c->sink && c->sink(c->sink_user, t, n)) return c->sink_stopped = true, 1;
    return 0;
}

static gr_status parse_payload(call *c, const char *data, size_t len, bool stream) {
    if (c->e->protocol == GR_CLOUD_OPENAI)
        return gr_openai_parse(data, len, stream, &c->reply, on_text, c, c->perr, sizeof c->perr);
    return gr_gemini_parse(data, len, &c->reply, on_text, c, c->perr, sizeof c->perr);
}

static int on_sse(void *user, gr_sse_kind kind, const char *event, const char *data, size_t len) {
    call *c = user;
    gr_status s = GR_OK;
    if (kind == GR_SSE_RAW || !strcmp(event, "error")) {
        /* A bare JSON object outside "data:" (Gemini's mid-stream error) or an "event: error". */
        gr_json *doc = NULL;
        if (gr_json_parse(data, len, NULL, &doc, NULL, 0) == GR_OK)
            gr_cloud_take_error(gr_json_root(doc), &c->reply);
        else if (kind != GR_SSE_RAW)
            c->reply.has_error = true;
        gr_json_free(doc);
        return 0;
    }
    s = parse_payload(c, data, len, true);
    if (s == GR_E_UPSTREAM) c->parse_status = s;
    return s != GR_OK;
}

static int on_elem(void *user, const char *elem, size_t len) {
    call *c = user;
    gr_status s = parse_payload(c, elem, len, false);
    if (s == GR_E_UPSTREAM) c->parse_status = s;
    return s != GR_OK;
}

static int on_header(void *user, int status, const char *name, const char *value) {
    call *c = user;
    if (!name) {
        c->status = status;
        c->retry_after_s = -1;
        c->sse = false;
        return 0;
    }
    if (!strcasecmp(name, "content-type"))
        c->sse = strncasecmp(value, "text/event-stream", 17) == 0;
    else if (!strcasecmp(name, "retry-after-ms"))
        c->retry_after_s = strtod(value, NULL) / 1000.0;
    else if (!strcasecmp(name, "retry-after") && c->retry_after_s < 0) {
        char *end = NULL;
        double s = strtod(value, &end), when;
        if (end != value && s >= 0) c->retry_after_s = s;
        else if (gr_http_date_parse(value, &when) == GR_OK) /* a date: the wall clock decides */
            c->retry_after_s = when > (double)time(NULL) ? when - (double)time(NULL) : 0;
    }
    return 0;
}

static int on_data(void *user, int status, const void *d, size_t n) {
    call *c = user;
    bool ok = status >= 200 && status < 300;
    if (!ok || !c->stream) {
        size_t max = ok ? GR_CLOUD_MAX_BODY : GR_CLOUD_MAX_ERR_BODY;
        if (c->body_len + n > max)
            return c->parse_status = GR_E_UPSTREAM,
                   snprintf(c->perr, sizeof c->perr, "response body above %zu bytes", max), 1;
        if (append(&c->body, &c->body_len, &c->body_cap, d, n)) return c->oom = true, 1;
        return 0;
    }
    gr_status s = c->sse ? gr_sse_feed(&c->sse_p, d, n) : gr_jarray_feed(&c->ja, d, n);
    if (s == GR_E_FORMAT && c->parse_status == GR_OK) {
        c->parse_status = GR_E_UPSTREAM;
        snprintf(c->perr, sizeof c->perr, "the stream is not %s",
                 c->sse ? "an event stream" : "a JSON array");
    }
    return s != GR_OK;
}

static void call_reset(call *c) {
    gr_sse_free(&c->sse_p);
    gr_jarray_free(&c->ja);
    gr_sse_init(&c->sse_p, on_sse, c);
    gr_jarray_init(&c->ja, on_elem, c);
    c->body_len = 0;
    c->status = 0;
    c->retry_after_s = -1;
    c->sse = false;
    c->parse_status = GR_OK;
    c->perr[0] = 0;
    gr_cloud_reply_init(&c->reply);
}

static void call_free(call *c) {
    gr_sse_free(&c->sse_p);
    gr_jarray_free(&c->ja);
    free(c->body);
}

static gr_status build_url(const cloud_engine *e, bool stream, char *url, size_t cap) {
    int n;
    if (e->protocol == GR_CLOUD_OPENAI) {
        size_t bl = strlen(e->base_url);
        bool has_v1 = bl >= 3 && !strcmp(e->base_url + bl - 3, "/v1");
        n = snprintf(url, cap, "%s%s/chat/completions", e->base_url, has_v1 ? "" : "/v1");
    } else {
        const char *method = !stream                ? ":generateContent"
                             : e->json_array_stream ? ":streamGenerateContent"
                                                    : ":streamGenerateContent?alt=sse";
        bool tuned = !strncmp(e->model, "tunedModels/", 12);
        n = snprintf(url, cap, "%s%s%s/%s%s%s", e->base_url, e->api_version[0] ? "/" : "",
                     e->api_version, tuned ? "" : "models/", e->model, method);
    }
    return n > 0 && (size_t)n < cap ? GR_OK : GR_E_INVALID_ARG;
}

/* The HTTP call of one attempt. Returns the transport's status (GR_OK: a whole response came). */
static gr_status do_call(call *c, const gr_request *req, bool stream, double deadline,
                         gr_cancel *cancel, char *err, size_t errlen) {
    cloud_engine *e = c->e;
    call_reset(c);
    c->stream = stream;
    char *body = NULL;
    size_t body_len = 0;
    gr_status s = e->protocol == GR_CLOUD_OPENAI
                      ? gr_openai_build_body(req, e->model, stream, &body, &body_len, err, errlen)
                      : gr_gemini_build_body(req, e->fold_system, &body, &body_len, err, errlen);
    if (s != GR_OK) return s;
    char url[1024];
    if (build_url(e, stream, url, sizeof url) != GR_OK) {
        free(body);
        return gr_err(GR_E_INVALID_ARG, err, errlen, "cloud %s: URL too long", proto_name(e));
    }
    /* The key header is built here and wiped right after the call. */
    char *auth = NULL;
    size_t auth_len = 0;
    gr_http_header hs[3] = {
        {"Content-Type", "application/json"},
        {"Accept", stream ? "text/event-stream, application/json" : "application/json"}};
    size_t nh = 2;
    if (e->api_key) {
        auth_len = e->key_len + 8;
        auth = malloc(auth_len);
        if (!auth) {
            free(body);
            return gr_err(GR_E_NOMEM, err, errlen, "cloud: out of memory");
        }
        if (e->protocol == GR_CLOUD_OPENAI)
            snprintf(auth, auth_len, "Bearer %s", e->api_key);
        else
            snprintf(auth, auth_len, "%s", e->api_key);
        hs[nh++] = (gr_http_header){
            e->protocol == GR_CLOUD_OPENAI ? "Authorization" : "x-goog-api-key", auth};
    }
    gr_http_request hr = {.method = "POST",
                          .url = url,
                          .headers = hs,
                          .n_headers = nh,
                          .body = body,
                          .body_len = body_len,
                          .connect_timeout_s = e->connect_timeout_s,
                          .deadline = deadline,
                          .cancel = cancel,
                          .dropped = &c->dropped};
    /* A unary answer (or a thinking model's first chunk) may take long with no byte on the wire:
     * the deadline alone bounds the wait, not the transport's idle timer. */
    hr.idle_timeout_s = deadline - gr_now() + 1;
    if (hr.idle_timeout_s < 1) hr.idle_timeout_s = 1;
    int status = 0;
    char herr[256];
    s = gr_http_perform(&hr, on_header, on_data, c, &status, herr, sizeof herr);
    c->status = status;
    if (auth) explicit_bzero(auth, auth_len);
    free(auth);
    free(body);
    if (s != GR_OK && !c->sink_stopped && !c->oom && c->parse_status == GR_OK)
        gr_err(s, err, errlen, "cloud %s: %s", proto_name(e), herr);
    return s;
}

/* ---- turning a response into a status -------------------------------------------------------- */

/* Message for an error reply (an HTTP error body or an error object in the stream). */
static gr_status reply_error(const call *c, int http, char *err, size_t errlen) {
    const gr_cloud_reply *r = &c->reply;
    int code = r->error_code ? r->error_code : http;
    gr_status s = r->key_invalid ? GR_E_AUTH : gr_cloud_status_for_http(code);
    if (r->has_error)
        return gr_err(s, err, errlen, "cloud %s: HTTP %d%s%s: %s", proto_name(c->e), code,
                      r->error_status[0] ? " " : "", r->error_status,
                      r->error_msg[0] ? r->error_msg : "(no message)");
    char snippet[81] = {0};
    for (size_t i = 0, j = 0; i < c->body_len && j < 80; i++)
        if ((unsigned char)c->body[i] >= 0x20) snippet[j++] = c->body[i];
    return gr_err(s, err, errlen, "cloud %s: HTTP %d (not a JSON error body: \"%s\")",
                  proto_name(c->e), http, snippet);
}

/* After a complete response: what it means. */
static gr_status judge(call *c, char *err, size_t errlen) {
    const char *pn = proto_name(c->e);
    if (c->status < 200 || c->status >= 300) {
        gr_json *doc = NULL;
        if (c->body && gr_json_parse(c->body, c->body_len, NULL, &doc, NULL, 0) == GR_OK)
            gr_cloud_take_error(gr_json_root(doc), &c->reply);
        gr_json_free(doc);
        return reply_error(c, c->status, err, errlen);
    }
    gr_status s = GR_OK;
    if (!c->stream) {
        s = parse_payload(c, c->body ? c->body : "", c->body_len, false);
    } else if (c->sse) {
        s = gr_sse_finish(&c->sse_p);
    } else {
        /* Not an event stream: Gemini's JSON-array form, or a plain JSON object (a server that
         * answered the stream request with a unary body); the splitter takes both. */
        s = gr_jarray_finish(&c->ja);
        if (s == GR_E_FORMAT)
            s = gr_err(GR_E_UPSTREAM, c->perr, sizeof c->perr, "the JSON stream ended early");
    }
    if (c->sink_stopped)
        return gr_err(GR_E_CANCELLED, err, errlen, "cloud %s: stopped by the sink", pn);
    if (s != GR_OK || c->parse_status != GR_OK)
        return gr_err(GR_E_UPSTREAM, err, errlen, "cloud %s: cannot read the response: %s", pn,
                      c->perr);
    if (c->reply.has_error)
        return reply_error(c, c->reply.error_code ? c->reply.error_code : 500, err, errlen);
    if (c->reply.blocked)
        return gr_err(GR_E_UPSTREAM, err, errlen, "cloud %s: the prompt was blocked (%s)", pn,
                      c->reply.finish_raw);
    if (c->reply.filtered)
        return gr_err(GR_E_UPSTREAM, err, errlen, "cloud %s: the model stopped: %s", pn,
                      c->reply.finish_raw);
    if (c->reply.n_chunks == 0)
        return gr_err(GR_E_UPSTREAM, err, errlen, "cloud %s: the response held no answer", pn);
    return GR_OK;
}

/* ---- retries -----------------------------------------------------------------------------------
 */

static double next_backoff(cloud_engine *e, int attempt) {
    double d = e->backoff_initial_s;
    for (int i = 0; i < attempt && d < e->backoff_max_s; i++)
        d *= 2;
    if (d > e->backoff_max_s) d = e->backoff_max_s;
    e->rng = e->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    double jitter = 0.8 + 0.2 * (double)(e->rng >> 11) / 9007199254740992.0; /* [0.8, 1.0) */
    return d * jitter;
}

/* Sleep in 5 ms steps so a cancel or the deadline ends the wait at once. */
static gr_status wait_for(double s, gr_cancel *cancel, const gr_request *req, double deadline) {
    double until = gr_now() + s;
    while (gr_now() < until) {
        gr_status st = gr_engine_check(cancel, req);
        if (st != GR_OK) return st;
        if (deadline > 0 && gr_now() > deadline) return GR_E_TIMEOUT;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return GR_OK;
}

/* Replace every occurrence of the key in s (a server could echo it back in an error body). */
static void scrub_key(const cloud_engine *e, char *s) {
    if (!e->api_key || e->key_len < 4 || !s) return;
    for (char *p = strstr(s, e->api_key); p; p = strstr(p, e->api_key))
        memset(p, '*', e->key_len);
}

static void fill_result(call *c, gr_status s, gr_result *out) {
    out->status = s;
    out->finish = gr_finish_for_status(s, s == GR_OK && c->reply.finished &&
                                              c->reply.finish == GR_FINISH_LENGTH);
    out->text = c->text;
    out->text_len = c->text_len;
    c->text = NULL;
    out->usage.prompt_tokens = c->reply.prompt_tokens > 0 ? c->reply.prompt_tokens : 0;
    out->usage.completion_tokens = c->reply.completion_tokens > 0 ? c->reply.completion_tokens : 0;
    double end = gr_now();
    out->timings.total_ms = (end - c->t0) * 1e3;
    if (c->t_first > 0) {
        out->timings.ttft_ms = (c->t_first - c->t0) * 1e3;
        double gen = end - c->t_first;
        if (out->usage.completion_tokens > 1 && gen > 0)
            out->timings.gen_tok_s = (out->usage.completion_tokens - 1) / gen;
    }
    scrub_key(c->e, out->error);
}

static gr_status cloud_generate(gr_engine *g, const gr_request *req, gr_sink_fn sink,
                                void *sink_user, gr_cancel *cancel, gr_result *out) {
    cloud_engine *e = (cloud_engine *)g;
    memset(out, 0, sizeof *out);
    snprintf(out->engine, sizeof out->engine, "cloud");
    snprintf(out->model, sizeof out->model, "%s", e->model);
    call c = {.e = e, .sink = sink, .sink_user = sink_user, .t0 = gr_now()};
    gr_sse_init(&c.sse_p, on_sse, &c);
    gr_jarray_init(&c.ja, on_elem, &c);
    double deadline = req && req->deadline > 0 ? req->deadline : c.t0 + e->timeout_s;
    bool stream = req && e->stream && req->output.kind == GR_OUTPUT_TEXT && sink;
    bool fell_back = false;
    gr_status s = req ? gr_engine_check(cancel, req) : GR_E_INVALID_ARG;
    if (!req) gr_err(s, out->error, sizeof out->error, "cloud: no request");
    for (int attempt = 0; s == GR_OK;) {
        gr_status ts = do_call(&c, req, stream, deadline, cancel, out->error, sizeof out->error);
        s = ts;
        if (c.oom)
            s = gr_err(GR_E_NOMEM, out->error, sizeof out->error, "cloud: out of memory");
        else if (c.sink_stopped)
            s = gr_err(GR_E_CANCELLED, out->error, sizeof out->error,
                       "cloud %s: stopped by the sink", proto_name(e));
        else if (c.parse_status != GR_OK)
            s = gr_err(GR_E_UPSTREAM, out->error, sizeof out->error,
                       "cloud %s: cannot read the response: %s", proto_name(e), c.perr);
        else if (s == GR_OK)
            s = judge(&c, out->error, sizeof out->error);
        if (s == GR_OK || c.text_len > 0) break; /* text already went out: never repeat it */
        /* No whole response: a dropped connection is retried like a 503; an unreachable host, the
         * deadline and a cancel are not (the router's fallback serves better than waiting). */
        if (ts != GR_OK && !(ts == GR_E_NETWORK && c.dropped)) break;
        int http = ts != GR_OK ? 503 : c.reply.error_code ? c.reply.error_code : c.status;
        if (ts == GR_OK && stream && !fell_back && c.status == 400 && !c.reply.key_invalid) {
            /* Some models reject streaming with this request (structured output on Gemma): once
             * more without streaming. Not counted as a retry. */
            stream = false;
            fell_back = true;
            s = GR_OK;
            continue;
        }
        if (!gr_cloud_retryable(http)) break;
        if (attempt >= e->max_retries) {
            size_t l = strlen(out->error);
            if (attempt)
                snprintf(out->error + l, sizeof out->error - l, " (after %d retries)", attempt);
            break;
        }
        double delay = c.reply.retry_delay_s >= 0 ? c.reply.retry_delay_s
                       : c.retry_after_s >= 0     ? c.retry_after_s
                                                  : next_backoff(e, attempt);
        if (delay > e->backoff_max_s) delay = e->backoff_max_s;
        if (gr_now() + delay > deadline) {
            size_t l = strlen(out->error);
            snprintf(out->error + l, sizeof out->error - l,
                     " (retry in %.1f s would pass the deadline)", delay);
            break;
        }
        gr_status w = wait_for(delay, cancel, req, deadline);
        if (w != GR_OK) {
            s = gr_err(w, out->error, sizeof out->error, "cloud %s: %s while waiting to retry",
                       proto_name(e), w == GR_E_CANCELLED ? "cancelled" : "deadline passed");
            break;
        }
        attempt++;
        s = GR_OK;
    }
    if (s != GR_OK && s != GR_E_INVALID_ARG && c.status == 0 && out->error[0] == 0)
        gr_err(s, out->error, sizeof out->error, "cloud %s: %s", proto_name(e), gr_status_str(s));
    fill_result(&c, s, out);
    call_free(&c);
    free(c.text);
    return s;
}
