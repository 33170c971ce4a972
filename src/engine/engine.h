/* engine.h — the one interface every engine implements (local model, cloud protocols, the test fake):
 * a table of function pointers in the style of SQLite's VFS. The queue, router and server only talk to
 * engines through this header. It must not know about any particular engine, model or transport.
 *
 * Contract of generate():
 *  - It runs one request to completion on the calling thread and returns its status; *out is always
 *    filled (text, finish reason, usage, timings, engine and model names), also on error.
 *  - It checks `cancel` (flag and deadline) and the request's deadline between prompt chunks and after
 *    every produced token, and returns promptly: GR_E_CANCELLED / GR_FINISH_CANCELLED when the flag is
 *    set, GR_E_TIMEOUT / GR_FINISH_TIMEOUT when a deadline passed. Text produced so far stays in out.
 *  - Text is streamed through the sink as it is produced (UTF-8, never split inside a character);
 *    a sink returning non-zero stops generation: status GR_E_CANCELLED, finish GR_FINISH_CANCELLED.
 *    The concatenated deltas equal out->text.
 *  - One generate() at a time per engine (engines are exclusive; the queue serialises them). The
 *    cancel token may be set from any thread. destroy() must not run while generate() runs.
 *
 * Ownership: the request and everything it points to belong to the caller and are only read during
 * generate(). out->text is malloc'ed by the engine; release a result with gr_result_clear(). */
#ifndef GR_ENGINE_ENGINE_H
#define GR_ENGINE_ENGINE_H

#include "core/cancel.h"
#include "gemrun.h"
#include "text/chat.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Roles are the chat formatter's (GR_ROLE_SYSTEM, GR_ROLE_USER, GR_ROLE_MODEL), so the local engine can
 * hand messages to gr_chat_* without translation. */
/* An image attached to a message, as the wire formats carry it: base64 (standard alphabet, padded),
 * e.g. from a Gemini inlineData part or an OpenAI data: URL. Only engines that read images take
 * them (the cloud engine); the local engine answers GR_E_UNSUPPORTED. */
typedef struct gr_image {
    const char *mime_type; /* "image/png", "image/jpeg", "image/webp", "image/heic", "image/heif" */
    const char *base64;    /* NUL-terminated */
} gr_image;

typedef struct gr_message {
    gr_chat_role role;
    const char *text; /* UTF-8, NUL-terminated */
    const gr_image *images; /* after the text, in this order; NULL when n_images == 0 */
    size_t n_images;
} gr_message;

/* Sampling parameters. Zero values mean "engine default" except where noted. */
typedef struct gr_sampling {
    float temperature;    /* < 0: engine default; 0: greedy */
    int top_k;            /* 0: default */
    float top_p;          /* 0: default (1.0 = off) */
    float min_p;          /* 0: off */
    float repeat_penalty; /* 0: default (1.0 = off) */
    uint64_t seed;        /* 0: engine picks */
} gr_sampling;

/* What shape the output must have. Engines that cannot enforce a kind still accept it; the caller
 * validates the result (the validators live in the layer, not in engines). */
typedef enum gr_output_kind {
    GR_OUTPUT_TEXT = 0,    /* free text */
    GR_OUTPUT_JSON,        /* any JSON value */
    GR_OUTPUT_JSON_SCHEMA, /* JSON matching output.schema */
    GR_OUTPUT_MERMAID,     /* a Mermaid diagram */
    GR_OUTPUT_SVG          /* an SVG document */
} gr_output_kind;

typedef struct gr_output_constraint {
    gr_output_kind kind;
    const char *schema; /* JSON Schema text when kind == GR_OUTPUT_JSON_SCHEMA, else NULL */
} gr_output_constraint;

typedef struct gr_request {
    const gr_message *messages;
    size_t n_messages;
    gr_sampling sampling;
    int max_tokens;              /* <= 0: engine default */
    gr_output_constraint output;
    double deadline;             /* absolute, gr_now() seconds; 0 = none */
    const char *feature;         /* optional router feature name, for logs/metrics; may be NULL */
    const char *const *stop;     /* stop sequences: generation ends before the first match; the match
                                    is not part of the text (finish STOP). May be NULL. */
    size_t n_stop;
} gr_request;

