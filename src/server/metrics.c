/* metrics.c — the server's counters and their Prometheus text exposition (GET /metrics): requests
 * by API route and outcome, cancellations by stage, prompt / generated tokens and seconds by
 * engine, a time-to-first-token histogram, requests in flight, and queue gauges read at scrape
 * time. Every request is counted exactly once, when it completes, so the outcomes add up to the
 * total. It must not block on anything but its own mutex. */
#include "server/srv.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const double TTFT_LE[SRV_TTFT_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10,  30};

static const char *const API_NAMES[SRV_API_COUNT] = {
    "gemini_generate", "gemini_stream", "gemini_count_tokens",
    "gemini_models",   "openai_chat",   "openai_models",
    "api_status",      "health",        "metrics",
    "static",          "other"};
static const char *const OUT_NAMES[SRV_OUT_COUNT] = {
    "ok", "cancelled", "rejected", "unavailable", "client_error", "server_error", "timeout"};
static const char *const STAGE_NAMES[3] = {"queued", "prompt", "generation"};

const char *srv_api_name(srv_api a) {
    return a < SRV_API_COUNT ? API_NAMES[a] : "other";
}
const char *srv_outcome_name(srv_outcome o) {
    return o < SRV_OUT_COUNT ? OUT_NAMES[o] : "ok";
}

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void srv_metrics_destroy(srv_metrics *m) {
    pthread_mutex_destroy(&m->mu);
}

