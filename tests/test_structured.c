/* test_structured.c — the structured-output pipeline (src/layer/structured.h) with scripted fake
 * engines as primary and fallback: valid at once; invalid then repaired (the repair prompt is read
 * back from the engine); invalid twice then the fallback; everything invalid -> GR_E_INVALID_OUTPUT
 * with no text; no fallback; cancel and deadline while the repair runs; SVG with a script
 * sanitized; a Mermaid syntax error's line/column in the repair prompt; free text streaming
 * through; engine errors; bad schemas; the report and its JSON; the wrapper inside a real queue.
 * Run it under ASan too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "engine/engine_fake.h"
#include "gguf/gguf.h"
#include "layer/queue.h"
#include "layer/structured.h"
#include "model/synth.h"
#include "validate/mermaid.h"
#include "validate/svg.h"
#include "tiny_vocab.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *SCHEMA =
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
    "\"age\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"name\",\"age\"],"
    "\"additionalProperties\":false}";
static const char *GOOD = "{\"name\":\"Ada\",\"age\":36}";
static const char *WRONG_TYPE = "{\"name\":5,\"age\":36}";
static const char *NOT_JSON = "Sure! Here is the JSON: {name: Ada}";

/* ---- fixtures
 * ------------------------------------------------------------------------------------ */

typedef struct pair {
    gr_engine *primary, *fallback, *s; /* s owns both */
} pair;

static gr_engine *fake(const char *name, const gr_fake_step *steps, size_t n) {
    gr_fake_config c = {
        .name = name, .model_id = name, .steps = steps, .n_steps = n, .default_max_tokens = 4096};
    gr_engine *e = NULL;
    char err[200];
    if (gr_fake_engine_new(&c, &e, err, sizeof err) != GR_OK) fail_msg("fake: %s", err);
    return e;
}

static pair make(const gr_fake_step *ps, size_t np, const gr_fake_step *fs, size_t nf,
                 bool with_fallback) {
    pair p = {fake("local", ps, np), with_fallback ? fake("cloud", fs, nf) : NULL, NULL};
    char err[200];
    if (gr_structured_engine_new(p.primary, p.fallback, NULL, &p.s, err, sizeof err) != GR_OK)
        fail_msg("structured: %s", err);
    return p;
}

typedef struct sinkbuf {
    char text[8192];
    size_t len;
    int calls;
} sinkbuf;

static int sink(void *user, const char *d, size_t n) {
    sinkbuf *b = user;
    b->calls++;
    if (b->len + n < sizeof b->text) memcpy(b->text + b->len, d, n), b->len += n;
    b->text[b->len] = 0;
    return 0;
}

typedef struct call {
    gr_message msgs[2];
    gr_request req;
} call;

static const gr_request *req_for(call *c, gr_output_kind kind, const char *schema,
                                 const char *user) {
    c->msgs[0] =
        (gr_message){.role = GR_ROLE_SYSTEM, .text = "You answer in the requested format."};
    c->msgs[1] = (gr_message){.role = GR_ROLE_USER, .text = user};
    c->req = (gr_request){.messages = c->msgs, .n_messages = 2, .max_tokens = 0};
    c->req.output = (gr_output_constraint){kind, schema};
    return &c->req;
}

static char *last_prompt(gr_engine *fake_engine, gr_output_kind *kind) {
    char *t = NULL;
    assert_int_equal(gr_fake_engine_last_request(fake_engine, &t, kind), GR_OK);
    return t;
}

static gr_structured_report report_of(gr_engine *s) {
    gr_structured_report r;
    assert_int_equal(gr_structured_last_report(s, &r), GR_OK);
    return r;
}

/* ---- the branches
 * ---------------------------------------------------------------------------------- */

