/* test_runtime_check.c — the runtime speed check: decisions on synthetic timings (fast, slow, the
 * threshold border, too few tokens), its effect on the router (a local feature moves to its cloud
 * fallback or becomes unavailable, with the reason), the bandwidth probe, the bytes-per-token
 * estimate, and the real local engine on a tiny synthetic model with an absurdly high and an
 * absurdly low expected speed, through the internal API and the public one. Must not depend on files
 * outside the repository. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine_local.h"
#include "gguf/gguf.h"
#include "layer/plan.h"
#include "layer/probe.h"
#include "layer/router.h"
#include "layer/runtime_check.h"
#include "model/synth.h"
#include "tiny_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- decisions on synthetic timings ---------------------------------------------------------- */

static gr_runtime_check make(double expected, int n, double thr, gr_router *r) {
    gr_runtime_check c;
    gr_rtcheck_opts o = {.expected_tok_s = expected, .n_tokens = n, .threshold = thr};
    char err[128] = "";
    assert_int_equal(gr_rtcheck_init(&c, &o, r, err, sizeof err), GR_OK);
    return c;
}

static void test_defaults_and_errors(void **st) {
    (void)st;
    gr_runtime_check c = make(10, 0, 0, NULL);
    assert_int_equal(c.o.n_tokens, 16);
    assert_true(c.o.threshold == 0.25);
    char err[128] = "";
    gr_rtcheck_opts bad[] = {{.expected_tok_s = 0}, {.expected_tok_s = -3},
                             {.expected_tok_s = 5, .n_tokens = -1},
                             {.expected_tok_s = 5, .threshold = 1.5},
                             {.expected_tok_s = 5, .threshold = -0.1}};
    const char *field[] = {"expected_tok_s", "expected_tok_s", "n_tokens", "threshold",
                           "threshold"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(gr_rtcheck_init(&c, &bad[i], NULL, err, sizeof err), GR_E_INVALID_ARG);
        assert_non_null(strstr(err, field[i]));
    }
    assert_int_equal(gr_rtcheck_init(NULL, &bad[0], NULL, err, sizeof err), GR_E_INVALID_ARG);
}

static void test_fast_slow(void **st) {
    (void)st;
    gr_runtime_check c = make(15.8, 16, 0.25, NULL);
    assert_int_equal(gr_rtcheck_feed(&c, 16, 1.0), GR_RTCHECK_OK); /* 16 tok/s */
    assert_non_null(strstr(c.reason, "decode 16.0 tok/s"));
    c = make(15.8, 16, 0.25, NULL);
    /* the seed's cliff: ~1.9 tok/s */
    assert_int_equal(gr_rtcheck_feed(&c, 19, 10.0), GR_RTCHECK_DEGRADED);
    assert_string_equal(c.reason, "decode 1.9 tok/s is 12% of the expected 15.8 tok/s (memory "
                                  "spill or wrong device?)");
    /* decided once: fast tokens afterwards do not undo it */
    assert_int_equal(gr_rtcheck_feed(&c, 1000, 1.0), GR_RTCHECK_DEGRADED);
    assert_int_equal(c.tokens, 19);
}

static void test_borderline(void **st) {
    (void)st;
    gr_runtime_check c = make(20, 16, 0.25, NULL); /* limit: 5 tok/s */
    assert_int_equal(gr_rtcheck_feed(&c, 16, 16.0 / 5.0), GR_RTCHECK_OK);
    c = make(20, 16, 0.25, NULL);
    assert_int_equal(gr_rtcheck_feed(&c, 16, 16.0 / 4.95), GR_RTCHECK_DEGRADED);
    c = make(20, 16, 0.5, NULL); /* a stricter threshold: 10 tok/s */
    assert_int_equal(gr_rtcheck_feed(&c, 16, 16.0 / 9.0), GR_RTCHECK_DEGRADED);
}

