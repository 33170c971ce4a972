/* writer.c — the second stage of a download (see writer.h). The transfer thread writes each buffer
 * itself and hands it to this thread only for hashing: sha256 (~2 GB/s with SHA-NI) is the longest
 * stage, and hashing and writing on one thread made that thread the bottleneck (hash + copy into the
 * page cache, ~0.21 s for 289 MB, against ~0.14 s for the hash alone). One job in flight at a time:
 * that is all the overlap two buffers allow, and it keeps the hash in file order for free. */
#include "pull/writer.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gr_pull_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    gr_sha256 *hash;
    uint8_t *buf[2];
    int fill; /* index of the buffer the producer fills */
    /* the job (guarded by mu) */
    bool busy, quit;
    const uint8_t *job;
    size_t job_len;
};

/* Write len bytes at `at` on the caller's thread; GR_E_IO with *ok_end = how far it got. */
static gr_status write_all(gr_pull_writer *w, const uint8_t *p, size_t len, uint64_t at, uint64_t *ok_end,
                           char *err, size_t errlen) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(w->fd, p + done, len - done, (off_t)(at + done));
        if (n <= 0) {
            if (ok_end) *ok_end = at + done;
            return gr_err(GR_E_IO, err, errlen, "writing the partial download: %s",
                          strerror(n < 0 ? errno : ENOSPC));
        }
        done += (size_t)n;
    }
    /* start writeback now, so the fsync before the final rename has little left */
    sync_file_range(w->fd, (off_t)at, (off_t)len, SYNC_FILE_RANGE_WRITE);
    return GR_OK;
}

static void *main_loop(void *arg) {
    gr_pull_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->busy) break;
        const uint8_t *p = w->job;
        size_t len = w->job_len;
        pthread_mutex_unlock(&w->mu);
        gr_sha256_update(w->hash, p, len);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

gr_status gr_pull_writer_new(int fd, gr_sha256 *hash, size_t buf_size, gr_pull_writer **out, char *err,
                             size_t errlen) {
    gr_pull_writer *w = calloc(1, sizeof *w);
    if (w) w->buf[0] = malloc(buf_size), w->buf[1] = malloc(buf_size);
    if (!w || !w->buf[0] || !w->buf[1]) {
        if (w) free(w->buf[0]), free(w->buf[1]);
        free(w);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    w->fd = fd, w->hash = hash;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, main_loop, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->buf[0]), free(w->buf[1]), free(w);
        return gr_err(GR_E_INTERNAL, err, errlen, "cannot start the writer thread");
    }
    *out = w;
    return GR_OK;
}

uint8_t *gr_pull_writer_buf(gr_pull_writer *w) { return w->buf[w->fill]; }

static void wait_idle(gr_pull_writer *w) {
    pthread_mutex_lock(&w->mu);
    while (w->busy) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void gr_pull_writer_drain(gr_pull_writer *w) { wait_idle(w); }

gr_status gr_pull_writer_submit(gr_pull_writer *w, size_t len, uint64_t at, uint64_t *ok_end, char *err,
                                size_t errlen) {
    if (!len) return GR_OK;
    /* the write overlaps the hash of the previous buffer */
    gr_status s = write_all(w, w->buf[w->fill], len, at, ok_end, err, errlen);
    wait_idle(w);
    if (s) return s;
    pthread_mutex_lock(&w->mu);
    w->job = w->buf[w->fill], w->job_len = len;
    w->busy = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->fill ^= 1;
    return GR_OK;
}

void gr_pull_writer_free(gr_pull_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    while (w->busy) pthread_cond_wait(&w->cv, &w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->buf[0]), free(w->buf[1]), free(w);
}
