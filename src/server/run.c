/* run.c — one generation request from parsed body to answer: resolve the model name (a feature, or
 * a served model id) with the router, submit to that engine's queue, and wait on the connection's
 * own thread (libmicrohttpd thread-per-connection) while watching the client socket: a client that
 * goes away cancels its task at once, whether it is still queued, in prompt processing or
 * generating, streamed or not. Streams are written by a content-reader callback that blocks the
 * same way. It must not parse HTTP bodies or format JSON by hand (parse.c, write.c do). */
#include "server/srv.h"

#include "core/error.h"

#include <microhttpd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WAIT_SLICE_MS 20
#define RETRY_AFTER_BUSY "2"
#define CLOUD_RECHECK_S 30.0

typedef enum srv_mode {
    MODE_GEMINI = 0,
    MODE_GEMINI_SSE,
    MODE_GEMINI_ARRAY,
    MODE_OPENAI,
    MODE_OPENAI_SSE
} srv_mode;

struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    gr_server *srv;
    gr_task *task;
    srv_mode mode;
    bool forward; /* stream deltas as they come (text output) */
    bool done, gone, got_first, cancel_counted, accounted;
    char *pend; /* deltas not written yet */
    size_t pend_len, pend_cap;
    double t_submit, t_first;
    int fd;
    /* output of the content reader */
    char *out;
    size_t out_len, out_off;
    int phase; /* 0 nothing written, 1 streaming, 2 finished */
    int chunks;
    bool include_usage;
    long created;
    char id[48];
    char feature[40], engine[16], model[128], reason[224];
};

/* ---- job lifetime ------------------------------------------------------------------------------
 */

static void job_unref(srv_job *j) {
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    if (j->task) gr_task_release(j->task);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->pend);
    free(j->out);
    free(j);
}

static srv_job *job_new(gr_server *s, srv_mode mode, int fd) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->refs = 1;
    j->srv = s;
    j->mode = mode;
    j->fd = fd;
    j->created = (long)time(NULL);
    return j;
}

static srv_route_info job_route(const srv_job *j) {
    return (srv_route_info){j->engine, j->model, j->feature, j->reason};
}

