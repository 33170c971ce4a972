/* queue.c — FIFO inference queue with per-task cancel, cancel_all, force_reset, deadlines and a bound
 * (see queue.h). Locking: q->mu guards the pending list, task states and counters; a task's own t->mu
 * guards its sink/done flags so that no sink call overlaps or follows its completion. Every task is
 * "claimed" (state -> DONE) under q->mu by exactly one party, which then completes it outside q->mu.
 * Must not call user callbacks while holding q->mu, nor block on an engine while holding any lock. */
#include "layer/queue.h"

#include "core/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

typedef struct worker {
    gr_queue *q;
    gr_engine *engine;
    pthread_t th;
    bool abandoned; /* under q->mu */
    gr_task *task;  /* the task in generate(), under q->mu */
} worker;

struct gr_task {
    gr_queue *q;
    atomic_int refs;
    uint64_t id;
    gr_task_state state;       /* under q->mu */
    gr_task *prev, *next;      /* pending list, or the completion list once claimed */
    gr_request req;            /* deep copy; pointers into arena */
    char *arena;
    gr_cancel cancel;
    gr_task_opts opts;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool closed; /* no more sink calls (under t->mu) */
    bool done;   /* result final, on_done has run (under t->mu) */
    gr_result result;
};

struct gr_queue {
    pthread_mutex_t mu;
    pthread_mutex_t reset_mu; /* serialises force_reset */
    pthread_cond_t cv_work;
    pthread_cond_t cv_reaper;
    atomic_long refs; /* owner + worker threads + live tasks */
    gr_engine_factory factory;
    void *factory_user;
    size_t max_pending;
    gr_task *head, *tail;
    size_t depth;
    worker *w; /* NULL when no engine could be created */
    pthread_t worker_th;
    pthread_t reaper_th;
    bool shutdown;
    gr_status engine_st;
    char engine_err[160];
    uint64_t next_id;
    uint64_t submitted, served, cancelled, timed_out, failed, rejected, resets;
    size_t abandoned_live;
};

/* ---- references -------------------------------------------------------------------------------- */

static void queue_unref(gr_queue *q) {
    if (atomic_fetch_sub(&q->refs, 1) != 1) return;
    pthread_cond_destroy(&q->cv_reaper);
    pthread_cond_destroy(&q->cv_work);
    pthread_mutex_destroy(&q->reset_mu);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static void task_unref(gr_task *t) {
    if (atomic_fetch_sub(&t->refs, 1) != 1) return;
    gr_queue *q = t->q;
    gr_result_clear(&t->result);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->arena);
    free(t);
    queue_unref(q);
}

static void cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

