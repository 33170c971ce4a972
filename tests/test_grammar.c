/* test_grammar.c — the grammar engine without a model: the "any JSON" grammar against valid and
 * invalid documents, byte-at-a-time feeding with UTF-8 split anywhere, JSON Schema compile errors
 * (unsupported keywords fail closed with a JSON pointer), the token mask against a brute-force
 * check of every token on a small vocabulary with multi-character, partial-UTF-8, special and
 * end-of-turn tokens, and random walks (a uniformly random allowed token at each step: the worst
 * possible model) over the ten schemas of tests/grammar/, each output parsed and validated with
 * src/validate/schema.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "decode/sampler.h"
#include "grammar/grammar.h"
#include "validate/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_schema(const char *name, size_t *n) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/grammar/%s", GR_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    *n = fread(buf, 1, (1 << 16) - 1, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

static const char *const SCHEMAS[] = {"01_boolean.json",       "02_enum.json",
                                      "03_integer_range.json", "04_string_bounds.json",
                                      "05_flat_object.json",   "06_formats.json",
                                      "07_array_items.json",   "08_nested_objects.json",
                                      "09_anyof_oneof.json",   "10_refs_recursive.json"};

static bool whole(const gr_grammar *g, const char *s, size_t n, bool bytewise) {
    gr_gmatch *m = NULL;
    assert_int_equal(gr_gmatch_new(g, &m, NULL, 0), GR_OK);
    bool ok = true;
    if (bytewise)
        for (size_t i = 0; i < n && ok; i++)
            ok = gr_gmatch_feed(m, s + i, 1);
    else
        ok = gr_gmatch_feed(m, s, n);
    ok = ok && gr_gmatch_accepting(m);
    gr_gmatch_free(m);
    return ok;
}

static void test_any_json(void **state) {
    (void)state;
    gr_grammar *g = NULL;
    assert_int_equal(gr_grammar_json(NULL, &g, NULL, 0), GR_OK);
    const char *good[] = {"{}",
                          "[]",
                          "{\"a\": [1, -2.5, 3e7, true, false, null]}",
                          "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"",
                          "\"esc \\\" \\\\ \\n \\t\"",
                          "0",
                          "-0.125",
                          "[{\"x\":{\"y\":[[]]}}]",
                          "\"\""};
    const char *bad[] = {"{",
                         "[1,]",
                         "{\"a\" 1}",
                         "01",
                         "1.",
                         "\"\x01\"",
                         "\"\xC3\x28\"",
                         "\"\xED\xA0\x80\"",
                         "\"\xC0\xAF\"",
                         "tru",
                         "nul",
                         "{\"a\":1,}",
                         "[1 2]",
                         "\"\\x\"",
                         "'a'",
                         "1e400x"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        assert_true(whole(g, good[i], strlen(good[i]), false));
        assert_true(whole(g, good[i], strlen(good[i]), true));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (whole(g, bad[i], strlen(bad[i]), false)) fail_msg("accepted %s", bad[i]);
        assert_false(whole(g, bad[i], strlen(bad[i]), true));
    }
    /* a rejected feed leaves the matcher where it was */
    gr_gmatch *m = NULL;
    assert_int_equal(gr_gmatch_new(g, &m, NULL, 0), GR_OK);
    assert_true(gr_gmatch_feed(m, "[1", 2));
    assert_false(gr_gmatch_feed(m, "x", 1));
    assert_true(gr_gmatch_feed(m, "]", 1));
    assert_true(gr_gmatch_done(m));
    gr_gmatch_free(m);
    gr_grammar_free(g);
}

static void expect_error(const char *schema, gr_status want, const char *needle) {
    gr_grammar *g = NULL;
    char err[256] = "";
    gr_status s = gr_grammar_from_schema(schema, strlen(schema), NULL, &g, err, sizeof err);
    if (s != want || !strstr(err, needle))
        fail_msg("%s -> %d '%s' (want %d, '%s')", schema, s, err, want, needle);
    assert_null(g);
}

