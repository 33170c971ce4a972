/* server.c — the HTTP side of `gemrun serve` on libmicrohttpd (thread per connection): request
 * limits (body size 413, content type 415, slow requests 408, idle connections closed), API-key
 * checks, dispatch to the Gemini / OpenAI / status / static handlers, common headers, and one
 * access-log line plus one metrics count per request when libmicrohttpd reports it complete.
 * Lifecycle (bind first, load later, graceful stop) is here too. It must not know the APIs'
 * JSON (parse.c, write.c) nor run generations (run.c). */
#include "server/srv.h"

#include "core/error.h"
#include "engine/engine_local.h"
#include "server/web_assets.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- replies -----------------------------------------------------------------------------------
 */

bool srv_is_openai(const srv_req *r) {
    return r->api == SRV_API_OPENAI_CHAT || r->api == SRV_API_OPENAI_MODELS;
}

void srv_add_headers(srv_req *r, struct MHD_Response *resp, const char *engine) {
    char id[24];
    snprintf(id, sizeof id, "%llu", (unsigned long long)r->id);
    MHD_add_response_header(resp, "X-Request-Id", id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* tell keep-alive clients when we drop idle connections, so they do not reuse a dying one */
    char ka[32];
    snprintf(ka, sizeof ka, "timeout=%d", r->srv->cfg.connection_timeout_s);
    MHD_add_response_header(resp, "Keep-Alive", ka);
    if (engine) {
        MHD_add_response_header(resp, "X-Gemrun-Engine", engine);
        snprintf(r->engine, sizeof r->engine, "%s", engine);
    }
    if (r->srv->cfg.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->srv->cfg.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "X-Gemrun-Engine, X-Request-Id");
    }
}

int srv_reply(srv_req *r, int status, const char *ctype, const char *body, size_t len,
              const char *engine) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    if (ctype) MHD_add_response_header(resp, "Content-Type", ctype);
    srv_add_headers(r, resp, engine);
    r->http_status = status;
    int ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

int srv_reply_json_owned(srv_req *r, int status, char *body, const char *engine) {
    if (!body) return srv_reply(r, 500, "text/plain", "out of memory\n", 14, NULL);
    int ret = srv_reply(r, status, "application/json", body, strlen(body), engine);
    free(body);
    return ret;
}

int srv_reply_error(srv_req *r, int status, const char *message, const char *engine) {
    if (r->outcome == SRV_OUT_OK)
        r->outcome = status == 503                    ? SRV_OUT_UNAVAILABLE
                     : status == 504 || status == 408 ? SRV_OUT_TIMEOUT
                     : status < 500                   ? SRV_OUT_CLIENT_ERROR
                                                      : SRV_OUT_SERVER_ERROR;
    char *body = srv_is_openai(r) ? srv_openai_error_body(status, message, NULL)
                                  : srv_gemini_error_body(status, message);
    return srv_reply_json_owned(r, status, body, engine);
}

/* ---- request classification and checks --------------------------------------------------------
 */

static srv_api classify(const char *method, const char *url) {
    bool post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) return SRV_API_HEALTH;
    if (!strcmp(url, "/metrics")) return SRV_API_METRICS;
    if (!strcmp(url, "/api/status")) return SRV_API_STATUS;
    if (!strcmp(url, "/v1/chat/completions")) return SRV_API_OPENAI_CHAT;
    if (!strcmp(url, "/v1/models") && !post) return SRV_API_OPENAI_MODELS;
    char model[160], m[40];
    if (srv_parse_model_path(url, model, sizeof model, m, sizeof m) == GR_OK ||
        !strcmp(url, "/v1beta/models") || !strcmp(url, "/models")) {
        if (!strcmp(m, "generateContent")) return SRV_API_GEMINI_GENERATE;
        if (!strcmp(m, "streamGenerateContent")) return SRV_API_GEMINI_STREAM;
        if (!strcmp(m, "countTokens")) return SRV_API_GEMINI_COUNT;
        return m[0] ? SRV_API_OTHER : SRV_API_GEMINI_MODELS; /* other methods: 404 */
    }
    if (!post && gr_web_asset_find(url)) return SRV_API_STATIC;
    return SRV_API_OTHER;
}

static bool key_equal(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) /* constant time in the length of the given key */
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return !diff;
}