static struct timespec abs_monotonic(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* ---- pending list (under q->mu) ---------------------------------------------------------------- */

static void list_remove(gr_queue *q, gr_task *t) {
    if (t->prev) t->prev->next = t->next;
    else q->head = t->next;
    if (t->next) t->next->prev = t->prev;
    else q->tail = t->prev;
    t->prev = t->next = NULL;
    q->depth--;
}

static void list_append(gr_queue *q, gr_task *t) {
    t->prev = q->tail;
    t->next = NULL;
    if (q->tail) q->tail->next = t;
    else q->head = t;
    q->tail = t;
    q->depth++;
}

/* Claimed tasks waiting to be completed outside q->mu, each with the status to complete with. */
typedef struct claimed {
    gr_task *head;
} claimed;

static void claim(claimed *c, gr_task *t, gr_status why) {
    t->state = GR_TASK_DONE;
    t->result.status = why; /* only the completer touches t->result until completion */
    t->next = c->head;
    t->prev = NULL;
    c->head = t;
}

static void count_status(gr_queue *q, gr_status s) {
    if (s == GR_OK) q->served++;
    else if (s == GR_E_CANCELLED) q->cancelled++;
    else if (s == GR_E_TIMEOUT) q->timed_out++;
    else q->failed++;
}

/* ---- completion (never under q->mu) ------------------------------------------------------------ */

/* Install the final result, run on_done, wake waiters, drop the queue's reference. */
static void complete(gr_task *t, gr_result *r) {
    pthread_mutex_lock(&t->mu);
    t->closed = true;
    t->result = *r;
    pthread_mutex_unlock(&t->mu);
    if (t->opts.on_done) t->opts.on_done(t->opts.done_user, t);
    pthread_mutex_lock(&t->mu);
    t->done = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    task_unref(t);
}

static void complete_claimed(claimed *c, const char *msg) {
    gr_task *t = c->head;
    while (t) {
        gr_task *nx = t->next;
        t->next = NULL;
        gr_result r = {0};
        r.status = t->result.status;
        r.finish = gr_finish_for_status(r.status, false);
        snprintf(r.error, sizeof r.error, "%s", msg ? msg : gr_status_str(r.status));
        complete(t, &r);
        t = nx;
    }
    c->head = NULL;
}

/* The sink the engine sees: forwards to the caller's sink until the task is closed. */
static int sink_guard(void *user, const char *delta, size_t len) {
    gr_task *t = user;
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    if (t->closed) rc = 1;
    else if (t->opts.sink) rc = t->opts.sink(t->opts.sink_user, delta, len);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* ---- worker ------------------------------------------------------------------------------------ */

/* Runs one task outside q->mu; returns with q->mu held. Returns false if this worker was abandoned. */
static bool run_task(worker *w, gr_task *t) {
    gr_queue *q = w->q;
    pthread_mutex_unlock(&q->mu);
    gr_result r = {0};
    gr_status s = gr_engine_generate(w->engine, &t->req, sink_guard, t, &t->cancel, &r);
    r.status = s;
    pthread_mutex_lock(&q->mu);
    if (w->abandoned) { /* force_reset already completed this task */
        gr_result_clear(&r);
        return false;
    }
    w->task = NULL;
    t->state = GR_TASK_DONE;
    count_status(q, s);
    pthread_mutex_unlock(&q->mu);
    if (s != GR_OK && !r.error[0]) snprintf(r.error, sizeof r.error, "%s", gr_status_str(s));
    complete(t, &r);
    task_unref(t); /* the worker's reference */
    pthread_mutex_lock(&q->mu);
    return true;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    gr_queue *q = w->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!w->abandoned && !q->shutdown && !q->head) pthread_cond_wait(&q->cv_work, &q->mu);
        if (w->abandoned || q->shutdown) break;
        gr_task *t = q->head;
        list_remove(q, t);
        t->state = GR_TASK_RUNNING;
        w->task = t;
        atomic_fetch_add(&t->refs, 1);
        if (!run_task(w, t)) break;
    }
    bool abandoned = w->abandoned;
    gr_task *stuck = w->task;
    if (abandoned) q->abandoned_live--;
    pthread_mutex_unlock(&q->mu);
    if (stuck) task_unref(stuck);
    gr_engine_destroy(w->engine);
    free(w);
    queue_unref(q);
    return NULL;
}

/* Create an engine and its worker thread; on success q->w is set (caller holds reset_mu). */
static gr_status start_worker(gr_queue *q, char *err, size_t errlen) {
    gr_engine *e = NULL;
    char msg[160] = "";
    gr_status st = q->factory(q->factory_user, &e, msg, sizeof msg);
    if (st == GR_OK && !e) st = gr_err(GR_E_INTERNAL, msg, sizeof msg, "engine factory returned no engine");
    worker *w = NULL;
    if (st == GR_OK) {
        w = calloc(1, sizeof *w);
        if (!w) st = gr_err(GR_E_NOMEM, msg, sizeof msg, "out of memory");
    }
    pthread_mutex_lock(&q->mu);
    if (st == GR_OK) {
        w->q = q;
        w->engine = e;
        atomic_fetch_add(&q->refs, 1);
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            atomic_fetch_sub(&q->refs, 1);
            st = gr_err(GR_E_INTERNAL, msg, sizeof msg, "cannot start the worker thread");
        }
    }
    if (st == GR_OK) {
        q->w = w;
        q->worker_th = w->th;
        q->engine_st = GR_OK;
        q->engine_err[0] = 0;
    } else {
        q->w = NULL;
        q->engine_st = st;
        snprintf(q->engine_err, sizeof q->engine_err, "no engine: %.140s", msg[0] ? msg : gr_status_str(st));
    }
    pthread_mutex_unlock(&q->mu);
    if (st != GR_OK) {
        free(w);
        gr_engine_destroy(e);
        return gr_err(st, err, errlen, "no engine: %s", msg[0] ? msg : gr_status_str(st));
    }
    return GR_OK;
}

