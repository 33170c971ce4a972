/* check.h — judge a model from the first bytes of its download: is it a GGUF, of an architecture we
 * run, and does it fit this machine's fit plan? So a wrong file is rejected after a few MB, not after
 * several GB. gr_gguf_peek walks the header (metadata and tensor infos) of a prefix with every
 * length bounds-checked, to learn how many bytes the header needs; once they are in, the header is
 * parsed by the real reader (gr_gguf_open_memory) over a lazily-mapped zero buffer of the file's
 * full size, whose untouched pages cost nothing.
 * Must not touch the network. Thread safety: reentrant. */
#ifndef GR_PULL_CHECK_H
#define GR_PULL_CHECK_H

#include "gemrun.h"
#include "layer/plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest header (metadata + tensor infos) we accept: vocabularies of 262k tokens take ~15 MB. */
#define GR_GGUF_PEEK_MAX (256u << 20)

typedef struct gr_gguf_peek {
    bool complete;     /* the whole header lies inside the prefix */
    uint64_t header;   /* complete: bytes of the header (up to the end of the tensor infos) */
    uint64_t need;     /* not complete: try again with at least this many bytes */
} gr_gguf_peek;

/* GR_OK with *out filled (complete or not); GR_E_FORMAT when the prefix cannot start a GGUF v2/v3
 * file (bad magic, version, impossible counts or lengths, header over GR_GGUF_PEEK_MAX). */
gr_status gr_gguf_peek_scan(const void *data, size_t len, gr_gguf_peek *out, char *err, size_t errlen);

typedef struct gr_model_check {
    uint64_t budget;    /* memory for the fit plan; 0: this machine's available RAM */
    bool skip_fit;      /* check the format and architecture only */
} gr_model_check;

/* Judge a complete header (prefix[0..len) holds at least peek.header bytes) of a file of file_size
 * bytes. GR_E_FORMAT (not a valid GGUF), GR_E_UNSUPPORTED (architecture not run here, or the fit
 * plan says it cannot fit: the message carries the plan's reason). *plan (may be NULL) gets the
 * plan. */
gr_status gr_model_check_header(const void *prefix, size_t len, uint64_t file_size,
                                const gr_model_check *opt, gr_fit_plan *plan, char *err, size_t errlen);

#endif
