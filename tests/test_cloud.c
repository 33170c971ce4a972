/* test_cloud.c — the cloud engine (engine_cloud.h) against a real scripted HTTP server on loopback
 * (tests/cloud/server.mjs, which writes the Gemini and OpenAI wire formats of the spec). Covers the
 * request bodies (read back from the server's log), streaming and unary answers, thought parts
 * filtered, usage and finish reasons, the endpoint strategy (conversational streams, structured
 * does not, 400-before-stream falls back once), retries (RetryInfo / Retry-After / retry-after-ms
 * delays measured server-side as lower bounds, 503 then success, exhausted retries), every error
 * mapping, a stream cut in the middle (partial text kept), malformed JSON, a slow server past the
 * deadline, cancellation (connection close time measured server-side, printed), and a distinctive
 * API key that must never appear in any error string or in `gemrun run --engine cloud` output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cloud/gemini.h"
#include "cloud/node_server.h"
#include "cloud/openai.h"
#include "core/json.h"
#include "engine/engine_cloud.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define KEY "GRKEY-c0ffee-5ecret-77"
#define ANSWER "Hello, world! Ünïcødé ✓" /* what the scripted server answers, thoughts removed */

static node_server g_srv;

static int setup(void **state) {
    (void)state;
    unsetenv("GEMINI_API_KEY");
    unsetenv("OPENAI_API_KEY");
    return node_server_start(&g_srv);
}

static int teardown(void **state) {
    (void)state;
    node_server_stop(&g_srv);
    return 0;
}

typedef struct opts {
    gr_cloud_protocol proto;
    const char *model;
    int max_retries; /* -1: engine default */
    double backoff;  /* backoff_initial_s */
    int json_array;
    int fold_system;
    const char *key; /* NULL: KEY */
} opts;

static gr_engine *make_engine(const opts *o) {
    gr_cloud_config cfg;
    gr_cloud_config_init(&cfg);
    cfg.protocol = o->proto;
    cfg.base_url = g_srv.base;
    cfg.model = o->model;
    cfg.api_key = o->key ? o->key : KEY;
    cfg.max_retries = o->max_retries;
    cfg.backoff_initial_s = o->backoff > 0 ? o->backoff : 0.05;
    cfg.json_array_stream = o->json_array;
    cfg.fold_system = o->fold_system;
    gr_engine *e = NULL;
    char err[256];
    assert_int_equal(gr_cloud_engine_new(&cfg, &e, err, sizeof err), GR_OK);
    return e;
}

typedef struct sink_buf {
    char text[4096];
    size_t len;
    int calls;
    gr_cancel *cancel_on_trigger;
} sink_buf;

static int sink(void *user, const char *d, size_t n) {
    sink_buf *s = user;
    if (s->len + n < sizeof s->text) {
        memcpy(s->text + s->len, d, n);
        s->len += n;
        s->text[s->len] = 0;
    }
    s->calls++;
    if (s->cancel_on_trigger && memmem(d, n, "CANCEL-ME", 9)) gr_cancel_set(s->cancel_on_trigger);
    return 0;
}

static const gr_message CHAT[] = {
    {.role = GR_ROLE_SYSTEM, .text = "Answer briefly."},
    {.role = GR_ROLE_USER, .text = "Say hello"},
    {.role = GR_ROLE_MODEL, .text = "Hi."},
    {.role = GR_ROLE_USER, .text = "Again, please"},
};
static const char *const STOPS[] = {"\n\n", "END"};

static gr_request chat_request(void) {
    gr_request r = {
        .messages = CHAT, .n_messages = 4, .max_tokens = 64, .stop = STOPS, .n_stop = 2};
    r.sampling = (gr_sampling){.temperature = 0.7f, .top_k = 40, .top_p = 0.95f, .seed = 1234};
    return r;
}

static const char *SCHEMA = "{\"type\":\"object\",\"properties\":{\"answer\":{\"type\":\"integer\"}"
                            "},\"required\":[\"answer\"]}";

/* Run a request and check the invariants every result must hold. */
static gr_status run(gr_engine *e, const gr_request *req, sink_buf *sb, gr_cancel *c,
                     gr_result *out) {
    gr_status s = gr_engine_generate(e, req, sb ? sink : NULL, sb, c, out);
    assert_int_equal(out->status, s);
    assert_string_equal(out->engine, "cloud");
    assert_null(strstr(out->error, KEY));
    if (s != GR_OK) assert_true(out->error[0] != 0);
    if (sb) { /* the deltas add up to the text */
        assert_int_equal(sb->len, out->text_len);
        if (out->text_len) assert_memory_equal(sb->text, out->text, out->text_len);
    }
    return s;
}

/* The server's log of requests since the last reset. */
static gr_json *server_log(void) {
    gr_json *doc = node_server_call(&g_srv, "GET", "/__log");
    assert_non_null(doc);
    return doc;
}

static const gr_json_val *log_req(gr_json *doc, size_t i) {
    return gr_json_at(gr_json_get(gr_json_root(doc), "requests"), i);
}

static size_t log_count(gr_json *doc) {
    return gr_json_len(gr_json_get(gr_json_root(doc), "requests"));
}

/* The scripted server saw exactly n API requests since its last reset. */
static void expect_requests(size_t n) {
    gr_json *log = server_log();
    assert_int_equal(log_count(log), n);
    gr_json_free(log);
}

static gr_json *req_body(const gr_json_val *rq) {
    size_t n = 0;
    const char *b = gr_json_str(gr_json_get(rq, "body"), &n);
    gr_json *doc = NULL;
    assert_int_equal(gr_json_parse(b, n, NULL, &doc, NULL, 0), GR_OK);
    return doc;
}

