/* test_queue.c — the inference queue with the fake engine: FIFO order under 8 submitting threads,
 * per-task cancel (pending and running), cancel_all, deadlines (pending and running), the BUSY bound,
 * force_reset of a hung engine, factory failure, sink stop, shutdown with pending tasks, and a stress run
 * (1,000 tasks, 8 threads, random cancels, cancel_alls and a force_reset) checking that every task
 * completes exactly once with a status it is allowed to have and that the queue ends empty.
 * Run it under TSan (-DGR_TSAN=ON) and ASan too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/error.h"
#include "engine/engine_fake.h"
#include "layer/queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

typedef struct fixture {
    gr_fake_config cfg;
    atomic_int factory_calls;
    atomic_int fail_calls; /* the next this-many factory calls fail */
    gr_engine *engine;     /* the last one made (read after a task completed: ordered by it) */
} fixture;

static gr_status factory(void *user, gr_engine **out, char *err, size_t errlen) {
    fixture *fx = user;
    atomic_fetch_add(&fx->factory_calls, 1);
    if (atomic_load(&fx->fail_calls) > 0) {
        atomic_fetch_sub(&fx->fail_calls, 1);
        return gr_err(GR_E_IO, err, errlen, "fake factory failure");
    }
    gr_status s = gr_fake_engine_new(&fx->cfg, out, err, errlen);
    if (s == GR_OK) fx->engine = *out;
    return s;
}

static gr_queue *new_queue(fixture *fx, size_t max_pending) {
    gr_queue_config qc = {factory, fx, max_pending};
    gr_queue *q = NULL;
    char err[200];
    gr_status st = gr_queue_new(&qc, &q, err, sizeof err);
    if (st != GR_OK) fail_msg("gr_queue_new: %s", err);
    return q;
}

typedef struct req_buf {
    gr_message msg;
    gr_request req;
} req_buf;

static const gr_request *make_req(req_buf *b, const char *text, int max_tokens, double deadline) {
    b->msg = (gr_message){.role = GR_ROLE_USER, .text = text};
    b->req = (gr_request){0};
    b->req.messages = &b->msg;
    b->req.n_messages = 1;
    b->req.max_tokens = max_tokens;
    b->req.deadline = deadline;
    return &b->req;
}

static gr_task *submit(gr_queue *q, const char *text, int max_tokens, double deadline, const gr_task_opts *o) {
    req_buf b;
    gr_task *t = NULL;
    char err[200];
    gr_status st = gr_queue_submit(q, make_req(&b, text, max_tokens, deadline), o, &t, err, sizeof err);
    if (st != GR_OK) fail_msg("submit: %s", err);
    return t;
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000.0 * (long)(ms / 1000)) * 1e6)};
    nanosleep(&ts, NULL);
}

/* Wait until the task is running (polling; the fake engine starts within microseconds). */
static void wait_running(gr_task *t) {
    for (int i = 0; i < 5000 && gr_task_state_of(t) != GR_TASK_RUNNING; i++) sleep_ms(1);
    assert_int_equal(gr_task_state_of(t), GR_TASK_RUNNING);
}

/* ---- basics ------------------------------------------------------------------------------------ */

typedef struct collect {
    char buf[512];
    size_t len;
    int calls;
    int stop_after; /* return 1 after this many deltas (0 = never) */
} collect;

static int collect_sink(void *user, const char *d, size_t n) {
    collect *c = user;
    if (c->len + n < sizeof c->buf) {
        memcpy(c->buf + c->len, d, n);
        c->len += n;
        c->buf[c->len] = 0;
    }
    c->calls++;
    return c->stop_after && c->calls >= c->stop_after;
}

static void done_flag(void *user, gr_task *t) {
    (void)t;
    atomic_store((atomic_int *)user, 1);
}

