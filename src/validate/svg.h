/* svg.h — SVG validator and sanitizer for model output. The input must be well-formed XML (validate/xml.h:
 * no DOCTYPE/ENTITY) with an <svg> root in the SVG namespace. Only allow-listed elements and attributes
 * pass; scripts, foreignObject, event handlers (on*), javascript:/vbscript:/data: URLs (after entity
 * decoding, whitespace removal and case folding), non-local href/url() references and dangerous CSS
 * (expression(, @import, behavior:, -moz-binding, escapes) are refused. It must not keep global state,
 * must never crash on hostile input (fuzz/fuzz_svg.c), and must never emit markup it would reject.
 *
 * Two modes:
 *  - gr_svg_validate: GR_OK, or GR_E_FORMAT with "line L col C: reason" for the first problem;
 *  - gr_svg_sanitize: drops what is not allowed (whole elements, single attributes, comments, PIs) and
 *    serialises the rest; the output re-parses and validates clean. It fails only when the input is not
 *    well-formed XML or the root is not an SVG <svg> element. */
#ifndef GR_VALIDATE_SVG_H
#define GR_VALIDATE_SVG_H

#include "gemrun.h"

#include <stddef.h>

gr_status gr_svg_validate(const char *text, size_t len, char *err, size_t errlen);
/* On success *out is a malloc'ed NUL-terminated SVG document (*outlen bytes); *removed (may be NULL)
 * counts the elements/attributes/comments/PIs dropped. */
gr_status gr_svg_sanitize(const char *text, size_t len, char **out, size_t *outlen, size_t *removed,
                          char *err, size_t errlen);

#endif
