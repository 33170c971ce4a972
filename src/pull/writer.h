/* writer.h — the background stage of a download: a thread that hashes a filled buffer and writes
 * it to the partial file while the transfer thread fills the other one (double buffering), so
 * network, sha256 and disk overlap. Buffers are hashed and written strictly in submission order.
 * Must not know anything about HTTP. Thread safety: one producer thread per writer. */
#ifndef GR_PULL_WRITER_H
#define GR_PULL_WRITER_H

#include "gemrun.h"
#include "pull/sha256.h"

#include <stddef.h>
#include <stdint.h>

typedef struct gr_pull_writer gr_pull_writer;

/* hash is updated by the writer thread: the caller must not touch it unless drained. */
gr_status gr_pull_writer_new(int fd, gr_sha256 *hash, size_t buf_size, gr_pull_writer **out, char *err,
                             size_t errlen);
void gr_pull_writer_free(gr_pull_writer *w); /* drains first */
uint8_t *gr_pull_writer_buf(gr_pull_writer *w); /* the buffer to fill (buf_size bytes) */
/* Hand over len bytes of the fill buffer, to be written at file offset `at`; the other buffer
 * becomes the fill buffer (this waits for the previous job). Errors are those of the previous job:
 * GR_E_IO, with *ok_end = the file offset up to which bytes reached the disk. */
gr_status gr_pull_writer_submit(gr_pull_writer *w, size_t len, uint64_t at, uint64_t *ok_end, char *err,
                                size_t errlen);
/* Wait until nothing is in flight; the error of the last job, if any (as above). */
gr_status gr_pull_writer_drain(gr_pull_writer *w, uint64_t *ok_end, char *err, size_t errlen);

#endif