/* ---- reaper: expires pending tasks whose deadline passed --------------------------------------- */

static void *reaper_main(void *arg) {
    gr_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    while (!q->shutdown) {
        double now = gr_now(), next = 0;
        claimed c = {0};
        for (gr_task *t = q->head; t;) {
            gr_task *nx = t->next;
            double d = t->req.deadline;
            if (d > 0 && d <= now) {
                list_remove(q, t);
                q->timed_out++;
                claim(&c, t, GR_E_TIMEOUT);
            } else if (d > 0 && (next == 0 || d < next)) {
                next = d;
            }
            t = nx;
        }
        if (c.head) {
            pthread_mutex_unlock(&q->mu);
            complete_claimed(&c, "deadline passed while waiting in the queue");
            pthread_mutex_lock(&q->mu);
            continue;
        }
        if (next > 0) {
            struct timespec ts = abs_monotonic(next);
            pthread_cond_timedwait(&q->cv_reaper, &q->mu, &ts);
        } else {
            pthread_cond_wait(&q->cv_reaper, &q->mu);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---- public API -------------------------------------------------------------------------------- */

gr_status gr_queue_new(const gr_queue_config *cfg, gr_queue **out, char *err, size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_queue_new: NULL out");
    *out = NULL;
    if (!cfg || !cfg->factory) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_queue_new: factory is required");
    gr_queue *q = calloc(1, sizeof *q);
    if (!q) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->reset_mu, NULL);
    pthread_cond_init(&q->cv_work, NULL);
    cond_init_monotonic(&q->cv_reaper);
    atomic_init(&q->refs, 1);
    q->factory = cfg->factory;
    q->factory_user = cfg->factory_user;
    q->max_pending = cfg->max_pending ? cfg->max_pending : 64;
    gr_status st = start_worker(q, err, errlen);
    if (st != GR_OK) {
        queue_unref(q);
        return st;
    }
    if (pthread_create(&q->reaper_th, NULL, reaper_main, q) != 0) {
        pthread_mutex_lock(&q->mu);
        q->shutdown = true;
        pthread_cond_broadcast(&q->cv_work);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->worker_th, NULL);
        queue_unref(q);
        return gr_err(GR_E_INTERNAL, err, errlen, "cannot start the reaper thread");
    }
    *out = q;
    return GR_OK;
}

void gr_queue_free(gr_queue *q) {
    if (!q) return;
    claimed c = {0};
    pthread_mutex_lock(&q->mu);
    q->shutdown = true;
    while (q->head) {
        gr_task *t = q->head;
        list_remove(q, t);
        q->cancelled++;
        claim(&c, t, GR_E_CANCELLED);
    }
    bool have_worker = q->w != NULL;
    if (q->w && q->w->task) gr_cancel_set(&q->w->task->cancel);
    pthread_cond_broadcast(&q->cv_work);
    pthread_cond_broadcast(&q->cv_reaper);
    pthread_mutex_unlock(&q->mu);
    complete_claimed(&c, "queue shut down");
    if (have_worker) pthread_join(q->worker_th, NULL);
    pthread_join(q->reaper_th, NULL);
    queue_unref(q);
}

/* Copy a string into the arena cursor (NULL stays NULL). */
static const char *arena_str(char **p, const char *s) {
    if (!s) return NULL;
    size_t l = strlen(s) + 1;
    memcpy(*p, s, l);
    const char *r = *p;
    *p += l;
    return r;
}

/* Copy the request into one allocation owned by the task: the message, image and stop-pointer
 * arrays first (pointer-aligned), then every string. */
static gr_status copy_request(gr_task *t, const gr_request *req) {
    size_t n_img = 0;
    for (size_t i = 0; i < req->n_messages; i++) n_img += req->messages[i].images ? req->messages[i].n_images : 0;
    size_t n = req->n_messages * sizeof(gr_message) + n_img * sizeof(gr_image) + req->n_stop * sizeof(char *);
    for (size_t i = 0; i < req->n_messages; i++) {
        const gr_message *m = &req->messages[i];
        n += strlen(m->text ? m->text : "") + 1;
        for (size_t k = 0; m->images && k < m->n_images; k++)
            n += strlen(m->images[k].mime_type ? m->images[k].mime_type : "") +
                 strlen(m->images[k].base64 ? m->images[k].base64 : "") + 2;
    }
    for (size_t i = 0; i < req->n_stop; i++) n += strlen(req->stop[i] ? req->stop[i] : "") + 1;
    if (req->output.schema) n += strlen(req->output.schema) + 1;
    if (req->feature) n += strlen(req->feature) + 1;
    t->arena = malloc(n ? n : 1);
    if (!t->arena) return GR_E_NOMEM;
    t->req = *req;
    gr_message *msgs = (gr_message *)(void *)t->arena;
    gr_image *imgs = (gr_image *)(void *)(msgs + req->n_messages);
    const char **stops = (const char **)(void *)(imgs + n_img);
    char *p = (char *)(stops + req->n_stop);
    for (size_t i = 0; i < req->n_messages; i++) {
        const gr_message *m = &req->messages[i];
        msgs[i] = (gr_message){m->role, arena_str(&p, m->text ? m->text : ""), NULL, 0};
        if (!m->images || !m->n_images) continue;
        msgs[i].images = imgs, msgs[i].n_images = m->n_images;
        for (size_t k = 0; k < m->n_images; k++, imgs++) {
            imgs->mime_type = arena_str(&p, m->images[k].mime_type ? m->images[k].mime_type : "");
            imgs->base64 = arena_str(&p, m->images[k].base64 ? m->images[k].base64 : "");
        }
    }
    for (size_t i = 0; i < req->n_stop; i++) stops[i] = arena_str(&p, req->stop[i] ? req->stop[i] : "");
    t->req.messages = req->n_messages ? msgs : NULL;
    t->req.stop = req->n_stop ? stops : NULL;
    t->req.output.schema = arena_str(&p, req->output.schema);
    t->req.feature = arena_str(&p, req->feature);
    return GR_OK;
}

static gr_task *task_new(gr_queue *q, const gr_request *req, const gr_task_opts *opts) {
    gr_task *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (copy_request(t, req) != GR_OK) {
        free(t);
        return NULL;
    }
    t->q = q;
    if (opts) t->opts = *opts;
    gr_cancel_init(&t->cancel);
    t->cancel.deadline = req->deadline;
    pthread_mutex_init(&t->mu, NULL);
    cond_init_monotonic(&t->cv);
    return t;
}

gr_status gr_queue_submit(gr_queue *q, const gr_request *req, const gr_task_opts *opts, gr_task **out,
                          char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!q || !req) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_queue_submit: NULL argument");
    if (req->n_messages && !req->messages)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_queue_submit: messages is NULL");
    if (req->deadline != req->deadline) return gr_err(GR_E_INVALID_ARG, err, errlen, "request.deadline is NaN");
    gr_task *t = task_new(q, req, opts);
    if (!t) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    pthread_mutex_lock(&q->mu);
    gr_status st = GR_OK;
    if (q->shutdown) {
        st = gr_err(GR_E_INVALID_ARG, err, errlen, "queue is shutting down");
    } else if (!q->w) {
        st = gr_err(q->engine_st, err, errlen, "%s", q->engine_err);
    } else if (q->depth >= q->max_pending) {
        q->rejected++;
        st = gr_err(GR_E_BUSY, err, errlen, "queue full: %zu requests waiting", q->depth);
    }
    if (st != GR_OK) {
        pthread_mutex_unlock(&q->mu);
        pthread_cond_destroy(&t->cv);
        pthread_mutex_destroy(&t->mu);
        free(t->arena);
        free(t);
        return st;
    }
    atomic_fetch_add(&q->refs, 1);
    atomic_init(&t->refs, out ? 2 : 1);
    t->id = ++q->next_id;
    t->state = GR_TASK_PENDING;
    q->submitted++;
    list_append(q, t);
    pthread_cond_signal(&q->cv_work);
    if (req->deadline > 0) pthread_cond_signal(&q->cv_reaper);
    if (out) *out = t;
    pthread_mutex_unlock(&q->mu);
    return GR_OK;
}