static const char *hdr(const gr_json_val *rq, const char *name) {
    return gr_json_str(gr_json_get(gr_json_get(rq, "headers"), name), NULL);
}

static double num_at(const gr_json_val *v, const char *path0, const char *path1) {
    const gr_json_val *x = gr_json_get(v, path0);
    if (path1) x = gr_json_get(x, path1);
    return gr_json_num(x);
}

static void test_gemini_stream(void **state) {
    (void)state;
    node_server_reset(&g_srv);
    opts o = {GR_CLOUD_GEMINI, "ok", -1, 0, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    sink_buf sb = {0};
    gr_result out;
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_OK);
    assert_string_equal(out.text, ANSWER);
    assert_null(strstr(out.text, "thinking"));
    assert_true(sb.calls >= 3); /* it streamed */
    assert_int_equal(out.finish, GR_FINISH_STOP);
    assert_int_equal(out.usage.prompt_tokens, 7);
    assert_int_equal(out.usage.completion_tokens, 12); /* candidates 9 + thoughts 3 */
    assert_string_equal(out.model, "ok");
    gr_result_clear(&out);
    /* What went over the wire. */
    gr_json *log = server_log();
    assert_int_equal(log_count(log), 1);
    const gr_json_val *r0 = log_req(log, 0);
    assert_string_equal(gr_json_str(gr_json_get(r0, "url"), NULL),
                        "/v1beta/models/ok:streamGenerateContent?alt=sse");
    assert_string_equal(hdr(r0, "x-goog-api-key"), KEY);
    assert_null(hdr(r0, "authorization"));
    assert_string_equal(hdr(r0, "content-type"), "application/json");
    gr_json *b = req_body(r0);
    const gr_json_val *root = gr_json_root(b);
    const gr_json_val *si = gr_json_get(root, "systemInstruction");
    assert_string_equal(
        gr_json_str(gr_json_get(gr_json_at(gr_json_get(si, "parts"), 0), "text"), NULL),
        "Answer briefly.");
    const gr_json_val *contents = gr_json_get(root, "contents");
    assert_int_equal(gr_json_len(contents), 3);
    const char *roles[] = {"user", "model", "user"};
    const char *texts[] = {"Say hello", "Hi.", "Again, please"};
    for (size_t i = 0; i < 3; i++) {
        const gr_json_val *c = gr_json_at(contents, i);
        assert_string_equal(gr_json_str(gr_json_get(c, "role"), NULL), roles[i]);
        assert_string_equal(
            gr_json_str(gr_json_get(gr_json_at(gr_json_get(c, "parts"), 0), "text"), NULL),
            texts[i]);
    }
    const gr_json_val *gc = gr_json_get(root, "generationConfig");
    assert_true(num_at(gc, "temperature", NULL) == 0.7);
    assert_true(num_at(gc, "topP", NULL) == 0.95);
    assert_true(num_at(gc, "topK", NULL) == 40);
    assert_true(num_at(gc, "seed", NULL) == 1234);
    assert_true(num_at(gc, "maxOutputTokens", NULL) == 64);
    assert_int_equal(gr_json_len(gr_json_get(gc, "stopSequences")), 2);
    assert_string_equal(gr_json_str(gr_json_at(gr_json_get(gc, "stopSequences"), 1), NULL), "END");
    assert_null(gr_json_get(gc, "responseMimeType"));
    gr_json_free(b);
    gr_json_free(log);
    gr_engine_destroy(e);
}

static void test_gemini_stream_forms(void **state) {
    (void)state;
    /* CRLF event separators, and the JSON-array stream form (no alt=sse). */
    for (int form = 0; form < 2; form++) {
        node_server_reset(&g_srv);
        opts o = {GR_CLOUD_GEMINI, form == 0 ? "crlf" : "ok", -1, 0, form == 1, 0, NULL};
        gr_engine *e = make_engine(&o);
        gr_request rq = chat_request();
        sink_buf sb = {0};
        gr_result out;
        assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_OK);
        assert_true(sb.calls >= 3);
        assert_string_equal(out.text, ANSWER);
        assert_int_equal(out.usage.completion_tokens, 12);
        gr_result_clear(&out);
        gr_json *log = server_log();
        const char *url = gr_json_str(gr_json_get(log_req(log, 0), "url"), NULL);
        assert_string_equal(url, form == 0 ? "/v1beta/models/crlf:streamGenerateContent?alt=sse"
                                           : "/v1beta/models/ok:streamGenerateContent");
        gr_json_free(log);
        gr_engine_destroy(e);
    }
}

static void test_gemini_structured_unary(void **state) {
    (void)state;
    node_server_reset(&g_srv);
    opts o = {GR_CLOUD_GEMINI, "json", -1, 0, 0, 1, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    rq.output = (gr_output_constraint){GR_OUTPUT_JSON_SCHEMA, SCHEMA};
    sink_buf sb = {0};
    gr_result out;
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_OK);
    assert_string_equal(out.text, "{\"answer\": 42}");
    assert_int_equal(sb.calls, 1); /* one piece: the unary endpoint */
    gr_result_clear(&out);
    gr_json *log = server_log();
    const gr_json_val *r0 = log_req(log, 0);
    assert_string_equal(gr_json_str(gr_json_get(r0, "url"), NULL),
                        "/v1beta/models/json:generateContent");
    gr_json *b = req_body(r0);
    const gr_json_val *root = gr_json_root(b);
    const gr_json_val *gc = gr_json_get(root, "generationConfig");
    assert_string_equal(gr_json_str(gr_json_get(gc, "responseMimeType"), NULL), "application/json");
    assert_string_equal(
        gr_json_str(gr_json_get(gr_json_get(gc, "responseJsonSchema"), "type"), NULL), "object");
    /* fold_system: no systemInstruction; the first user turn starts with the system text. */
    assert_null(gr_json_get(root, "systemInstruction"));
    const gr_json_val *first = gr_json_at(gr_json_get(root, "contents"), 0);
    assert_string_equal(
        gr_json_str(gr_json_get(gr_json_at(gr_json_get(first, "parts"), 0), "text"), NULL),
        "Answer briefly.\n\nSay hello");
    gr_json_free(b);
    gr_json_free(log);
    /* Plain text without a sink also uses the unary endpoint; thoughts are filtered there too. */
    gr_engine_destroy(e);
    node_server_reset(&g_srv);
    o.model = "ok";
    o.fold_system = 0;
    e = make_engine(&o);
    gr_request rq2 = chat_request();
    assert_int_equal(run(e, &rq2, NULL, NULL, &out), GR_OK);
    assert_string_equal(out.text, ANSWER);
    gr_result_clear(&out);
    log = server_log();
    assert_string_equal(gr_json_str(gr_json_get(log_req(log, 0), "url"), NULL),
                        "/v1beta/models/ok:generateContent");
    gr_json_free(log);
    gr_engine_destroy(e);
}