static void valid_first_time(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = GOOD}};
    pair p = make(ps, 1, NULL, 0, true);
    call c;
    sinkbuf sb = {0};
    gr_result r;
    assert_int_equal(gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, SCHEMA, "Who?"),
                                        sink, &sb, NULL, &r),
                     GR_OK);
    assert_string_equal(r.text, GOOD);
    assert_int_equal(r.text_len, strlen(GOOD));
    assert_string_equal(r.engine, "local");
    assert_int_equal(r.finish, GR_FINISH_STOP);
    assert_int_equal(sb.calls, 1); /* one delta: the validated answer */
    assert_string_equal(sb.text, GOOD);
    gr_output_kind k;
    free(last_prompt(p.primary, &k));
    assert_int_equal(k, GR_OUTPUT_JSON_SCHEMA); /* the constraint reaches the engine */
    assert_int_equal(gr_fake_engine_calls(p.primary), 1);
    assert_int_equal(gr_fake_engine_calls(p.fallback), 0);
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.n_attempts, 1);
    assert_int_equal(rep.used, 0);
    assert_int_equal(rep.attempts[0].valid, 1);
    assert_int_equal(rep.status, GR_OK);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void invalid_then_repaired(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = WRONG_TYPE}, {.text = GOOD}};
    pair p = make(ps, 2, NULL, 0, true);
    call c;
    gr_result r;
    assert_int_equal(gr_engine_generate(p.s,
                                        req_for(&c, GR_OUTPUT_JSON_SCHEMA, SCHEMA, "Who is she?"),
                                        NULL, NULL, NULL, &r),
                     GR_OK);
    assert_string_equal(r.text, GOOD);
    assert_string_equal(r.engine, "local");
    /* The repair call: the conversation, the invalid answer as the model turn, the error +
     * requirement. */
    gr_output_kind k;
    char *t = last_prompt(p.primary, &k);
    assert_int_equal(k, GR_OUTPUT_JSON_SCHEMA);
    assert_non_null(
        strstr(t, "[system]\nYou answer in the requested format.\n[user]\nWho is she?\n"));
    assert_non_null(strstr(
        t, "[model]\n{\"name\":5,\"age\":36}\n[user]\nYour previous answer is not valid JSON"));
    assert_non_null(strstr(t, "Error: /name: expected string, got integer"));
    assert_non_null(strstr(t, SCHEMA));
    assert_true(strstr(t, "[model]") < strstr(t, "Your previous answer"));
    free(t);
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.n_attempts, 2);
    assert_int_equal(rep.used, 1);
    assert_int_equal(rep.attempts[0].valid, 0);
    assert_string_equal(rep.attempts[0].error, "/name: expected string, got integer");
    assert_int_equal(rep.attempts[1].repair, 1);
    assert_int_equal(rep.attempts[1].valid, 1);
    assert_int_equal(gr_fake_engine_calls(p.fallback), 0);
    /* usage sums the attempts */
    assert_int_equal(r.usage.completion_tokens, rep.attempts[0].usage.completion_tokens +
                                                    rep.attempts[1].usage.completion_tokens);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void invalid_twice_then_fallback(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = NOT_JSON}, {.text = WRONG_TYPE}};
    gr_fake_step fs[] = {{.text = GOOD}};
    pair p = make(ps, 2, fs, 1, true);
    call c;
    gr_result r;
    assert_int_equal(gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, SCHEMA, "Who?"),
                                        NULL, NULL, NULL, &r),
                     GR_OK);
    assert_string_equal(r.text, GOOD);
    assert_string_equal(r.engine, "cloud");
    assert_string_equal(r.model, "cloud");
    assert_int_equal(gr_fake_engine_calls(p.primary), 2);
    assert_int_equal(gr_fake_engine_calls(p.fallback), 1);
    /* the first repair quoted the JSON parser's position */
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.n_attempts, 3);
    assert_int_equal(rep.used, 2);
    assert_non_null(strstr(rep.attempts[0].error, "line 1 col 1:"));
    assert_int_equal(rep.attempts[2].fallback, 1);
    /* the fallback gets the original conversation, not the primary's repair turn */
    gr_output_kind k;
    char *t = last_prompt(p.fallback, &k);
    assert_int_equal(k, GR_OUTPUT_JSON_SCHEMA);
    assert_null(strstr(t, "[model]"));
    assert_null(strstr(t, "Your previous answer"));
    free(t);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void all_invalid_is_typed_error(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = NOT_JSON}, {.text = NOT_JSON}};
    gr_fake_step fs[] = {{.text = WRONG_TYPE}};
    pair p = make(ps, 2, fs, 1, true);
    call c;
    sinkbuf sb = {0};
    gr_result r;
    gr_status s = gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, SCHEMA, "Who?"), sink,
                                     &sb, NULL, &r);
    assert_int_equal(s, GR_E_INVALID_OUTPUT);
    assert_int_equal(r.status, GR_E_INVALID_OUTPUT);
    assert_null(r.text); /* never invalid output as a result */
    assert_int_equal(r.text_len, 0);
    assert_int_equal(sb.calls, 0);
    assert_int_equal(r.finish, GR_FINISH_ERROR);
    assert_non_null(
        strstr(r.error, "/name: expected string, got integer")); /* the last validation error */
    assert_non_null(strstr(r.error, "3 attempts"));
    assert_string_equal(r.engine, "cloud");
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.used, -1);
    assert_int_equal(rep.status, GR_E_INVALID_OUTPUT);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void no_fallback(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = NOT_JSON}, {.text = "{\"a\": [1, 2,]}"}};
    pair p = make(ps, 2, NULL, 0, false);
    call c;
    gr_result r;
    gr_status s = gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON, NULL, "Give JSON"), NULL,
                                     NULL, NULL, &r);
    assert_int_equal(s, GR_E_INVALID_OUTPUT);
    assert_null(r.text);
    assert_non_null(strstr(r.error, "line 1 col 13")); /* the trailing comma */
    assert_non_null(strstr(r.error, "2 attempts"));
    assert_int_equal(gr_fake_engine_calls(p.primary), 2);
    assert_null(gr_structured_fallback(p.s));
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

