/* schema.h — JSON Schema (a subset of draft 2020-12) compiled once into a validator, then used to
 * validate many JSON documents. It fails closed: any keyword it does not implement is a compile error
 * naming the keyword and its JSON pointer, never silently ignored. It must not keep global state and must
 * never crash on hostile schemas or documents (fuzz/fuzz_schema.c).
 *
 * Supported: type (string or array), properties, required, additionalProperties (bool or schema), enum,
 * const, items, prefixItems, minItems, maxItems, uniqueItems, minLength, maxLength (code points), format
 * (date, date-time, time, email, uri, uuid, ipv4: real checks), minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum, multipleOf, anyOf, oneOf, allOf, not, $ref to "#", "#/$defs/..." and
 * "#/definitions/..." (cycles allowed when they consume the instance; a cycle that does not is a compile
 * error), $defs/definitions; annotations ignored: title, description, $schema, $id, $comment, examples,
 * default, deprecated, readOnly, writeOnly; pattern (an ECMA-262 subset matched in linear time, as a
 * search; lookaround, backreferences, \b and property escapes are refused as unsupported).
 *
 * Errors. Compile: GR_E_UNSUPPORTED (unknown/unsupported keyword), GR_E_FORMAT (bad JSON or a malformed
 * keyword value), message "<schema pointer>: ...". Validate: GR_E_FORMAT with the message
 * "<instance pointer>: <what failed>" ("(root)" for the empty pointer), e.g.
 * "/items/2/name: expected string, got number"; the keyword is also returned in gr_schema_fail.
 * Thread safety: a compiled schema is immutable; many threads may validate with it at once. */
#ifndef GR_VALIDATE_SCHEMA_H
#define GR_VALIDATE_SCHEMA_H

#include "core/json.h"
#include "gemrun.h"

#include <stddef.h>

typedef struct gr_schema gr_schema;

/* Details of a validation failure (all NUL-terminated, truncated if needed). */
typedef struct gr_schema_fail {
    char pointer[256]; /* JSON pointer of the failing instance value ("" = the root) */
    char keyword[32];  /* the failing keyword, e.g. "type", "required", "format" */
} gr_schema_fail;

/* Compile schema text (JSON). On success *out owns the validator (free with gr_schema_free). */
gr_status gr_schema_compile(const char *text, size_t len, gr_schema **out, char *err, size_t errlen);
void gr_schema_free(gr_schema *s);

/* Validate a parsed document / JSON text. fail may be NULL. Text that is not JSON gives GR_E_FORMAT with
 * the parser's "line L col C: ..." message and keyword "json". */
gr_status gr_schema_validate(const gr_schema *s, const gr_json_val *doc, gr_schema_fail *fail, char *err,
                             size_t errlen);
gr_status gr_schema_validate_text(const gr_schema *s, const char *text, size_t len, gr_schema_fail *fail,
                                  char *err, size_t errlen);

#endif
