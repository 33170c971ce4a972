/* engine_cloud.h — the cloud engine: the engine interface (engine.h) served by a remote endpoint
 * that speaks the Gemini API (generateContent / streamGenerateContent) or OpenAI Chat Completions.
 * The protocol code (src/cloud/) is kept apart from the transport (src/net/http.h, libcurl
 * natively). It must not know about the local model, the router or the server; docs/cloud.md
 * documents it.
 *
 * Endpoint strategy of generate():
 *  - conversational requests (output.kind == GR_OUTPUT_TEXT and a sink given) use the streaming
 *    endpoint; everything else (structured output) the non-streaming one;
 *  - a streaming call rejected with HTTP 400 before any data is retried once without streaming;
 *  - HTTP 429/500/503 (and 502/504), and connections the server dropped before any text, are
 *    retried up to max_retries times with exponential backoff, honouring Retry-After (seconds or an
 *    HTTP date) and Gemini's RetryInfo.retryDelay, never past the deadline; an unreachable host is
 *    not retried;
 *  - the request deadline and the cancel token abort the transfer at once (GR_E_TIMEOUT /
 *    GR_E_CANCELLED); text received so far stays in the result.
 * Errors: 401/403 GR_E_AUTH, 429 GR_E_RATE_LIMITED (retries spent), 5xx or an unparseable body
 * GR_E_UPSTREAM, other 4xx GR_E_INVALID_ARG, connection problems GR_E_NETWORK.
 *
 * The API key comes from the config or the environment (GEMINI_API_KEY / OPENAI_API_KEY), is sent
 * only as a header (x-goog-api-key / Authorization: Bearer), never appears in errors or logs, and
 * is wiped when the engine is destroyed.
 *
 * Thread safety: like every engine, one generate() at a time; the cancel token may be set from any
 * thread. */
#ifndef GR_ENGINE_ENGINE_CLOUD_H
#define GR_ENGINE_ENGINE_CLOUD_H

#include "core/json.h"
#include "engine/engine.h"
#include "gemrun.h"

#include <stddef.h>

typedef enum gr_cloud_protocol { GR_CLOUD_GEMINI = 0, GR_CLOUD_OPENAI } gr_cloud_protocol;

typedef struct gr_cloud_config {
    gr_cloud_protocol protocol;
    /* Scheme + host (+ optional path prefix), e.g. https://generativelanguage.googleapis.com or
     * http://127.0.0.1:8080. Gemini appends /v1beta/models/{model}:generateContent, OpenAI appends
     * /v1/chat/completions (a base ending in /v1 is not doubled). NULL: the protocol's public host
     * (https://generativelanguage.googleapis.com, https://api.openai.com). */
    const char *base_url;
    const char *model; /* model id, e.g. "gemma-3-27b-it"; required */
    /* NULL: from the environment, GEMINI_API_KEY / OPENAI_API_KEY (there may be none) */
    const char *api_key;
    const char *api_key_env;  /* NULL: the protocol's default variable name */
    int max_retries;          /* retries after the first attempt for 429/5xx; < 0: default 3 */
    double timeout_s;         /* per-request limit when the request has no deadline; 0: 120 s */
    double connect_timeout_s; /* 0: 10 s */
    double backoff_initial_s; /* first backoff delay; 0: 1 s (doubles each retry) */
    double backoff_max_s;     /* cap for one delay (also caps server-asked delays); 0: 30 s */
    int stream;               /* 1: allow the streaming endpoint (default); 0: never stream */
    /* Gemini only. */
    const char *api_version; /* path segment after the base; NULL: "v1beta"; "": none */
    int json_array_stream;   /* 1: stream with the JSON-array form (no alt=sse); default 0 (SSE) */
    int fold_system;         /* 1: put system text into the first user turn instead of
                                systemInstruction (Gemma 3 on the Gemini API rejects it); default 0 */
} gr_cloud_config;

/* Defaults for every field (protocol Gemini, no base URL/model/key). */
void gr_cloud_config_init(gr_cloud_config *cfg);

/* Read the "cloud" object of the configuration file (docs/cloud.md lists its keys). Strings are
 * borrowed from the JSON document, which must outlive *out. Unknown keys and wrong types are errors
 * naming the field (GR_E_INVALID_ARG). cloud_section NULL: the defaults. */
gr_status gr_cloud_config_from_json(const gr_json_val *cloud_section, gr_cloud_config *out,
                                    char *err, size_t errlen);

/* Create the engine. The configuration's strings are copied (the key too), so cfg may go away.
 * Fails with GR_E_INVALID_ARG when the model or base URL is missing or malformed. A missing key is
 * not an error here (a local OpenAI-compatible server may not need one). */
gr_status gr_cloud_engine_new(const gr_cloud_config *cfg, gr_engine **out, char *err,
                              size_t errlen);

/* Whether an API key was found (config or environment); for the router's "cloud configured". */
int gr_cloud_engine_has_key(const gr_engine *e);

#endif
