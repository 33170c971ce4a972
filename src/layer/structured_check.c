/* structured_check.c — the validation step of the structured-output pipeline (structured.h): find
 * the answer inside optional whitespace and one Markdown code fence, run the validator for the
 * kind, map "line L col C" positions back onto the answer as the model wrote it (the repair prompt
 * quotes them), and produce the text to return (the sanitized document for SVG). It must not call
 * engines. */
#include "layer/structured.h"

#include "core/error.h"
#include "core/json.h"
#include "validate/mermaid.h"
#include "validate/schema.h"
#include "validate/svg.h"

#include <stdio.h>

const char *gr_output_kind_str(gr_output_kind k) {
    switch (k) {
    case GR_OUTPUT_TEXT:
        return "text";
    case GR_OUTPUT_JSON:
        return "json";
    case GR_OUTPUT_JSON_SCHEMA:
        return "json_schema";
    case GR_OUTPUT_MERMAID:
        return "mermaid";
    case GR_OUTPUT_SVG:
        return "svg";
    }
    return "unknown";
}

/* Where the answer sits inside the text: [start, start+len), and how to map positions reported
 * relative to it back to the full text. */
typedef struct span {
    size_t start, len;
    int line_off;  /* lines before the one holding `start` */
    int col_shift; /* bytes before `start` on its line (applies to the span's first line only) */
} span;

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char *t, size_t *a, size_t *b) {
    while (*a < *b && is_ws(t[*a]))
        (*a)++;
    while (*b > *a && is_ws(t[*b - 1]))
        (*b)--;
}

/* ```info\n BODY \n``` around the whole (trimmed) answer -> BODY. The info string may be anything
 * on the fence line (json, mermaid, svg, xml, or nothing); without a closing fence nothing is
 * removed, so the validator reports the stray backticks and the repair prompt asks for an answer
 * without them. */
static void unfence(const char *t, size_t *a, size_t *b) {
    if (*b - *a < 6 || memcmp(t + *a, "```", 3) != 0 || memcmp(t + *b - 3, "```", 3) != 0) return;
    const char *nl = memchr(t + *a, '\n', *b - *a);
    if (!nl) return;
    size_t body = (size_t)(nl - t) + 1, close = *b - 3;
    if (body > close) return;
    size_t line_start = close;
    while (line_start > body && t[line_start - 1] != '\n')
        line_start--;
    for (size_t i = line_start; i < close; i++)
        if (t[i] != ' ' && t[i] != '\t') return; /* the closing fence must be on its own line */
    *a = body;
    *b = line_start;
    trim(t, a, b);
}

static span locate(const char *t, size_t n) {
    size_t a = 0, b = n;
    trim(t, &a, &b);
    unfence(t, &a, &b);
    span s = {a, b - a, 0, 0};
    size_t line_start = 0;
    for (size_t i = 0; i < a; i++)
        if (t[i] == '\n') s.line_off++, line_start = i + 1;
    s.col_shift = (int)(a - line_start);
    return s;
}

/* "line L col C: rest" relative to the span -> the same relative to the whole answer. */
static void remap(const span *sp, char *err, size_t errlen) {
    int line, col, used = 0;
    if (!err || !errlen || sscanf(err, "line %d col %d: %n", &line, &col, &used) != 2 || used == 0)
        return;
    if (line == 1) col += sp->col_shift;
    line += sp->line_off;
    char tmp[512];
    snprintf(tmp, sizeof tmp, "line %d col %d: %s", line, col, err + used);
    snprintf(err, errlen, "%s", tmp);
}

static gr_status copy_out(const char *s, size_t n, char **out, size_t *outlen) {
    char *c = malloc(n + 1);
    if (!c) return GR_E_NOMEM;
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    if (outlen) *outlen = n;
    return GR_OK;
}

/* Sanitize, then validate what the sanitizer produced: the header promises it validates clean, and
 * a broken promise must not reach a browser. */