static void test_too_few_tokens(void **st) {
    (void)st;
    gr_runtime_check c = make(20, 16, 0.25, NULL);
    assert_int_equal(gr_rtcheck_feed(&c, 10, 10.0), GR_RTCHECK_PENDING);
    assert_int_equal(gr_rtcheck_feed(&c, 0, 1.0), GR_RTCHECK_PENDING);  /* ignored */
    assert_int_equal(gr_rtcheck_feed(&c, 3, -1.0), GR_RTCHECK_PENDING); /* ignored */
    assert_int_equal(c.tokens, 10);
    assert_int_equal(gr_rtcheck_feed(&c, 5, 5.0), GR_RTCHECK_PENDING); /* 15 < 16 */
    /* the 16th token decides over all seen: 16 tokens in 15.01 s -> ~1.07 tok/s */
    assert_int_equal(gr_rtcheck_feed(&c, 1, 0.01), GR_RTCHECK_DEGRADED);
    assert_true(c.measured_tok_s > 1.0 && c.measured_tok_s < 1.1);
}

static void test_feed_result(void **st) {
    (void)st;
    gr_runtime_check c = make(100, 16, 0.25, NULL);
    gr_result r = {.usage = {.completion_tokens = 40}, .timings = {.gen_tok_s = 3.0}};
    snprintf(r.engine, sizeof r.engine, "cloud");
    assert_int_equal(gr_rtcheck_feed_result(&c, &r), GR_RTCHECK_PENDING); /* not local */
    snprintf(r.engine, sizeof r.engine, "local");
    r.usage.completion_tokens = 1; /* no decode interval */
    assert_int_equal(gr_rtcheck_feed_result(&c, &r), GR_RTCHECK_PENDING);
    r.usage.completion_tokens = 9; /* 8 intervals */
    assert_int_equal(gr_rtcheck_feed_result(&c, &r), GR_RTCHECK_PENDING);
    assert_int_equal(gr_rtcheck_feed_result(&c, &r), GR_RTCHECK_DEGRADED); /* 16 at 3 tok/s */
    assert_int_equal(c.tokens, 16);
    assert_true(c.measured_tok_s > 2.999 && c.measured_tok_s < 3.001);
}

/* ---- router effect ---------------------------------------------------------------------------- */

static void test_router_effect(void **st) {
    (void)st;
    gr_router *r = NULL;
    char err[256] = "";
    assert_int_equal(gr_router_new(NULL, 0, &r, err, sizeof err), GR_OK);
    gr_router_set_local_loaded(r, true);
    gr_router_set_cloud(r, true, true);
    gr_route_decision d;
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_LOCAL);

    gr_runtime_check c = make(15.8, 16, 0.25, r);
    assert_int_equal(gr_rtcheck_feed(&c, 19, 10.0), GR_RTCHECK_DEGRADED);
    gr_router_state rs;
    gr_router_state_get(r, &rs);
    assert_true(rs.local_degraded);
    assert_string_equal(rs.degraded_reason, c.reason);
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_CLOUD);
    assert_true(d.fallback);
    assert_non_null(strstr(d.reason, "memory spill"));
    gr_router_set_cloud(r, false, false); /* no fallback left: unavailable, saying why */
    assert_int_equal(gr_router_route(r, "tutoring", &d), GR_ROUTE_UNAVAILABLE);
    assert_non_null(strstr(d.reason, "degraded"));

    gr_rtcheck_reset(&c); /* re-check, e.g. after a device change */
    assert_int_equal(c.state, GR_RTCHECK_PENDING);
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_LOCAL);
    assert_int_equal(gr_rtcheck_feed(&c, 16, 1.0), GR_RTCHECK_OK); /* OK leaves the router alone */
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_LOCAL);
    gr_router_free(r);
}

