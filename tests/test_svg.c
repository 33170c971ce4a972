/* test_svg.c — the SVG validator/sanitizer and its XML tokenizer: every file in tests/validate/svg/xss
 * (hand-written attack vectors) must be rejected, and its sanitized form (if any) must validate clean,
 * hold none of the dangerous tokens, and be a fixed point; every file in tests/validate/svg/ok must
 * validate and survive sanitizing with an identical tree. Plus XML well-formedness and error positions
 * worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "validate/svg.h"
#include "validate/xml.h"

#include <ctype.h>
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

static size_t for_each(const char *sub, void (*fn)(const char *path)) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/validate/svg/%s", GR_SOURCE_DIR, sub);
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl <= 4 || strcmp(e->d_name + nl - 4, ".svg") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        fn(path);
        count++;
    }
    closedir(d);
    return count;
}

/* Canonical text of a tree: elements with attributes in order, text merged, comments and PIs left out. */
static void put(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t l = strlen(s);
    while (*len + l + 1 > *cap) {
        *cap *= 2;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
    }
    memcpy(*buf + *len, s, l + 1);
    *len += l;
}

static void canon(const gr_xml_node *n, char **buf, size_t *len, size_t *cap) {
    for (size_t i = 0; i < n->nkids; i++) {
        const gr_xml_node *k = n->kids[i];
        if (k->kind == GR_XML_TEXT) put(buf, len, cap, k->text);
        if (k->kind != GR_XML_ELEM) continue;
        put(buf, len, cap, "<");
        put(buf, len, cap, k->name);
        for (size_t a = 0; a < k->nattrs; a++) {
            put(buf, len, cap, " ");
            put(buf, len, cap, k->attrs[a].name);
            put(buf, len, cap, "=[");
            put(buf, len, cap, k->attrs[a].value);
            put(buf, len, cap, "]");
        }
        put(buf, len, cap, ">");
        canon(k, buf, len, cap);
        put(buf, len, cap, "</>");
    }
}

static char *canon_of(const char *text, size_t len) {
    gr_xml_node *doc = NULL;
    char err[256];
    if (gr_xml_parse(text, len, &doc, err, sizeof err) != GR_OK) fail_msg("xml: %s", err);
    size_t cap = 256, l = 0;
    char *b = calloc(cap, 1);
    assert_non_null(b);
    canon(doc, &b, &l, &cap);
    gr_xml_free(doc);
    return b;
}

static bool contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && tolower((unsigned char)p[i]) == needle[i]) i++;
        if (i == n) return true;
    }
    return false;
}