/* Whether the request carries the configured key; answers the error itself when not. */
static bool check_key(srv_req *r) {
    const char *want = r->srv->cfg.api_key;
    if (!want || !*want) return true;
    const char *got = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "x-goog-api-key");
    if (!got) got = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "key");
    const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!got && auth && !strncasecmp(auth, "Bearer ", 7)) got = auth + 7;
    if (got && key_equal(got, want)) return true;
    if (srv_is_openai(r)) {
        char *b = srv_openai_error_body(401,
                                        got ? "Incorrect API key provided."
                                            : "Missing API key: send Authorization: Bearer KEY.",
                                        "invalid_api_key");
        r->outcome = SRV_OUT_CLIENT_ERROR;
        srv_reply_json_owned(r, 401, b, NULL);
    } else if (!got) {
        srv_reply_error(r, 403,
                        "Method doesn't allow unregistered callers: send the API key in the "
                        "x-goog-api-key header or the key query parameter.",
                        NULL);
    } else {
        srv_reply_error(r, 400, "API key not valid. Please pass a valid API key.", NULL);
    }
    return false;
}

/* Early checks on POST bodies, before any byte of the body is read. */
static bool check_post(srv_req *r) {
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        srv_reply_error(r, 415, "Content-Type must be application/json", NULL);
        return false;
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > r->srv->cfg.max_body_bytes) {
        char msg[120];
        snprintf(msg, sizeof msg, "request body too large (limit %zu bytes)",
                 r->srv->cfg.max_body_bytes);
        srv_reply_error(r, 413, msg, NULL);
        return false;
    }
    return true;
}

