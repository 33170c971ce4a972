/* test_sse.c — the incremental stream parsers of the cloud engine (cloud/sse.h, cloud/jarray.h) and
 * the protocol readers on top of them (cloud/gemini.h, cloud/openai.h).
 *
 * Property: for recorded streams in tests/cloud/streams/ (Gemini SSE with thought parts; Gemini
 * with CRLF, a comment, an id line and one JSON document spread over several data: lines; OpenAI
 * chunks with include_usage and [DONE]; Gemini's JSON-array form) and derived variants (CR-only
 * line ends), EVERY split position (two pieces), byte-at-a-time feeding, and 300 random 3-5 piece
 * splits give exactly the events and the answer (text without thoughts, usage, finish) of the
 * unsplit stream, and that answer is the one written in the recording. Plus edge cases of both
 * parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cloud/gemini.h"
#include "cloud/jarray.h"
#include "cloud/openai.h"
#include "cloud/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const void *d, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = 0;
}

static char *load(const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/cloud/streams/%s", GR_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    sbuf b = {0};
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        sb_add(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return b.p;
}

/* Everything a stream produced: the event log and the protocol's reading of it. */
typedef struct outcome {
    int proto;   /* 0 gemini, 1 openai */
    sbuf events; /* "kind|event|data" records separated by 0x1e */
    sbuf text;
    gr_cloud_reply reply;
    gr_status parse;
} outcome;

static int on_text(void *user, const char *t, size_t n) {
    sb_add(&((outcome *)user)->text, t, n);
    return 0;
}

static int on_event(void *user, gr_sse_kind kind, const char *event, const char *data, size_t len) {
    outcome *o = user;
    char head[80];
    int h = snprintf(head, sizeof head, "%d|%s|", (int)kind, event);
    sb_add(&o->events, head, (size_t)h);
    sb_add(&o->events, data, len);
    sb_add(&o->events, "\x1e", 1);
    if (kind != GR_SSE_DATA || o->parse != GR_OK) return 0;
    o->parse = o->proto ? gr_openai_parse(data, len, true, &o->reply, on_text, o, NULL, 0)
                        : gr_gemini_parse(data, len, &o->reply, on_text, o, NULL, 0);
    return 0;
}

static int on_elem(void *user, const char *elem, size_t len) {
    outcome *o = user;
    sb_add(&o->events, elem, len);
    sb_add(&o->events, "\x1e", 1);
    if (o->parse == GR_OK) o->parse = gr_gemini_parse(elem, len, &o->reply, on_text, o, NULL, 0);
    return 0;
}

static void outcome_free(outcome *o) {
    free(o->events.p);
    free(o->text.p);
}

/* Feed data in pieces ending at cuts[0..n_cuts) (ascending) and the end. is_array: jarray. */
static void run_split(const char *data, size_t len, const size_t *cuts, size_t n_cuts, int proto,
                      int is_array, outcome *o) {
    memset(o, 0, sizeof *o);
    o->proto = proto;
    gr_cloud_reply_init(&o->reply);
    gr_sse sse;
    gr_jarray ja;
    gr_sse_init(&sse, on_event, o);
    gr_jarray_init(&ja, on_elem, o);
    size_t at = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        gr_status s = is_array ? gr_jarray_feed(&ja, data + at, end - at)
                               : gr_sse_feed(&sse, data + at, end - at);
        assert_int_equal(s, GR_OK);
        at = end;
    }
    assert_int_equal(is_array ? gr_jarray_finish(&ja) : gr_sse_finish(&sse), GR_OK);
    gr_sse_free(&sse);
    gr_jarray_free(&ja);
}

