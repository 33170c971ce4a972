/* threadpool.c — a spin-then-sleep pool with dynamically claimed chunks. The hot path (decode:
 * hundreds of jobs per token) takes no lock: a generation counter wakes the workers, and one 64-bit
 * word (generation | next chunk | chunk count) is claimed by compare-and-swap, so a worker that wakes
 * late can only claim chunks of the job that is current, never run a finished one. The caller waits
 * for completed chunks, not for every worker to check in. A worker sleeps only after spinning
 * SPIN_ITERS times with no new job, so idle workers cost no CPU. */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { SPIN_ITERS = 1 << 15, YIELD_AFTER = 1 << 12 };

typedef struct worker {
    gr_pool *pool;
    int ith;
} worker;

struct gr_pool {
    int n;
    pthread_t *threads;
    worker *workers;
    gr_pool_fn fn;
    void *arg;
    atomic_uint gen;
    _Atomic uint64_t claim; /* gen << 32 | next << 16 | nchunks */
    atomic_int done;        /* chunks finished in the current job */
    atomic_int stop;
    atomic_int sleepers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static unsigned wait_for_job(gr_pool *p, unsigned seen) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load(&p->gen)) == seen) {
        if (++spins < SPIN_ITERS) {
            CPU_RELAX();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->sleepers, 1);
        while (atomic_load(&p->gen) == seen) pthread_cond_wait(&p->cv, &p->mu);
        atomic_fetch_sub(&p->sleepers, 1);
        pthread_mutex_unlock(&p->mu);
        spins = 0;
    }
    return g;
}

/* Claim and run chunks of the current job until none is left. fn and arg are read only after a
 * successful claim: the job cannot finish (and be replaced) while this thread holds a chunk. */
static void run_chunks(gr_pool *p, int thread) {
    uint64_t cur = atomic_load(&p->claim);
    for (;;) {
        const unsigned next = (unsigned)(cur >> 16) & 0xFFFF, n = (unsigned)cur & 0xFFFF;
        if (next >= n) return;
        if (!atomic_compare_exchange_weak(&p->claim, &cur, cur + ((uint64_t)1 << 16))) continue;
        p->fn(p->arg, (int)next, (int)n, thread);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        cur = atomic_load(&p->claim);
    }
}

static void *worker_main(void *a) {
    worker *w = a;
    gr_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load(&p->stop)) break;
        run_chunks(p, w->ith);
    }
    return NULL;
}

static void publish(gr_pool *p) {
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

gr_status gr_pool_new(int n_threads, gr_pool **out) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024) return GR_E_INVALID_ARG;
    gr_pool *p = calloc(1, sizeof *p);
    if (!p) return GR_E_NOMEM;
    p->n = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->threads || !p->workers) {
        free(p->threads);
        free(p->workers);
        free(p);
        return GR_E_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        p->workers[i] = (worker){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]) != 0) {
            p->n = i; /* stop the ones already started */
            gr_pool_free(p);
            return GR_E_NOMEM;
        }
    }
    *out = p;
    return GR_OK;
}

int gr_pool_size(const gr_pool *p) { return p->n; }

void gr_pool_run(gr_pool *p, gr_pool_fn fn, void *arg, int nchunks) {
    if (nchunks < 1) return;
    if (nchunks > GR_POOL_MAX_CHUNKS) nchunks = GR_POOL_MAX_CHUNKS;
    if (p->n == 1 || nchunks == 1) {
        for (int i = 0; i < nchunks; i++) fn(arg, i, nchunks, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    const uint64_t g = (atomic_load(&p->gen) + 1u) & 0xFFFFFFFFu;
    atomic_store(&p->claim, g << 32 | (uint64_t)nchunks);
    publish(p);
    run_chunks(p, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < nchunks) {
        /* On an oversubscribed machine a worker may be descheduled: give it the core. */
        if (++spins > YIELD_AFTER) sched_yield();
        else CPU_RELAX();
    }
}

void gr_pool_free(gr_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    publish(p);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->workers);
    free(p);
}

void gr_split_range(long n, int ith, int nth, long *lo, long *hi) {
    long base = n / nth, rem = n % nth;
    *lo = ith * base + (ith < rem ? ith : rem);
    *hi = *lo + base + (ith < rem ? 1 : 0);
}