static void test_basic(void **state) {
    (void)state;
    fixture fx = {0};
    gr_queue *q = new_queue(&fx, 0);
    collect c = {0};
    atomic_int cb = 0;
    gr_task_opts o = {collect_sink, &c, done_flag, &cb};
    gr_task *t = submit(q, "hello there world", 5, 0, &o);
    assert_int_equal(gr_task_id(t), 1);
    gr_task_wait(t);
    assert_int_equal(atomic_load(&cb), 1); /* on_done ran before the waiter woke */
    const gr_result *r = gr_task_result(t);
    assert_non_null(r);
    assert_int_equal(r->status, GR_OK);
    assert_int_equal(r->finish, GR_FINISH_LENGTH);
    assert_int_equal(r->usage.completion_tokens, 5);
    assert_int_equal(r->usage.prompt_tokens, 3 + 3);
    assert_string_equal(r->engine, "fake");
    assert_string_equal(r->model, "fake-1");
    assert_int_equal(c.calls, 5);
    assert_int_equal(r->text_len, c.len); /* the deltas add up to the text */
    assert_memory_equal(r->text, c.buf, c.len);
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.served, 1);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.running_id, 0);
    assert_true(st.has_engine);
    gr_task_release(t);
    gr_queue_free(q);
    /* bad arguments */
    char err[100];
    gr_queue_config bad = {0};
    gr_queue *q2;
    assert_int_equal(gr_queue_new(&bad, &q2, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "factory"));
}

/* The request is the caller's only until submit returns: texts and images are copied. */
static void test_request_copied(void **state) {
    (void)state;
    fixture fx = {0};
    gr_queue *q = new_queue(&fx, 0);
    char text[] = "look at these", mime[] = "image/png", data[] = "iVBORw0KGgo=";
    gr_image im[2] = {{mime, data}, {"image/jpeg", "/9j/4AAQ"}};
    gr_message m[2] = {{.role = GR_ROLE_SYSTEM, .text = "sys"},
                       {.role = GR_ROLE_USER, .text = text, .images = im, .n_images = 2}};
    gr_request rq = {.messages = m, .n_messages = 2, .max_tokens = 2};
    gr_task *t = NULL;
    assert_int_equal(gr_queue_submit(q, &rq, NULL, &t, NULL, 0), GR_OK);
    memset(text, 'X', sizeof text - 1), memset(mime, 'X', sizeof mime - 1);
    memset(data, 'X', sizeof data - 1);
    im[1] = (gr_image){NULL, NULL};
    m[1].n_images = 0;
    gr_task_wait(t);
    assert_int_equal(gr_task_result(t)->status, GR_OK);
    char *tr = NULL;
    assert_int_equal(gr_fake_engine_last_request(fx.engine, &tr, NULL), GR_OK);
    assert_string_equal(tr, "[system]\nsys\n[user]\nlook at these\n[image image/png iVBORw0KGgo=]\n"
                            "[image image/jpeg /9j/4AAQ]\n");
    free(tr);
    gr_task_release(t);
    gr_queue_free(q);
}

/* The fake engine really is exclusive: two unqueued concurrent calls collide (so the FIFO test below
 * proves the queue serialises, rather than passing by luck). */
typedef struct direct_arg {
    gr_engine *e;
    gr_status st;
} direct_arg;

static void *direct_gen(void *p) {
    direct_arg *a = p;
    req_buf b;
    gr_result r;
    a->st = gr_engine_generate(a->e, make_req(&b, "x", 20, 0), NULL, NULL, NULL, &r);
    gr_result_clear(&r);
    return NULL;
}

static void test_fake_engine_is_exclusive(void **state) {
    (void)state;
    gr_fake_config cfg = {.tokens_per_s = 200};
    gr_engine *e;
    assert_int_equal(gr_fake_engine_new(&cfg, &e, NULL, 0), GR_OK);
    direct_arg a = {e, GR_OK}, b = {e, GR_OK};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, direct_gen, &a);
    sleep_ms(20);
    pthread_create(&tb, NULL, direct_gen, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.st, GR_OK);
    assert_int_equal(b.st, GR_E_BUSY);
    gr_engine_destroy(e);
}

/* ---- FIFO under 8 submitting threads ----------------------------------------------------------- */

enum { FIFO_THREADS = 8, FIFO_PER = 50 };

