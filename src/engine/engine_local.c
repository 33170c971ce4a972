/* engine_local.c — the local engine (see engine_local.h): chat rendering, tokenization, chunked
 * prefill with prefix reuse, sampling and streaming over one gr_context. Must not contain model
 * math or tokenizer rules: those live in src/model and src/text. */
#include "engine/engine_local.h"

#include "core/error.h"
#include "decode/sampler.h"
#include "grammar/gram_tok.h"
#include "text/chat.h"
#include "text/tokenizer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#define DEFAULT_BATCH 64
#define DEFAULT_THREADS 2
#define DEFAULT_MAX_TOKENS 256
#define MAX_STOP 8
#define GRAMMAR_CACHE 8   /* compiled grammars kept per engine, keyed by kind + schema text */
#define MAX_STOP_SEQS 16  /* request stop sequences */
#define MAX_STOP_LEN 256

typedef struct cached_grammar {
    gr_output_kind kind;
    char *schema; /* NULL for GR_OUTPUT_JSON */
    gr_grammar *g;
} cached_grammar;

typedef struct local_engine {
    gr_engine base;
    gr_model *owned; /* loaded here, or NULL when borrowed */
    const gr_model *model;
    gr_tokenizer *tok;
    gr_context *ctx;
    gr_chat_format fmt;
    int32_t stop[MAX_STOP];
    size_t n_stop;
    int32_t *cached; /* tokens whose KV entries the context holds, in order */
    uint32_t n_cached;
    uint32_t n_ctx;
    uint32_t n_batch;
    int default_max;
    bool thinking;
    char model_id[64];
    atomic_int busy;
    int last_prompt, last_reused;
    /* grammar constraints: per-vocabulary data built on the first constrained request */
    gr_gvocab *gvocab;
    double gvocab_ms;
    uint32_t *mask;
    cached_grammar grammars[GRAMMAR_CACHE];
    unsigned next_grammar;
    double last_grammar_ms;
} local_engine;

/* Growable output text. */
typedef struct text_buf {
    char *p;
    size_t n, cap;
    bool oom;
} text_buf;

static void text_add(text_buf *b, const char *s, size_t n) {
    if (!n || b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *t = realloc(b->p, cap);
        if (!t) {
            b->oom = true;
            return;
        }
        b->p = t, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* ---- creation -----------------------------------------------------------------------------------
 */

static void id_from_model(local_engine *e, const gr_local_config *cfg) {
    if (cfg->model_id) {
        snprintf(e->model_id, sizeof e->model_id, "%s", cfg->model_id);
        return;
    }
    gr_gguf_str s;
    if (gr_gguf_get_str(gr_model_gguf(e->model), "general.name", &s) == GR_OK && s.len) {
        int n = s.len < sizeof e->model_id - 1 ? (int)s.len : (int)sizeof e->model_id - 1;
        snprintf(e->model_id, sizeof e->model_id, "%.*s", n, s.ptr);
        return;
    }
    const char *p = cfg->model_path ? cfg->model_path : "local";
    const char *slash = strrchr(p, '/');
    snprintf(e->model_id, sizeof e->model_id, "%s", slash ? slash + 1 : p);
}

static gr_status check_config(const gr_local_config *cfg, char *err, size_t errlen) {
    if (!cfg) return gr_err(GR_E_INVALID_ARG, err, errlen, "local engine: config is NULL");
    if (!cfg->model_path == !cfg->model)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "local engine: give exactly one of model_path and model");
    if (cfg->n_threads < 0 || cfg->n_threads > 256)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "local engine: n_threads %d out of range",
                      cfg->n_threads);
    if (cfg->default_max_tokens < 0)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "local engine: default_max_tokens < 0");
    return GR_OK;
}

