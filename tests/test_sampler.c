/* test_sampler.c — each sampling filter on crafted logits, penalties, determinism per seed, and
 * sampled frequencies against the expected softmax distribution (chi-square bound). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "decode/sampler.h"

#include <math.h>
#include <string.h>

static gr_sampler_params base(void) {
    gr_sampler_params p = gr_sampler_default_params();
    p.temp = 1.0f, p.top_k = 0, p.top_p = 1.0f, p.min_p = 0.0f, p.repeat_penalty = 1.0f;
    p.repeat_last_n = 8, p.presence_penalty = 0, p.frequency_penalty = 0, p.seed = 42;
    return p;
}

static gr_sampler *mk(gr_sampler_params p, int V) {
    gr_sampler *s = NULL;
    assert_int_equal(gr_sampler_new(&p, V, &s, NULL, 0), GR_OK);
    return s;
}

/* Histogram of n draws. */
static void draw(gr_sampler *s, const float *l, int n, int *hist, int V) {
    memset(hist, 0, (size_t)V * sizeof *hist);
    for (int i = 0; i < n; i++) {
        int32_t id = gr_sampler_sample(s, l);
        assert_true(id >= 0 && id < V);
        hist[id]++;
    }
}

static void test_greedy_ties(void **st) {
    (void)st;
    gr_sampler_params p = base();
    p.temp = 0;
    gr_sampler *s = mk(p, 6);
    const float l[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 2.0f};
    assert_int_equal(gr_sampler_sample(s, l), 1); /* ties -> lowest id */
    const float l2[6] = {0, 0, 0, 0, 0, 3};
    assert_int_equal(gr_sampler_sample(s, l2), 5);
    gr_sampler_free(s);
}

static void test_top_k(void **st) {
    (void)st;
    gr_sampler_params p = base();
    p.top_k = 2;
    gr_sampler *s = mk(p, 5);
    const float l[5] = {1.0f, 3.0f, 0.0f, 2.9f, 2.8f};
    int h[5];
    draw(s, l, 2000, h, 5);
    assert_int_equal(h[0] + h[2] + h[4], 0);
    assert_true(h[1] > 0 && h[3] > 0);
    gr_sampler_free(s);
}

static void test_top_p(void **st) {
    (void)st;
    gr_sampler_params p = base();
    p.top_p = 0.7f;
    gr_sampler *s = mk(p, 4);
    /* probabilities 0.5, 0.3, 0.15, 0.05: the nucleus for 0.7 is {0, 1} */
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    int h[4];
    draw(s, l, 3000, h, 4);
    assert_int_equal(h[2] + h[3], 0);
    assert_true(h[0] > h[1] && h[1] > 0);
    gr_sampler_free(s);
}

static void test_min_p(void **st) {
    (void)st;
    gr_sampler_params p = base();
    p.min_p = 0.2f;
    gr_sampler *s = mk(p, 4);
    /* relative to the top (0.5): 0.3 passes (0.6), 0.15 passes (0.3), 0.05 fails (0.1) */
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    int h[4];
    draw(s, l, 3000, h, 4);
    assert_int_equal(h[3], 0);
    assert_true(h[2] > 0);
    gr_sampler_free(s);
}

static void test_temperature_sharpens(void **st) {
    (void)st;
    const float l[3] = {1.0f, 0.5f, 0.0f};
    int hot[3], cold[3];
    gr_sampler_params p = base();
    p.temp = 2.0f;
    gr_sampler *s = mk(p, 3);
    draw(s, l, 4000, hot, 3);
    gr_sampler_free(s);
    p.temp = 0.25f;
    s = mk(p, 3);
    draw(s, l, 4000, cold, 3);
    gr_sampler_free(s);
    assert_true(cold[0] > hot[0] + 1000);
}

static void test_penalties(void **st) {
    (void)st;
    gr_sampler_params p = base();
    p.temp = 0;
    p.repeat_penalty = 2.0f;
    gr_sampler *s = mk(p, 3);
    const float l[3] = {2.0f, 1.5f, -1.0f};
    assert_int_equal(gr_sampler_sample(s, l), 0);
    gr_sampler_accept(s, 0); /* 2.0 / 2 = 1.0 < 1.5 */
    assert_int_equal(gr_sampler_sample(s, l), 1);
    gr_sampler_reset(s);
    assert_int_equal(gr_sampler_sample(s, l), 0);
    gr_sampler_free(s);

    p = base();
    p.temp = 0;
    p.repeat_last_n = 2;
    p.frequency_penalty = 0.4f;
    p.presence_penalty = 0.05f;
    s = mk(p, 3);
    gr_sampler_accept(s, 0);
    assert_int_equal(gr_sampler_sample(s, l), 0); /* 2.0 - 0.45 = 1.55 > 1.5 */
    gr_sampler_accept(s, 0);                      /* twice: 2.0 - 0.85 < 1.5 */
    assert_int_equal(gr_sampler_sample(s, l), 1);
    gr_sampler_accept(s, 2);
    gr_sampler_accept(s, 2); /* window of 2 forgets the zeros */
    assert_int_equal(gr_sampler_sample(s, l), 0);
    gr_sampler_free(s);
}

static void test_deterministic(void **st) {
    (void)st;
    float l[50];
    for (int i = 0; i < 50; i++) l[i] = sinf((float)i);
    gr_sampler *a = mk(base(), 50), *b = mk(base(), 50);
    int32_t first[64];
    for (int i = 0; i < 64; i++) {
        first[i] = gr_sampler_sample(a, l);
        assert_int_equal(first[i], gr_sampler_sample(b, l));
    }
    gr_sampler_reset(a);
    for (int i = 0; i < 64; i++) assert_int_equal(first[i], gr_sampler_sample(a, l));
    gr_sampler_params p = base();
    p.seed = 43;
    gr_sampler *c = mk(p, 50);
    int same = 0;
    for (int i = 0; i < 64; i++) same += gr_sampler_sample(c, l) == first[i];
    assert_true(same < 64);
    gr_sampler_free(a), gr_sampler_free(b), gr_sampler_free(c);
}

/* Frequencies of 20000 draws against softmax(l / T): chi-square with 7 degrees of freedom must
 * stay below 30 (p ~ 1e-4 for a correct sampler). */
static void test_chi_square(void **st) {
    (void)st;
    const int V = 8, N = 20000;
    float l[8];
    double pr[8], sum = 0;
    const float T = 0.7f;
    for (int i = 0; i < V; i++) {
        l[i] = 0.3f * (float)i - 0.02f * (float)(i * i);
        sum += pr[i] = exp(l[i] / T);
    }
    gr_sampler_params p = base();
    p.temp = T;
    gr_sampler *s = mk(p, V);
    int h[8];
    draw(s, l, N, h, V);
    double chi = 0;
    for (int i = 0; i < V; i++) {
        const double e = N * pr[i] / sum;
        chi += (h[i] - e) * (h[i] - e) / e;
    }
    assert_true(chi < 30.0);
    gr_sampler_free(s);
}

static void test_bad_params(void **st) {
    (void)st;
    gr_sampler_params p = base();
    gr_sampler *s = NULL;
    assert_int_equal(gr_sampler_new(&p, 0, &s, NULL, 0), GR_E_INVALID_ARG);
    p.repeat_last_n = -1;
    assert_int_equal(gr_sampler_new(&p, 10, &s, NULL, 0), GR_E_INVALID_ARG);
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_ties),   cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_top_p),         cmocka_unit_test(test_min_p),
        cmocka_unit_test(test_temperature_sharpens), cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_chi_square),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