static void test_schema_errors(void **state) {
    (void)state;
    expect_error("{\"type\":\"string\",\"pattern\":\"^a\"}", GR_E_UNSUPPORTED,
                 "(root): keyword \"pattern\"");
    expect_error("{\"properties\":{\"a\":{\"allOf\":[{}]}}}", GR_E_UNSUPPORTED,
                 "/properties/a: keyword \"allOf\"");
    expect_error("{\"type\":\"array\",\"uniqueItems\":true}", GR_E_UNSUPPORTED, "uniqueItems");
    expect_error("{\"$ref\":\"http://x/y.json\"}", GR_E_UNSUPPORTED, "not a local");
    expect_error("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", GR_E_UNSUPPORTED,
                 "may match the same");
    expect_error("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", GR_E_INVALID_ARG,
                 "no integer");
    expect_error("{\"type\":\"string\",\"minLength\":5,\"maxLength\":4}", GR_E_INVALID_ARG,
                 "minLength");
    expect_error("{\"type\":\"string\",\"format\":\"hostname\"}", GR_E_UNSUPPORTED,
                 "format \"hostname\"");
    expect_error("{\"type\":\"strin\"}", GR_E_FORMAT, "type");
    expect_error("{\"type\":", GR_E_FORMAT, "not valid JSON");
    expect_error("false", GR_E_INVALID_ARG, "matches nothing");
    expect_error(
        "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"c\":{\"$ref\":\"#/$defs/n\"}},"
        "\"required\":[\"c\"]}},\"$ref\":\"#/$defs/n\"}",
        GR_E_UNSUPPORTED, "no finite document");
    expect_error("{\"enum\":[1,2],\"type\":\"string\"}", GR_E_INVALID_ARG, "no enum");
    /* oneOf with a const discriminator is accepted */
    gr_grammar *g = NULL;
    const char *ok =
        "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":1}},\"required\":[\"k\"]"
        "},"
        "{\"type\":\"object\",\"properties\":{\"k\":{\"const\":2}},\"required\":[\"k\"]}]}";
    assert_int_equal(gr_grammar_from_schema(ok, strlen(ok), NULL, &g, NULL, 0), GR_OK);
    gr_grammar_free(g);
}

