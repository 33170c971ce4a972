/* test_mermaid.c — the Mermaid validator against hand-written corpora (tests/validate/mermaid/valid must
 * all pass; every invalid/X.mmd must fail at the line:col and with the message part written by hand in
 * invalid/X.expect), plus structure counts worked out by hand and truncation of every valid diagram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "validate/mermaid.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static size_t for_each(const char *sub, const char *ext, void (*fn)(const char *path)) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/validate/mermaid/%s", GR_SOURCE_DIR, sub);
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name), el = strlen(ext);
        if (nl <= el || strcmp(e->d_name + nl - el, ext) != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fn(path);
        count++;
    }
    closedir(d);
    return count;
}

static void check_valid(const char *path) {
    size_t len;
    char *t = slurp(path, &len);
    char err[256] = "";
    gr_mermaid_info info;
    gr_status st = gr_mermaid_validate(t, len, &info, err, sizeof err);
    if (st != GR_OK) fail_msg("%s: rejected: %s", path, err);
    assert_true(info.kind != GR_MERMAID_NONE);
    assert_true(info.nodes > 0 || info.kind == GR_MERMAID_FLOWCHART);
    /* Cutting a diagram anywhere must never crash (result may be valid or not). */
    for (size_t cut = 0; cut < len; cut++) (void)gr_mermaid_validate(t, cut, NULL, err, sizeof err);
    free(t);
}

static void check_invalid(const char *path) {
    size_t len, elen;
    char *t = slurp(path, &len);
    char epath[2048];
    snprintf(epath, sizeof epath, "%.*s.expect", (int)(strlen(path) - 4), path);
    char *exp = slurp(epath, &elen);
    int line = 0, col = 0;
    char sub[200] = "";
    assert_int_equal(sscanf(exp, "%d:%d:%199[^\n]", &line, &col, sub), 3);
    char err[256] = "", want[64];
    gr_status st = gr_mermaid_validate(t, len, NULL, err, sizeof err);
    if (st != GR_E_FORMAT) fail_msg("%s: accepted (status %d)", path, st);
    snprintf(want, sizeof want, "line %d col %d: ", line, col);
    if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, sub))
        fail_msg("%s: error \"%s\", wanted \"%s...%s\"", path, err, want, sub);
    free(exp);
    free(t);
}

static void test_valid_corpus(void **state) {
    (void)state;
    assert_true(for_each("valid", ".mmd", check_valid) >= 25);
}

static void test_invalid_corpus(void **state) {
    (void)state;
    assert_true(for_each("invalid", ".mmd", check_invalid) >= 25);
}

static gr_mermaid_info ok(const char *s) {
    gr_mermaid_info info;
    char err[256] = "";
    if (gr_mermaid_validate(s, strlen(s), &info, err, sizeof err) != GR_OK) fail_msg("rejected [%s]: %s", s, err);
    return info;
}

static void test_counts(void **state) {
    (void)state;
    /* A,B,C,D (4 refs) + E,F,G,H (4) ; edges: 2x2 + 1x3 */
    gr_mermaid_info i = ok("flowchart TD\nA & B --> C & D\nE --> F & G & H\n");
    assert_int_equal(i.kind, GR_MERMAID_FLOWCHART);
    assert_int_equal(i.nodes, 8);
    assert_int_equal(i.edges, 7);
    i = ok("graph LR\nA --> B --> C\nsubgraph s\nsubgraph t\nx\nend\nend\n");
    assert_int_equal(i.edges, 2);
    assert_int_equal(i.subgraphs, 2);
    assert_int_equal(i.depth, 2);
    i = ok("mindmap\n root\n  a\n   b\n  c\n   d\n    e\n");
    assert_int_equal(i.kind, GR_MERMAID_MINDMAP);
    assert_int_equal(i.nodes, 6);
    assert_int_equal(i.depth, 4);
    i = ok("flowchart LR\nA -- text --> B -.-> C ==> D\n");
    assert_int_equal(i.edges, 3);
}

static void test_edge_cases(void **state) {
    (void)state;
    char err[256];
    assert_int_equal(gr_mermaid_validate(NULL, 0, NULL, err, sizeof err), GR_E_FORMAT);
    assert_int_equal(gr_mermaid_validate(NULL, 5, NULL, err, sizeof err), GR_E_INVALID_ARG);
    const char nul[] = "flowchart TD\nA --> B\0\n";
    assert_int_equal(gr_mermaid_validate(nul, sizeof nul - 1, NULL, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "line 2 col 8"));
    /* Header must be a whole word. */
    assert_int_equal(gr_mermaid_validate("flowchartTD\nA", 13, NULL, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "unknown diagram type"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_corpus),
        cmocka_unit_test(test_invalid_corpus),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