gr_task_state gr_task_cancel(gr_task *t) {
    if (!t) return GR_TASK_DONE;
    gr_queue *q = t->q;
    pthread_mutex_lock(&q->mu);
    gr_task_state prev = t->state;
    claimed c = {0};
    if (prev == GR_TASK_PENDING) {
        list_remove(q, t);
        q->cancelled++;
        claim(&c, t, GR_E_CANCELLED);
    } else if (prev == GR_TASK_RUNNING) {
        gr_cancel_set(&t->cancel);
    }
    pthread_mutex_unlock(&q->mu);
    complete_claimed(&c, "cancelled while waiting in the queue");
    return prev;
}

size_t gr_queue_cancel_all(gr_queue *q) {
    if (!q) return 0;
    claimed c = {0};
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    while (q->head) {
        gr_task *t = q->head;
        list_remove(q, t);
        q->cancelled++;
        claim(&c, t, GR_E_CANCELLED);
        n++;
    }
    if (q->w && q->w->task) {
        gr_cancel_set(&q->w->task->cancel);
        n++;
    }
    pthread_mutex_unlock(&q->mu);
    complete_claimed(&c, "cancelled by cancel_all");
    return n;
}

gr_status gr_queue_force_reset(gr_queue *q, char *err, size_t errlen) {
    if (!q) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_queue_force_reset: NULL queue");
    pthread_mutex_lock(&q->reset_mu);
    claimed c = {0};
    pthread_mutex_lock(&q->mu);
    q->resets++;
    worker *old = q->w;
    if (old) {
        old->abandoned = true;
        q->abandoned_live++;
        if (old->task) { /* its generate() may never return: complete the task now */
            gr_cancel_set(&old->task->cancel);
            q->failed++;
            claim(&c, old->task, GR_E_ABORTED);
        }
        pthread_detach(old->th);
        q->w = NULL;
        pthread_cond_broadcast(&q->cv_work);
    }
    pthread_mutex_unlock(&q->mu);
    complete_claimed(&c, "engine abandoned by force_reset while running this task");
    gr_status st = start_worker(q, err, errlen);
    if (st != GR_OK) { /* nothing can serve the pending tasks: fail them with the factory's error */
        pthread_mutex_lock(&q->mu);
        while (q->head) {
            gr_task *t = q->head;
            list_remove(q, t);
            q->failed++;
            claim(&c, t, st);
        }
        char msg[160];
        snprintf(msg, sizeof msg, "%s", q->engine_err);
        pthread_mutex_unlock(&q->mu);
        complete_claimed(&c, msg);
    }
    pthread_mutex_unlock(&q->reset_mu);
    return st;
}

