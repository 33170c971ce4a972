/* test_schema.c — the JSON Schema compiler/validator against hand-written cases in tests/validate/schema
 * (each file: a schema, documents that must pass, and documents that must fail at a given instance
 * pointer with a given keyword), schemas that must be refused at compile time (bad_schemas.json: error
 * text), exact messages, and the cost limits. Expected results were written by hand from the spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "validate/schema.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static gr_schema *compile_val(const gr_json_val *v, const char *where) {
    char *text;
    size_t len;
    assert_int_equal(gr_json_write(v, &text, &len), GR_OK);
    gr_schema *s = NULL;
    char err[256] = "";
    if (gr_schema_compile(text, len, &s, err, sizeof err) != GR_OK) fail_msg("%s: compile: %s", where, err);
    free(text);
    return s;
}

static void run_case_file(const char *path) {
    size_t len;
    char *text = slurp(path, &len), err[256];
    gr_json *doc = NULL;
    if (gr_json_parse(text, len, NULL, &doc, err, sizeof err) != GR_OK) fail_msg("%s: %s", path, err);
    const gr_json_val *root = gr_json_root(doc);
    gr_schema *s = compile_val(gr_json_get(root, "schema"), path);
    const gr_json_val *valid = gr_json_get(root, "valid"), *invalid = gr_json_get(root, "invalid");
    assert_true(gr_json_len(valid) > 0 && gr_json_len(invalid) > 0);
    for (size_t i = 0; i < gr_json_len(valid); i++) {
        gr_schema_fail f;
        if (gr_schema_validate(s, gr_json_at(valid, i), &f, err, sizeof err) != GR_OK)
            fail_msg("%s: valid[%zu] rejected: %s", path, i, err);
    }
    for (size_t i = 0; i < gr_json_len(invalid); i++) {
        const gr_json_val *c = gr_json_at(invalid, i);
        const char *ptr = gr_json_str(gr_json_get(c, "pointer"), NULL);
        const char *kw = gr_json_str(gr_json_get(c, "keyword"), NULL);
        gr_schema_fail f;
        err[0] = 0;
        if (gr_schema_validate(s, gr_json_get(c, "doc"), &f, err, sizeof err) != GR_E_FORMAT)
            fail_msg("%s: invalid[%zu] accepted", path, i);
        if (strcmp(f.pointer, ptr) != 0 || strcmp(f.keyword, kw) != 0)
            fail_msg("%s: invalid[%zu]: got %s %s (%s), wanted %s %s", path, i, f.pointer, f.keyword, err, ptr, kw);
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s: ", ptr[0] ? ptr : "(root)");
        if (strncmp(err, prefix, strlen(prefix)) != 0) fail_msg("%s: message \"%s\" lacks prefix %s", path, err, prefix);
    }
    gr_schema_free(s);
    gr_json_free(doc);
    free(text);
}

static void test_case_corpus(void **state) {
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/validate/schema", GR_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 || strcmp(e->d_name, "bad_schemas.json") == 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        run_case_file(path);
        n++;
    }
    closedir(d);
    assert_true(n >= 15);
}

static void test_bad_schemas(void **state) {
    (void)state;
    size_t len;
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/validate/schema/bad_schemas.json", GR_SOURCE_DIR);
    char *text = slurp(path, &len);
    gr_json *doc = NULL;
    assert_int_equal(gr_json_parse(text, len, NULL, &doc, err, sizeof err), GR_OK);
    const gr_json_val *all = gr_json_root(doc);
    assert_true(gr_json_len(all) >= 20);
    for (size_t i = 0; i < gr_json_len(all); i++) {
        const gr_json_val *c = gr_json_at(all, i);
        char *st;
        size_t sl;
        assert_int_equal(gr_json_write(gr_json_at(c, 0), &st, &sl), GR_OK);
        const char *want = gr_json_str(gr_json_at(c, 1), NULL);
        gr_schema *s = (gr_schema *)1;
        err[0] = 0;
        gr_status r = gr_schema_compile(st, sl, &s, err, sizeof err);
        if (r == GR_OK || s != NULL || !strstr(err, want)) fail_msg("schema %s: status %d, error \"%s\", wanted \"%s\"", st, r, err, want);
        free(st);
    }
    gr_json_free(doc);
    free(text);
}

static void test_messages(void **state) {
    (void)state;
    const char *sch = "{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":"
                      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}}}}";
    gr_schema *s = NULL;
    char err[256];
    assert_int_equal(gr_schema_compile(sch, strlen(sch), &s, err, sizeof err), GR_OK);
    const char *doc = "{\"items\":[{\"name\":\"a\"},{},{\"name\":7}]}";
    gr_schema_fail f;
    assert_int_equal(gr_schema_validate_text(s, doc, strlen(doc), &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "/items/2/name: expected string, got integer");
    const char *doc2 = "{\"items\":[{\"name\":1.5}]}";
    assert_int_equal(gr_schema_validate_text(s, doc2, strlen(doc2), &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "/items/0/name: expected string, got number");
    assert_int_equal(gr_schema_validate_text(s, "[1,", 3, &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(f.keyword, "json");
    assert_true(strncmp(err, "line 1 col", 10) == 0);
    assert_int_equal(gr_schema_validate_text(s, "[]", 2, &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "(root): expected object, got array");
    gr_schema_free(s);

    const char *req = "{\"required\":[\"id\"],\"properties\":{\"t\":{\"type\":[\"string\",\"null\"]}}}";
    assert_int_equal(gr_schema_compile(req, strlen(req), &s, err, sizeof err), GR_OK);
    assert_int_equal(gr_schema_validate_text(s, "{}", 2, &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "(root): missing required property \"id\"");
    assert_int_equal(gr_schema_validate_text(s, "{\"id\":1,\"t\":true}", 17, &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "/t: expected null or string, got boolean");
    gr_schema_free(s);
    const char *look = "{\"type\":\"string\",\"pattern\":\"(?<=a)\"}";
    assert_int_equal(gr_schema_compile(look, strlen(look), &s, err, sizeof err), GR_E_UNSUPPORTED);
    assert_null(s);
    assert_int_equal(gr_schema_compile("{\"pattern\":\"^a+$\"}", 18, &s, err, sizeof err), GR_OK);
    assert_int_equal(gr_schema_validate_text(s, "\"aab\"", 5, &f, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "(root): does not match the pattern \"^a+$\"");
    gr_schema_free(s);
}

/* 24 nested anyOf levels of two identical branches would be 2^24 evaluations when nothing matches:
 * the step budget must stop it quickly with an error instead. */
