/* threadpool.c — a spin-then-sleep job barrier. The hot path (decode: hundreds of jobs per token) takes
 * no lock: a generation counter publishes the job, an atomic counter collects completions. A worker
 * sleeps only after spinning SPIN_ITERS times with no new job, so idle workers cost no CPU. */
#include "core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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
    atomic_int pending;
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

static void *worker_main(void *a) {
    worker *w = a;
    gr_pool *p = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load(&p->stop)) break;
        p->fn(p->arg, w->ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
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

void gr_pool_run(gr_pool *p, gr_pool_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    publish(p);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
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
