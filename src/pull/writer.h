/* writer.h — the back half of a download: a ring of buffers that the transfer thread fills, one
 * thread hashing them and one writing them to the partial file. Three stages on three threads, so
 * a disk stall (writeback on a busy VM disk can block a write for tens of milliseconds) holds up
 * neither the network nor the hash, and the hash (SHA-256, the slowest stage at ~2 GB/s) never
 * waits for the disk. Buffers are hashed and written strictly in submission order.
 * Must not know anything about HTTP. Thread safety: one producer thread per writer. */
#ifndef GR_PULL_WRITER_H
#define GR_PULL_WRITER_H

#include "gemrun.h"
#include "pull/sha256.h"

#include <stddef.h>
#include <stdint.h>

typedef struct gr_pull_writer gr_pull_writer;

/* hash is updated by the hash thread: the caller must not touch it unless drained. */
gr_status gr_pull_writer_new(int fd, gr_sha256 *hash, size_t buf_size, gr_pull_writer **out, char *err,
                             size_t errlen);
void gr_pull_writer_free(gr_pull_writer *w); /* drains first */
uint8_t *gr_pull_writer_buf(gr_pull_writer *w); /* the buffer to fill (buf_size bytes) */
/* Hand over len bytes of the fill buffer, to be hashed and written at file offset `at`; the next
 * ring buffer becomes the fill buffer (this waits until both stages are done with it). Write errors
 * surface here or in drain, as GR_E_IO with *ok_end = the file offset up to which bytes reached the
 * file; after one, nothing more is written. */
gr_status gr_pull_writer_submit(gr_pull_writer *w, size_t len, uint64_t at, uint64_t *ok_end, char *err,
                                size_t errlen);
/* Wait until every submitted buffer is hashed and written; the write error, if any (as above). */
gr_status gr_pull_writer_drain(gr_pull_writer *w, uint64_t *ok_end, char *err, size_t errlen);

#endif