static void test_number_ranges(void **state) {
    (void)state;
    struct {
        const char *schema, *yes[6], *no[6];
    } cases[] = {
        {"{\"type\":\"integer\",\"minimum\":-250,\"maximum\":1234}",
         {"-250", "0", "1234", "-9", "999", NULL},
         {"-251", "1235", "01", "-0", "1.5", NULL}},
        {"{\"type\":\"integer\",\"exclusiveMinimum\":-10,\"exclusiveMaximum\":10}",
         {"-9", "9", "0", NULL},
         {"-10", "10", NULL}},
        {"{\"type\":\"number\",\"minimum\":0,\"maximum\":1}",
         {"0", "0.5", "1", "0.999", NULL},
         {"1.5", "-0.1", "2", NULL}},
        {"{\"type\":\"number\",\"exclusiveMinimum\":0,\"maximum\":5}",
         {"0.1", "5", "4.99", NULL},
         {"0", "0.0", "5.1", NULL}},
        {"{\"type\":\"number\",\"minimum\":-5,\"maximum\":-2}",
         {"-5", "-2", "-3.5", NULL},
         {"-5.5", "-1.9", "0", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gr_grammar *g = NULL;
        char err[256];
        assert_int_equal(gr_grammar_from_schema(cases[i].schema, strlen(cases[i].schema), NULL, &g,
                                                err, sizeof err),
                         GR_OK);
        for (int k = 0; cases[i].yes[k]; k++)
            if (!whole(g, cases[i].yes[k], strlen(cases[i].yes[k]), false))
                fail_msg("%s rejected %s", cases[i].schema, cases[i].yes[k]);
        for (int k = 0; cases[i].no[k]; k++)
            if (whole(g, cases[i].no[k], strlen(cases[i].no[k]), false))
                fail_msg("%s accepted %s", cases[i].schema, cases[i].no[k]);
        gr_grammar_free(g);
    }
}

/* ---- small vocabulary
 * ---------------------------------------------------------------------------- */

static const char *const PIECES[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\":",
    "\",",
    "\"}",
    "{\"",
    "\"]",
    " ",
    "  ",
    "\n",
    "\t",
    "a",
    "e",
    "name",
    "age",
    "score",
    "active",
    "kind",
    "circle",
    "rect",
    "r",
    "w",
    "h",
    "shape",
    "value",
    "ids",
    "tags",
    "label",
    "root",
    "meta",
    "version",
    "weights",
    "order",
    "number",
    "customer",
    "address",
    "street",
    "zip",
    "country",
    "lines",
    "sku",
    "qty",
    "price",
    "note",
    "id",
    "born",
    "seen",
    "email",
    "home",
    "children",
    "weight",
    "when",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "-",
    ".",
    "+",
    "e",
    "E",
    "true",
    "false",
    "null",
    "tr",
    "ue",
    "nu",
    "ll",
    "fa",
    "lse",
    "\\",
    "\\n",
    "\\\"",
    "\\u",
    "@",
    "T",
    "Z",
    "https",
    "://",
    "x.org",
    "DE",
    "FR",
    "US",
    "JP",
    "red",
    "green",
    "blue",
    "dish",
    "42",
    "point",
    "none",
    "abc",
    "-0",
    "ab",
    "cd",
    "ef",
    "ff",
    "00",
    "\xC3\xA9",
    "\xE2\x82\xAC",
    "\xF0\x9F\x98\x80",
    "\xC3",
    "\xA9",
    "\xE2",
    "\x82",
    "\xAC",
    "\xF0",
    "\x9F",
    "\x98",
    "\x80",
    "\xE2\x82",
    "\xFF",
    "\x01",
    "caf\xC3\xA9",
    "\"caf\xC3\xA9\"",
    "}}",
    "]}",
    "}]",
    "\": \"",
    "\": ",
    ", \"",
    "mail",
    "b.c",
    "c",
    "d",
    "f",
    "Z\"",
    ":0",
    "2024",
    "-01",
    "-15",
    "12:",
    "30",
    "Tue",
    "x",
    "y",
    "_",
    "/",
};
#define N_WORDS (sizeof PIECES / sizeof *PIECES)
#define N_PIECES                                                                                   \
    (N_WORDS + 95) /* + every printable ASCII character, so any string can be spelled */
#define N_TOK (N_PIECES + 3)
static char ascii[95][2];

static const char *piece(size_t i) {
    return i < N_WORDS ? PIECES[i] : ascii[i - N_WORDS];
}

static gr_gvocab *small_vocab(void) {
    gr_gtoken t[N_TOK];
    for (int c = 0; c < 95; c++)
        ascii[c][0] = (char)(' ' + c);
    for (size_t i = 0; i < N_PIECES; i++)
        t[i] = (gr_gtoken){piece(i), strlen(piece(i)), GR_GTOK_NORMAL};
    t[N_PIECES] = (gr_gtoken){"<eos>", 5, GR_GTOK_EOG};
    t[N_PIECES + 1] = (gr_gtoken){"<|channel>", 10, GR_GTOK_SPECIAL};
    t[N_PIECES + 2] =
        (gr_gtoken){"\"", 1, GR_GTOK_SPECIAL}; /* same bytes as a normal token: never allowed */
    gr_gvocab *v = NULL;
    assert_int_equal(gr_gvocab_new(t, (int32_t)N_TOK, &v, NULL, 0), GR_OK);
    return v;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Brute force: does prefix + token keep the output valid? */
static bool brute(const gr_grammar *g, const char *prefix, size_t n, int32_t tok, bool accepting) {
    if (tok >= (int32_t)N_PIECES) return tok == (int32_t)N_PIECES && accepting;
    gr_gmatch *m = NULL;
    assert_int_equal(gr_gmatch_new(g, &m, NULL, 0), GR_OK);
    bool ok = gr_gmatch_feed(m, prefix, n) &&
              gr_gmatch_feed(m, piece((size_t)tok), strlen(piece((size_t)tok)));
    gr_gmatch_free(m);
    return ok;
}

/* Random walk over the allowed tokens; checks the mask against brute force when check is set.
 * Returns the output (malloc'ed) when the document completed, else NULL. */
static char *walk(const gr_grammar *g, const gr_gvocab *v, bool check, size_t *len) {
    gr_gmatch *m = NULL;
    assert_int_equal(gr_gmatch_new(g, &m, NULL, 0), GR_OK);
    uint32_t mask[(N_TOK + 31) / 32];
    char *out = malloc(8192);
    size_t n = 0;
    for (int step = 0; step < 1500 && !gr_gmatch_done(m); step++) {
        int32_t cnt = gr_gmatch_mask(m, v, mask), seen = 0;
        if (cnt <= 0) fail_msg("dead end after %.*s", (int)n, out);
        int32_t allowed[N_TOK];
        for (int32_t t = 0; t < (int32_t)N_TOK; t++) {
            bool bit = (mask[t / 32] >> (t % 32)) & 1;
            if (check && bit != brute(g, out, n, t, gr_gmatch_accepting(m)))
                fail_msg("token %d ('%s') mask %d after '%.*s'", t,
                         t < (int32_t)N_PIECES ? piece((size_t)t) : "?", bit, (int)n, out);
            if (bit) allowed[seen++] = t;
        }
        assert_int_equal(seen, cnt);
        int32_t t = allowed[rnd() % (uint32_t)seen];
        assert_true(gr_gmatch_accept(m, v, t));
        if (t >= (int32_t)N_PIECES) break;
        size_t pl = strlen(piece((size_t)t));
        if (n + pl >= 8192) break;
        memcpy(out + n, piece((size_t)t), pl);
        n += pl;
    }
    bool done = gr_gmatch_accepting(m);
    assert_false(gr_gmatch_accept(m, v, N_PIECES + 1)); /* special: never */
    gr_gmatch_free(m);
    if (!done) {
        free(out);
        return NULL;
    }
    *len = n;
    return out;
}

static void test_mask_matches_brute_force(void **state) {
    (void)state;
    gr_gvocab *v = small_vocab();
    for (size_t s = 0; s < sizeof SCHEMAS / sizeof *SCHEMAS; s++) {
        size_t n;
        char *text = read_schema(SCHEMAS[s], &n);
        gr_grammar *g = NULL;
        char err[256];
        assert_int_equal(gr_grammar_from_schema(text, n, NULL, &g, err, sizeof err), GR_OK);
        for (int i = 0; i < 3; i++) {
            size_t len;
            free(walk(g, v, true, &len));
        }
        gr_grammar_free(g);
        free(text);
    }
    gr_gvocab_free(v);
}

static void test_random_walks_validate(void **state) {
    (void)state;
    gr_gvocab *v = small_vocab();
    for (size_t s = 0; s < sizeof SCHEMAS / sizeof *SCHEMAS; s++) {
        size_t n;
        char *text = read_schema(SCHEMAS[s], &n);
        gr_grammar *g = NULL;
        gr_schema *sc = NULL;
        char err[256];
        assert_int_equal(gr_grammar_from_schema(text, n, NULL, &g, err, sizeof err), GR_OK);
        assert_int_equal(gr_schema_compile(text, n, &sc, err, sizeof err), GR_OK);
        int done = 0;
        for (int i = 0; i < 100; i++) {
            size_t len;
            char *out = walk(g, v, false, &len);
            if (!out) continue; /* ran past the step budget: not an invalid output */
            done++;
            gr_schema_fail f;
            if (gr_schema_validate_text(sc, out, len, &f, err, sizeof err) != GR_OK)
                fail_msg("%s: invalid output (%s): %.*s", SCHEMAS[s], err, (int)len, out);
            free(out);
        }
        assert_true(done >= 90);
        gr_schema_free(sc);
        gr_grammar_free(g);
        free(text);
    }
    gr_gvocab_free(v);
}

/* The sampler's mask hook: only allowed tokens are ever drawn, greedy takes the best allowed one.
 */
static void test_sampler_mask(void **state) {
    (void)state;
    enum { V = 100 };
    float logits[V];
    for (int i = 0; i < V; i++)
        logits[i] = (float)(i % 10);
    uint32_t mask[(V + 31) / 32] = {0};
    mask[0] = (1u << 3) | (1u << 12); /* tokens 3 and 12 (logits 3 and 2) */
    mask[2] = 1u << (70 - 64);        /* token 70 (logit 0) */
    gr_sampler_params p = gr_sampler_default_params();
    p.temp = 0;
    gr_sampler *s = NULL;
    assert_int_equal(gr_sampler_new(&p, V, &s, NULL, 0), GR_OK);
    assert_int_equal(gr_sampler_sample_masked(s, logits, mask), 3);
    gr_sampler_free(s);
    p.temp = 2.0f, p.top_k = 0, p.top_p = 1.0f, p.min_p = 0, p.seed = 5;
    assert_int_equal(gr_sampler_new(&p, V, &s, NULL, 0), GR_OK);
    int seen[V] = {0};
    for (int i = 0; i < 2000; i++) {
        int32_t t = gr_sampler_sample_masked(s, logits, mask);
        assert_true(t == 3 || t == 12 || t == 70);
        seen[t]++;
    }
    assert_true(seen[3] > seen[12] && seen[12] > seen[70] && seen[70] > 0);
    uint32_t none[(V + 31) / 32] = {0};
    assert_int_equal(gr_sampler_sample_masked(s, logits, none), -1);
    gr_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_json),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_number_ranges),
        cmocka_unit_test(test_sampler_mask),
        cmocka_unit_test(test_mask_matches_brute_force),
        cmocka_unit_test(test_random_walks_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
