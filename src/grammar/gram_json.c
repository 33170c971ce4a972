/* gram_json.c — JSON Schema (and "any JSON value") -> grammar. The generated language is a subset
 * of what the schema accepts, chosen so that every output parses with src/core/json.c and validates
 * with src/validate/schema.c: only declared properties, in declared order; bounded whitespace,
 * strings, digits; dates that exist in every year. Unsupported keywords are errors naming the JSON
 * pointer. Formats and number ranges live in gram_fmt.c / gram_num.c. Must not know about tokens or
 * matching. */
#include "grammar/gram_json.h"

#include "core/error.h"
#include "grammar/gram_num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 64
#define MAX_REFS 256

static const char *const ANNOTATIONS[] = {"title",    "description", "$schema", "$id",
                                          "$comment", "examples",    "default", "deprecated",
                                          "readOnly", "writeOnly",   "$defs",   "definitions"};
static const char *const SUPPORTED[] = {"type",
                                        "properties",
                                        "required",
                                        "additionalProperties",
                                        "enum",
                                        "const",
                                        "items",
                                        "minItems",
                                        "maxItems",
                                        "minLength",
                                        "maxLength",
                                        "format",
                                        "minimum",
                                        "maximum",
                                        "exclusiveMinimum",
                                        "exclusiveMaximum",
                                        "anyOf",
                                        "oneOf",
                                        "$ref"};

static bool in_list(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}
#define IN(k, arr) in_list(k, arr, sizeof arr / sizeof *arr)

/* ---- shared pieces
 * ------------------------------------------------------------------------------- */

uint32_t gr_gj_ws(gr_gjctx *c) {
    if (!c->ws) c->ws = gr_gram_rep(c->g, gr_gram_class(c->g, " \t\n\r"), 0, c->o.max_ws);
    return c->ws;
}

static uint32_t strchar(gr_gjctx *c) {
    if (c->strchar) return c->strchar;
    gr_grammar *g = c->g;
    uint32_t r[] = {0x20, 0x21, 0x23, 0x5B, 0x5D, 0x10FFFF};
    uint32_t plain = gr_gram_chars(g, r, 3);
    if (!g->status) g->nodes[plain].flags |= GF_STRCHAR;
    uint32_t esc = gr_gram_seq2(g, gr_gram_char(g, '\\'), gr_gram_class(g, "\"\\/bfnrt"));
    c->strchar = gr_gram_alt2(g, esc, plain); /* plain last: the matcher's string fast path needs it
                                                 right above the repetition frame */
    return c->strchar;
}

uint32_t gr_gj_string(gr_gjctx *c, uint32_t min, uint32_t max) {
    uint32_t q = gr_gram_char(c->g, '"');
    return gr_gram_seq3(c->g, q, gr_gram_rep(c->g, strchar(c), min, max), q);
}

uint32_t gr_gj_sep(gr_gjctx *c) {
    if (!c->sep) c->sep = gr_gram_seq3(c->g, gr_gj_ws(c), gr_gram_char(c->g, ','), gr_gj_ws(c));
    return c->sep;
}

/* open ws ( close | item (sep item){min-1,max-1} ws close ), min >= 0. */
uint32_t gr_gj_list(gr_gjctx *c, char open, char close, uint32_t item, uint32_t min, uint32_t max) {
    gr_grammar *g = c->g;
    uint32_t cl = gr_gram_char(g, (uint8_t)close);
    uint32_t more_max = max == GN_UNBOUNDED ? GN_UNBOUNDED : max - 1;
    uint32_t more =
        gr_gram_rep(g, gr_gram_seq2(g, gr_gj_sep(c), item), min ? min - 1 : 0, more_max);
    uint32_t k[4] = {item, more, gr_gj_ws(c), cl};
    uint32_t body = gr_gram_seq(g, k, 4);
    if (min == 0) body = gr_gram_alt2(g, cl, body);
    return gr_gram_seq3(g, gr_gram_char(g, (uint8_t)open), gr_gj_ws(c), body);
}

