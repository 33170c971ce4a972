/* test_engine_local.c — the local engine on tiny synthetic Gemma 4 / Gemma 3 models with a small
 * byte-level vocabulary written here: its output against a greedy reference loop written in this
 * file (own context, argmax, stop at end-of-turn ids), max tokens, prefix reuse, cancellation
 * mid-prefill and mid-decode from another thread, deadlines, context-full, bad requests, the engine
 * behind the queue, and the public wrappers of include/gemrun.h over it. Must not depend on files
 * outside the repository. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine_local.h"
#include "gguf/gguf.h"
#include "layer/queue.h"
#include "model/synth.h"
#include "text/chat.h"
#include "text/tokenizer.h"
#include "tiny_vocab.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- fixtures: vocabulary + tiny models ------------------------------------------------------ */

static const char *const SPECIALS[] = {
    "<pad>",   "<eos>",      "<bos>",      "<unk>",           "<|turn>",
    "<turn|>", "<|channel>", "<channel|>", "<start_of_turn>", "<end_of_turn>"};
static const char *const WORDS[] = {
    "\xE2\x96\x81", "a",  "e",   "i",  "o",        "t",           "n", "s", "r", "h",
    "th",           "he", "the", "er", "\xC3\xA9", "\xE2\x82\xAC"};
static const char *const MERGES[] = {"t h", "h e", "th e", "e r"};
#define N_SPECIAL (sizeof SPECIALS / sizeof *SPECIALS)
#define N_WORDS (sizeof WORDS / sizeof *WORDS)

static void write_vocab(const char *path, const char *model) {
    tiny_vocab v = {model, SPECIALS, N_SPECIAL, WORDS, N_WORDS, NULL, 0};
    if (!strcmp(model, "gemma4")) v.merges = MERGES, v.n_merges = TINY_VOCAB_COUNT(MERGES);
    tiny_vocab_write(path, &v);
}

typedef struct fx {
    char dir[256], g4[300], g3[300];
    gr_model *m4, *m3;
} fx;

static fx F;

static void make_model(const char *preset, const char *vocab_model, const char *path) {
    char vocab[320];
    snprintf(vocab, sizeof vocab, "%s.vocab.gguf", path);
    write_vocab(vocab, vocab_model);
    gr_synth_opts o = {.preset = preset, .type = "q8_0", .seed = 11, .vocab_path = vocab};
    char err[256] = "";
    gr_status s = gr_synth_write(&o, path, err, sizeof err);
    if (s) fprintf(stderr, "synth: %s\n", err);
    assert_int_equal(s, GR_OK);
    unlink(vocab);
}

