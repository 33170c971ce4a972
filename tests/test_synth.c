/* test_synth.c — tests of the synthetic model writer: every reduced preset is written (tiny
 * vocabulary), read back with the GGUF reader and the model config loader, and its tensor names,
 * shapes, types and keys are checked against a layout derived here from the spec (gemma4.md §3.2,
 * §3.3, §5), not from synth.c's tables. Full-size presets are checked against the spec's variant
 * facts (§1). Also: determinism, quantized data close to the f32 data, and bad options. Must not
 * write full-size files (too slow for a unit test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gguf/gguf.h"
#include "model/config.h"
#include "model/synth.h"
#include "tensor/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void tmp_path(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "%s/test_synth_%ld_%s.gguf", GR_BINARY_DIR, (long)getpid(), tag);
}

static gr_gguf *write_and_open(const gr_synth_opts *o, const char *tag, char *path, size_t pn) {
    char err[256] = "";
    tmp_path(path, pn, tag);
    gr_status st = gr_synth_write(o, path, err, sizeof err);
    if (st) fprintf(stderr, "synth %s: %s\n", tag, err);
    assert_int_equal(st, GR_OK);
    gr_gguf *g = NULL;
    st = gr_gguf_open(path, &g, err, sizeof err);
    if (st) fprintf(stderr, "open %s: %s\n", tag, err);
    assert_int_equal(st, GR_OK);
    return g;
}

/* ---- expected layout, derived from the spec ---- */

typedef struct expect_ctx {
    const gr_gguf *g;
    int n_checked;
    gr_type mat_type; /* expected type of matrices (when uniform), or -1 */
} expect_ctx;

static void expect(expect_ctx *x, const char *name, int64_t ne0, int64_t ne1, int64_t ne2) {
    const gr_gguf_tensor *t = gr_gguf_find_tensor(x->g, name);
    if (!t) fail_msg("missing tensor %s", name);
    int64_t want[3] = {ne0, ne1, ne2};
    uint32_t nd = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    for (int i = 0; i < 3; i++)
        if (t->ne[i] != want[i])
            fail_msg("%s: ne[%d] = %lld, want %lld", name, i, (long long)t->ne[i],
                     (long long)want[i]);
    if (nd == 1 && t->type != GR_TYPE_F32) fail_msg("%s: 1-D tensor not F32", name);
    bool router = strstr(name, "ffn_gate_inp.weight") != NULL;
    if (nd >= 2 && !router && (int)x->mat_type >= 0 && t->type != x->mat_type)
        fail_msg("%s: type %d, want %d", name, t->type, x->mat_type);
    x->n_checked++;
}