void gr_queue_status_get(gr_queue *q, gr_queue_status *st) {
    memset(st, 0, sizeof *st);
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    st->running_id = q->w && q->w->task ? q->w->task->id : 0;
    st->depth = q->depth;
    st->max_pending = q->max_pending;
    st->submitted = q->submitted;
    st->served = q->served;
    st->cancelled = q->cancelled;
    st->timed_out = q->timed_out;
    st->failed = q->failed;
    st->rejected = q->rejected;
    st->resets = q->resets;
    st->abandoned_live = q->abandoned_live;
    st->has_engine = q->w != NULL;
    pthread_mutex_unlock(&q->mu);
}

uint64_t gr_task_id(const gr_task *t) { return t ? t->id : 0; }

gr_task_state gr_task_state_of(gr_task *t) {
    pthread_mutex_lock(&t->q->mu);
    gr_task_state s = t->state;
    pthread_mutex_unlock(&t->q->mu);
    return s;
}

void gr_task_wait(gr_task *t) {
    pthread_mutex_lock(&t->mu);
    while (!t->done) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

bool gr_task_wait_for(gr_task *t, double seconds) {
    struct timespec ts = abs_monotonic(gr_now() + (seconds > 0 ? seconds : 0));
    pthread_mutex_lock(&t->mu);
    while (!t->done) {
        if (pthread_cond_timedwait(&t->cv, &t->mu, &ts) != 0) break;
    }
    bool done = t->done;
    pthread_mutex_unlock(&t->mu);
    return done;
}

const gr_result *gr_task_result(gr_task *t) {
    pthread_mutex_lock(&t->mu);
    const gr_result *r = t->done ? &t->result : NULL;
    pthread_mutex_unlock(&t->mu);
    return r;
}

void gr_task_release(gr_task *t) {
    if (t) task_unref(t);
}