static int setup(void **st) {
    snprintf(F.dir, sizeof F.dir, "%s/test_engine_local.XXXXXX", GR_BINARY_DIR);
    if (!mkdtemp(F.dir)) return -1;
    snprintf(F.g4, sizeof F.g4, "%s/g4.gguf", F.dir);
    snprintf(F.g3, sizeof F.g3, "%s/g3.gguf", F.dir);
    make_model("gemma4-e2b-tiny", "gemma4", F.g4);
    make_model("gemma3-1b-tiny", "llama", F.g3);
    char err[256];
    if (gr_model_load(F.g4, &F.m4, err, sizeof err) ||
        gr_model_load(F.g3, &F.m3, err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **st) {
    gr_model_free(F.m4);
    gr_model_free(F.m3);
    unlink(F.g4);
    unlink(F.g3);
    rmdir(F.dir);
    return 0;
}

static gr_engine *new_engine(const gr_model *m, uint32_t n_ctx, uint32_t n_batch) {
    gr_local_config c = {
        .model = m, .n_ctx = n_ctx, .n_batch = n_batch, .n_threads = 2, .model_id = "tiny"};
    gr_engine *e = NULL;
    char err[256] = "";
    gr_status s = gr_local_engine_new(&c, &e, err, sizeof err);
    if (s) fprintf(stderr, "engine: %s\n", err);
    assert_int_equal(s, GR_OK);
    return e;
}

/* ---- the reference: greedy decoding written independently of the engine ------------------------
 */

typedef struct ref_out {
    char text[8192];
    size_t len;
    int n_prompt, n_gen;
    bool stopped; /* an end-of-turn id ended it */
} ref_out;

static int32_t argmax(const float *l, uint32_t n) {
    int32_t b = 0;
    for (uint32_t i = 1; i < n; i++)
        if (l[i] > l[b]) b = (int32_t)i;
    return b;
}

static void reference(const gr_model *m, const gr_message *msgs, size_t n, int max, ref_out *r) {
    memset(r, 0, sizeof *r);
    char err[256];
    gr_tokenizer *tk = NULL;
    gr_chat_format fmt;
    assert_int_equal(gr_tokenizer_from_gguf(gr_model_gguf(m), &tk, err, sizeof err), GR_OK);
    assert_int_equal(gr_chat_detect_gguf(gr_model_gguf(m), &fmt, err, sizeof err), GR_OK);
    gr_chat_msg cm[8];
    for (size_t i = 0; i < n; i++)
        cm[i] = (gr_chat_msg){msgs[i].role, msgs[i].text, strlen(msgs[i].text)};
    gr_chat_opts o = {.add_generation_prompt = true};
    char *txt = NULL;
    size_t tl = 0, np = 0;
    assert_int_equal(gr_chat_render(fmt, cm, n, &o, &txt, &tl, err, sizeof err), GR_OK);
    int32_t *ids = malloc((tl + 16) * sizeof *ids);
    assert_int_equal(gr_tokenize(tk, txt, tl, true, true, ids, tl + 16, &np, err, sizeof err),
                     GR_OK);
    gr_context_params cp = gr_context_default_params();
    cp.n_ctx = (uint32_t)np + (uint32_t)max + 8;
    cp.n_threads = 1;
    gr_context *c = NULL;
    assert_int_equal(gr_context_new(m, &cp, &c, err, sizeof err), GR_OK);
    assert_int_equal(gr_context_eval(c, ids, (uint32_t)np, NULL, err, sizeof err), GR_OK);
    r->n_prompt = (int)np;
    const uint32_t V = gr_model_config(m)->n_vocab;
    char raw[8192];
    size_t rl = 0;
    while (r->n_gen < max) {
        int32_t id = argmax(gr_context_logits(c, -1), V);
        int32_t ty = gr_tokenizer_token_type(tk, id);
        const char *t =
            gr_tokenizer_find(tk, "<turn|>", 7) == id || gr_tokenizer_is_eog(tk, id) ? "stop" : "";
        if (*t) {
            r->stopped = true;
            break;
        }
        r->n_gen++;
        char piece[64];
        size_t pl = gr_token_piece(tk, id, true, piece, sizeof piece);
        bool marker =
            pl == 10 && (!memcmp(piece, "<|channel>", 10) || !memcmp(piece, "<channel|>", 10));
        if (ty != 3 || marker) memcpy(raw + rl, piece, pl), rl += pl;
        assert_int_equal(gr_context_eval(c, &id, 1, NULL, err, sizeof err), GR_OK);
    }
    /* the engine repairs invalid UTF-8 and strips the thought channel (Gemma 4) */
    gr_utf8_stream us = {0};
    char utf[3 * 8192 + 16];
    size_t ul = gr_utf8_stream_feed(&us, raw, rl, utf, sizeof utf);
    ul += gr_utf8_stream_flush(&us, utf + ul, sizeof utf - ul);
    if (fmt == GR_CHAT_GEMMA4) {
        r->len = gr_chat_strip_thought(utf, ul, r->text);
        /* an unterminated channel is dropped by the strip and by the streaming filter alike */
    } else {
        memcpy(r->text, utf, ul);
        r->len = ul;
    }
    gr_context_free(c);
    free(ids);
    free(txt);
    gr_tokenizer_free(tk);
}

/* ---- sink helpers ------------------------------------------------------------------------------
 */

typedef struct collect {
    char buf[16384];
    size_t n;
    int calls;
    int stop_after;       /* return non-zero at this call (0: never) */
    gr_cancel *cancel_at; /* set this token from a thread when calls reaches cancel_calls */
    int cancel_calls;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool signalled;
} collect;

static int sink(void *u, const char *d, size_t n) {
    collect *c = u;
    if (c->n + n < sizeof c->buf) memcpy(c->buf + c->n, d, n), c->n += n;
    c->calls++;
    if (c->cancel_calls && c->calls == c->cancel_calls) {
        pthread_mutex_lock(&c->mu);
        c->signalled = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return c->stop_after && c->calls >= c->stop_after;
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] >> 6) != 2) return false;
        i += k;
    }
    return true;
}

