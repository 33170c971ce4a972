/* server.h — `gemrun serve`: an HTTP server (libmicrohttpd) that speaks the Gemini API and the
 * OpenAI Chat Completions API in front of the router and one queue per engine, plus /health,
 * /metrics, /api/status and the embedded web page. docs/server.md is the user-facing description.
 * It must not contain model, protocol-client or routing logic: it parses HTTP requests into
 * gr_request, asks the router, submits to a queue and writes the answer.
 *
 * Lifecycle: gr_server_new parses nothing and loads nothing: it binds the socket and starts serving
 * (/health answers 503 "loading"); gr_server_load then loads the model and cloud engine and marks
 * the server ready; gr_server_free stops accepting, cancels queued work and frees everything.
 * Thread safety: new / load / free from one thread; request handling runs on libmicrohttpd's
 * threads. */
#ifndef GR_SERVER_SERVER_H
#define GR_SERVER_SERVER_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_server_config {
    /* listening */
    const char *host;    /* NULL: 127.0.0.1 */
    int port;            /* 0: pick a free port */
    const char *api_key; /* NULL: no key required */
    /* the "local" section */
    const char *model_path; /* NULL: no local model */
    const char *model_id;   /* NULL: the engine's own id (general.name or the file name) */
    uint32_t n_ctx;         /* 0: engine default */
    int n_threads;          /* 0: engine default */
    int default_max_tokens; /* 0: engine default */
    bool runtime_check;     /* run the runtime speed check on the first local requests */
    double expected_tok_s;  /* > 0: use this expectation instead of the measured bandwidth */
    /* the "server" section (limits) */
    size_t max_body_bytes;       /* 0: 4 MiB */
    size_t queue_size;           /* pending requests per engine; 0: 64 */
    int max_connections;         /* 0: 256 */
    int connection_timeout_s;    /* idle connection limit; 0: 30 */
    double request_timeout_s;    /* receive the request within this; 0: 60 */
    double generation_timeout_s; /* deadline of one generation; 0: 600 */
    int max_output_tokens;       /* cap on maxOutputTokens / max_tokens; 0: 8192 */
    const char *cors_origin;     /* NULL: no CORS headers (same-origin page only) */
    bool access_log;             /* one JSON line per request on stderr */
    /* the whole configuration document (router "features", "cloud"); may be NULL */
    const char *config_json;
    size_t config_len;
} gr_server_config;

/* Defaults for every field. */
void gr_server_config_init(gr_server_config *c);

/* Read the "local" and "server" sections of a configuration document into c (strings are copied
 * into *owned, a malloc'ed block the caller frees after the server). Unknown keys and wrong types
 * are GR_E_INVALID_ARG naming the field. The document's other sections are not looked at. */
gr_status gr_server_config_parse(const char *json, size_t len, gr_server_config *c, char **owned,
                                 char *err, size_t errlen);

typedef struct gr_server gr_server;

gr_status gr_server_new(const gr_server_config *cfg, gr_server **out, char *err, size_t errlen);
/* Load the local model and the cloud engine; the server is ready afterwards. On failure the
 * server keeps answering (503) and the caller decides whether to exit. */
gr_status gr_server_load(gr_server *s, char *err, size_t errlen);
/* "http://HOST:PORT" */
const char *gr_server_url(const gr_server *s);
void gr_server_free(gr_server *s);

#endif