uint32_t gr_gj_any(gr_gjctx *c) {
    if (c->any) return c->any;
    gr_grammar *g = c->g;
    c->any = gr_gram_fwd(g);
    uint32_t str = gr_gj_string(c, 0, c->o.max_string);
    uint32_t member = gr_gram_seq(
        g, (uint32_t[]){str, gr_gj_ws(c), gr_gram_char(g, ':'), gr_gj_ws(c), c->any}, 5);
    uint32_t alts[7] = {gr_gj_list(c, '{', '}', member, 0, c->o.max_props),
                        gr_gj_list(c, '[', ']', c->any, 0, 16),
                        str,
                        gr_gram_number_any(g, c->o.max_int_digits, c->o.max_frac_digits, true),
                        gr_gram_lit(g, "true", 4),
                        gr_gram_lit(g, "false", 5),
                        gr_gram_lit(g, "null", 4)};
    gr_gram_fwd_set(g, c->any, gr_gram_alt(g, alts, 7));
    return c->any;
}

/* ---- errors and pointers
 * ------------------------------------------------------------------------- */

uint32_t gr_gj_fail(gr_gjctx *c, gr_status s, const char *ptr, const char *fmt, const char *arg) {
    if (!c->st) {
        char msg[200];
        snprintf(msg, sizeof msg, fmt, arg ? arg : "");
        c->st = gr_err(s, c->err, c->errlen, "%s: %s", ptr[0] ? ptr : "(root)", msg);
    }
    return 0;
}

void gr_gj_child_ptr(char *out, size_t n, const char *ptr, const char *a, const char *b) {
    snprintf(out, n, "%s/%s%s%s", ptr, a, b ? "/" : "", b ? b : "");
}

static bool get_uint(gr_gjctx *c, const gr_json_val *s, const char *k, uint32_t *out,
                     const char *ptr) {
    const gr_json_val *v = gr_json_get(s, k);
    if (!v) return false;
    int64_t x;
    if (gr_json_int(v, &x) != GR_OK || x < 0) {
        gr_gj_fail(c, GR_E_FORMAT, ptr, "%s must be a non-negative integer", k);
        return false;
    }
    *out = x > 100000000 ? 100000000 : (uint32_t)x;
    return true;
}

/* ---- keywords check
 * ------------------------------------------------------------------------------ */

static bool check_keywords(gr_gjctx *c, const gr_json_val *s, const char *ptr) {
    const gr_json_val *k, *v;
    for (size_t i = 0; gr_json_member(s, i, &k, &v); i++) {
        const char *name = gr_json_str(k, NULL);
        if (IN(name, SUPPORTED) || IN(name, ANNOTATIONS)) continue;
        gr_gj_fail(c, GR_E_UNSUPPORTED, ptr,
                   "keyword \"%s\" is not supported by the grammar engine", name);
        return false;
    }
    return true;
}

/* Whether s has a keyword other than annotations and those listed. */
const char *gr_gj_other_keyword(const gr_json_val *s, const char *const *allowed, size_t n) {
    const gr_json_val *k, *v;
    for (size_t i = 0; gr_json_member(s, i, &k, &v); i++) {
        const char *name = gr_json_str(k, NULL);
        if (!IN(name, ANNOTATIONS) && !in_list(name, allowed, n)) return name;
    }
    return NULL;
}

/* ---- $ref
 * ---------------------------------------------------------------------------------------- */

const gr_json_val *gr_gj_resolve(gr_gjctx *c, const char *ref) {
    if (!strcmp(ref, "#")) return c->root;
    const char *name = NULL;
    const gr_json_val *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8))
        defs = gr_json_get(c->root, "$defs"), name = ref + 8;
    else if (!strncmp(ref, "#/definitions/", 14))
        defs = gr_json_get(c->root, "definitions"), name = ref + 14;
    if (!defs || !name || strchr(name, '/')) return NULL;
    char key[256];
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < sizeof key; p++) { /* JSON pointer unescaping */
        if (p[0] == '~' && p[1] == '0')
            key[k++] = '~', p++;
        else if (p[0] == '~' && p[1] == '1')
            key[k++] = '/', p++;
        else
            key[k++] = *p;
    }
    key[k] = 0;
    return gr_json_get(defs, key);
}

static uint32_t compile_ref(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth) {
    const char *bad = gr_gj_other_keyword(s, (const char *const[]){"$ref"}, 1);
    if (bad)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "\"%s\" beside $ref is not supported", bad);
    const char *ref = gr_json_str(gr_json_get(s, "$ref"), NULL);
    if (!ref) return gr_gj_fail(c, GR_E_FORMAT, ptr, "$ref must be a string%s", NULL);
    for (uint32_t i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) return c->refs[i].node;
    const gr_json_val *t = gr_gj_resolve(c, ref);
    if (!t)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr,
                          "$ref \"%s\" is not a local #/$defs or #/definitions entry", ref);
    if (c->n_refs == MAX_REFS)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "too many $ref targets%s", NULL);
    char *copy = strdup(ref);
    if (!copy) return gr_gj_fail(c, GR_E_NOMEM, ptr, "out of memory%s", NULL);
    uint32_t fwd = gr_gram_fwd(c->g);
    c->refs[c->n_refs++] = (gr_gjref){copy, fwd};
    gr_gram_fwd_set(c->g, fwd, gr_gj_compile(c, t, ref + 1, depth + 1));
    return fwd;
}

