/* test_router.c — feature routing: the seed's defaults, runtime flags (model loaded, degraded, cloud
 * configured/reachable), fallbacks, configuration overrides, configuration errors that name the field,
 * reload at run time, loading from a file, and concurrent flag changes while routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "layer/router.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

static gr_router *router(const char *json) {
    gr_router *r = NULL;
    char err[256] = "";
    gr_status st = gr_router_new(json, json ? strlen(json) : 0, &r, err, sizeof err);
    if (st != GR_OK) fail_msg("router config rejected: %s", err);
    return r;
}

static void expect_route(gr_router *r, const char *feature, gr_route want, const char *reason_part) {
    gr_route_decision d;
    gr_route got = gr_router_route(r, feature, &d);
    if (got != want || d.route != got) fail_msg("%s: got %s (%s), want %s", feature, gr_route_str(got), d.reason, gr_route_str(want));
    if (reason_part && !strstr(d.reason, reason_part))
        fail_msg("%s: reason \"%s\" lacks \"%s\"", feature, d.reason, reason_part);
}

static void test_seed_defaults(void **state) {
    (void)state;
    gr_router *r = router(NULL);
    static const char *const local[] = {"chat", "tutoring", "math-explanation", "socratic-dialogue"};
    static const char *const cloud[] = {"quiz-generation", "mermaid-mindmap", "svg-illustration", "handwriting-ocr"};
    /* nothing available yet */
    expect_route(r, "chat", GR_ROUTE_UNAVAILABLE,
                 "chat: configured local, but no local model is loaded; fallback cloud: the cloud is not configured");
    expect_route(r, "quiz-generation", GR_ROUTE_UNAVAILABLE,
                 "quiz-generation: configured cloud, but the cloud is not configured; no fallback");
    /* both engines usable: every feature goes where the seed puts it */
    gr_router_set_local_loaded(r, true);
    gr_router_set_cloud(r, true, true);
    for (int i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s: configured local", local[i]);
        expect_route(r, local[i], GR_ROUTE_LOCAL, want);
        snprintf(want, sizeof want, "%s: configured cloud", cloud[i]);
        expect_route(r, cloud[i], GR_ROUTE_CLOUD, want);
    }
    /* output shape and endpoint strategy */
    gr_route_decision d;
    gr_router_route(r, "chat", &d);
    assert_int_equal(d.output, GR_OUTPUT_TEXT);
    assert_true(d.stream);
    assert_false(d.fallback);
    gr_router_route(r, "quiz-generation", &d);
    assert_int_equal(d.output, GR_OUTPUT_JSON);
    assert_false(d.stream);
    gr_router_route(r, "mermaid-mindmap", &d);
    assert_int_equal(d.output, GR_OUTPUT_MERMAID);
    gr_router_route(r, "svg-illustration", &d);
    assert_int_equal(d.output, GR_OUTPUT_SVG);
    gr_router_route(r, "handwriting-ocr", &d);
    assert_true(d.vision);
    assert_false(d.stream);
    /* the known list */
    const char *const *names = gr_router_features();
    int n = 0;
    while (names[n]) n++;
    assert_int_equal(n, 8);
    gr_router_free(r);
}

static void test_runtime_flags(void **state) {
    (void)state;
    gr_router *r = router(NULL);
    gr_router_set_local_loaded(r, true);
    gr_router_set_cloud(r, true, true);
    /* the runtime check found the wrong-GPU cliff: local features move to the cloud */
    gr_router_set_local_degraded(r, true, "decode 1.9 tok/s, expected >= 10");
    expect_route(r, "tutoring", GR_ROUTE_CLOUD,
                 "tutoring: configured local, but the local engine is degraded (decode 1.9 tok/s, expected >= 10); "
                 "falling back to cloud");
    gr_route_decision d;
    gr_router_route(r, "tutoring", &d);
    assert_true(d.fallback);
    gr_router_state st;
    gr_router_state_get(r, &st);
    assert_true(st.local_degraded);
    assert_string_equal(st.degraded_reason, "decode 1.9 tok/s, expected >= 10");
    /* and the cloud goes away too */
    gr_router_set_cloud(r, true, false);
    expect_route(r, "tutoring", GR_ROUTE_UNAVAILABLE, "fallback cloud: the cloud is unreachable");
    expect_route(r, "mermaid-mindmap", GR_ROUTE_UNAVAILABLE, "the cloud is unreachable; no fallback");
    /* recovery without restart */
    gr_router_set_local_degraded(r, false, NULL);
    expect_route(r, "tutoring", GR_ROUTE_LOCAL, NULL);
    gr_router_state_get(r, &st);
    assert_string_equal(st.degraded_reason, "");
    gr_router_set_local_degraded(r, true, NULL);
    expect_route(r, "chat", GR_ROUTE_UNAVAILABLE, "degraded (runtime check failed)");
    gr_router_set_local_degraded(r, false, NULL);
    gr_router_set_local_loaded(r, false);
    expect_route(r, "chat", GR_ROUTE_UNAVAILABLE, "no local model is loaded");
    gr_router_set_cloud(r, true, true);
    expect_route(r, "chat", GR_ROUTE_CLOUD, "falling back to cloud");
    /* unknown features are never guessed */
    expect_route(r, "poetry", GR_ROUTE_UNAVAILABLE, "unknown feature \"poetry\"");
    expect_route(r, NULL, GR_ROUTE_UNAVAILABLE, "unknown feature");
    expect_route(r, "Chat", GR_ROUTE_UNAVAILABLE, "unknown feature"); /* names are exact */
    gr_router_free(r);
}