static gr_status make_context(local_engine *e, const gr_local_config *cfg, char *err,
                              size_t errlen) {
    gr_context_params cp = gr_context_default_params();
    cp.n_ctx = cfg->n_ctx;
    cp.n_batch = cfg->n_batch ? cfg->n_batch : DEFAULT_BATCH;
    cp.n_threads = cfg->n_threads ? cfg->n_threads : DEFAULT_THREADS;
    gr_status s = gr_context_new(e->model, &cp, &e->ctx, err, errlen);
    if (s) return s;
    e->n_ctx = gr_context_n_ctx(e->ctx);
    e->n_batch = cp.n_batch;
    e->cached = malloc((size_t)e->n_ctx * sizeof *e->cached);
    return e->cached ? GR_OK : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
}

static const gr_engine_ops LOCAL_OPS;

static void local_destroy(gr_engine *base) {
    local_engine *e = (local_engine *)base;
    if (!e) return;
    gr_context_free(e->ctx);
    for (int i = 0; i < GRAMMAR_CACHE; i++) {
        free(e->grammars[i].schema);
        gr_grammar_free(e->grammars[i].g);
    }
    gr_gvocab_free(e->gvocab);
    free(e->mask);
    if (e->tok) gr_tokenizer_free(e->tok);
    gr_model_free(e->owned);
    free(e->cached);
    free(e);
}

gr_status gr_local_engine_new(const gr_local_config *cfg, gr_engine **out, char *err,
                              size_t errlen) {
    if (!out) return gr_err(GR_E_INVALID_ARG, err, errlen, "local engine: out is NULL");
    *out = NULL;
    gr_status s = check_config(cfg, err, errlen);
    if (s) return s;
    local_engine *e = calloc(1, sizeof *e);
    if (!e) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    e->base.ops = &LOCAL_OPS;
    e->default_max = cfg->default_max_tokens ? cfg->default_max_tokens : DEFAULT_MAX_TOKENS;
    e->thinking = cfg->thinking;
    if (cfg->model_path) {
        s = gr_model_load(cfg->model_path, &e->owned, err, errlen);
        e->model = e->owned;
    } else {
        e->model = cfg->model;
    }
    const gr_gguf *g = s ? NULL : gr_model_gguf(e->model);
    if (!s) s = gr_tokenizer_from_gguf(g, &e->tok, err, errlen);
    if (!s) s = gr_chat_detect_gguf(g, &e->fmt, err, errlen);
    if (!s) s = make_context(e, cfg, err, errlen);
    if (s) {
        local_destroy(&e->base);
        return s;
    }
    e->n_stop = gr_chat_stop_tokens(e->fmt, e->tok, e->stop, MAX_STOP);
    id_from_model(e, cfg);
    *out = &e->base;
    return GR_OK;
}

int gr_local_engine_last_prompt_tokens(const gr_engine *e) {
    return ((const local_engine *)e)->last_prompt;
}

int gr_local_engine_last_reused(const gr_engine *e) {
    return ((const local_engine *)e)->last_reused;
}

double gr_local_engine_grammar_setup_ms(const gr_engine *e) {
    return ((const local_engine *)e)->gvocab_ms;
}

double gr_local_engine_last_grammar_ms(const gr_engine *e) {
    return ((const local_engine *)e)->last_grammar_ms;
}

/* ---- grammar constraints ------------------------------------------------------------------------
 */

static bool constrained(const gr_request *req) {
    return req->output.kind == GR_OUTPUT_JSON || req->output.kind == GR_OUTPUT_JSON_SCHEMA;
}