typedef struct canceller {
    gr_engine *watch;
    gr_cancel *cancel;
} canceller;

/* Sets the token once the watched engine started its second call (the repair) and is producing. */
static void *cancel_on_repair(void *arg) {
    canceller *c = arg;
    while (gr_fake_engine_calls(c->watch) < 2)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    nanosleep(&(struct timespec){0, 30000000}, NULL);
    gr_cancel_set(c->cancel);
    return NULL;
}

static char *long_answer(void) {
    char *s = malloc(4001);
    memset(s, 'x', 4000);
    s[0] = '"';
    s[4000] = 0;
    return s;
}

static void cancel_during_repair(void **state) {
    (void)state;
    char *slow = long_answer();
    gr_fake_step ps[] = {{.text = NOT_JSON}, {.text = slow, .tokens_per_s = 200}};
    gr_fake_step fs[] = {{.text = GOOD}};
    pair p = make(ps, 2, fs, 1, true);
    free(slow);
    gr_cancel cancel;
    gr_cancel_init(&cancel);
    canceller cc = {p.primary, &cancel};
    pthread_t th;
    pthread_create(&th, NULL, cancel_on_repair, &cc);
    call c;
    gr_result r;
    gr_status s =
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON, NULL, "JSON"), NULL, NULL, &cancel, &r);
    pthread_join(th, NULL);
    assert_int_equal(s, GR_E_CANCELLED);
    assert_int_equal(r.finish, GR_FINISH_CANCELLED);
    assert_null(r.text);
    assert_int_equal(gr_fake_engine_calls(p.fallback),
                     0); /* cancelled means stop, not "try elsewhere" */
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.n_attempts, 2);
    assert_int_equal(rep.attempts[1].status, GR_E_CANCELLED);
    gr_result_clear(&r);
    /* a token already set stops before the first attempt */
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON, NULL, "JSON"), NULL, NULL, &cancel, &r),
        GR_E_CANCELLED);
    assert_int_equal(report_of(p.s).n_attempts, 0);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void deadline_during_repair(void **state) {
    (void)state;
    char *slow = long_answer();
    gr_fake_step ps[] = {{.text = NOT_JSON}, {.text = slow, .tokens_per_s = 100}};
    gr_fake_step fs[] = {{.text = GOOD}};
    pair p = make(ps, 2, fs, 1, true);
    free(slow);
    call c;
    gr_result r;
    const gr_request *rq = req_for(&c, GR_OUTPUT_JSON, NULL, "JSON");
    c.req.deadline = gr_now() + 0.3; /* the first answer is instant; the slow repair needs 10 s */
    gr_status s = gr_engine_generate(p.s, rq, NULL, NULL, NULL, &r);
    assert_int_equal(s, GR_E_TIMEOUT);
    assert_int_equal(r.finish, GR_FINISH_TIMEOUT);
    assert_null(r.text);
    assert_int_equal(gr_fake_engine_calls(p.primary), 2);
    assert_int_equal(gr_fake_engine_calls(p.fallback), 0);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void svg_script_is_sanitized(void **state) {
    (void)state;
    const char *svg =
        "```svg\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\">"
        "<script>alert(document.cookie)</script>"
        "<rect width=\"5\" height=\"5\" onclick=\"steal()\" fill=\"red\"/></svg>\n```";
    gr_fake_step ps[] = {{.text = svg}};
    pair p = make(ps, 1, NULL, 0, false);
    call c;
    sinkbuf sb = {0};
    gr_result r;
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_SVG, NULL, "Draw"), sink, &sb, NULL, &r),
        GR_OK);
    assert_null(strstr(r.text, "script"));
    assert_null(strstr(r.text, "onclick"));
    assert_null(strstr(r.text, "```"));
    assert_non_null(strstr(r.text, "<rect"));
    assert_int_equal(gr_svg_validate(r.text, r.text_len, NULL, 0), GR_OK);
    assert_string_equal(sb.text, r.text); /* the sink got the sanitized text, not the raw one */
    assert_true(report_of(p.s).svg_removed >= 2);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void mermaid_error_position_in_repair(void **state) {
    (void)state;
    const char *bad = "```mermaid\nflowchart LR\n    A & --> B\n```";
    const char *good = "flowchart LR\n    A & C --> B";
    char err[256];
    /* the validator on the unfenced diagram says line 2; the answer as written has it on line 3 */
    assert_int_equal(gr_mermaid_validate("flowchart LR\n    A & --> B", 25, NULL, err, sizeof err),
                     GR_E_FORMAT);
    assert_non_null(strstr(err, "line 2 col 9:"));
    gr_fake_step ps[] = {{.text = bad}, {.text = good}};
    pair p = make(ps, 2, NULL, 0, false);
    call c;
    gr_result r;
    assert_int_equal(gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_MERMAID, NULL, "Diagram"), NULL,
                                        NULL, NULL, &r),
                     GR_OK);
    assert_string_equal(r.text, good);
    gr_output_kind k;
    char *t = last_prompt(p.primary, &k);
    assert_int_equal(k, GR_OUTPUT_MERMAID);
    assert_non_null(strstr(t, "Error: line 3 col 9: expected a node id"));
    assert_non_null(strstr(t, "not a valid Mermaid diagram"));
    assert_non_null(strstr(t, "[model]\n```mermaid\nflowchart LR\n    A & --> B\n```\n"));
    free(t);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void text_passes_through_streaming(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = "free text, streamed in many small pieces"}};
    pair p = make(ps, 1, NULL, 0, true);
    call c;
    sinkbuf sb = {0};
    gr_result r;
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_TEXT, NULL, "Hi"), sink, &sb, NULL, &r),
        GR_OK);
    assert_string_equal(r.text, "free text, streamed in many small pieces");
    assert_true(sb.calls > 5); /* deltas as produced, not one final block */
    assert_string_equal(sb.text, r.text);
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.kind, GR_OUTPUT_TEXT);
    assert_int_equal(rep.n_attempts, 0);
    assert_string_equal(p.s->ops->model_id(p.s), "local");
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void engine_error_goes_to_fallback(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.fail = GR_E_CONTEXT_FULL}};
    gr_fake_step fs[] = {{.text = "[1,2,3]"}};
    pair p = make(ps, 1, fs, 1, true);
    call c;
    gr_result r;
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON, NULL, "x"), NULL, NULL, NULL, &r),
        GR_OK);
    assert_string_equal(r.engine, "cloud");
    assert_int_equal(gr_fake_engine_calls(p.primary), 1); /* no repair of an engine failure */
    gr_structured_report rep = report_of(p.s);
    assert_int_equal(rep.attempts[0].valid, -1);
    assert_int_equal(rep.attempts[0].status, GR_E_CONTEXT_FULL);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
    /* without a fallback the engine's error is returned as it is */
    p = make(ps, 1, NULL, 0, false);
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON, NULL, "x"), NULL, NULL, NULL, &r),
        GR_E_CONTEXT_FULL);
    assert_null(r.text);
    assert_non_null(strstr(r.error, "scripted failure"));
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
    /* invalid answer, then the fallback fails: the validation error wins */
    gr_fake_step ps2[] = {{.text = "no"}, {.text = "no"}};
    gr_fake_step fs2[] = {{.fail = GR_E_NETWORK}};
    p = make(ps2, 2, fs2, 1, true);
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON, NULL, "x"), NULL, NULL, NULL, &r),
        GR_E_INVALID_OUTPUT);
    assert_non_null(strstr(r.error, "last error (local): line 1 col 1"));
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void bad_schema_fails_before_any_call(void **state) {
    (void)state;
    pair p = make(NULL, 0, NULL, 0, true);
    call c;
    gr_result r;
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, "{\"type\":\"strin", "x"), NULL,
                           NULL, NULL, &r),
        GR_E_INVALID_ARG);
    assert_non_null(strstr(r.error, "output.schema: "));
    assert_int_equal(gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, "{\"if\":{}}", "x"),
                                        NULL, NULL, NULL, &r),
                     GR_E_UNSUPPORTED);
    assert_non_null(strstr(r.error, "if"));
    assert_int_equal(gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, NULL, "x"), NULL,
                                        NULL, NULL, &r),
                     GR_E_INVALID_ARG);
    assert_int_equal(
        gr_engine_generate(p.s, req_for(&c, (gr_output_kind)9, NULL, "x"), NULL, NULL, NULL, &r),
        GR_E_INVALID_ARG);
    assert_int_equal(gr_fake_engine_calls(p.primary), 0);
    assert_int_equal(gr_fake_engine_calls(p.fallback), 0);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

