/* test_http.c — the libcurl transport (net/http.h) against a real node HTTP server on loopback
 * (tests/cloud/server.mjs): GET/POST/HEAD, custom headers, status codes passed through, redirects
 * (same host keeps headers, another host drops them, POST->GET on 303), Range, a body cut short
 * (GR_E_NETWORK), idle timeout and deadline (GR_E_TIMEOUT), cancellation from another thread and
 * from a callback (GR_E_CANCELLED, connection closed: measured server-side and printed, not
 * asserted), connection refused, and error messages that never carry header values or the query
 * string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cloud/node_server.h"
#include "core/cancel.h"
#include "net/http.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static node_server g_srv;

static int setup(void **state) {
    (void)state;
    return node_server_start(&g_srv);
}

static int teardown(void **state) {
    (void)state;
    node_server_stop(&g_srv);
    return 0;
}

typedef struct hdrs_seen {
    int responses; /* status-line markers */
    int last_status;
    char content_type[128];
} hdrs_seen;

static int on_hdr(void *user, int status, const char *name, const char *value) {
    hdrs_seen *h = user;
    if (!name) {
        h->responses++;
        h->last_status = status;
        return 0;
    }
    if (strcasecmp(name, "content-type") == 0)
        snprintf(h->content_type, sizeof h->content_type, "%s", value);
    return 0;
}

typedef struct both {
    hdrs_seen h;
    ns_buf b;
} both;

static int both_hdr(void *u, int st, const char *n, const char *v) {
    return on_hdr(&((both *)u)->h, st, n, v);
}
static int both_data(void *u, int st, const void *d, size_t len) {
    return ns_buf_add(&((both *)u)->b, st, d, len);
}

static gr_status do_req(const gr_http_request *rq, both *out, int *status, char *err,
                        size_t errlen) {
    memset(out, 0, sizeof *out);
    return gr_http_perform(rq, both_hdr, both_data, out, status, err, errlen);
}

static gr_json *parse_body(const both *r) {
    gr_json *doc = NULL;
    assert_int_equal(gr_json_parse(r->b.p, r->b.len, NULL, &doc, NULL, 0), GR_OK);
    return doc;
}

static const char *jstr(const gr_json_val *o, const char *k) {
    return gr_json_str(gr_json_get(o, k), NULL);
}

static void test_get_and_headers(void **state) {
    (void)state;
    char url[256], err[256];
    snprintf(url, sizeof url, "%s/http/echo?x=1", g_srv.base);
    gr_http_header hs[] = {{"x-goog-api-key", "KEY-get-123"}, {"X-Other", "two"}};
    gr_http_request rq = {.url = url, .headers = hs, .n_headers = 2};
    both r;
    int status = 0;
    assert_int_equal(do_req(&rq, &r, &status, err, sizeof err), GR_OK);
    assert_int_equal(status, 200);
    assert_int_equal(r.h.responses, 1);
    assert_string_equal(r.h.content_type, "application/json");
    gr_json *doc = parse_body(&r);
    const gr_json_val *root = gr_json_root(doc);
    assert_string_equal(jstr(root, "method"), "GET");
    assert_string_equal(jstr(root, "query"), "?x=1");
    const gr_json_val *h = gr_json_get(root, "headers");
    assert_string_equal(jstr(h, "x-goog-api-key"), "KEY-get-123");
    assert_string_equal(jstr(h, "x-other"), "two");
    assert_null(gr_json_get(h, "expect"));
    gr_json_free(doc);
    free(r.b.p);
}

