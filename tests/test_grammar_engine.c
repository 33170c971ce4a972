/* test_grammar_engine.c — constrained decoding in the local engine with the worst possible model: a
 * random-weight Gemma 4 tiny model carrying the REAL 262,144-token Gemma vocabulary (written here
 * with gr_synth_write from the tokenizer-only GGUF that tools/make_vocab.mjs builds). Every
 * generation under each of the ten schemas of tests/grammar/ (and under "any JSON") must finish by
 * itself and validate with src/validate/schema.h; schemas the grammar cannot enforce fail the
 * request instead of generating; stop sequences cut free text exactly before their first
 * occurrence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "engine/engine_local.h"
#include "model/synth.h"
#include "validate/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define GENS_PER_SCHEMA                                                                            \
    2 /* the sanitizer build is ~20x slower; the benchmark runs 500 per schema */
#else
#define GENS_PER_SCHEMA 12
#endif

static const char *const SCHEMAS[] = {"01_boolean.json",       "02_enum.json",
                                      "03_integer_range.json", "04_string_bounds.json",
                                      "05_flat_object.json",   "06_formats.json",
                                      "07_array_items.json",   "08_nested_objects.json",
                                      "09_anyof_oneof.json",   "10_refs_recursive.json"};

static char model_path[512];
static gr_engine *engine;

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    *n = fread(buf, 1, (1 << 16) - 1, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

/* The real vocabulary: $GEMRUN_REF_DIR or /tmp/gemrun-ref (tests/ref/lib/gemrun.mjs's cache), built
 * with tools/make_vocab.mjs when missing. */
static void vocab_path(char *out, size_t n) {
    const char *dir = getenv("GEMRUN_REF_DIR") ? getenv("GEMRUN_REF_DIR") : "/tmp/gemrun-ref";
    snprintf(out, n, "%s/vocab-gemma4.gguf", dir);
    if (access(out, R_OK) == 0) return;
    char cmd[1400];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && node '%s/tools/make_vocab.mjs' --style gemma4 --out '%s' >/dev/null",
             dir, GR_SOURCE_DIR, out);
    if (system(cmd) != 0 || access(out, R_OK) != 0)
        fail_msg("cannot build the Gemma vocabulary (%s)", cmd);
}

