/* file.c — see file.h. */
#include "core/file.h"

#include "core/error.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gr_status gr_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen) {
    *out = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return gr_err(errno == ENOENT ? GR_E_NOT_FOUND : GR_E_IO, err, errlen, "cannot open %s: %s", path,
                      strerror(errno));
    char *buf = max < (size_t)-2 ? malloc(max + 1) : NULL;
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool failed = ferror(f);
    fclose(f);
    if (!buf) return gr_err(GR_E_NOMEM, err, errlen, "out of memory reading %s", path);
    if (failed || n > max) {
        free(buf);
        return failed ? gr_err(GR_E_IO, err, errlen, "reading %s failed", path)
                      : gr_err(GR_E_FORMAT, err, errlen, "%s: larger than %zu bytes", path, max);
    }
    buf[n] = 0;
    *out = buf, *len = n;
    return GR_OK;
}
