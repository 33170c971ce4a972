/* test_chat.c — chat prompt layouts byte for byte against spec gemma4.md §4.4 (Gemma 4: one user
 * turn, system + user, multi-turn with a prior thought channel, thinking on) and §5 (Gemma 3 with
 * the system text folded in), format detection, and the streaming thought-channel filter with
 * markers split at every byte. Expected strings are written from the spec, not from our output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include "text/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG(r, s) {r, s, sizeof(s) - 1}

static void expect_render(gr_chat_format f, const gr_chat_msg *m, size_t n, bool think,
                          bool gen, const char *want) {
    gr_chat_opts o = {think, gen};
    char *out, err[256];
    size_t len;
    assert_int_equal(gr_chat_render(f, m, n, &o, &out, &len, err, sizeof err), GR_OK);
    if (strcmp(out, want)) fprintf(stderr, "got:  [%s]\nwant: [%s]\n", out, want);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void test_gemma4_one_user_turn(void **st) {
    (void)st;
    gr_chat_msg m[] = {MSG(GR_ROLE_USER, "Hi")};
    expect_render(GR_CHAT_GEMMA4, m, 1, false, true,
                  "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

static void test_gemma4_system_user(void **st) {
    (void)st;
    /* The example of spec §4.4, with surrounding whitespace that the template trims. */
    gr_chat_msg m[] = {MSG(GR_ROLE_SYSTEM, "  You are helpful.\n"), MSG(GR_ROLE_USER, "Hi\n")};
    expect_render(GR_CHAT_GEMMA4, m, 2, false, true,
                  "<bos><|turn>system\nYou are helpful.<turn|>\n<|turn>user\nHi<turn|>\n"
                  "<|turn>model\n<|channel>thought\n<channel|>");
}

