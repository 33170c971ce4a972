/* test_json.c — the core JSON module: RFC 8259 conformance (valid and invalid documents), error
 * positions, UTF-8 and \u escapes, numbers (exact int64, 2^53, overflow), limits, writer escaping,
 * round trips, and a short random-mutation smoke run. Expected values are worked out by hand from the
 * RFC, never copied from the parser's output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gr_json *parse_ok(const char *s, size_t len) {
    gr_json *doc = NULL;
    char err[256] = "";
    gr_status st = gr_json_parse(s, len, NULL, &doc, err, sizeof err);
    if (st != GR_OK) fail_msg("expected valid: %.60s -> %s", s, err);
    assert_non_null(doc);
    return doc;
}

/* Parse must fail with GR_E_FORMAT and an error containing `want`. */
static void parse_bad(const char *s, size_t len, const char *want) {
    gr_json *doc = (gr_json *)1;
    char err[256] = "";
    gr_status st = gr_json_parse(s, len, NULL, &doc, err, sizeof err);
    if (st != GR_E_FORMAT) fail_msg("expected invalid: [%.60s] (status %d)", s, st);
    assert_null(doc);
    if (!strstr(err, want)) fail_msg("input [%.40s]: error \"%s\" lacks \"%s\"", s, err, want);
    assert_true(strncmp(err, "line ", 5) == 0);
}

#define PARSE(lit) parse_ok(lit, sizeof(lit) - 1)
#define BAD(lit, want) parse_bad(lit, sizeof(lit) - 1, want)

static void test_valid_documents(void **state) {
    (void)state;
    static const char *const ok[] = {
        "[]", "{}", "0", "-0", "1", "-1", "1.5", "1e10", "1E+2", "1e-2", "-0.0e0", "123.456e-7",
        "\"\"", "\"a\"", "true", "false", "null", " \t\r\n[ 1 , 2 ]\n ",
        "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}", "[[[[[]]]]]", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "\"\xc3\xa9\"", "\"\xf0\x9f\x98\x80\"", "\"\xef\xbf\xbf\"",
        "\"\xf4\x8f\xbf\xbf\"", "[true,false,null]", "{\"\":0}", "\"\x7f\"",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) gr_json_free(parse_ok(ok[i], strlen(ok[i])));
}