static char *long_text(int words) {
    static const char *w[] = {"the ",
                              "her ",
                              "tea ",
                              "hot ",
                              "\xC3\xA9t\xC3\xA9 ",
                              "\xE2\x82\xAC"
                              "5 "};
    char *s = malloc((size_t)words * 8 + 1);
    size_t n = 0;
    for (int i = 0; i < words; i++) {
        size_t l = strlen(w[i % 6]);
        memcpy(s + n, w[i % 6], l);
        n += l;
    }
    s[n] = 0;
    return s;
}

/* ---- tests -------------------------------------------------------------------------------------
 */

static void check_against_reference(const gr_model *m, gr_engine *e, const char *prompt, int max) {
    gr_message msg[2] = {{.role = GR_ROLE_SYSTEM, .text = "Be brief."}, {.role = GR_ROLE_USER, .text = prompt}};
    ref_out r;
    reference(m, msg, 2, max, &r);
    gr_request req = {.messages = msg, .n_messages = 2, .max_tokens = max};
    collect c = {0};
    gr_result out;
    gr_status s = gr_engine_generate(e, &req, sink, &c, NULL, &out);
    assert_int_equal(s, GR_OK);
    assert_int_equal(out.status, GR_OK);
    assert_string_equal(out.engine, "local");
    assert_string_equal(out.model, "tiny");
    assert_int_equal(out.usage.prompt_tokens, r.n_prompt);
    assert_int_equal(out.usage.completion_tokens, r.n_gen);
    assert_int_equal(out.finish, r.stopped ? GR_FINISH_STOP : GR_FINISH_LENGTH);
    if (getenv("GR_TEST_VERBOSE"))
        fprintf(stderr, "ref: prompt %d gen %d stopped %d len %zu\n", r.n_prompt, r.n_gen,
                r.stopped, r.len);
    assert_int_equal(out.text_len, r.len);
    if (r.len) assert_memory_equal(out.text, r.text, r.len);
    assert_int_equal(c.n, out.text_len); /* deltas concatenate to the text */
    if (c.n) assert_memory_equal(c.buf, out.text, c.n);
    assert_true(valid_utf8(out.text ? out.text : "", out.text_len));
    assert_true(out.timings.total_ms > 0);
    assert_true(out.timings.prompt_tok_s > 0);
    if (r.n_gen)
        assert_true(out.timings.ttft_ms > 0 && out.timings.ttft_ms <= out.timings.total_ms);
    gr_result_clear(&out);
}

static void test_matches_reference(void **st) {
    static const char *prompts[] = {"hi there", "the heat", "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC",
                                    "other"};
    const gr_model *models[2] = {F.m4, F.m3};
    for (int k = 0; k < 2; k++) {
        gr_engine *e = new_engine(models[k], 512, 16);
        for (int i = 0; i < 4; i++)
            check_against_reference(models[k], e, prompts[i], 24);
        check_against_reference(models[k], e, prompts[0], 1); /* max tokens 1 */
        gr_engine_destroy(e);
    }
}