static void test_gemini_finish_reasons(void **state) {
    (void)state;
    opts o = {GR_CLOUD_GEMINI, "max-tokens", -1, 0, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    gr_result out;
    assert_int_equal(run(e, &rq, NULL, NULL, &out), GR_OK);
    assert_int_equal(out.finish, GR_FINISH_LENGTH);
    assert_string_equal(out.text, "cut sh");
    gr_result_clear(&out);
    gr_engine_destroy(e);
    o.model = "blocked";
    e = make_engine(&o);
    assert_int_equal(run(e, &rq, NULL, NULL, &out), GR_E_UPSTREAM);
    assert_non_null(strstr(out.error, "blocked"));
    assert_int_equal(out.finish, GR_FINISH_ERROR);
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

static void test_stream_400_falls_back(void **state) {
    (void)state;
    for (int p = 0; p < 2; p++) {
        node_server_reset(&g_srv);
        opts o = {p ? GR_CLOUD_OPENAI : GR_CLOUD_GEMINI, "stream400", -1, 0, 0, 0, NULL};
        gr_engine *e = make_engine(&o);
        gr_request rq = chat_request();
        sink_buf sb = {0};
        gr_result out;
        assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_OK);
        assert_non_null(strstr(out.text, "Hello, world!"));
        gr_result_clear(&out);
        gr_json *log = server_log();
        assert_int_equal(log_count(log), 2);
        if (!p) {
            assert_non_null(strstr(gr_json_str(gr_json_get(log_req(log, 0), "url"), NULL),
                                   ":streamGenerateContent"));
            assert_non_null(
                strstr(gr_json_str(gr_json_get(log_req(log, 1), "url"), NULL), ":generateContent"));
        } else {
            gr_json *b0 = req_body(log_req(log, 0)), *b1 = req_body(log_req(log, 1));
            assert_true(gr_json_bool(gr_json_get(gr_json_root(b0), "stream")));
            assert_false(gr_json_bool(gr_json_get(gr_json_root(b1), "stream")));
            gr_json_free(b0);
            gr_json_free(b1);
        }
        gr_json_free(log);
        gr_engine_destroy(e);
    }
    /* A 400 that the unary endpoint repeats: one fallback, then GR_E_INVALID_ARG. */
    node_server_reset(&g_srv);
    opts o = {GR_CLOUD_GEMINI, "bad400", -1, 0, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    sink_buf sb = {0};
    gr_result out;
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_INVALID_ARG);
    assert_non_null(strstr(out.error, "Developer instruction is not enabled"));
    assert_non_null(strstr(out.error, "INVALID_ARGUMENT"));
    gr_result_clear(&out);
    expect_requests(2);
    gr_engine_destroy(e);
    /* Gemini's 400 for a bad key (ErrorInfo API_KEY_INVALID) is an auth error: no fallback. */
    node_server_reset(&g_srv);
    o.model = "badkey";
    e = make_engine(&o);
    memset(&sb, 0, sizeof sb);
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_AUTH);
    assert_non_null(strstr(out.error, "API key not valid"));
    gr_result_clear(&out);
    expect_requests(1);
    gr_engine_destroy(e);
}

/* Seconds between the server's receipt of request i and i+1. */
static double gap_s(gr_json *log, size_t i) {
    return (gr_json_num(gr_json_get(log_req(log, i + 1), "t")) -
            gr_json_num(gr_json_get(log_req(log, i), "t"))) /
           1e3;
}

static void test_retry_delays_honored(void **state) {
    (void)state;
    struct {
        gr_cloud_protocol p;
        const char *model;
        double want;
        const char *what;
    } cases[] = {
        {GR_CLOUD_GEMINI, "r429", 0.4, "gemini 429 RetryInfo.retryDelay 0.400s"},
        {GR_CLOUD_GEMINI, "r429h", 1.0, "gemini 429 Retry-After: 1"},
        {GR_CLOUD_OPENAI, "r429", 0.3, "openai 429 retry-after-ms: 300"},
        {GR_CLOUD_GEMINI, "r429date", 1.0, "gemini 429 Retry-After: an HTTP date 2 s ahead"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        node_server_reset(&g_srv);
        opts o = {cases[i].p, cases[i].model, -1, 5.0 /* a backoff this long would show */, 0, 0,
                  NULL};
        gr_engine *e = make_engine(&o);
        gr_request rq = chat_request();
        sink_buf sb = {0};
        gr_result out;
        assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_OK);
        gr_result_clear(&out);
        gr_json *log = server_log();
        assert_int_equal(log_count(log), 2);
        double g = gap_s(log, 0);
        printf("%s: retried after %.3f s (asked %.3f s)\n", cases[i].what, g, cases[i].want);
        assert_true(g >= cases[i].want); /* never sooner than the server asked */
        assert_true(g < 4.0);            /* and its delay, not the 5 s backoff, was used */
        gr_json_free(log);
        gr_engine_destroy(e);
    }
}