static void test_post_body(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/http/echo", g_srv.base);
    const char body[] = "{\"a\":\"\xc3\xa9\"}";
    gr_http_header hs[] = {{"Content-Type", "application/json"}};
    gr_http_request rq = {
        .url = url, .headers = hs, .n_headers = 1, .body = body, .body_len = strlen(body)};
    both r;
    int status = 0;
    assert_int_equal(do_req(&rq, &r, &status, NULL, 0), GR_OK);
    gr_json *doc = parse_body(&r);
    assert_string_equal(jstr(gr_json_root(doc), "method"), "POST");
    assert_string_equal(jstr(gr_json_root(doc), "body"), body);
    gr_json_free(doc);
    free(r.b.p);
    /* A large body (no 100-continue stall, all bytes arrive). */
    size_t big = 3u << 20;
    char *p = malloc(big + 1);
    assert_non_null(p);
    memset(p, 'z', big);
    p[big] = 0;
    rq.body = p;
    rq.body_len = big;
    assert_int_equal(do_req(&rq, &r, &status, NULL, 0), GR_OK);
    doc = parse_body(&r);
    size_t n = 0;
    gr_json_str(gr_json_get(gr_json_root(doc), "body"), &n);
    assert_int_equal(n, big);
    gr_json_free(doc);
    free(r.b.p);
    free(p);
}

static void test_status_passthrough_and_head(void **state) {
    (void)state;
    char url[256];
    int codes[] = {404, 429, 500, 503};
    for (size_t i = 0; i < 4; i++) {
        snprintf(url, sizeof url, "%s/http/status?code=%d", g_srv.base, codes[i]);
        gr_http_request rq = {.url = url};
        both r;
        int status = 0;
        assert_int_equal(do_req(&rq, &r, &status, NULL, 0), GR_OK);
        assert_int_equal(status, codes[i]);
        assert_non_null(strstr(r.b.p, "as asked"));
        free(r.b.p);
    }
    snprintf(url, sizeof url, "%s/http/echo", g_srv.base);
    gr_http_request rq = {.method = "HEAD", .url = url};
    both r;
    int status = 0;
    assert_int_equal(do_req(&rq, &r, &status, NULL, 0), GR_OK);
    assert_int_equal(status, 200);
    assert_int_equal(r.b.len, 0);
}

static void test_redirects(void **state) {
    (void)state;
    char url[512], err[256];
    gr_http_header hs[] = {{"Authorization", "Bearer KEY-redirect-456"},
                           {"x-goog-api-key", "KEY-redirect-456"}};
    /* Same origin: headers kept; only the final body reaches the data callback. */
    snprintf(url, sizeof url, "%s/http/redirect?code=302&to=/http/echo", g_srv.base);
    gr_http_request rq = {.url = url, .headers = hs, .n_headers = 2};
    both r;
    int status = 0;
    assert_int_equal(do_req(&rq, &r, &status, err, sizeof err), GR_OK);
    assert_int_equal(status, 200);
    assert_int_equal(r.h.responses, 2);
    gr_json *doc = parse_body(&r);
    assert_string_equal(jstr(gr_json_get(gr_json_root(doc), "headers"), "x-goog-api-key"),
                        "KEY-redirect-456");
    gr_json_free(doc);
    free(r.b.p);
    /* Another host (localhost instead of 127.0.0.1): no caller header follows. */
    snprintf(url, sizeof url, "%s/http/redirect?code=307&to=http://localhost:%d/http/echo",
             g_srv.base, g_srv.port);
    assert_int_equal(do_req(&rq, &r, &status, err, sizeof err), GR_OK);
    assert_int_equal(status, 200);
    doc = parse_body(&r);
    const gr_json_val *h = gr_json_get(gr_json_root(doc), "headers");
    assert_null(gr_json_get(h, "x-goog-api-key"));
    assert_null(gr_json_get(h, "authorization"));
    assert_non_null(strstr(jstr(h, "host"), "localhost"));
    gr_json_free(doc);
    free(r.b.p);
    /* 303 after a POST continues as GET without the body. */
    snprintf(url, sizeof url, "%s/http/redirect?code=303&to=/http/echo", g_srv.base);
    gr_http_request post = {.url = url, .body = "payload", .body_len = 7};
    assert_int_equal(do_req(&post, &r, &status, err, sizeof err), GR_OK);
    doc = parse_body(&r);
    assert_string_equal(jstr(gr_json_root(doc), "method"), "GET");
    assert_string_equal(jstr(gr_json_root(doc), "body"), "");
    gr_json_free(doc);
    free(r.b.p);
    /* 307 keeps the method and body. */
    snprintf(url, sizeof url, "%s/http/redirect?code=307&to=/http/echo", g_srv.base);
    post.url = url;
    assert_int_equal(do_req(&post, &r, &status, err, sizeof err), GR_OK);
    doc = parse_body(&r);
    assert_string_equal(jstr(gr_json_root(doc), "method"), "POST");
    assert_string_equal(jstr(gr_json_root(doc), "body"), "payload");
    gr_json_free(doc);
    free(r.b.p);
    /* A loop ends after 10 hops with GR_E_NETWORK. */
    snprintf(url, sizeof url, "%s/http/loop", g_srv.base);
    gr_http_request loop = {.url = url};
    assert_int_equal(do_req(&loop, &r, &status, err, sizeof err), GR_E_NETWORK);
    assert_non_null(strstr(err, "redirects"));
    free(r.b.p);
}

