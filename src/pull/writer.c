/* writer.c — see writer.h. Buffers are numbered by submission (seq); buffer seq lives in ring slot
 * seq % NBUF and is free again once both the hash and the write stage have passed it. */
#include "pull/writer.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WB_WINDOW (16u << 20)
#define NBUF 4 /* with 2 MiB buffers: 8 MiB absorbs ~4 ms of a 2 GB/s stream per stage stall */

typedef struct slot {
    uint8_t *p;
    size_t len;
    uint64_t at;
} slot;

struct gr_pull_writer {
    pthread_t hasher, writer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    gr_sha256 *hash;
    slot ring[NBUF];
    /* guarded by mu */
    uint64_t submitted, hashed, written; /* counts of buffers */
    bool quit;
    int err_no;      /* the first write failure */
    uint64_t ok_end; /* file offset reached before it */
};

/* Write one buffer; 0 or an errno, with *ok_end = how far it got. */
static int write_slot(int fd, const slot *s, uint64_t *ok_end) {
    size_t done = 0;
    while (done < s->len) {
        ssize_t n = pwrite(fd, s->p + done, s->len - done, (off_t)(s->at + done));
        if (n <= 0) {
            *ok_end = s->at + done;
            return n < 0 ? errno : ENOSPC;
        }
        done += (size_t)n;
    }
    return 0;
}

/* One stage: take buffers in order as they are submitted; *count is that stage's progress. */
static void run_stage(gr_pull_writer *w, uint64_t *count, bool is_hash) {
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (*count == w->submitted && !w->quit) pthread_cond_wait(&w->cv, &w->mu);
        if (*count == w->submitted) break;
        slot s = w->ring[*count % NBUF];
        bool skip = !is_hash && w->err_no; /* after a write failure, write nothing more */
        pthread_mutex_unlock(&w->mu);
        uint64_t ok_end = 0;
        int e = 0;
        if (is_hash) gr_sha256_update(w->hash, s.p, s.len);
        else if (!skip) {
            e = write_slot(w->fd, &s, &ok_end);
            /* start writeback every WB_WINDOW bytes, so the fsync before the rename has little left */
            if (!e && (s.at + s.len) / WB_WINDOW != s.at / WB_WINDOW) {
                uint64_t end = (s.at + s.len) / WB_WINDOW * WB_WINDOW;
                uint64_t start = end >= WB_WINDOW ? end - WB_WINDOW : 0;
                sync_file_range(w->fd, (off_t)start, (off_t)(end - start), SYNC_FILE_RANGE_WRITE);
            }
        }
        pthread_mutex_lock(&w->mu);
        if (e) w->err_no = e, w->ok_end = ok_end;
        (*count)++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *hash_main(void *arg) {
    gr_pull_writer *w = arg;
    run_stage(w, &w->hashed, true);
    return NULL;
}

static void *write_main(void *arg) {
    gr_pull_writer *w = arg;
    run_stage(w, &w->written, false);
    return NULL;
}

static void free_bufs(gr_pull_writer *w) {
    for (int i = 0; i < NBUF; i++) free(w->ring[i].p);
}

gr_status gr_pull_writer_new(int fd, gr_sha256 *hash, size_t buf_size, gr_pull_writer **out, char *err,
                             size_t errlen) {
    gr_pull_writer *w = calloc(1, sizeof *w);
    bool ok = w != NULL;
    for (int i = 0; ok && i < NBUF; i++) ok = (w->ring[i].p = malloc(buf_size)) != NULL;
    if (!ok) {
        if (w) free_bufs(w);
        free(w);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    w->fd = fd, w->hash = hash;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->hasher, NULL, hash_main, w) != 0) goto fail;
    if (pthread_create(&w->writer, NULL, write_main, w) != 0) {
        pthread_mutex_lock(&w->mu);
        w->quit = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->hasher, NULL);
        goto fail;
    }
    *out = w;
    return GR_OK;
fail:
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free_bufs(w);
    free(w);
    return gr_err(GR_E_INTERNAL, err, errlen, "cannot start the download threads");
}

uint8_t *gr_pull_writer_buf(gr_pull_writer *w) {
    /* the producer's own counter: no lock needed to read it */
    return w->ring[w->submitted % NBUF].p;
}

/* With mu held: the write error so far, if any. */
static gr_status failure(gr_pull_writer *w, uint64_t *ok_end, char *err, size_t errlen) {
    if (!w->err_no) return GR_OK;
    if (ok_end) *ok_end = w->ok_end;
    return gr_err(GR_E_IO, err, errlen, "writing the partial download: %s", strerror(w->err_no));
}

gr_status gr_pull_writer_drain(gr_pull_writer *w, uint64_t *ok_end, char *err, size_t errlen) {
    pthread_mutex_lock(&w->mu);
    while (w->hashed < w->submitted || w->written < w->submitted) pthread_cond_wait(&w->cv, &w->mu);
    gr_status s = failure(w, ok_end, err, errlen);
    pthread_mutex_unlock(&w->mu);
    return s;
}

gr_status gr_pull_writer_submit(gr_pull_writer *w, size_t len, uint64_t at, uint64_t *ok_end, char *err,
                                size_t errlen) {
    pthread_mutex_lock(&w->mu);
    gr_status s = failure(w, ok_end, err, errlen);
    if (!s && len) {
        slot *sl = &w->ring[w->submitted % NBUF];
        sl->len = len, sl->at = at;
        w->submitted++;
        pthread_cond_broadcast(&w->cv);
        /* the next fill buffer must be free: both stages past its previous use */
        uint64_t need = w->submitted + 1 > NBUF ? w->submitted + 1 - NBUF : 0;
        while (w->hashed < need || w->written < need) pthread_cond_wait(&w->cv, &w->mu);
        s = failure(w, ok_end, err, errlen);
    }
    pthread_mutex_unlock(&w->mu);
    return s;
}

void gr_pull_writer_free(gr_pull_writer *w) {
    if (!w) return;
    gr_pull_writer_drain(w, NULL, NULL, 0);
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->hasher, NULL);
    pthread_join(w->writer, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free_bufs(w);
    free(w);
}