static void cut_off_answer_says_so(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]"}, {.text = "[1]"}};
    pair p = make(ps, 2, NULL, 0, false);
    call c;
    gr_result r;
    const gr_request *rq = req_for(&c, GR_OUTPUT_JSON, NULL, "x");
    c.req.max_tokens = 3; /* the fake makes ~4-byte tokens: the first answer is cut off */
    assert_int_equal(gr_engine_generate(p.s, rq, NULL, NULL, NULL, &r), GR_OK);
    assert_string_equal(r.text, "[1]");
    char *t = last_prompt(p.primary, NULL);
    assert_non_null(strstr(t, "cut off by the length limit"));
    free(t);
    assert_int_equal(report_of(p.s).attempts[0].finish, GR_FINISH_LENGTH);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
}

typedef struct bg_call {
    gr_engine *s;
    call c;
    gr_result r;
    gr_status st;
} bg_call;

static void *bg_generate(void *arg) {
    bg_call *b = arg;
    b->st = gr_engine_generate(b->s, req_for(&b->c, GR_OUTPUT_JSON, NULL, "HANG please"), NULL,
                               NULL, NULL, &b->r);
    return NULL;
}

/* One generate() at a time: a second concurrent call is refused, not interleaved. */
static void concurrent_call_is_busy(void **state) {
    (void)state;
    gr_fake_gate *gate = NULL;
    assert_int_equal(gr_fake_gate_new(&gate), GR_OK);
    gr_fake_config fc = {.name = "local", .script = "[1]", .hang_marker = "HANG", .gate = gate};
    gr_engine *f = NULL, *s = NULL;
    assert_int_equal(gr_fake_engine_new(&fc, &f, NULL, 0), GR_OK);
    assert_int_equal(gr_structured_engine_new(f, NULL, NULL, &s, NULL, 0), GR_OK);
    bg_call b = {.s = s};
    pthread_t th;
    pthread_create(&th, NULL, bg_generate, &b);
    while (gr_fake_gate_waiting(gate) < 1)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    call c;
    gr_result r;
    assert_int_equal(
        gr_engine_generate(s, req_for(&c, GR_OUTPUT_JSON, NULL, "x"), NULL, NULL, NULL, &r),
        GR_E_BUSY);
    assert_null(r.text);
    gr_fake_gate_open(gate);
    pthread_join(th, NULL);
    assert_int_equal(b.st, GR_OK);
    assert_string_equal(b.r.text, "[1]");
    gr_result_clear(&b.r);
    gr_engine_destroy(s);
    gr_fake_gate_free(gate);
}