static gr_status check_svg(const char *s, size_t n, char **out, size_t *outlen, size_t *removed,
                           char *err, size_t errlen) {
    char *clean = NULL;
    size_t clen = 0;
    gr_status st = gr_svg_sanitize(s, n, &clean, &clen, removed, err, errlen);
    if (st != GR_OK) return st;
    char verr[256];
    if (gr_svg_validate(clean, clen, verr, sizeof verr) != GR_OK) {
        free(clean);
        return gr_err(GR_E_INTERNAL, err, errlen, "svg sanitizer output does not validate: %s",
                      verr);
    }
    *out = clean;
    if (outlen) *outlen = clen;
    return GR_OK;
}

/* Validate with an already compiled schema (the pipeline compiles once per request). */
gr_status gr_structured_check_with(const gr_output_constraint *oc, const gr_schema *schema,
                                   const char *text, size_t len, char **out, size_t *outlen,
                                   size_t *removed, char *err, size_t errlen) {
    if (!oc || !out || (!text && len))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    *out = NULL;
    if (removed) *removed = 0;
    if (!text) text = "";
    if (oc->kind == GR_OUTPUT_TEXT) return copy_out(text, len, out, outlen);
    span sp = locate(text, len);
    const char *s = text + sp.start;
    if (sp.len == 0) return gr_err(GR_E_FORMAT, err, errlen, "the answer is empty");
    gr_status st;
    switch (oc->kind) {
    case GR_OUTPUT_JSON: {
        gr_json *doc = NULL;
        st = gr_json_parse(s, sp.len, NULL, &doc, err, errlen);
        gr_json_free(doc);
        break;
    }
    case GR_OUTPUT_JSON_SCHEMA:
        if (!schema) return gr_err(GR_E_INVALID_ARG, err, errlen, "output.schema: not compiled");
        st = gr_schema_validate_text(schema, s, sp.len, NULL, err, errlen);
        break;
    case GR_OUTPUT_MERMAID:
        st = gr_mermaid_validate(s, sp.len, NULL, err, errlen);
        break;
    case GR_OUTPUT_SVG:
        st = check_svg(s, sp.len, out, outlen, removed, err, errlen);
        break;
    default:
        return gr_err(GR_E_INVALID_ARG, err, errlen, "output.kind: %d is not a kind",
                      (int)oc->kind);
    }
    if (st == GR_E_FORMAT) remap(&sp, err, errlen);
    if (st != GR_OK || *out) return st;
    return copy_out(s, sp.len, out, outlen) == GR_OK
               ? GR_OK
               : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
}

/* Compile output.schema for JSON_SCHEMA requests (*out NULL for other kinds). A malformed schema is
 * the caller's mistake (GR_E_INVALID_ARG), not an invalid answer, so GR_E_FORMAT never leaves here.
 */
gr_status gr_structured_compile_schema(const gr_output_constraint *oc, gr_schema **out, char *err,
                                       size_t errlen) {
    *out = NULL;
    if ((unsigned)oc->kind > GR_OUTPUT_SVG)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "output.kind: %d is not a kind",
                      (int)oc->kind);
    if (oc->kind != GR_OUTPUT_JSON_SCHEMA) return GR_OK;
    if (!oc->schema || !*oc->schema)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "output.schema: required for json_schema output");
    char msg[240];
    gr_status st = gr_schema_compile(oc->schema, strlen(oc->schema), out, msg, sizeof msg);
    if (st == GR_OK) return GR_OK;
    if (st == GR_E_FORMAT) st = GR_E_INVALID_ARG;
    return gr_err(st, err, errlen, "output.schema: %s", msg);
}

gr_status gr_structured_check(const gr_output_constraint *oc, const char *text, size_t len,
                              char **out, size_t *outlen, size_t *removed, char *err,
                              size_t errlen) {
    if (!oc || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    *out = NULL;
    gr_schema *schema = NULL;
    gr_status st = gr_structured_compile_schema(oc, &schema, err, errlen);
    if (st == GR_OK)
        st = gr_structured_check_with(oc, schema, text, len, out, outlen, removed, err, errlen);
    gr_schema_free(schema);
    return st;
}