/* ---- enum / const
 * -------------------------------------------------------------------------------- */

int gr_gj_value_type(const gr_json_val *v) {
    int64_t x;
    switch (gr_json_type_of(v)) {
    case GR_JSON_NULL:
        return T_NULL;
    case GR_JSON_TRUE:
    case GR_JSON_FALSE:
        return T_BOOL;
    case GR_JSON_NUMBER: {
        double d = gr_json_num(v);
        return gr_json_int(v, &x) == GR_OK || (d == floor(d) && fabs(d) < 9e15) ? T_INT : T_FRAC;
    }
    case GR_JSON_STRING:
        return T_STR;
    case GR_JSON_ARRAY:
        return T_ARR;
    default:
        return T_OBJ;
    }
}

static uint32_t literal(gr_gjctx *c, const gr_json_val *v, const char *ptr) {
    char *text = NULL;
    size_t n = 0;
    if (gr_json_write(v, &text, &n) != GR_OK)
        return gr_gj_fail(c, GR_E_NOMEM, ptr, "out of memory%s", NULL);
    uint32_t id = gr_gram_lit(c->g, text, n);
    free(text);
    return id;
}

static uint32_t compile_enum(gr_gjctx *c, const gr_json_val *s, const char *ptr) {
    const char *bad = gr_gj_other_keyword(s, (const char *const[]){"enum", "const", "type"}, 3);
    if (bad)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "\"%s\" beside enum/const is not supported",
                          bad);
    int allow = gr_json_get(s, "type") ? gr_gj_type_mask_kw(gr_json_get(s, "type")) : T_ANY;
    if (allow < 0) return gr_gj_fail(c, GR_E_FORMAT, ptr, "malformed type%s", NULL);
    const gr_json_val *cv = gr_json_get(s, "const"), *ev = gr_json_get(s, "enum");
    if (cv && ev)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "enum together with const is not supported%s",
                          NULL);
    if (ev && !gr_json_is(ev, GR_JSON_ARRAY))
        return gr_gj_fail(c, GR_E_FORMAT, ptr, "enum must be an array%s", NULL);
    size_t n = cv ? 1 : gr_json_len(ev), k = 0;
    uint32_t *alts = malloc((n ? n : 1) * sizeof *alts);
    if (!alts) return gr_gj_fail(c, GR_E_NOMEM, ptr, "out of memory%s", NULL);
    for (size_t i = 0; i < n; i++) {
        const gr_json_val *v = cv ? cv : gr_json_at(ev, i);
        int t = gr_gj_value_type(v);
        if ((t & allow) || (t == T_INT && (allow & T_FRAC))) alts[k++] = literal(c, v, ptr);
    }
    uint32_t id = k ? gr_gram_alt(c->g, alts, (uint32_t)k) : 0;
    free(alts);
    if (!k)
        return gr_gj_fail(c, GR_E_INVALID_ARG, ptr, "no enum/const value matches the type%s", NULL);
    return id;
}

/* ---- types
 * --------------------------------------------------------------------------------------- */

static int type_bit(const char *t) {
    static const char *const names[] = {"null",   "boolean", "integer", "number",
                                        "string", "array",   "object"};
    static const int bits[] = {T_NULL, T_BOOL, T_INT, T_NUM, T_STR, T_ARR, T_OBJ};
    for (int i = 0; i < 7; i++)
        if (t && !strcmp(t, names[i])) return bits[i];
    return -1;
}

int gr_gj_type_mask_kw(const gr_json_val *t) {
    if (gr_json_is(t, GR_JSON_STRING)) return type_bit(gr_json_str(t, NULL));
    if (!gr_json_is(t, GR_JSON_ARRAY) || !gr_json_len(t)) return -1;
    int m = 0;
    for (size_t i = 0; i < gr_json_len(t); i++) {
        int b = type_bit(gr_json_str(gr_json_at(t, i), NULL));
        if (b < 0) return -1;
        m |= b;
    }
    return m;
}

