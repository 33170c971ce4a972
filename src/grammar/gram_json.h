/* gram_json.h — shared state of the JSON Schema compiler (gram_json.c: entry points, keywords,
 * types; gram_obj.c: objects and anyOf/oneOf; gram_fmt.c: string formats). Internal to
 * src/grammar/. */
#ifndef GR_GRAMMAR_GRAM_JSON_H
#define GR_GRAMMAR_GRAM_JSON_H

#include "core/json.h"
#include "grammar/gram_internal.h"

enum {
    T_NULL = 1,
    T_BOOL = 2,
    T_INT = 4,
    T_FRAC = 8,
    T_NUM = 12,
    T_STR = 16,
    T_ARR = 32,
    T_OBJ = 64,
    T_ANY = 127
};

typedef struct gr_gjref {
    char *ref;
    uint32_t node;
} gr_gjref;

typedef struct gr_gjctx {
    gr_grammar *g;
    gr_grammar_opts o;
    char *err;
    size_t errlen;
    gr_status st; /* first error (sticky) */
    const gr_json_val *root;
    gr_gjref refs[256];
    uint32_t n_refs;
    uint32_t ws, sep, strchar, any; /* shared nodes, built on first use (0 = not yet) */
} gr_gjctx;

/* Records the first error as "<pointer>: <message>" (fmt has one %s for arg); returns 0. */
uint32_t gr_gj_fail(gr_gjctx *c, gr_status s, const char *ptr, const char *fmt, const char *arg);
uint32_t gr_gj_compile(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth);
uint32_t gr_gj_ws(gr_gjctx *c);
uint32_t gr_gj_sep(gr_gjctx *c);
uint32_t gr_gj_string(gr_gjctx *c, uint32_t min, uint32_t max);
uint32_t gr_gj_any(gr_gjctx *c);
/* open ws ( close | item (sep item){min-1,max-1} ws close ) */
uint32_t gr_gj_list(gr_gjctx *c, char open, char close, uint32_t item, uint32_t min, uint32_t max);
/* The body (without quotes) of a string format, or 0 if the format is unknown. */
uint32_t gr_gj_format(gr_gjctx *c, const char *name);
/* The schema's keyword names other than annotations and `allowed`: the first one, or NULL. */
const char *gr_gj_other_keyword(const gr_json_val *s, const char *const *allowed, size_t n);
/* Types a schema may produce (T_* bits, following $ref up to a depth), used for oneOf. */
int gr_gj_types_of(gr_gjctx *c, const gr_json_val *s, int depth);
int gr_gj_value_type(const gr_json_val *v);
int gr_gj_type_mask_kw(const gr_json_val *t);
void gr_gj_child_ptr(char *out, size_t n, const char *ptr, const char *a, const char *b);
const gr_json_val *gr_gj_resolve(gr_gjctx *c, const char *ref);

uint32_t gr_gj_object(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth);
uint32_t gr_gj_choice(gr_gjctx *c, const gr_json_val *s, const char *ptr, int depth);

#endif
