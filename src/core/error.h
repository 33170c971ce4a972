/* error.h — internal helpers for status codes and error messages. Portable C11, no allocation. */
#ifndef GR_CORE_ERROR_H
#define GR_CORE_ERROR_H

#include "gemrun.h"
#include <stddef.h>

#if defined(__GNUC__)
#define GR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GR_PRINTF(a, b)
#endif

/* Write a formatted message into err[errlen] (if err != NULL) and return s. Usage:
 *   return gr_err(GR_E_FORMAT, err, errlen, "tensor %s: offset out of range", name); */
gr_status gr_err(gr_status s, char *err, size_t errlen, const char *fmt, ...) GR_PRINTF(4, 5);

#endif
