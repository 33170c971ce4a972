/* gemrun.h — the public C API of gemrun.
 *
 * Conventions: opaque handles with gr_ prefix; fallible calls return gr_status and, where they take
 * (char *err, size_t errlen), write a human-readable message there (err may be NULL).
 * Objects are not thread-safe unless a comment says so.
 */
#ifndef GEMRUN_H
#define GEMRUN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum gr_status {
    GR_OK = 0,
    GR_E_INVALID_ARG,   /* a parameter is out of range or NULL */
    GR_E_IO,            /* open/read/write/map failed */
    GR_E_FORMAT,        /* malformed file or data (bad magic, truncated, bad offsets) */
    GR_E_UNSUPPORTED,   /* well-formed but not supported (architecture, tensor type) */
    GR_E_NOMEM,         /* allocation failed */
    GR_E_CONTEXT_FULL,  /* prompt + generation would exceed the context window */
    GR_E_CANCELLED,     /* the cancel token was set */
    GR_E_TIMEOUT,       /* the deadline passed */
    GR_E_BUSY,          /* queue full / engine busy */
    GR_E_NOT_FOUND,     /* key, tensor, model or file missing */
    GR_E_INTERNAL,      /* a bug: an invariant did not hold */
    GR_STATUS_COUNT
} gr_status;

/* Short, static description of a status code ("format error", ...). Never NULL. */
const char *gr_status_str(gr_status s);

/* Library version string, e.g. "0.1.0". */
const char *gr_version(void);

#ifdef __cplusplus
}
#endif
#endif /* GEMRUN_H */