static void test_public_check(void **st) {
    (void)st;
    gr_router *r = NULL;
    char err[256] = "", why[160] = "";
    assert_int_equal(gr_router_new(NULL, 0, &r, err, sizeof err), GR_OK);
    gr_router_set_local(r, 1);
    gr_gen_output outs[2] = {{.completion_tokens = 9, .gen_tok_s = 2.0},
                             {.completion_tokens = 9, .gen_tok_s = 2.0}};
    int v = 7;
    assert_int_equal(gr_router_check_speed(r, outs, 1, 15, 0, 0, &v, why, sizeof why, err,
                                           sizeof err), GR_OK);
    assert_int_equal(v, 0); /* 8 of 16 tokens */
    assert_int_equal(gr_router_check_speed(r, outs, 2, 15, 0, 0, &v, why, sizeof why, err,
                                           sizeof err), GR_OK);
    assert_int_equal(v, -1);
    assert_non_null(strstr(why, "2.0 tok/s"));
    assert_string_equal(gr_router_decide(r, "chat", why, sizeof why), "unavailable");
    assert_non_null(strstr(why, "degraded"));
    assert_int_equal(gr_router_check_speed(r, outs, 2, 4, 0, 0, &v, NULL, 0, err, sizeof err),
                     GR_OK);
    assert_int_equal(v, 1); /* 2 of 4 expected >= 25%: the mark is cleared */
    assert_string_equal(gr_router_decide(r, "chat", NULL, 0), "local");
    assert_int_equal(gr_router_check_speed(r, outs, 2, 0, 0, 0, &v, NULL, 0, err, sizeof err),
                     GR_E_INVALID_ARG);
    assert_int_equal(gr_router_check_speed(r, NULL, 2, 4, 0, 0, &v, NULL, 0, err, sizeof err),
                     GR_E_INVALID_ARG);
    gr_router_free(r);
}

/* ---- bandwidth probe -------------------------------------------------------------------------- */

static void test_bandwidth(void **st) {
    (void)st;
    char err[128] = "";
    double bw1 = 0, bw2 = 0;
    assert_int_equal(gr_probe_mem_bandwidth(1, 16u << 20, &bw1, err, sizeof err), GR_OK);
    assert_int_equal(gr_probe_mem_bandwidth(2, 16u << 20, &bw2, err, sizeof err), GR_OK);
    /* any real machine (also under ASan) reads between 100 MB/s and 10 TB/s */
    assert_true(bw1 > 1e8 && bw1 < 1e13);
    assert_true(bw2 > 1e8 && bw2 < 1e13);
    assert_int_equal(gr_probe_mem_bandwidth(0, 0, &bw1, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "n_threads"));
    assert_int_equal(gr_probe_mem_bandwidth(1, 1000, &bw1, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "bytes"));
    assert_int_equal(gr_probe_mem_bandwidth(1, 0, NULL, err, sizeof err), GR_E_INVALID_ARG);
}

/* ---- the real local engine on a tiny synthetic model ------------------------------------------ */

static const char *const SPECIALS[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>",
                                       "<|channel>", "<channel|>"};
static const char *const WORDS[] = {"\xE2\x96\x81", "a", "e", "t", "h", "th"};
static const char *const MERGES[] = {"t h"};
#define N_SPECIAL (sizeof SPECIALS / sizeof *SPECIALS)
#define N_WORDS (sizeof WORDS / sizeof *WORDS)

static void write_vocab(const char *path) {
    tiny_vocab v = {"gemma4", SPECIALS, N_SPECIAL, WORDS, N_WORDS, MERGES, TINY_VOCAB_COUNT(MERGES)};
    tiny_vocab_write(path, &v);
}

typedef struct fx {
    char dir[256], path[300], vocab[320];
    gr_model *m;
} fx;