static int setup(void **state) {
    (void)state;
    char vocab[512], err[256] = "";
    vocab_path(vocab, sizeof vocab);
    snprintf(model_path, sizeof model_path, "%s/test_grammar_engine_%ld.gguf", GR_BINARY_DIR,
             (long)getpid());
    gr_synth_opts o = {.preset = "gemma4-e2b-tiny", .type = "q8_0", .seed = 3, .vocab_path = vocab};
    if (gr_synth_write(&o, model_path, err, sizeof err)) {
        fprintf(stderr, "synth: %s\n", err);
        return -1;
    }
    gr_local_config cfg = {.model_path = model_path, .n_ctx = 2048, .n_threads = 2};
    if (gr_local_engine_new(&cfg, &engine, err, sizeof err)) {
        fprintf(stderr, "engine: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    gr_engine_destroy(engine);
    unlink(model_path);
    return 0;
}

static gr_status gen(const gr_output_constraint *oc, uint64_t seed, int max_tokens,
                     const char *const *stop, size_t n_stop, gr_result *r) {
    gr_message msg = {.role = GR_ROLE_USER, .text = "Describe an order as JSON."};
    gr_request req = {.messages = &msg,
                      .n_messages = 1,
                      .max_tokens = max_tokens,
                      .output = *oc,
                      .stop = stop,
                      .n_stop = n_stop};
    req.sampling.temperature = 1.0f;
    req.sampling.seed = seed;
    return gr_engine_generate(engine, &req, NULL, NULL, NULL, r);
}

static void test_schemas_always_valid(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof SCHEMAS / sizeof *SCHEMAS; s++) {
        char path[512], err[256];
        snprintf(path, sizeof path, "%s/tests/grammar/%s", GR_SOURCE_DIR, SCHEMAS[s]);
        size_t n = 0;
        char *text = read_file(path, &n);
        assert_non_null(text);
        gr_schema *sc = NULL;
        assert_int_equal(gr_schema_compile(text, n, &sc, err, sizeof err), GR_OK);
        gr_output_constraint oc = {GR_OUTPUT_JSON_SCHEMA, text};
        for (int i = 0; i < GENS_PER_SCHEMA; i++) {
            gr_result r;
            gr_status st = gen(&oc, 1000 * s + (uint64_t)i + 1, 1500, NULL, 0, &r);
            if (st != GR_OK || r.finish != GR_FINISH_STOP)
                fail_msg("%s gen %d: status %d finish %s (%s) text %.200s", SCHEMAS[s], i, st,
                         gr_finish_str(r.finish), r.error, r.text ? r.text : "");
            gr_schema_fail f;
            if (gr_schema_validate_text(sc, r.text, r.text_len, &f, err, sizeof err) != GR_OK)
                fail_msg("%s gen %d invalid (%s): %s", SCHEMAS[s], i, err, r.text);
            assert_true(gr_local_engine_last_grammar_ms(engine) > 0);
            gr_result_clear(&r);
        }
        gr_schema_free(sc);
        free(text);
    }
    assert_true(gr_local_engine_grammar_setup_ms(engine) > 0);
}

static void test_any_json(void **state) {
    (void)state;
    gr_output_constraint oc = {GR_OUTPUT_JSON, NULL};
    for (int i = 0; i < GENS_PER_SCHEMA; i++) {
        gr_result r;
        assert_int_equal(gen(&oc, 77 + (uint64_t)i, 1500, NULL, 0, &r), GR_OK);
        assert_int_equal(r.finish, GR_FINISH_STOP);
        gr_json *doc = NULL;
        char err[200];
        if (gr_json_parse(r.text, r.text_len, NULL, &doc, err, sizeof err) != GR_OK)
            fail_msg("not JSON (%s): %s", err, r.text);
        gr_json_free(doc);
        gr_result_clear(&r);
    }
}

static void test_unsupported_fails_closed(void **state) {
    (void)state;
    gr_output_constraint bad[] = {
        {GR_OUTPUT_JSON_SCHEMA, "{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}"},
        {GR_OUTPUT_JSON_SCHEMA, "{\"type\": "},
        {GR_OUTPUT_JSON_SCHEMA, NULL}};
    gr_status want[] = {GR_E_UNSUPPORTED, GR_E_INVALID_ARG, GR_E_INVALID_ARG};
    for (int i = 0; i < 3; i++) {
        gr_result r;
        assert_int_equal(gen(&bad[i], 5, 20, NULL, 0, &r), want[i]);
        assert_int_equal(r.finish, GR_FINISH_ERROR);
        assert_int_equal(r.usage.completion_tokens, 0);
        assert_true(r.text_len == 0);
        assert_non_null(strstr(r.error, "output schema"));
        gr_result_clear(&r);
    }
}

static void test_max_tokens_unfinished(void **state) {
    (void)state;
    gr_output_constraint oc = {GR_OUTPUT_JSON_SCHEMA,
                               "{\"type\":\"string\",\"minLength\":200,\"maxLength\":300}"};
    gr_result r;
    assert_int_equal(gen(&oc, 9, 5, NULL, 0, &r), GR_OK);
    assert_int_equal(r.finish, GR_FINISH_LENGTH); /* the pipeline treats this as a failure */
    assert_int_equal(r.usage.completion_tokens, 5);
    assert_true(r.text_len > 0 && r.text[0] == '"');
    gr_result_clear(&r);
}

static void test_stop_sequences(void **state) {
    (void)state;
    gr_output_constraint text = {GR_OUTPUT_TEXT, NULL};
    gr_result full;
    assert_int_equal(gen(&text, 4242, 40, NULL, 0, &full), GR_OK);
    assert_true(full.text_len > 12);
    /* a stop sequence taken from the middle of the unconstrained output (same seed, same tokens) */
    char stop[5];
    size_t at = full.text_len / 2;
    while (at < full.text_len && ((unsigned char)full.text[at] & 0xC0) == 0x80)
        at++;
    size_t k = 0;
    while (k < 4 && at + k < full.text_len)
        stop[k] = full.text[at + k], k++;
    while (k && ((unsigned char)stop[k - 1] & 0x80))
        k--; /* keep it whole characters */
    stop[k] = 0;
    if (k == 0) skip();
    const char *stops[] = {"\x01never", stop};
    gr_result cut;
    assert_int_equal(gen(&text, 4242, 40, stops, 2, &cut), GR_OK);
    const char *first = strstr(full.text, stop);
    assert_non_null(first);
    assert_int_equal(cut.text_len, (size_t)(first - full.text));
    assert_memory_equal(cut.text, full.text, cut.text_len);
    assert_int_equal(cut.finish, GR_FINISH_STOP);
    gr_result_clear(&cut);
    const char *empty[] = {""};
    assert_int_equal(gen(&text, 1, 4, empty, 1, &cut), GR_E_INVALID_ARG);
    gr_result_clear(&cut);
    gr_result_clear(&full);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsupported_fails_closed),
        cmocka_unit_test(test_max_tokens_unfinished),
        cmocka_unit_test(test_stop_sequences),
        cmocka_unit_test(test_any_json),
        cmocka_unit_test(test_schemas_always_valid),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