static void test_gemma4_multi_turn_strips_thought(void **st) {
    (void)st;
    gr_chat_msg m[] = {
        MSG(GR_ROLE_USER, "What is 2+2?"),
        MSG(GR_ROLE_MODEL, "<|channel>thought\nSimple arithmetic.<channel|>It is 4."),
        MSG(GR_ROLE_USER, "And 3+3?"),
        MSG(GR_ROLE_MODEL, "<|channel>thought\n<channel|>6"),
        MSG(GR_ROLE_USER, "Thanks"),
    };
    expect_render(GR_CHAT_GEMMA4, m, 5, false, true,
                  "<bos><|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\nIt is 4.<turn|>\n"
                  "<|turn>user\nAnd 3+3?<turn|>\n<|turn>model\n6<turn|>\n"
                  "<|turn>user\nThanks<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
    /* Without a generation prompt the conversation just ends after the last turn. */
    expect_render(GR_CHAT_GEMMA4, m, 2, false, false,
                  "<bos><|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\nIt is 4.<turn|>\n");
}

static void test_gemma4_thinking(void **st) {
    (void)st;
    gr_chat_msg m[] = {MSG(GR_ROLE_SYSTEM, "Be brief."), MSG(GR_ROLE_USER, "Why?")};
    /* Thinking on: <|think|> opens the system turn, no empty thought channel is appended. */
    expect_render(GR_CHAT_GEMMA4, m, 2, true, true,
                  "<bos><|turn>system\n<|think|>Be brief.<turn|>\n<|turn>user\nWhy?<turn|>\n"
                  "<|turn>model\n");
    /* Thinking on without a system message still emits a system turn. */
    expect_render(GR_CHAT_GEMMA4, m + 1, 1, true, true,
                  "<bos><|turn>system\n<|think|><turn|>\n<|turn>user\nWhy?<turn|>\n<|turn>model\n");
}

static void test_gemma3_system_folded(void **st) {
    (void)st;
    gr_chat_msg m[] = {MSG(GR_ROLE_SYSTEM, "You are helpful."), MSG(GR_ROLE_USER, " Hi "),
                       MSG(GR_ROLE_MODEL, "Hello!"), MSG(GR_ROLE_USER, "Bye")};
    expect_render(GR_CHAT_GEMMA3, m, 4, false, true,
                  "<bos><start_of_turn>user\nYou are helpful.\n\nHi<end_of_turn>\n"
                  "<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n"
                  "<start_of_turn>model\n");
    expect_render(GR_CHAT_GEMMA3, m + 1, 1, true, true,
                  "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
    /* Roles must alternate user/model. */
    gr_chat_msg bad[] = {MSG(GR_ROLE_USER, "a"), MSG(GR_ROLE_USER, "b")};
    gr_chat_opts o = {false, true};
    char *out, err[256];
    size_t len;
    assert_int_equal(gr_chat_render(GR_CHAT_GEMMA3, bad, 2, &o, &out, &len, err, sizeof err),
                     GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "alternate"));
    assert_null(out);
    gr_chat_msg badrole[] = {{(gr_chat_role)7, "x", 1}};
    assert_int_equal(gr_chat_render(GR_CHAT_GEMMA4, badrole, 1, &o, &out, &len, err, sizeof err),
                     GR_E_INVALID_ARG);
}

static void test_detect(void **st) {
    (void)st;
    gr_chat_format f;
    char err[256];
    const char *t4 = "{{ bos_token }}{{ '<|turn>' + role }}", *t3 = "<start_of_turn>user";
    assert_int_equal(gr_chat_detect(t4, strlen(t4), "gemma3", &f, err, sizeof err), GR_OK);
    assert_int_equal(f, GR_CHAT_GEMMA4);
    assert_int_equal(gr_chat_detect(t3, strlen(t3), "gemma4", &f, err, sizeof err), GR_OK);
    assert_int_equal(f, GR_CHAT_GEMMA3);
    assert_int_equal(gr_chat_detect(NULL, 0, "gemma4", &f, err, sizeof err), GR_OK);
    assert_int_equal(f, GR_CHAT_GEMMA4);
    assert_int_equal(gr_chat_detect("x", 1, "gemma3", &f, err, sizeof err), GR_OK);
    assert_int_equal(f, GR_CHAT_GEMMA3);
    assert_int_equal(gr_chat_detect("x", 1, "llama", &f, err, sizeof err), GR_E_UNSUPPORTED);
    assert_int_equal(gr_chat_detect(NULL, 0, NULL, &f, err, sizeof err), GR_E_UNSUPPORTED);
}

/* Feed text in pieces of `step` bytes; collect answer and thought. */
static void filter_all(const char *in, size_t step, char *ans, size_t *na, char *th, size_t *nt) {
    gr_thought_filter f;
    gr_thought_filter_init(&f);
    size_t len = strlen(in);
    *na = *nt = 0;
    for (size_t i = 0; i < len; i += step) {
        size_t k = len - i < step ? len - i : step, a, t;
        gr_thought_filter_feed(&f, in + i, k, ans + *na, &a, th + *nt, &t);
        *na += a, *nt += t;
    }
    size_t a, t;
    gr_thought_filter_flush(&f, ans + *na, &a, th + *nt, &t);
    *na += a, *nt += t;
}

static void test_thought_filter(void **st) {
    (void)st;
    const char *gen = "<|channel>thought\nLet me think <b>.<channel|>The answer is <|chan 4.";
    for (size_t step = 1; step <= strlen(gen); step++) {
        char ans[256], th[256];
        size_t na, nt;
        filter_all(gen, step, ans, &na, th, &nt);
        assert_int_equal(na, strlen("The answer is <|chan 4."));
        assert_memory_equal(ans, "The answer is <|chan 4.", na);
        assert_int_equal(nt, strlen("thought\nLet me think <b>."));
        assert_memory_equal(th, "thought\nLet me think <b>.", nt);
    }
    char out[128];
    const char *s = "A<|channel>x<channel|>B<|channel>unterminated";
    size_t n = gr_chat_strip_thought(s, strlen(s), out);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "AB", 2);
    n = gr_chat_strip_thought("plain <|chann", 13, out);
    assert_int_equal(n, 13); /* a marker prefix at the end is released at flush */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemma4_one_user_turn),
        cmocka_unit_test(test_gemma4_system_user),
        cmocka_unit_test(test_gemma4_multi_turn_strips_thought),
        cmocka_unit_test(test_gemma4_thinking),
        cmocka_unit_test(test_gemma3_system_folded),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_thought_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