void srv_metrics_request(srv_metrics *m, srv_api api, srv_outcome o) {
    pthread_mutex_lock(&m->mu);
    m->requests[api < SRV_API_COUNT ? api : SRV_API_OTHER][o < SRV_OUT_COUNT ? o : 0]++;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_cancel(srv_metrics *m, srv_stage stage) {
    pthread_mutex_lock(&m->mu);
    m->cancelled[stage <= SRV_STAGE_GENERATION ? stage : 0]++;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_fallback(srv_metrics *m, bool to_cloud) {
    pthread_mutex_lock(&m->mu);
    m->fallbacks[to_cloud]++;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_result(srv_metrics *m, const gr_result *r) {
    int e = strcmp(r->engine, "cloud") == 0;
    double prompt_s = r->timings.ttft_ms / 1e3;
    double gen_s = r->usage.completion_tokens > 1 && r->timings.gen_tok_s > 0
                       ? (r->usage.completion_tokens - 1) / r->timings.gen_tok_s
                       : 0;
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens[e] += (uint64_t)(r->usage.prompt_tokens > 0 ? r->usage.prompt_tokens : 0);
    m->generated_tokens[e] +=
        (uint64_t)(r->usage.completion_tokens > 0 ? r->usage.completion_tokens : 0);
    m->prompt_seconds[e] += prompt_s > 0 ? prompt_s : 0;
    m->generation_seconds[e] += gen_s;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_ttft(srv_metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    int b = 0;
    while (b < SRV_TTFT_BUCKETS && seconds > TTFT_LE[b])
        b++;
    m->ttft_bucket[b]++;
    m->ttft_sum += seconds;
    m->ttft_count++;
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_in_flight(srv_metrics *m, int delta) {
    pthread_mutex_lock(&m->mu);
    m->in_flight += delta;
    pthread_mutex_unlock(&m->mu);
}

/* Growable text for the exposition. */
typedef struct text {
    char *p;
    size_t n, cap;
    bool oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (t->p && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = (t->cap + (size_t)k + 1) * 2;
        char *q = realloc(t->p, cap);
        if (!q) {
            t->oom = true;
            return;
        }
        t->p = q, t->cap = cap;
    }
}

static void queue_gauges(text *t, gr_server *s) {
    put(t, "# HELP gemrun_queue_depth Requests waiting in an engine's queue.\n"
           "# TYPE gemrun_queue_depth gauge\n");
    const srv_engine_slot *slots[2] = {&s->local, &s->cloud};
    const char *names[2] = {"local", "cloud"};
    gr_queue_status st[2];
    if (atomic_load(&s->ready) == 0) return; /* the loader is still creating the queues */
    for (int i = 0; i < 2; i++) {
        memset(&st[i], 0, sizeof st[i]);
        if (slots[i]->queue) gr_queue_status_get(slots[i]->queue, &st[i]);
        if (slots[i]->queue)
            put(t, "gemrun_queue_depth{engine=\"%s\"} %zu\n", names[i], st[i].depth);
    }
    put(t, "# HELP gemrun_queue_running Whether an engine is generating (1) or idle (0).\n"
           "# TYPE gemrun_queue_running gauge\n");
    for (int i = 0; i < 2; i++)
        if (slots[i]->queue)
            put(t, "gemrun_queue_running{engine=\"%s\"} %d\n", names[i], st[i].running_id != 0);
    put(t, "# HELP gemrun_queue_rejected_total Submits refused because the queue was full.\n"
           "# TYPE gemrun_queue_rejected_total counter\n");
    for (int i = 0; i < 2; i++)
        if (slots[i]->queue)
            put(t, "gemrun_queue_rejected_total{engine=\"%s\"} %llu\n", names[i],
                (unsigned long long)st[i].rejected);
}

static void engine_counters(text *t, const srv_metrics *m) {
    const char *names[2] = {"local", "cloud"};
    put(t, "# HELP gemrun_prompt_tokens_total Prompt tokens of finished generations.\n"
           "# TYPE gemrun_prompt_tokens_total counter\n");
    for (int e = 0; e < 2; e++)
        put(t, "gemrun_prompt_tokens_total{engine=\"%s\"} %llu\n", names[e],
            (unsigned long long)m->prompt_tokens[e]);
    put(t, "# HELP gemrun_generated_tokens_total Generated tokens.\n"
           "# TYPE gemrun_generated_tokens_total counter\n");
    for (int e = 0; e < 2; e++)
        put(t, "gemrun_generated_tokens_total{engine=\"%s\"} %llu\n", names[e],
            (unsigned long long)m->generated_tokens[e]);
    put(t,
        "# HELP gemrun_prompt_seconds_total Engine time to the first token (prompt processing).\n"
        "# TYPE gemrun_prompt_seconds_total counter\n");
    for (int e = 0; e < 2; e++)
        put(t, "gemrun_prompt_seconds_total{engine=\"%s\"} %.6f\n", names[e], m->prompt_seconds[e]);
    put(t,
        "# HELP gemrun_generation_seconds_total Engine time spent decoding after the first token.\n"
        "# TYPE gemrun_generation_seconds_total counter\n");
    for (int e = 0; e < 2; e++)
        put(t, "gemrun_generation_seconds_total{engine=\"%s\"} %.6f\n", names[e],
            m->generation_seconds[e]);
}

static void histogram(text *t, const srv_metrics *m) {
    put(t,
        "# HELP gemrun_time_to_first_token_seconds Request arrival to the first generated text.\n"
        "# TYPE gemrun_time_to_first_token_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < SRV_TTFT_BUCKETS; b++) {
        cum += m->ttft_bucket[b];
        put(t, "gemrun_time_to_first_token_seconds_bucket{le=\"%g\"} %llu\n", TTFT_LE[b],
            (unsigned long long)cum);
    }
    cum += m->ttft_bucket[SRV_TTFT_BUCKETS];
    put(t, "gemrun_time_to_first_token_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)cum);
    put(t, "gemrun_time_to_first_token_seconds_sum %.6f\n", m->ttft_sum);
    put(t, "gemrun_time_to_first_token_seconds_count %llu\n", (unsigned long long)m->ttft_count);
}

char *srv_metrics_text(gr_server *s) {
    text t = {0};
    srv_metrics m;
    pthread_mutex_lock(&s->metrics.mu);
    m = s->metrics; /* a snapshot: the copy's mutex is never used */
    pthread_mutex_unlock(&s->metrics.mu);
    put(&t,
        "# HELP gemrun_requests_total HTTP requests by API route and outcome (counted when done).\n"
        "# TYPE gemrun_requests_total counter\n");
    for (int a = 0; a < SRV_API_COUNT; a++)
        for (int o = 0; o < SRV_OUT_COUNT; o++)
            if (m.requests[a][o] || o == SRV_OUT_OK)
                put(&t, "gemrun_requests_total{route=\"%s\",outcome=\"%s\"} %llu\n", API_NAMES[a],
                    OUT_NAMES[o], (unsigned long long)m.requests[a][o]);
    put(&t,
        "# HELP gemrun_requests_in_flight Requests received and not yet completed.\n"
        "# TYPE gemrun_requests_in_flight gauge\ngemrun_requests_in_flight %lld\n",
        (long long)m.in_flight);
    put(&t,
        "# HELP gemrun_cancellations_total Generations cancelled because the client went away.\n"
        "# TYPE gemrun_cancellations_total counter\n");
    for (int i = 0; i < 3; i++)
        put(&t, "gemrun_cancellations_total{stage=\"%s\"} %llu\n", STAGE_NAMES[i],
            (unsigned long long)m.cancelled[i]);
    put(&t,
        "# HELP gemrun_fallbacks_total Requests whose engine failed before any text and that went to "
        "the feature's fallback engine.\n"
        "# TYPE gemrun_fallbacks_total counter\n"
        "gemrun_fallbacks_total{to=\"local\"} %llu\ngemrun_fallbacks_total{to=\"cloud\"} %llu\n",
        (unsigned long long)m.fallbacks[0], (unsigned long long)m.fallbacks[1]);
    engine_counters(&t, &m);
    histogram(&t, &m);
    queue_gauges(&t, s);
    put(&t,
        "# HELP gemrun_ready Whether the model is loaded and the server ready.\n"
        "# TYPE gemrun_ready gauge\ngemrun_ready %d\n",
        atomic_load(&s->ready));
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    return t.p;
}
