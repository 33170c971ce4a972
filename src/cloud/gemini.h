/* gemini.h — the Gemini API wire format (generateContent / streamGenerateContent): building the
 * GenerateContentRequest body from a gr_request and reading GenerateContentResponse objects (a
 * unary body, one SSE event, or one element of the JSON-array stream). Parts flagged "thought":
 * true are reasoning, not answer, and never reach the text callback. No transport here. */
#ifndef GR_CLOUD_GEMINI_H
#define GR_CLOUD_GEMINI_H

#include "cloud/proto.h"
#include "engine/engine.h"

#include <stdbool.h>

/* The request body (malloc'ed JSON). System messages become systemInstruction (joined with a blank
 * line), or with fold_system the start of the first user turn. GR_E_INVALID_ARG for a request that
 * cannot be sent (no user/model message, a JSON Schema that does not parse). */
gr_status gr_gemini_build_body(const gr_request *req, bool fold_system, char **body, size_t *len,
                               char *err, size_t errlen);

/* One GenerateContentResponse (or an {"error":...} object, or an array holding one): answer text to
 * fn, usage/finish/error into r. GR_E_UPSTREAM when it is not JSON or not such an object;
 * GR_E_CANCELLED when fn asked to stop. */
gr_status gr_gemini_parse(const char *json, size_t len, gr_cloud_reply *r, gr_cloud_text_fn fn,
                          void *user, char *err, size_t errlen);

#endif