typedef struct fifo_log {
    pthread_mutex_t mu;
    uint64_t order[FIFO_THREADS * FIFO_PER];
    int n;
} fifo_log;

static void fifo_done(void *user, gr_task *t) {
    fifo_log *l = user;
    pthread_mutex_lock(&l->mu);
    l->order[l->n++] = gr_task_id(t);
    pthread_mutex_unlock(&l->mu);
}

typedef struct fifo_arg {
    gr_queue *q;
    fifo_log *log;
    gr_task *tasks[FIFO_PER];
} fifo_arg;

static void *fifo_thread(void *p) {
    fifo_arg *a = p;
    gr_task_opts o = {NULL, NULL, fifo_done, a->log};
    for (int i = 0; i < FIFO_PER; i++) {
        req_buf b;
        gr_queue_submit(a->q, make_req(&b, "fifo", 2, 0), &o, &a->tasks[i], NULL, 0);
    }
    return NULL;
}

static void test_fifo_order_8_threads(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 0}};
    gr_queue *q = new_queue(&fx, FIFO_THREADS * FIFO_PER);
    fifo_log log = {.n = 0};
    pthread_mutex_init(&log.mu, NULL);
    fifo_arg args[FIFO_THREADS];
    pthread_t th[FIFO_THREADS];
    for (int i = 0; i < FIFO_THREADS; i++) {
        args[i] = (fifo_arg){q, &log, {0}};
        pthread_create(&th[i], NULL, fifo_thread, &args[i]);
    }
    for (int i = 0; i < FIFO_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < FIFO_THREADS; i++) {
        uint64_t prev = 0;
        for (int k = 0; k < FIFO_PER; k++) {
            gr_task *t = args[i].tasks[k];
            assert_non_null(t);
            assert_true(gr_task_id(t) > prev); /* each thread's tasks keep their order */
            prev = gr_task_id(t);
            gr_task_wait(t);
            assert_int_equal(gr_task_result(t)->status, GR_OK); /* never "previous invocation ongoing" */
            gr_task_release(t);
        }
    }
    assert_int_equal(log.n, FIFO_THREADS * FIFO_PER);
    for (int i = 0; i < log.n; i++) assert_int_equal(log.order[i], (uint64_t)i + 1); /* served in submit order */
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.served, FIFO_THREADS * FIFO_PER);
    assert_int_equal(st.depth, 0);
    gr_queue_free(q);
    pthread_mutex_destroy(&log.mu);
}

/* ---- cancel ------------------------------------------------------------------------------------ */

static void test_cancel_pending_and_running(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 500}};
    gr_queue *q = new_queue(&fx, 0);
    gr_task *a = submit(q, "long", 5000, 0, NULL); /* 10 s if not cancelled */
    gr_task *b = submit(q, "b", 3, 0, NULL);
    gr_task *c = submit(q, "c", 3, 0, NULL);
    wait_running(a);
    assert_int_equal(gr_task_cancel(b), GR_TASK_PENDING);
    const gr_result *rb = gr_task_result(b); /* completed before gr_task_cancel returned */
    assert_non_null(rb);
    assert_int_equal(rb->status, GR_E_CANCELLED);
    assert_int_equal(rb->finish, GR_FINISH_CANCELLED);
    assert_int_equal(rb->usage.completion_tokens, 0);
    sleep_ms(30); /* let a produce a few tokens */
    double t0 = gr_now();
    assert_int_equal(gr_task_cancel(a), GR_TASK_RUNNING);
    gr_task_wait(a);
    double latency_ms = (gr_now() - t0) * 1e3;
    const gr_result *ra = gr_task_result(a);
    assert_int_equal(ra->status, GR_E_CANCELLED);
    assert_int_equal(ra->finish, GR_FINISH_CANCELLED);
    assert_true(ra->usage.completion_tokens > 0 && ra->usage.completion_tokens < 5000);
    assert_true(latency_ms < 250); /* the fake checks every 2 ms; generous for sanitizers and load */
    gr_task_wait(c);
    assert_int_equal(gr_task_result(c)->status, GR_OK);
    assert_int_equal(gr_task_cancel(c), GR_TASK_DONE);
    assert_int_equal(gr_task_cancel(b), GR_TASK_DONE); /* cancelling twice changes nothing */
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.cancelled, 2);
    assert_int_equal(st.served, 1);
    gr_task_release(a);
    gr_task_release(b);
    gr_task_release(c);
    gr_queue_free(q);
}