/* The per-vocabulary data, built once per engine (its time is reported separately). */
static gr_status ensure_gvocab(local_engine *e, char *err, size_t errlen) {
    if (e->gvocab) return GR_OK;
    double t0 = gr_now();
    gr_status s = gr_gvocab_from_tokenizer(e->tok, &e->gvocab, err, errlen);
    if (s) return s;
    e->mask = malloc(gr_gvocab_mask_words(e->gvocab) * sizeof *e->mask);
    if (!e->mask) {
        gr_gvocab_free(e->gvocab);
        e->gvocab = NULL;
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    e->gvocab_ms = (gr_now() - t0) * 1e3;
    return GR_OK;
}

/* Compiled grammar for the request's constraint, from the cache or compiled now. Compile errors are
 * request errors (GR_E_UNSUPPORTED / GR_E_INVALID_ARG): never a fall back to free generation. */
static gr_status get_grammar(local_engine *e, const gr_request *req, const gr_grammar **out, char *err,
                             size_t errlen) {
    const char *schema = req->output.kind == GR_OUTPUT_JSON_SCHEMA ? req->output.schema : NULL;
    if (req->output.kind == GR_OUTPUT_JSON_SCHEMA && !schema)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "output schema: kind json_schema without a schema");
    for (int i = 0; i < GRAMMAR_CACHE; i++) {
        cached_grammar *c = &e->grammars[i];
        if (c->g && c->kind == req->output.kind && (!schema ? !c->schema : c->schema && !strcmp(c->schema, schema))) {
            *out = c->g;
            return GR_OK;
        }
    }
    gr_grammar *g = NULL;
    char msg[200] = "";
    gr_status s = schema ? gr_grammar_from_schema(schema, strlen(schema), NULL, &g, msg, sizeof msg)
                         : gr_grammar_json(NULL, &g, msg, sizeof msg);
    if (s == GR_E_FORMAT) s = GR_E_INVALID_ARG;
    if (s) return gr_err(s, err, errlen, "output schema: %s", msg);
    char *key = schema ? strdup(schema) : NULL;
    if (schema && !key) {
        gr_grammar_free(g);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    cached_grammar *c = &e->grammars[e->next_grammar++ % GRAMMAR_CACHE];
    free(c->schema);
    gr_grammar_free(c->g);
    *c = (cached_grammar){req->output.kind, key, g};
    *out = g;
    return GR_OK;
}

static gr_status check_stops(const gr_request *req, char *err, size_t errlen) {
    if (req->n_stop && !req->stop) return gr_err(GR_E_INVALID_ARG, err, errlen, "n_stop > 0 but stop is NULL");
    if (req->n_stop > MAX_STOP_SEQS)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "at most %d stop sequences", MAX_STOP_SEQS);
    for (size_t i = 0; i < req->n_stop; i++) {
        size_t n = req->stop[i] ? strlen(req->stop[i]) : 0;
        if (n == 0 || n > MAX_STOP_LEN)
            return gr_err(GR_E_INVALID_ARG, err, errlen, "stop sequence %zu: length must be 1..%d", i,
                          MAX_STOP_LEN);
    }
    return GR_OK;
}

/* ---- prompt
 * --------------------------------------------------------------------------------------- */

/* Renders the conversation and tokenizes it into a malloc'ed array. */
static gr_status build_prompt(local_engine *e, const gr_request *req, int32_t **ids, size_t *n,
                              char *err, size_t errlen) {
    /* Under a grammar the output must be the document itself: no thought channel is asked for. */
    const bool thinking = e->thinking && !constrained(req);
    if (!req->messages || !req->n_messages)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "request has no messages");
    for (size_t i = 0; i < req->n_messages; i++)
        if (req->messages[i].n_images)
            return gr_err(GR_E_UNSUPPORTED, err, errlen,
                          "the local engine reads text only: message %zu has %zu image(s)", i,
                          req->messages[i].n_images);
    gr_chat_msg *msgs = calloc(req->n_messages, sizeof *msgs);
    if (!msgs) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    for (size_t i = 0; i < req->n_messages; i++) {
        const char *t = req->messages[i].text ? req->messages[i].text : "";
        msgs[i] = (gr_chat_msg){req->messages[i].role, t, strlen(t)};
    }
    gr_chat_opts o = {.thinking = thinking, .add_generation_prompt = true};
    char *text = NULL;
    size_t len = 0;
    gr_status s = gr_chat_render(e->fmt, msgs, req->n_messages, &o, &text, &len, err, errlen);
    free(msgs);
    if (s) return s;
    size_t cap = len + 16, got = 0;
    int32_t *buf = NULL;
    for (int attempt = 0; attempt < 2 && !s; attempt++) {
        int32_t *t = realloc(buf, cap * sizeof *buf);
        if (!t) {
            s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
            break;
        }
        buf = t;
        s = gr_tokenize(e->tok, text, len, true, true, buf, cap, &got, err, errlen);
        if (!s && got <= cap) break;
        cap = got;
    }
    free(text);
    if (!s && got > cap) s = gr_err(GR_E_INTERNAL, err, errlen, "tokenizer count changed");
    if (s) {
        free(buf);
        return s;
    }
    *ids = buf;
    *n = got;
    return GR_OK;
}

