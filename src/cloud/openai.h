/* openai.h — the OpenAI Chat Completions wire format (/v1/chat/completions, as served by OpenAI,
 * llama.cpp, vLLM, Ollama and gemrun serve): request bodies from a gr_request, and reading a
 * chat.completion (unary) or chat.completion.chunk (one SSE event; "[DONE]" ends the stream).
 * No transport here. */
#ifndef GR_CLOUD_OPENAI_H
#define GR_CLOUD_OPENAI_H

#include "cloud/proto.h"
#include "engine/engine.h"

#include <stdbool.h>

/* The request body (malloc'ed JSON). stream adds "stream": true and
 * stream_options.include_usage so the last chunk carries the token counts. */
gr_status gr_openai_build_body(const gr_request *req, const char *model, bool stream, char **body,
                               size_t *len, char *err, size_t errlen);

/* One unary body (stream false) or one SSE data payload (stream true). GR_E_UPSTREAM when it is not
 * JSON or not the expected object; GR_E_CANCELLED when fn asked to stop. */
gr_status gr_openai_parse(const char *json, size_t len, bool stream, gr_cloud_reply *r,
                          gr_cloud_text_fn fn, void *user, char *err, size_t errlen);

#endif