static void test_cancel_all(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 500}};
    gr_queue *q = new_queue(&fx, 0);
    gr_task *t[6];
    for (int i = 0; i < 6; i++) t[i] = submit(q, "x", 5000, 0, NULL);
    wait_running(t[0]);
    assert_int_equal(gr_queue_cancel_all(q), 6);
    for (int i = 0; i < 6; i++) {
        gr_task_wait(t[i]);
        assert_int_equal(gr_task_result(t[i])->status, GR_E_CANCELLED);
        gr_task_release(t[i]);
    }
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.cancelled, 6);
    assert_int_equal(st.depth, 0);
    assert_int_equal(gr_queue_cancel_all(q), 0); /* nothing left */
    /* the queue keeps working afterwards */
    gr_task *n = submit(q, "after", 2, 0, NULL);
    gr_task_wait(n);
    assert_int_equal(gr_task_result(n)->status, GR_OK);
    gr_task_release(n);
    gr_queue_free(q);
}

/* ---- deadlines and bound ----------------------------------------------------------------------- */

static void test_deadlines(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 500}};
    gr_queue *q = new_queue(&fx, 0);
    double t0 = gr_now();
    gr_task *run = submit(q, "runs", 5000, t0 + 0.3, NULL);   /* times out while running */
    gr_task *wait = submit(q, "waits", 3, t0 + 0.08, NULL);   /* times out while pending */
    gr_task_wait(wait);
    double waited = gr_now() - t0;
    const gr_result *rw = gr_task_result(wait);
    assert_int_equal(rw->status, GR_E_TIMEOUT);
    assert_int_equal(rw->finish, GR_FINISH_TIMEOUT);
    assert_int_equal(rw->usage.completion_tokens, 0);
    assert_true(waited >= 0.075 && waited < 0.3); /* expired by the reaper, not when its turn came */
    assert_int_equal(gr_task_state_of(run), GR_TASK_RUNNING);
    gr_task_wait(run);
    double ran = gr_now() - t0;
    const gr_result *rr = gr_task_result(run);
    assert_int_equal(rr->status, GR_E_TIMEOUT);
    assert_int_equal(rr->finish, GR_FINISH_TIMEOUT);
    assert_true(rr->usage.completion_tokens > 10);
    assert_true(ran >= 0.295 && ran < 1.5);
    /* a deadline already in the past never runs */
    gr_task *late = submit(q, "late", 3, gr_now() - 1, NULL);
    gr_task_wait(late);
    assert_int_equal(gr_task_result(late)->status, GR_E_TIMEOUT);
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.timed_out, 3);
    gr_task_release(run);
    gr_task_release(wait);
    gr_task_release(late);
    gr_queue_free(q);
}

static void test_bounded_busy(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 500}};
    gr_queue *q = new_queue(&fx, 3);
    gr_task *a = submit(q, "a", 5000, 0, NULL);
    wait_running(a); /* the running task does not count against the bound */
    gr_task *p[3];
    for (int i = 0; i < 3; i++) p[i] = submit(q, "p", 1, 0, NULL);
    req_buf b;
    gr_task *x = (gr_task *)1;
    char err[200];
    assert_int_equal(gr_queue_submit(q, make_req(&b, "x", 1, 0), NULL, &x, err, sizeof err), GR_E_BUSY);
    assert_null(x);
    assert_non_null(strstr(err, "queue full"));
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.depth, 3);
    assert_int_equal(st.running_id, gr_task_id(a));
    gr_task_cancel(a);
    for (int i = 0; i < 3; i++) {
        gr_task_wait(p[i]);
        assert_int_equal(gr_task_result(p[i])->status, GR_OK);
        gr_task_release(p[i]);
    }
    gr_task_release(a);
    gr_queue_free(q);
}

