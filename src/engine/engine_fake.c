/* engine_fake.c — deterministic fake engine for tests (see engine_fake.h). Sleeps in slices of at most
 * 2 ms so cancellation and deadlines are observed promptly. Must not pretend to run a model. */
#include "engine/engine_fake.h"

#include "core/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define SLICE_S 0.002

struct gr_fake_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int waiting;
};

typedef struct fake_engine {
    gr_engine base;
    gr_fake_config cfg; /* string fields point at the copies below */
    char name[16];
    char model[64];
    char *script;
    char *hang_marker;
    char *fail_marker;
    gr_fake_step *steps; /* copies; texts owned */
    size_t n_steps;
    atomic_int busy;
    atomic_long calls;
    pthread_mutex_t last_mu; /* guards the recorded last request (read from other threads) */
    char *last;
    gr_output_kind last_kind;
} fake_engine;

static const char *const WORDS[16] = {"alpha ", "beta ",  "gamma ", "delta ", "eps ",   "zeta ",
                                      "eta ",   "theta ", "iota ",  "kappa ", "lambda ", "mu ",
                                      "nu ",    "xi ",    "omicron ", "pi "};

gr_status gr_fake_gate_new(gr_fake_gate **out) {
    gr_fake_gate *g = calloc(1, sizeof *g);
    if (!g) return GR_E_NOMEM;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    *out = g;
    return GR_OK;
}

