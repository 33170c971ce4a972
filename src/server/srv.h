/* srv.h — internals shared by the server's files (src/server/ *.c); not an interface for anyone
 * else. parse.c    Gemini / OpenAI request bodies -> srv_gen (gr_request), URL -> model + method
 *   write.c    response bodies (Gemini, OpenAI, errors) with the JSON writer
 *   metrics.c  counters and the Prometheus text
 *   run.c      one generation: route, queue, wait while watching the client socket, stream
 *   status.c   /api/status, model lists, countTokens
 *   server.c   libmicrohttpd wiring, limits, auth, dispatch, access log
 *   conf.c     the "local" and "server" configuration sections */
#ifndef GR_SERVER_SRV_H
#define GR_SERVER_SRV_H

#include "core/json.h"
#include "engine/engine.h"
#include "engine/engine_cloud.h"
#include "layer/queue.h"
#include "layer/router.h"
#include "layer/runtime_check.h"
#include "model/model.h"
#include "server/server.h"
#include "text/chat.h"
#include "text/tokenizer.h"

#include <pthread.h>

struct MHD_Connection;
struct MHD_Response;
struct MHD_Daemon;
#include <stdatomic.h>

/* ---- parsed generation requests (parse.c) ------------------------------------------------------
 */

typedef struct srv_gen {
    gr_request req; /* points into the fields below */
    gr_message *msgs;
    size_t n_msgs;
    const char **stops;
    size_t n_stops;
    char **owned; /* strings built here (joined parts, schema text), freed with the request */
    size_t n_owned, cap_owned;
    gr_json *doc;       /* the parsed body; texts point into it */
    bool stream;        /* OpenAI "stream": true */
    bool include_usage; /* OpenAI stream_options.include_usage */
    bool has_format;    /* the request itself asked for JSON output */
    char model[128];    /* OpenAI "model" */
} srv_gen;

#define SRV_MAX_MESSAGES 4096
#define SRV_MAX_STOPS 16
#define SRV_MAX_IMAGES 16 /* per message */

/* Errors are GR_E_INVALID_ARG with a message naming the field (HTTP 400). */
gr_status srv_gemini_parse(const char *body, size_t len, srv_gen *g, char *err, size_t errlen);
/* countTokens: {contents} or {generateContentRequest: {...}}. */
gr_status srv_gemini_parse_count(const char *body, size_t len, srv_gen *g, char *err,
                                 size_t errlen);
gr_status srv_openai_parse(const char *body, size_t len, srv_gen *g, char *err, size_t errlen);
void srv_gen_free(srv_gen *g);

/* "/v1beta/models/chat:generateContent" -> model "chat", method "generateContent". Accepts the
 * prefixes /v1beta/, /v1/ and none, and "models/" or "tunedModels/" before the id. GR_E_NOT_FOUND
 * when the path is not of that shape. method is "" for GET /v1beta/models/{id}. */
gr_status srv_parse_model_path(const char *path, char *model, size_t mcap, char *method,
                               size_t cap);

/* ---- metrics (metrics.c) -----------------------------------------------------------------------
 */

typedef enum srv_api {
    SRV_API_GEMINI_GENERATE = 0,
    SRV_API_GEMINI_STREAM,
    SRV_API_GEMINI_COUNT,
    SRV_API_GEMINI_MODELS,
    SRV_API_OPENAI_CHAT,
    SRV_API_OPENAI_MODELS,
    SRV_API_STATUS,
    SRV_API_HEALTH,
    SRV_API_METRICS,
    SRV_API_STATIC,
    SRV_API_OTHER,
    SRV_API_COUNT
} srv_api;

typedef enum srv_outcome {
    SRV_OUT_OK = 0,
    SRV_OUT_CANCELLED,   /* the client went away */
    SRV_OUT_REJECTED,    /* queue full, loading */
    SRV_OUT_UNAVAILABLE, /* the router found no engine */
    SRV_OUT_CLIENT_ERROR,
    SRV_OUT_SERVER_ERROR,
    SRV_OUT_TIMEOUT,
    SRV_OUT_COUNT
} srv_outcome;

typedef enum srv_stage { SRV_STAGE_QUEUED = 0, SRV_STAGE_PROMPT, SRV_STAGE_GENERATION } srv_stage;

#define SRV_TTFT_BUCKETS 12