/* Receives text deltas. Return 0 to continue, non-zero to stop generation. */
typedef int (*gr_sink_fn)(void *user, const char *delta, size_t len);

typedef enum gr_finish {
    GR_FINISH_STOP = 0,  /* the model ended its turn (or a stop condition matched) */
    GR_FINISH_LENGTH,    /* max_tokens reached */
    GR_FINISH_CANCELLED, /* cancel token set or the sink asked to stop */
    GR_FINISH_TIMEOUT,   /* a deadline passed */
    GR_FINISH_ERROR      /* status says what failed */
} gr_finish;

typedef struct gr_usage {
    int prompt_tokens;
    int completion_tokens;
} gr_usage;

typedef struct gr_timings {
    double ttft_ms;      /* request start to first token */
    double prompt_tok_s; /* prompt tokens / prompt processing time */
    double gen_tok_s;    /* completion tokens after the first / their time */
    double total_ms;
} gr_timings;

typedef struct gr_result {
    gr_status status;
    gr_finish finish;
    char *text; /* malloc'ed, NUL-terminated (may be NULL when nothing was produced) */
    size_t text_len;
    gr_usage usage;
    gr_timings timings;
    char engine[16]; /* "local", "cloud", "fake" */
    char model[64];  /* model id the engine used */
    char error[256]; /* message when status != GR_OK */
} gr_result;

typedef struct gr_engine gr_engine;

typedef struct gr_engine_ops {
    int version;      /* 1 */
    const char *name; /* "local", "cloud", "fake" */
    gr_status (*generate)(gr_engine *e, const gr_request *req, gr_sink_fn sink, void *sink_user,
                          gr_cancel *cancel, gr_result *out);
    /* Model id this engine serves (static or owned by the engine). */
    const char *(*model_id)(const gr_engine *e);
    void (*destroy)(gr_engine *e);
} gr_engine_ops;

/* Implementations embed this as their first member. */
struct gr_engine {
    const gr_engine_ops *ops;
};

static inline const char *gr_finish_str(gr_finish f) {
    switch (f) {
    case GR_FINISH_STOP: return "stop";
    case GR_FINISH_LENGTH: return "length";
    case GR_FINISH_CANCELLED: return "cancelled";
    case GR_FINISH_TIMEOUT: return "timeout";
    case GR_FINISH_ERROR: return "error";
    }
    return "unknown";
}

/* Free the text and zero the result. */
static inline void gr_result_clear(gr_result *r) {
    if (!r) return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* The finish reason that goes with a generate() status. */
static inline gr_finish gr_finish_for_status(gr_status s, bool hit_length) {
    if (s == GR_OK) return hit_length ? GR_FINISH_LENGTH : GR_FINISH_STOP;
    if (s == GR_E_CANCELLED) return GR_FINISH_CANCELLED;
    if (s == GR_E_TIMEOUT) return GR_FINISH_TIMEOUT;
    return GR_FINISH_ERROR;
}

/* Cancellation check for engines: the token (flag + its deadline) and then the request's deadline. */
static inline gr_status gr_engine_check(const gr_cancel *c, const gr_request *req) {
    gr_status s = gr_cancel_check(c);
    if (s != GR_OK) return s;
    if (req && req->deadline > 0 && gr_now() > req->deadline) return GR_E_TIMEOUT;
    return GR_OK;
}

static inline gr_status gr_engine_generate(gr_engine *e, const gr_request *req, gr_sink_fn sink,
                                           void *sink_user, gr_cancel *cancel, gr_result *out) {
    return e->ops->generate(e, req, sink, sink_user, cancel, out);
}

static inline void gr_engine_destroy(gr_engine *e) {
    if (e) e->ops->destroy(e);
}

#endif
