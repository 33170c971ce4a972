/* test_threadpool.c — the persistent pool: every chunk of every job runs exactly once, thread
 * indices are stable and never shared by two running chunks, and a job completes even when the
 * caller has to take all chunks (workers slow to wake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/threadpool.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

enum { MAX_CHUNKS = 256, MAX_THREADS = 8 };

typedef struct job {
    atomic_int runs[MAX_CHUNKS];
    atomic_int busy[MAX_THREADS]; /* chunks currently running per thread index */
    atomic_int overlap;
    atomic_int bad_args;
    int nthreads, nchunks;
    int sleep_us;
} job;

static void chunk_fn(void *arg, int chunk, int nchunks, int thread) {
    job *j = arg;
    if (chunk < 0 || chunk >= j->nchunks || nchunks != j->nchunks || thread < 0 ||
        thread >= j->nthreads) {
        atomic_fetch_add(&j->bad_args, 1);
        return;
    }
    if (atomic_fetch_add(&j->busy[thread], 1) != 0) atomic_fetch_add(&j->overlap, 1);
    atomic_fetch_add(&j->runs[chunk], 1);
    if (j->sleep_us) usleep((useconds_t)j->sleep_us);
    atomic_fetch_sub(&j->busy[thread], 1);
}

static void run_jobs(int nthreads, int njobs, int sleep_us) {
    gr_pool *p;
    assert_int_equal(gr_pool_new(nthreads, &p), GR_OK);
    assert_int_equal(gr_pool_size(p), nthreads);
    static job j;
    for (int it = 0; it < njobs; it++) {
        memset(&j, 0, sizeof j);
        j.nthreads = nthreads;
        j.nchunks = 1 + (it * 7) % MAX_CHUNKS;
        j.sleep_us = sleep_us;
        gr_pool_run(p, chunk_fn, &j, j.nchunks);
        /* The call returned: every chunk ran exactly once, none is still running. */
        for (int c = 0; c < j.nchunks; c++) assert_int_equal(atomic_load(&j.runs[c]), 1);
        for (int c = j.nchunks; c < MAX_CHUNKS; c++) assert_int_equal(atomic_load(&j.runs[c]), 0);
        for (int t = 0; t < nthreads; t++) assert_int_equal(atomic_load(&j.busy[t]), 0);
        assert_int_equal(atomic_load(&j.overlap), 0);
        assert_int_equal(atomic_load(&j.bad_args), 0);
    }
    gr_pool_free(p);
}

static void test_single_thread(void **s) {
    (void)s;
    run_jobs(1, 50, 0);
}
static void test_many_short_jobs(void **s) {
    (void)s;
    run_jobs(2, 20000, 0);
    run_jobs(4, 5000, 0);
}
/* Jobs separated by pauses longer than the spin phase: workers go to sleep and must be woken. */
static void test_sleeping_workers(void **s) {
    (void)s;
    gr_pool *p;
    assert_int_equal(gr_pool_new(3, &p), GR_OK);
    static job j;
    for (int it = 0; it < 5; it++) {
        memset(&j, 0, sizeof j);
        j.nthreads = 3;
        j.nchunks = 6;
        j.sleep_us = 1000;
        gr_pool_run(p, chunk_fn, &j, j.nchunks);
        for (int c = 0; c < j.nchunks; c++) assert_int_equal(atomic_load(&j.runs[c]), 1);
        usleep(20000);
    }
    gr_pool_free(p);
}
/* Slow chunks with more chunks than threads: all threads take part, nothing runs twice. */
static void test_slow_chunks(void **s) {
    (void)s;
    run_jobs(MAX_THREADS, 3, 200);
}

static void test_split_range(void **s) {
    (void)s;
    for (long n = 0; n < 50; n++)
        for (int nth = 1; nth < 9; nth++) {
            long expect = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                gr_split_range(n, i, nth, &lo, &hi);
                assert_int_equal(lo, expect);
                assert_true(hi >= lo && hi - lo <= n / nth + 1);
                expect = hi;
            }
            assert_int_equal(expect, n);
        }
}

static void test_bad_size(void **s) {
    (void)s;
    gr_pool *p = (gr_pool *)1;
    assert_int_equal(gr_pool_new(0, &p), GR_E_INVALID_ARG);
    assert_null(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_thread),   cmocka_unit_test(test_many_short_jobs),
        cmocka_unit_test(test_sleeping_workers), cmocka_unit_test(test_slow_chunks),
        cmocka_unit_test(test_split_range),     cmocka_unit_test(test_bad_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