static void test_config_overrides(void **state) {
    (void)state;
    gr_router *r = router("{\"version\":1,\"comment\":\"school deployment\",\"features\":{"
                          "\"quiz-generation\":{\"engine\":\"local\",\"fallback\":\"cloud\",\"output\":\"json\"},"
                          "\"chat\":\"off\",\"svg-illustration\":\"local\",\"tutoring\":\"cloud\","
                          "\"handwriting-ocr\":{\"fallback\":\"local\",\"stream\":true}}}");
    gr_router_set_local_loaded(r, true);
    expect_route(r, "quiz-generation", GR_ROUTE_LOCAL, "quiz-generation: configured local");
    expect_route(r, "chat", GR_ROUTE_UNAVAILABLE, "chat: disabled by configuration");
    expect_route(r, "svg-illustration", GR_ROUTE_LOCAL, NULL);
    /* tutoring: cloud, and the implicit fallback (cloud) collapses to none */
    expect_route(r, "tutoring", GR_ROUTE_UNAVAILABLE, "the cloud is not configured; no fallback");
    /* handwriting-ocr keeps its engine (cloud) but may now fall back to local */
    expect_route(r, "handwriting-ocr", GR_ROUTE_LOCAL, "falling back to local");
    gr_route_decision d;
    gr_router_route(r, "handwriting-ocr", &d);
    assert_true(d.stream);
    assert_true(d.vision);
    /* untouched features keep the seed's defaults */
    expect_route(r, "math-explanation", GR_ROUTE_LOCAL, NULL);
    gr_router_set_cloud(r, true, true);
    expect_route(r, "mermaid-mindmap", GR_ROUTE_CLOUD, NULL);
    gr_router_free(r);
}

static void expect_config_error(const char *json, const char *want) {
    gr_router *r = (gr_router *)1;
    char err[256] = "";
    gr_status st = gr_router_new(json, strlen(json), &r, err, sizeof err);
    if (st != GR_E_FORMAT) fail_msg("config accepted (status %d): %s", st, json);
    assert_null(r);
    if (!strstr(err, want)) fail_msg("config %s: error \"%s\" lacks \"%s\"", json, err, want);
}

