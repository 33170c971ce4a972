/* gram_obj.c — objects and anyOf/oneOf for the JSON Schema compiler (see gram_json.h). Objects with
 * declared properties generate exactly those properties, in schema order, required ones always and
 * optional ones at will (extra keys would need the output to avoid the declared names and each
 * other, which a context-free grammar cannot say); objects without properties take free keys. oneOf
 * is accepted only when its branches cannot match the same document (disjoint types or a const
 * discriminator), because generating from one branch must not satisfy another. */
#include "grammar/gram_json.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MEMBERS 1024

typedef struct member {
    const char *name;
    size_t len;
    const gr_json_val *schema; /* NULL: any value */
    bool req;
} member;

static bool is_required(const gr_json_val *req, const char *name, size_t len) {
    for (size_t i = 0; i < gr_json_len(req); i++) {
        size_t n;
        const char *r = gr_json_str(gr_json_at(req, i), &n);
        if (r && n == len && !memcmp(r, name, n)) return true;
    }
    return false;
}

static bool listed(const member *m, size_t n, const char *name, size_t len) {
    for (size_t i = 0; i < n; i++)
        if (m[i].len == len && !memcmp(m[i].name, name, len)) return true;
    return false;
}

/* Declared properties in order, then required names that are not declared. */
static size_t collect(gr_gjctx *c, const gr_json_val *props, const gr_json_val *req, bool closed,
                      member *m, const char *ptr) {
    size_t n = 0;
    const gr_json_val *k, *v;
    for (size_t i = 0; gr_json_member(props, i, &k, &v) && n < MAX_MEMBERS; i++) {
        size_t len;
        const char *name = gr_json_str(k, &len);
        m[n++] = (member){name, len, v, is_required(req, name, len)};
    }
    for (size_t i = 0; i < gr_json_len(req) && n < MAX_MEMBERS; i++) {
        size_t len;
        const char *name = gr_json_str(gr_json_at(req, i), &len);
        if (!name) {
            gr_gj_fail(c, GR_E_FORMAT, ptr, "required must hold strings%s", NULL);
            return 0;
        }
        if (listed(m, n, name, len)) continue;
        if (closed) {
            gr_gj_fail(c, GR_E_INVALID_ARG, ptr,
                       "required \"%s\" is not a property and additionalProperties is false", name);
            return 0;
        }
        m[n++] = (member){name, len, NULL, true};
    }
    if (n == MAX_MEMBERS) gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "more than 1024 properties%s", NULL);
    return n;
}

/* "name" ws ':' ws value */
static uint32_t member_node(gr_gjctx *c, const member *mb, const char *ptr, int depth) {
    gr_grammar *g = c->g;
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_strn(&w, mb->name, mb->len);
    uint32_t key = gr_jw_status(&w) == GR_OK ? gr_gram_lit(g, w.buf, w.len) : 0;
    gr_jw_free(&w);
    char p[512];
    gr_gj_child_ptr(p, sizeof p, ptr, "properties", mb->name);
    uint32_t val = mb->schema ? gr_gj_compile(c, mb->schema, p, depth + 1) : gr_gj_any(c);
    uint32_t k[5] = {key, gr_gj_ws(c), gr_gram_char(g, ':'), gr_gj_ws(c), val};
    return gr_gram_seq(g, k, 5);
}

/* S_k: members k.. with nothing printed yet; R_k: the same after something was printed (commas). */
static uint32_t members_chain(gr_gjctx *c, const member *m, const uint32_t *node, size_t n) {
    gr_grammar *g = c->g;
    uint32_t R = gr_gram_empty(g), S = gr_gram_empty(g);
    for (size_t k = n; k-- > 0;) {
        uint32_t first = gr_gram_seq2(g, node[k], R);
        uint32_t later = gr_gram_seq2(g, gr_gj_sep(c), node[k]);
        S = m[k].req ? first : gr_gram_alt2(g, first, S);
        R = m[k].req ? gr_gram_seq2(g, later, R) : gr_gram_seq2(g, gr_gram_opt(g, later), R);
    }
    return S;
}