static uint32_t compile_string(gr_gjctx *c, const gr_json_val *s, const char *ptr) {
    uint32_t min = 0, max = GN_UNBOUNDED;
    bool has_min = get_uint(c, s, "minLength", &min, ptr),
         has_max = get_uint(c, s, "maxLength", &max, ptr);
    if (c->st) return 0;
    const gr_json_val *f = gr_json_get(s, "format");
    if (f) {
        if (has_min || has_max)
            return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr,
                              "format together with minLength/maxLength is not supported%s", NULL);
        const char *name = gr_json_str(f, NULL);
        uint32_t id = name ? gr_gj_format(c, name) : 0;
        if (!id)
            return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "format \"%s\" is not supported",
                              name ? name : "?");
        uint32_t q = gr_gram_char(c->g, '"');
        return gr_gram_seq3(c->g, q, id, q);
    }
    if (!has_max) max = min > c->o.max_string ? min + c->o.max_string : c->o.max_string;
    if (min > max) return gr_gj_fail(c, GR_E_INVALID_ARG, ptr, "minLength > maxLength%s", NULL);
    if (max > 1000000)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "maxLength above 1000000%s", NULL);
    return gr_gj_string(c, min, max);
}

/* A numeric bound: false if absent; an error if not a number. */
static bool bound(gr_gjctx *c, const gr_json_val *s, const char *k, double *out, const char *ptr) {
    const gr_json_val *v = gr_json_get(s, k);
    if (!v) return false;
    if (!gr_json_is(v, GR_JSON_NUMBER)) {
        gr_gj_fail(c, GR_E_FORMAT, ptr, "%s must be a number", k);
        return false;
    }
    *out = gr_json_num(v);
    return true;
}

typedef struct range {
    double lo, hi;
    bool lo_excl, hi_excl, lo_set, hi_set;
} range;

static range get_range(gr_gjctx *c, const gr_json_val *s, const char *ptr) {
    range r = {0};
    double x;
    if (bound(c, s, "minimum", &x, ptr)) r.lo = x, r.lo_set = true;
    if (bound(c, s, "exclusiveMinimum", &x, ptr) && (!r.lo_set || x >= r.lo))
        r.lo = x, r.lo_set = r.lo_excl = true;
    if (bound(c, s, "maximum", &x, ptr)) r.hi = x, r.hi_set = true;
    if (bound(c, s, "exclusiveMaximum", &x, ptr) && (!r.hi_set || x <= r.hi))
        r.hi = x, r.hi_set = r.hi_excl = true;
    return r;
}

static uint32_t compile_integer(gr_gjctx *c, const gr_json_val *s, const char *ptr) {
    range r = get_range(c, s, ptr);
    if (c->st) return 0;
    double cap = pow(10, c->o.max_int_digits) - 1;
    double lo = r.lo_set ? (r.lo_excl ? floor(r.lo) + 1 : ceil(r.lo)) : -cap;
    double hi = r.hi_set ? (r.hi_excl ? ceil(r.hi) - 1 : floor(r.hi)) : cap;
    if (lo < -cap) lo = -cap;
    if (hi > cap) hi = cap;
    if (lo > hi)
        return gr_gj_fail(c, GR_E_INVALID_ARG, ptr, "no integer lies within the bounds%s", NULL);
    return gr_gram_int_range(c->g, (int64_t)lo, (int64_t)hi);
}

/* One side of a number range as integer magnitudes (see gram_num.h); false if empty. */
static bool side(double lo, bool lo_excl, bool lo_open, double hi, bool hi_excl, bool hi_open,
                 double cap, gr_num_bounds *b) {
    if (lo_open || lo < 0) lo = 0, lo_excl = false;
    if (lo != floor(lo)) lo = ceil(lo), lo_excl = false; /* inward to the integer grid */
    if (hi_open || hi >= cap)
        hi = cap, hi_excl = false, hi_open = true;
    else if (hi != floor(hi))
        hi = floor(hi), hi_excl = false;
    if (lo > hi || (lo == hi && (lo_excl || hi_excl))) return false;
    *b = (gr_num_bounds){(uint64_t)lo, (uint64_t)hi, lo_excl, hi_excl, hi_open};
    return true;
}

