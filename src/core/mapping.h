/* mapping.h — read-only memory mapping of a whole file (weights are used in place from it). */
#ifndef GR_CORE_MAPPING_H
#define GR_CORE_MAPPING_H

#include "gemrun.h"
#include <stddef.h>

typedef struct gr_mapping {
    const void *data; /* NULL for an empty file */
    size_t size;
} gr_mapping;

gr_status gr_mapping_open(const char *path, gr_mapping *m, char *err, size_t errlen);
void gr_mapping_close(gr_mapping *m);

#endif
