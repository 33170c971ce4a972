/* jarray.h — incremental splitter for Gemini's JSON-array stream (streamGenerateContent without
 * alt=sse): the body is one JSON array written element by element, pretty-printed, so it cannot be
 * read line by line. Like Google's own REST helper, it requires '[' as the first non-space byte,
 * then cuts each top-level element by brace/bracket depth while tracking strings and escapes,
 * skipping the commas and whitespace between elements. Each element is handed over as its own text
 * to be parsed by json.h. A bare {"error":...} object instead of an array is handed over whole too,
 * so errors sent in either shape reach the caller. Bytes may be split anywhere. Portable C11, no
 * I/O. */
#ifndef GR_CLOUD_JARRAY_H
#define GR_CLOUD_JARRAY_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>

/* Return non-zero to stop (feed then returns GR_E_CANCELLED). */
typedef int (*gr_jarray_fn)(void *user, const char *elem, size_t len);

typedef struct gr_jarray {
    gr_jarray_fn fn;
    void *user;
    size_t max_elem; /* 0: 16 MiB */
    int state; /* 0 before '[', 1 between elements, 2 inside an element, 3 after ']', 4 bare object
                */
    int depth;
    bool in_str, esc;
    char *buf;
    size_t len, cap;
    gr_status fail_status;
} gr_jarray;

void gr_jarray_init(gr_jarray *a, gr_jarray_fn fn, void *user);
/* GR_OK; GR_E_FORMAT for bytes that cannot be such a stream (or an element above max_elem);
 * GR_E_CANCELLED; GR_E_NOMEM. Errors are sticky. */
gr_status gr_jarray_feed(gr_jarray *a, const void *bytes, size_t len);
/* End of body: GR_OK only if the array was closed (or a bare object was complete). */
gr_status gr_jarray_finish(gr_jarray *a);
void gr_jarray_free(gr_jarray *a);

#endif
