/* cmd_chat.c — `gemrun chat [-m MODEL]`: interactive multi-turn chat with streaming output. Each turn
 * re-renders the whole conversation with the model's chat format (earlier thoughts stripped), keeps
 * the KV cache for the common token prefix and evaluates only the rest. Ctrl-C (SIGINT) stops the
 * current answer and returns to the prompt; end of input quits. Must not contain model or
 * tokenizer logic: it only wires the library together. */
#include "cli/commands.h"
#include "cli/pull_ui.h"
#include "cli/signals.h"
#include "core/cancel.h"
#include "decode/sampler.h"
#include "model/model.h"
#include "text/chat.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct chat_opts {
    const char *model, *system;
    bool think, show_thought, debug;
    cli_model_opts mo;
    int n_ctx, threads, max_tokens;
    gr_sampler_params sp;
} chat_opts;

static void usage(FILE *f) {
    fprintf(f, "usage: gemrun chat [-m MODEL] [--offline] [--system TEXT] [--think] [--show-thought]\n"
               "                  [-c N_CTX] [-t THREADS] [-n MAX_TOKENS] [--temp T] [--top-k K]\n"
               "                  [--top-p P] [--min-p P] [--repeat-penalty R] [--seed S]\n"
               "MODEL: a GGUF file, a cache entry, or a registry id / OWNER/REPO/FILE.gguf / URL,\n"
               "downloaded on first use unless --offline (default: the fit plan's choice).\n"
               "Type a message and press Enter. Ctrl-C stops an answer; Ctrl-D (end of input) quits.\n");
}

static int parse(int argc, char **argv, chat_opts *o) {
    *o = (chat_opts){.threads = 1, .max_tokens = 1024, .sp = gr_sampler_default_params(),
                     .debug = getenv("GEMRUN_CHAT_DEBUG") != NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--think")) o->think = true;
        else if (!strcmp(a, "--show-thought")) o->show_thought = true;
        else if (!strcmp(a, "--offline")) o->mo.offline = true;
        else if (!v) { fprintf(stderr, "gemrun chat: %s needs a value\n", a); return 2; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v, i++;
        else if (!strcmp(a, "--system")) o->system = v, i++;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) o->n_ctx = atoi(v), i++;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) o->threads = atoi(v), i++;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) o->max_tokens = atoi(v), i++;
        else if (!strcmp(a, "--temp")) o->sp.temp = (float)atof(v), i++;
        else if (!strcmp(a, "--top-k")) o->sp.top_k = atoi(v), i++;
        else if (!strcmp(a, "--top-p")) o->sp.top_p = (float)atof(v), i++;
        else if (!strcmp(a, "--min-p")) o->sp.min_p = (float)atof(v), i++;
        else if (!strcmp(a, "--repeat-penalty")) o->sp.repeat_penalty = (float)atof(v), i++;
        else if (!strcmp(a, "--seed")) o->sp.seed = strtoull(v, NULL, 10), i++;
        else { fprintf(stderr, "gemrun chat: unknown option %s\n", a); return 2; }
    }
    if (o->threads < 1 || o->max_tokens < 1 || o->n_ctx < 0) {
        usage(stderr);
        return 2;
    }
    return -1;
}

typedef struct session {
    gr_model *model;
    gr_context *ctx;
    gr_tokenizer *tok;
    gr_sampler *smp;
    gr_chat_format fmt;
    int32_t stop[4];
    size_t n_stop;
    gr_chat_msg *msgs; /* contents are malloc'd */
    size_t n_msgs;
    int32_t *evald; /* tokens currently in the KV cache */
    size_t n_evald, cap_evald;
    gr_cancel cancel;
} session;

static bool push_msg(session *s, gr_chat_role role, const char *text, size_t len) {
    gr_chat_msg *nm = realloc(s->msgs, (s->n_msgs + 1) * sizeof *nm);
    if (!nm) return false;
    s->msgs = nm;
    char *c = malloc(len + 1);
    if (!c) return false;
    memcpy(c, text, len);
    c[len] = 0;
    s->msgs[s->n_msgs++] = (gr_chat_msg){role, c, len};
    return true;
}