static uint32_t compile_number(gr_gjctx *c, const gr_json_val *s, const char *ptr) {
    range r = get_range(c, s, ptr);
    if (c->st) return 0;
    if (!r.lo_set && !r.hi_set)
        return gr_gram_number_any(c->g, c->o.max_int_digits, c->o.max_frac_digits, true);
    double cap = pow(10, c->o.max_int_digits) - 1;
    gr_num_bounds pos, neg;
    bool has_pos = (!r.hi_set || r.hi > 0 || (r.hi == 0 && !r.hi_excl)) &&
                   side(r.lo, r.lo_excl, !r.lo_set, r.hi, r.hi_excl, !r.hi_set, cap, &pos);
    /* negative values: magnitudes -hi .. -lo (exclusive at 0 so "-0" never doubles 0) */
    bool has_neg = (!r.lo_set || r.lo < 0);
    if (has_neg) {
        double mlo = r.hi_set && r.hi < 0 ? -r.hi : 0;
        bool mlo_excl = !(r.hi_set && r.hi < 0) || r.hi_excl;
        has_neg =
            side(mlo, mlo_excl, false, r.lo_set ? -r.lo : cap, r.lo_excl, !r.lo_set, cap, &neg);
        if (has_neg && mlo == 0) neg.lo_excl = true;
    }
    uint32_t id =
        gr_gram_num_range(c->g, has_pos ? &pos : NULL, has_neg ? &neg : NULL, c->o.max_frac_digits);
    if (id == UINT32_MAX)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr,
                          "the range is too narrow for the number grammar "
                          "(bounds are rounded inward to integers)%s",
                          NULL);
    return id;
}

static uint32_t compile_array(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth) {
    uint32_t min = 0, max = GN_UNBOUNDED;
    get_uint(c, s, "minItems", &min, ptr);
    get_uint(c, s, "maxItems", &max, ptr);
    if (c->st) return 0;
    if (min > max) return gr_gj_fail(c, GR_E_INVALID_ARG, ptr, "minItems > maxItems%s", NULL);
    if (min > 10000) return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "minItems above 10000%s", NULL);
    const gr_json_val *it = gr_json_get(s, "items");
    uint32_t item;
    if ((gr_json_type_of(it) == GR_JSON_FALSE)) {
        if (min)
            return gr_gj_fail(c, GR_E_INVALID_ARG, ptr, "items is false but minItems > 0%s", NULL);
        max = 0;
    }
    if (max == 0) {
        uint32_t k[3] = {gr_gram_char(c->g, '['), gr_gj_ws(c), gr_gram_char(c->g, ']')};
        return gr_gram_seq(c->g, k, 3);
    }
    char p[512];
    gr_gj_child_ptr(p, sizeof p, ptr, "items", NULL);
    item = it ? gr_gj_compile(c, it, p, depth + 1) : gr_gj_any(c);
    return gr_gj_list(c, '[', ']', item, min, max);
}

static uint32_t compile_type(gr_gjctx *c, int t, const gr_json_val *s, const char *ptr, int depth) {
    switch (t) {
    case T_NULL:
        return gr_gram_lit(c->g, "null", 4);
    case T_BOOL:
        return gr_gram_alt2(c->g, gr_gram_lit(c->g, "true", 4), gr_gram_lit(c->g, "false", 5));
    case T_INT:
        return compile_integer(c, s, ptr);
    case T_NUM:
        return compile_number(c, s, ptr);
    case T_STR:
        return compile_string(c, s, ptr);
    case T_ARR:
        return compile_array(c, s, ptr, depth);
    default:
        return gr_gj_object(c, s, ptr, depth);
    }
}

/* The types the keywords imply when "type" is absent (0: any value). */
static int implied_types(const gr_json_val *s) {
    int m = 0;
    if (gr_json_get(s, "properties") || gr_json_get(s, "required") ||
        gr_json_get(s, "additionalProperties"))
        m |= T_OBJ;
    if (gr_json_get(s, "items") || gr_json_get(s, "minItems") || gr_json_get(s, "maxItems"))
        m |= T_ARR;
    if (gr_json_get(s, "minLength") || gr_json_get(s, "maxLength") || gr_json_get(s, "format"))
        m |= T_STR;
    if (gr_json_get(s, "minimum") || gr_json_get(s, "maximum") ||
        gr_json_get(s, "exclusiveMinimum") || gr_json_get(s, "exclusiveMaximum"))
        m |= T_NUM;
    return m;
}