static void test_retry_then_success_and_exhausted(void **state) {
    (void)state;
    const char *models[] = {"r503", "r500"};
    size_t want[] = {2, 3};
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < 2; i++) {
            if (p == 1 && i == 1) continue; /* the OpenAI script has r503 only */
            node_server_reset(&g_srv);
            opts o = {p ? GR_CLOUD_OPENAI : GR_CLOUD_GEMINI, models[i], -1, 0.05, 0, 0, NULL};
            gr_engine *e = make_engine(&o);
            gr_request rq = chat_request();
            rq.output.kind = GR_OUTPUT_JSON; /* unary */
            gr_result out;
            assert_int_equal(run(e, &rq, NULL, NULL, &out), GR_OK);
            gr_result_clear(&out);
            expect_requests(want[i]);
            gr_engine_destroy(e);
        }
    }
    /* Always 503: 1 + max_retries attempts, then GR_E_UPSTREAM naming the retries. */
    node_server_reset(&g_srv);
    opts o = {GR_CLOUD_GEMINI, "always503", 2, 0.05, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    sink_buf sb = {0};
    gr_result out;
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_UPSTREAM);
    assert_non_null(strstr(out.error, "after 2 retries"));
    assert_non_null(strstr(out.error, "overloaded"));
    assert_int_equal(out.finish, GR_FINISH_ERROR);
    gr_result_clear(&out);
    expect_requests(3);
    gr_engine_destroy(e);
    /* 429 that never clears: GR_E_RATE_LIMITED. */
    node_server_reset(&g_srv);
    opts o2 = {GR_CLOUD_GEMINI, "r429", 0, 0.05, 0, 0, NULL};
    e = make_engine(&o2);
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_RATE_LIMITED);
    assert_non_null(strstr(out.error, "RESOURCE_EXHAUSTED"));
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

/* A connection dropped after the request reached the server (a reset load balancer) is retried
 * like a 503, streamed or not; the answer is whole and arrives once. */
static void test_dropped_connection_retried(void **state) {
    (void)state;
    for (int p = 0; p < 2; p++) {
        for (int structured = 0; structured < 2; structured++) {
            node_server_reset(&g_srv);
            opts o = {p ? GR_CLOUD_OPENAI : GR_CLOUD_GEMINI, "drop1", -1, 0.05, 0, 0, NULL};
            gr_engine *e = make_engine(&o);
            gr_request rq = chat_request();
            if (structured) rq.output.kind = GR_OUTPUT_JSON;
            sink_buf sb = {0};
            gr_result out;
            gr_status s = run(e, &rq, structured ? NULL : &sb, NULL, &out);
            if (s != GR_OK) fail_msg("%s drop1: %s", p ? "openai" : "gemini", out.error);
            assert_true(out.text_len > 0);
            if (!structured) assert_string_equal(sb.text, out.text); /* streamed once, not twice */
            gr_result_clear(&out);
            expect_requests(2);
            gr_engine_destroy(e);
        }
    }
}