/* Worker thread: text deltas. */
static int job_sink(void *user, const char *delta, size_t len) {
    srv_job *j = user;
    pthread_mutex_lock(&j->mu);
    int stop = j->gone;
    if (!j->got_first && len) {
        j->got_first = true;
        j->t_first = gr_now();
    }
    if (!stop && j->forward && len) {
        if (j->pend_len + len + 1 > j->pend_cap) {
            size_t cap = (j->pend_len + len + 1) * 2;
            char *p = realloc(j->pend, cap);
            if (!p)
                stop = 1;
            else
                j->pend = p, j->pend_cap = cap;
        }
        if (!stop) {
            memcpy(j->pend + j->pend_len, delta, len);
            j->pend_len += len;
        }
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return stop;
}

static void feed_runtime_check(gr_server *s, const gr_result *res) {
    if (!s->rt_on || res->status != GR_OK || strcmp(res->engine, "local")) return;
    pthread_mutex_lock(&s->rt_mu);
    gr_rtcheck_state before = s->rt.state;
    gr_rtcheck_state now = gr_rtcheck_feed_result(&s->rt, res);
    pthread_mutex_unlock(&s->rt_mu);
    if (before == GR_RTCHECK_PENDING && now != GR_RTCHECK_PENDING)
        fprintf(
            stderr, "gemrun serve: runtime check: %s (%.1f tok/s measured, %.1f expected)%s%s\n",
            gr_rtcheck_state_str(now), s->rt.measured_tok_s, s->rt.o.expected_tok_s,
            now == GR_RTCHECK_DEGRADED ? ": " : "", now == GR_RTCHECK_DEGRADED ? s->rt.reason : "");
}

/* Any thread: the task completed. The result is published only after this returns, so it is read
 * (and accounted) on the connection's thread by job_result. */
static void job_done(void *user, gr_task *t) {
    (void)t;
    srv_job *j = user;
    pthread_mutex_lock(&j->mu);
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
}

/* The finished task's result; the first call feeds metrics, the runtime check and cloud state.
 * Called only on the connection's thread, after done was seen. */
static const gr_result *job_result(srv_job *j) {
    gr_task_wait(j->task);
    const gr_result *res = gr_task_result(j->task);
    if (res && !j->accounted) {
        j->accounted = true;
        srv_metrics_result(&j->srv->metrics, res);
        feed_runtime_check(j->srv, res);
        if (res->status == GR_E_NETWORK && !strcmp(res->engine, "cloud")) {
            atomic_store(&j->srv->cloud_down_ms, (long long)(gr_now() * 1e3));
            gr_router_set_cloud(j->srv->router, true, false); /* rechecked after a while */
        }
    }
    return res;
}

/* ---- watching the client -----------------------------------------------------------------------
 */

static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Cancel once because the client left (or the server stops); counts the stage. */
static void job_cancel(srv_job *j) {
    pthread_mutex_lock(&j->mu);
    bool first = !j->gone;
    j->gone = true;
    bool got_first = j->got_first, done = j->done;
    pthread_mutex_unlock(&j->mu);
    if (!first || !j->task || done) return;
    gr_task_state st = gr_task_cancel(j->task);
    if (st == GR_TASK_DONE) return;
    j->cancel_counted = true;
    srv_metrics_cancel(&j->srv->metrics, st == GR_TASK_PENDING ? SRV_STAGE_QUEUED
                                         : got_first           ? SRV_STAGE_GENERATION
                                                               : SRV_STAGE_PROMPT);
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += (long)ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

/* Wait until done (or, with want_text, until text is pending). false: the client left. */
static bool job_wait(srv_job *j, bool want_text) {
    pthread_mutex_lock(&j->mu);
    while (!j->done && !(want_text && j->pend_len)) {
        struct timespec ts;
        deadline_in(&ts, WAIT_SLICE_MS);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->done || (want_text && j->pend_len)) break;
        pthread_mutex_unlock(&j->mu);
        if (client_gone(j->fd) || atomic_load(&j->srv->stopping)) {
            job_cancel(j);
            return false;
        }
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return true;
}

/* ---- route resolution --------------------------------------------------------------------------
 */

typedef struct resolved {
    srv_engine_slot *slot;
    gr_route_decision d;
    char feature[40];
} resolved;

static bool is_feature(const char *name) {
    for (const char *const *f = gr_router_features(); *f; f++)
        if (!strcmp(*f, name)) return true;
    return false;
}

/* A cloud marked unreachable by a network error is tried again after CLOUD_RECHECK_S. */
static void recheck_cloud(gr_server *s) {
    long long down = atomic_load(&s->cloud_down_ms);
    if (down && gr_now() * 1e3 - (double)down > CLOUD_RECHECK_S * 1e3 &&
        atomic_compare_exchange_strong(&s->cloud_down_ms, &down, 0))
        gr_router_set_cloud(s->router, true, true);
}

/* HTTP status: 200 with *out filled, 404 unknown model, 503 unavailable (msg says why). */
static int resolve(gr_server *s, const char *name, resolved *out, char *msg, size_t cap) {
    memset(out, 0, sizeof *out);
    recheck_cloud(s);
    if (is_feature(name)) {
        snprintf(out->feature, sizeof out->feature, "%s", name);
        gr_route rt = gr_router_route(s->router, name, &out->d);
        out->slot = rt == GR_ROUTE_LOCAL ? &s->local : rt == GR_ROUTE_CLOUD ? &s->cloud : NULL;
        if (out->slot && !out->slot->queue) {
            snprintf(msg, cap, "feature '%s' is unavailable: the %s engine is not running", name,
                     gr_route_str(rt));
            return 503;
        }
        if (!out->slot) {
            snprintf(msg, cap, "feature '%s' is unavailable: %s", name, out->d.reason);
            return 503;
        }
        return 200;
    }
    gr_router_state st;
    gr_router_state_get(s->router, &st);
    snprintf(out->feature, sizeof out->feature, "chat");
    out->d = (gr_route_decision){.route = GR_ROUTE_LOCAL, .output = GR_OUTPUT_TEXT, .stream = true};
    if (s->local.queue && !strcmp(name, s->local.model_id)) {
        if (st.local_degraded) {
            snprintf(msg, cap, "feature 'chat' is unavailable: model '%s' is degraded: %s", name,
                     st.degraded_reason);
            return 503;
        }
        out->slot = &s->local;
        snprintf(out->d.reason, sizeof out->d.reason, "model id '%.80s' names the local model",
                 name);
        return 200;
    }
    if (s->cloud.queue && !strcmp(name, s->cloud.model_id)) {
        if (!st.cloud_configured || !st.cloud_reachable) {
            snprintf(msg, cap, "feature 'chat' is unavailable: cloud model '%s' is %s", name,
                     st.cloud_configured ? "not reachable" : "not configured (no API key)");
            return 503;
        }
        out->slot = &s->cloud;
        out->d.route = GR_ROUTE_CLOUD;
        snprintf(out->d.reason, sizeof out->d.reason, "model id '%.80s' names the cloud model",
                 name);
        return 200;
    }
    snprintf(
        msg, cap,
        "models/%.100s is not found: use a feature name (chat, tutoring, quiz-generation, ...) "
        "or a served model id (GET /v1beta/models lists them)",
        name);
    return 404;
}

/* ---- answering ---------------------------------------------------------------------------------
 */

static bool mode_openai(srv_mode m) {
    return m == MODE_OPENAI || m == MODE_OPENAI_SSE;
}

static int reply_unavailable(srv_req *r, int http, const char *msg, const char *retry) {
    char *body = srv_is_openai(r) ? srv_openai_error_body(http, msg, NULL)
                                  : srv_gemini_error_body(http, msg);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body ? strlen(body) : 0, body ? body : (char *)"",
                                        body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (retry) MHD_add_response_header(resp, "Retry-After", retry);
    srv_add_headers(r, resp, "unavailable");
    r->http_status = http;
    int ret = MHD_queue_response(r->conn, (unsigned)http, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void copy_log(srv_req *r, const srv_job *j, const gr_result *res) {
    snprintf(r->feature, sizeof r->feature, "%s", j->feature);
    snprintf(r->engine, sizeof r->engine, "%s", j->engine);
    snprintf(r->model, sizeof r->model, "%s", j->model);
    if (res) {
        r->prompt_tokens = res->usage.prompt_tokens;
        r->completion_tokens = res->usage.completion_tokens;
    }
    if (j->got_first) r->ttft_ms = (j->t_first - r->t_start) * 1e3;
}

static srv_outcome outcome_for(int http) {
    if (http < 400) return SRV_OUT_OK;
    if (http == 499) return SRV_OUT_CANCELLED;
    if (http == 504) return SRV_OUT_TIMEOUT;
    if (http == 503) return SRV_OUT_UNAVAILABLE;
    return http < 500 ? SRV_OUT_CLIENT_ERROR : SRV_OUT_SERVER_ERROR;
}

static int reply_result(srv_req *r, srv_job *j, const gr_result *res) {
    if (!res) return srv_reply_error(r, 500, "internal error: no result", j->engine);
    if (res->status != GR_OK) {
        int http = srv_http_for_status(res->status);
        r->outcome = outcome_for(http);
        char msg[320];
        snprintf(msg, sizeof msg, "%s engine: %s", j->engine,
                 res->error[0] ? res->error : gr_status_str(res->status));
        return srv_reply_error(r, http, msg, j->engine);
    }
    srv_route_info ri = job_route(j);
    char *body = mode_openai(j->mode)
                     ? srv_openai_response(res->text, res->text_len, res, &ri, j->id, j->created)
                     : srv_gemini_response(res->text, res->text_len, srv_gemini_finish(res->finish),
                                           &res->usage, &ri, res, j->id);
    r->outcome = SRV_OUT_OK;
    return srv_reply_json_owned(r, 200, body, j->engine);
}

/* ---- streaming ---------------------------------------------------------------------------------
 */

static void out_add(srv_job *j, const char *a, const char *b, const char *c) {
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
    size_t keep = j->out_len - j->out_off;
    char *p = malloc(keep + la + lb + lc + 1);
    if (!p) return;
    if (keep) memcpy(p, j->out + j->out_off, keep);
    if (la) memcpy(p + keep, a, la);
    if (lb) memcpy(p + keep + la, b, lb);
    if (lc) memcpy(p + keep + la + lb, c, lc);
    free(j->out);
    j->out = p;
    j->out_off = 0;
    j->out_len = keep + la + lb + lc;
}

/* One event in the stream's framing. */
static void emit(srv_job *j, char *json) {
    if (!json) return;
    switch (j->mode) {
    case MODE_GEMINI_SSE:
        out_add(j, "data: ", json, "\r\n\r\n");
        break;
    case MODE_GEMINI_ARRAY:
        out_add(j, j->chunks ? ",\r\n" : "[", json, NULL);
        break;
    default:
        out_add(j, "data: ", json, "\n\n");
        break;
    }
    j->chunks++;
    free(json);
}

static void emit_text(srv_job *j, const char *text, size_t len) {
    srv_route_info ri = job_route(j);
    if (mode_openai(j->mode))
        emit(j, srv_openai_chunk(1, text, len, NULL, &ri, j->id, j->created));
    else
        emit(j, srv_gemini_response(text, len, NULL, NULL, &ri, NULL, j->id));
}

/* The end of the stream: final chunk(s), or the error after text was sent. */
static void emit_final(srv_job *j, const char *text, size_t len, const gr_result *res) {
    srv_route_info ri = job_route(j);
    bool ok = res && (res->status == GR_OK);
    if (!ok) {
        int http = res ? srv_http_for_status(res->status) : 500;
        const char *msg = res && res->error[0] ? res->error : "generation failed";
        if (len) emit_text(j, text, len);
        if (mode_openai(j->mode)) {
            emit(j, srv_openai_error_body(http, msg, NULL));
            out_add(j, "data: [DONE]\n\n", NULL, NULL);
        } else if (j->mode == MODE_GEMINI_ARRAY) {
            char *e = srv_gemini_error_body(http, msg);
            if (e) out_add(j, j->chunks ? ",\r\n" : "[", e, "]");
            free(e);
        } else {
            char *e = srv_gemini_error_body(http, msg); /* a bare object, as Google's servers do */
            if (e) out_add(j, e, "\r\n\r\n", NULL);
            free(e);
        }
        return;
    }
    if (mode_openai(j->mode)) {
        if (len) emit_text(j, text, len);
        emit(j, srv_openai_chunk(2, NULL, 0, res, &ri, j->id, j->created));
        if (j->include_usage) emit(j, srv_openai_chunk(3, NULL, 0, res, &ri, j->id, j->created));
        out_add(j, "data: [DONE]\n\n", NULL, NULL);
        return;
    }
    emit(j, srv_gemini_response(text, len, srv_gemini_finish(res->finish), &res->usage, &ri, res,
                                j->id));
    if (j->mode == MODE_GEMINI_ARRAY) out_add(j, "]", NULL, NULL);
}

/* Takes what the engine produced since the last call; formats it. false: the client left. */
static bool stream_fill(srv_job *j) {
    if (!job_wait(j, true)) return false;
    pthread_mutex_lock(&j->mu);
    char *text = j->pend;
    size_t len = j->pend_len;
    bool done = j->done;
    j->pend = NULL, j->pend_len = j->pend_cap = 0;
    if (!done && !len) { /* woke on the first token's arrival only: wait for text or the end */
        pthread_mutex_unlock(&j->mu);
        free(text);
        return true;
    }
    pthread_mutex_unlock(&j->mu);
    if (j->phase == 0 && mode_openai(j->mode))
        emit(j, srv_openai_chunk(0, NULL, 0, NULL,
                                 &(srv_route_info){j->engine, j->model, j->feature, j->reason},
                                 j->id, j->created));
    j->phase = 1;
    if (done) {
        const gr_result *res = job_result(j);
        /* non-forwarded (structured) output arrives whole at the end */
        if (!j->forward && res && res->status == GR_OK)
            emit_final(j, res->text, res->text_len, res);
        else
            emit_final(j, text, len, res);
        j->phase = 2;
    } else {
        emit_text(j, text, len);
    }
    free(text);
    return true;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_job *j = cls;
    for (;;) {
        if (j->out_off < j->out_len) {
            size_t n = j->out_len - j->out_off < max ? j->out_len - j->out_off : max;
            memcpy(buf, j->out + j->out_off, n);
            j->out_off += n;
            return (ssize_t)n;
        }
        if (j->phase == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        if (client_gone(j->fd)) {
            job_cancel(j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (!stream_fill(j)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls) {
    job_unref(cls);
}

static int reply_stream(srv_req *r, srv_job *j) {
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, j, stream_free);
    if (!resp) return MHD_NO;
    pthread_mutex_lock(&j->mu);
    j->refs++; /* the response's reference, dropped by stream_free */
    pthread_mutex_unlock(&j->mu);
    const char *ctype = j->mode == MODE_GEMINI_ARRAY ? "application/json" : "text/event-stream";
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    srv_add_headers(r, resp, j->engine);
    r->http_status = 200;
    r->outcome = SRV_OUT_OK;
    int ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- entry -------------------------------------------------------------------------------------
 */

static int client_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

static void prepare_request(gr_server *s, srv_gen *g, const resolved *rv) {
    if (!g->has_format && rv->d.output != GR_OUTPUT_TEXT) g->req.output.kind = rv->d.output;
    int cap = s->cfg.max_output_tokens;
    if (g->req.max_tokens > cap) g->req.max_tokens = cap;
    g->req.deadline = gr_now() + s->cfg.generation_timeout_s;
    g->req.feature = rv->feature;
}

static srv_job *start_job(srv_req *r, srv_gen *g, const resolved *rv, srv_mode mode, int *http,
                          char *msg, size_t cap) {
    gr_server *s = r->srv;
    srv_job *j = job_new(s, mode, client_fd(r->conn));
    if (!j) {
        *http = 500;
        snprintf(msg, cap, "out of memory");
        return NULL;
    }
    j->forward =
        (mode != MODE_GEMINI && mode != MODE_OPENAI) && g->req.output.kind == GR_OUTPUT_TEXT;
    j->include_usage = g->include_usage;
    snprintf(j->id, sizeof j->id, "%s%llx", mode_openai(mode) ? "chatcmpl-" : "gr-",
             (unsigned long long)r->id);
    snprintf(j->feature, sizeof j->feature, "%s", rv->feature);
    snprintf(j->engine, sizeof j->engine, "%s", gr_route_str(rv->d.route));
    snprintf(j->model, sizeof j->model, "%s", rv->slot->model_id);
    snprintf(j->reason, sizeof j->reason, "%s", rv->d.reason);
    j->refs++; /* the queue's reference, dropped by job_done */
    j->t_submit = gr_now();
    gr_task_opts o = {.sink = job_sink, .sink_user = j, .on_done = job_done, .done_user = j};
    char err[256] = "";
    gr_task *t = NULL;
    gr_status st = gr_queue_submit(rv->slot->queue, &g->req, &o, &t, err, sizeof err);
    if (st) {
        j->refs--; /* on_done never runs for a refused submit */
        job_unref(j);
        *http = srv_http_for_status(st);
        snprintf(msg, cap, "%s",
                 st == GR_E_BUSY ? "the server is busy: the queue is full, retry later" : err);
        return NULL;
    }
    pthread_mutex_lock(&j->mu);
    j->task = t;
    pthread_mutex_unlock(&j->mu);
    return j;
}

/* The engine failed before any text reached the client: when the feature's configuration names a
 * fallback that is usable now (the router's `alternative`) and the failure is the engine's, not the
 * caller's, the same request goes to the other engine. Returns the job whose answer the client gets
 * (the first one when there is no fallback or it cannot be started). */
static srv_job *fall_back(srv_req *r, srv_gen *g, const resolved *rv, srv_mode mode, srv_job *j,
                          bool streaming, bool *alive) {
    pthread_mutex_lock(&j->mu);
    bool early = j->done && j->pend_len == 0 && !j->got_first;
    pthread_mutex_unlock(&j->mu);
    if (!early || rv->d.alternative == GR_ROUTE_UNAVAILABLE) return j;
    const gr_result *res = job_result(j);
    if (!res || res->status == GR_OK || !gr_route_should_fall_back(res->status)) return j;
    gr_server *s = r->srv;
    resolved alt = *rv;
    alt.slot = rv->d.alternative == GR_ROUTE_LOCAL ? &s->local : &s->cloud;
    if (!alt.slot->queue) return j;
    alt.d.route = rv->d.alternative;
    alt.d.alternative = GR_ROUTE_UNAVAILABLE;
    alt.d.fallback = true;
    snprintf(alt.d.reason, sizeof alt.d.reason, "%s: %s failed (%.110s); fell back to %s", rv->feature,
             gr_route_str(rv->d.route), res->error[0] ? res->error : gr_status_str(res->status),
             gr_route_str(alt.d.route));
    int http;
    char msg[400];
    srv_job *j2 = start_job(r, g, &alt, mode, &http, msg, sizeof msg);
    if (!j2) return j;
    srv_metrics_fallback(&s->metrics, alt.d.route == GR_ROUTE_CLOUD);
    snprintf(r->fallback_from, sizeof r->fallback_from, "%s", gr_route_str(rv->d.route));
    job_unref(j);
    *alive = job_wait(j2, streaming && j2->forward);
    return j2;
}

/* The idle timeout is off while a generation runs (a long prefill or a slow token is not an idle
 * client); setting it again after 0 restarts its timer. */
static void restore_timeout(srv_req *r) {
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned)r->srv->cfg.connection_timeout_s);
}

static int run(srv_req *r, srv_gen *g, const char *model_name, srv_mode mode) {
    gr_server *s = r->srv;
    char msg[400];
    resolved rv;
    int http = resolve(s, model_name, &rv, msg, sizeof msg);
    snprintf(r->feature, sizeof r->feature, "%s", rv.feature);
    if (http == 404) return srv_reply_error(r, 404, msg, NULL);
    if (http != 200) {
        r->outcome = SRV_OUT_UNAVAILABLE;
        return reply_unavailable(r, 503, msg, NULL);
    }
    prepare_request(s, g, &rv);
    srv_job *j = start_job(r, g, &rv, mode, &http, msg, sizeof msg);
    if (!j) {
        r->outcome = http == 503 ? SRV_OUT_REJECTED : SRV_OUT_SERVER_ERROR;
        return http == 503 ? reply_unavailable(r, 503, msg, RETRY_AFTER_BUSY)
                           : srv_reply_error(r, http, msg, NULL);
    }
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    bool streaming =
        mode == MODE_GEMINI_SSE || mode == MODE_GEMINI_ARRAY || mode == MODE_OPENAI_SSE;
    bool alive = job_wait(j, streaming && j->forward);
    if (alive) j = fall_back(r, g, &rv, mode, j, streaming, &alive);
    copy_log(r, j, NULL);
    if (!alive) {
        r->outcome = SRV_OUT_CANCELLED;
        r->http_status = 499;
        job_unref(j);
        return MHD_NO; /* closes the connection */
    }
    pthread_mutex_lock(&j->mu);
    bool done = j->done, any = j->pend_len > 0;
    pthread_mutex_unlock(&j->mu);
    const gr_result *res = done ? job_result(j) : NULL;
    if (j->got_first) srv_metrics_ttft(&s->metrics, j->t_first - r->t_start);
    int ret;
    if (!streaming || (done && !any && res && res->status != GR_OK)) {
        restore_timeout(r);
        copy_log(r, j, res);
        ret = reply_result(r, j, res);
        job_unref(j);
        return ret;
    }
    r->job = j; /* the stream owns it now; srv_job_finish drops it */
    return reply_stream(r, j);
}

void srv_job_finish(srv_req *r) {
    srv_job *j = r->job;
    if (!j) return;
    r->job = NULL;
    restore_timeout(r); /* the stream is over; the connection may be kept alive */
    pthread_mutex_lock(&j->mu);
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    if (!done) {
        job_cancel(j);
        r->outcome = SRV_OUT_CANCELLED;
    }
    const gr_result *res = NULL;
    if (done) res = job_result(j);
    copy_log(r, j, res);
    if (done && res && res->status != GR_OK && r->outcome == SRV_OUT_OK)
        r->outcome = outcome_for(srv_http_for_status(res->status));
    job_unref(j);
}

int srv_run_generate(srv_req *r, const char *model_name, bool stream, bool sse) {
    srv_gen g;
    char err[300];
    if (srv_gemini_parse(r->body ? r->body : "", r->body_len, &g, err, sizeof err)) {
        srv_gen_free(&g);
        return srv_reply_error(r, 400, err, NULL);
    }
    int ret = run(r, &g, model_name,
                  !stream ? MODE_GEMINI
                  : sse   ? MODE_GEMINI_SSE
                          : MODE_GEMINI_ARRAY);
    srv_gen_free(&g);
    return ret;
}

int srv_run_openai(srv_req *r) {
    srv_gen g;
    char err[300];
    if (srv_openai_parse(r->body ? r->body : "", r->body_len, &g, err, sizeof err)) {
        srv_gen_free(&g);
        return srv_reply_error(r, 400, err, NULL);
    }
    int ret = run(r, &g, g.model, g.stream ? MODE_OPENAI_SSE : MODE_OPENAI);
    srv_gen_free(&g);
    return ret;
}
