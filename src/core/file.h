/* file.h — read a small whole file (configurations, schemas, manifests) into memory. */
#ifndef GR_CORE_FILE_H
#define GR_CORE_FILE_H

#include "gemrun.h"

#include <stddef.h>

/* The largest configuration file gemrun reads (router/server/cloud JSON). */
#define GR_FILE_CONFIG_MAX (4u << 20)

/* *out: the bytes plus a terminating NUL (release with free), *len: their count. GR_E_NOT_FOUND
 * when the file does not exist, GR_E_FORMAT when it is larger than max bytes, GR_E_IO otherwise;
 * the message names the path. */
gr_status gr_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

#endif