/* Drops the KV entries after the longest common prefix with the previous tokens; keeps at least one
 * prompt token to evaluate so the last position's logits are fresh. Returns the reused count. */
static uint32_t reuse_prefix(local_engine *e, const int32_t *ids, uint32_t n) {
    uint32_t p = 0;
    while (p < e->n_cached && p < n && e->cached[p] == ids[p])
        p++;
    if (p == n) p = n - 1;
    gr_context_truncate(e->ctx, p);
    e->n_cached = gr_context_n_past(e->ctx); /* the sliding ring may force a full reset */
    return e->n_cached;
}

/* Evaluates ids[from..n) in n_batch chunks, checking the request between chunks. */
static gr_status prefill(local_engine *e, const gr_request *req, const gr_cancel *cancel,
                         const int32_t *ids, uint32_t n, char *err, size_t errlen) {
    for (uint32_t i = e->n_cached; i < n;) {
        gr_status s = gr_engine_check(cancel, req);
        if (s)
            return gr_err(s, err, errlen, "%s during prompt processing (%u of %u tokens)",
                          s == GR_E_TIMEOUT ? "deadline passed" : "cancelled", i, n);
        uint32_t k = n - i < e->n_batch ? n - i : e->n_batch;
        s = gr_context_eval(e->ctx, ids + i, k, cancel, err, errlen);
        if (s) return s;
        memcpy(e->cached + i, ids + i, k * sizeof *ids);
        i += k;
        e->n_cached = i;
    }
    return GR_OK;
}

/* ---- decode
 * --------------------------------------------------------------------------------------- */

typedef struct stream {
    gr_utf8_stream utf;
    gr_thought_filter tf;
    bool strip;
    gr_sink_fn sink;
    void *user;
    text_buf text;
    bool sink_stopped;
    /* stop sequences: answer text that may be the start of one is held back until it is decided */
    const char *const *stop;
    size_t n_stop;
    char held[2 * MAX_STOP_LEN + 3 * 256 + 64];
    size_t n_held;
    bool stop_hit;
} stream;

static void deliver(stream *st, const char *s, size_t n) {
    /* after the sink said stop nothing more is produced, so deltas and text stay equal */
    if (!n || st->sink_stopped) return;
    text_add(&st->text, s, n);
    if (st->sink && st->sink(st->user, s, n)) st->sink_stopped = true;
}

/* Length of the longest suffix of h[0..n) that is a proper prefix of a stop sequence. */
static size_t stop_tail(const stream *st, const char *h, size_t n) {
    size_t best = 0;
    for (size_t i = 0; i < st->n_stop; i++) {
        size_t len = strlen(st->stop[i]);
        for (size_t k = len - 1 < n ? len - 1 : n; k > best; k--)
            if (!memcmp(h + n - k, st->stop[i], k)) {
                best = k;
                break;
            }
    }
    return best;
}