static void expect_layout(const gr_gguf *g, const gr_gemma_config *c, bool k_eq_v, int mat_type) {
    expect_ctx x = {.g = g, .mat_type = (gr_type)mat_type};
    char n[96];
    int64_t d = c->n_embd, V = c->n_vocab, P = c->n_embd_per_layer, L = c->n_layer;
    expect(&x, "token_embd.weight", d, V, 1);
    expect(&x, "output_norm.weight", d, 1, 1);
    if (c->arch == GR_ARCH_GEMMA4) {
        expect(&x, "rope_freqs.weight", c->head_dim / 2, 1, 1);
        if (P) {
            expect(&x, "per_layer_token_embd.weight", L * P, V, 1);
            expect(&x, "per_layer_model_proj.weight", d, L * P, 1);
            expect(&x, "per_layer_proj_norm.weight", P, 1, 1);
        }
    }
    uint32_t first_shared = c->n_layer - c->n_kv_shared;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        int64_t hd = c->is_swa[l] ? c->head_dim_swa : c->head_dim, nh = c->n_head;
        int64_t nkv = c->n_head_kv[l], F = c->n_ff[l];
        bool owns = l < first_shared;
#define E(sfx, a, b, cc) (snprintf(n, sizeof n, "blk.%u." sfx, l), expect(&x, n, a, b, cc))
        E("attn_norm.weight", d, 1, 1);
        E("attn_q.weight", d, nh * hd, 1);
        E("attn_output.weight", nh * hd, d, 1);
        E("attn_q_norm.weight", hd, 1, 1);
        if (owns) {
            E("attn_k.weight", d, nkv * hd, 1);
            E("attn_k_norm.weight", hd, 1, 1);
        }
        if (owns && !(k_eq_v && !c->is_swa[l])) E("attn_v.weight", d, nkv * hd, 1);
        E("post_attention_norm.weight", d, 1, 1);
        E("ffn_norm.weight", d, 1, 1);
        E("ffn_gate.weight", d, F, 1);
        E("ffn_up.weight", d, F, 1);
        E("ffn_down.weight", F, d, 1);
        E("post_ffw_norm.weight", d, 1, 1);
        if (c->arch == GR_ARCH_GEMMA4) {
            E("layer_output_scale.weight", 1, 1, 1);
            if (P) {
                E("inp_gate.weight", d, P, 1);
                E("proj.weight", P, d, 1);
                E("post_norm.weight", d, 1, 1);
            }
            if (c->n_expert) {
                int64_t ne = c->n_expert, fe = c->n_ff_exp;
                E("ffn_gate_inp.weight", d, ne, 1);
                E("ffn_gate_inp.scale", d, 1, 1);
                E("pre_ffw_norm_2.weight", d, 1, 1);
                E("post_ffw_norm_1.weight", d, 1, 1);
                E("post_ffw_norm_2.weight", d, 1, 1);
                E("ffn_gate_up_exps.weight", d, 2 * fe, ne);
                E("ffn_down_exps.weight", fe, d, ne);
                E("ffn_down_exps.scale", ne, 1, 1);
            }
        }
#undef E
        /* KV-shared layers and k_eq_v full layers must NOT carry the tensors they do not use. */
        snprintf(n, sizeof n, "blk.%u.attn_v.weight", l);
        if (!owns || (k_eq_v && !c->is_swa[l])) assert_null(gr_gguf_find_tensor(g, n));
        snprintf(n, sizeof n, "blk.%u.attn_k.weight", l);
        if (!owns) assert_null(gr_gguf_find_tensor(g, n));
    }
    /* Nothing else in the file. */
    assert_int_equal(gr_gguf_n_tensors(g), x.n_checked);
}

static void check_general(const gr_gguf *g, const char *arch, uint32_t file_type) {
    gr_gguf_str s;
    uint32_t v;
    assert_int_equal(gr_gguf_get_str(g, "general.architecture", &s), GR_OK);
    assert_true(s.len == strlen(arch) && !memcmp(s.ptr, arch, s.len));
    assert_int_equal(gr_gguf_get_str(g, "general.name", &s), GR_OK);
    assert_int_equal(gr_gguf_get_u32(g, "general.file_type", &v), GR_OK);
    assert_int_equal(v, file_type);
    assert_int_equal(gr_gguf_get_u32(g, "general.quantization_version", &v), GR_OK);
    assert_int_equal(v, 2);
    assert_int_equal(gr_gguf_get_u32(g, "general.alignment", &v), GR_OK);
    assert_int_equal(v, (uint32_t)gr_gguf_alignment(g));
}

/* The config read back by the model loader equals the one the writer meant. */
static void check_config_equal(const gr_gemma_config *a, const gr_gemma_config *b) {
    assert_int_equal(a->arch, b->arch);
    assert_int_equal(a->n_layer, b->n_layer);
    assert_int_equal(a->n_embd, b->n_embd);
    assert_int_equal(a->n_head, b->n_head);
    assert_int_equal(a->n_vocab, b->n_vocab);
    assert_int_equal(a->head_dim, b->head_dim);
    assert_int_equal(a->head_dim_swa, b->head_dim_swa);
    assert_int_equal(a->n_rot, b->n_rot);
    assert_int_equal(a->n_rot_swa, b->n_rot_swa);
    assert_int_equal(a->sliding_window, b->sliding_window);
    assert_int_equal(a->n_kv_shared, b->n_kv_shared);
    assert_int_equal(a->n_embd_per_layer, b->n_embd_per_layer);
    assert_int_equal(a->n_expert, b->n_expert);
    assert_int_equal(a->n_expert_used, b->n_expert_used);
    assert_int_equal(a->n_ff_exp, b->n_ff_exp);
    for (uint32_t l = 0; l < a->n_layer; l++) {
        assert_int_equal(a->n_head_kv[l], b->n_head_kv[l]);
        assert_int_equal(a->n_ff[l], b->n_ff[l]);
        assert_int_equal(a->is_swa[l], b->is_swa[l]);
    }
    assert_float_equal(a->rope_base, b->rope_base, 1e-3);
    assert_float_equal(a->rope_base_swa, b->rope_base_swa, 1e-3);
    assert_float_equal(a->rope_scale, b->rope_scale, 1e-6);
    assert_float_equal(a->rms_eps, b->rms_eps, 1e-12);
    assert_float_equal(a->final_softcap, b->final_softcap, 1e-6);
    assert_float_equal(a->attn_scale, b->attn_scale, 1e-6);
}