static void test_error_mapping(void **state) {
    (void)state;
    struct {
        gr_cloud_protocol p;
        const char *model;
        gr_status want;
        size_t requests;
    } cases[] = {
        {GR_CLOUD_GEMINI, "auth401", GR_E_AUTH, 1},
        {GR_CLOUD_GEMINI, "auth403", GR_E_AUTH, 1},
        {GR_CLOUD_GEMINI, "bad400", GR_E_INVALID_ARG, 1},
        {GR_CLOUD_GEMINI, "badkey", GR_E_AUTH, 1},
        {GR_CLOUD_GEMINI, "notfound", GR_E_NOT_FOUND, 1},
        {GR_CLOUD_GEMINI, "garbage", GR_E_UPSTREAM, 1},
        {GR_CLOUD_GEMINI, "html502", GR_E_UPSTREAM, 2},
        {GR_CLOUD_OPENAI, "auth401", GR_E_AUTH, 1},
        {GR_CLOUD_OPENAI, "bad400", GR_E_INVALID_ARG, 1},
        {GR_CLOUD_OPENAI, "garbage", GR_E_UPSTREAM, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        node_server_reset(&g_srv);
        opts o = {cases[i].p, cases[i].model, 1, 0.05, 0, 0, NULL};
        gr_engine *e = make_engine(&o);
        gr_request rq = chat_request();
        rq.output.kind = GR_OUTPUT_JSON; /* unary: no fallback in play */
        gr_result out;
        gr_status s = run(e, &rq, NULL, NULL, &out);
        if (s != cases[i].want)
            fail_msg("%s %s: got %s (%s)", cases[i].p ? "openai" : "gemini", cases[i].model,
                     gr_status_str(s), out.error);
        assert_int_equal(out.finish, GR_FINISH_ERROR);
        gr_result_clear(&out);
        expect_requests(cases[i].requests);
        gr_engine_destroy(e);
    }
    /* Nothing listening: GR_E_NETWORK. */
    gr_cloud_config cfg;
    gr_cloud_config_init(&cfg);
    cfg.base_url = "http://127.0.0.1:1";
    cfg.model = "m";
    cfg.api_key = KEY;
    gr_engine *e = NULL;
    assert_int_equal(gr_cloud_engine_new(&cfg, &e, NULL, 0), GR_OK);
    gr_request rq = chat_request();
    gr_result out;
    double t0 = gr_now();
    assert_int_equal(run(e, &rq, NULL, NULL, &out), GR_E_NETWORK);
    /* refused is final: no retry (a first backoff of ~1 s would show), the router falls back */
    assert_true(gr_now() - t0 < 0.5);
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

static void test_stream_broken(void **state) {
    (void)state;
    /* Cut in the middle: GR_E_NETWORK, the text that arrived is kept, no retry. */
    for (int p = 0; p < 2; p++) {
        node_server_reset(&g_srv);
        opts o = {p ? GR_CLOUD_OPENAI : GR_CLOUD_GEMINI, "cut", -1, 0.05, 0, 0, NULL};
        gr_engine *e = make_engine(&o);
        gr_request rq = chat_request();
        sink_buf sb = {0};
        gr_result out;
        assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_NETWORK);
        assert_string_equal(out.text, "Hello, wor");
        assert_int_equal(out.finish, GR_FINISH_ERROR);
        gr_result_clear(&out);
        expect_requests(1);
        gr_engine_destroy(e);
    }
    /* Malformed JSON in an event: GR_E_UPSTREAM, text so far kept. */
    opts o = {GR_CLOUD_GEMINI, "badjson-stream", -1, 0.05, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    sink_buf sb = {0};
    gr_result out;
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_UPSTREAM);
    assert_string_equal(out.text, "Hello");
    gr_result_clear(&out);
    gr_engine_destroy(e);
    /* A bare {"error":...} object after some events (Gemini's mid-stream failure). */
    o.model = "midstream-error";
    e = make_engine(&o);
    memset(&sb, 0, sizeof sb);
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_E_UPSTREAM);
    assert_string_equal(out.text, "Hello, wor");
    assert_non_null(strstr(out.error, "UNAVAILABLE"));
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

static void test_deadline(void **state) {
    (void)state;
    for (int structured = 0; structured < 2; structured++) {
        opts o = {GR_CLOUD_GEMINI, "slow", -1, 0.05, 0, 0, NULL};
        gr_engine *e = make_engine(&o);
        gr_request rq = chat_request();
        if (structured) rq.output.kind = GR_OUTPUT_JSON;
        rq.deadline = gr_now() + 0.5;
        sink_buf sb = {0};
        gr_result out;
        double t0 = gr_now();
        assert_int_equal(run(e, &rq, structured ? NULL : &sb, NULL, &out), GR_E_TIMEOUT);
        double took = gr_now() - t0;
        assert_true(took < 4.0); /* the server would take 5 s */
        assert_int_equal(out.finish, GR_FINISH_TIMEOUT);
        gr_result_clear(&out);
        gr_engine_destroy(e);
    }
    /* A deadline already past: at once, no request. */
    node_server_reset(&g_srv);
    opts o = {GR_CLOUD_GEMINI, "ok", -1, 0.05, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    rq.deadline = gr_now() - 1;
    gr_result out;
    assert_int_equal(run(e, &rq, NULL, NULL, &out), GR_E_TIMEOUT);
    gr_result_clear(&out);
    expect_requests(0);
    gr_engine_destroy(e);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_cancel_closes_stream(void **state) {
    (void)state;
    double ms[7];
    opts o = {GR_CLOUD_GEMINI, "cancel", -1, 0.05, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    for (int i = 0; i < 7; i++) {
        node_server_reset(&g_srv);
        gr_cancel c;
        gr_cancel_init(&c);
        gr_request rq = chat_request();
        rq.deadline = gr_now() + 10;
        sink_buf sb = {.cancel_on_trigger = &c};
        gr_result out;
        assert_int_equal(run(e, &rq, &sb, &c, &out), GR_E_CANCELLED);
        assert_int_equal(out.finish, GR_FINISH_CANCELLED);
        assert_non_null(strstr(out.text, "CANCEL-ME"));
        gr_result_clear(&out);
        ms[i] = -1;
        for (int t = 0; t < 100 && ms[i] < 0; t++) {
            gr_json *log = server_log();
            const gr_json_val *cl = gr_json_at(gr_json_get(gr_json_root(log), "closes"), 0);
            const gr_json_val *tc = gr_json_get(cl, "t_close"), *tt = gr_json_get(cl, "t_trigger");
            if (gr_json_is(tc, GR_JSON_NUMBER) && gr_json_is(tt, GR_JSON_NUMBER))
                ms[i] = gr_json_num(tc) - gr_json_num(tt);
            gr_json_free(log);
            struct timespec ts = {0, 10 * 1000 * 1000};
            if (ms[i] < 0) nanosleep(&ts, NULL);
        }
        assert_true(ms[i] >= 0); /* the server saw the connection close */
    }
    qsort(ms, 7, sizeof ms[0], cmp_double);
    printf("cloud stream cancel -> server-side socket close: median %.1f ms (min %.1f, max %.1f, "
           "n=7)\n",
           ms[3], ms[0], ms[6]);
    gr_engine_destroy(e);
}

typedef struct canceller {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int triggered;
    gr_cancel *c;
    double t_cancel_epoch_ms; /* CLOCK_REALTIME when the token was set */
} canceller;

static int sink_signal(void *user, const char *d, size_t n) {
    canceller *k = user;
    if (memmem(d, n, "CANCEL-ME", 9)) {
        pthread_mutex_lock(&k->mu);
        k->triggered = 1;
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->mu);
    }
    return 0;
}

/* Waits for the trigger, lets the connection go idle for 50 ms, then cancels. */
static void *cancel_thread(void *p) {
    canceller *k = p;
    pthread_mutex_lock(&k->mu);
    while (!k->triggered)
        pthread_cond_wait(&k->cv, &k->mu);
    pthread_mutex_unlock(&k->mu);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    k->t_cancel_epoch_ms = (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
    gr_cancel_set(k->c);
    return NULL;
}

/* Cancel from another thread while the transfer waits for data (the next chunk is 250 ms away):
 * the server's socket-close time minus the moment the token was set, both wall clocks of this host.
 */
static void test_cancel_idle_from_other_thread(void **state) {
    (void)state;
    double ms[7];
    opts o = {GR_CLOUD_GEMINI, "cancel-idle", -1, 0.05, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    for (int i = 0; i < 7; i++) {
        node_server_reset(&g_srv);
        gr_cancel c;
        gr_cancel_init(&c);
        canceller k = {.c = &c};
        pthread_mutex_init(&k.mu, NULL);
        pthread_cond_init(&k.cv, NULL);
        pthread_t th;
        pthread_create(&th, NULL, cancel_thread, &k);
        gr_request rq = chat_request();
        rq.deadline = gr_now() + 10;
        gr_result out;
        assert_int_equal(gr_engine_generate(e, &rq, sink_signal, &k, &c, &out), GR_E_CANCELLED);
        assert_null(strstr(out.text, "tick1")); /* stopped before the next chunk */
        gr_result_clear(&out);
        pthread_join(th, NULL);
        pthread_mutex_destroy(&k.mu);
        pthread_cond_destroy(&k.cv);
        ms[i] = -1;
        for (int t = 0; t < 100 && ms[i] < 0; t++) {
            gr_json *log = server_log();
            const gr_json_val *cl = gr_json_at(gr_json_get(gr_json_root(log), "closes"), 0);
            const gr_json_val *tc = gr_json_get(cl, "t_close_epoch");
            if (gr_json_is(tc, GR_JSON_NUMBER)) ms[i] = gr_json_num(tc) - k.t_cancel_epoch_ms;
            gr_json_free(log);
            struct timespec ts = {0, 10 * 1000 * 1000};
            if (ms[i] < 0 && !gr_json_is(tc, GR_JSON_NUMBER))
                nanosleep(&ts, NULL);
            else
                break;
        }
        assert_true(ms[i] > -5); /* closed after the cancel (allowing clock granularity) */
    }
    qsort(ms, 7, sizeof ms[0], cmp_double);
    printf("cloud stream cancel from another thread while idle -> server-side socket close: median "
           "%.1f ms "
           "(min %.1f, max %.1f, n=7)\n",
           ms[3], ms[0], ms[6]);
    gr_engine_destroy(e);
}

static void test_openai(void **state) {
    (void)state;
    node_server_reset(&g_srv);
    opts o = {GR_CLOUD_OPENAI, "ok", -1, 0.05, 0, 0, NULL};
    gr_engine *e = make_engine(&o);
    gr_request rq = chat_request();
    sink_buf sb = {0};
    gr_result out;
    assert_int_equal(run(e, &rq, &sb, NULL, &out), GR_OK);
    assert_string_equal(out.text, ANSWER);
    assert_true(sb.calls >= 3);
    assert_int_equal(out.usage.prompt_tokens, 11);
    assert_int_equal(out.usage.completion_tokens, 6);
    assert_int_equal(out.finish, GR_FINISH_STOP);
    gr_result_clear(&out);
    gr_json *log = server_log();
    const gr_json_val *r0 = log_req(log, 0);
    assert_string_equal(gr_json_str(gr_json_get(r0, "url"), NULL), "/v1/chat/completions");
    assert_string_equal(hdr(r0, "authorization"), "Bearer " KEY);
    assert_null(hdr(r0, "x-goog-api-key"));
    gr_json *b = req_body(r0);
    const gr_json_val *root = gr_json_root(b);
    assert_string_equal(gr_json_str(gr_json_get(root, "model"), NULL), "ok");
    assert_true(gr_json_bool(gr_json_get(root, "stream")));
    assert_true(gr_json_bool(gr_json_get(gr_json_get(root, "stream_options"), "include_usage")));
    const gr_json_val *msgs = gr_json_get(root, "messages");
    assert_int_equal(gr_json_len(msgs), 4);
    const char *roles[] = {"system", "user", "assistant", "user"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(gr_json_str(gr_json_get(gr_json_at(msgs, i), "role"), NULL), roles[i]);
        assert_string_equal(gr_json_str(gr_json_get(gr_json_at(msgs, i), "content"), NULL),
                            CHAT[i].text);
    }
    assert_true(num_at(root, "max_tokens", NULL) == 64);
    assert_true(num_at(root, "temperature", NULL) == 0.7);
    assert_true(num_at(root, "top_p", NULL) == 0.95);
    assert_true(num_at(root, "seed", NULL) == 1234);
    assert_null(gr_json_get(root, "top_k"));
    assert_int_equal(gr_json_len(gr_json_get(root, "stop")), 2);
    assert_null(gr_json_get(root, "response_format"));
    gr_json_free(b);
    gr_json_free(log);
    gr_engine_destroy(e);
    /* Structured: unary, response_format json_schema (and json_object for plain JSON). */
    for (int k = 0; k < 2; k++) {
        node_server_reset(&g_srv);
        o.model = "json";
        e = make_engine(&o);
        gr_request rq2 = chat_request();
        rq2.output = k ? (gr_output_constraint){GR_OUTPUT_JSON, NULL}
                       : (gr_output_constraint){GR_OUTPUT_JSON_SCHEMA, SCHEMA};
        memset(&sb, 0, sizeof sb);
        assert_int_equal(run(e, &rq2, &sb, NULL, &out), GR_OK);
        assert_string_equal(out.text, "{\"answer\": 42}");
        gr_result_clear(&out);
        log = server_log();
        b = req_body(log_req(log, 0));
        root = gr_json_root(b);
        assert_false(gr_json_bool(gr_json_get(root, "stream")));
        const gr_json_val *rf = gr_json_get(root, "response_format");
        assert_string_equal(gr_json_str(gr_json_get(rf, "type"), NULL),
                            k ? "json_object" : "json_schema");
        if (!k)
            assert_string_equal(
                gr_json_str(
                    gr_json_get(gr_json_get(gr_json_get(rf, "json_schema"), "schema"), "type"),
                    NULL),
                "object");
        gr_json_free(b);
        gr_json_free(log);
        gr_engine_destroy(e);
    }
    /* A server that ignores "stream": true and sends one chat.completion body. */
    o.model = "plainstream";
    e = make_engine(&o);
    memset(&sb, 0, sizeof sb);
    gr_request rq4 = chat_request();
    assert_int_equal(run(e, &rq4, &sb, NULL, &out), GR_OK);
    assert_string_equal(out.text, ANSWER);
    assert_int_equal(out.usage.completion_tokens, 6);
    gr_result_clear(&out);
    gr_engine_destroy(e);
    /* finish_reason length. */
    o.model = "length";
    e = make_engine(&o);
    memset(&sb, 0, sizeof sb);
    gr_request rq3 = chat_request();
    assert_int_equal(run(e, &rq3, &sb, NULL, &out), GR_OK);
    assert_int_equal(out.finish, GR_FINISH_LENGTH);
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

static void test_config_json(void **state) {
    (void)state;
    const char *txt =
        "{\"protocol\":\"openai\",\"base_url\":\"http://127.0.0.1:9/"
        "v1\",\"model\":\"gemma-3-4b-it\","
        "\"api_key_env\":\"MY_KEY\",\"max_retries\":2,\"timeout_s\":30,\"stream\":false,"
        "\"backoff_initial_s\":0.5,\"backoff_max_s\":8,\"connect_timeout_s\":3,"
        "\"api_version\":\"v1\",\"json_array_stream\":true,\"fold_system\":true}";
    gr_json *doc = NULL;
    assert_int_equal(gr_json_parse(txt, strlen(txt), NULL, &doc, NULL, 0), GR_OK);
    gr_cloud_config c;
    char err[256];
    assert_int_equal(gr_cloud_config_from_json(gr_json_root(doc), &c, err, sizeof err), GR_OK);
    assert_int_equal(c.protocol, GR_CLOUD_OPENAI);
    assert_string_equal(c.base_url, "http://127.0.0.1:9/v1");
    assert_string_equal(c.model, "gemma-3-4b-it");
    assert_null(c.api_key);
    assert_string_equal(c.api_key_env, "MY_KEY");
    assert_int_equal(c.max_retries, 2);
    assert_true(c.timeout_s == 30 && c.backoff_initial_s == 0.5 && c.backoff_max_s == 8 &&
                c.connect_timeout_s == 3);
    assert_int_equal(c.stream, 0);
    assert_int_equal(c.json_array_stream, 1);
    assert_int_equal(c.fold_system, 1);
    assert_string_equal(c.api_version, "v1");
    /* The key from the named variable. */
    setenv("MY_KEY", KEY, 1);
    gr_engine *e = NULL;
    assert_int_equal(gr_cloud_engine_new(&c, &e, err, sizeof err), GR_OK);
    assert_true(gr_cloud_engine_has_key(e));
    assert_string_equal(e->ops->model_id(e), "gemma-3-4b-it");
    gr_engine_destroy(e);
    unsetenv("MY_KEY");
    gr_json_free(doc);
    struct {
        const char *txt, *want;
    } bad[] = {
        {"{\"protocol\":\"grpc\"}", "cloud.protocol"},
        {"{\"model\":3}", "cloud.model: expected a string"},
        {"{\"max_retries\":-1}", "cloud.max_retries"},
        {"{\"stream\":\"yes\"}", "cloud.stream: expected true or false"},
        {"{\"timeout_s\":-2}", "cloud.timeout_s"},
        {"{\"apikey\":\"x\"}", "cloud.apikey: unknown key"},
        {"[]", "cloud: expected an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(gr_json_parse(bad[i].txt, strlen(bad[i].txt), NULL, &doc, NULL, 0), GR_OK);
        assert_int_equal(gr_cloud_config_from_json(gr_json_root(doc), &c, err, sizeof err),
                         GR_E_INVALID_ARG);
        if (!strstr(err, bad[i].want))
            fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].txt, err, bad[i].want);
        gr_json_free(doc);
    }
    /* Engine creation checks. */
    gr_cloud_config_init(&c);
    assert_int_equal(gr_cloud_engine_new(&c, &e, err, sizeof err), GR_E_INVALID_ARG); /* no model */
    c.model = "bad model id";
    assert_int_equal(gr_cloud_engine_new(&c, &e, err, sizeof err), GR_E_INVALID_ARG);
    c.model = "m";
    c.base_url = "ftp://x";
    assert_int_equal(gr_cloud_engine_new(&c, &e, err, sizeof err), GR_E_INVALID_ARG);
    c.base_url = NULL;
    assert_int_equal(gr_cloud_engine_new(&c, &e, err, sizeof err), GR_OK);
    assert_false(gr_cloud_engine_has_key(e)); /* no key in the env */
    gr_engine_destroy(e);
    setenv("GEMINI_API_KEY", KEY, 1);
    assert_int_equal(gr_cloud_engine_new(&c, &e, err, sizeof err), GR_OK);
    assert_true(gr_cloud_engine_has_key(e));
    gr_engine_destroy(e);
    unsetenv("GEMINI_API_KEY");
}

/* A server that echoes the key back in its error message still cannot make us print it. */
static void test_key_scrubbed_from_errors(void **state) {
    (void)state;
    /* The server's 404 message quotes the model id; with the key equal to it, the key is echoed. */
    node_server_reset(&g_srv);
    gr_cloud_config cfg;
    gr_cloud_config_init(&cfg);
    cfg.base_url = g_srv.base;
    cfg.model = "notfound";
    cfg.api_key = "notfound"; /* the 404 message says "models/notfound is not found" */
    gr_engine *e = NULL;
    assert_int_equal(gr_cloud_engine_new(&cfg, &e, NULL, 0), GR_OK);
    gr_request rq = chat_request();
    rq.output.kind = GR_OUTPUT_JSON;
    gr_result out;
    assert_int_equal(gr_engine_generate(e, &rq, NULL, NULL, NULL, &out), GR_E_NOT_FOUND);
    assert_null(strstr(out.error, "notfound"));
    assert_non_null(strstr(out.error, "models/********"));
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

/* `gemrun run --engine cloud` against the scripted server: answers, and its stderr/stdout never
 * show the key, also when the request fails. */
static void test_cli_never_prints_key(void **state) {
    (void)state;
    const char *bin = getenv("GEMRUN_BIN");
    if (!bin) {
        printf("GEMRUN_BIN not set: CLI check skipped\n");
        return;
    }
    const char *models[] = {"ok", "auth401", "garbage", "cut"};
    for (int p = 0; p < 2; p++) {
        for (size_t i = 0; i < 4; i++) {
            char cmd[1024];
            snprintf(cmd, sizeof cmd,
                     "GEMINI_API_KEY=%s OPENAI_API_KEY=%s %s run --engine cloud --cloud-protocol "
                     "%s --cloud-url %s "
                     "--cloud-model %s -p 'Say hello' -n 16 2>&1",
                     KEY, KEY, bin, p ? "openai" : "gemini", g_srv.base, models[i]);
            FILE *f = popen(cmd, "r");
            assert_non_null(f);
            char buf[8192];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            int rc = pclose(f);
            if (strstr(buf, KEY)) fail_msg("the key appeared in: %s", buf);
            if (i == 0) {
                if (rc != 0 || !strstr(buf, "Hello, world!"))
                    fail_msg("gemrun run --engine cloud failed (%d): %s", rc, buf);
            } else if (rc == 0) {
                fail_msg("gemrun run --engine cloud (%s) should fail: %s", models[i], buf);
            }
        }
    }
}

/* Images in both wire formats: Gemini inline_data parts after the text, OpenAI content parts with
 * data: URLs; messages without images keep the plain forms. */
static void test_image_bodies(void **state) {
    (void)state;
    gr_image im[2] = {{"image/png", "iVBORw0KGgo="}, {"image/jpeg", "/9j/4AAQ"}};
    gr_message m[2] = {{.role = GR_ROLE_USER, .text = "Read this", .images = im, .n_images = 2},
                       {.role = GR_ROLE_MODEL, .text = "ok"}};
    gr_request rq = {.messages = m, .n_messages = 2, .sampling = {.temperature = -1}};
    char *body = NULL, err[256];
    size_t len = 0;
    gr_json *doc = NULL;
    assert_int_equal(gr_gemini_build_body(&rq, false, &body, &len, err, sizeof err), GR_OK);
    assert_int_equal(gr_json_parse(body, len, NULL, &doc, err, sizeof err), GR_OK);
    const gr_json_val *parts = gr_json_get(gr_json_at(gr_json_get(gr_json_root(doc), "contents"), 0), "parts");
    assert_int_equal(gr_json_len(parts), 3);
    assert_string_equal(gr_json_str(gr_json_get(gr_json_at(parts, 0), "text"), NULL), "Read this");
    const gr_json_val *d = gr_json_get(gr_json_at(parts, 2), "inline_data");
    assert_string_equal(gr_json_str(gr_json_get(d, "mime_type"), NULL), "image/jpeg");
    assert_string_equal(gr_json_str(gr_json_get(d, "data"), NULL), "/9j/4AAQ");
    gr_json_free(doc), free(body);
    assert_int_equal(gr_openai_build_body(&rq, "m", false, &body, &len, err, sizeof err), GR_OK);
    assert_int_equal(gr_json_parse(body, len, NULL, &doc, err, sizeof err), GR_OK);
    const gr_json_val *msgs = gr_json_get(gr_json_root(doc), "messages");
    const gr_json_val *content = gr_json_get(gr_json_at(msgs, 0), "content");
    assert_int_equal(gr_json_len(content), 3);
    assert_string_equal(gr_json_str(gr_json_get(gr_json_at(content, 0), "type"), NULL), "text");
    const gr_json_val *u = gr_json_get(gr_json_get(gr_json_at(content, 1), "image_url"), "url");
    assert_string_equal(gr_json_str(u, NULL), "data:image/png;base64,iVBORw0KGgo=");
    assert_string_equal(gr_json_str(gr_json_get(gr_json_at(msgs, 1), "content"), NULL), "ok");
    gr_json_free(doc), free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemini_stream),
        cmocka_unit_test(test_gemini_stream_forms),
        cmocka_unit_test(test_gemini_structured_unary),
        cmocka_unit_test(test_gemini_finish_reasons),
        cmocka_unit_test(test_stream_400_falls_back),
        cmocka_unit_test(test_retry_delays_honored),
        cmocka_unit_test(test_retry_then_success_and_exhausted),
        cmocka_unit_test(test_dropped_connection_retried),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_stream_broken),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_cancel_closes_stream),
        cmocka_unit_test(test_cancel_idle_from_other_thread),
        cmocka_unit_test(test_openai),
        cmocka_unit_test(test_config_json),
        cmocka_unit_test(test_key_scrubbed_from_errors),
        cmocka_unit_test(test_image_bodies),
        cmocka_unit_test(test_cli_never_prints_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
