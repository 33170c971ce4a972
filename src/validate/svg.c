/* svg.c — SVG allow-list validator and sanitizer (see svg.h). Policy lives in the tables and the checks
 * below; parsing is validate/xml.c. Must not pass anything that is not explicitly allowed (fail closed),
 * and must not keep global state. */
#include "validate/svg.h"

#include "core/error.h"
#include "validate/xml.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SVG_NS "http://www.w3.org/2000/svg"
#define XLINK_NS "http://www.w3.org/1999/xlink"

static const char *const k_elems[] = {
    "svg", "g", "defs", "symbol", "use", "title", "desc", "path", "rect", "circle", "ellipse", "line",
    "polyline", "polygon", "text", "tspan", "textPath", "linearGradient", "radialGradient", "stop",
    "pattern", "clipPath", "mask", "marker", "style", "filter", "feGaussianBlur", "feOffset", "feBlend",
    "feColorMatrix", "feMerge", "feMergeNode", "feFlood", "feComposite", "feDropShadow"};

static const char *const k_attrs[] = {
    "id", "class", "style", "viewBox", "preserveAspectRatio", "width", "height", "x", "y", "x1", "y1", "x2",
    "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "fr", "d", "points", "transform", "gradientTransform",
    "gradientUnits", "patternUnits", "patternContentUnits", "patternTransform", "spreadMethod", "offset",
    "stop-color", "stop-opacity", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width",
    "stroke-opacity", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray",
    "stroke-dashoffset", "opacity", "color", "display", "visibility", "font-family", "font-size",
    "font-weight", "font-style", "font-variant", "text-anchor", "dominant-baseline", "alignment-baseline",
    "baseline-shift", "letter-spacing", "word-spacing", "text-decoration", "writing-mode", "dx", "dy",
    "rotate", "textLength", "lengthAdjust", "startOffset", "method", "spacing", "clip-path", "clip-rule",
    "clipPathUnits", "mask", "maskUnits", "maskContentUnits", "marker-start", "marker-mid", "marker-end",
    "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient", "filter", "filterUnits",
    "primitiveUnits", "in", "in2", "result", "stdDeviation", "mode", "type", "values", "operator", "k1",
    "k2", "k3", "k4", "flood-color", "flood-opacity", "lighting-color", "color-interpolation",
    "color-interpolation-filters", "shape-rendering", "text-rendering", "image-rendering",
    "vector-effect", "pointer-events", "overflow", "version", "baseProfile", "xmlns", "xmlns:xlink",
    "xml:space", "xml:lang", "lang", "href", "xlink:href", "xlink:title", "role", "aria-label",
    "aria-hidden", "aria-labelledby", "aria-describedby", "focusable", "pathLength", "media"};

/* Elements whose href may point at another element of this document. */
static const char *const k_href_elems[] = {"use", "textPath", "linearGradient", "radialGradient", "pattern",
                                           "filter"};

static bool in_list(const char *s, const char *const *l, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, l[i]) == 0) return true;
    return false;
}
#define IN(s, l) in_list(s, l, sizeof l / sizeof l[0])

/* Lower-case copy without whitespace/control characters: "jav&#x09;a Script:" decodes (by the XML
 * parser) and folds to "javascript:", which is what a browser's URL parser would also see. */
static char *fold(const char *s, size_t n) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch == 0x7F) continue;
        o[k++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    o[k] = 0;
    return o;
}

/* Every url(...) in a folded value must be a local "#fragment". */
static const char *urls_local(const char *f) {
    for (const char *u = strstr(f, "url("); u; u = strstr(u + 4, "url(")) {
        const char *a = u + 4;
        if (*a == '"' || *a == '\'') a++;
        if (*a != '#') return "url() to a non-local target";
    }
    return NULL;
}

static const char *scheme_check(const char *f) {
    if (strstr(f, "javascript:") || strstr(f, "vbscript:") || strstr(f, "livescript:"))
        return "script URL";
    if (strncmp(f, "data:", 5) == 0 || strstr(f, "url(data:") || strstr(f, "url(\"data:") || strstr(f, "url('data:"))
        return "data: URL";
    if (strstr(f, "expression(")) return "CSS expression()";
    return urls_local(f);
}

/* CSS from a style attribute or <style> element: comments removed before checking so that
 * "expr/ * * /ession(" cannot hide; backslash escapes are refused outright. */