static void test_range(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/http/range", g_srv.base);
    gr_http_request rq = {.url = url, .range_from = 30};
    both r;
    int status = 0;
    assert_int_equal(do_req(&rq, &r, &status, NULL, 0), GR_OK);
    assert_int_equal(status, 206);
    assert_string_equal(r.b.p, "uvwxyz");
    free(r.b.p);
}

static void test_cut_body_is_network_error(void **state) {
    (void)state;
    char url[256], err[256];
    snprintf(url, sizeof url, "%s/http/cut?token=SECRETQUERY", g_srv.base);
    gr_http_request rq = {.url = url};
    both r;
    int status = 0;
    assert_int_equal(do_req(&rq, &r, &status, err, sizeof err), GR_E_NETWORK);
    assert_int_equal(status, 200);
    assert_int_equal(r.b.len, 100); /* what arrived was delivered */
    assert_non_null(strstr(err, "/http/cut"));
    assert_null(strstr(err, "SECRETQUERY"));
    free(r.b.p);
}

static void test_idle_timeout_and_deadline(void **state) {
    (void)state;
    char url[256], err[256];
    snprintf(url, sizeof url, "%s/http/slow?ms=3000", g_srv.base);
    gr_http_request rq = {.url = url, .idle_timeout_s = 0.3};
    both r;
    int status = 0;
    double t0 = gr_now();
    assert_int_equal(do_req(&rq, &r, &status, err, sizeof err), GR_E_TIMEOUT);
    assert_true(gr_now() - t0 < 2.5); /* not the server's 3 s: the idle timer fired */
    assert_non_null(strstr(err, "idle"));
    free(r.b.p);
    gr_http_request rq2 = {.url = url, .deadline = gr_now() + 0.3};
    t0 = gr_now();
    assert_int_equal(do_req(&rq2, &r, &status, err, sizeof err), GR_E_TIMEOUT);
    assert_true(gr_now() - t0 < 2.5);
    assert_non_null(strstr(err, "deadline"));
    free(r.b.p);
    /* The cancel token's own deadline counts too. */
    gr_cancel c;
    gr_cancel_init(&c);
    c.deadline = gr_now() + 0.2;
    gr_http_request rq3 = {.url = url, .cancel = &c};
    assert_int_equal(do_req(&rq3, &r, &status, err, sizeof err), GR_E_TIMEOUT);
    free(r.b.p);
}

typedef struct cancel_ctx {
    gr_cancel *c;
    int saw_trigger;
    int stop_from_callback; /* 1: return non-zero instead of setting the token */
} cancel_ctx;