static int setup(void **st) {
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "%s/test_runtime_check.XXXXXX", GR_BINARY_DIR);
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/m.gguf", f->dir);
    snprintf(f->vocab, sizeof f->vocab, "%s/v.gguf", f->dir);
    write_vocab(f->vocab);
    gr_synth_opts o = {.preset = "gemma4-e2b-tiny", .type = "q8_0", .seed = 5, .vocab_path = f->vocab};
    char err[256] = "";
    if (gr_synth_write(&o, f->path, err, sizeof err) || gr_model_load(f->path, &f->m, err, sizeof err)) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fx *f = *st;
    gr_model_free(f->m);
    unlink(f->path);
    unlink(f->vocab);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void test_bytes_per_token(void **st) {
    fx *f = *st;
    char err[256] = "";
    uint64_t b1 = 0, b64 = 0;
    assert_int_equal(gr_rtcheck_bytes_per_token(f->m, 1, &b1, err, sizeof err), GR_OK);
    assert_int_equal(gr_rtcheck_bytes_per_token(f->m, 64, &b64, err, sizeof err), GR_OK);
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_true(b1 > 0 && b1 < (uint64_t)sb.st_size); /* at position 1: at most the weights */
    assert_true(b64 > b1);                             /* the KV cache grows with the context */
    double tok_s = 0, bw = 0;
    assert_int_equal(gr_rtcheck_expected_tok_s(f->m, 1, 1, 1e10, &tok_s, &bw, err, sizeof err),
                     GR_OK);
    assert_true(bw == 1e10);
    assert_true(tok_s > 1e10 / (double)b1 * 0.999 && tok_s < 1e10 / (double)b1 * 1.001);
    assert_int_equal(gr_rtcheck_bytes_per_token(NULL, 1, &b1, err, sizeof err), GR_E_INVALID_ARG);
}

/* Generates until at least `want` decode intervals were fed (the random model may end early). */
static gr_rtcheck_state run_engine(gr_model *m, gr_runtime_check *c, int want) {
    gr_local_config cfg = {.model = m, .n_ctx = 256, .n_threads = 1, .model_id = "tiny"};
    gr_engine *e = NULL;
    char err[256] = "";
    assert_int_equal(gr_local_engine_new(&cfg, &e, err, sizeof err), GR_OK);
    gr_message msg = {.role = GR_ROLE_USER, .text = "the"};
    for (int i = 0; i < 20 && c->state == GR_RTCHECK_PENDING; i++) {
        gr_request req = {.messages = &msg, .n_messages = 1, .max_tokens = want + 1,
                          .sampling = {.temperature = 1.0f, .seed = (uint64_t)i + 1}};
        gr_result r;
        assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &r), GR_OK);
        gr_rtcheck_feed_result(c, &r);
        gr_result_clear(&r);
    }
    gr_engine_destroy(e);
    return c->state;
}

static void test_engine_integration(void **st) {
    fx *f = *st;
    gr_router *r = NULL;
    char err[256] = "";
    assert_int_equal(gr_router_new(NULL, 0, &r, err, sizeof err), GR_OK);
    gr_router_set_local_loaded(r, true);
    gr_router_set_cloud(r, true, true);
    gr_runtime_check c = make(1e9, 8, 0.25, r); /* absurdly high: must degrade */
    assert_int_equal(run_engine(f->m, &c, 8), GR_RTCHECK_DEGRADED);
    assert_true(c.tokens >= 8 && c.measured_tok_s > 0);
    gr_route_decision d;
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_CLOUD);
    assert_non_null(strstr(d.reason, "expected 1000000000.0 tok/s"));

    c = make(1e-3, 8, 0.25, r); /* absurdly low: stays OK */
    gr_router_set_local_degraded(r, false, NULL);
    assert_int_equal(run_engine(f->m, &c, 8), GR_RTCHECK_OK);
    assert_int_equal(gr_router_route(r, "chat", &d), GR_ROUTE_LOCAL);
    gr_router_free(r);

    /* public API: expected speed from a real bandwidth probe (16 MiB would be too small: default) */
    double tok_s = 0, bw = 0;
    assert_int_equal(gr_expected_decode_tok_s(f->m, 256, 1, &tok_s, &bw, err, sizeof err), GR_OK);
    assert_true(bw > 1e8 && tok_s > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_errors), cmocka_unit_test(test_fast_slow),
        cmocka_unit_test(test_borderline),          cmocka_unit_test(test_too_few_tokens),
        cmocka_unit_test(test_feed_result),         cmocka_unit_test(test_router_effect),
        cmocka_unit_test(test_public_check),        cmocka_unit_test(test_bandwidth),
    };
    const struct CMUnitTest engine[] = {
        cmocka_unit_test(test_bytes_per_token),
        cmocka_unit_test(test_engine_integration),
    };
    int fails = cmocka_run_group_tests_name("runtime_check", tests, NULL, NULL);
    return fails + cmocka_run_group_tests_name("runtime_check_engine", engine, setup, teardown);
}