static void emit(stream *st, const char *s, size_t n) {
    if (!st->n_stop) {
        deliver(st, s, n);
        return;
    }
    while (n && !st->stop_hit) {
        size_t take = sizeof st->held - st->n_held;
        if (take > n) take = n;
        memcpy(st->held + st->n_held, s, take);
        st->n_held += take, s += take, n -= take;
        size_t cut = st->n_held;
        for (size_t i = 0; i < st->n_stop; i++) {
            const char *m = memmem(st->held, st->n_held, st->stop[i], strlen(st->stop[i]));
            if (m && (size_t)(m - st->held) < cut) cut = (size_t)(m - st->held), st->stop_hit = true;
        }
        size_t keep = st->stop_hit ? 0 : stop_tail(st, st->held, st->n_held);
        if (!st->stop_hit) cut = st->n_held - keep;
        deliver(st, st->held, cut);
        memmove(st->held, st->held + st->n_held - keep, keep);
        st->n_held = keep;
    }
}

/* End of output: held text that did not become a stop sequence is part of the answer. */
static void emit_flush(stream *st) {
    if (!st->stop_hit) deliver(st, st->held, st->n_held);
    st->n_held = 0;
}

/* Bytes -> complete UTF-8 -> thought filter -> sink. */
static void stream_feed(stream *st, const char *bytes, size_t n, bool flush) {
    char utf[3 * 256 + 16], ans[sizeof utf + 16];
    size_t u = gr_utf8_stream_feed(&st->utf, bytes, n, utf, sizeof utf);
    if (flush) u += gr_utf8_stream_flush(&st->utf, utf + u, sizeof utf - u);
    size_t na = 0, nt = 0;
    if (!st->strip) {
        emit(st, utf, u);
        if (flush) emit_flush(st);
        return;
    }
    gr_thought_filter_feed(&st->tf, utf, u, ans, &na, NULL, &nt);
    emit(st, ans, na);
    if (flush) {
        na = 0;
        gr_thought_filter_flush(&st->tf, ans, &na, NULL, &nt);
        emit(st, ans, na);
        emit_flush(st);
    }
}

/* The text of a generated token. Control tokens are dropped, except the thought-channel markers
 * the filter must see. */
static size_t token_text(const local_engine *e, int32_t id, char *buf, size_t cap) {
    size_t n = gr_token_piece(e->tok, id, true, buf, cap);
    if (n > cap) n = cap;
    if (gr_tokenizer_token_type(e->tok, id) != 3) return n;
    if ((n == 10 && !memcmp(buf, "<|channel>", 10)) || (n == 10 && !memcmp(buf, "<channel|>", 10)))
        return n;
    return 0;
}

static bool is_stop(const local_engine *e, int32_t id) {
    for (size_t i = 0; i < e->n_stop; i++)
        if (e->stop[i] == id) return true;
    return gr_tokenizer_is_eog(e->tok, id);
}

static gr_sampler_params sampler_params(const gr_sampling *in) {
    gr_sampler_params p = gr_sampler_default_params();
    p.temp = in->temperature < 0 ? 1.0f : in->temperature;
    p.top_k = in->top_k > 0 ? in->top_k : 64;
    if (in->top_p > 0) p.top_p = in->top_p;
    p.min_p = in->min_p > 0 ? in->min_p : 0;
    p.repeat_penalty = in->repeat_penalty > 0 ? in->repeat_penalty : 1.0f;
    p.seed = in->seed ? in->seed : (uint64_t)time(NULL) ^ (uint64_t)(gr_now() * 1e9);
    return p;
}

typedef struct gen_state {
    int max_tokens, produced;
    double t_start, t_prefill_end, t_first, t_last;
    bool hit_length;
} gen_state;

/* Samples the next token: under a grammar only the tokens its mask allows (time accounted). */
static int32_t next_token(local_engine *e, gr_gmatch *gm, gr_sampler *smp, const float *logits) {
    if (!gm) return gr_sampler_sample(smp, logits);
    double t0 = gr_now();
    int32_t n = gr_gmatch_mask(gm, e->gvocab, e->mask);
    e->last_grammar_ms += (gr_now() - t0) * 1e3;
    return n > 0 ? gr_sampler_sample_masked(smp, logits, e->mask) : -1;
}

