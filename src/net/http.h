/* http.h — the HTTP client transport, kept apart from every protocol that uses it (the cloud engine's
 * Gemini/OpenAI protocols, gemrun pull). Native builds implement it on libcurl (http_curl.c); the
 * browser build will implement the same function on fetch. Protocol code must not include curl.
 *
 * One blocking call per request, on the calling thread. The response streams through callbacks as it
 * arrives, so callers never need the whole body in memory (SSE, multi-GB downloads).
 *
 * Guarantees of gr_http_perform():
 *  - TLS certificates and host names are verified; proxies come from the environment (http_proxy,
 *    https_proxy, no_proxy); redirects are followed (at most 10); custom headers such as
 *    Authorization are not sent to a different host after a redirect.
 *  - Header values are never written to err, logs or stderr (they carry API keys); err names the URL
 *    without its query string (which may carry ?key=).
 *  - The cancel token and the deadline are checked at least every 20 ms while waiting for data, so a
 *    cancelled transfer closes its connection within ~20 ms.
 *  - A callback returning non-zero aborts the transfer: GR_E_CANCELLED.
 *
 * Thread safety: any number of threads may call gr_http_perform at once (global init is done once,
 * internally). */
#ifndef GR_NET_HTTP_H
#define GR_NET_HTTP_H

#include "core/cancel.h"
#include "gemrun.h"

#include <stddef.h>
#include <stdint.h>

typedef struct gr_http_header {
    const char *name;  /* e.g. "x-goog-api-key" */
    const char *value; /* secret-safe: never logged */
} gr_http_header;

typedef struct gr_http_request {
    const char *method; /* "GET", "POST", "HEAD"; NULL: GET, or POST when body != NULL */
    const char *url;
    const gr_http_header *headers;
    size_t n_headers;
    const char *body; /* request body (POST), may be NULL */
    size_t body_len;
    double connect_timeout_s; /* 0: 10 s */
    double idle_timeout_s;    /* abort with GR_E_TIMEOUT when no byte arrives for this long; 0: 60 s */
    double deadline;          /* absolute gr_now() seconds; 0: none. Passing it: GR_E_TIMEOUT */
    gr_cancel *cancel;        /* may be NULL */
    uint64_t range_from;      /* > 0: send "Range: bytes=N-" */
    int *dropped;             /* optional out: set to 1 when the call failed with GR_E_NETWORK after
                                 the server had accepted the connection (reset, closed before or
                                 during the response): a transient failure worth a retry, unlike a
                                 host that cannot be resolved, refuses connections or fails TLS */
} gr_http_request;

/* Seconds since the epoch for an HTTP date in the preferred IMF-fixdate form
 * ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 9110 section 5.6.7), as sent in Retry-After. */
gr_status gr_http_date_parse(const char *s, double *epoch_s);

/* Called for each header line of each response (redirects included). name == NULL marks the start
 * of a new response whose status line gave `status` (reset per-response state there). Return
 * non-zero to abort. */
typedef int (*gr_http_header_fn)(void *user, int status, const char *name, const char *value);
/* Called with body bytes of the final response as they arrive. Return non-zero to abort. */
typedef int (*gr_http_data_fn)(void *user, int status, const void *data, size_t len);

/* Runs the request. GR_OK when a complete HTTP response arrived, whatever its status code (the
 * caller decides what 4xx/5xx mean); *status_out gets the final status (0 if none arrived).
 * Errors: GR_E_NETWORK (DNS, connect, TLS, reset, body cut short), GR_E_TIMEOUT (deadline or idle
 * timeout), GR_E_CANCELLED (token set or a callback aborted), GR_E_INVALID_ARG. Callbacks may be
 * NULL. */
gr_status gr_http_perform(const gr_http_request *req, gr_http_header_fn on_header,
                          gr_http_data_fn on_data, void *user, int *status_out, char *err,
                          size_t errlen);

#endif