/* repairs: 0 = default (1), < 0 = none, n = n; fallback_repairs: repairs on the fallback. */
static void repair_counts(void **state) {
    (void)state;
    gr_fake_step bad[] = {{.text = "x"}, {.text = "x"}, {.text = "x"}, {.text = "x"}};
    const struct {
        int repairs, fallback_repairs;
        long primary_calls, fallback_calls;
    } cases[] = {
        {-1, 0, 1, 1}, {0, 0, 2, 1}, {2, 1, 3, 2}, {99, 0, 1 + GR_STRUCTURED_MAX_REPAIRS, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        gr_engine *pe = fake("local", bad, 4), *fe = fake("cloud", bad, 4), *s = NULL;
        gr_structured_opts o = {.repairs = cases[i].repairs,
                                .fallback_repairs = cases[i].fallback_repairs};
        assert_int_equal(gr_structured_engine_new(pe, fe, &o, &s, NULL, 0), GR_OK);
        call c;
        gr_result r;
        assert_int_equal(
            gr_engine_generate(s, req_for(&c, GR_OUTPUT_JSON, NULL, "x"), NULL, NULL, NULL, &r),
            GR_E_INVALID_OUTPUT);
        assert_int_equal(gr_fake_engine_calls(pe), cases[i].primary_calls);
        assert_int_equal(gr_fake_engine_calls(fe), cases[i].fallback_calls);
        assert_int_equal(report_of(s).n_attempts, cases[i].primary_calls + cases[i].fallback_calls);
        gr_result_clear(&r);
        gr_engine_destroy(s);
    }
}

/* ---- the check on its own
 * --------------------------------------------------------------------------- */

static void check_unfences_and_trims(void **state) {
    (void)state;
    gr_output_constraint json = {GR_OUTPUT_JSON, NULL};
    char *out = NULL, err[256];
    size_t n;
    assert_int_equal(gr_structured_check(&json, "\n ```json\n{\"a\":1}\n```  \n", 24, &out, &n,
                                         NULL, err, sizeof err),
                     GR_OK);
    assert_string_equal(out, "{\"a\":1}");
    assert_int_equal(n, 7);
    free(out);
    assert_int_equal(gr_structured_check(&json, "  [true]  ", 10, &out, &n, NULL, err, sizeof err),
                     GR_OK);
    assert_string_equal(out, "[true]");
    free(out);
    /* text around the fence is not stripped: the answer must be only the value */
    const char *chatty = "Here:\n```json\n{}\n```";
    assert_int_equal(
        gr_structured_check(&json, chatty, strlen(chatty), &out, &n, NULL, err, sizeof err),
        GR_E_FORMAT);
    assert_null(out);
    /* an unclosed fence is not removed */
    assert_int_equal(gr_structured_check(&json, "```json\n{}", 10, &out, &n, NULL, err, sizeof err),
                     GR_E_FORMAT);
    assert_int_equal(gr_structured_check(&json, " \n ", 3, &out, &n, NULL, err, sizeof err),
                     GR_E_FORMAT);
    assert_string_equal(err, "the answer is empty");
    /* positions map onto the answer as written: leading blank lines and indentation */
    assert_int_equal(
        gr_structured_check(&json, "\n\n  {\"a\" 1}", 11, &out, &n, NULL, err, sizeof err),
        GR_E_FORMAT);
    assert_non_null(strstr(err, "line 3 col 8:"));
    gr_output_constraint text = {GR_OUTPUT_TEXT, NULL};
    assert_int_equal(gr_structured_check(&text, " any ", 5, &out, &n, NULL, err, sizeof err),
                     GR_OK);
    assert_string_equal(out, " any ");
    free(out);
    gr_output_constraint svg = {GR_OUTPUT_SVG, NULL};
    assert_int_equal(gr_structured_check(&svg, "<html/>", 7, &out, &n, NULL, err, sizeof err),
                     GR_E_FORMAT);
}

static void report_json_parses(void **state) {
    (void)state;
    gr_fake_step ps[] = {{.text = WRONG_TYPE}, {.text = GOOD}};
    pair p = make(ps, 2, NULL, 0, false);
    call c;
    gr_result r;
    assert_int_equal(gr_engine_generate(p.s, req_for(&c, GR_OUTPUT_JSON_SCHEMA, SCHEMA, "x"), NULL,
                                        NULL, NULL, &r),
                     GR_OK);
    gr_structured_report rep = report_of(p.s);
    char *js = gr_structured_report_json(&rep);
    assert_non_null(js);
    gr_json *doc = NULL;
    assert_int_equal(gr_json_parse(js, strlen(js), NULL, &doc, NULL, 0), GR_OK);
    const gr_json_val *root = gr_json_root(doc);
    assert_string_equal(gr_json_str(gr_json_get(root, "kind"), NULL), "json_schema");
    assert_string_equal(gr_json_str(gr_json_get(root, "status"), NULL), "ok");
    const gr_json_val *at = gr_json_get(root, "attempts");
    assert_int_equal(gr_json_len(at), 2);
    assert_false(gr_json_bool(gr_json_get(gr_json_at(at, 0), "valid")));
    assert_true(gr_json_bool(gr_json_get(gr_json_at(at, 1), "valid")));
    assert_string_equal(gr_json_str(gr_json_get(gr_json_at(at, 0), "error"), NULL),
                        "/name: expected string, got integer");
    gr_json_free(doc);
    free(js);
    gr_result_clear(&r);
    gr_engine_destroy(p.s);
    gr_structured_report none;
    gr_engine *fresh = NULL;
    assert_int_equal(gr_structured_engine_new(fake("x", NULL, 0), NULL, NULL, &fresh, NULL, 0),
                     GR_OK);
    assert_int_equal(gr_structured_last_report(fresh, &none), GR_E_NOT_FOUND);
    assert_int_equal(gr_structured_last_report(gr_structured_primary(fresh), &none),
                     GR_E_INVALID_ARG);
    gr_engine_destroy(fresh);
}

/* ---- inside a queue (how the server uses it)
 * --------------------------------------------------------- */

static gr_status factory(void *user, gr_engine **out, char *err, size_t errlen) {
    (void)user;
    static const gr_fake_step ps[] = {{.text = "{\"name\":\"x\"}"},
                                      {.text = "{\"name\":\"Bo\",\"age\":4}"}};
    gr_fake_config c = {.name = "local", .steps = ps, .n_steps = 2};
    gr_engine *e = NULL;
    gr_status s = gr_fake_engine_new(&c, &e, err, errlen);
    if (s) return s;
    s = gr_structured_engine_new(e, NULL, NULL, out, err, errlen);
    if (s) gr_engine_destroy(e);
    return s;
}

static void works_inside_a_queue(void **state) {
    (void)state;
    gr_queue_config qc = {factory, NULL, 4};
    gr_queue *q = NULL;
    assert_int_equal(gr_queue_new(&qc, &q, NULL, 0), GR_OK);
    char *schema = strdup(SCHEMA); /* the queue deep-copies the request, schema included */
    call c;
    gr_task *t = NULL;
    assert_int_equal(
        gr_queue_submit(q, req_for(&c, GR_OUTPUT_JSON_SCHEMA, schema, "x"), NULL, &t, NULL, 0),
        GR_OK);
    free(schema);
    gr_task_wait(t);
    const gr_result *r = gr_task_result(t);
    assert_int_equal(r->status, GR_OK);
    assert_string_equal(r->text, "{\"name\":\"Bo\",\"age\":4}");
    gr_task_release(t);
    gr_queue_free(q);
}

/* ---- the public C API (include/gemrun.h) on a tiny random model
 * ------------------------------------- */

static void public_validate(void **state) {
    (void)state;
    char *out = NULL, err[256];
    assert_int_equal(
        gr_output_validate(GR_OUT_JSON_SCHEMA, SCHEMA, GOOD, strlen(GOOD), &out, err, sizeof err),
        GR_OK);
    assert_string_equal(out, GOOD);
    gr_free(out);
    assert_int_equal(gr_output_validate(GR_OUT_JSON_SCHEMA, SCHEMA, WRONG_TYPE, strlen(WRONG_TYPE),
                                        &out, err, sizeof err),
                     GR_E_FORMAT);
    assert_null(out);
    assert_string_equal(err, "/name: expected string, got integer");
    const char *svg =
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>x()</script><circle r=\"2\"/></svg>";
    assert_int_equal(gr_output_validate(GR_OUT_SVG, NULL, svg, strlen(svg), &out, err, sizeof err),
                     GR_OK);
    assert_null(strstr(out, "script"));
    gr_free(out);
    assert_int_equal(gr_output_validate(9, NULL, "x", 1, &out, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(
        gr_output_validate(GR_OUT_JSON_SCHEMA, "{\"if\":{}}", "{}", 2, &out, err, sizeof err),
        GR_E_UNSUPPORTED);
}

/* A byte-level vocabulary with the Gemma 4 turn markers: enough for the local engine's chat. */
static void write_vocab(const char *path) {
    static const char *const special[] = {"<pad>",   "<eos>",   "<bos>",      "<unk>",
                                          "<|turn>", "<turn|>", "<|channel>", "<channel|>"};
    static const char *const words[] = {"{", "<svg"};
    static const char *const merges[] = {"< s"};
    tiny_vocab v = {"gemma4", special, TINY_VOCAB_COUNT(special), words, 2, merges, 1};
    tiny_vocab_write(path, &v);
}

static gr_model *tiny_model(char *dir, size_t cap) {
    snprintf(dir, cap, "%s/test_structured.XXXXXX", GR_BINARY_DIR);
    assert_non_null(mkdtemp(dir));
    char vocab[400], path[400], err[256] = "";
    snprintf(vocab, sizeof vocab, "%s/vocab.gguf", dir);
    snprintf(path, sizeof path, "%s/tiny.gguf", dir);
    write_vocab(vocab);
    gr_synth_opts o = {.preset = "gemma4-e2b-tiny", .type = "q8_0", .seed = 5, .vocab_path = vocab};
    if (gr_synth_write(&o, path, err, sizeof err) != GR_OK) fail_msg("synth: %s", err);
    gr_model *m = NULL;
    if (gr_model_load(path, &m, err, sizeof err) != GR_OK) fail_msg("load: %s", err);
    unlink(vocab);
    unlink(path); /* mapped: the file may go */
    rmdir(dir);
    return m;
}

static void public_generator_and_jobs(void **state) {
    (void)state;
    char dir[300];
    gr_model *m = tiny_model(dir, sizeof dir);
    gr_generator_params gp = {.model = m, .n_ctx = 256, .n_threads = 1};
    gr_generator *g = NULL;
    assert_int_equal(gr_generator_new(&gp, &g, NULL, 0), GR_OK);
    assert_null(gr_generator_last_report(g));
    gr_msg msgs[] = {{GR_MSG_USER, "Draw a circle as SVG"}};
    sinkbuf sb = {0};
    gr_gen_output out;
    /* SVG is not constrained by the local engine: a random model's answer fails validation twice */
    gr_gen_opts o = {.max_tokens = 8, .temperature = 0, .output = GR_OUT_SVG};
    assert_int_equal(gr_generator_chat(g, msgs, 1, &o, sink, &sb, &out), GR_E_INVALID_OUTPUT);
    assert_null(out.text);
    assert_int_equal(sb.calls, 0);
    assert_string_equal(out.finish, "error");
    assert_string_equal(out.engine, "local");
    assert_non_null(strstr(out.error, "invalid svg output after 2 attempts"));
    char *rep = gr_generator_last_report(g);
    assert_non_null(rep);
    assert_non_null(strstr(rep, "\"kind\":\"svg\""));
    assert_non_null(strstr(rep, "\"repair\":1"));
    gr_free(rep);
    gr_gen_output_clear(&out);
    /* argument errors */
    o.output = 7;
    assert_int_equal(gr_generator_chat(g, msgs, 1, &o, NULL, NULL, &out), GR_E_INVALID_ARG);
    o.output = GR_OUT_JSON_SCHEMA;
    assert_int_equal(gr_generator_chat(g, msgs, 1, &o, NULL, NULL, &out), GR_E_INVALID_ARG);
    assert_non_null(strstr(out.error, "opts.schema"));
    gr_gen_output_clear(&out);
    /* free text still streams through */
    o = (gr_gen_opts){.max_tokens = 6, .temperature = 0};
    memset(&sb, 0, sizeof sb);
    assert_int_equal(gr_generator_chat(g, msgs, 1, &o, sink, &sb, &out), GR_OK);
    assert_int_equal(sb.len, out.text_len);
    assert_true(out.text_len == 0 || sb.calls >= 1);
    gr_gen_output_clear(&out);
    gr_generator_free(g);
    /* the job queue runs the same pipeline */
    gr_job_queue *q = NULL;
    assert_int_equal(gr_job_queue_new(&gp, 2, &q, NULL, 0), GR_OK);
    gr_job *j = NULL;
    o = (gr_gen_opts){.max_tokens = 8, .temperature = 0, .output = GR_OUT_MERMAID};
    assert_int_equal(gr_job_submit(q, msgs, 1, &o, NULL, NULL, &j, NULL, 0), GR_OK);
    gr_job_wait(j);
    const gr_gen_output *jo = gr_job_output(j);
    assert_int_equal(jo->status, GR_E_INVALID_OUTPUT);
    assert_null(jo->text);
    assert_non_null(strstr(jo->error, "invalid mermaid output"));
    gr_job_release(j);
    gr_job_queue_free(q);
    gr_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_first_time),
        cmocka_unit_test(invalid_then_repaired),
        cmocka_unit_test(invalid_twice_then_fallback),
        cmocka_unit_test(all_invalid_is_typed_error),
        cmocka_unit_test(no_fallback),
        cmocka_unit_test(cancel_during_repair),
        cmocka_unit_test(deadline_during_repair),
        cmocka_unit_test(svg_script_is_sanitized),
        cmocka_unit_test(mermaid_error_position_in_repair),
        cmocka_unit_test(text_passes_through_streaming),
        cmocka_unit_test(engine_error_goes_to_fallback),
        cmocka_unit_test(bad_schema_fails_before_any_call),
        cmocka_unit_test(cut_off_answer_says_so),
        cmocka_unit_test(concurrent_call_is_busy),
        cmocka_unit_test(repair_counts),
        cmocka_unit_test(check_unfences_and_trims),
        cmocka_unit_test(report_json_parses),
        cmocka_unit_test(works_inside_a_queue),
        cmocka_unit_test(public_validate),
        cmocka_unit_test(public_generator_and_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
