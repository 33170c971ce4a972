/* proto.h — what the cloud protocols (gemini.c, openai.c) have in common: the summary of a reply
 * built up chunk by chunk, the mapping of HTTP status codes to gemrun status codes, and the parsing
 * of error bodies and retry hints. No I/O and no transport here: the engine (engine_cloud.c) feeds
 * bytes in and reads the summary out. */
#ifndef GR_CLOUD_PROTO_H
#define GR_CLOUD_PROTO_H

#include "core/json.h"
#include "engine/engine.h"
#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>

/* Receives answer text (thoughts already removed). Return non-zero to stop. */
typedef int (*gr_cloud_text_fn)(void *user, const char *text, size_t len);

typedef struct gr_cloud_reply {
    int prompt_tokens;     /* -1: not reported */
    int completion_tokens; /* -1: not reported (Gemini: candidates + thoughts are separate) */
    bool finished;         /* a finish reason arrived */
    gr_finish finish;      /* STOP or LENGTH when finished and not filtered */
    bool filtered;         /* the model stopped for safety/recitation/content filter */
    char finish_raw[40];   /* the reason as sent ("STOP", "MAX_TOKENS", "content_filter") */
    bool blocked;          /* Gemini: the prompt was blocked (promptFeedback.blockReason) */
    bool done;             /* OpenAI: data: [DONE] seen */
    size_t n_chunks;       /* responses/chunks parsed */
    /* An error object ({"error":{...}}) found in a body or in the stream. */
    bool has_error;
    int error_code;        /* its HTTP-like code (0: none given) */
    char error_status[40]; /* Gemini "status" / OpenAI "type" */
    char error_msg[200];
    double retry_delay_s; /* google.rpc.RetryInfo.retryDelay; < 0: none */
    bool key_invalid;     /* Gemini's 400 for a bad key (ErrorInfo reason API_KEY_INVALID, or
                             its message "API key not valid"): an auth error, not a bad request */
} gr_cloud_reply;

void gr_cloud_reply_init(gr_cloud_reply *r);

/* HTTP status -> gemrun status: 401/403 AUTH, 404 NOT_FOUND, 408 TIMEOUT, 429 RATE_LIMITED,
 * 5xx UPSTREAM, other 4xx INVALID_ARG, anything else UPSTREAM. */
gr_status gr_cloud_status_for_http(int http);
/* Whether a retry may help: 408, 429, 500, 502, 503, 504. */
bool gr_cloud_retryable(int http);

/* Parse a protobuf duration string ("36s", "0.400s", "45.837906927s"); < 0 when malformed. */
double gr_cloud_parse_duration(const char *s, size_t len);

/* If v is {"error":{...}} (or an array whose first element is one), fill r's error fields (both
 * the Gemini shape {code,message,status,details[RetryInfo, ErrorInfo]} and the OpenAI shape
 * {message,type,param,code}) and return true. */
bool gr_cloud_take_error(const gr_json_val *v, gr_cloud_reply *r);

/* Copy at most cap-1 bytes of a JSON string value into out (empty when v is not a string). */
void gr_cloud_copy_str(const gr_json_val *v, char *out, size_t cap);

/* Write a number rounded to 6 significant digits (0.7f is sent as 0.7, not 0.699999988). */
void gr_cloud_jw_float(gr_jw *w, double x);

#endif