static void test_invalid_documents(void **state) {
    (void)state;
    BAD("", "unexpected end of input");
    BAD("   ", "unexpected end of input");
    BAD("[1,]", "trailing comma in array");
    BAD("{\"a\":1,}", "trailing comma in object");
    BAD("01", "leading zeros");
    BAD("-01", "leading zeros");
    BAD("1.", "digit expected after decimal point");
    BAD(".5", "unexpected '.'");
    BAD("+1", "unexpected '+'");
    BAD("-", "'-' must be followed by a digit");
    BAD("1e", "digit expected in exponent");
    BAD("1e+", "digit expected in exponent");
    BAD("NaN", "unexpected 'N'");
    BAD("Infinity", "unexpected 'I'");
    BAD("-Infinity", "'-' must be followed by a digit");
    BAD("'a'", "unexpected '''");
    BAD("{\"a\" 1}", "expected ':' after key");
    BAD("{a:1}", "expected a string key");
    BAD("{1:1}", "expected a string key");
    BAD("[1 2]", "expected ',' or ']'");
    BAD("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    BAD("[", "unexpected end of input");
    BAD("[1", "expected ',' or ']' in array, found end of input");
    BAD("{", "expected a string key");
    BAD("\"abc", "unterminated string");
    BAD("\"\x01\"", "control character 0x01");
    BAD("\"a\nb\"", "control character 0x0A");
    BAD("\"\\q\"", "invalid escape");
    BAD("\"\\u12\"", "4 hex digits");
    BAD("\"\\u12G4\"", "4 hex digits");
    BAD("\"\\ud800\"", "not followed by a low surrogate");
    BAD("\"\\ud800\\u0041\"", "not followed by a low surrogate");
    BAD("\"\\udc00\"", "lone low surrogate");
    BAD("1 2", "after the value");
    BAD("[] []", "after the value");
    BAD("{\"a\":1,\"a\":2}", "duplicate key \"a\"");
    BAD("{\"k\":{\"x\":1,\"y\":2,\"x\":3}}", "duplicate key \"x\"");
    BAD("// c\n1", "unexpected '/'");
    BAD("[1]/*c*/", "after the value");
    BAD("tru", "invalid literal");
    BAD("nul", "invalid literal");
    BAD("True", "unexpected 'T'");
    BAD("\f1", "byte 0x0C");
    BAD("\xef\xbb\xbf" "1", "byte order mark");
    /* invalid UTF-8 inside strings */
    BAD("\"\xc0\x80\"", "invalid UTF-8 byte 0xC0");     /* overlong NUL */
    BAD("\"\xc1\xbf\"", "invalid UTF-8 byte 0xC1");     /* overlong */
    BAD("\"\xe0\x80\xaf\"", "invalid UTF-8 byte 0xE0"); /* overlong '/' */
    BAD("\"\xed\xa0\x80\"", "invalid UTF-8 byte 0xED"); /* encoded surrogate U+D800 */
    BAD("\"\xf4\x90\x80\x80\"", "invalid UTF-8 byte 0xF4"); /* U+110000 */
    BAD("\"\xf5\x80\x80\x80\"", "invalid UTF-8 byte 0xF5");
    BAD("\"\x80\"", "invalid UTF-8 byte 0x80");         /* lone continuation */
    BAD("\"\xe2\x82\"", "invalid UTF-8 byte 0xE2");     /* truncated sequence */
    BAD("\"\xff\"", "invalid UTF-8 byte 0xFF");
    /* an embedded NUL byte outside a string is not JSON */
    parse_bad("[1,\0 2]", 7, "byte 0x00");
}

static void test_error_position(void **state) {
    (void)state;
    char err[256];
    gr_json *doc;
    const char *s = "{\n  \"a\": 01}";
    assert_int_equal(gr_json_parse(s, strlen(s), NULL, &doc, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "line 2 col 8: leading zeros are not allowed");
    s = "[1,\n2,\n\"x\" 3]";
    assert_int_equal(gr_json_parse(s, strlen(s), NULL, &doc, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "line 3 col 5:"));
    /* NULL arguments */
    assert_int_equal(gr_json_parse(NULL, 3, NULL, &doc, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(gr_json_parse("1", 1, NULL, NULL, err, sizeof err), GR_E_INVALID_ARG);
}

static void test_accessors(void **state) {
    (void)state;
    const char *s = "{\"name\":\"gemma\",\"list\":[10,\"x\",[],{}],\"t\":true,\"f\":false,\"n\":null,\"o\":{\"k\":2.5}}";
    gr_json *doc = parse_ok(s, strlen(s));
    const gr_json_val *r = gr_json_root(doc);
    assert_int_equal(gr_json_type_of(r), GR_JSON_OBJECT);
    assert_int_equal(gr_json_len(r), 6);
    size_t n;
    assert_string_equal(gr_json_str(gr_json_get(r, "name"), &n), "gemma");
    assert_int_equal(n, 5);
    const gr_json_val *list = gr_json_get(r, "list");
    assert_int_equal(gr_json_len(list), 4);
    int64_t iv = 0;
    assert_int_equal(gr_json_int(gr_json_at(list, 0), &iv), GR_OK);
    assert_int_equal(iv, 10);
    assert_string_equal(gr_json_str(gr_json_at(list, 1), NULL), "x");
    assert_int_equal(gr_json_type_of(gr_json_at(list, 2)), GR_JSON_ARRAY);
    assert_int_equal(gr_json_len(gr_json_at(list, 2)), 0);
    assert_int_equal(gr_json_type_of(gr_json_at(list, 3)), GR_JSON_OBJECT);
    assert_null(gr_json_at(list, 4));
    assert_true(gr_json_bool(gr_json_get(r, "t")));
    assert_false(gr_json_bool(gr_json_get(r, "f")));
    assert_true(gr_json_is(gr_json_get(r, "f"), GR_JSON_TRUE)); /* booleans answer to either */
    assert_int_equal(gr_json_type_of(gr_json_get(r, "n")), GR_JSON_NULL);
    assert_null(gr_json_get(r, "missing"));
    assert_true(gr_json_num(gr_json_get(gr_json_get(r, "o"), "k")) == 2.5);
    assert_int_equal(gr_json_int(gr_json_get(gr_json_get(r, "o"), "k"), &iv), GR_E_FORMAT);
    /* iteration visits keys and values alternately, in document order */
    const gr_json_val *k = gr_json_child(r);
    assert_string_equal(gr_json_str(k, NULL), "name");
    const gr_json_val *v = gr_json_next(r, k);
    assert_string_equal(gr_json_str(v, NULL), "gemma");
    const gr_json_val *k2 = gr_json_next(r, v);
    assert_string_equal(gr_json_str(k2, NULL), "list");
    const gr_json_val *mk, *mv;
    assert_true(gr_json_member(r, 5, &mk, &mv));
    assert_string_equal(gr_json_str(mk, NULL), "o");
    assert_false(gr_json_member(r, 6, &mk, &mv));
    /* NULL-tolerant accessors */
    assert_int_equal(gr_json_len(NULL), 0);
    assert_null(gr_json_get(NULL, "a"));
    assert_null(gr_json_str(gr_json_get(r, "t"), &n));
    assert_int_equal(n, 0);
    gr_json_free(doc);
}

static void test_numbers(void **state) {
    (void)state;
    int64_t iv;
    gr_json *d = PARSE("9007199254740993"); /* 2^53 + 1: not representable as a double */
    assert_int_equal(gr_json_int(gr_json_root(d), &iv), GR_OK);
    assert_true(iv == INT64_C(9007199254740993));
    assert_true(gr_json_num(gr_json_root(d)) == 9007199254740992.0);
    gr_json_free(d);

    d = PARSE("9223372036854775807");
    assert_int_equal(gr_json_int(gr_json_root(d), &iv), GR_OK);
    assert_true(iv == INT64_MAX);
    gr_json_free(d);
    d = PARSE("-9223372036854775808");
    assert_int_equal(gr_json_int(gr_json_root(d), &iv), GR_OK);
    assert_true(iv == INT64_MIN);
    gr_json_free(d);
    d = PARSE("9223372036854775808"); /* INT64_MAX + 1: valid JSON, not an int64 */
    assert_int_equal(gr_json_int(gr_json_root(d), &iv), GR_E_FORMAT);
    assert_true(gr_json_num(gr_json_root(d)) == 9223372036854775808.0);
    gr_json_free(d);

    d = PARSE("123456789012345678901234567890");
    assert_true(gr_json_num(gr_json_root(d)) == 1.2345678901234568e29);
    assert_int_equal(gr_json_int(gr_json_root(d), &iv), GR_E_FORMAT);
    size_t tl;
    assert_string_equal(gr_json_num_text(gr_json_root(d), &tl), "123456789012345678901234567890");
    assert_int_equal(tl, 30);
    gr_json_free(d);

    d = PARSE("[0.1, -2.5e-3, 1E2, 5e-324, 1e-400, -0]");
    const gr_json_val *a = gr_json_root(d);
    assert_true(gr_json_num(gr_json_at(a, 0)) == 0.1);
    assert_true(gr_json_num(gr_json_at(a, 1)) == -2.5e-3);
    assert_true(gr_json_num(gr_json_at(a, 2)) == 100.0);
    assert_int_equal(gr_json_int(gr_json_at(a, 2), &iv), GR_E_FORMAT); /* exponent: not an integer literal */
    assert_true(gr_json_num(gr_json_at(a, 3)) == 5e-324);              /* smallest subnormal */
    assert_true(gr_json_num(gr_json_at(a, 4)) == 0.0);                 /* underflow is accepted */
    assert_true(signbit(gr_json_num(gr_json_at(a, 5))));
    gr_json_free(d);

    BAD("1e400", "number out of range");
    BAD("-1e400", "number out of range");
    BAD("[1,2,1.8e308]", "number out of range");
    /* a 5000-digit integer (about 1e5000) overflows a double: an error, not infinity */
    char *big = malloc(5001);
    memset(big, '9', 5000);
    big[5000] = 0;
    gr_json *bd = NULL;
    char err[128];
    assert_int_equal(gr_json_parse(big, 5000, NULL, &bd, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "out of range"));
    memset(big, '1', 300);
    big[300] = 0;
    gr_json_free(parse_ok(big, 300)); /* 1.1e299 fits */
    free(big);
}

static void test_strings_utf8(void **state) {
    (void)state;
    size_t n;
    gr_json *d = PARSE("\"a\\u0000b\"");
    const char *s = gr_json_str(gr_json_root(d), &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "a\0b", 4); /* embedded NUL and the terminating NUL */
    gr_json_free(d);

    d = PARSE("\"\\ud83d\\ude00|\\u00e9|\\u20ac|\\uFFFF\"");
    s = gr_json_str(gr_json_root(d), &n);
    const char want[] = "\xf0\x9f\x98\x80|\xc3\xa9|\xe2\x82\xac|\xef\xbf\xbf";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(s, want, sizeof want);
    gr_json_free(d);

    d = PARSE("{\"a\\u0000b\":1,\"a\":2}"); /* keys differing only after a NUL are distinct */
    const gr_json_val *r = gr_json_root(d);
    int64_t iv;
    assert_int_equal(gr_json_int(gr_json_getn(r, "a\0b", 3), &iv), GR_OK);
    assert_int_equal(iv, 1);
    assert_int_equal(gr_json_int(gr_json_get(r, "a"), &iv), GR_OK);
    assert_int_equal(iv, 2);
    gr_json_free(d);
    BAD("{\"a\\u0000\":1,\"a\\u0000\":2}", "duplicate key \"a?\"");
}

static void test_depth_and_limits(void **state) {
    (void)state;
    enum { N = 100000 };
    char *s = malloc(2 * N + 1);
    for (int i = 0; i < N; i++) s[i] = '[', s[N + i] = ']';
    s[2 * N] = 0;
    gr_json *d = NULL;
    char err[256];
    /* exactly the default limit (128) passes; one more fails */
    assert_int_equal(gr_json_parse(s + N - 128, 256, NULL, &d, err, sizeof err), GR_OK);
    gr_json_free(d);
    char *t = malloc(2 * 129);
    memset(t, '[', 129);
    memset(t + 129, ']', 129);
    assert_int_equal(gr_json_parse(t, 258, NULL, &d, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "line 1 col 129: nesting deeper than 128 levels (limit)");
    free(t);
    /* hostile depth: a clean error, no stack overflow, even when the caller asks for more */
    gr_json_limits lim = {.max_depth = 1000000};
    assert_int_equal(gr_json_parse(s, 2 * N, &lim, &d, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "nesting deeper than 1024"));
    /* the deepest parseable document (1024 levels) writes back unchanged */
    lim = (gr_json_limits){.max_depth = 1024};
    assert_int_equal(gr_json_parse(s + N - 1024, 2048, &lim, &d, err, sizeof err), GR_OK);
    char *w = NULL;
    size_t wl = 0;
    assert_int_equal(gr_json_write(gr_json_root(d), &w, &wl), GR_OK);
    assert_int_equal(wl, 2048);
    assert_memory_equal(w, s + N - 1024, 2048);
    free(w);
    gr_json_free(d);
    free(s);
    /* objects count too */
    lim = (gr_json_limits){.max_depth = 2};
    assert_int_equal(gr_json_parse("{\"a\":{\"b\":[]}}", 14, &lim, &d, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "col 11: nesting deeper than 2"));
    /* size and node limits */
    lim = (gr_json_limits){.max_bytes = 4};
    assert_int_equal(gr_json_parse("[1,2]", 5, &lim, &d, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "exceeds the limit of 4"));
    lim = (gr_json_limits){.max_nodes = 3};
    assert_int_equal(gr_json_parse("[1,2]", 5, &lim, &d, err, sizeof err), GR_OK);
    gr_json_free(d);
    assert_int_equal(gr_json_parse("[1,2,3]", 7, &lim, &d, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "more than 3 values"));
}

static char *write_doc(const char *in) {
    gr_json *d = parse_ok(in, strlen(in));
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(gr_json_write(gr_json_root(d), &out, &len), GR_OK);
    assert_int_equal(len, strlen(out));
    gr_json_free(d);
    return out;
}

static void test_round_trip(void **state) {
    (void)state;
    static const char *const docs[] = {
        "{\"a\":[1,2.5,-3e-7,{\"b\":null,\"c\":[true,false]}],\"s\":\"q\\\"\\\\\\n\\u0001\\u0000\\ud83d\\ude00\"}",
        "[9007199254740993,-9223372036854775808,1e300,0.1,-0,123456789012345678901234567890]",
        "\"\\u2028 \\/ \\b\\f\\t\\r\"", "[]", "{}", "[[],{},[{}]]", "{\"\":\"\"}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        char *w1 = write_doc(docs[i]);
        char *w2 = write_doc(w1); /* writing is a fixed point after one pass */
        assert_string_equal(w1, w2);
        gr_json *a = parse_ok(docs[i], strlen(docs[i])), *b = parse_ok(w1, strlen(w1));
        assert_true(gr_json_equal(gr_json_root(a), gr_json_root(b)));
        gr_json_free(a);
        gr_json_free(b);
        free(w1);
        free(w2);
    }
    /* canonical forms worked out by hand */
    char *w = write_doc(" { \"k\" : [ 1 , 2.50 , \"\\u0041\\/\" , 1E2 , 100 ] } ");
    assert_string_equal(w, "{\"k\":[1,2.5,\"A/\",100,100]}");
    free(w);
    w = write_doc("[9007199254740993, 0.1, 1e300, -0.0, 5e-324, 1.7976931348623157e308]");
    assert_string_equal(w, "[9007199254740993,0.1,1e+300,-0,5e-324,1.7976931348623157e+308]");
    free(w);
    /* equality ignores member order, not values */
    gr_json *a = PARSE("{\"x\":1,\"y\":[1,2]}"), *b = PARSE("{\"y\":[1,2],\"x\":1.0}"),
            *c = PARSE("{\"y\":[2,1],\"x\":1}");
    assert_true(gr_json_equal(gr_json_root(a), gr_json_root(b)));
    assert_false(gr_json_equal(gr_json_root(a), gr_json_root(c)));
    gr_json_free(a);
    gr_json_free(b);
    gr_json_free(c);
}

static void test_writer_escaping(void **state) {
    (void)state;
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_arr(&w);
    gr_jw_strn(&w, "a\"b\\c\n\x01\x7f\x1f", 9);
    gr_jw_strn(&w, "x\0y", 3);
    gr_jw_str(&w, "\xff\xc3\xa9\xe2\x82"); /* invalid byte, valid é, truncated sequence */
    gr_jw_str(&w, NULL);
    gr_jw_int(&w, INT64_MIN);
    gr_jw_bool(&w, true);
    gr_jw_num(&w, 0.30000000000000004);
    gr_jw_end(&w);
    size_t len;
    char *s = gr_jw_take(&w, &len);
    assert_non_null(s);
    assert_string_equal(s, "[\"a\\\"b\\\\c\\n\\u0001\x7f\\u001f\",\"x\\u0000y\","
                           "\"\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\",null,-9223372036854775808,true,"
                           "0.30000000000000004]");
    assert_int_equal(len, strlen(s));
    gr_json *d = parse_ok(s, len); /* always valid JSON */
    gr_json_free(d);
    free(s);
    gr_jw_free(&w);

    /* object building */
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "a");
    gr_jw_arr(&w);
    gr_jw_end(&w);
    gr_jw_key(&w, "b");
    gr_jw_obj(&w);
    gr_jw_end(&w);
    gr_jw_keyn(&w, "k\0", 2);
    gr_jw_null(&w);
    gr_jw_end(&w);
    s = gr_jw_take(&w, NULL);
    assert_string_equal(s, "{\"a\":[],\"b\":{},\"k\\u0000\":null}");
    free(s);
    gr_jw_free(&w);
}

static void test_writer_misuse(void **state) {
    (void)state;
    gr_jw w;
    gr_jw_init(&w); /* value where a key is due */
    gr_jw_obj(&w);
    gr_jw_int(&w, 1);
    assert_int_equal(gr_jw_status(&w), GR_E_INTERNAL);
    assert_null(gr_jw_take(&w, NULL));
    gr_jw_free(&w);
    gr_jw_init(&w); /* end without open */
    gr_jw_end(&w);
    assert_int_equal(gr_jw_status(&w), GR_E_INTERNAL);
    gr_jw_free(&w);
    gr_jw_init(&w); /* unclosed container */
    gr_jw_arr(&w);
    assert_null(gr_jw_take(&w, NULL));
    assert_int_equal(gr_jw_status(&w), GR_E_INTERNAL);
    gr_jw_free(&w);
    gr_jw_init(&w); /* two top-level values */
    gr_jw_int(&w, 1);
    gr_jw_int(&w, 2);
    assert_int_equal(gr_jw_status(&w), GR_E_INTERNAL);
    gr_jw_free(&w);
    gr_jw_init(&w); /* non-finite numbers have no JSON form */
    gr_jw_num(&w, NAN);
    assert_int_equal(gr_jw_status(&w), GR_E_INVALID_ARG);
    gr_jw_free(&w);
    gr_jw_init(&w);
    gr_jw_num(&w, INFINITY);
    assert_int_equal(gr_jw_status(&w), GR_E_INVALID_ARG);
    gr_jw_free(&w);
    gr_jw_init(&w); /* key dangling at end */
    gr_jw_obj(&w);
    gr_jw_key(&w, "a");
    gr_jw_end(&w);
    assert_int_equal(gr_jw_status(&w), GR_E_INTERNAL);
    gr_jw_free(&w);
    gr_jw_init(&w); /* too deep */
    for (int i = 0; i < GR_JW_MAX_DEPTH + 1; i++) gr_jw_arr(&w);
    assert_int_equal(gr_jw_status(&w), GR_E_INTERNAL);
    gr_jw_free(&w);
}

/* A decimal-comma locale must not change parsing or writing (skipped if none is installed). */
static void test_locale_independent(void **state) {
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "ru_RU.UTF-8", NULL};
    const char *got = NULL;
    for (int i = 0; names[i] && !got; i++) got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        skip();
        return;
    }
    gr_json *d = PARSE("[1.5, 2.25e1]");
    assert_true(gr_json_num(gr_json_at(gr_json_root(d), 0)) == 1.5);
    assert_true(gr_json_num(gr_json_at(gr_json_root(d), 1)) == 22.5);
    gr_json_free(d);
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_num(&w, 0.5);
    char *s = gr_jw_take(&w, NULL);
    assert_string_equal(s, "0.5");
    free(s);
    setlocale(LC_NUMERIC, "C");
}

/* Random mutations of valid documents: every input either parses into a tree that writes and
 * re-parses equal, or fails with GR_E_FORMAT and a positioned message. (The real fuzzing is
 * fuzz/fuzz_json.c; this keeps a smoke run in every ctest.) */
static void test_mutation_smoke(void **state) {
    (void)state;
    static const char *const seeds[] = {
        "{\"a\":[1,2.5e3,{\"b\":null}],\"c\":\"d\\u00e9\\ud83d\\ude00\"}", "[true,false,null,-0.5]", "\"x\"",
    };
    static const char alphabet[] = "{}[],:\"\\u0123456789abcdefEe+-.tnrl \x00\x80\xc3\xa9\xed\xf0\xff";
    uint64_t rng = 88172645463325252ull;
    char buf[128];
    int valid = 0, invalid = 0;
    for (int it = 0; it < 20000; it++) {
        const char *seed = seeds[it % 3];
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        for (int m = 0; m < 1 + it % 4; m++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t pos = (size_t)(rng % (n ? n : 1));
            char c = alphabet[(rng >> 20) % (sizeof alphabet - 1)];
            int op = (int)((rng >> 40) % 3);
            if (op == 0 && n) buf[pos] = c;
            else if (op == 1 && n + 1 < sizeof buf) memmove(buf + pos + 1, buf + pos, n - pos), buf[pos] = c, n++;
            else if (n) memmove(buf + pos, buf + pos + 1, n - pos - 1), n--;
        }
        gr_json *d = NULL;
        char err[256];
        gr_status st = gr_json_parse(buf, n, NULL, &d, err, sizeof err);
        if (st == GR_OK) {
            char *w = NULL;
            size_t wl;
            assert_int_equal(gr_json_write(gr_json_root(d), &w, &wl), GR_OK);
            gr_json *d2 = NULL;
            assert_int_equal(gr_json_parse(w, wl, NULL, &d2, err, sizeof err), GR_OK);
            assert_true(gr_json_equal(gr_json_root(d), gr_json_root(d2)));
            gr_json_free(d2);
            free(w);
            gr_json_free(d);
            valid++;
        } else {
            assert_int_equal(st, GR_E_FORMAT);
            assert_true(strncmp(err, "line ", 5) == 0);
            invalid++;
        }
    }
    assert_true(valid > 100 && invalid > 100); /* the mutator exercised both paths */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_documents), cmocka_unit_test(test_invalid_documents),
        cmocka_unit_test(test_error_position),  cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_numbers),         cmocka_unit_test(test_strings_utf8),
        cmocka_unit_test(test_depth_and_limits), cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_escaping), cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_locale_independent), cmocka_unit_test(test_mutation_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