static void test_config_errors(void **state) {
    (void)state;
    expect_config_error("{\"features\": {", "router config: line 1 col 15: expected a string key");
    expect_config_error("{\"features\":{\"chat\":\"local\",}}", "router config: line 1 col 29: trailing comma");
    expect_config_error("{\"features\":{\"chat\":\"local\",\"chat\":\"cloud\"}}", "duplicate key \"chat\"");
    expect_config_error("{\"features\":{\"poetry\":\"local\"}}", "features.poetry: unknown feature");
    expect_config_error("{\"features\":{\"chat\":\"gpu\"}}",
                        "features.chat: unknown engine \"gpu\" (expected \"local\", \"cloud\" or \"off\")");
    expect_config_error("{\"features\":{\"chat\":{\"engine\":\"webgpu\"}}}", "features.chat.engine: unknown engine \"webgpu\"");
    expect_config_error("{\"features\":{\"chat\":{\"fallback\":\"off\"}}}",
                        "features.chat.fallback: unknown engine \"off\" (expected \"local\", \"cloud\" or \"none\")");
    expect_config_error("{\"features\":{\"chat\":{\"fallback\":\"local\"}}}", "features.chat.fallback: must differ");
    expect_config_error("{\"features\":{\"chat\":{\"stream\":\"yes\"}}}",
                        "features.chat.stream: expected true or false, found string");
    expect_config_error("{\"features\":{\"chat\":{\"engine\":1}}}", "features.chat.engine: expected a string, found number");
    expect_config_error("{\"features\":{\"chat\":3}}", "features.chat: expected a string or an object, found number");
    expect_config_error("{\"features\":{\"chat\":{\"engin\":\"local\"}}}", "features.chat.engin: unknown key");
    expect_config_error("{\"features\":{\"quiz-generation\":{\"output\":\"yaml\"}}}",
                        "features.quiz-generation.output: unknown output \"yaml\"");
    expect_config_error("{\"features\":[]}", "features: expected an object, found array");
    expect_config_error("{\"feature\":{}}", "feature: unknown key");
    expect_config_error("[]", "expected an object at the top, found array");
    expect_config_error("{\"version\":2}", "version: expected 1");
    expect_config_error("{\"comment\":5}", "comment: expected a string, found number");
    expect_config_error("{\"features\":{\"chat\":\"lo\\u0000cal\"}}", "features.chat: string contains a NUL");
}

static void test_reload_and_file(void **state) {
    (void)state;
    gr_router *r = router(NULL);
    gr_router_set_local_loaded(r, true);
    gr_router_set_cloud(r, true, true);
    expect_route(r, "chat", GR_ROUTE_LOCAL, NULL);
    const char *cfg = "{\"features\":{\"chat\":\"cloud\"}}";
    char err[256];
    assert_int_equal(gr_router_reload(r, cfg, strlen(cfg), err, sizeof err), GR_OK);
    expect_route(r, "chat", GR_ROUTE_CLOUD, "chat: configured cloud");
    const char *bad = "{\"features\":{\"chat\":\"nowhere\"}}";
    assert_int_equal(gr_router_reload(r, bad, strlen(bad), err, sizeof err), GR_E_FORMAT);
    expect_route(r, "chat", GR_ROUTE_CLOUD, NULL); /* the old configuration stays */
    assert_int_equal(gr_router_reload(r, NULL, 0, err, sizeof err), GR_OK); /* back to defaults */
    expect_route(r, "chat", GR_ROUTE_LOCAL, NULL);
    gr_router_free(r);

    char path[512];
    snprintf(path, sizeof path, "%s/test_router_config.json", GR_BINARY_DIR);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("{\n  \"features\": {\n    \"mermaid-mindmap\": {\"engine\": \"local\", \"fallback\": \"cloud\"}\n  }\n}\n", f);
    fclose(f);
    assert_int_equal(gr_router_new_file(path, &r, err, sizeof err), GR_OK);
    gr_router_set_local_loaded(r, true);
    expect_route(r, "mermaid-mindmap", GR_ROUTE_LOCAL, NULL);
    gr_router_free(r);
    f = fopen(path, "wb");
    fputs("{\n  \"features\": {\n    \"chat\": \"gpu\"\n  }\n}\n", f);
    fclose(f);
    assert_int_equal(gr_router_new_file(path, &r, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "test_router_config.json: features.chat: unknown engine"));
    remove(path);
    assert_int_equal(gr_router_new_file(path, &r, err, sizeof err), GR_E_IO);
    assert_non_null(strstr(err, "test_router_config.json: cannot open"));
}

/* Flags flip on some threads while others route: every decision must be one of the consistent
 * combinations (no torn state), and TSan must see no race. */
typedef struct conc {
    gr_router *r;
    atomic_int stop;
    atomic_int bad;
    atomic_int flips; /* routing starts once the flippers are running */
} conc;

static void *flipper(void *p) {
    conc *c = p;
    for (int i = 0; !atomic_load(&c->stop); i++) {
        gr_router_set_local_loaded(c->r, i & 1);
        gr_router_set_local_degraded(c->r, (i >> 1) & 1, "slow");
        gr_router_set_cloud(c->r, true, (i >> 2) & 1);
        atomic_fetch_add(&c->flips, 1);
    }
    return NULL;
}