/* Structural features every reduced Gemma 4 preset must keep from its full-size original. */
static void check_features(const char *preset, const gr_gemma_config *c, const gr_gguf *g) {
    if (c->arch != GR_ARCH_GEMMA4) return;
    assert_int_equal(c->head_dim, 2 * c->head_dim_swa);
    assert_false(c->is_swa[c->n_layer - 1]); /* HF forces the last layer to full attention */
    float f0, flast;
    const gr_gguf_tensor *rf = gr_gguf_find_tensor(g, "rope_freqs.weight");
    memcpy(&f0, rf->data, 4);
    memcpy(&flast, (const float *)rf->data + rf->ne[0] - 1, 4);
    assert_float_equal(f0, 1.0f, 0);
    assert_true(flast >= 1e29f);
    /* exactly 25 % of the dims rotate: head_dim/8 ones (pairs) */
    int ones = 0;
    for (int64_t i = 0; i < rf->ne[0]; i++) {
        float v;
        memcpy(&v, (const float *)rf->data + i, 4);
        ones += v == 1.0f;
    }
    assert_int_equal(ones, (int)(c->head_dim / 8));
    if (strstr(preset, "e2b")) {
        uint32_t fs = c->n_layer - c->n_kv_shared;
        assert_true(c->n_kv_shared > 0);
        assert_true(c->n_ff[fs] == 2 * c->n_ff[0]); /* double-wide MLP on shared layers */
        assert_true(c->n_embd_per_layer > 0);
        gr_gguf_vtype et;
        uint64_t n;
        assert_int_equal(gr_gguf_get_arr(g, "gemma4.feed_forward_length", &et, &n), GR_OK);
        assert_int_equal(n, c->n_layer);
    }
    if (strstr(preset, "e4b")) assert_true(c->n_kv_shared > 0 && c->n_embd_per_layer > 0);
    if (strstr(preset, "31b") || strstr(preset, "26b")) {
        gr_gguf_vtype et;
        uint64_t n;
        assert_int_equal(gr_gguf_get_arr(g, "gemma4.attention.head_count_kv", &et, &n), GR_OK);
        assert_int_equal(n, c->n_layer);
        assert_int_equal(c->n_head_kv[0], 2 * c->n_head_kv[c->n_layer - 1]);
    }
    if (strstr(preset, "26b")) assert_true(c->n_expert > c->n_expert_used && c->n_expert_used > 1);
    for (uint32_t l = 0; l < c->n_layer; l++) { /* every KV-shared layer has a donor */
        uint32_t src = gr_kv_source_layer(c, l);
        assert_true(src <= l);
        assert_int_equal(c->is_swa[src], c->is_swa[l]);
    }
}

static void one_preset(const char *name, const char *type, int mat_type, uint32_t file_type) {
    char path[512], tag[96], err[256] = "";
    snprintf(tag, sizeof tag, "%s_%s", name, type);
    gr_synth_opts o = {.preset = name, .type = type, .seed = 7, .n_vocab = 512};
    gr_gemma_config want, got;
    gr_synth_shape sh;
    assert_int_equal(gr_synth_config(&o, &want, &sh, err, sizeof err), GR_OK);
    gr_gguf *g = write_and_open(&o, tag, path, sizeof path);
    gr_status st = gr_gemma_config_from_gguf(g, &got, err, sizeof err);
    if (st) fail_msg("%s: config: %s", tag, err);
    check_config_equal(&want, &got);
    check_general(g, got.arch == GR_ARCH_GEMMA4 ? "gemma4" : "gemma3", file_type);
    expect_layout(g, &got, sh.k_eq_v, mat_type);
    check_features(name, &got, g);
    gr_gguf_close(g);
    unlink(path);
}

