/* writer.h — the second stage of a download: a submitted buffer is written to the partial file on
 * the caller's thread, then hashed on a background thread while the caller fills the other one
 * (double buffering), so network + disk and sha256 overlap. Buffers are hashed strictly in
 * submission order.
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
/* Write len bytes of the fill buffer at file offset `at`, then hand them over for hashing; the other
 * buffer becomes the fill buffer (this waits for the previous hash). On a write error: GR_E_IO with
 * *ok_end = the file offset up to which bytes reached the disk, and nothing is hashed. */
gr_status gr_pull_writer_submit(gr_pull_writer *w, size_t len, uint64_t at, uint64_t *ok_end, char *err,
                                size_t errlen);
/* Wait until the hash is up to date with every submitted buffer. */
void gr_pull_writer_drain(gr_pull_writer *w);

#endif