static gr_status decode(local_engine *e, const gr_request *req, const gr_cancel *cancel,
                        gr_sampler *smp, gr_gmatch *gm, stream *st, gen_state *g, char *err,
                        size_t errlen) {
    const uint32_t V = gr_model_config(e->model)->n_vocab;
    char piece[256];
    for (;;) {
        const float *logits = gr_context_logits(e->ctx, -1);
        if (!logits) return gr_err(GR_E_INTERNAL, err, errlen, "no logits after evaluation");
        int32_t id = next_token(e, gm, smp, logits);
        if (id < 0 && gm)
            return gr_err(GR_E_INTERNAL, err, errlen, "grammar: no token can continue the output");
        if (id < 0 || (uint32_t)id >= V) return gr_err(GR_E_INTERNAL, err, errlen, "bad token");
        if (is_stop(e, id)) return GR_OK;
        if (gm) {
            double t0 = gr_now();
            bool ok = gr_gmatch_accept(gm, e->gvocab, id);
            e->last_grammar_ms += (gr_now() - t0) * 1e3;
            if (!ok) return gr_err(GR_E_INTERNAL, err, errlen, "grammar: sampled token %d rejected", id);
        }
        double now = gr_now();
        if (!g->produced) g->t_first = now;
        g->t_last = now; /* produced tokens only: gen_tok_s counts the evals between them */
        gr_sampler_accept(smp, id);
        g->produced++;
        stream_feed(st, piece, token_text(e, id, piece, sizeof piece), false);
        if (st->sink_stopped) return gr_err(GR_E_CANCELLED, err, errlen, "stopped by the sink");
        if (st->stop_hit || (gm && gr_gmatch_done(gm))) return GR_OK; /* stop sequence / document complete */
        if (g->produced >= g->max_tokens || e->n_cached >= e->n_ctx) {
            g->hit_length = true;
            return GR_OK;
        }
        gr_status s = gr_engine_check(cancel, req);
        if (s)
            return gr_err(s, err, errlen, "%s after %d generated tokens",
                          s == GR_E_TIMEOUT ? "deadline passed" : "cancelled", g->produced);
        s = gr_context_eval(e->ctx, &id, 1, cancel, err, errlen);
        if (s) return s;
        e->cached[e->n_cached++] = id;
    }
}

/* ---- generate
 * ------------------------------------------------------------------------------------- */

static void fill_timings(const gen_state *g, int prompt_evaluated, gr_result *out) {
    double end = gr_now();
    out->timings.total_ms = (end - g->t_start) * 1e3;
    if (g->produced) out->timings.ttft_ms = (g->t_first - g->t_start) * 1e3;
    double pt = g->t_prefill_end - g->t_start;
    if (g->t_prefill_end > 0 && prompt_evaluated > 0 && pt > 0)
        out->timings.prompt_tok_s = prompt_evaluated / pt;
    double gt = g->t_last - g->t_first;
    if (g->produced > 1 && gt > 0) out->timings.gen_tok_s = (g->produced - 1) / gt;
}