static void test_prefix_reuse(void **st) {
    gr_engine *e = new_engine(F.m4, 512, 16);
    gr_message conv[3] = {{.role = GR_ROLE_USER, .text = "the heat is here"},
                          {.role = GR_ROLE_MODEL, .text = "the tea"},
                          {.role = GR_ROLE_USER, .text = "her other tea"}};
    gr_request req = {.messages = conv, .n_messages = 1, .max_tokens = 4};
    gr_result out;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_OK);
    gr_result_clear(&out);
    req.n_messages = 3;
    ref_out r;
    reference(F.m4, conv, 3, 8, &r);
    req.max_tokens = 8;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_OK);
    assert_true(gr_local_engine_last_reused(e) > 4); /* "<bos><|turn>user\n the heat ..." */
    assert_true(gr_local_engine_last_reused(e) < r.n_prompt);
    assert_int_equal(out.text_len, r.len);
    if (r.len) assert_memory_equal(out.text, r.text, r.len);
    gr_result_clear(&out);
    /* the same request again: everything but the last prompt token is reused */
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_OK);
    assert_int_equal(gr_local_engine_last_reused(e), r.n_prompt - 1);
    assert_int_equal(out.text_len, r.len);
    gr_result_clear(&out);
    gr_engine_destroy(e);
}

typedef struct canceller {
    gr_cancel *c;
    double delay_s;
    collect *wait_for; /* if set: wait for the sink's signal instead of a delay */
    double set_at;
} canceller;

static void *cancel_thread(void *u) {
    canceller *k = u;
    if (k->wait_for) {
        pthread_mutex_lock(&k->wait_for->mu);
        while (!k->wait_for->signalled)
            pthread_cond_wait(&k->wait_for->cv, &k->wait_for->mu);
        pthread_mutex_unlock(&k->wait_for->mu);
    } else {
        struct timespec ts = {0, (long)(k->delay_s * 1e9)};
        nanosleep(&ts, NULL);
    }
    k->set_at = gr_now();
    gr_cancel_set(k->c);
    return NULL;
}

static void test_cancel_mid_prefill(void **st) {
    gr_engine *e = new_engine(F.m4, 4096, 64);
    char *text = long_text(1200);
    gr_message msg = {.role = GR_ROLE_USER, .text = text};
    gr_request req = {.messages = &msg, .n_messages = 1, .max_tokens = 4};
    /* uncancelled first, to know the prefill takes longer than the delay used below */
    gr_result out;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_OK);
    const double prefill_ms = out.usage.prompt_tokens / out.timings.prompt_tok_s * 1e3;
    assert_true(out.usage.prompt_tokens > 2000);
    gr_result_clear(&out);
    msg.text = text + 4; /* differ from the first token on: nothing reusable but <bos>... */
    gr_cancel c;
    gr_cancel_init(&c);
    canceller k = {&c, prefill_ms / 4e3, NULL, 0};
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, &k);
    gr_status s = gr_engine_generate(e, &req, NULL, NULL, &c, &out);
    double done = gr_now();
    pthread_join(th, NULL);
    assert_int_equal(s, GR_E_CANCELLED);
    assert_int_equal(out.finish, GR_FINISH_CANCELLED);
    assert_int_equal(out.usage.completion_tokens, 0);
    assert_true(strstr(out.error, "cancel") != NULL);
    /* one chunk of 64 tokens at most (between-layer checks make it less) */
    assert_true((done - k.set_at) * 1e3 < prefill_ms / 4 + 50);
    gr_result_clear(&out);
    /* the engine still serves, with a consistent cache */
    msg.text = "the heat";
    ref_out r;
    reference(F.m4, &msg, 1, 6, &r);
    req.max_tokens = 6;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_OK);
    assert_int_equal(out.text_len, r.len);
    if (r.len) assert_memory_equal(out.text, r.text, r.len);
    gr_result_clear(&out);
    free(text);
    gr_engine_destroy(e);
}