static void test_step_budget(void **state) {
    (void)state;
    char sch[8192];
    size_t n = (size_t)sprintf(sch, "{\"$ref\":\"#/$defs/d0\",\"$defs\":{");
    for (int i = 0; i < 24; i++)
        n += (size_t)sprintf(sch + n, "\"d%d\":{\"anyOf\":[{\"$ref\":\"#/$defs/d%d\"},{\"$ref\":\"#/$defs/d%d\"}]},", i, i + 1, i + 1);
    n += (size_t)sprintf(sch + n, "\"d24\":{\"type\":\"string\"}}}");
    gr_schema *s = NULL;
    char err[256];
    assert_int_equal(gr_schema_compile(sch, n, &s, err, sizeof err), GR_OK);
    clock_t t0 = clock();
    assert_int_equal(gr_schema_validate_text(s, "1", 1, NULL, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "too expensive"));
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    assert_int_equal(gr_schema_validate_text(s, "\"ok\"", 4, NULL, err, sizeof err), GR_OK);
    gr_schema_free(s);
}

/* (a*)*b on a long run of a's is exponential for a backtracking engine; ours must stay linear. */
static void test_pattern_linear_time(void **state) {
    (void)state;
    const char *sch = "{\"pattern\":\"^(a*)*(a|aa)*b$\"}";
    gr_schema *s = NULL;
    char err[256];
    assert_int_equal(gr_schema_compile(sch, strlen(sch), &s, err, sizeof err), GR_OK);
    size_t n = 20000;
    char *doc = malloc(n + 3);
    doc[0] = '"';
    memset(doc + 1, 'a', n);
    doc[n + 1] = '"';
    clock_t t0 = clock();
    assert_int_equal(gr_schema_validate_text(s, doc, n + 2, NULL, err, sizeof err), GR_E_FORMAT);
    doc[n] = 'b';
    assert_int_equal(gr_schema_validate_text(s, doc, n + 2, NULL, err, sizeof err), GR_OK);
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
    free(doc);
    gr_schema_free(s);
}

static void test_random_schemas_no_crash(void **state) {
    (void)state;
    /* Byte-level mutations of a rich schema: each must compile or fail with a message, never crash. */
    const char *base = "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/x\"},\"b\":{\"anyOf\":"
                       "[{\"type\":\"string\",\"format\":\"email\"},{\"enum\":[1,2]}]}},\"$defs\":{\"x\":{\"type\":"
                       "\"array\",\"items\":{\"$ref\":\"#\"},\"minItems\":1}},\"required\":[\"a\"]}";
    size_t len = strlen(base);
    char *buf = malloc(len);
    uint32_t seed = 12345;
    size_t compiled = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(buf, base, len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % len] = "{}[]\":,0a#/$"[(seed >> 20) % 13];
        }
        gr_schema *s = NULL;
        char err[256] = "";
        if (gr_schema_compile(buf, len, &s, err, sizeof err) == GR_OK) {
            compiled++;
            (void)gr_schema_validate_text(s, "{\"a\":[{\"a\":[]}],\"b\":\"x@y\"}", 27, NULL, err, sizeof err);
            gr_schema_free(s);
        } else assert_true(err[0] != 0);
    }
    assert_true(compiled > 0);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_corpus),
        cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_step_budget),
        cmocka_unit_test(test_pattern_linear_time),
        cmocka_unit_test(test_random_schemas_no_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