static void check_xss(const char *path) {
    size_t len;
    char *t = slurp(path, &len);
    char err[256] = "";
    gr_status st = gr_svg_validate(t, len, err, sizeof err);
    if (st != GR_E_FORMAT) fail_msg("%s: not blocked (status %d)", path, st);
    if (strncmp(err, "line ", 5) != 0) fail_msg("%s: error without position: %s", path, err);
    char *out = NULL;
    size_t olen = 0, removed = 0;
    st = gr_svg_sanitize(t, len, &out, &olen, &removed, err, sizeof err);
    if (st == GR_OK) {
        static const char *const bad[] = {"script", "onload", "onclick", "onmouse", "onbegin", "onfocus",
                                          "foreignobject", "expression", "@import", "evil.example",
                                          "data:", "behavior", "binding", "iframe", "<a", "<image",
                                          "<animate", "<set", "feimage"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            if (contains_ci(out, bad[i])) fail_msg("%s: sanitized output still has \"%s\": %s", path, bad[i], out);
        if (removed == 0) fail_msg("%s: nothing removed", path);
        if (gr_svg_validate(out, olen, err, sizeof err) != GR_OK) fail_msg("%s: sanitized output invalid: %s", path, err);
        char *again = NULL;
        size_t alen = 0, r2 = 99;
        assert_int_equal(gr_svg_sanitize(out, olen, &again, &alen, &r2, err, sizeof err), GR_OK);
        assert_int_equal(r2, 0);
        if (alen != olen || memcmp(again, out, olen)) fail_msg("%s: not a fixed point:\n%s\n%s", path, out, again);
        assert_memory_equal(again, out, olen);
        free(again);
    }
    free(out);
    free(t);
}

static void check_ok(const char *path) {
    size_t len;
    char *t = slurp(path, &len);
    char err[256] = "";
    if (gr_svg_validate(t, len, err, sizeof err) != GR_OK) fail_msg("%s: rejected: %s", path, err);
    char *out = NULL;
    size_t olen = 0, removed = 0;
    assert_int_equal(gr_svg_sanitize(t, len, &out, &olen, &removed, err, sizeof err), GR_OK);
    char *a = canon_of(t, len), *b = canon_of(out, olen);
    if (strcmp(a, b) != 0) fail_msg("%s: sanitizing changed the tree:\n%s\n%s", path, a, b);
    assert_int_equal(gr_svg_validate(out, olen, err, sizeof err), GR_OK);
    free(a);
    free(b);
    free(out);
    free(t);
}

static void test_xss_corpus(void **state) {
    (void)state;
    assert_true(for_each("xss", check_xss) >= 30);
}

static void test_legit_corpus(void **state) {
    (void)state;
    assert_true(for_each("ok", check_ok) >= 10);
}

static void bad(const char *svg, const char *want) {
    char err[256] = "";
    gr_status st = gr_svg_validate(svg, strlen(svg), err, sizeof err);
    if (st != GR_E_FORMAT || !strstr(err, want)) fail_msg("[%s]: status %d, error \"%s\", wanted \"%s\"", svg, st, err, want);
}

#define NS "xmlns=\"http://www.w3.org/2000/svg\""

static void test_xml_wellformedness(void **state) {
    (void)state;
    bad("", "line 1 col 1: no root element");
    bad("<svg " NS ">", "line 1 col 1: element is never closed");
    bad("<svg " NS "></g>", "line 1 col 41: end tag does not match");
    bad("<svg " NS "><rect x=1/></svg>", "line 1 col 49: expected a quoted attribute value");
    bad("<svg " NS " " NS "/>", "line 1 col 41: duplicate attribute");
    bad("<svg " NS "/><svg " NS "/>", "more than one root element");
    bad("<svg " NS ">\n<text>&amp</text></svg>", "line 2 col 7: unknown entity");
    bad("<svg " NS "><text>&#0;</text></svg>", "not allowed in XML");
    bad("<svg " NS "><text>&#xD800;</text></svg>", "not allowed in XML");
    bad("<svg " NS "><text>a]]>b</text></svg>", "\"]]>\" in text");
    bad("<svg " NS "><!-- a -- b --></svg>", "\"--\" inside a comment");
    bad("<svg " NS "><![CDATA[x</svg>", "unterminated CDATA");
    bad("<svg " NS " width=\"<\"/>", "'<' in an attribute value");
    bad("<svg " NS ">\xff</svg>", "invalid UTF-8");
    bad("<svg " NS ">\xc0\xaf</svg>", "invalid UTF-8");
    bad("<svg " NS "/> trailing", "content after the root element");
    bad(" <?xml version=\"1.0\"?><svg " NS "/>", "XML declaration not at the start");
    bad("<svg " NS "><g", "unterminated start tag");
    char err[256];
    const char nul[] = "<svg " NS ">\0</svg>";
    assert_int_equal(gr_svg_validate(nul, sizeof nul - 1, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "control character"));
    /* Deep nesting is refused, not a stack overflow. */
    size_t depth = 5000, n = 0;
    char *deep = malloc(depth * 8 + 64);
    n += (size_t)sprintf(deep, "<svg " NS ">");
    for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(deep + n, "<g>");
    for (size_t i = 0; i < depth; i++) n += (size_t)sprintf(deep + n, "</g>");
    n += (size_t)sprintf(deep + n, "</svg>");
    assert_int_equal(gr_svg_validate(deep, n, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "nested too deeply"));
    free(deep);
}

static void test_policy_positions(void **state) {
    (void)state;
    bad("<svg " NS ">\n  <script/></svg>", "line 2 col 3: element script: <script> element");
    bad("<svg " NS ">\n<rect\n  onclick=\"x\"/></svg>", "line 3 col 3: attribute onclick: event handler");
    bad("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1\"><use href=\"a.svg#b\"/></svg>",
        "attribute href: external or non-fragment href");
    bad("<svg/>", "root lacks xmlns");
    bad("<svg xmlns=\"http://www.w3.org/2000/svgx\"/>", "namespace other than SVG");
    bad("<g " NS "/>", "root element g: must be <svg>");
    bad("<svg " NS "><rect href=\"#a\"/></svg>", "href not allowed on this element");
    bad("<svg " NS "><rect fill=\"url(&#x27;http://x/#a&#x27;)\"/></svg>", "url() to a non-local target");
    bad("<svg " NS "><rect style=\"fill:red;/* open\"/></svg>", "unterminated CSS comment");
    bad("<svg " NS "><style><g/></style></svg>", "element inside <style>");
    bad("<svg " NS "><rect style=\"color: re\\64\"/></svg>", "attribute style: CSS escape sequence");
    bad("<svg " NS "><?php echo 1 ?></svg>", "processing instruction php");
    /* Allowed forms right next to the forbidden ones. */
    const char *good[] = {
        "<svg " NS "><rect fill=\"url(#a)\" style=\"fill: url( '#b' ) ; stroke:red\"/></svg>",
        "<svg " NS "><use href=\"#id\"/></svg>",
        "<svg " NS "><text>javascript: is only text here</text></svg>",
        "<?xml version=\"1.0\"?>\n<!-- c --><svg " NS "/><!-- after -->",
    };
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (gr_svg_validate(good[i], strlen(good[i]), err, sizeof err) != GR_OK) fail_msg("[%s]: %s", good[i], err);
}

static void test_sanitize_output(void **state) {
    (void)state;
    const char *in = "<svg><g onclick=\"x()\" fill=\"red\"><script>alert(1)</script><rect width=\"1\"/>"
                     "<!-- c --></g><foreignObject><p/></foreignObject><text>a &lt; b</text></svg>";
    char *out = NULL, err[256];
    size_t olen, removed;
    assert_int_equal(gr_svg_sanitize(in, strlen(in), &out, &olen, &removed, err, sizeof err), GR_OK);
    assert_string_equal(out, "<svg xmlns=\"http://www.w3.org/2000/svg\"><g fill=\"red\"><rect width=\"1\"/></g>"
                             "<text>a &lt; b</text></svg>");
    assert_int_equal(removed, 4); /* onclick, script, comment, foreignObject */
    free(out);
    /* Attribute values with quotes, tabs and newlines survive a round trip. */
    const char *q = "<svg " NS "><text aria-label='say \"hi\"&#9;&#10;now'>x</text></svg>";
    assert_int_equal(gr_svg_sanitize(q, strlen(q), &out, &olen, &removed, err, sizeof err), GR_OK);
    char *a = canon_of(q, strlen(q)), *b = canon_of(out, olen);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(out);
    assert_int_equal(gr_svg_sanitize("<html/>", 7, &out, &olen, NULL, err, sizeof err), GR_E_FORMAT);
    assert_null(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xss_corpus),
        cmocka_unit_test(test_legit_corpus),
        cmocka_unit_test(test_xml_wellformedness),
        cmocka_unit_test(test_policy_positions),
        cmocka_unit_test(test_sanitize_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
