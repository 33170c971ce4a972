/* test_plan.c — the model registry and the fit plan: sizes computed from shapes agree with the
 * tensor bytes of real (tiny, synthetic) GGUF files of every preset and format; the KV term against
 * a hand count for E2B; the seed's selection matrix (2 GiB -> none, 4-6 GiB -> E2B, 8+ GiB -> E4B);
 * context shrinking is maximal; bad inputs give errors naming the field; `gemrun plan` end to end.
 * Must not depend on files outside the repository. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gguf/gguf.h"
#include "layer/plan.h"
#include "layer/registry.h"
#include "model/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GIB (1024ull * 1024ull * 1024ull)

static void test_sizes_match_synth_files(void **st) {
    static const gr_quant qs[] = {GR_QUANT_Q4_0, GR_QUANT_Q4_K_M, GR_QUANT_Q8_0, GR_QUANT_BF16};
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/test_plan_%d.gguf", GR_BINARY_DIR, (int)getpid());
    int checked = 0;
    for (size_t i = 0; i < gr_synth_preset_count(); i++) {
        const char *name = gr_synth_preset_name(i);
        if (!strstr(name, "-tiny")) continue;
        for (size_t k = 0; k < 4; k++) {
            gr_synth_opts o = {
                .preset = name, .type = gr_quant_name(qs[k]), .n_vocab = 256, .seed = 3};
            gr_gemma_config c;
            gr_synth_shape sh;
            assert_int_equal(gr_synth_config(&o, &c, &sh, err, sizeof err), GR_OK);
            assert_int_equal(gr_synth_write(&o, path, err, sizeof err), GR_OK);
            gr_gguf *g = NULL;
            assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_OK);
            uint64_t total = 0, ple = 0, ple_row = 0;
            for (int64_t t = 0; t < gr_gguf_n_tensors(g); t++) {
                const gr_gguf_tensor *x = gr_gguf_tensor_at(g, t);
                total += x->nbytes;
                if (!strcmp(x->name, "per_layer_token_embd.weight"))
                    ple = x->nbytes, ple_row = x->nbytes / (uint64_t)x->ne[1];
            }
            uint64_t f, r, pr;
            assert_int_equal(gr_registry_config_bytes(&c, sh.k_eq_v, qs[k], &f, &r, &pr), GR_OK);
            assert_int_equal(f, total);
            assert_int_equal(r, total - ple);
            assert_int_equal(pr, ple_row);
            gr_model_profile p;
            assert_int_equal(gr_registry_from_gguf(g, "x", &p, err, sizeof err), GR_OK);
            assert_int_equal(p.file_bytes[p.file_quant], total);
            assert_int_equal(p.resident_bytes[p.file_quant], total - ple);
            gr_gguf_close(g);
            checked++;
        }
    }
    assert_true(checked >= 20);
    unlink(path);
}

static void test_registry_profiles(void **st) {
    char err[256];
    gr_model_profile e2b, e4b, p;
    assert_int_equal(gr_registry_count(), 8);
    for (size_t i = 0; i < gr_registry_count(); i++) {
        assert_int_equal(gr_registry_get(gr_registry_id(i), &p, err, sizeof err), GR_OK);
        /* fewer bits, fewer bytes */
        assert_true(p.file_bytes[GR_QUANT_Q4_0] < p.file_bytes[GR_QUANT_Q8_0]);
        assert_true(p.file_bytes[GR_QUANT_Q8_0] < p.file_bytes[GR_QUANT_BF16]);
        assert_true(p.resident_bytes[GR_QUANT_Q4_0] <= p.file_bytes[GR_QUANT_Q4_0]);
        /* bf16 is 2 bytes per weight except the f32 norms */
        assert_true(p.file_bytes[GR_QUANT_BF16] >= 2 * p.n_params);
        assert_true(p.file_bytes[GR_QUANT_BF16] < 2 * p.n_params + p.n_params / 100);
        assert_true(p.capabilities & GR_CAP_CONVERSATIONAL);
    }
    assert_int_equal(gr_registry_get("gemma-4-e2b-it", &e2b, err, sizeof err), GR_OK);
    assert_int_equal(gr_registry_get("gemma-4-e4b-it", &e4b, err, sizeof err), GR_OK);
    /* E2B text decoder: ~4.6B stored parameters (5.1B with the vision/audio towers, not counted
     * here), of which the PLE table is 35*256*262144 = 2.35B */
    assert_true(e2b.n_params > 4500000000ull && e2b.n_params < 4800000000ull);
    assert_true(e2b.resident_bytes[GR_QUANT_Q4_0] <
                e2b.file_bytes[GR_QUANT_Q4_0] - 2348810240ull / 2); /* the table is left out */
    assert_int_equal(e2b.ple_row_bytes[GR_QUANT_BF16], 35 * 256 * 2);
    assert_true(e2b.placement & GR_PLACE_AUTO);
    assert_int_equal(gr_registry_get("gemma-4-31b-it", &p, err, sizeof err), GR_OK);
    assert_false(p.placement & GR_PLACE_LOCAL); /* a server model */
    assert_int_equal(gr_registry_get("gemma-4-26b-a4b-it", &p, err, sizeof err), GR_OK);
    assert_true(p.n_params > 24000000000ull && p.n_params < 28000000000ull);
    assert_int_equal(gr_registry_get("gemma-3-12b-it", &p, err, sizeof err), GR_OK);
    assert_true(p.n_params > 11000000000ull && p.n_params < 12500000000ull);
    /* unknown ids name the field and the id */
    assert_int_equal(gr_registry_get("gemma-9-xl", &p, err, sizeof err), GR_E_NOT_FOUND);
    assert_non_null(strstr(err, "model"));
    assert_non_null(strstr(err, "gemma-9-xl"));
    gr_quant q;
    assert_int_equal(gr_quant_parse("q3_k", &q, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "quant"));
}