static gr_status run_request(local_engine *e, const gr_request *req, gr_sink_fn sink, void *user,
                             gr_cancel *cancel, gr_result *out, gen_state *g, stream *st,
                             int *evaluated) {
    char *err = out->error;
    const size_t errlen = sizeof out->error;
    int32_t *ids = NULL;
    size_t n = 0;
    gr_sampler *smp = NULL;
    gr_gmatch *gm = NULL;
    const gr_grammar *gram = NULL;
    gr_status s = gr_engine_check(cancel, req);
    if (s)
        return gr_err(s, err, errlen,
                      s == GR_E_TIMEOUT ? "deadline passed before start"
                                        : "cancelled before start");
    if (req->max_tokens < 0 || (req->deadline != req->deadline))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "request: bad max_tokens or deadline");
    s = check_stops(req, err, errlen);
    e->last_grammar_ms = 0;
    if (!s && constrained(req)) {
        s = ensure_gvocab(e, err, errlen);
        if (!s) s = get_grammar(e, req, &gram, err, errlen);
        if (!s) s = gr_gmatch_new(gram, &gm, err, errlen);
        if (s) goto done;
    }
    if (!s) s = build_prompt(e, req, &ids, &n, err, errlen);
    if (!s && n + 1 > e->n_ctx)
        s = gr_err(GR_E_CONTEXT_FULL, err, errlen,
                   "prompt has %zu tokens but the context holds %u (room is needed for at least "
                   "one generated token)",
                   n, e->n_ctx);
    if (s) goto done;
    out->usage.prompt_tokens = (int)n;
    e->last_prompt = (int)n;
    e->last_reused = (int)reuse_prefix(e, ids, (uint32_t)n);
    *evaluated = (int)n - e->last_reused;
    gr_sampler_params sp = sampler_params(&req->sampling);
    s = gr_sampler_new(&sp, (int32_t)gr_model_config(e->model)->n_vocab, &smp, err, errlen);
    if (!s) s = prefill(e, req, cancel, ids, (uint32_t)n, err, errlen);
    if (s) goto done;
    g->t_prefill_end = gr_now();
    for (size_t i = 0; i < n; i++)
        gr_sampler_accept(smp, ids[i]);
    st->sink = sink, st->user = user;
    if (!gm) st->stop = req->stop, st->n_stop = req->n_stop; /* stop sequences: free text only */
    s = decode(e, req, cancel, smp, gm, st, g, err, errlen);
done:
    gr_gmatch_free(gm);
    free(ids);
    gr_sampler_free(smp);
    return s;
}

static gr_status local_generate(gr_engine *base, const gr_request *req, gr_sink_fn sink, void *user,
                                gr_cancel *cancel, gr_result *out) {
    local_engine *e = (local_engine *)base;
    memset(out, 0, sizeof *out);
    snprintf(out->engine, sizeof out->engine, "local");
    snprintf(out->model, sizeof out->model, "%s", e->model_id);
    if (!req) {
        out->finish = GR_FINISH_ERROR;
        out->status = gr_err(GR_E_INVALID_ARG, out->error, sizeof out->error, "request is NULL");
        return out->status;
    }
    int expect = 0;
    if (!atomic_compare_exchange_strong(&e->busy, &expect, 1)) {
        out->finish = GR_FINISH_ERROR;
        out->status = gr_err(GR_E_BUSY, out->error, sizeof out->error,
                             "previous invocation is still ongoing");
        return out->status;
    }
    gen_state g = {.t_start = gr_now()};
    g.max_tokens = req->max_tokens > 0 ? req->max_tokens : e->default_max;
    /* the thought filter is off under a grammar: no channel can appear, and a JSON string that
     * happens to contain a channel marker must not be cut */
    stream st = {.strip = e->fmt == GR_CHAT_GEMMA4 && !constrained(req)};
    gr_thought_filter_init(&st.tf);
    int evaluated = 0;
    /* Without a token, a local one carries the request deadline into gr_context_eval's
     * between-layer checks (the queue's tokens already carry it). */
    gr_cancel own;
    if (!cancel) {
        gr_cancel_init(&own);
        own.deadline = req->deadline > 0 ? req->deadline : 0;
        cancel = &own;
    }
    gr_status s = run_request(e, req, sink, user, cancel, out, &g, &st, &evaluated);
    stream_feed(&st, "", 0, true); /* release held bytes (also after a stop: they were produced) */
    if (st.text.oom && !s) s = gr_err(GR_E_NOMEM, out->error, sizeof out->error, "out of memory");
    out->text = st.text.p;
    out->text_len = st.text.n;
    out->usage.completion_tokens = g.produced;
    fill_timings(&g, evaluated, out);
    out->status = s;
    out->finish = gr_finish_for_status(s, g.hit_length);
    atomic_store(&e->busy, 0);
    return s;
}

static const char *local_model_id(const gr_engine *base) {
    return ((const local_engine *)base)->model_id;
}

static const gr_engine_ops LOCAL_OPS = {1, "local", local_generate, local_model_id, local_destroy};
