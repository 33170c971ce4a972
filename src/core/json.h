/* json.h — the portable core's small JSON module: a strict RFC 8259 parser into a compact, read-only
 * tree, and a writer that always produces valid JSON. Used for configuration files, HTTP bodies and
 * JSON Schema text. It must not depend on anything but libc, must not keep global state, and must never
 * crash or read out of bounds on hostile input (fuzz/fuzz_json.c).
 *
 * Parser rules (strict, no extensions):
 *  - exactly one value (any type) surrounded by optional whitespace (space, tab, CR, LF); no BOM,
 *    no comments, no trailing commas, no NaN/Infinity, no leading zeros, no single quotes;
 *  - strings must be valid UTF-8 (no overlong forms, no encoded surrogates, nothing above U+10FFFF) and
 *    may not contain raw control characters (< 0x20); \uXXXX escapes are decoded to UTF-8, surrogate
 *    pairs are combined, lone surrogates are rejected; \u0000 is allowed and gives an embedded NUL
 *    (use the length returned by gr_json_str);
 *  - duplicate keys inside one object are REJECTED (RFC 8259 leaves their meaning undefined);
 *  - numbers: gr_json_num gives the correctly rounded double (strtod); numbers whose magnitude
 *    overflows a double (1e400) are rejected; underflow gives 0 or a subnormal. gr_json_int gives the
 *    exact int64 value of an integer literal (no fraction, no exponent), so integers beyond 2^53 are
 *    exact as long as they fit int64; the literal's text is kept (gr_json_num_text);
 *  - limits (gr_json_limits): nesting depth, input size and node count; exceeding one is an error.
 * Errors read "line L col C: message" (1-based; columns count bytes) and the status is GR_E_FORMAT
 * (GR_E_NOMEM when allocation fails, GR_E_INVALID_ARG for NULL arguments).
 *
 * Thread safety: a parsed document is immutable; any number of threads may read it at once.
 * A gr_jw writer is used by one thread at a time. */
#ifndef GR_CORE_JSON_H
#define GR_CORE_JSON_H

#include "gemrun.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gr_json_type {
    GR_JSON_NULL = 0,
    GR_JSON_FALSE,
    GR_JSON_TRUE,
    GR_JSON_NUMBER,
    GR_JSON_STRING,
    GR_JSON_ARRAY,
    GR_JSON_OBJECT
} gr_json_type;

typedef struct gr_json gr_json;        /* a parsed document: one allocation holding every node */
typedef struct gr_json_val gr_json_val; /* one node inside a document; valid while the document lives */

typedef struct gr_json_limits {
    size_t max_depth; /* nesting of arrays/objects; 0 = default 128; capped at 1024 */
    size_t max_bytes; /* input length; 0 = default 64 MiB; capped at 1 GiB */
    size_t max_nodes; /* values in the tree; 0 = default 4,000,000 */
} gr_json_limits;

/* Parse text[0..len) (need not be NUL-terminated). lim may be NULL for the defaults. On success *out
 * owns the document (free with gr_json_free); on failure *out is NULL and err holds the message. */
gr_status gr_json_parse(const char *text, size_t len, const gr_json_limits *lim, gr_json **out,
                        char *err, size_t errlen);
void gr_json_free(gr_json *doc);
const gr_json_val *gr_json_root(const gr_json *doc);

/* Accessors. Every accessor accepts NULL and returns a neutral value (type NULL, length 0, NULL). */
gr_json_type gr_json_type_of(const gr_json_val *v);
const char *gr_json_type_name(gr_json_type t); /* "null", "boolean", "number", "string", ... */
bool gr_json_is(const gr_json_val *v, gr_json_type t);
/* Arrays: element count; objects: member count; strings: byte length; others: 0. */
size_t gr_json_len(const gr_json_val *v);
/* Array element or object member value by position (O(i)); NULL when out of range. */
const gr_json_val *gr_json_at(const gr_json_val *v, size_t i);
/* Object member by key (exact byte comparison, keys may hold NUL via gr_json_getn); NULL if absent. */
const gr_json_val *gr_json_get(const gr_json_val *obj, const char *key);
const gr_json_val *gr_json_getn(const gr_json_val *obj, const char *key, size_t keylen);
/* Iteration: first child of an array/object (for objects: the first KEY node; its value follows it),
 * then gr_json_next for the following sibling. Object children alternate key, value. */