/* A prompt whose greedy answer runs for at least `need` tokens without an end of turn. */
static const char *long_answer_prompt(const gr_model *m, int need) {
    static const char *cands[] = {"the heat", "hi there", "other", "tea",     "her", "hot tea",
                                  "nest",     "rose",     "tin",   "the the", "a",   "sheer"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++) {
        gr_message msg = {.role = GR_ROLE_USER, .text = cands[i]};
        ref_out r;
        reference(m, &msg, 1, need, &r);
        if (!r.stopped) return cands[i];
    }
    return NULL;
}

static void test_cancel_mid_decode(void **st) {
    const char *p = long_answer_prompt(F.m4, 60);
    assert_non_null(p);
    gr_engine *e = new_engine(F.m4, 512, 64);
    gr_message msg = {.role = GR_ROLE_USER, .text = p};
    gr_request req = {.messages = &msg, .n_messages = 1, .max_tokens = 60};
    gr_cancel c;
    gr_cancel_init(&c);
    collect col = {.cancel_calls = 3};
    pthread_mutex_init(&col.mu, NULL);
    pthread_cond_init(&col.cv, NULL);
    canceller k = {&c, 0, &col, 0};
    pthread_t th;
    pthread_create(&th, NULL, cancel_thread, &k);
    gr_result out;
    gr_status s = gr_engine_generate(e, &req, sink, &col, &c, &out);
    pthread_join(th, NULL);
    assert_int_equal(s, GR_E_CANCELLED);
    assert_int_equal(out.finish, GR_FINISH_CANCELLED);
    assert_true(out.usage.completion_tokens >= 3 && out.usage.completion_tokens < 60);
    assert_int_equal(col.n, out.text_len);
    if (col.n) assert_memory_equal(col.buf, out.text, col.n);
    gr_result_clear(&out);
    /* the sink asking to stop */
    collect c2 = {.stop_after = 2};
    s = gr_engine_generate(e, &req, sink, &c2, NULL, &out);
    assert_int_equal(s, GR_E_CANCELLED);
    assert_int_equal(out.finish, GR_FINISH_CANCELLED);
    assert_int_equal(c2.calls, 2);
    assert_int_equal(c2.n, out.text_len);
    gr_result_clear(&out);
    pthread_cond_destroy(&col.cv);
    pthread_mutex_destroy(&col.mu);
    gr_engine_destroy(e);
}

static void test_deadline(void **st) {
    gr_engine *e = new_engine(F.m4, 4096, 64);
    char *text = long_text(1200);
    gr_message msg = {.role = GR_ROLE_USER, .text = text};
    gr_request req = {
        .messages = &msg, .n_messages = 1, .max_tokens = 4, .deadline = gr_now() + 0.03};
    gr_result out;
    double t0 = gr_now();
    gr_status s = gr_engine_generate(e, &req, NULL, NULL, NULL, &out);
    assert_int_equal(s, GR_E_TIMEOUT);
    assert_int_equal(out.finish, GR_FINISH_TIMEOUT);
    assert_true(gr_now() - t0 < 1.0);
    gr_result_clear(&out);
    /* a deadline already past: nothing runs */
    req.deadline = gr_now() - 1;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_E_TIMEOUT);
    assert_int_equal(out.usage.prompt_tokens, 0);
    gr_result_clear(&out);
    free(text);
    gr_engine_destroy(e);
}