static void test_kv_by_hand(void **st) {
    char err[256];
    gr_model_profile e2b;
    assert_int_equal(gr_registry_get("gemma-4-e2b-it", &e2b, err, sizeof err), GR_OK);
    /* E2B: 35 layers, the last 20 share KV, so 15 own a cache; every 5th is full attention:
     * 3 full layers (1 KV head x 512) hold 4096 cells, 12 sliding (1 x 256) hold 512 + 512. */
    uint64_t want = 3ull * 2 * 4096 * 512 * 2 + 12ull * 2 * 1024 * 256 * 2;
    assert_int_equal(gr_plan_kv_bytes(&e2b.cfg, 4096, 512), want);
    /* a context shorter than window + batch: every layer holds n_ctx cells */
    assert_int_equal(gr_plan_kv_bytes(&e2b.cfg, 256, 512),
                     3ull * 2 * 256 * 512 * 2 + 12ull * 2 * 256 * 256 * 2);
}

static const char *select_at(double gib, uint32_t ctx, gr_fit_plan *p) {
    gr_plan_opts o = gr_plan_default_opts();
    o.budget = (uint64_t)(gib * (double)GIB);
    o.n_ctx = ctx;
    char err[256];
    assert_int_equal(gr_plan_select(&o, p, err, sizeof err), GR_OK);
    assert_int_equal(p->budget, o.budget);
    if (p->fits) {
        assert_true(p->total <= o.budget);
        assert_int_equal(p->total, p->weights + p->kv_cache + p->buffers + p->reserve);
    }
    return p->fits ? p->model_id : "";
}

static void test_seed_matrix(void **st) {
    gr_fit_plan p;
    assert_string_equal(select_at(2, 4096, &p), "");
    assert_false(p.fits);
    assert_non_null(strstr(p.reason, "cloud"));
    assert_string_equal(select_at(4, 4096, &p), "gemma-4-e2b-it");
    assert_int_equal(p.n_ctx, 4096);
    assert_string_equal(select_at(5, 4096, &p), "gemma-4-e2b-it");
    assert_string_equal(select_at(6, 4096, &p), "gemma-4-e2b-it");
    assert_string_equal(select_at(7.9, 4096, &p), "gemma-4-e2b-it");
    assert_string_equal(select_at(8, 4096, &p), "gemma-4-e4b-it");
    assert_non_null(strstr(p.reason, "largest"));
    assert_string_equal(select_at(16, 4096, &p), "gemma-4-e4b-it");
    assert_string_equal(select_at(64, 4096, &p), "gemma-4-e4b-it");
}