static const char *css_check(const char *s, size_t n) {
    if (memchr(s, '\\', n)) return "CSS escape sequence";
    char *tmp = malloc(n + 1);
    if (!tmp) return "out of memory";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            size_t j = i + 2;
            while (j + 1 < n && !(s[j] == '*' && s[j + 1] == '/')) j++;
            if (j + 1 >= n) { free(tmp); return "unterminated CSS comment"; }
            i = j + 1;
            continue;
        }
        tmp[k++] = s[i];
    }
    char *f = fold(tmp, k);
    free(tmp);
    if (!f) return "out of memory";
    const char *why = NULL;
    if (strstr(f, "@import")) why = "CSS @import";
    else if (strstr(f, "behavior:") || strstr(f, "-moz-binding")) why = "CSS behavior/binding";
    else if (strstr(f, "<") ) why = "markup inside CSS";
    else why = scheme_check(f);
    free(f);
    return why;
}

/* Why attribute a of element e is not allowed, or NULL. */
static const char *attr_problem(const gr_xml_node *e, const gr_xml_attr *a, bool is_root) {
    const char *nm = a->name;
    if ((nm[0] == 'o' || nm[0] == 'O') && (nm[1] == 'n' || nm[1] == 'N')) return "event handler attribute";
    if (!IN(nm, k_attrs)) return "attribute not allowed";
    if (!strcmp(nm, "xmlns") && strcmp(a->value, SVG_NS) != 0) return "namespace other than SVG";
    if (!strcmp(nm, "xmlns:xlink") && strcmp(a->value, XLINK_NS) != 0) return "bad xlink namespace";
    if (!strcmp(nm, "style")) return css_check(a->value, a->vlen);
    char *f = fold(a->value, a->vlen);
    if (!f) return "out of memory";
    const char *why = NULL;
    if (!strcmp(nm, "href") || !strcmp(nm, "xlink:href")) {
        if (!IN(e->name, k_href_elems)) why = "href not allowed on this element";
        else if (f[0] != '#' || f[1] == 0) why = "external or non-fragment href";
    }
    if (!why) why = scheme_check(f);
    free(f);
    (void)is_root;
    return why;
}

static const char *elem_problem(const gr_xml_node *e) {
    if (!IN(e->name, k_elems)) {
        if (!strcmp(e->name, "script")) return "<script> element";
        if (!strcmp(e->name, "foreignObject")) return "<foreignObject> element";
        return "element not allowed";
    }
    if (!strcmp(e->name, "style")) {
        /* Check the text as the browser's CSS parser will see it: all pieces joined, since CDATA
         * boundaries and comments ("@imp<!---->ort") vanish before CSS parsing. */
        size_t total = 0;
        for (size_t i = 0; i < e->nkids; i++) {
            if (e->kids[i]->kind == GR_XML_ELEM) return "element inside <style>";
            if (e->kids[i]->kind == GR_XML_TEXT) total += e->kids[i]->tlen;
        }
        char *css = malloc(total + 1);
        if (!css) return "out of memory";
        size_t at = 0;
        for (size_t i = 0; i < e->nkids; i++)
            if (e->kids[i]->kind == GR_XML_TEXT) {
                memcpy(css + at, e->kids[i]->text, e->kids[i]->tlen);
                at += e->kids[i]->tlen;
            }
        css[at] = 0;
        const char *why = css_check(css, at);
        free(css);
        if (why) return why;
    }
    return NULL;
}

typedef struct sctx {
    const char *src;
    size_t n;
    char *err;
    size_t errlen;
    bool sanitize;
    size_t removed;
    char *out;
    size_t olen, ocap;
    bool oom;
} sctx;

static gr_status problem(sctx *c, size_t off, const char *what, const char *name, const char *why) {
    int l, col;
    gr_xml_linecol(c->src, c->n, off, &l, &col);
    return gr_err(GR_E_FORMAT, c->err, c->errlen, "line %d col %d: %s %s: %s", l, col, what, name, why);
}

static void emit(sctx *c, const char *s, size_t n) {
    if (c->oom) return;
    if (c->olen + n + 1 > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 256;
        while (cap < c->olen + n + 1) cap *= 2;
        char *o = realloc(c->out, cap);
        if (!o) { c->oom = true; return; }
        c->out = o;
        c->ocap = cap;
    }
    memcpy(c->out + c->olen, s, n);
    c->olen += n;
    c->out[c->olen] = 0;
}
static void emits(sctx *c, const char *s) { emit(c, s, strlen(s)); }