/* ---- force_reset ------------------------------------------------------------------------------- */

static void test_force_reset_hung_engine(void **state) {
    (void)state;
    gr_fake_gate *gate;
    assert_int_equal(gr_fake_gate_new(&gate), GR_OK);
    fixture fx = {.cfg = {.tokens_per_s = 0, .hang_marker = "HANG", .gate = gate}};
    gr_queue *q = new_queue(&fx, 0);
    collect hc = {0};
    gr_task_opts ho = {collect_sink, &hc, NULL, NULL};
    gr_task *h = submit(q, "please HANG now", 3, 0, &ho);
    gr_task *p1 = submit(q, "one", 2, 0, NULL);
    gr_task *p2 = submit(q, "two", 2, 0, NULL);
    for (int i = 0; i < 2000 && gr_fake_gate_waiting(gate) == 0; i++) sleep_ms(1);
    assert_int_equal(gr_fake_gate_waiting(gate), 1);
    assert_int_equal(gr_task_cancel(h), GR_TASK_RUNNING);
    assert_false(gr_task_wait_for(h, 0.1)); /* the engine ignores cancellation: stuck */
    assert_int_equal(gr_task_state_of(p1), GR_TASK_PENDING);

    char err[200];
    assert_int_equal(gr_queue_force_reset(q, err, sizeof err), GR_OK);
    const gr_result *rh = gr_task_result(h); /* completed by force_reset itself */
    assert_non_null(rh);
    assert_int_equal(rh->status, GR_E_ABORTED);
    assert_int_equal(rh->finish, GR_FINISH_ERROR);
    assert_non_null(strstr(rh->error, "force_reset"));
    gr_task_wait(p1);
    gr_task_wait(p2);
    assert_int_equal(gr_task_result(p1)->status, GR_OK);
    assert_int_equal(gr_task_result(p2)->status, GR_OK);
    assert_int_equal(atomic_load(&fx.factory_calls), 2);
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_int_equal(st.resets, 1);
    assert_int_equal(st.abandoned_live, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.served, 2);
    /* the abandoned engine wakes up later: its text must not reach the sink, and it cleans up */
    gr_fake_gate_open(gate);
    for (int i = 0; i < 2000; i++) {
        gr_queue_status_get(q, &st);
        if (st.abandoned_live == 0) break;
        sleep_ms(1);
    }
    assert_int_equal(st.abandoned_live, 0);
    assert_int_equal(hc.calls, 0);
    assert_int_equal(gr_task_result(h)->status, GR_E_ABORTED); /* unchanged */
    /* idle reset also works */
    assert_int_equal(gr_queue_force_reset(q, err, sizeof err), GR_OK);
    gr_task *n = submit(q, "after", 2, 0, NULL);
    gr_task_wait(n);
    assert_int_equal(gr_task_result(n)->status, GR_OK);
    gr_task_release(n);
    gr_task_release(h);
    gr_task_release(p1);
    gr_task_release(p2);
    gr_queue_free(q);
    gr_fake_gate_free(gate);
}

