/* error.c — status strings and the error-message helper. Must not allocate or keep state. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

const char *gr_status_str(gr_status s) {
    static const char *const names[GR_STATUS_COUNT] = {
        [GR_OK] = "ok",
        [GR_E_INVALID_ARG] = "invalid argument",
        [GR_E_IO] = "i/o error",
        [GR_E_FORMAT] = "format error",
        [GR_E_UNSUPPORTED] = "unsupported",
        [GR_E_NOMEM] = "out of memory",
        [GR_E_CONTEXT_FULL] = "context full",
        [GR_E_CANCELLED] = "cancelled",
        [GR_E_TIMEOUT] = "timeout",
        [GR_E_BUSY] = "busy",
        [GR_E_NOT_FOUND] = "not found",
        [GR_E_INTERNAL] = "internal error",
        [GR_E_NETWORK] = "network error",
        [GR_E_AUTH] = "authentication failed",
        [GR_E_RATE_LIMITED] = "rate limited",
        [GR_E_UPSTREAM] = "upstream error",
        [GR_E_INVALID_OUTPUT] = "invalid output",
        [GR_E_INTEGRITY] = "integrity check failed",
        [GR_E_UNAVAILABLE] = "unavailable",
        [GR_E_ABORTED] = "aborted",
    };
    if ((unsigned)s >= GR_STATUS_COUNT || !names[s]) return "unknown status";
    return names[s];
}

const char *gr_version(void) { return "0.1.0"; }

gr_status gr_err(gr_status s, char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return s;
}
