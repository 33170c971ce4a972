/* threadpool.h — persistent worker threads for the forward pass (never a thread per token).
 * gr_pool_run() runs fn(arg, ith, nth) on every thread, the caller being ith = 0, and returns when all
 * have finished. Workers spin briefly between jobs, then sleep on a condition variable.
 * Thread safety: one thread at a time may call gr_pool_run on a pool. */
#ifndef GR_CORE_THREADPOOL_H
#define GR_CORE_THREADPOOL_H

#include "gemrun.h"

typedef struct gr_pool gr_pool;
typedef void (*gr_pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1 counts the caller; n_threads - 1 workers are started. */
gr_status gr_pool_new(int n_threads, gr_pool **out);
void gr_pool_free(gr_pool *p);
int gr_pool_size(const gr_pool *p);
void gr_pool_run(gr_pool *p, gr_pool_fn fn, void *arg);

/* Split [0, n) into nth nearly equal parts; part ith is [*lo, *hi). */
void gr_split_range(long n, int ith, int nth, long *lo, long *hi);

#endif