static void test_factory_failure(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 500}};
    gr_queue *q = new_queue(&fx, 0);
    gr_task *a = submit(q, "a", 5000, 0, NULL);
    gr_task *b = submit(q, "b", 2, 0, NULL);
    wait_running(a);
    atomic_store(&fx.fail_calls, 1);
    char err[200];
    assert_int_equal(gr_queue_force_reset(q, err, sizeof err), GR_E_IO);
    assert_non_null(strstr(err, "fake factory failure"));
    assert_int_equal(gr_task_result(a)->status, GR_E_ABORTED);
    const gr_result *rb = gr_task_result(b); /* pending tasks fail: nothing can serve them */
    assert_non_null(rb);
    assert_int_equal(rb->status, GR_E_IO);
    assert_non_null(strstr(rb->error, "no engine"));
    gr_queue_status st;
    gr_queue_status_get(q, &st);
    assert_false(st.has_engine);
    req_buf rq;
    gr_task *x;
    assert_int_equal(gr_queue_submit(q, make_req(&rq, "x", 1, 0), NULL, &x, err, sizeof err), GR_E_IO);
    assert_non_null(strstr(err, "no engine: fake factory failure"));
    assert_int_equal(gr_queue_force_reset(q, err, sizeof err), GR_OK); /* recovers */
    gr_task *c = submit(q, "c", 2, 0, NULL);
    gr_task_wait(c);
    assert_int_equal(gr_task_result(c)->status, GR_OK);
    gr_task_release(a);
    gr_task_release(b);
    gr_task_release(c);
    gr_queue_free(q);
    /* a factory that fails at creation */
    atomic_store(&fx.fail_calls, 1);
    gr_queue_config qc = {factory, &fx, 0};
    assert_int_equal(gr_queue_new(&qc, &q, err, sizeof err), GR_E_IO);
    assert_null(q);
}

static void test_sink_stop_and_free_with_pending(void **state) {
    (void)state;
    fixture fx = {.cfg = {.tokens_per_s = 0}};
    gr_queue *q = new_queue(&fx, 0);
    collect c = {.stop_after = 3};
    gr_task_opts o = {collect_sink, &c, NULL, NULL};
    gr_task *t = submit(q, "stop me", 100, 0, &o);
    gr_task_wait(t);
    assert_int_equal(gr_task_result(t)->status, GR_E_CANCELLED);
    assert_int_equal(gr_task_result(t)->usage.completion_tokens, 3);
    assert_int_equal(c.calls, 3);
    gr_task_release(t);
    gr_queue_free(q);

    fx.cfg.tokens_per_s = 500;
    q = new_queue(&fx, 0);
    gr_task *r = submit(q, "r", 5000, 0, NULL);
    gr_task *p = submit(q, "p", 5, 0, NULL);
    wait_running(r);
    gr_queue_free(q); /* handles outlive the queue */
    assert_int_equal(gr_task_result(r)->status, GR_E_CANCELLED);
    assert_int_equal(gr_task_result(p)->status, GR_E_CANCELLED);
    assert_int_equal(gr_task_state_of(p), GR_TASK_DONE);
    assert_int_equal(gr_task_cancel(p), GR_TASK_DONE);
    gr_task_release(r);
    gr_task_release(p);
}

/* ---- stress ------------------------------------------------------------------------------------ */

enum { ST_THREADS = 8, ST_PER = 125, ST_TOTAL = ST_THREADS * ST_PER };

typedef struct st_task {
    gr_task *t;
    atomic_int completions;
    atomic_int cancel_state; /* -1 never cancelled, else what gr_task_cancel returned first */
    int epoch_submit;        /* cancel_all count before submit */
    atomic_int epoch_done;   /* cancel_all count when completed */
    bool hang;
} st_task;

typedef struct st_shared {
    gr_queue *q;
    gr_fake_gate *gate;
    atomic_int cancel_alls;
    atomic_int resets_done;
    pthread_mutex_t mu;
    uint64_t last_sink_id; /* the task ids seen by the sink never go down (FIFO) */
    atomic_int fifo_violations;
    st_task tasks[ST_TOTAL + 8];
    atomic_int n_extra; /* hang tasks submitted by the reset thread */
} st_shared;

typedef struct st_ctx {
    st_shared *sh;
    st_task *me;
} st_ctx;

static void st_done(void *user, gr_task *t) {
    st_ctx *c = user;
    (void)t;
    atomic_fetch_add(&c->me->completions, 1);
    atomic_store(&c->me->epoch_done, atomic_load(&c->sh->cancel_alls));
}

static int st_sink(void *user, const char *d, size_t n) {
    st_ctx *c = user;
    (void)d, (void)n;
    uint64_t id = gr_task_id(c->me->t);
    pthread_mutex_lock(&c->sh->mu);
    if (id < c->sh->last_sink_id) atomic_fetch_add(&c->sh->fifo_violations, 1);
    c->sh->last_sink_id = id;
    pthread_mutex_unlock(&c->sh->mu);
    return 0;
}