void gr_fake_gate_open(gr_fake_gate *g) {
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

int gr_fake_gate_waiting(gr_fake_gate *g) {
    pthread_mutex_lock(&g->mu);
    int n = g->waiting;
    pthread_mutex_unlock(&g->mu);
    return n;
}

void gr_fake_gate_free(gr_fake_gate *g) {
    if (!g) return;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void gate_block(gr_fake_gate *g) {
    pthread_mutex_lock(&g->mu);
    g->waiting++;
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    g->waiting--;
    pthread_mutex_unlock(&g->mu);
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Wait until absolute time `until`, checking cancellation every slice. */
static gr_status wait_until(double until, const gr_cancel *c, const gr_request *req) {
    for (;;) {
        gr_status s = gr_engine_check(c, req);
        if (s != GR_OK) return s;
        double left = until - gr_now();
        if (left <= 0) return GR_OK;
        sleep_s(left < SLICE_S ? left : SLICE_S);
    }
}

static bool any_message_has(const gr_request *req, const char *needle) {
    if (!needle || !*needle) return false;
    for (size_t i = 0; i < req->n_messages; i++)
        if (req->messages[i].text && strstr(req->messages[i].text, needle)) return true;
    return false;
}

/* Prompt "tokens": whitespace-separated words plus 3 per message for the turn markers. */
static int count_prompt_tokens(const gr_request *req, uint64_t *hash) {
    int n = 0;
    uint64_t h = 1469598103934665603ull; /* FNV-1a over every message: the words depend on the prompt */
    for (size_t i = 0; i < req->n_messages; i++) {
        const char *t = req->messages[i].text ? req->messages[i].text : "";
        bool in_word = false;
        for (; *t; t++) {
            h = (h ^ (unsigned char)*t) * 1099511628211ull;
            bool space = *t == ' ' || *t == '\n' || *t == '\t' || *t == '\r';
            if (!space && !in_word) n++;
            in_word = !space;
        }
        n += 3;
    }
    *hash = h;
    return n;
}

/* Next script token: about 4 bytes, extended to the end of a UTF-8 character. */
static size_t script_token(const char *s) {
    size_t k = 0;
    while (s[k] && k < 4) k++;
    while (s[k] && ((unsigned char)s[k] & 0xC0) == 0x80) k++;
    return k;
}

typedef struct gen_state {
    char *buf;
    size_t len, cap;
} gen_state;

static bool append(gen_state *g, const char *s, size_t n) {
    if (g->cap - g->len <= n) {
        size_t nc = g->cap ? g->cap * 2 : 256;
        while (nc - g->len <= n) nc *= 2;
        char *nb = realloc(g->buf, nc);
        if (!nb) return false;
        g->buf = nb;
        g->cap = nc;
    }
    memcpy(g->buf + g->len, s, n);
    g->len += n;
    g->buf[g->len] = 0;
    return true;
}

static gr_status decode_loop(fake_engine *fe, const gr_fake_step *step, const gr_request *req,
                             gr_sink_fn sink, void *user, gr_cancel *cancel, uint64_t hash, gen_state *g,
                             int *n_out, bool *hit_len, double *t_first) {
    int max = req->max_tokens > 0 ? req->max_tokens : fe->cfg.default_max_tokens;
    const char *script = step && step->text ? step->text : fe->script;
    double rate = step && step->tokens_per_s > 0 ? step->tokens_per_s : fe->cfg.tokens_per_s;
    size_t spos = 0;
    double t0 = gr_now();
    for (int i = 0; i < max; i++) {
        if (fe->cfg.stop_after > 0 && i >= fe->cfg.stop_after) return GR_OK;
        if (script && !script[spos]) return GR_OK;
        if (rate > 0) {
            gr_status s = wait_until(t0 + (i + 1) / rate, cancel, req);
            if (s != GR_OK) return s;
        }
        const char *tok;
        size_t tl;
        if (script) {
            tok = script + spos;
            tl = script_token(tok);
            spos += tl;
        } else {
            tok = WORDS[(hash + (uint64_t)i * 7u) % 16u];
            tl = strlen(tok);
        }
        if (!append(g, tok, tl)) return GR_E_NOMEM;
        (*n_out)++;
        if (*n_out == 1) *t_first = gr_now();
        if (sink && sink(user, tok, tl) != 0) return GR_E_CANCELLED;
        gr_status s = gr_engine_check(cancel, req); /* after every token, like the real engine */
        if (s != GR_OK) return s;
    }
    *hit_len = true;
    return GR_OK;
}

static gr_status fake_run(fake_engine *fe, const gr_fake_step *step, const gr_request *req,
                          gr_sink_fn sink, void *user, gr_cancel *cancel, gr_result *out) {
    double t_start = gr_now();
    uint64_t hash;
    int n_prompt = count_prompt_tokens(req, &hash);
    out->usage.prompt_tokens = n_prompt;
    if (fe->hang_marker && any_message_has(req, fe->hang_marker)) gate_block(fe->cfg.gate);
    if (fe->fail_marker && any_message_has(req, fe->fail_marker)) {
        gr_err(GR_E_INTERNAL, out->error, sizeof out->error, "fake engine: failure requested by the prompt");
        return GR_E_INTERNAL;
    }
    if (step && step->fail != GR_OK)
        return gr_err(step->fail, out->error, sizeof out->error, "fake engine: scripted failure (%s)",
                      gr_status_str(step->fail));
    gr_status s = gr_engine_check(cancel, req);
    if (s == GR_OK && fe->cfg.prompt_tokens_per_s > 0)
        s = wait_until(t_start + n_prompt / fe->cfg.prompt_tokens_per_s, cancel, req);
    double t_prompt = gr_now();
    gen_state g = {0};
    int n_gen = 0;
    bool hit_len = false;
    double t_first = 0;
    if (s == GR_OK)
        s = decode_loop(fe, step, req, sink, user, cancel, hash, &g, &n_gen, &hit_len, &t_first);
    double t_end = gr_now();
    out->text = g.buf;
    out->text_len = g.len;
    out->usage.completion_tokens = n_gen;
    out->finish = gr_finish_for_status(s, hit_len);
    if (t_prompt > t_start) out->timings.prompt_tok_s = n_prompt / (t_prompt - t_start);
    if (n_gen > 0) out->timings.ttft_ms = (t_first - t_start) * 1e3;
    if (n_gen > 1 && t_end > t_first) out->timings.gen_tok_s = (n_gen - 1) / (t_end - t_first);
    out->timings.total_ms = (t_end - t_start) * 1e3;
    if (s == GR_E_CANCELLED) gr_err(s, out->error, sizeof out->error, "cancelled");
    if (s == GR_E_TIMEOUT) gr_err(s, out->error, sizeof out->error, "deadline passed");
    if (s == GR_E_NOMEM) gr_err(s, out->error, sizeof out->error, "out of memory");
    return s;
}

/* "[role]\ntext\n" per message; NULL when out of memory (the record is then simply absent). */
static char *transcript_of(const gr_request *req) {
    static const char *const ROLE[] = {"[system]\n", "[user]\n", "[model]\n"};
    gen_state g = {0};
    if (!append(&g, "", 0)) return NULL;
    for (size_t i = 0; i < req->n_messages; i++) {
        unsigned r = (unsigned)req->messages[i].role;
        const char *role = r < 3 ? ROLE[r] : "[?]\n";
        const char *t = req->messages[i].text ? req->messages[i].text : "";
        bool ok = append(&g, role, strlen(role)) && append(&g, t, strlen(t)) && append(&g, "\n", 1);
        for (size_t k = 0; ok && req->messages[i].images && k < req->messages[i].n_images; k++) {
            const gr_image *im = &req->messages[i].images[k];
            ok = append(&g, "[image ", 7) && append(&g, im->mime_type, strlen(im->mime_type)) &&
                 append(&g, " ", 1) && append(&g, im->base64, strlen(im->base64)) && append(&g, "]\n", 2);
        }
        if (!ok) {
            free(g.buf);
            return NULL;
        }
    }
    return g.buf;
}

static void record_request(fake_engine *fe, const gr_request *req) {
    char *t = transcript_of(req);
    pthread_mutex_lock(&fe->last_mu);
    free(fe->last);
    fe->last = t;
    fe->last_kind = req->output.kind;
    pthread_mutex_unlock(&fe->last_mu);
}

static gr_status fake_generate(gr_engine *e, const gr_request *req, gr_sink_fn sink, void *user,
                               gr_cancel *cancel, gr_result *out) {
    fake_engine *fe = (fake_engine *)e;
    memset(out, 0, sizeof *out);
    snprintf(out->engine, sizeof out->engine, "%s", fe->name);
    snprintf(out->model, sizeof out->model, "%s", fe->model);
    long call = atomic_fetch_add(&fe->calls, 1);
    const gr_fake_step *step = call >= 0 && (size_t)call < fe->n_steps ? &fe->steps[call] : NULL;
    if (!req || (req->n_messages && !req->messages)) {
        out->finish = GR_FINISH_ERROR;
        out->status = gr_err(GR_E_INVALID_ARG, out->error, sizeof out->error, "fake engine: NULL request");
        return out->status;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong(&fe->busy, &expected, 1)) {
        /* The failure mode of exclusive runtimes that the queue exists to prevent. */
        out->finish = GR_FINISH_ERROR;
        out->status = gr_err(GR_E_BUSY, out->error, sizeof out->error,
                             "fake engine: previous invocation is still ongoing");
        return out->status;
    }
    record_request(fe, req);
    gr_status s = fake_run(fe, step, req, sink, user, cancel, out);
    out->status = s;
    atomic_store(&fe->busy, 0);
    return s;
}

static const char *fake_model_id(const gr_engine *e) { return ((const fake_engine *)e)->model; }

static void fake_destroy(gr_engine *e) {
    fake_engine *fe = (fake_engine *)e;
    if (!fe) return;
    free(fe->script);
    free(fe->hang_marker);
    free(fe->fail_marker);
    for (size_t i = 0; i < fe->n_steps; i++) free((char *)fe->steps[i].text);
    free(fe->steps);
    free(fe->last);
    pthread_mutex_destroy(&fe->last_mu);
    free(fe);
}

static const gr_engine_ops FAKE_OPS = {1, "fake", fake_generate, fake_model_id, fake_destroy};

static bool dup_opt(const char *s, char **out) {
    *out = NULL;
    if (!s) return true;
    size_t n = strlen(s) + 1;
    *out = malloc(n);
    if (!*out) return false;
    memcpy(*out, s, n);
    return true;
}

static bool copy_steps(fake_engine *fe, const gr_fake_step *steps, size_t n) {
    if (!n) return true;
    fe->steps = calloc(n, sizeof *fe->steps);
    if (!fe->steps) return false;
    fe->n_steps = n; /* set first so destroy frees the texts copied so far */
    for (size_t i = 0; i < n; i++) {
        char *t;
        if (!dup_opt(steps[i].text, &t)) return false;
        fe->steps[i] = steps[i];
        fe->steps[i].text = t;
    }
    return true;
}

gr_status gr_fake_engine_new(const gr_fake_config *cfg, gr_engine **out, char *err, size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "fake engine: NULL out");
    *out = NULL;
    gr_fake_config c = cfg ? *cfg : (gr_fake_config){0};
    if (c.hang_marker && !c.gate) return gr_err(GR_E_INVALID_ARG, err, errlen, "fake engine: hang_marker needs a gate");
    if (c.tokens_per_s != c.tokens_per_s || c.prompt_tokens_per_s != c.prompt_tokens_per_s)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "fake engine: rate is NaN");
    if (c.default_max_tokens <= 0) c.default_max_tokens = 64;
    if (c.n_steps && !c.steps)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "fake engine: n_steps without steps");
    fake_engine *fe = calloc(1, sizeof *fe);
    if (!fe) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    fe->base.ops = &FAKE_OPS;
    pthread_mutex_init(&fe->last_mu, NULL);
    snprintf(fe->name, sizeof fe->name, "%s", c.name ? c.name : "fake");
    snprintf(fe->model, sizeof fe->model, "%s", c.model_id ? c.model_id : "fake-1");
    if (!dup_opt(c.script, &fe->script) || !dup_opt(c.hang_marker, &fe->hang_marker) ||
        !dup_opt(c.fail_marker, &fe->fail_marker) || !copy_steps(fe, c.steps, c.n_steps)) {
        fake_destroy(&fe->base);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    c.name = fe->name;
    c.model_id = fe->model;
    c.script = fe->script;
    c.hang_marker = fe->hang_marker;
    c.fail_marker = fe->fail_marker;
    c.steps = fe->steps;
    fe->cfg = c;
    *out = &fe->base;
    return GR_OK;
}

long gr_fake_engine_calls(const gr_engine *e) {
    return e && e->ops == &FAKE_OPS ? atomic_load(&((fake_engine *)e)->calls) : -1;
}

gr_status gr_fake_engine_last_request(const gr_engine *e, char **transcript, gr_output_kind *kind) {
    if (!transcript || !e || e->ops != &FAKE_OPS) return GR_E_INVALID_ARG;
    fake_engine *fe = (fake_engine *)e;
    *transcript = NULL;
    pthread_mutex_lock(&fe->last_mu);
    if (fe->last) dup_opt(fe->last, transcript);
    if (kind) *kind = fe->last_kind;
    bool had = fe->last != NULL;
    pthread_mutex_unlock(&fe->last_mu);
    if (!had) return GR_E_NOT_FOUND;
    return *transcript ? GR_OK : GR_E_NOMEM;
}