typedef struct srv_metrics {
    pthread_mutex_t mu;
    uint64_t requests[SRV_API_COUNT][SRV_OUT_COUNT];
    uint64_t cancelled[3];                          /* by srv_stage */
    uint64_t fallbacks[2];                          /* requests retried on [0] local, [1] cloud */
    uint64_t prompt_tokens[2], generated_tokens[2]; /* [0] local, [1] cloud */
    double prompt_seconds[2], generation_seconds[2];
    uint64_t ttft_bucket[SRV_TTFT_BUCKETS + 1];
    double ttft_sum;
    uint64_t ttft_count;
    int64_t in_flight;
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_destroy(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, srv_api api, srv_outcome o);
void srv_metrics_cancel(srv_metrics *m, srv_stage stage);
void srv_metrics_fallback(srv_metrics *m, bool to_cloud);
void srv_metrics_result(srv_metrics *m, const gr_result *r);
void srv_metrics_ttft(srv_metrics *m, double seconds);
void srv_metrics_in_flight(srv_metrics *m, int delta);
const char *srv_api_name(srv_api a);
const char *srv_outcome_name(srv_outcome o);

/* ---- the server object -------------------------------------------------------------------------
 */

typedef struct srv_engine_slot {
    gr_queue *queue; /* NULL: this engine is not there */
    char model_id[128];
} srv_engine_slot;

struct gr_server {
    gr_server_config cfg;
    struct MHD_Daemon *mhd;
    char url[128];
    atomic_int ready; /* 0 loading, 1 ready, 2 loading failed (set after everything loaded) */
    atomic_int stopping;
    atomic_ullong next_id;
    char load_error[256];
    gr_router *router;
    gr_json *config_doc; /* the configuration document (cloud section borrowed from it) */
    /* local engine */
    gr_model *model;
    gr_tokenizer *tok; /* countTokens */
    gr_chat_format fmt;
    srv_engine_slot local, cloud;
    gr_cloud_config cloud_cfg; /* strings borrowed from config_doc */
    char cloud_protocol[16];
    atomic_llong cloud_down_ms; /* when a network error marked the cloud unreachable; 0: up */
    /* runtime speed check, fed by finished local generations */
    pthread_mutex_t rt_mu;
    gr_runtime_check rt;
    bool rt_on;
    srv_metrics metrics;
    char *plan_json, *probe_json; /* computed at start */
};

/* ---- one request's state (server.c, run.c) -----------------------------------------------------
 */

typedef struct srv_job srv_job; /* a generation shared with the queue worker (run.c) */

typedef struct srv_req {
    gr_server *srv;
    struct MHD_Connection *conn;
    uint64_t id;
    double t_start;
    srv_api api;
    char method[8];
    char path[160];
    /* body */
    char *body;
    size_t body_len, body_cap;
    size_t drained; /* body bytes read and dropped (over the limit or already answered) */
    bool body_too_large, handled;
    /* what happened (for the access log and metrics) */
    int http_status;
    srv_outcome outcome;
    char feature[40], engine[16], model[128];
    char fallback_from[16]; /* the engine that failed before this request went to its fallback */
    int prompt_tokens, completion_tokens;
    double ttft_ms;
    srv_job *job; /* a streaming generation still in flight, NULL otherwise */
} srv_req;

/* Queue an answer; these never fail loudly (a failed queue closes the connection). */
int srv_reply(srv_req *r, int status, const char *ctype, const char *body, size_t len,
              const char *engine);
int srv_reply_json_owned(srv_req *r, int status, char *body, const char *engine);
/* Errors in the API family of the request (Gemini or OpenAI shape). */
int srv_reply_error(srv_req *r, int status, const char *message, const char *engine);
/* HTTP status, Gemini status name and OpenAI type for an error status. */
int srv_http_for_status(gr_status s);
const char *srv_gemini_status_name(int http);
const char *srv_openai_type(int http);
bool srv_is_openai(const srv_req *r);
/* Add the common headers (engine, CORS, request id). */
void srv_add_headers(srv_req *r, struct MHD_Response *resp, const char *engine);

/* ---- generation (run.c) ------------------------------------------------------------------------
 */

int srv_run_generate(srv_req *r, const char *model_name, bool stream, bool sse);
int srv_run_openai(srv_req *r);
/* Called when libmicrohttpd is done with the request (also when the client went away). */
void srv_job_finish(srv_req *r);

/* ---- JSON bodies (write.c) ---------------------------------------------------------------------
 */

typedef struct srv_route_info {
    const char *engine; /* "local" / "cloud" */
    const char *model;
    const char *feature;
    const char *reason;
} srv_route_info;

char *srv_gemini_error_body(int http, const char *message);
char *srv_openai_error_body(int http, const char *message, const char *code);
/* One GenerateContentResponse: text, finish (NULL: not final), usage, gemrun info (timings when
 * r != NULL). */
char *srv_gemini_response(const char *text, size_t len, const char *finish, const gr_usage *u,
                          const srv_route_info *ri, const gr_result *r, const char *response_id);
const char *srv_gemini_finish(gr_finish f);
const char *srv_openai_finish(gr_finish f);
char *srv_openai_response(const char *text, size_t len, const gr_result *res,
                          const srv_route_info *ri, const char *id, long created);
/* kind: 0 role chunk, 1 content delta, 2 finish chunk, 3 usage chunk. */
char *srv_openai_chunk(int kind, const char *text, size_t len, const gr_result *res,
                       const srv_route_info *ri, const char *id, long created);
void srv_write_gemrun(gr_jw *w, const srv_route_info *ri, const gr_result *r);

/* ---- status and lists (status.c) ---------------------------------------------------------------
 */

char *srv_status_json(gr_server *s);
char *srv_gemini_models_json(gr_server *s, const char *one); /* one: GET models/{one}; NULL: list */
char *srv_openai_models_json(gr_server *s);
char *srv_metrics_text(gr_server *s);
/* Prompt tokens of a request as the local engine would render it; -1 (no local tokenizer) or -2
 * (the conversation cannot be rendered) with err. */
int srv_count_tokens(gr_server *s, const gr_request *req, char *err, size_t errlen);
void srv_compute_plan(gr_server *s);

#endif