static void assert_same(const outcome *a, const outcome *b, const char *what, size_t where) {
    if (a->events.len != b->events.len || memcmp(a->events.p, b->events.p, a->events.len) ||
        a->text.len != b->text.len || memcmp(a->text.p, b->text.p, a->text.len) ||
        memcmp(&a->reply, &b->reply, sizeof a->reply) || a->parse != b->parse)
        fail_msg("%s: split at %zu differs from the unsplit stream", what, where);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* The property over one stream; returns the unsplit outcome for content checks. */
static void check_all_splits(const char *data, size_t len, int proto, int is_array,
                             const char *what, outcome *ref) {
    run_split(data, len, NULL, 0, proto, is_array, ref);
    assert_int_equal(ref->parse, GR_OK);
    for (size_t k = 0; k <= len; k++) {
        outcome o;
        run_split(data, len, &k, 1, proto, is_array, &o);
        assert_same(ref, &o, what, k);
        outcome_free(&o);
    }
    size_t *all = malloc(len * sizeof *all);
    for (size_t k = 0; k < len; k++)
        all[k] = k;
    outcome o;
    run_split(data, len, all, len, proto, is_array, &o); /* one byte at a time */
    assert_same(ref, &o, what, (size_t)-1);
    outcome_free(&o);
    free(all);
    for (int t = 0; t < 300; t++) {
        size_t cuts[4], n = 2 + rnd() % 3;
        for (size_t i = 0; i < n; i++)
            cuts[i] = rnd() % (len + 1);
        qsort(cuts, n, sizeof cuts[0], cmp_size);
        run_split(data, len, cuts, n, proto, is_array, &o);
        assert_same(ref, &o, what, cuts[0]);
        outcome_free(&o);
    }
}

static size_t count_events(const outcome *o) {
    size_t n = 0;
    for (size_t i = 0; i < o->events.len; i++)
        n += o->events.p[i] == 0x1e;
    return n;
}

static const char GEMINI_TEXT[] =
    "A KV cache stores attention keys and values — so past tokens are not recomputed. "
    "日本語 ✓ 🙂\n\nDone.";

static void test_gemini_sse_splits(void **state) {
    (void)state;
    const char *files[] = {"gemini_thoughts.sse", "gemini_crlf_multiline.sse"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        char *data = load(files[f], &len);
        for (int variant = 0; variant < 2; variant++) {
            if (variant == 1) { /* the same stream with bare CR line ends */
                if (f == 1) break;
                for (size_t i = 0; i < len; i++)
                    if (data[i] == '\n') data[i] = '\r';
            }
            outcome ref;
            check_all_splits(data, len, 0, 0, files[f], &ref);
            assert_string_equal(ref.text.p, GEMINI_TEXT);
            assert_null(strstr(ref.text.p, "Planning"));
            assert_int_equal(count_events(&ref), 4);
            assert_int_equal(ref.reply.n_chunks, 4);
            assert_int_equal(ref.reply.prompt_tokens, 9);
            assert_int_equal(ref.reply.completion_tokens, 19 + 31);
            assert_true(ref.reply.finished);
            assert_int_equal(ref.reply.finish, GR_FINISH_STOP);
            assert_string_equal(ref.reply.finish_raw, "STOP");
            outcome_free(&ref);
        }
        free(data);
    }
}

static void test_openai_sse_splits(void **state) {
    (void)state;
    size_t len;
    char *data = load("openai_usage.sse", &len);
    outcome ref;
    check_all_splits(data, len, 1, 0, "openai_usage.sse", &ref);
    assert_string_equal(ref.text.p, "A KV cache stores keys — 日本語 ✓ 🙂\n\nDone.");
    assert_int_equal(count_events(&ref), 8);
    assert_true(ref.reply.done);
    assert_int_equal(ref.reply.prompt_tokens, 11);
    assert_int_equal(ref.reply.completion_tokens, 17);
    assert_int_equal(ref.reply.finish, GR_FINISH_STOP);
    outcome_free(&ref);
    free(data);
}

static void test_gemini_array_splits(void **state) {
    (void)state;
    size_t len;
    char *data = load("gemini_array.json", &len);
    outcome ref;
    check_all_splits(data, len, 0, 1, "gemini_array.json", &ref);
    assert_int_equal(count_events(&ref), 3);
    assert_string_equal(
        ref.text.p, "braces { [ ] } and \"escaped\\\" quotes\" ✓ 日本語 ✓ 🙂\n\nDone.");
    assert_int_equal(ref.reply.completion_tokens, 19 + 31);
    outcome_free(&ref);
    /* The whole array handed to the protocol reader at once reads the same. */
    outcome whole = {0};
    gr_cloud_reply_init(&whole.reply);
    assert_int_equal(gr_gemini_parse(data, len, &whole.reply, on_text, &whole, NULL, 0), GR_OK);
    assert_string_equal(
        whole.text.p, "braces { [ ] } and \"escaped\\\" quotes\" ✓ 日本語 ✓ 🙂\n\nDone.");
    outcome_free(&whole);
    free(data);
}

typedef struct evlog {
    int n;
    gr_sse_kind kind[8];
    char data[8][64];
    char event[8][16];
    int stop_at;
} evlog;

static int log_ev(void *user, gr_sse_kind kind, const char *event, const char *data, size_t len) {
    evlog *l = user;
    if (l->n < 8) {
        l->kind[l->n] = kind;
        snprintf(l->data[l->n], sizeof l->data[0], "%.*s", (int)len, data);
        snprintf(l->event[l->n], sizeof l->event[0], "%s", event);
    }
    l->n++;
    return l->stop_at && l->n >= l->stop_at;
}

static void test_sse_edge_cases(void **state) {
    (void)state;
    const char in[] = "\xEF\xBB\xBF"
                      "data: a\n\n" /* BOM skipped */
                      "data\n\n"    /* field without colon: empty data event */
                      "event: update\ndata:b\ndata:  c\n\n" /* only one space is stripped */
                      ": comment\nretry: 10\nid: 3\n\n"     /* nothing to dispatch */
                      "{\"error\":{\"code\":503}}\n"        /* raw line */
                      "data: tail";                         /* no final blank line */
    evlog l = {0};
    gr_sse p;
    gr_sse_init(&p, log_ev, &l);
    assert_int_equal(gr_sse_feed(&p, in, sizeof in - 1), GR_OK);
    assert_int_equal(gr_sse_finish(&p), GR_OK);
    gr_sse_free(&p);
    assert_int_equal(l.n, 5);
    assert_string_equal(l.data[0], "a");
    assert_string_equal(l.event[0], "message");
    assert_string_equal(l.data[1], "");
    assert_string_equal(l.event[2], "update");
    assert_string_equal(l.data[2], "b\n c");
    assert_int_equal(l.kind[3], GR_SSE_RAW);
    assert_string_equal(l.data[3], "{\"error\":{\"code\":503}}");
    assert_string_equal(l.data[4], "tail");
    /* A callback stop, and the error stays. */
    evlog s = {.stop_at = 1};
    gr_sse_init(&p, log_ev, &s);
    assert_int_equal(gr_sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18), GR_E_CANCELLED);
    assert_int_equal(gr_sse_feed(&p, "data: 3\n\n", 9), GR_E_CANCELLED);
    assert_int_equal(s.n, 1);
    gr_sse_free(&p);
    /* An event above the limit. */
    evlog big = {0};
    gr_sse_init(&p, log_ev, &big);
    p.max_event = 16;
    assert_int_equal(gr_sse_feed(&p, "data: 0123456789abcdefghij\n\n", 28), GR_E_FORMAT);
    assert_int_equal(big.n, 0);
    gr_sse_free(&p);
}