static bool push_evald(session *s, const int32_t *ids, size_t n) {
    if (s->n_evald + n > s->cap_evald) {
        size_t nc = (s->n_evald + n) * 2;
        int32_t *ne = realloc(s->evald, nc * sizeof *ne);
        if (!ne) return false;
        s->evald = ne;
        s->cap_evald = nc;
    }
    memcpy(s->evald + s->n_evald, ids, n * sizeof *ids);
    s->n_evald += n;
    return true;
}

/* Tokenize the rendered conversation; evaluate what the cache does not hold yet. */
static gr_status feed_prompt(session *s, const chat_opts *o, char *err, size_t errlen) {
    gr_chat_opts co = {o->think, true};
    char *text;
    size_t len, n;
    gr_status st = gr_chat_render(s->fmt, s->msgs, s->n_msgs, &co, &text, &len, err, errlen);
    if (st) return st;
    st = gr_tokenize(s->tok, text, len, true, true, NULL, 0, &n, err, errlen);
    int32_t *ids = st ? NULL : malloc((n + 1) * sizeof *ids);
    if (!st && !ids) st = GR_E_NOMEM;
    if (!st) st = gr_tokenize(s->tok, text, len, true, true, ids, n, &n, err, errlen);
    free(text);
    if (st) { free(ids); return st; }
    size_t common = 0;
    while (common < n && common < s->n_evald && ids[common] == s->evald[common]) common++;
    if (common == n) common = n - 1; /* re-evaluate the last token to get its logits */
    gr_context_truncate(s->ctx, (uint32_t)common);
    s->n_evald = gr_context_n_past(s->ctx); /* may have fallen back to 0 */
    size_t from = s->n_evald;
    if (o->debug) fprintf(stderr, "[prompt: %zu tokens, %zu reused from the cache]\n", n, from);
    st = gr_context_eval(s->ctx, ids + from, (uint32_t)(n - from), &s->cancel, err, errlen);
    if (!st) {
        for (size_t i = from; i < n; i++) gr_sampler_accept(s->smp, ids[i]);
        if (!push_evald(s, ids + from, n - from)) st = GR_E_NOMEM;
    }
    free(ids);
    return st;
}

static bool is_stop(const session *s, int32_t id) {
    for (size_t i = 0; i < s->n_stop; i++)
        if (s->stop[i] == id) return true;
    return gr_tokenizer_is_eog(s->tok, id);
}

/* Print answer text, dimmed thought text (only with --show-thought). */
static void show(const char *ans, size_t na, const char *th, size_t nt, bool show_thought) {
    if (nt && show_thought) {
        fputs("\x1b[2m", stdout);
        fwrite(th, 1, nt, stdout);
        fputs("\x1b[0m", stdout);
    }
    fwrite(ans, 1, na, stdout);
    fflush(stdout);
}

/* Sample and stream one answer; the raw text (thought included) goes into the history. */
static void answer(session *s, const chat_opts *o) {
    char piece[512], utf[600], ans[640], th[640], err[256];
    size_t cap = 4096, n = 0, na, nt;
    char *raw = malloc(cap);
    gr_utf8_stream us = {0};
    gr_thought_filter tf;
    gr_thought_filter_init(&tf);
    const char *why = NULL;
    for (int i = 0; raw && i < o->max_tokens; i++) {
        const float *logits = gr_context_logits(s->ctx, -1);
        if (!logits) { why = "no logits"; break; }
        int32_t id = gr_sampler_sample(s->smp, logits);
        if (is_stop(s, id)) break;
        gr_sampler_accept(s->smp, id);
        size_t k = gr_token_piece(s->tok, id, false, piece, sizeof piece);
        if (k > sizeof piece) k = sizeof piece;
        if (n + k > cap) {
            char *nr = realloc(raw, cap = (n + k) * 2);
            if (!nr) break;
            raw = nr;
        }
        memcpy(raw + n, piece, k);
        n += k;
        size_t u = gr_utf8_stream_feed(&us, piece, k, utf, sizeof utf);
        if (s->fmt == GR_CHAT_GEMMA4) {
            gr_thought_filter_feed(&tf, utf, u, ans, &na, th, &nt);
            show(ans, na, th, nt, o->show_thought);
        } else {
            show(utf, u, NULL, 0, false);
        }
        gr_status st = gr_context_eval(s->ctx, &id, 1, &s->cancel, err, sizeof err);
        if (st == GR_E_CANCELLED) { why = "stopped"; break; }
        if (st) { why = err; break; }
        push_evald(s, &id, 1);
        if (gr_cancel_check(&s->cancel)) { why = "stopped"; break; }
    }
    size_t u = gr_utf8_stream_flush(&us, utf, sizeof utf);
    if (s->fmt == GR_CHAT_GEMMA4) {
        gr_thought_filter_feed(&tf, utf, u, ans, &na, th, &nt);
        show(ans, na, th, nt, o->show_thought);
        gr_thought_filter_flush(&tf, ans, &na, th, &nt);
        show(ans, na, th, nt, o->show_thought);
    } else {
        show(utf, u, NULL, 0, false);
    }
    printf(why ? "\n[%s]\n" : "\n", why);
    if (raw) push_msg(s, GR_ROLE_MODEL, raw, n);
    free(raw);
}

