/* writer.c — the hash-and-write thread of a download (see writer.h). One job in flight at a time:
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
    uint64_t job_at;
    /* the last failure (guarded by mu) */
    int err_no;
    uint64_t ok_end;
};

static void run_job(gr_pull_writer *w, const uint8_t *p, size_t len, uint64_t at) {
    gr_sha256_update(w->hash, p, len);
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(w->fd, p + done, len - done, (off_t)(at + done));
        if (n <= 0) {
            pthread_mutex_lock(&w->mu);
            w->err_no = n < 0 ? errno : ENOSPC, w->ok_end = at + done;
            pthread_mutex_unlock(&w->mu);
            return;
        }
        done += (size_t)n;
    }
    /* start writeback now, so the fsync before the final rename has little left */
    sync_file_range(w->fd, (off_t)at, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

static void *main_loop(void *arg) {
    gr_pull_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->busy) break;
        const uint8_t *p = w->job;
        size_t len = w->job_len;
        uint64_t at = w->job_at;
        bool failed = w->err_no != 0; /* after a failure, write nothing more */
        pthread_mutex_unlock(&w->mu);
        if (!failed) run_job(w, p, len, at);
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

static gr_status wait_idle(gr_pull_writer *w, uint64_t *ok_end, char *err, size_t errlen) {
    pthread_mutex_lock(&w->mu);
    while (w->busy) pthread_cond_wait(&w->cv, &w->mu);
    int e = w->err_no;
    if (ok_end) *ok_end = w->ok_end;
    pthread_mutex_unlock(&w->mu);
    return e ? gr_err(GR_E_IO, err, errlen, "writing the partial download: %s", strerror(e)) : GR_OK;
}

gr_status gr_pull_writer_drain(gr_pull_writer *w, uint64_t *ok_end, char *err, size_t errlen) {
    return wait_idle(w, ok_end, err, errlen);
}

gr_status gr_pull_writer_submit(gr_pull_writer *w, size_t len, uint64_t at, uint64_t *ok_end, char *err,
                                size_t errlen) {
    gr_status s = wait_idle(w, ok_end, err, errlen);
    if (s || !len) return s;
    pthread_mutex_lock(&w->mu);
    w->job = w->buf[w->fill], w->job_len = len, w->job_at = at;
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