static void test_reduced_presets_f32_q8_0(void **state) {
    (void)state;
    int n = 0;
    for (size_t i = 0; i < gr_synth_preset_count(); i++) {
        const char *p = gr_synth_preset_name(i);
        if (!strstr(p, "-tiny")) continue;
        one_preset(p, "f32", GR_TYPE_F32, 0);
        one_preset(p, "q8_0", GR_TYPE_Q8_0, 7);
        n++;
    }
    assert_int_equal(n, 7); /* every variant has a reduced preset */
}

static void test_all_types_on_e2b_tiny(void **state) {
    (void)state;
    static const struct {
        const char *n;
        int t;
        uint32_t ft;
    } types[] = {{"f16", GR_TYPE_F16, 1},   {"bf16", GR_TYPE_BF16, 32}, {"q4_0", GR_TYPE_Q4_0, 2},
                 {"q4_1", GR_TYPE_Q4_1, 3}, {"q5_0", GR_TYPE_Q5_0, 8},  {"q5_1", GR_TYPE_Q5_1, 9},
                 {"q4_k", -1, 14},          {"q5_k", -1, 16},           {"q6_k", -1, 18},
                 {"q4_k_m", -1, 15}};
    /* K-quant files mix in fallbacks for rows that are not a multiple of 256 (checked below). */
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        one_preset("gemma4-e2b-tiny", types[i].n, types[i].t, types[i].ft);
}

/* Q4_K_M: token_embd Q6_K (tied output head), ffn_down Q6_K on the first layer (use_more_bits),
 * Q4_K elsewhere; rows not divisible by 256 fall back like llama-quantize (Q4_K -> Q5_0). */
static void test_q4_k_m_mix(void **state) {
    (void)state;
    char path[512];
    gr_synth_opts o = {.preset = "gemma4-e2b-tiny", .type = "q4_k_m", .n_vocab = 256};
    gr_gguf *g = write_and_open(&o, "mix", path, sizeof path);
    assert_int_equal(gr_gguf_find_tensor(g, "token_embd.weight")->type, GR_TYPE_Q6_K);
    assert_int_equal(gr_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type, GR_TYPE_Q6_K);
    assert_int_equal(gr_gguf_find_tensor(g, "blk.0.attn_v.weight")->type, GR_TYPE_Q6_K);
    assert_int_equal(gr_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, GR_TYPE_Q4_K);
    assert_int_equal(gr_gguf_find_tensor(g, "blk.2.ffn_down.weight")->type, GR_TYPE_Q4_K);
    const gr_gguf_tensor *pj = gr_gguf_find_tensor(g, "blk.0.proj.weight"); /* ne0 = P = 32 */
    assert_true(pj->ne[0] % 256 != 0);
    assert_int_not_equal(pj->type, GR_TYPE_Q4_K);
    gr_gguf_close(g);
    unlink(path);
}

/* Data: deterministic per seed, different across seeds, finite, quantized close to f32, norms
 * near 1, and 1-D values identical across weight types. */