static void test_context_full_and_bad_requests(void **st) {
    gr_engine *e = new_engine(F.m3, 128, 64);
    char *text = long_text(200);
    gr_message msg = {.role = GR_ROLE_USER, .text = text};
    gr_request req = {.messages = &msg, .n_messages = 1, .max_tokens = 4};
    gr_result out;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_E_CONTEXT_FULL);
    assert_int_equal(out.finish, GR_FINISH_ERROR);
    assert_true(strstr(out.error, "context holds 128") != NULL);
    assert_null(out.text);
    gr_result_clear(&out);
    /* generation that reaches the end of the context stops with "length" */
    msg.text = "hi";
    req.max_tokens = 1000;
    gr_status s = gr_engine_generate(e, &req, NULL, NULL, NULL, &out);
    assert_int_equal(s, GR_OK);
    /* the last generated token needs no KV entry, so prompt + completion may reach n_ctx + 1 */
    assert_true(out.usage.prompt_tokens + out.usage.completion_tokens <= 129);
    if (out.finish == GR_FINISH_LENGTH)
        assert_int_equal(out.usage.prompt_tokens + out.usage.completion_tokens, 129);
    gr_result_clear(&out);
    /* Gemma 3 turns must alternate: a clear error, no crash */
    gr_message two[2] = {{.role = GR_ROLE_USER, .text = "a"}, {.role = GR_ROLE_USER, .text = "b"}};
    req.messages = two, req.n_messages = 2;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_E_INVALID_ARG);
    gr_result_clear(&out);
    req.n_messages = 0;
    assert_int_equal(gr_engine_generate(e, &req, NULL, NULL, NULL, &out), GR_E_INVALID_ARG);
    gr_result_clear(&out);
    free(text);
    gr_engine_destroy(e);
    /* bad configurations */
    char err[256];
    gr_engine *x = NULL;
    gr_local_config bad = {0};
    assert_int_equal(gr_local_engine_new(&bad, &x, err, sizeof err), GR_E_INVALID_ARG);
    bad.model_path = "/nonexistent/model.gguf";
    assert_int_not_equal(gr_local_engine_new(&bad, &x, err, sizeof err), GR_OK);
    assert_null(x);
}

static gr_status factory(void *u, gr_engine **out, char *err, size_t errlen) {
    gr_local_config c = {.model = u, .n_ctx = 512, .n_batch = 32, .n_threads = 1, .model_id = "q"};
    return gr_local_engine_new(&c, out, err, errlen);
}

static void test_through_queue(void **st) {
    const char *p = long_answer_prompt(F.m4, 200);
    assert_non_null(p);
    gr_queue_config qc = {.factory = factory, .factory_user = F.m4};
    gr_queue *q = NULL;
    char err[256];
    assert_int_equal(gr_queue_new(&qc, &q, err, sizeof err), GR_OK);
    gr_message m1 = {.role = GR_ROLE_USER, .text = p}, m2 = {.role = GR_ROLE_USER, .text = "the heat"};
    gr_request long_req = {.messages = &m1, .n_messages = 1, .max_tokens = 200};
    gr_request short_req = {.messages = &m2, .n_messages = 1, .max_tokens = 5};
    gr_task *t1, *t2, *t3;
    assert_int_equal(gr_queue_submit(q, &long_req, NULL, &t1, err, sizeof err), GR_OK);
    assert_int_equal(gr_queue_submit(q, &short_req, NULL, &t2, err, sizeof err), GR_OK);
    assert_int_equal(gr_queue_submit(q, &short_req, NULL, &t3, err, sizeof err), GR_OK);
    assert_int_equal(gr_task_cancel(t2), GR_TASK_PENDING);
    while (gr_task_state_of(t1) == GR_TASK_PENDING)
        usleep(1000);
    gr_task_cancel(t1);
    assert_true(gr_task_wait_for(t1, 5.0));
    assert_true(gr_task_wait_for(t3, 5.0));
    assert_int_equal(gr_task_result(t1)->status, GR_E_CANCELLED);
    assert_int_equal(gr_task_result(t2)->status, GR_E_CANCELLED);
    const gr_result *r3 = gr_task_result(t3);
    assert_int_equal(r3->status, GR_OK);
    assert_string_equal(r3->engine, "local");
    ref_out r;
    reference(F.m4, &m2, 1, 5, &r);
    assert_int_equal(r3->text_len, r.len);
    if (r.len) assert_memory_equal(r3->text, r.text, r.len);
    gr_task_release(t1);
    gr_task_release(t2);
    gr_task_release(t3);
    gr_queue_free(q);
}