static int cancel_on_trigger(void *user, int status, const void *data, size_t len) {
    (void)status;
    cancel_ctx *cc = user;
    if (memmem(data, len, "CANCEL-ME", 9)) {
        cc->saw_trigger = 1;
        if (cc->stop_from_callback) return 1;
        gr_cancel_set(cc->c);
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time from the server's write of the trigger chunk to the server seeing the socket close. */
static double close_latency_ms(void) {
    for (int tries = 0; tries < 50; tries++) {
        gr_json *doc = node_server_call(&g_srv, "GET", "/__log");
        const gr_json_val *cl = gr_json_get(gr_json_root(doc), "closes");
        const gr_json_val *last = gr_json_at(cl, gr_json_len(cl) ? gr_json_len(cl) - 1 : 0);
        const gr_json_val *tc = gr_json_get(last, "t_close"), *tt = gr_json_get(last, "t_trigger");
        double ms = -1;
        if (gr_json_is(tc, GR_JSON_NUMBER) && gr_json_is(tt, GR_JSON_NUMBER))
            ms = gr_json_num(tc) - gr_json_num(tt);
        gr_json_free(doc);
        if (ms >= 0) return ms;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void test_cancel_closes_connection(void **state) {
    (void)state;
    char url[256], err[256];
    snprintf(url, sizeof url, "%s/http/stream?every=10&trigger=5", g_srv.base);
    double ms[7];
    for (int i = 0; i < 7; i++) {
        node_server_reset(&g_srv);
        gr_cancel c;
        gr_cancel_init(&c);
        cancel_ctx cc = {&c, 0, i % 2};
        gr_http_request rq = {.url = url, .cancel = &c, .deadline = gr_now() + 10};
        int status = 0;
        assert_int_equal(
            gr_http_perform(&rq, NULL, cancel_on_trigger, &cc, &status, err, sizeof err),
            GR_E_CANCELLED);
        assert_true(cc.saw_trigger);
        ms[i] = close_latency_ms();
        assert_true(ms[i] >= 0); /* the server saw the socket close */
    }
    qsort(ms, 7, sizeof ms[0], cmp_double);
    printf("http cancel -> server-side socket close: median %.1f ms (min %.1f, max %.1f, n=7)\n",
           ms[3], ms[0], ms[6]);
}

typedef struct thread_cancel {
    gr_cancel *c;
    double after_s;
} thread_cancel;

static void *cancel_later(void *p) {
    thread_cancel *t = p;
    struct timespec ts = {0, (long)(t->after_s * 1e9)};
    nanosleep(&ts, NULL);
    gr_cancel_set(t->c);
    return NULL;
}

static void test_cancel_from_other_thread(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/http/slow?ms=3000", g_srv.base);
    gr_cancel c;
    gr_cancel_init(&c);
    thread_cancel tc = {&c, 0.15};
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, &tc);
    gr_http_request rq = {.url = url, .cancel = &c};
    double t0 = gr_now();
    assert_int_equal(gr_http_perform(&rq, NULL, NULL, NULL, NULL, NULL, 0), GR_E_CANCELLED);
    assert_true(gr_now() - t0 < 2.5);
    pthread_join(th, NULL);
    /* A token already set fails at once. */
    assert_int_equal(gr_http_perform(&rq, NULL, NULL, NULL, NULL, NULL, 0), GR_E_CANCELLED);
}

/* The HTTPS port has a self-signed certificate: verification must refuse it. */
static void test_tls_verification(void **state) {
    (void)state;
    if (!g_srv.tls_port) {
        printf("openssl missing: TLS check skipped\n");
        return;
    }
    char url[256], err[256];
    snprintf(url, sizeof url, "https://localhost:%d/http/echo", g_srv.tls_port);
    node_server_reset(&g_srv);
    gr_http_header hs[] = {{"x-goog-api-key", "KEY-tls-321"}};
    gr_http_request rq = {.url = url, .headers = hs, .n_headers = 1};
    int status = -1;
    assert_int_equal(gr_http_perform(&rq, NULL, NULL, NULL, &status, err, sizeof err),
                     GR_E_NETWORK);
    assert_int_equal(status, 0);
    assert_non_null(strstr(err, "certificate"));
    assert_null(strstr(err, "KEY-tls-321"));
    gr_json *log = node_server_call(&g_srv, "GET", "/__log");
    assert_int_equal(gr_json_len(gr_json_get(gr_json_root(log), "requests")),
                     0); /* nothing was sent */
    gr_json_free(log);
}

static void test_refused_and_bad_args(void **state) {
    (void)state;
    char err[256];
    gr_http_header hs[] = {{"Authorization", "Bearer KEY-refused-789"}};
    /* Port 1 on loopback: nothing listens there. */
    gr_http_request rq = {
        .url = "http://user:pw@127.0.0.1:1/x?key=KEY-refused-789", .headers = hs, .n_headers = 1};
    int status = -1;
    assert_int_equal(gr_http_perform(&rq, NULL, NULL, NULL, &status, err, sizeof err),
                     GR_E_NETWORK);
    assert_int_equal(status, 0);
    assert_null(strstr(err, "KEY-refused-789"));
    assert_null(strstr(err, "pw@"));
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_int_equal(gr_http_perform(NULL, NULL, NULL, NULL, NULL, err, sizeof err),
                     GR_E_INVALID_ARG);
    gr_http_request bad = {.url = "ftp://127.0.0.1/x"};
    assert_int_equal(gr_http_perform(&bad, NULL, NULL, NULL, NULL, err, sizeof err),
                     GR_E_INVALID_ARG);
    gr_http_header inj[] = {{"X-A", "v\r\nX-Injected: 1"}};
    char url[256];
    snprintf(url, sizeof url, "%s/http/echo", g_srv.base);
    gr_http_request bad2 = {.url = url, .headers = inj, .n_headers = 1};
    assert_int_equal(gr_http_perform(&bad2, NULL, NULL, NULL, NULL, err, sizeof err),
                     GR_E_INVALID_ARG);
    assert_null(strstr(err, "Injected"));
}

static void *parallel_get(void *p) {
    char *url = p;
    both r;
    int status = 0;
    gr_http_request rq = {.url = url};
    gr_status s = do_req(&rq, &r, &status, NULL, 0);
    free(r.b.p);
    return (void *)(intptr_t)(s == GR_OK && status == 200);
}

static void test_parallel_calls(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/http/echo", g_srv.base);
    pthread_t th[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, parallel_get, url);
    for (int i = 0; i < 6; i++) {
        void *ok = NULL;
        pthread_join(th[i], &ok);
        assert_true((intptr_t)ok);
    }
}

/* HTTP dates (Retry-After): a known value, every form we refuse, and a sweep against gmtime. */
static void test_http_date(void **state) {
    (void)state;
    double t = 0;
    assert_int_equal(gr_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t), GR_OK);
    assert_true(t == 784111777.0);
    const char *bad[] = {"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                         "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49:37 GMT ", "", "120"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(gr_http_date_parse(bad[i], &t), GR_E_FORMAT);
    assert_int_equal(gr_http_date_parse(NULL, &t), GR_E_FORMAT);
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) { /* 1970 .. ~2106, leap days included */
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        time_t when = (time_t)(x % 4294967296ull);
        struct tm tm;
        gmtime_r(&when, &tm);
        char buf[64];
        snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                 mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_int_equal(gr_http_date_parse(buf, &t), GR_OK);
        if (t != (double)when) fail_msg("%s: %.0f, want %lld", buf, t, (long long)when);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_headers),
        cmocka_unit_test(test_post_body),
        cmocka_unit_test(test_status_passthrough_and_head),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_cut_body_is_network_error),
        cmocka_unit_test(test_idle_timeout_and_deadline),
        cmocka_unit_test(test_cancel_closes_connection),
        cmocka_unit_test(test_cancel_from_other_thread),
        cmocka_unit_test(test_tls_verification),
        cmocka_unit_test(test_refused_and_bad_args),
        cmocka_unit_test(test_parallel_calls),
        cmocka_unit_test(test_http_date),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