static void test_data(void **state) {
    (void)state;
    char p1[512], p2[512], p3[512], p4[512];
    gr_synth_opts o = {.preset = "gemma4-26b-a4b", .reduced = true, .type = "f32", .seed = 1,
                       .n_vocab = 300};
    gr_gguf *a = write_and_open(&o, "d1", p1, sizeof p1);
    gr_gguf *b = write_and_open(&o, "d2", p2, sizeof p2);
    o.seed = 2;
    gr_gguf *c = write_and_open(&o, "d3", p3, sizeof p3);
    o.seed = 1;
    o.type = "q8_0";
    gr_gguf *q = write_and_open(&o, "d4", p4, sizeof p4);
    assert_int_equal(gr_gguf_file_size(a), gr_gguf_file_size(b));
    const gr_gguf_tensor *ta = gr_gguf_find_tensor(a, "blk.1.ffn_gate_up_exps.weight");
    const gr_gguf_tensor *tb = gr_gguf_find_tensor(b, "blk.1.ffn_gate_up_exps.weight");
    const gr_gguf_tensor *tc = gr_gguf_find_tensor(c, "blk.1.ffn_gate_up_exps.weight");
    const gr_gguf_tensor *tq = gr_gguf_find_tensor(q, "blk.1.ffn_gate_up_exps.weight");
    assert_memory_equal(ta->data, tb->data, ta->nbytes);
    assert_memory_not_equal(ta->data, tc->data, ta->nbytes);
    int64_t n = ta->ne[0] * ta->ne[1] * ta->ne[2];
    float *deq = malloc((size_t)n * sizeof(float));
    assert_non_null(deq);
    gr_kernels_get(GR_ISA_SCALAR)->to_float[GR_TYPE_Q8_0](tq->data, deq, n);
    const float *f = ta->data;
    double s2 = 0, e2 = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(isfinite(f[i]));
        s2 += (double)f[i] * f[i];
        e2 += (double)(f[i] - deq[i]) * (f[i] - deq[i]);
    }
    double std = sqrt(s2 / (double)n);
    assert_true(std > 0.5 / sqrt((double)ta->ne[0]) && std < 2.0 / sqrt((double)ta->ne[0]));
    assert_true(sqrt(e2 / s2) < 0.01); /* q8_0 relative error ~0.3-0.5 % */
    free(deq);
    const gr_gguf_tensor *na = gr_gguf_find_tensor(a, "blk.0.attn_norm.weight");
    const gr_gguf_tensor *nq = gr_gguf_find_tensor(q, "blk.0.attn_norm.weight");
    assert_memory_equal(na->data, nq->data, na->nbytes);
    double mean = 0;
    for (int64_t i = 0; i < na->ne[0]; i++) mean += ((const float *)na->data)[i];
    mean /= (double)na->ne[0];
    assert_true(mean > 0.9 && mean < 1.1);
    gr_gguf_close(a);
    gr_gguf_close(b);
    gr_gguf_close(c);
    gr_gguf_close(q);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    unlink(p4);
}

/* Full-size presets: shapes and per-layer facts from spec §1 / §3.3 / §5 (no file is written). */
static void test_full_size_configs(void **state) {
    (void)state;
    char err[256];
    gr_gemma_config c;
    gr_synth_shape s;
    gr_synth_opts o = {.preset = "gemma4-e2b"};
    assert_int_equal(gr_synth_config(&o, &c, &s, err, sizeof err), GR_OK);
    assert_int_equal(c.n_layer, 35);
    assert_int_equal(c.n_embd, 1536);
    assert_int_equal(c.n_vocab, 262144);
    assert_int_equal(c.n_ff[14], 6144);
    assert_int_equal(c.n_ff[15], 12288);
    assert_int_equal(c.n_kv_shared, 20);
    assert_int_equal(gr_kv_source_layer(&c, 15), 13);
    assert_int_equal(gr_kv_source_layer(&c, 19), 14);
    assert_false(c.is_swa[4]);
    assert_true(c.is_swa[5]);
    assert_int_equal(c.n_embd_per_layer, 256);
    assert_int_equal(c.sliding_window, 512);
    o.preset = "gemma4-e4b";
    assert_int_equal(gr_synth_config(&o, &c, &s, err, sizeof err), GR_OK);
    assert_int_equal(c.n_layer, 42);
    assert_int_equal(gr_kv_source_layer(&c, 24), 22);
    assert_int_equal(gr_kv_source_layer(&c, 29), 23);
    assert_int_equal(c.n_ff[41], 10240);
    o.preset = "gemma4-31b";
    assert_int_equal(gr_synth_config(&o, &c, &s, err, sizeof err), GR_OK);
    assert_int_equal(c.n_head, 32);
    assert_int_equal(c.n_head_kv[0], 16);
    assert_int_equal(c.n_head_kv[5], 4);
    assert_true(s.k_eq_v);
    assert_int_equal(c.sliding_window, 1024);
    o.preset = "gemma4-26b-a4b";
    assert_int_equal(gr_synth_config(&o, &c, &s, err, sizeof err), GR_OK);
    assert_int_equal(c.n_expert, 128);
    assert_int_equal(c.n_expert_used, 8);
    assert_int_equal(c.n_ff_exp, 704);
    assert_int_equal(c.n_ff[0], 2112);
    assert_int_equal(c.n_head_kv[29], 2);
    o.preset = "gemma3-27b";
    assert_int_equal(gr_synth_config(&o, &c, &s, err, sizeof err), GR_OK);
    assert_int_equal(c.head_dim, 128);
    assert_float_equal(c.attn_scale, 1.0f / sqrtf(168.0f), 1e-7);
    assert_float_equal(c.rope_scale, 8.0f, 0);
    o.preset = "gemma3-1b";
    assert_int_equal(gr_synth_config(&o, &c, &s, err, sizeof err), GR_OK);
    assert_float_equal(c.attn_scale, 1.0f / 16.0f, 1e-7);
    assert_float_equal(c.rope_scale, 1.0f, 0);
    assert_true(c.is_swa[25]); /* 26 layers, pattern l % 6 < 5 */
}