static void test_shrink(void **st) {
    char err[256];
    gr_model_profile e2b;
    assert_int_equal(gr_registry_get("gemma-4-e2b-it", &e2b, err, sizeof err), GR_OK);
    gr_plan_opts o = gr_plan_default_opts();
    o.budget = 4 * GIB;
    o.n_ctx = 131072;
    o.quant = GR_QUANT_Q8_0;
    gr_fit_plan p;
    assert_int_equal(gr_plan_for_profile(&e2b, &o, &p, err, sizeof err), GR_OK);
    assert_true(p.fits);
    assert_true(p.n_ctx < 131072 && p.n_ctx >= GR_PLAN_MIN_CTX && p.n_ctx % 256 == 0);
    assert_true(p.total <= o.budget);
    assert_non_null(strstr(p.reason, "shrunk"));
    gr_fit_plan bigger;
    gr_plan_estimate(&e2b, &o, p.n_ctx + 256, &bigger);
    assert_true(bigger.total > o.budget); /* the largest context that fits */
    /* selection shrinks the context when the requested one fits nowhere */
    assert_string_equal(select_at(4, 131072, &p), "gemma-4-e2b-it");
    assert_true(p.n_ctx < 131072);
    /* far too little: no fit, with the reason */
    o.budget = 2 * GIB;
    o.quant = GR_QUANT_BF16;
    assert_int_equal(gr_plan_for_profile(&e2b, &o, &p, err, sizeof err), GR_OK);
    assert_false(p.fits);
    assert_non_null(strstr(p.reason, "does not fit even at context 512"));
    assert_int_equal(p.n_ctx, GR_PLAN_MIN_CTX); /* the numbers shown are those of the reason */
    assert_int_equal(p.n_ctx_requested, 131072);
    assert_true(p.total > o.budget);
}

static void test_bad_options(void **st) {
    char err[256];
    gr_fit_plan p;
    gr_plan_opts o = gr_plan_default_opts();
    assert_int_equal(gr_plan_select(&o, &p, err, sizeof err), GR_E_INVALID_ARG); /* no budget */
    assert_non_null(strstr(err, "memory"));
    o.budget = 1ull << 62;
    assert_int_equal(gr_plan_select(&o, &p, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "memory"));
    o.budget = GIB;
    o.reserve = 2 * GIB;
    assert_int_equal(gr_plan_select(&o, &p, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "reserve"));
    o.reserve = GR_PLAN_DEFAULT_RESERVE;
    o.budget = 8 * GIB;
    o.n_ctx = 1u << 30;
    assert_int_equal(gr_plan_select(&o, &p, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "ctx"));
}

static int sh(const char *args, char *out, size_t cap) {
    const char *bin = getenv("GEMRUN_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s plan %s 2>&1", bin ? bin : GR_BINARY_DIR "/gemrun", args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int rc = pclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli(void **st) {
    char out[4096];
    assert_int_equal(sh("--memory 6 --json", out, sizeof out), 0);
    assert_non_null(strstr(out, "\"model\":\"gemma-4-e2b-it\""));
    assert_int_equal(sh("--memory 8", out, sizeof out), 0);
    assert_non_null(strstr(out, "gemma-4-e4b-it"));
    assert_int_equal(sh("--memory 2", out, sizeof out), 3);
    assert_non_null(strstr(out, "route to cloud"));
    assert_int_equal(sh("--memory -3", out, sizeof out), 2);
    assert_non_null(strstr(out, "memory"));
    assert_int_equal(sh("--model nope --memory 8", out, sizeof out), 2);
    assert_non_null(strstr(out, "unknown id 'nope'"));
    assert_int_equal(sh("--memory 8 --reserve 9", out, sizeof out), 2);
    assert_non_null(strstr(out, "reserve"));
    assert_int_equal(sh("--model gemma-3-4b-it --memory 8 --quant q5", out, sizeof out), 2);
    assert_non_null(strstr(out, "quant"));
    assert_int_equal(sh("-m /nonexistent.gguf --memory 8", out, sizeof out), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_match_synth_files),
        cmocka_unit_test(test_registry_profiles),
        cmocka_unit_test(test_kv_by_hand),
        cmocka_unit_test(test_seed_matrix),
        cmocka_unit_test(test_shrink),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
