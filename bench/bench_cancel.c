/* bench_cancel.c — how fast a cancelled request lets go of the machine, through the queue with the
 * local engine: a ~4096-token prompt cancelled mid-prefill after a random delay, and a generation
 * cancelled after a random number of tokens. Measures cancel -> task completion, cancel -> process
 * CPU idle (process CPU time, utime+stime, sampled in 10 ms windows; idle = < 1 ms of CPU in a
 * window), and for decode the tokens produced after the cancel. Prints medians and min..max.
 * Usage: bench_cancel [MODEL.gguf] [reps] [threads] [n_batch]. Not a test: prints numbers only. */
#include "engine/engine_local.h"
#include "layer/queue.h"
#include "text/chat.h"
#include "text/tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_cfg {
    const gr_model *model;
    int threads;
    uint32_t n_batch;
} bench_cfg;

static gr_status factory(void *u, gr_engine **out, char *err, size_t errlen) {
    const bench_cfg *b = u;
    gr_local_config c = {.model = b->model,
                         .n_ctx = 4608,
                         .n_batch = b->n_batch,
                         .n_threads = b->threads,
                         .model_id = "e2b-synth"};
    return gr_local_engine_new(&c, out, err, errlen);
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* utime + stime of this process in clock ticks (/proc/self/stat fields 14 and 15), or -1. */
static long long proc_ticks(void) {
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

/* Seconds from `from` until the first 10 ms window with < 1 ms of process CPU (ns clock), and
 * until the first window in which /proc/self/stat's utime+stime did not advance (10 ms ticks, so
 * coarser); 5 s at most. */
static double until_idle(double from, double *proc_idle) {
    double ns_idle = -1;
    *proc_idle = -1;
    for (;;) {
        double c0 = cpu_s(), t0 = gr_now();
        long long k0 = proc_ticks();
        sleep_s(0.010);
        double used = cpu_s() - c0;
        long long k1 = proc_ticks();
        if (ns_idle < 0 && used < 0.001) ns_idle = t0 - from;
        if (*proc_idle < 0 && k0 >= 0 && k1 == k0) *proc_idle = t0 - from;
        if (ns_idle >= 0 && *proc_idle >= 0) return ns_idle;
        if (t0 - from > 5) {
            if (*proc_idle < 0) *proc_idle = 5;
            return ns_idle < 0 ? 5 : ns_idle;
        }
    }
}

typedef struct watch {
    atomic_int tokens;
    int cancel_at; /* the sink signals when this many deltas arrived */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool reached;
    double t_done;
} watch;

static int sink(void *u, const char *d, size_t n) {
    watch *w = u;
    int k = atomic_fetch_add(&w->tokens, 1) + 1;
    if (w->cancel_at && k == w->cancel_at) {
        pthread_mutex_lock(&w->mu);
        w->reached = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    return 0;
}

static void on_done(void *u, gr_task *t) {
    ((watch *)u)->t_done = gr_now();
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *v, int n, const char *unit) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("%-34s median %8.1f %s  [%.1f .. %.1f]  n=%d\n", what, med, unit, v[0], v[n - 1], n);
}

/* About `target` tokens of text once rendered (scaled from a first measurement). */
static char *make_prompt(const gr_model *m, int rep, int target) {
    char err[256];
    gr_tokenizer *tk = NULL;
    if (gr_tokenizer_from_gguf(gr_model_gguf(m), &tk, err, sizeof err)) return NULL;
    int words = target;
    char *s = NULL;
    for (int pass = 0; pass < 3; pass++) {
        free(s);
        s = malloc((size_t)words * 16 + 64);
        if (!s) break;
        size_t n = (size_t)sprintf(s, "Request %d. ", rep);
        for (int i = 0; i < words; i++)
            n += (size_t)sprintf(s + n, "word%d ", (i * 7919 + rep) % 1000);
        size_t got = 0, cap = n + 16;
        int32_t *ids = malloc(cap * sizeof *ids);
        if (ids) gr_tokenize(tk, s, n, true, false, ids, cap, &got, err, sizeof err);
        free(ids);
        if (got == 0) break;
        if (got + 16 >= (size_t)target - 32 && got + 16 <= (size_t)target) break;
        words = (int)((double)words * (target - 24) / (double)(got + 16));
    }
    gr_tokenizer_free(tk);
    return s;
}

static void bench_prefill(gr_queue *q, const gr_model *m, int reps) {
    double lat[64], idle[64], pidle[64];
    int n = 0, early = 0, prompt_tokens = 0;
    for (int r = 0; r < reps && n < 64; r++) {
        char *text = make_prompt(m, r, 4096);
        if (!text) return;
        gr_message msg = {.role = GR_ROLE_USER, .text = text};
        gr_request req = {
            .messages = &msg, .n_messages = 1, .max_tokens = 1, .sampling = {.temperature = 0}};
        watch w = {0};
        gr_task_opts o = {.on_done = on_done, .done_user = &w};
        gr_task *t = NULL;
        char err[256];
        if (gr_queue_submit(q, &req, &o, &t, err, sizeof err)) {
            fprintf(stderr, "submit: %s\n", err);
            free(text);
            return;
        }
        double delay = 0.3 + 3.0 * (double)rand() / RAND_MAX;
        sleep_s(delay);
        double t_cancel = gr_now();
        gr_task_cancel(t);
        double t_pidle;
        double t_idle = until_idle(t_cancel, &t_pidle);
        gr_task_wait(t);
        const gr_result *res = gr_task_result(t);
        if (res->status != GR_E_CANCELLED) {
            early++;
        } else {
            lat[n] = (w.t_done - t_cancel) * 1e3;
            idle[n] = t_idle * 1e3;
            pidle[n] = t_pidle * 1e3;
            n++;
        }
        prompt_tokens = res->usage.prompt_tokens ? res->usage.prompt_tokens : prompt_tokens;
        gr_task_release(t);
        free(text);
    }
    printf("prefill cancel (prompt %d tokens, random delay 0.3..3.3 s), %d finished first\n",
           prompt_tokens, early);
    if (n) {
        report("  cancel -> task done", lat, n, "ms");
        report("  cancel -> process CPU idle", idle, n, "ms");
        report("  cancel -> /proc/self/stat idle", pidle, n, "ms");
    }
}

static void bench_decode(gr_queue *q, int reps) {
    double lat[64], idle[64], pidle[64], extra[64], tps[64];
    int n = 0;
    for (int r = 0; r < reps && n < 64; r++) {
        gr_message msg = {.role = GR_ROLE_USER, .text = "Write a long story about a lighthouse keeper."};
        gr_request req = {.messages = &msg,
                          .n_messages = 1,
                          .max_tokens = 4000,
                          .sampling = {.temperature = 1.0f, .seed = (uint64_t)r + 1}};
        watch w = {.cancel_at = 4 + rand() % 12};
        pthread_mutex_init(&w.mu, NULL);
        pthread_cond_init(&w.cv, NULL);
        gr_task_opts o = {.sink = sink, .sink_user = &w, .on_done = on_done, .done_user = &w};
        gr_task *t = NULL;
        char err[256];
        if (gr_queue_submit(q, &req, &o, &t, err, sizeof err)) return;
        pthread_mutex_lock(&w.mu);
        while (!w.reached && gr_task_state_of(t) != GR_TASK_DONE) {
            pthread_mutex_unlock(&w.mu);
            sleep_s(0.001);
            pthread_mutex_lock(&w.mu);
        }
        pthread_mutex_unlock(&w.mu);
        /* land the cancel anywhere inside the next token's evaluation, not right after a delta */
        sleep_s(0.1 * (double)rand() / RAND_MAX);
        double t_cancel = gr_now();
        int at_cancel = atomic_load(&w.tokens);
        gr_task_cancel(t);
        double t_pidle;
        double t_idle = until_idle(t_cancel, &t_pidle);
        gr_task_wait(t);
        const gr_result *res = gr_task_result(t);
        if (res->status == GR_E_CANCELLED) {
            lat[n] = (w.t_done - t_cancel) * 1e3;
            idle[n] = t_idle * 1e3;
            pidle[n] = t_pidle * 1e3;
            extra[n] = atomic_load(&w.tokens) - at_cancel;
            tps[n] = res->timings.gen_tok_s;
            n++;
        }
        gr_task_release(t);
        pthread_cond_destroy(&w.cv);
        pthread_mutex_destroy(&w.mu);
    }
    printf("decode cancel (4..15 streamed tokens, then a random 0..100 ms)\n");
    if (n) {
        report("  cancel -> task done", lat, n, "ms");
        report("  cancel -> process CPU idle", idle, n, "ms");
        report("  cancel -> /proc/self/stat idle", pidle, n, "ms");
        report("  tokens streamed after cancel", extra, n, "tok");
        report("  decode speed before cancel", tps, n, "tok/s");
    }
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/work/models/gemma4-e2b-synth-q4_0.gguf";
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    bench_cfg b = {NULL, argc > 3 ? atoi(argv[3]) : 2, argc > 4 ? (uint32_t)atoi(argv[4]) : 64};
    if (reps < 1 || reps > 64 || b.threads < 1 || b.n_batch < 1) {
        fprintf(stderr, "usage: bench_cancel [MODEL.gguf] [reps 1..64] [threads] [n_batch]\n");
        return 2;
    }
    srand(12345);
    char err[512];
    gr_model *m = NULL;
    if (gr_model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "bench_cancel: %s\n", err);
        return 1;
    }
    b.model = m;
    gr_queue_config qc = {.factory = factory, .factory_user = &b};
    gr_queue *q = NULL;
    if (gr_queue_new(&qc, &q, err, sizeof err)) {
        fprintf(stderr, "bench_cancel: %s\n", err);
        gr_model_free(m);
        return 1;
    }
    printf("model %s, %d threads, n_batch %u, %d reps\n", path, b.threads, b.n_batch, reps);
    bench_prefill(q, m, reps);
    bench_decode(q, reps);
    gr_queue_free(q);
    gr_model_free(m);
    return 0;
}