static bool body_add(srv_req *r, const char *data, size_t n) {
    if (r->body_too_large || r->body_len + n > r->srv->cfg.max_body_bytes) {
        r->body_too_large = true;
        return false;
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = (r->body_len + n + 1) * 2;
        if (cap > r->srv->cfg.max_body_bytes + 1) cap = r->srv->cfg.max_body_bytes + 1;
        char *p = realloc(r->body, cap);
        if (!p) return false;
        r->body = p, r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return true;
}

/* ---- handlers ----------------------------------------------------------------------------------
 */

static int reply_static(srv_req *r, const char *url) {
    const gr_web_asset *a = gr_web_asset_find(url);
    if (!a) return srv_reply_error(r, 404, "not found", NULL);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", a->mime);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    /* The page has no inline code and no external origins; SVG answers are shown as data: images. */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    srv_add_headers(r, resp, NULL);
    r->http_status = 200;
    int ret = MHD_queue_response(r->conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int reply_health(srv_req *r) {
    int state = atomic_load(&r->srv->ready);
    bool ok = state == 1;
    const char *b = ok           ? "{\"status\":\"ok\"}"
                    : state == 2 ? "{\"status\":\"error\"}"
                                 : "{\"status\":\"loading\"}";
    if (!ok) r->outcome = SRV_OUT_UNAVAILABLE;
    return srv_reply(r, ok ? 200 : 503, "application/json", b, strlen(b), NULL);
}

static int reply_metrics(srv_req *r) {
    char *t = srv_metrics_text(r->srv);
    if (!t) return srv_reply_error(r, 500, "out of memory", NULL);
    int ret = srv_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", t, strlen(t), NULL);
    free(t);
    return ret;
}

static int reply_count(srv_req *r, const char *model) {
    srv_gen g;
    char err[300];
    if (srv_gemini_parse_count(r->body ? r->body : "", r->body_len, &g, err, sizeof err)) {
        srv_gen_free(&g);
        return srv_reply_error(r, 400, err, NULL);
    }
    char *known = srv_gemini_models_json(r->srv, model);
    free(known);
    if (!known) {
        srv_gen_free(&g);
        snprintf(err, sizeof err, "models/%.100s is not found", model);
        return srv_reply_error(r, 404, err, NULL);
    }
    int n = srv_count_tokens(r->srv, &g.req, err, sizeof err);
    srv_gen_free(&g);
    if (n < 0) return srv_reply_error(r, n == -1 ? 503 : 400, err, NULL);
    char body[64];
    snprintf(body, sizeof body, "{\"totalTokens\":%d}", n);
    r->prompt_tokens = n;
    return srv_reply(r, 200, "application/json", body, strlen(body), NULL);
}

static int dispatch_gemini(srv_req *r, const char *url, bool post) {
    char model[160], m[40];
    bool list = !strcmp(url, "/v1beta/models") || !strcmp(url, "/models");
    if (!list && srv_parse_model_path(url, model, sizeof model, m, sizeof m))
        return srv_reply_error(r, 404, "not found", NULL);
    if (!post) {
        if (m[0] && !list) return srv_reply_error(r, 405, "use POST for this method", NULL);
        char *b = srv_gemini_models_json(r->srv, list ? NULL : model);
        if (!b && !list) {
            char msg[240];
            snprintf(msg, sizeof msg, "models/%.100s is not found", model);
            return srv_reply_error(r, 404, msg, NULL);
        }
        return srv_reply_json_owned(r, 200, b, NULL);
    }
    if (list || !m[0]) return srv_reply_error(r, 405, "use GET to list or get models", NULL);
    const char *alt = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "alt");
    if (!strcmp(m, "generateContent")) return srv_run_generate(r, model, false, false);
    if (!strcmp(m, "streamGenerateContent"))
        return srv_run_generate(r, model, true, alt && !strcmp(alt, "sse"));
    if (!strcmp(m, "countTokens")) return reply_count(r, model);
    char msg[120];
    snprintf(msg, sizeof msg, "method '%.40s' is not supported", m);
    return srv_reply_error(r, 404, msg, NULL);
}

static int reply_preflight(srv_req *r) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Allow", "GET, POST, OPTIONS");
    if (r->srv->cfg.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(
            resp, "Access-Control-Allow-Headers",
            "content-type, authorization, x-goog-api-key, x-goog-api-client, "
            "x-server-timeout, x-stainless-arch, x-stainless-lang, "
            "x-stainless-os, x-stainless-package-version, x-stainless-retry-count, "
            "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    srv_add_headers(r, resp, NULL);
    r->http_status = 204;
    int ret = MHD_queue_response(r->conn, 204, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int dispatch(srv_req *r, const char *url, const char *method) {
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(method, "OPTIONS")) return reply_preflight(r);
    if (!post && !get) return srv_reply_error(r, 405, "method not allowed", NULL);
    switch (r->api) {
    case SRV_API_HEALTH:
        return reply_health(r);
    case SRV_API_METRICS:
        return reply_metrics(r);
    case SRV_API_STATIC:
        return reply_static(r, url);
    case SRV_API_OTHER:
        return srv_reply_error(r, 404, "not found", NULL);
    default:
        break;
    }
    if (!check_key(r)) return MHD_YES;
    bool wants_post = r->api == SRV_API_OPENAI_CHAT || r->api == SRV_API_GEMINI_GENERATE ||
                      r->api == SRV_API_GEMINI_STREAM || r->api == SRV_API_GEMINI_COUNT;
    if (post != wants_post)
        return srv_reply_error(r, 405, post ? "use GET for this path" : "use POST for this path",
                               NULL);
    bool needs_model = r->api != SRV_API_STATUS && r->api != SRV_API_OPENAI_MODELS &&
                       r->api != SRV_API_GEMINI_MODELS;
    if (needs_model && atomic_load(&r->srv->ready) != 1) {
        r->outcome = SRV_OUT_REJECTED;
        return srv_reply_error(r, 503, "the server is loading the model; retry shortly", NULL);
    }
    switch (r->api) {
    case SRV_API_STATUS:
        return srv_reply_json_owned(r, 200, srv_status_json(r->srv), NULL);
    case SRV_API_OPENAI_MODELS:
        return srv_reply_json_owned(r, 200, srv_openai_models_json(r->srv), NULL);
    case SRV_API_OPENAI_CHAT:
        return srv_run_openai(r);
    default:
        return dispatch_gemini(r, url, post);
    }
}

/* 408 while the body is still arriving. libmicrohttpd 0.9.75 refuses to queue a response before
 * the body is complete, so the answer is written to the socket directly (nothing else has been
 * written to it yet) and the connection is then closed. */
static int reply_408_early(srv_req *r) {
    const char *msg = "request body not received in time";
    if (srv_reply_error(r, 408, msg, NULL) == MHD_YES) return MHD_YES;
    char *body =
        srv_is_openai(r) ? srv_openai_error_body(408, msg, NULL) : srv_gemini_error_body(408, msg);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (body && ci) {
        char head[200];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                         strlen(body));
        if (send(ci->connect_fd, head, (size_t)n, MSG_NOSIGNAL) == n)
            (void)!send(ci->connect_fd, body, strlen(body), MSG_NOSIGNAL);
    }
    free(body);
    r->http_status = 408;
    r->outcome = SRV_OUT_TIMEOUT;
    return MHD_NO;
}

/* First call for a request: state, classification, early rejections. */
static srv_req *begin(gr_server *s, struct MHD_Connection *conn, const char *url,
                      const char *method) {
    srv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->conn = conn;
    r->id = atomic_fetch_add(&s->next_id, 1) + 1;
    r->t_start = gr_now();
    r->api = classify(method, url);
    snprintf(r->method, sizeof r->method, "%s", method);
    snprintf(r->path, sizeof r->path, "%s", url);
    srv_metrics_in_flight(&s->metrics, 1);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    gr_server *s = cls;
    srv_req *r = *con_cls;
    if (!r) {
        r = begin(s, conn, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        if (!strcmp(method, "POST") && r->api != SRV_API_OTHER && !check_post(r)) r->handled = true;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->handled && gr_now() - r->t_start > s->cfg.request_timeout_s) {
            r->handled = true;
            *upload_size = 0;
            return reply_408_early(r);
        }
        if (!r->handled && !body_add(r, upload, *upload_size))
            r->drained += *upload_size;
        else if (r->handled)
            r->drained += *upload_size;
        if (r->drained > 64 * s->cfg.max_body_bytes) return MHD_NO; /* draining forever: close */
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->handled) return MHD_YES; /* an answer is already queued */
    r->handled = true;
    if (r->body_too_large) {
        char msg[120];
        snprintf(msg, sizeof msg, "request body too large (limit %zu bytes)",
                 s->cfg.max_body_bytes);
        return srv_reply_error(r, 413, msg, NULL) == MHD_YES ? MHD_YES : MHD_NO;
    }
    return dispatch(r, url, method) == MHD_YES ? MHD_YES : MHD_NO;
}

/* ---- completion: metrics and access log --------------------------------------------------------
 */

static void client_addr(struct MHD_Connection *c, char *out, size_t cap) {
    snprintf(out, cap, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)cap);
}

static void access_log(srv_req *r) {
    char ts[40], addr[64];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03ldZ", now.tv_nsec / 1000000);
    client_addr(r->conn, addr, sizeof addr);
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "ts"), gr_jw_str(&w, ts);
    gr_jw_key(&w, "id"), gr_jw_int(&w, (int64_t)r->id);
    gr_jw_key(&w, "client"), gr_jw_str(&w, addr);
    gr_jw_key(&w, "method"), gr_jw_str(&w, r->method);
    gr_jw_key(&w, "path"), gr_jw_str(&w, r->path); /* no query string: it may hold ?key= */
    gr_jw_key(&w, "route"), gr_jw_str(&w, srv_api_name(r->api));
    gr_jw_key(&w, "status"), gr_jw_int(&w, r->http_status);
    gr_jw_key(&w, "outcome"), gr_jw_str(&w, srv_outcome_name(r->outcome));
    if (r->feature[0]) gr_jw_key(&w, "feature"), gr_jw_str(&w, r->feature);
    if (r->engine[0]) gr_jw_key(&w, "engine"), gr_jw_str(&w, r->engine);
    if (r->model[0]) gr_jw_key(&w, "model"), gr_jw_str(&w, r->model);
    if (r->fallback_from[0]) gr_jw_key(&w, "fallback_from"), gr_jw_str(&w, r->fallback_from);
    if (r->prompt_tokens) gr_jw_key(&w, "prompt_tokens"), gr_jw_int(&w, r->prompt_tokens);
    if (r->completion_tokens)
        gr_jw_key(&w, "completion_tokens"), gr_jw_int(&w, r->completion_tokens);
    if (r->ttft_ms > 0)
        gr_jw_key(&w, "ttft_ms"), gr_jw_num(&w, (double)(long)(r->ttft_ms * 10) / 10);
    gr_jw_key(&w, "duration_ms"), gr_jw_num(&w, (double)(long)((gr_now() - r->t_start) * 1e4) / 10);
    gr_jw_end(&w);
    char *line = gr_jw_take(&w, NULL);
    gr_jw_free(&w);
    if (line) fprintf(stderr, "%s\n", line); /* one write per line: lines of threads do not mix */
    free(line);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn;
    gr_server *s = cls;
    srv_req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    srv_job_finish(r);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->outcome == SRV_OUT_OK) {
        r->outcome = SRV_OUT_CANCELLED;
        if (!r->http_status) r->http_status = 499;
    }
    if (!r->http_status) {
        /* the client left before an answer (e.g. while sending the body or waiting) */
        r->http_status = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408 : 499;
        r->outcome =
            toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? SRV_OUT_TIMEOUT : SRV_OUT_CANCELLED;
    }
    srv_metrics_request(&s->metrics, r->api, r->outcome);
    srv_metrics_in_flight(&s->metrics, -1);
    if (s->cfg.access_log) access_log(r);
    free(r->body);
    free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    /* a client leaving mid-answer is routine (the access log says "cancelled"), not an error */
    if (strstr(line, "application error generating response") ||
        strstr(line, "closed by remote peer") || strstr(line, "Connection reset"))
        return;
    fprintf(stderr, "gemrun serve: http: %s\n", line);
}