static int open_session(session *s, const chat_opts *o) {
    char err[512];
    memset(s, 0, sizeof *s);
    gr_cancel_init(&s->cancel);
    if (gr_model_load(o->model, &s->model, err, sizeof err) ||
        gr_tokenizer_from_gguf(gr_model_gguf(s->model), &s->tok, err, sizeof err) ||
        gr_chat_detect_gguf(gr_model_gguf(s->model), &s->fmt, err, sizeof err)) {
        fprintf(stderr, "gemrun chat: %s: %s\n", o->model, err);
        return 1;
    }
    gr_context_params cp = gr_context_default_params();
    cp.n_ctx = (uint32_t)o->n_ctx;
    cp.n_threads = o->threads;
    if (gr_context_new(s->model, &cp, &s->ctx, err, sizeof err) ||
        gr_sampler_new(&o->sp, gr_tokenizer_n_vocab(s->tok), &s->smp, err, sizeof err)) {
        fprintf(stderr, "gemrun chat: %s\n", err);
        return 1;
    }
    s->n_stop = gr_chat_stop_tokens(s->fmt, s->tok, s->stop, 4);
    if (s->n_stop > 4) s->n_stop = 4;
    if (o->system && !push_msg(s, GR_ROLE_SYSTEM, o->system, strlen(o->system))) return 1;
    return 0;
}

static void close_session(session *s) {
    for (size_t i = 0; i < s->n_msgs; i++) free((void *)s->msgs[i].content);
    free(s->msgs);
    free(s->evald);
    gr_sampler_free(s->smp);
    gr_context_free(s->ctx);
    gr_tokenizer_free(s->tok);
    gr_model_free(s->model);
}

int cmd_chat(int argc, char **argv) {
    chat_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    char path[4096];
    if (cli_model_path("chat", o.model, &o.mo, path, sizeof path)) return 1;
    o.model = path;
    session s;
    if (open_session(&s, &o)) {
        close_session(&s);
        return 1;
    }
    cli_signals saved; /* Ctrl-C stops an answer; at the prompt it does not end the input stream */
    cli_cancel_on_signals(&s.cancel, false, &saved);
    fprintf(stderr, "gemrun chat (%s format, %s%s). Ctrl-C stops an answer, Ctrl-D quits.\n",
            gr_chat_format_name(s.fmt), o.think ? "thinking on" : "thinking off",
            o.system ? ", with system prompt" : "");
    char line[65536], err[512];
    for (;;) {
        fputs("> ", stdout);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) break;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        gr_cancel_init(&s.cancel); /* a Ctrl-C at the prompt must not cancel the next answer */
        if (!push_msg(&s, GR_ROLE_USER, line, len)) break;
        gr_status st = feed_prompt(&s, &o, err, sizeof err);
        if (st) {
            fprintf(stderr, "[%s]\n", st == GR_E_CANCELLED ? "stopped" : err);
            free((void *)s.msgs[--s.n_msgs].content); /* forget the unanswered message */
            continue;
        }
        answer(&s, &o);
    }
    cli_signals_restore(&saved);
    close_session(&s);
    return 0;
}