const gr_json_val *gr_json_child(const gr_json_val *v);
const gr_json_val *gr_json_next(const gr_json_val *parent, const gr_json_val *child);
/* Object member i: key string node and value node; false when out of range. */
bool gr_json_member(const gr_json_val *obj, size_t i, const gr_json_val **key, const gr_json_val **val);
/* String bytes, NUL-terminated (embedded NULs possible: use *len). NULL if not a string. */
const char *gr_json_str(const gr_json_val *v, size_t *len);
/* Numbers. gr_json_num: 0 if not a number. gr_json_int: GR_OK with the exact value for an integer
 * literal within int64, GR_E_FORMAT otherwise (not a number, fraction/exponent, out of range). */
double gr_json_num(const gr_json_val *v);
gr_status gr_json_int(const gr_json_val *v, int64_t *out);
const char *gr_json_num_text(const gr_json_val *v, size_t *len); /* the literal as written */
bool gr_json_bool(const gr_json_val *v);                          /* true only for `true` */
/* Deep equality: same types, numbers equal as doubles, strings byte-equal, objects with the same keys
 * mapping to equal values (member order ignored), arrays element-wise. */
bool gr_json_equal(const gr_json_val *a, const gr_json_val *b);

/* ---- Writer / builder ----------------------------------------------------------------------------
 * Builds JSON text into a growing buffer with commas and colons inserted automatically:
 *   gr_jw w; gr_jw_init(&w);
 *   gr_jw_obj(&w); gr_jw_key(&w, "n"); gr_jw_int(&w, 3); gr_jw_end(&w);
 *   if (gr_jw_status(&w) == GR_OK) use(w.buf, w.len);
 *   gr_jw_free(&w);
 * Errors are sticky (checked once at the end): GR_E_NOMEM, GR_E_INVALID_ARG for a non-finite number,
 * GR_E_INTERNAL for misuse (a value where a key is due, gr_jw_end without an open container, nesting
 * deeper than GR_JW_MAX_DEPTH, or a second top-level value). Strings are escaped per RFC 8259:
 * '"', '\\' and control characters are escaped; invalid UTF-8 bytes are replaced by U+FFFD so the
 * output is always valid UTF-8. */
#define GR_JW_MAX_DEPTH 1024 /* = the parser's cap, so every parsed document can be written */

typedef struct gr_jw {
    char *buf; /* NUL-terminated output, owned; NULL until something is written */
    size_t len, cap;
    gr_status status;
    int depth;
    bool done;                           /* a complete top-level value was written */
    uint8_t kind[GR_JW_MAX_DEPTH];       /* per open container: 'a' array, 'o' object */
    uint32_t count[GR_JW_MAX_DEPTH];     /* items written in each open container */
    bool key_pending[GR_JW_MAX_DEPTH];   /* object: a key was written, its value is due */
} gr_jw;

void gr_jw_init(gr_jw *w);
void gr_jw_free(gr_jw *w);
gr_status gr_jw_status(const gr_jw *w);
/* Take ownership of the finished text (free() it); the writer is reset. NULL if the status is not OK
 * or containers are still open (status becomes GR_E_INTERNAL then). */
char *gr_jw_take(gr_jw *w, size_t *len);
void gr_jw_obj(gr_jw *w);
void gr_jw_arr(gr_jw *w);
void gr_jw_end(gr_jw *w); /* closes the innermost array or object */
void gr_jw_key(gr_jw *w, const char *key);
void gr_jw_keyn(gr_jw *w, const char *key, size_t len);
void gr_jw_str(gr_jw *w, const char *s); /* NULL writes null */
void gr_jw_strn(gr_jw *w, const char *s, size_t len);
void gr_jw_num(gr_jw *w, double x); /* shortest text that reads back to the same double */
void gr_jw_int(gr_jw *w, int64_t x);
void gr_jw_bool(gr_jw *w, bool b);
void gr_jw_null(gr_jw *w);
/* Copy a parsed value (deeply) into the writer. */
void gr_jw_value(gr_jw *w, const gr_json_val *v);
/* Append the escaped body of a JSON string (no quotes) to the writer's buffer; for callers that build
 * strings incrementally. */
void gr_jw_escape(gr_jw *w, const char *s, size_t len);

/* Serialise a value to a fresh malloc'ed, NUL-terminated string (compact form). */
gr_status gr_json_write(const gr_json_val *v, char **out, size_t *len);

#endif