/* --layers re-derives the pattern and keeps a valid donor structure. */
static void test_layers_override(void **state) {
    (void)state;
    char path[512], err[256];
    for (uint32_t L = 3; L <= 16; L++) {
        gr_synth_opts o = {.preset = "gemma4-e2b-tiny", .type = "q8_0", .n_layers = L, .n_vocab = 64};
        gr_gemma_config c;
        assert_int_equal(gr_synth_config(&o, &c, NULL, err, sizeof err), GR_OK);
        assert_int_equal(c.n_layer, L);
        if (L != 7 && L != 12) continue;
        gr_gguf *g = write_and_open(&o, "layers", path, sizeof path);
        gr_gemma_config got;
        assert_int_equal(gr_gemma_config_from_gguf(g, &got, err, sizeof err), GR_OK);
        check_config_equal(&c, &got);
        expect_layout(g, &got, false, GR_TYPE_Q8_0);
        gr_gguf_close(g);
        unlink(path);
    }
}

static void test_bad_options(void **state) {
    (void)state;
    char err[256] = "", path[512];
    tmp_path(path, sizeof path, "bad");
    gr_synth_opts o = {.preset = "gemma5-xl", .n_vocab = 64};
    assert_int_equal(gr_synth_write(&o, path, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "gemma5-xl"));
    o.preset = "gemma3-1b-tiny";
    o.type = "q3_x";
    assert_int_equal(gr_synth_write(&o, path, err, sizeof err), GR_E_INVALID_ARG);
    assert_non_null(strstr(err, "q3_x"));
    o.type = "q8_0";
    o.vocab_path = "/nonexistent/vocab.gguf";
    assert_int_not_equal(gr_synth_write(&o, path, err, sizeof err), GR_OK);
    o.vocab_path = NULL;
    o.n_layers = 1000;
    assert_int_equal(gr_synth_write(&o, path, err, sizeof err), GR_E_INVALID_ARG);
    assert_int_equal(gr_synth_write(NULL, path, err, sizeof err), GR_E_INVALID_ARG);
    o.n_layers = 0;
    assert_int_not_equal(gr_synth_write(&o, "/nonexistent-dir/x.gguf", err, sizeof err), GR_OK);
    assert_int_equal(gr_synth_tensor_type("q9_9", NULL, "x", 32, 2), -1);
    assert_null(gr_synth_preset_name(gr_synth_preset_count()));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reduced_presets_f32_q8_0), cmocka_unit_test(test_all_types_on_e2b_tiny),
        cmocka_unit_test(test_q4_k_m_mix),               cmocka_unit_test(test_data),
        cmocka_unit_test(test_full_size_configs),        cmocka_unit_test(test_layers_override),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