uint32_t gr_gj_object(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth) {
    gr_grammar *g = c->g;
    const gr_json_val *props = gr_json_get(s, "properties"), *req = gr_json_get(s, "required");
    const gr_json_val *add = gr_json_get(s, "additionalProperties");
    if (props && !gr_json_is(props, GR_JSON_OBJECT))
        return gr_gj_fail(c, GR_E_FORMAT, ptr, "properties must be an object%s", NULL);
    if (req && !gr_json_is(req, GR_JSON_ARRAY))
        return gr_gj_fail(c, GR_E_FORMAT, ptr, "required must be an array%s", NULL);
    if (add && !(gr_json_type_of(add) == GR_JSON_TRUE) &&
        !(gr_json_type_of(add) == GR_JSON_FALSE) && !gr_json_is(add, GR_JSON_OBJECT))
        return gr_gj_fail(c, GR_E_FORMAT, ptr,
                          "additionalProperties must be a boolean or a schema%s", NULL);
    uint32_t open = gr_gram_char(g, '{'), close = gr_gram_char(g, '}');
    if (gr_json_len(props) || gr_json_len(req)) {
        member *m = malloc(MAX_MEMBERS * sizeof *m);
        uint32_t *node = malloc(MAX_MEMBERS * sizeof *node);
        size_t n =
            m && node ? collect(c, props, req, (gr_json_type_of(add) == GR_JSON_FALSE), m, ptr) : 0;
        if (!m || !node) gr_gj_fail(c, GR_E_NOMEM, ptr, "out of memory%s", NULL);
        for (size_t i = 0; i < n && !c->st; i++)
            node[i] = member_node(c, &m[i], ptr, depth);
        uint32_t body = c->st ? 0 : members_chain(c, m, node, n);
        free(m), free(node);
        if (c->st) return 0;
        uint32_t k[5] = {open, gr_gj_ws(c), body, gr_gj_ws(c), close};
        return gr_gram_seq(g, k, 5);
    }
    if ((gr_json_type_of(add) == GR_JSON_FALSE)) return gr_gram_seq3(g, open, gr_gj_ws(c), close);
    char p[512];
    gr_gj_child_ptr(p, sizeof p, ptr, "additionalProperties", NULL);
    uint32_t val =
        gr_json_is(add, GR_JSON_OBJECT) ? gr_gj_compile(c, add, p, depth + 1) : gr_gj_any(c);
    uint32_t k[5] = {gr_gj_string(c, 0, c->o.max_string), gr_gj_ws(c), gr_gram_char(g, ':'),
                     gr_gj_ws(c), val};
    return gr_gj_list(c, '{', '}', gr_gram_seq(g, k, 5), 0, c->o.max_props);
}

/* ---- anyOf / oneOf
 * ------------------------------------------------------------------------------- */

int gr_gj_types_of(gr_gjctx *c, const gr_json_val *s, int depth) {
    if (depth > 32 || (gr_json_type_of(s) == GR_JSON_TRUE)) return T_ANY;
    if (!gr_json_is(s, GR_JSON_OBJECT)) return 0;
    const gr_json_val *r = gr_json_get(s, "$ref");
    if (r)
        return gr_gj_types_of(c, gr_gj_resolve(c, gr_json_str(r, NULL) ? gr_json_str(r, NULL) : ""),
                              depth + 1);
    const gr_json_val *cv = gr_json_get(s, "const"), *ev = gr_json_get(s, "enum");
    if (cv || ev) {
        int m = 0;
        for (size_t i = 0; i < (cv ? 1 : gr_json_len(ev)); i++)
            m |= gr_gj_value_type(cv ? cv : gr_json_at(ev, i));
        return m;
    }
    const gr_json_val *any =
        gr_json_get(s, "anyOf") ? gr_json_get(s, "anyOf") : gr_json_get(s, "oneOf");
    if (any) {
        int m = 0;
        for (size_t i = 0; i < gr_json_len(any); i++)
            m |= gr_gj_types_of(c, gr_json_at(any, i), depth + 1);
        return m;
    }
    const gr_json_val *t = gr_json_get(s, "type");
    int m = t ? gr_gj_type_mask_kw(t) : T_ANY;
    return m < 0 ? T_ANY : m;
}