/* ---- lifecycle ---------------------------------------------------------------------------------
 */

static gr_status bind_addr(const char *host, int port, struct sockaddr_storage *ss, char *err,
                           size_t errlen) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc || !ai)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "--host %s: %s", host, gai_strerror(rc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return GR_OK;
}

static gr_status start_mhd(gr_server *s, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    gr_status st = bind_addr(s->cfg.host, s->cfg.port, &ss, err, errlen);
    if (st) return st;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_SOCK_ADDR, &ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->cfg.max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.connection_timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd)
        return gr_err(GR_E_IO, err, errlen,
                      "cannot listen on %s:%d (address in use or not permitted)", s->cfg.host,
                      s->cfg.port);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? di->port : s->cfg.port;
    bool v6 = ss.ss_family == AF_INET6;
    snprintf(s->url, sizeof s->url, "http://%s%s%s:%d", v6 ? "[" : "", s->cfg.host, v6 ? "]" : "",
             port);
    return GR_OK;
}

gr_status gr_server_new(const gr_server_config *cfg, gr_server **out, char *err, size_t errlen) {
    if (!cfg || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "server: NULL argument");
    *out = NULL;
    gr_server *s = calloc(1, sizeof *s);
    if (!s) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    s->cfg = *cfg;
    gr_server_config d;
    gr_server_config_init(&d);
    if (!s->cfg.host) s->cfg.host = "127.0.0.1";
    if (!s->cfg.max_body_bytes) s->cfg.max_body_bytes = d.max_body_bytes;
    if (!s->cfg.queue_size) s->cfg.queue_size = d.queue_size;
    if (s->cfg.max_connections <= 0) s->cfg.max_connections = d.max_connections;
    if (s->cfg.connection_timeout_s <= 0) s->cfg.connection_timeout_s = d.connection_timeout_s;
    if (s->cfg.request_timeout_s <= 0) s->cfg.request_timeout_s = d.request_timeout_s;
    if (s->cfg.generation_timeout_s <= 0) s->cfg.generation_timeout_s = d.generation_timeout_s;
    if (s->cfg.max_output_tokens <= 0) s->cfg.max_output_tokens = d.max_output_tokens;
    srv_metrics_init(&s->metrics);
    pthread_mutex_init(&s->rt_mu, NULL);
    gr_status st = gr_router_new(cfg->config_json, cfg->config_json ? cfg->config_len : 0,
                                 &s->router, err, errlen);
    if (!st) st = start_mhd(s, err, errlen);
    if (st) {
        gr_server_free(s);
        return st;
    }
    *out = s;
    return GR_OK;
}

const char *gr_server_url(const gr_server *s) {
    return s ? s->url : "";
}

void gr_server_free(gr_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1);
    MHD_socket ls =
        s->mhd ? MHD_quiesce_daemon(s->mhd) : MHD_INVALID_SOCKET; /* no new connections */
    if (s->local.queue) gr_queue_cancel_all(s->local.queue);
    if (s->cloud.queue) gr_queue_cancel_all(s->cloud.queue);
    if (s->mhd) MHD_stop_daemon(s->mhd);     /* waits for the connection threads */
    if (ls != MHD_INVALID_SOCKET) close(ls); /* quiesce hands the listening socket to us */
    gr_queue_free(s->local.queue);
    gr_queue_free(s->cloud.queue);
    if (s->tok) gr_tokenizer_free(s->tok);
    gr_model_free(s->model);
    gr_router_free(s->router);
    gr_json_free(s->config_doc);
    srv_metrics_destroy(&s->metrics);
    pthread_mutex_destroy(&s->rt_mu);
    free(s->plan_json);
    free(s->probe_json);
    free(s);
}
