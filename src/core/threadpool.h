/* threadpool.h — persistent worker threads for the forward pass (never a thread per token).
 * gr_pool_run() splits a job into nchunks chunks and calls fn(arg, chunk, nchunks, thread) once per
 * chunk on whichever threads are running; the caller takes chunks too (thread = 0) and the call
 * returns when every chunk is done. Chunks are claimed dynamically, so a worker that the OS has
 * descheduled (2 shared cores) does not hold the job up: the others take its share.
 * `thread` is a stable index in [0, size) for per-thread scratch; two chunks never run concurrently
 * on the same thread index.
 * Thread safety: one thread at a time may call gr_pool_run on a pool. */
#ifndef GR_CORE_THREADPOOL_H
#define GR_CORE_THREADPOOL_H

#include "gemrun.h"

typedef struct gr_pool gr_pool;
typedef void (*gr_pool_fn)(void *arg, int chunk, int nchunks, int thread);

#define GR_POOL_MAX_CHUNKS 65535

/* n_threads >= 1 counts the caller; n_threads - 1 workers are started. */
gr_status gr_pool_new(int n_threads, gr_pool **out);
void gr_pool_free(gr_pool *p);
int gr_pool_size(const gr_pool *p);
/* 1 <= nchunks <= GR_POOL_MAX_CHUNKS. */
void gr_pool_run(gr_pool *p, gr_pool_fn fn, void *arg, int nchunks);

/* Split [0, n) into nth nearly equal parts; part ith is [*lo, *hi). */
void gr_split_range(long n, int ith, int nth, long *lo, long *hi);

#endif