typedef struct st_arg {
    st_shared *sh;
    int idx;
    uint64_t rng;
    st_ctx ctx[ST_PER];
} st_arg;

static uint64_t xs(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void st_submit(st_shared *sh, st_ctx *ctx, st_task *me, const char *text, int max_tokens) {
    ctx->sh = sh;
    ctx->me = me;
    atomic_init(&me->completions, 0);
    atomic_init(&me->cancel_state, -1);
    atomic_init(&me->epoch_done, -1);
    me->epoch_submit = atomic_load(&sh->cancel_alls);
    gr_task_opts o = {st_sink, ctx, st_done, ctx};
    req_buf b;
    char err[200];
    /* me->t must be set before the sink can run: submit with the handle written by the queue under its
     * lock, and the sink reads it only on the worker, which starts the task after submit returns it. */
    gr_status st = gr_queue_submit(sh->q, make_req(&b, text, max_tokens, 0), &o, &me->t, err, sizeof err);
    if (st != GR_OK) fail_msg("stress submit: %s", err);
}

static void *st_thread(void *p) {
    st_arg *a = p;
    st_shared *sh = a->sh;
    for (int i = 0; i < ST_PER; i++) {
        st_task *me = &sh->tasks[a->idx * ST_PER + i];
        st_submit(sh, &a->ctx[i], me, "stress task", 1 + (int)(xs(&a->rng) % 6));
        uint64_t r = xs(&a->rng) % 1000;
        if (r < 250) { /* cancel one of my earlier tasks */
            st_task *v = &sh->tasks[a->idx * ST_PER + (int)(xs(&a->rng) % (uint64_t)(i + 1))];
            gr_task_state prev = gr_task_cancel(v->t);
            int expected = -1;
            atomic_compare_exchange_strong(&v->cancel_state, &expected, (int)prev);
        } else if (r < 254) {
            atomic_fetch_add(&sh->cancel_alls, 1);
            gr_queue_cancel_all(sh->q);
        }
        sleep_ms((double)(xs(&a->rng) % 4000) / 1000.0); /* 0-4 ms: about as fast as the engine drains */
    }
    return NULL;
}

/* Submits a hanging task until one really hangs, then force-resets and opens the gate. */
static void *st_reset_thread(void *p) {
    st_arg *a = p;
    st_shared *sh = a->sh;
    sleep_ms(100);
    for (int attempt = 0; attempt < 8; attempt++) {
        int k = atomic_fetch_add(&sh->n_extra, 1);
        st_task *me = &sh->tasks[ST_TOTAL + k];
        me->hang = true;
        st_submit(sh, &a->ctx[k], me, "HANG here", 3);
        while (gr_fake_gate_waiting(sh->gate) == 0 && !gr_task_wait_for(me->t, 0.001)) {
        }
        if (gr_fake_gate_waiting(sh->gate) > 0) {
            char err[200];
            assert_int_equal(gr_queue_force_reset(sh->q, err, sizeof err), GR_OK);
            atomic_fetch_add(&sh->resets_done, 1);
            gr_fake_gate_open(sh->gate);
            return NULL;
        }
        /* dropped by a cancel_all while pending: try again */
    }
    return NULL;
}

/* One stress round: rate is the fake engine's token rate (0 = instant), seed varies the schedule. */
static void stress_round(double rate, uint64_t seed, bool check_mix) {
    double t0 = gr_now();
    gr_fake_gate *gate;
    assert_int_equal(gr_fake_gate_new(&gate), GR_OK);
    fixture fx = {.cfg = {.tokens_per_s = rate, .hang_marker = "HANG", .gate = gate}};
    static st_shared sh; /* large: keep it off the stack */
    memset(&sh, 0, sizeof sh);
    sh.q = new_queue(&fx, ST_TOTAL + 16);
    sh.gate = gate;
    pthread_mutex_init(&sh.mu, NULL);
    static st_arg args[ST_THREADS + 1];
    pthread_t th[ST_THREADS + 1];
    for (int i = 0; i <= ST_THREADS; i++) {
        args[i].sh = &sh;
        args[i].idx = i;
        args[i].rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1) + seed;
        pthread_create(&th[i], NULL, i < ST_THREADS ? st_thread : st_reset_thread, &args[i]);
    }
    for (int i = 0; i <= ST_THREADS; i++) pthread_join(th[i], NULL);
    int n = ST_TOTAL + atomic_load(&sh.n_extra);
    int by[GR_STATUS_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        st_task *t = &sh.tasks[i];
        gr_task_wait(t->t);
        assert_int_equal(atomic_load(&t->completions), 1); /* exactly once */
        const gr_result *r = gr_task_result(t->t);
        int cs = atomic_load(&t->cancel_state);
        bool cancel_all_hit = atomic_load(&t->epoch_done) > t->epoch_submit;
        if (cs == GR_TASK_PENDING) assert_int_equal(r->status, GR_E_CANCELLED);
        if (r->status == GR_E_CANCELLED) assert_true(cs == GR_TASK_PENDING || cs == GR_TASK_RUNNING || cancel_all_hit);
        if (r->status == GR_E_ABORTED) assert_true(t->hang); /* only the force_reset victim */
        if (r->status == GR_OK) assert_int_not_equal(cs, GR_TASK_PENDING);
        assert_true(r->status == GR_OK || r->status == GR_E_CANCELLED || r->status == GR_E_ABORTED);
        by[r->status]++;
    }
    assert_int_equal(atomic_load(&sh.resets_done), 1);
    assert_int_equal(by[GR_E_ABORTED], 1);
    assert_int_equal(atomic_load(&sh.fifo_violations), 0);
    gr_queue_status st;
    for (int i = 0; i < 2000; i++) { /* the abandoned engine returns once the gate opened */
        gr_queue_status_get(sh.q, &st);
        if (st.abandoned_live == 0) break;
        sleep_ms(1);
    }
    assert_int_equal(st.abandoned_live, 0);
    assert_int_equal(st.depth, 0);
    assert_int_equal(st.running_id, 0);
    assert_int_equal(st.submitted, (uint64_t)n);
    assert_int_equal(st.served, (uint64_t)by[GR_OK]);
    assert_int_equal(st.cancelled, (uint64_t)by[GR_E_CANCELLED]);
    assert_int_equal(st.failed, (uint64_t)by[GR_E_ABORTED]);
    assert_int_equal(st.served + st.cancelled + st.timed_out + st.failed, st.submitted);
    print_message("stress (rate %.0f): %d tasks, %d ok, %d cancelled, %d reset victim, %d cancel_alls, %.2f s\n",
                  rate, n, by[GR_OK], by[GR_E_CANCELLED], by[GR_E_ABORTED], atomic_load(&sh.cancel_alls),
                  gr_now() - t0);
    if (check_mix) assert_true(by[GR_OK] > 100 && by[GR_E_CANCELLED] > 50); /* the mix really happened */
    for (int i = 0; i < n; i++) gr_task_release(sh.tasks[i].t);
    gr_queue_free(sh.q);
    gr_fake_gate_free(gate);
    pthread_mutex_destroy(&sh.mu);
}

static void test_stress(void **state) {
    (void)state;
    stress_round(5000, 0, true); /* engine about as fast as the submitters: backlog comes and goes */
    stress_round(0, 12345, false); /* instant engine: completion races with cancel */
    stress_round(1000, 777, false); /* slow engine: long backlog, cancel_all drops many */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_request_copied),
        cmocka_unit_test(test_fake_engine_is_exclusive),
        cmocka_unit_test(test_fifo_order_8_threads),
        cmocka_unit_test(test_cancel_pending_and_running),
        cmocka_unit_test(test_cancel_all),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_bounded_busy),
        cmocka_unit_test(test_force_reset_hung_engine),
        cmocka_unit_test(test_factory_failure),
        cmocka_unit_test(test_sink_stop_and_free_with_pending),
        cmocka_unit_test(test_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