static int count_elem(void *user, const char *e, size_t n) {
    (void)e, (void)n;
    (*(int *)user)++;
    return 0;
}

static void test_jarray_edge_cases(void **state) {
    (void)state;
    int n = 0;
    gr_jarray a;
    gr_jarray_init(&a, count_elem, &n);
    const char *bare = " {\"error\":{\"code\":429}} ";
    assert_int_equal(gr_jarray_feed(&a, bare, strlen(bare)), GR_OK); /* a bare object */
    assert_int_equal(gr_jarray_finish(&a), GR_OK);
    assert_int_equal(n, 1);
    gr_jarray_free(&a);
    gr_jarray_init(&a, count_elem, &n);
    assert_int_equal(gr_jarray_feed(&a, "data: {}", 8),
                     GR_E_FORMAT); /* SSE where an array was due */
    gr_jarray_free(&a);
    gr_jarray_init(&a, count_elem, &n);
    n = 0;
    const char *two = "[{\"a\":\"}\"},\n{\"b\":[1,{}]}";
    assert_int_equal(gr_jarray_feed(&a, two, strlen(two)), GR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(gr_jarray_finish(&a), GR_E_FORMAT); /* no closing ']' */
    gr_jarray_free(&a);
    gr_jarray_init(&a, count_elem, &n);
    assert_int_equal(gr_jarray_feed(&a, "[]", 2), GR_OK);
    assert_int_equal(gr_jarray_finish(&a), GR_OK);
    assert_int_equal(gr_jarray_feed(&a, "x", 1), GR_E_FORMAT);
    gr_jarray_free(&a);
}

static void test_protocol_readers(void **state) {
    (void)state;
    gr_cloud_reply r;
    gr_cloud_reply_init(&r);
    const char *err429 = "{\"error\":{\"code\":429,\"message\":\"quota\",\"status\":\"RESOURCE_"
                         "EXHAUSTED\",\"details\":["
                         "{\"@type\":\"type.googleapis.com/"
                         "google.rpc.RetryInfo\",\"retryDelay\":\"45.837906927s\"}]}}";
    assert_int_equal(gr_gemini_parse(err429, strlen(err429), &r, NULL, NULL, NULL, 0), GR_OK);
    assert_true(r.has_error);
    assert_int_equal(r.error_code, 429);
    assert_string_equal(r.error_status, "RESOURCE_EXHAUSTED");
    assert_true(r.retry_delay_s > 45.83 && r.retry_delay_s < 45.84);
    gr_cloud_reply_init(&r);
    const char *arr =
        "[{\"error\":{\"code\":503,\"message\":\"overloaded\",\"status\":\"UNAVAILABLE\"}}]";
    assert_int_equal(gr_gemini_parse(arr, strlen(arr), &r, NULL, NULL, NULL, 0), GR_OK);
    assert_int_equal(r.error_code, 503);
    char err[128];
    assert_int_equal(gr_gemini_parse("{\"cand", 6, &r, NULL, NULL, err, sizeof err), GR_E_UPSTREAM);
    assert_int_equal(gr_gemini_parse("42", 2, &r, NULL, NULL, err, sizeof err), GR_E_UPSTREAM);
    assert_int_equal(gr_openai_parse("{\"id\":1}", 8, false, &r, NULL, NULL, err, sizeof err),
                     GR_E_UPSTREAM);
    assert_true(gr_cloud_parse_duration("36s", 3) == 36);
    assert_true(gr_cloud_parse_duration("0.400s", 6) == 0.4);
    assert_true(gr_cloud_parse_duration("1m", 2) < 0);
    assert_true(gr_cloud_parse_duration("-1s", 3) < 0);
    assert_int_equal(gr_cloud_status_for_http(401), GR_E_AUTH);
    assert_int_equal(gr_cloud_status_for_http(403), GR_E_AUTH);
    assert_int_equal(gr_cloud_status_for_http(429), GR_E_RATE_LIMITED);
    assert_int_equal(gr_cloud_status_for_http(400), GR_E_INVALID_ARG);
    assert_int_equal(gr_cloud_status_for_http(503), GR_E_UPSTREAM);
    assert_int_equal(gr_cloud_status_for_http(200), GR_E_UPSTREAM);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemini_sse_splits),   cmocka_unit_test(test_openai_sse_splits),
        cmocka_unit_test(test_gemini_array_splits), cmocka_unit_test(test_sse_edge_cases),
        cmocka_unit_test(test_jarray_edge_cases),   cmocka_unit_test(test_protocol_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