static void emit_escaped(sctx *c, const char *s, size_t n, bool attr) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': emits(c, "&amp;"); break;
        case '<': emits(c, "&lt;"); break;
        case '>': emits(c, "&gt;"); break;
        case '"': emits(c, attr ? "&quot;" : "\""); break;
        case '\t': emits(c, attr ? "&#9;" : "\t"); break;
        case '\n': emits(c, attr ? "&#10;" : "\n"); break;
        case '\r': emits(c, "&#13;"); break;
        default: emit(c, s + i, 1);
        }
    }
}

static gr_status walk(sctx *c, const gr_xml_node *e, bool is_root) {
    const char *why = elem_problem(e);
    if (why) {
        if (!c->sanitize) return problem(c, e->off, "element", e->name, why);
        c->removed++;
        return GR_OK;
    }
    emits(c, "<");
    emits(c, e->name);
    bool has_ns = false;
    for (size_t i = 0; i < e->nattrs; i++) {
        const gr_xml_attr *a = &e->attrs[i];
        why = attr_problem(e, a, is_root);
        if (why) {
            if (!c->sanitize || (is_root && !strcmp(a->name, "xmlns")))
                return problem(c, a->off, "attribute", a->name, why);
            c->removed++;
            continue;
        }
        has_ns |= !strcmp(a->name, "xmlns");
        emits(c, " ");
        emits(c, a->name);
        emits(c, "=\"");
        emit_escaped(c, a->value, a->vlen, true);
        emits(c, "\"");
    }
    if (is_root && !has_ns) {
        if (!c->sanitize) return problem(c, e->off, "element", e->name, "root lacks xmlns=\"" SVG_NS "\"");
        emits(c, " xmlns=\"" SVG_NS "\"");
    }
    emits(c, ">");
    size_t body = c->olen;
    for (size_t i = 0; i < e->nkids; i++) {
        const gr_xml_node *k = e->kids[i];
        gr_status st = GR_OK;
        if (k->kind == GR_XML_ELEM) st = walk(c, k, false);
        else if (k->kind == GR_XML_TEXT) emit_escaped(c, k->text, k->tlen, false);
        else if (k->kind == GR_XML_PI) {
            if (!c->sanitize) st = problem(c, k->off, "processing instruction", k->name, "not allowed");
            c->removed++;
        } else c->removed++; /* comments are harmless in validate mode, dropped when sanitizing */
        if (st != GR_OK) return st;
    }
    if (c->olen == body && !c->oom) { /* nothing kept inside: self-close, so the output is a fixed point */
        c->olen--;
        emits(c, "/>");
        return GR_OK;
    }
    emits(c, "</");
    emits(c, e->name);
    emits(c, ">");
    return GR_OK;
}

static gr_status run(sctx *c) {
    gr_xml_node *doc = NULL;
    gr_status st = gr_xml_parse(c->src, c->n, &doc, c->err, c->errlen);
    if (st != GR_OK) return st;
    for (size_t i = 0; i < doc->nkids && st == GR_OK; i++) {
        const gr_xml_node *k = doc->kids[i];
        bool decl = k->kind == GR_XML_PI && strcmp(k->name, "xml") == 0;
        if (k->kind == GR_XML_PI && !decl && !c->sanitize)
            st = problem(c, k->off, "processing instruction", k->name, "not allowed");
        if (k->kind != GR_XML_ELEM && !decl) c->removed++; /* prolog/epilog comments and PIs are dropped */
    }
    const gr_xml_node *root = gr_xml_root(doc);
    if (st == GR_OK && strcmp(root->name, "svg") != 0)
        st = problem(c, root->off, "root element", root->name, "must be <svg>");
    if (st == GR_OK) st = walk(c, root, true);
    if (st == GR_OK && c->oom) st = gr_err(GR_E_NOMEM, c->err, c->errlen, "out of memory");
    gr_xml_free(doc);
    return st;
}

gr_status gr_svg_validate(const char *text, size_t len, char *err, size_t errlen) {
    if (!text && len) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    sctx c = {.src = text ? text : "", .n = len, .err = err, .errlen = errlen};
    gr_status st = run(&c);
    free(c.out);
    return st;
}

gr_status gr_svg_sanitize(const char *text, size_t len, char **out, size_t *outlen, size_t *removed,
                          char *err, size_t errlen) {
    if (!out || !outlen || (!text && len)) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    *out = NULL;
    *outlen = 0;
    sctx c = {.src = text ? text : "", .n = len, .err = err, .errlen = errlen, .sanitize = true};
    gr_status st = run(&c);
    if (st != GR_OK) {
        free(c.out);
        return st;
    }
    *out = c.out;
    *outlen = c.olen;
    if (removed) *removed = c.removed;
    return GR_OK;
}