/* The public wrappers of include/gemrun.h: same answer as the reference, the job queue, errors. */
static void test_public_api(void **st) {
    char err[256];
    gr_generator_params gp = {.model = F.m4, .n_ctx = 512, .n_batch = 32, .n_threads = 1};
    gr_generator *g = NULL;
    assert_int_equal(gr_generator_new(&gp, &g, err, sizeof err), GR_OK);
    gr_msg pm = {GR_MSG_USER, "the heat"};
    gr_message im = {.role = GR_ROLE_USER, .text = "the heat"};
    ref_out r;
    reference(F.m4, &im, 1, 7, &r);
    gr_gen_opts o = {.max_tokens = 7};
    gr_gen_output out;
    assert_int_equal(gr_generator_chat(g, &pm, 1, &o, NULL, NULL, &out), GR_OK);
    assert_int_equal(out.text_len, r.len);
    if (r.len) assert_memory_equal(out.text, r.text, r.len);
    assert_int_equal(out.prompt_tokens, r.n_prompt);
    assert_string_equal(out.finish, r.stopped ? "stop" : "length");
    gr_gen_output_clear(&out);
    gr_msg bad = {7, "x"};
    assert_int_equal(gr_generator_chat(g, &bad, 1, &o, NULL, NULL, &out), GR_E_INVALID_ARG);
    assert_non_null(strstr(out.error, "role"));
    gr_gen_output_clear(&out);
    gr_generator_free(g);
    gr_job_queue *q = NULL;
    assert_int_equal(gr_job_queue_new(&gp, 4, &q, err, sizeof err), GR_OK);
    gr_job *j = NULL;
    assert_int_equal(gr_job_submit(q, &pm, 1, &o, NULL, NULL, &j, err, sizeof err), GR_OK);
    gr_job_wait(j);
    assert_true(gr_job_done(j));
    const gr_gen_output *jo = gr_job_output(j);
    assert_non_null(jo);
    assert_int_equal(jo->status, GR_OK);
    assert_int_equal(jo->text_len, r.len);
    if (r.len) assert_memory_equal(jo->text, r.text, r.len);
    gr_job_release(j);
    gr_job_queue_free(q);
    /* plan: unknown model named in the error; a registry id works */
    char *json = NULL;
    assert_int_equal(gr_plan_json("no-such-model", 8ull << 30, 0, &json, err, sizeof err),
                     GR_E_NOT_FOUND);
    assert_non_null(strstr(err, "no-such-model"));
    assert_int_equal(gr_plan_json("gemma-4-e2b-it", 8ull << 30, 0, &json, err, sizeof err), GR_OK);
    assert_non_null(strstr(json, "\"fits\":true"));
    gr_free(json);
    assert_int_equal(gr_plan_json(F.g3, 8ull << 30, 0, &json, err, sizeof err), GR_OK);
    assert_non_null(strstr(json, "g3.gguf"));
    gr_free(json);
    /* router: defaults send chat local when a model is loaded, structured output to the cloud */
    gr_router *rt = NULL;
    assert_int_equal(gr_router_new(NULL, 0, &rt, err, sizeof err), GR_OK);
    char why[224];
    assert_string_equal(gr_router_decide(rt, "chat", why, sizeof why), "unavailable");
    gr_router_set_local(rt, 1);
    assert_string_equal(gr_router_decide(rt, "chat", why, sizeof why), "local");
    gr_router_set_cloud_state(rt, 1, 1);
    assert_string_equal(gr_router_decide(rt, "quiz-generation", why, sizeof why), "cloud");
    gr_router_free(rt);
    char *pj = gr_probe_json();
    assert_non_null(pj);
    gr_free(pj);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_prefix_reuse),
        cmocka_unit_test(test_cancel_mid_prefill),
        cmocka_unit_test(test_cancel_mid_decode),
        cmocka_unit_test(test_deadline),
        cmocka_unit_test(test_context_full_and_bad_requests),
        cmocka_unit_test(test_through_queue),
        cmocka_unit_test(test_public_api),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
