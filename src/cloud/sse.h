/* sse.h — incremental Server-Sent Events parser (WHATWG "event stream interpretation") for the
 * cloud protocols. Bytes may be fed in pieces split anywhere (inside a line, between CR and LF,
 * inside a UTF-8 character); the events are the same as for one piece. Lines end in CRLF, LF or CR;
 * "data:" lines of one event are joined with "\n"; ":" comments, "id:" and "retry:" are ignored.
 *
 * Lines that are neither fields we know nor comments (Gemini writes a failing stream's error as a
 * bare JSON object, not as "data:") are collected as a RAW event, delivered at the next blank line
 * or at the end, so the protocol layer can look for {"error":...} in them.
 *
 * No allocation per event beyond growing two buffers; events above max_event bytes fail the feed.
 * Thread safety: one parser per stream, one thread at a time. Portable C11, no I/O. */
#ifndef GR_CLOUD_SSE_H
#define GR_CLOUD_SSE_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum gr_sse_kind {
    GR_SSE_DATA = 0, /* a dispatched event; `event` is its type ("message" when none was given) */
    GR_SSE_RAW       /* non-SSE lines (joined with "\n"), e.g. a bare JSON error object */
} gr_sse_kind;

/* data is NUL-terminated (len excludes the NUL). Return non-zero to stop: feed() then returns
 * GR_E_CANCELLED. */
typedef int (*gr_sse_fn)(void *user, gr_sse_kind kind, const char *event, const char *data,
                         size_t len);

typedef struct gr_sse {
    gr_sse_fn fn;
    void *user;
    size_t max_event; /* 0: 16 MiB */
    char *line;       /* the current, unfinished line */
    size_t line_len, line_cap;
    char *data; /* data of the event being built */
    size_t data_len, data_cap;
    bool has_data; /* at least one data line seen (an empty "data:" counts) */
    char *raw;     /* RAW lines of the event being built */
    size_t raw_len, raw_cap;
    char event[64];        /* event type of the event being built */
    bool after_cr;         /* the last byte was CR: a following LF belongs to the same line end */
    bool bom_checked;      /* a UTF-8 BOM at the very start is skipped */
    gr_status fail_status; /* sticky error of an earlier feed */
} gr_sse;

void gr_sse_init(gr_sse *p, gr_sse_fn fn, void *user);
/* GR_OK, GR_E_CANCELLED (callback stop), GR_E_FORMAT (event too large), GR_E_NOMEM. After an
 * error every further feed fails the same way. */
gr_status gr_sse_feed(gr_sse *p, const void *bytes, size_t len);
/* End of the stream: an unfinished last line is processed and a pending event is dispatched (a body
 * that ends without the final blank line still yields its last event, as the openai client does).
 */
gr_status gr_sse_finish(gr_sse *p);
void gr_sse_free(gr_sse *p);

#endif
