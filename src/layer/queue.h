/* queue.h — the inference queue: a thread-safe FIFO in front of ONE exclusive engine (pattern 4).
 * Requests are served strictly in submission order by a single worker thread; every task has its own
 * cancel handle and completes exactly once. It must not run two generate() calls on one engine, lose
 * a task, or complete one twice.
 *
 * Completion: a task ends in exactly one of these ways, and its result's status says which:
 *   GR_OK            the engine finished (finish STOP or LENGTH)
 *   GR_E_CANCELLED   gr_task_cancel / gr_queue_cancel_all / gr_queue_free, or the sink asked to stop
 *                    (a running task may still end GR_OK if it finished before it saw the flag)
 *   GR_E_TIMEOUT     the request's deadline passed, while pending (never started) or while running
 *   GR_E_ABORTED     gr_queue_force_reset abandoned the engine while it ran this task
 *   GR_E_INTERNAL    no engine could be created (result.error says why)
 *   other            whatever the engine returned
 * On completion the on_done callback runs (once), then waiters wake. After on_done the sink is never
 * called again for that task, even if an abandoned engine keeps producing text.
 *
 * Threads: one worker thread (runs generate) and one reaper thread (expires pending deadlines) per
 * queue. on_done runs on whichever thread completes the task: the worker, the reaper, or the thread
 * calling gr_task_cancel / gr_queue_cancel_all / gr_queue_force_reset / gr_queue_free; it may submit,
 * cancel and release tasks, but must not wait on its own task or free the queue. The sink runs on the
 * worker thread.
 *
 * Thread safety: every function may be called from any thread at any time, except gr_queue_free,
 * which must not race with other calls on the same queue. Task handles stay valid until released,
 * even after gr_queue_free. */
#ifndef GR_LAYER_QUEUE_H
#define GR_LAYER_QUEUE_H

#include "engine/engine.h"

typedef struct gr_queue gr_queue;
typedef struct gr_task gr_task;

/* Creates a fresh engine instance; called by gr_queue_new and by every gr_queue_force_reset. */
typedef gr_status (*gr_engine_factory)(void *user, gr_engine **out, char *err, size_t errlen);
typedef void (*gr_task_done_fn)(void *user, gr_task *task);

typedef struct gr_queue_config {
    gr_engine_factory factory; /* required */
    void *factory_user;
    size_t max_pending; /* pending tasks (the running one not counted) before submit says BUSY; 0: 64 */
} gr_queue_config;

typedef struct gr_task_opts {
    gr_sink_fn sink; /* text deltas, on the worker thread; may be NULL */
    void *sink_user;
    gr_task_done_fn on_done; /* may be NULL */
    void *done_user;
} gr_task_opts;

typedef enum gr_task_state { GR_TASK_PENDING = 0, GR_TASK_RUNNING, GR_TASK_DONE } gr_task_state;

typedef struct gr_queue_status {
    uint64_t running_id; /* id of the task in generate(), 0 when idle */
    size_t depth;        /* pending tasks */
    size_t max_pending;
    uint64_t submitted, served, cancelled, timed_out, failed; /* served = completed GR_OK */
    uint64_t rejected;   /* submits refused with GR_E_BUSY */
    uint64_t resets;     /* force_reset calls */
    size_t abandoned_live; /* abandoned engines whose generate() has not returned yet */
    bool has_engine;     /* false after a factory failure, until a force_reset succeeds */
} gr_queue_status;

gr_status gr_queue_new(const gr_queue_config *cfg, gr_queue **out, char *err, size_t errlen);
/* Cancels everything (pending tasks complete CANCELLED, the running one is signalled), waits for the
 * running generate() to return, and frees the queue. If the engine is stuck, call
 * gr_queue_force_reset first: abandoned engines are left to finish on their own threads. */
void gr_queue_free(gr_queue *q);

/* Queue a request. The request is deep-copied (messages, texts, schema, feature), so the caller's
 * memory may be freed right after the call. Its deadline is the task deadline. Errors: GR_E_BUSY
 * when max_pending tasks are waiting, GR_E_INVALID_ARG for bad arguments or a queue being freed, the
 * factory's status when there is no engine. With out == NULL the task is fire-and-forget (on_done
 * still runs); otherwise *out is a handle to release with gr_task_release. */
gr_status gr_queue_submit(gr_queue *q, const gr_request *req, const gr_task_opts *opts, gr_task **out,
                          char *err, size_t errlen);

/* Cancel one task. Returns its state before the call: PENDING (removed and completed CANCELLED before
 * this returns), RUNNING (signalled; it completes when the engine returns), DONE (nothing to do). */
gr_task_state gr_task_cancel(gr_task *t);
/* Drop every pending task (each completes CANCELLED) and signal the running one. Returns the number of
 * tasks affected (pending dropped + 1 if one was running). */
size_t gr_queue_cancel_all(gr_queue *q);
/* Recover from an engine whose generate() does not return: the running task (if any) completes now
 * with GR_E_ABORTED, its engine and thread are abandoned (they clean up if generate ever returns), and
 * a fresh engine from the factory serves the pending tasks in order. Also works when idle. If the
 * factory fails, pending tasks complete with its error and submits fail until a reset succeeds. */
gr_status gr_queue_force_reset(gr_queue *q, char *err, size_t errlen);
void gr_queue_status_get(gr_queue *q, gr_queue_status *st);

uint64_t gr_task_id(const gr_task *t); /* 1, 2, 3, ... in submission order */
gr_task_state gr_task_state_of(gr_task *t);
void gr_task_wait(gr_task *t);
bool gr_task_wait_for(gr_task *t, double seconds); /* true when done */
/* The result once done (owned by the task, valid until release); NULL before. */
const gr_result *gr_task_result(gr_task *t);
void gr_task_release(gr_task *t);

#endif