static void *routing(void *p) {
    conc *c = p;
    while (atomic_load(&c->flips) < 8) {
    }
    for (int i = 0; i < 20000; i++) {
        gr_route_decision d;
        gr_route rt = gr_router_route(c->r, "chat", &d);
        bool ok = (rt == GR_ROUTE_LOCAL && !strcmp(d.reason, "chat: configured local")) ||
                  (rt == GR_ROUTE_CLOUD && strstr(d.reason, "falling back to cloud") && d.fallback) ||
                  (rt == GR_ROUTE_UNAVAILABLE && strstr(d.reason, "fallback cloud: the cloud is unreachable"));
        if (!ok) atomic_fetch_add(&c->bad, 1);
    }
    return NULL;
}

static void test_concurrent_flags(void **state) {
    (void)state;
    conc c = {router(NULL), 0, 0, 0};
    gr_router_set_cloud(c.r, true, false); /* the flippers keep "configured" true; start consistent */
    pthread_t f[2], q[4];
    for (int i = 0; i < 2; i++) pthread_create(&f[i], NULL, flipper, &c);
    for (int i = 0; i < 4; i++) pthread_create(&q[i], NULL, routing, &c);
    for (int i = 0; i < 4; i++) pthread_join(q[i], NULL);
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(f[i], NULL);
    assert_int_equal(atomic_load(&c.bad), 0);
    assert_true(atomic_load(&c.flips) > 8);
    gr_router_free(c.r);
}

/* The alternative: the configured fallback, offered only while the configured engine serves and
 * the fallback is usable; and which failures may move to it. */
static void test_alternative(void **state) {
    (void)state;
    gr_router *r = router("{\"features\":{\"quiz-generation\":{\"engine\":\"local\","
                          "\"fallback\":\"cloud\"},\"svg-illustration\":\"local\"}}");
    gr_router_set_local_loaded(r, true);
    gr_router_set_cloud(r, true, true);
    gr_route_decision d;
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_LOCAL);
    assert_int_equal(d.alternative, GR_ROUTE_CLOUD);
    assert_int_equal(gr_router_route(r, "quiz-generation", &d), GR_ROUTE_LOCAL);
    assert_int_equal(d.alternative, GR_ROUTE_CLOUD);
    assert_int_equal(gr_router_route(r, "svg-illustration", &d), GR_ROUTE_LOCAL);
    assert_int_equal(d.alternative, GR_ROUTE_UNAVAILABLE); /* the string form: no fallback */
    assert_int_equal(gr_router_route(r, "mermaid-mindmap", &d), GR_ROUTE_CLOUD);
    assert_int_equal(d.alternative, GR_ROUTE_UNAVAILABLE); /* default: cloud, fallback none */
    gr_router_route(r, "nope", &d);
    assert_int_equal(d.alternative, GR_ROUTE_UNAVAILABLE);
    gr_router_set_cloud(r, true, false); /* the fallback is down: nothing to offer */
    gr_router_route(r, "chat", &d);
    assert_int_equal(d.alternative, GR_ROUTE_UNAVAILABLE);
    gr_router_set_cloud(r, true, true);
    gr_router_set_local_loaded(r, false); /* already on the fallback: no way back */
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_CLOUD);
    assert_true(d.fallback);
    assert_int_equal(d.alternative, GR_ROUTE_UNAVAILABLE);
    gr_router_free(r);
    const gr_status engine_side[] = {GR_E_CONTEXT_FULL, GR_E_UNSUPPORTED, GR_E_INVALID_OUTPUT,
                                     GR_E_NETWORK,      GR_E_AUTH,        GR_E_RATE_LIMITED,
                                     GR_E_UPSTREAM,     GR_E_UNAVAILABLE, GR_E_ABORTED};
    const gr_status caller_side[] = {GR_OK,       GR_E_CANCELLED, GR_E_TIMEOUT, GR_E_INVALID_ARG,
                                     GR_E_BUSY,   GR_E_FORMAT,    GR_E_NOT_FOUND};
    for (size_t i = 0; i < sizeof engine_side / sizeof *engine_side; i++)
        assert_true(gr_route_should_fall_back(engine_side[i]));
    for (size_t i = 0; i < sizeof caller_side / sizeof *caller_side; i++)
        assert_false(gr_route_should_fall_back(caller_side[i]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_defaults),   cmocka_unit_test(test_runtime_flags),
        cmocka_unit_test(test_config_overrides), cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_reload_and_file), cmocka_unit_test(test_concurrent_flags),
        cmocka_unit_test(test_alternative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