/* Two object schemas with a required property whose const values differ cannot match one document.
 */
static bool discriminated(gr_gjctx *c, const gr_json_val *a, const gr_json_val *b) {
    for (int i = 0; i < 8 && gr_json_get(a, "$ref"); i++)
        a = gr_gj_resolve(c, gr_json_str(gr_json_get(a, "$ref"), NULL)
                                 ? gr_json_str(gr_json_get(a, "$ref"), NULL)
                                 : "");
    for (int i = 0; i < 8 && gr_json_get(b, "$ref"); i++)
        b = gr_gj_resolve(c, gr_json_str(gr_json_get(b, "$ref"), NULL)
                                 ? gr_json_str(gr_json_get(b, "$ref"), NULL)
                                 : "");
    const gr_json_val *pa = gr_json_get(a, "properties"), *pb = gr_json_get(b, "properties");
    const gr_json_val *k, *v;
    for (size_t i = 0; gr_json_member(pa, i, &k, &v); i++) {
        size_t len;
        const char *name = gr_json_str(k, &len);
        const gr_json_val *w = gr_json_getn(pb, name, len);
        const gr_json_val *ca = gr_json_get(v, "const"), *cb = gr_json_get(w, "const");
        if (ca && cb && !gr_json_equal(ca, cb) &&
            is_required(gr_json_get(a, "required"), name, len) &&
            is_required(gr_json_get(b, "required"), name, len))
            return true;
    }
    return false;
}

static bool disjoint(gr_gjctx *c, const gr_json_val *a, const gr_json_val *b) {
    int ta = gr_gj_types_of(c, a, 0), tb = gr_gj_types_of(c, b, 0);
    int common = ta & tb;
    if (!common) return true;
    return common == T_OBJ && discriminated(c, a, b);
}

uint32_t gr_gj_choice(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth) {
    const char *bad = gr_gj_other_keyword(s, (const char *const[]){"anyOf", "oneOf"}, 2);
    if (bad)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "\"%s\" beside anyOf/oneOf is not supported",
                          bad);
    const bool one = gr_json_get(s, "oneOf") != NULL;
    if (one && gr_json_get(s, "anyOf"))
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "anyOf together with oneOf%s", NULL);
    const gr_json_val *arr = gr_json_get(s, one ? "oneOf" : "anyOf");
    size_t n = gr_json_len(arr);
    if (!gr_json_is(arr, GR_JSON_ARRAY) || !n)
        return gr_gj_fail(c, GR_E_FORMAT, ptr, "%s must be a non-empty array",
                          one ? "oneOf" : "anyOf");
    if (n > 256) return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "more than 256 alternatives%s", NULL);
    for (size_t i = 0; one && i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!disjoint(c, gr_json_at(arr, i), gr_json_at(arr, j))) {
                char p[40];
                snprintf(p, sizeof p, "%zu and %zu", i, j);
                return gr_gj_fail(
                    c, GR_E_UNSUPPORTED, ptr,
                    "oneOf branches %s may match the same document (use anyOf, or give them "
                    "different types or a required const property)",
                    p);
            }
    uint32_t alts[256];
    for (size_t i = 0; i < n && !c->st; i++) {
        char p[512], idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        gr_gj_child_ptr(p, sizeof p, ptr, one ? "oneOf" : "anyOf", idx);
        alts[i] = gr_gj_compile(c, gr_json_at(arr, i), p, depth + 1);
    }
    return c->st ? 0 : gr_gram_alt(c->g, alts, (uint32_t)n);
}