static uint32_t compile_types(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth) {
    const gr_json_val *tv = gr_json_get(s, "type");
    int m = tv ? gr_gj_type_mask_kw(tv) : implied_types(s);
    if (m < 0)
        return gr_gj_fail(c, GR_E_FORMAT, ptr,
                          "type must be a type name or a non-empty array of them%s", NULL);
    if (m == 0) return gr_gj_any(c);
    static const int order[] = {T_OBJ, T_ARR, T_STR, T_NUM, T_INT, T_BOOL, T_NULL};
    uint32_t alts[7], k = 0;
    for (int i = 0; i < 7; i++)
        if ((m & order[i]) == order[i]) {
            alts[k++] = compile_type(c, order[i], s, ptr, depth);
            m &= ~order[i]; /* number covers integer */
        }
    return gr_gram_alt(c->g, alts, k);
}

uint32_t gr_gj_compile(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth) {
    if (c->st) return 0;
    if (depth > MAX_SCHEMA_DEPTH)
        return gr_gj_fail(c, GR_E_UNSUPPORTED, ptr, "schema nested too deeply%s", NULL);
    if ((gr_json_type_of(s) == GR_JSON_TRUE)) return gr_gj_any(c);
    if ((gr_json_type_of(s) == GR_JSON_FALSE))
        return gr_gj_fail(c, GR_E_INVALID_ARG, ptr, "schema false matches nothing%s", NULL);
    if (!gr_json_is(s, GR_JSON_OBJECT))
        return gr_gj_fail(c, GR_E_FORMAT, ptr, "a schema must be an object or a boolean%s", NULL);
    if (!check_keywords(c, s, ptr)) return 0;
    if (gr_json_get(s, "$ref")) return compile_ref(c, s, ptr, depth);
    if (gr_json_get(s, "enum") || gr_json_get(s, "const")) return compile_enum(c, s, ptr);
    if (gr_json_get(s, "anyOf") || gr_json_get(s, "oneOf")) return gr_gj_choice(c, s, ptr, depth);
    return compile_types(c, s, ptr, depth);
}

/* ---- entry points
 * -------------------------------------------------------------------------------- */

static void opts_fill(gr_grammar_opts *o, const gr_grammar_opts *in) {
    *o = in ? *in : (gr_grammar_opts){0};
    if (!o->max_ws) o->max_ws = 8;
    if (!o->max_string) o->max_string = 256;
    if (!o->max_int_digits || o->max_int_digits > 15) o->max_int_digits = 15;
    if (!o->max_frac_digits) o->max_frac_digits = 6;
    if (o->max_frac_digits > 30) o->max_frac_digits = 30;
    if (!o->max_props) o->max_props = 1;
}

static gr_status finish(gr_gjctx *c, uint32_t root, gr_grammar **out) {
    for (uint32_t i = 0; i < c->n_refs; i++)
        free(c->refs[i].ref);
    gr_status s = c->st;
    if (!s) {
        c->g->root = root;
        s = gr_gram_check(c->g, c->err, c->errlen);
    }
    if (s) {
        gr_grammar_free(c->g);
        return s;
    }
    *out = c->g;
    return GR_OK;
}

gr_status gr_grammar_json(const gr_grammar_opts *opts, gr_grammar **out, char *err, size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "grammar: out is NULL");
    *out = NULL;
    gr_gjctx c = {.err = err, .errlen = errlen};
    opts_fill(&c.o, opts);
    if (!(c.g = gr_gram_new())) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    return finish(&c, gr_gj_any(&c), out);
}

gr_status gr_grammar_from_schema(const char *text, size_t len, const gr_grammar_opts *opts,
                                 gr_grammar **out, char *err, size_t errlen) {
    if (!out || !text) return gr_err(GR_E_INVALID_ARG, err, errlen, "grammar: NULL argument");
    *out = NULL;
    gr_json *doc = NULL;
    gr_json_limits lim = {.max_depth = 128, .max_bytes = 4u << 20};
    char perr[160];
    if (gr_json_parse(text, len, &lim, &doc, perr, sizeof perr) != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen, "schema is not valid JSON: %s", perr);
    gr_gjctx c = {.err = err, .errlen = errlen, .root = gr_json_root(doc)};
    opts_fill(&c.o, opts);
    if (!(c.g = gr_gram_new())) {
        gr_json_free(doc);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    uint32_t root = gr_gj_compile(&c, c.root, "", 0);
    gr_status s = finish(&c, root, out);
    gr_json_free(doc);
    return s;
}
