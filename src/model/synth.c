/* synth.c — writes random-weight Gemma 3 / Gemma 4 GGUF files: presets with the real shapes and
 * metadata (../shared/spec/gemma4.md §1, §3, §5), reduced presets with the same structure, and
 * llama.cpp-like type mixing for Q4_K_M. Weights are generated per row from a counter-based PRNG
 * (row contents do not depend on chunking) and quantized while streaming; this file must never
 * hold a whole tensor in memory. */
#include "model/synth.h"

#include "core/error.h"
#include "gguf/gguf.h"
#include "tensor/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- presets ---- */

typedef struct preset {
    const char *name;
    gr_arch arch;
    uint32_t L, d, nh, nkv_swa, nkv_full, hd_swa, hd_full, ff, ff_shared;
    uint32_t period; /* Gemma 4: layer l is full when l % period == period - 1 (and the last) */
    uint32_t window, ctx, ple, kv_shared, n_expert, n_expert_used, ff_exp;
    bool k_eq_v;
    float rope_base, rope_base_swa, rope_scale, softcap;
} preset;

#define G4 GR_ARCH_GEMMA4
#define G3 GR_ARCH_GEMMA3
/* Full-size values: spec §1.1 (Gemma 4) and the released Gemma 3 configs (§5). Reduced presets keep
 * every feature: per-layer FFN widths, KV sharing with full+sliding donors, PLE, per-layer KV heads,
 * key_length = 2 x key_length_swa, rope_freqs, k_eq_v, fused MoE experts, soft-cap; gemma3-27b-tiny
 * keeps 62 layers because llama.cpp picks the 27B attention scale by layer count. */
static const preset presets[] = {
    /*  name               arch L   d     nh nkv nkvF hdS hdF ff     ffSh  per win  ctx     ple shr E   k  Fe  keqv rope   ropeS  scale cap */
    {"gemma4-e2b", G4, 35, 1536, 8, 1, 1, 256, 512, 6144, 12288, 5, 512, 131072, 256, 20, 0, 0, 0, false, 1e6f, 1e4f, 1, 30},
    {"gemma4-e4b", G4, 42, 2560, 8, 2, 2, 256, 512, 10240, 0, 6, 512, 131072, 256, 18, 0, 0, 0, false, 1e6f, 1e4f, 1, 30},
    {"gemma4-31b", G4, 60, 5376, 32, 16, 4, 256, 512, 21504, 0, 6, 1024, 262144, 0, 0, 0, 0, 0, true, 1e6f, 1e4f, 1, 30},
    {"gemma4-26b-a4b", G4, 30, 2816, 16, 8, 2, 256, 512, 2112, 0, 6, 1024, 262144, 0, 0, 128, 8, 704, true, 1e6f, 1e4f, 1, 30},
    {"gemma3-1b", G3, 26, 1152, 4, 1, 1, 256, 256, 6912, 0, 6, 512, 32768, 0, 0, 0, 0, 0, false, 1e6f, 1e4f, 1, 0},
    {"gemma3-4b", G3, 34, 2560, 8, 4, 4, 256, 256, 10240, 0, 6, 1024, 131072, 0, 0, 0, 0, 0, false, 1e6f, 1e4f, 8, 0},
    {"gemma3-27b", G3, 62, 5376, 32, 16, 16, 128, 128, 21504, 0, 6, 1024, 131072, 0, 0, 0, 0, 0, false, 1e6f, 1e4f, 8, 0},
    {"gemma4-e2b-tiny", G4, 10, 256, 2, 1, 1, 64, 128, 512, 1024, 5, 8, 4096, 32, 5, 0, 0, 0, false, 1e6f, 1e4f, 1, 30},
    {"gemma4-e4b-tiny", G4, 12, 128, 4, 2, 2, 32, 64, 256, 0, 6, 8, 4096, 32, 6, 0, 0, 0, false, 1e6f, 1e4f, 1, 30},
    {"gemma4-31b-tiny", G4, 12, 128, 4, 2, 1, 32, 64, 384, 0, 6, 16, 4096, 0, 0, 0, 0, 0, true, 1e6f, 1e4f, 1, 30},
    {"gemma4-26b-a4b-tiny", G4, 6, 128, 4, 2, 1, 32, 64, 96, 0, 6, 16, 4096, 0, 0, 16, 4, 64, true, 1e6f, 1e4f, 1, 30},
    {"gemma3-1b-tiny", G3, 8, 128, 4, 1, 1, 32, 32, 256, 0, 6, 8, 4096, 0, 0, 0, 0, 0, false, 1e6f, 1e4f, 1, 0},
    {"gemma3-4b-tiny", G3, 8, 128, 4, 2, 2, 32, 32, 256, 0, 6, 8, 4096, 0, 0, 0, 0, 0, false, 1e6f, 1e4f, 8, 0},
    {"gemma3-27b-tiny", G3, 62, 64, 4, 2, 2, 32, 32, 128, 0, 6, 8, 4096, 0, 0, 0, 0, 0, false, 1e6f, 1e4f, 8, 0},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])
#define DEFAULT_VOCAB 262144u

size_t gr_synth_preset_count(void) { return N_PRESETS; }
const char *gr_synth_preset_name(size_t i) { return i < N_PRESETS ? presets[i].name : NULL; }

static const preset *find_preset(const gr_synth_opts *o) {
    char name[96];
    if (!o->preset) return NULL;
    snprintf(name, sizeof name, "%s%s", o->preset, o->reduced ? "-tiny" : "");
    for (size_t i = 0; i < N_PRESETS; i++)
        if (!strcmp(presets[i].name, name)) return &presets[i];
    return NULL;
}

/* KV sharing for a possibly overridden layer count: keep the preset's fraction of shared layers,
 * then move the first shared layer down until it sits right above a full layer that has a sliding
 * layer below it (the donor rule of §1.2 needs both types). */
static uint32_t kv_shared_for(const preset *p, const gr_gemma_config *c) {
    if (!p->kv_shared) return 0;
    uint32_t L = c->n_layer;
    uint32_t want = (uint32_t)((double)L * p->kv_shared / p->L + 0.5);
    if (want == 0) return 0;
    for (uint32_t fs = L - want; fs >= 2; fs--)
        if (!c->is_swa[fs - 1] && c->is_swa[fs - 2]) return L - fs;
    return 0;
}

gr_status gr_synth_config(const gr_synth_opts *o, gr_gemma_config *c, gr_synth_shape *s, char *err,
                          size_t errlen) {
    const preset *p = find_preset(o);
    if (!p)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "unknown preset '%s%s' (try gemma4-e2b, "
                      "gemma4-e2b-tiny, gemma3-1b, ...)", o->preset ? o->preset : "(null)",
                      o->reduced ? "-tiny" : "");
    uint32_t L = o->n_layers ? o->n_layers : p->L;
    if (L < 1 || L > GR_MAX_LAYERS)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "layer count %u out of range 1..%d", L,
                      GR_MAX_LAYERS);
    memset(c, 0, sizeof *c);
    c->arch = p->arch;
    c->n_layer = L;
    c->n_embd = p->d;
    c->n_head = p->nh;
    c->n_vocab = o->n_vocab ? o->n_vocab : DEFAULT_VOCAB;
    c->n_ctx_train = p->ctx;
    for (uint32_t l = 0; l < L; l++) {
        if (p->arch == GR_ARCH_GEMMA4)
            c->is_swa[l] = (l % p->period != p->period - 1) && l != L - 1;
        else
            c->is_swa[l] = l % 6 < 5; /* llama.cpp set_swa_pattern(6); no forced last layer */
        c->n_head_kv[l] = c->is_swa[l] ? p->nkv_swa : p->nkv_full;
    }
    c->head_dim = p->hd_full;
    c->head_dim_swa = p->hd_swa;
    c->n_rot = p->hd_full;
    c->n_rot_swa = p->hd_swa;
    c->sliding_window = p->window;
    c->n_kv_shared = kv_shared_for(p, c);
    for (uint32_t l = 0; l < L; l++)
        c->n_ff[l] = (p->ff_shared && l >= L - c->n_kv_shared) ? p->ff_shared : p->ff;
    c->n_embd_per_layer = p->ple;
    c->n_expert = p->n_expert;
    c->n_expert_used = p->n_expert_used;
    c->n_ff_exp = p->ff_exp;
    c->rope_base = p->rope_base;
    c->rope_base_swa = p->rope_base_swa;
    c->rope_scale = p->rope_scale;
    c->rms_eps = 1e-6f;
    c->final_softcap = p->softcap;
    if (p->arch == GR_ARCH_GEMMA4)
        c->attn_scale = 1.0f;
    else /* llama.cpp: 27B (62 layers) scales by 1/sqrt(d / n_head), others by 1/sqrt(head_dim) */
        c->attn_scale = L == 62 ? 1.0f / sqrtf((float)(p->d / p->nh)) : 1.0f / sqrtf((float)p->hd_full);
    if (s) {
        s->k_eq_v = p->k_eq_v;
        s->ff_shared = p->ff_shared;
        s->general_name = p->name;
    }
    return GR_OK;
}

/* ---- tensor types ---- */

/* llama.cpp's use_more_bits(): the first and last eighth of layers and every third in between. */
static bool use_more_bits(uint32_t i, uint32_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i >= n / 8 && (i - n / 8) % 3 == 2);
}

static int layer_of(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* A type whose block does not divide the row falls back the way llama-quantize does. */
static int compatible_type(int t, int64_t ne0) {
    const gr_type_info *ti = gr_type_get(t);
    if (ti->blck > 0 && ne0 % ti->blck == 0) return t;
    switch (t) {
    case GR_TYPE_Q4_K: t = GR_TYPE_Q5_0; break;
    case GR_TYPE_Q5_K: t = GR_TYPE_Q5_1; break;
    case GR_TYPE_Q6_K: t = GR_TYPE_Q8_0; break;
    default: t = GR_TYPE_F16; break;
    }
    return ne0 % gr_type_get(t)->blck == 0 ? t : GR_TYPE_F16;
}

int gr_synth_tensor_type(const char *type, const gr_gemma_config *c, const char *name, int64_t ne0,
                         uint32_t n_dims) {
    bool k_m = type && !strcmp(type, "q4_k_m");
    int base = k_m ? GR_TYPE_Q4_K : gr_type_from_name(type ? type : "f32");
    if (base < 0) return -1;
    /* Norms, scales, rope_freqs, layer scalars: F32. The MoE router is never quantized
     * (llama-quantize skips ffn_gate_inp). */
    if (n_dims < 2 || strstr(name, "ffn_gate_inp.weight")) return GR_TYPE_F32;
    int t = base;
    if (k_m) {
        int l = layer_of(name);
        if (!strcmp(name, "output.weight") || !strcmp(name, "token_embd.weight"))
            t = GR_TYPE_Q6_K; /* tied models: token_embd doubles as the output head */
        else if (l >= 0 && (has_suffix(name, ".attn_v.weight") ||
                            has_suffix(name, ".ffn_down.weight") ||
                            has_suffix(name, ".ffn_down_exps.weight")) &&
                 use_more_bits((uint32_t)l, c->n_layer))
            t = GR_TYPE_Q6_K;
    }
    return compatible_type(t, ne0);
}

static uint32_t file_type_of(const char *type) {
    static const struct {
        const char *n;
        uint32_t ft;
    } m[] = {{"f32", 0},   {"f16", 1},   {"q4_0", 2},  {"q4_1", 3},  {"q8_0", 7},
             {"q5_0", 8},  {"q5_1", 9},  {"q4_k", 14}, {"q4_k_m", 15}, {"q5_k", 16},
             {"q6_k", 18}, {"bf16", 32}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!strcmp(type, m[i].n)) return m[i].ft;
    return UINT32_MAX;
}

/* ---- tensor list and value distributions ---- */

typedef enum dist { D_NORMAL, D_UNIFORM, D_ROPE_FREQS } dist;

typedef struct tdesc {
    char name[64];
    int type;
    uint32_t n_dims;
    int64_t ne[3];
    dist dist;
    float a, b; /* normal: mean a, std b; uniform: [a, b) */
} tdesc;

typedef struct tlist {
    tdesc *t;
    size_t n, cap;
    uint32_t n_rot_pairs; /* rope_freqs: leading entries equal to 1 */
} tlist;

static tdesc *add(tlist *tl, const char *name, uint32_t n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                  dist d, float a, float b) {
    if (tl->n == tl->cap) {
        size_t cap = tl->cap ? tl->cap * 2 : 256;
        tdesc *t = realloc(tl->t, cap * sizeof *t);
        if (!t) return NULL;
        tl->t = t;
        tl->cap = cap;
    }
    tdesc *t = &tl->t[tl->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->dist = d;
    t->a = a;
    t->b = b;
    return t;
}

/* Projection {in, out}: std 1/sqrt(in) keeps activations at unit scale. */
static bool add_mat(tlist *tl, const char *name, int64_t in, int64_t out) {
    return add(tl, name, 2, in, out, 1, D_NORMAL, 0.0f, 1.0f / sqrtf((float)in)) != NULL;
}
static bool add_norm(tlist *tl, const char *name, int64_t n, float center) {
    return add(tl, name, 1, n, 1, 1, D_NORMAL, center, 0.1f * center) != NULL;
}

static bool add_layer(tlist *tl, const gr_gemma_config *c, const gr_synth_shape *s, uint32_t l) {
    char n[64];
    bool ok = true;
    uint32_t hd = gr_layer_head_dim(c, l), nkv = c->n_head_kv[l], d = c->n_embd, F = c->n_ff[l];
    bool owns_kv = l < c->n_layer - c->n_kv_shared;
    bool has_v = owns_kv && !(s->k_eq_v && !c->is_swa[l]);
    /* q/k norm weights set the attention temperature: q.k*scale has std ~1.5 either way. */
    float qk = c->arch == GR_ARCH_GEMMA4 ? 1.22f / powf((float)hd, 0.25f) : 1.22f;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%u.%s", l, suffix), n)
    ok = ok && add_norm(tl, NAME("attn_norm.weight"), d, 1.0f);
    ok = ok && add_mat(tl, NAME("attn_q.weight"), d, (int64_t)c->n_head * hd);
    if (owns_kv) ok = ok && add_mat(tl, NAME("attn_k.weight"), d, (int64_t)nkv * hd);
    if (has_v) ok = ok && add_mat(tl, NAME("attn_v.weight"), d, (int64_t)nkv * hd);
    ok = ok && add_mat(tl, NAME("attn_output.weight"), (int64_t)c->n_head * hd, d);
    ok = ok && add_norm(tl, NAME("attn_q_norm.weight"), hd, qk);
    if (owns_kv) ok = ok && add_norm(tl, NAME("attn_k_norm.weight"), hd, qk);
    /* The tied head sees x0 = E[t]*sqrt(d) inside h, so token t's own logit gets a boost of
     * |E[t]|^2 sqrt(d) / rms(h). Post-norm weights of 0.5*sqrt(d) make the layers' sum outweigh x0
     * at every size (boost 18/sqrt(2L) in logit units): with weights ~1 the model mostly repeats
     * its input token. */
    float post = 0.5f * sqrtf((float)d);
    ok = ok && add_norm(tl, NAME("post_attention_norm.weight"), d, post);
    ok = ok && add_norm(tl, NAME("ffn_norm.weight"), d, 1.0f);
    ok = ok && add_mat(tl, NAME("ffn_gate.weight"), d, F);
    ok = ok && add_mat(tl, NAME("ffn_up.weight"), d, F);
    ok = ok && add_mat(tl, NAME("ffn_down.weight"), F, d);
    ok = ok && add_norm(tl, NAME("post_ffw_norm.weight"), d, post);
    if (c->arch != GR_ARCH_GEMMA4) return ok;
    if (c->n_expert) {
        uint32_t E = c->n_expert, Fe = c->n_ff_exp;
        /* Router input is rms(r)/sqrt(d): weights of std 2 give router logits of std ~2. */
        ok = ok && add(tl, NAME("ffn_gate_inp.weight"), 2, d, E, 1, D_NORMAL, 0.0f, 2.0f);
        ok = ok && add_norm(tl, NAME("ffn_gate_inp.scale"), d, 1.0f);
        ok = ok && add_norm(tl, NAME("pre_ffw_norm_2.weight"), d, 1.0f);
        ok = ok && add_norm(tl, NAME("post_ffw_norm_1.weight"), d, 1.0f);
        ok = ok && add_norm(tl, NAME("post_ffw_norm_2.weight"), d, 1.0f);
        ok = ok && add(tl, NAME("ffn_gate_up_exps.weight"), 3, d, 2 * (int64_t)Fe, E, D_NORMAL,
                       0.0f, 1.0f / sqrtf((float)d));
        ok = ok && add(tl, NAME("ffn_down_exps.weight"), 3, Fe, d, E, D_NORMAL, 0.0f,
                       1.0f / sqrtf((float)Fe));
        ok = ok && add(tl, NAME("ffn_down_exps.scale"), 1, E, 1, 1, D_UNIFORM, 0.5f, 1.5f);
    }
    if (c->n_embd_per_layer) {
        uint32_t P = c->n_embd_per_layer;
        ok = ok && add_mat(tl, NAME("inp_gate.weight"), d, P);
        ok = ok && add_mat(tl, NAME("proj.weight"), P, d);
        ok = ok && add_norm(tl, NAME("post_norm.weight"), d, 1.0f);
    }
    ok = ok && add(tl, NAME("layer_output_scale.weight"), 1, 1, 1, 1, D_UNIFORM, 0.6f, 1.0f);
#undef NAME
    return ok;
}

static bool build_tensors(tlist *tl, const gr_gemma_config *c, const gr_synth_shape *s) {
    uint32_t d = c->n_embd, V = c->n_vocab;
    /* Embedding std 3/sqrt(d): logits (E . normed h) get std ~3, a clear greedy winner. */
    if (!add(tl, "token_embd.weight", 2, d, V, 1, D_NORMAL, 0.0f, 3.0f / sqrtf((float)d)))
        return false;
    if (c->arch == GR_ARCH_GEMMA4) {
        if (c->n_embd_per_layer) {
            int64_t LP = (int64_t)c->n_layer * c->n_embd_per_layer;
            bool ok = add(tl, "per_layer_token_embd.weight", 2, LP, V, 1, D_NORMAL, 0.0f,
                          1.0f / sqrtf((float)c->n_embd_per_layer)) != NULL;
            ok = ok && add_mat(tl, "per_layer_model_proj.weight", d, LP);
            ok = ok && add_norm(tl, "per_layer_proj_norm.weight", c->n_embd_per_layer, 1.0f);
            if (!ok) return false;
        }
        /* Proportional rope: 25 % of the full-layer dims rotate (spec §2.6). */
        tl->n_rot_pairs = c->head_dim / 8;
        if (!add(tl, "rope_freqs.weight", 1, c->head_dim / 2, 1, 1, D_ROPE_FREQS, 0, 0))
            return false;
    }
    for (uint32_t l = 0; l < c->n_layer; l++)
        if (!add_layer(tl, c, s, l)) return false;
    return add_norm(tl, "output_norm.weight", d, 1.0f);
}

/* ---- metadata ---- */

static gr_status set_u32_arr(gr_gguf_writer *w, const char *key, const uint32_t *v, uint32_t n,
                             bool as_array) {
    bool same = true;
    for (uint32_t i = 1; i < n; i++) same = same && v[i] == v[0];
    if (same && !as_array) return gr_gguf_set_u32(w, key, v[0]);
    int32_t a[GR_MAX_LAYERS];
    for (uint32_t i = 0; i < n; i++) a[i] = (int32_t)v[i];
    return gr_gguf_set_arr(w, key, GR_GGUF_INT32, a, n); /* gguf-py writes int arrays as INT32 */
}

static gr_status write_gemma4_keys(gr_gguf_writer *w, const gr_gemma_config *c) {
    gr_status st = GR_OK;
    uint8_t swa[GR_MAX_LAYERS];
    for (uint32_t l = 0; l < c->n_layer; l++) swa[l] = c->is_swa[l];
#define K(x) ("gemma4." x)
    st = st ? st : gr_gguf_set_u32(w, K("block_count"), c->n_layer);
    st = st ? st : gr_gguf_set_u32(w, K("context_length"), c->n_ctx_train);
    st = st ? st : gr_gguf_set_u32(w, K("embedding_length"), c->n_embd);
    st = st ? st : set_u32_arr(w, K("feed_forward_length"), c->n_ff, c->n_layer, false);
    st = st ? st : gr_gguf_set_u32(w, K("attention.head_count"), c->n_head);
    st = st ? st : set_u32_arr(w, K("attention.head_count_kv"), c->n_head_kv, c->n_layer, false);
    st = st ? st : gr_gguf_set_u32(w, K("attention.key_length"), c->head_dim);
    st = st ? st : gr_gguf_set_u32(w, K("attention.value_length"), c->head_dim);
    st = st ? st : gr_gguf_set_u32(w, K("attention.key_length_swa"), c->head_dim_swa);
    st = st ? st : gr_gguf_set_u32(w, K("attention.value_length_swa"), c->head_dim_swa);
    st = st ? st : gr_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), c->rms_eps);
    st = st ? st : gr_gguf_set_u32(w, K("attention.sliding_window"), c->sliding_window);
    st = st ? st : gr_gguf_set_arr(w, K("attention.sliding_window_pattern"), GR_GGUF_BOOL, swa,
                                   c->n_layer);
    st = st ? st : gr_gguf_set_u32(w, K("attention.shared_kv_layers"), c->n_kv_shared);
    st = st ? st : gr_gguf_set_u32(w, K("embedding_length_per_layer_input"), c->n_embd_per_layer);
    st = st ? st : gr_gguf_set_f32(w, K("rope.freq_base"), c->rope_base);
    st = st ? st : gr_gguf_set_f32(w, K("rope.freq_base_swa"), c->rope_base_swa);
    st = st ? st : gr_gguf_set_u32(w, K("rope.dimension_count"), c->n_rot);
    st = st ? st : gr_gguf_set_u32(w, K("rope.dimension_count_swa"), c->n_rot_swa);
    st = st ? st : gr_gguf_set_f32(w, K("final_logit_softcapping"), c->final_softcap);
    if (c->n_expert) {
        st = st ? st : gr_gguf_set_u32(w, K("expert_count"), c->n_expert);
        st = st ? st : gr_gguf_set_u32(w, K("expert_used_count"), c->n_expert_used);
        st = st ? st : gr_gguf_set_u32(w, K("expert_feed_forward_length"), c->n_ff_exp);
    }
#undef K
    return st;
}

static gr_status write_gemma3_keys(gr_gguf_writer *w, const gr_gemma_config *c) {
    gr_status st = GR_OK;
#define K(x) ("gemma3." x)
    st = st ? st : gr_gguf_set_u32(w, K("context_length"), c->n_ctx_train);
    st = st ? st : gr_gguf_set_u32(w, K("embedding_length"), c->n_embd);
    st = st ? st : gr_gguf_set_u32(w, K("block_count"), c->n_layer);
    st = st ? st : gr_gguf_set_u32(w, K("feed_forward_length"), c->n_ff[0]);
    st = st ? st : gr_gguf_set_u32(w, K("attention.head_count"), c->n_head);
    st = st ? st : gr_gguf_set_u32(w, K("attention.head_count_kv"), c->n_head_kv[0]);
    st = st ? st : gr_gguf_set_u32(w, K("attention.key_length"), c->head_dim);
    st = st ? st : gr_gguf_set_u32(w, K("attention.value_length"), c->head_dim);
    st = st ? st : gr_gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), c->rms_eps);
    st = st ? st : gr_gguf_set_u32(w, K("attention.sliding_window"), c->sliding_window);
    st = st ? st : gr_gguf_set_f32(w, K("rope.freq_base"), c->rope_base);
    if (c->rope_scale != 1.0f) {
        st = st ? st : gr_gguf_set_str(w, K("rope.scaling.type"), "linear");
        st = st ? st : gr_gguf_set_f32(w, K("rope.scaling.factor"), c->rope_scale);
    }
#undef K
    return st;
}

/* Copy every tokenizer.* key; the vocabulary size is the token list's length. */
static gr_status copy_vocab(gr_gguf_writer *w, const char *path, uint32_t *n_vocab, char *err,
                            size_t errlen) {
    gr_gguf *g = NULL;
    gr_status st = gr_gguf_open(path, &g, err, errlen);
    if (st) return st;
    gr_gguf_vtype et;
    uint64_t n = 0;
    st = gr_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n);
    if (st || et != GR_GGUF_STRING || n == 0 || n > UINT32_MAX) {
        gr_gguf_close(g);
        return gr_err(GR_E_FORMAT, err, errlen, "%s: no string array tokenizer.ggml.tokens", path);
    }
    if (*n_vocab && *n_vocab != n) {
        gr_gguf_close(g);
        return gr_err(GR_E_INVALID_ARG, err, errlen, "n_vocab %u differs from %s's %llu tokens",
                      *n_vocab, path, (unsigned long long)n);
    }
    *n_vocab = (uint32_t)n;
    for (int64_t i = 0; i < gr_gguf_n_kv(g) && !st; i++) {
        const char *key = gr_gguf_kv_key(g, i);
        if (!strncmp(key, "tokenizer.", 10)) st = gr_gguf_copy_kv(w, g, key);
    }
    gr_gguf_close(g);
    return st ? gr_err(st, err, errlen, "copying tokenizer keys from %s failed", path) : GR_OK;
}

/* ---- data ---- */

typedef struct fill_ctx {
    const tlist *tl;
    const gr_kernels *k;
    uint64_t seed;
    float *row; /* one row of floats, max ne0 */
} fill_ctx;

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* One row of values; the PRNG is keyed by (seed, tensor, row) so any chunking gives the same bytes.
 * Normal draws use the Irwin-Hall sum of four 16-bit uniforms: cheap and bounded (|z| < 3.5). */
static void gen_row(const tdesc *t, uint64_t seed, int64_t ti, int64_t row, uint32_t rot_pairs,
                    float *y) {
    int64_t n = t->ne[0];
    if (t->dist == D_ROPE_FREQS) {
        for (int64_t i = 0; i < n; i++) y[i] = i < (int64_t)rot_pairs ? 1.0f : 1e30f;
        return;
    }
    uint64_t s = splitmix64(seed ^ splitmix64((uint64_t)ti * 0x100000001B3ull + (uint64_t)row));
    for (int64_t i = 0; i < n; i++) {
        s ^= s >> 12; /* xorshift64* */
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545F4914F6CDD1Dull;
        if (t->dist == D_UNIFORM) {
            y[i] = t->a + (t->b - t->a) * (float)(r >> 40) * (1.0f / 16777216.0f);
        } else {
            float z = (float)((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
            z = (z - 131070.0f) * (1.0f / 37837.2f); /* (sum - 4*32767.5) / (65536*sqrt(4/12)) */
            y[i] = t->a + t->b * z;
        }
    }
}

static gr_status fill(void *ud, int64_t index, int64_t row0, int64_t nrows, void *dst) {
    fill_ctx *f = ud;
    const tdesc *t = &f->tl->t[index];
    size_t rs = gr_row_size((gr_type)t->type, t->ne[0]);
    for (int64_t r = 0; r < nrows; r++) {
        gen_row(t, f->seed, index, row0 + r, f->tl->n_rot_pairs, f->row);
        f->k->from_float[t->type](f->row, (uint8_t *)dst + (size_t)r * rs, t->ne[0]);
    }
    return GR_OK;
}

static gr_status write_meta(gr_gguf_writer *w, const gr_synth_opts *o, const gr_gemma_config *c,
                            const gr_synth_shape *s, const char *type) {
    char name[128];
    snprintf(name, sizeof name, "%s (synthetic random weights, seed %llu)", s->general_name,
             (unsigned long long)o->seed);
    gr_status st = gr_gguf_set_str(w, "general.architecture",
                                   c->arch == GR_ARCH_GEMMA4 ? "gemma4" : "gemma3");
    st = st ? st : gr_gguf_set_str(w, "general.name", name);
    st = st ? st : gr_gguf_set_u32(w, "general.file_type", file_type_of(type));
    st = st ? st : gr_gguf_set_u32(w, "general.quantization_version", 2);
    st = st ? st : gr_gguf_set_u32(w, "general.alignment", GR_GGUF_DEFAULT_ALIGNMENT);
    if (st) return st;
    return c->arch == GR_ARCH_GEMMA4 ? write_gemma4_keys(w, c) : write_gemma3_keys(w, c);
}

static gr_status check_type(const char *type, char *err, size_t errlen) {
    if (file_type_of(type) == UINT32_MAX)
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "unknown weight type '%s' (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k "
                      "q5_k q6_k q4_k_m)", type);
    return GR_OK;
}

/* Declare every tensor with its storage type (each type must have a from_float converter);
 * returns the longest row (scratch size). */
static gr_status declare_tensors(gr_gguf_writer *w, tlist *tl, const gr_gemma_config *c,
                                 const char *type, const gr_kernels *k, int64_t *max_ne0,
                                 char *err, size_t errlen) {
    *max_ne0 = 0;
    for (size_t i = 0; i < tl->n; i++) {
        tdesc *t = &tl->t[i];
        t->type = gr_synth_tensor_type(type, c, t->name, t->ne[0], t->n_dims);
        if (!k->from_float[t->type])
            return gr_err(GR_E_UNSUPPORTED, err, errlen, "%s: no quantizer for type %s", t->name,
                          gr_type_get(t->type)->name);
        if (gr_gguf_add_tensor(w, t->name, (gr_type)t->type, t->n_dims, t->ne) != (int64_t)i)
            return gr_err(GR_E_INTERNAL, err, errlen, "cannot declare tensor %s", t->name);
        if (t->ne[0] > *max_ne0) *max_ne0 = t->ne[0];
    }
    return GR_OK;
}

gr_status gr_synth_write(const gr_synth_opts *o, const char *path, char *err, size_t errlen) {
    if (!o || !path) return gr_err(GR_E_INVALID_ARG, err, errlen, "synth: NULL options or path");
    const char *type = o->type ? o->type : "f32";
    const gr_kernels *k = gr_kernels_get(GR_ISA_SCALAR); /* same bytes on every CPU */
    gr_status st = check_type(type, err, errlen);
    if (st) return st;
    gr_gemma_config c;
    gr_synth_shape s;
    gr_gguf_writer *w = gr_gguf_writer_new(3, GR_GGUF_DEFAULT_ALIGNMENT);
    if (!w) return gr_err(GR_E_NOMEM, err, errlen, "synth: out of memory");
    uint32_t n_vocab = o->n_vocab;
    tlist tl = {0};
    fill_ctx f = {0};
    int64_t max_ne0 = 0;
    /* Config first (validates the preset), general + arch keys, then the vocabulary, whose token
     * count becomes n_vocab (it only shapes token_embd / per_layer_token_embd). */
    if ((st = gr_synth_config(o, &c, &s, err, errlen))) goto done;
    if ((st = write_meta(w, o, &c, &s, type))) {
        gr_err(st, err, errlen, "synth: writing metadata failed");
        goto done;
    }
    if (o->vocab_path && (st = copy_vocab(w, o->vocab_path, &n_vocab, err, errlen))) goto done;
    c.n_vocab = n_vocab ? n_vocab : c.n_vocab;
    if (!build_tensors(&tl, &c, &s)) {
        st = gr_err(GR_E_NOMEM, err, errlen, "synth: out of memory");
        goto done;
    }
    if ((st = declare_tensors(w, &tl, &c, type, k, &max_ne0, err, errlen))) goto done;
    f = (fill_ctx){.tl = &tl, .k = k, .seed = o->seed, .row = malloc((size_t)max_ne0 * sizeof(float))};
    if (!f.row) {
        st = gr_err(GR_E_NOMEM, err, errlen, "synth: out of memory");
        goto done;
    }
    st = gr_gguf_writer_write(w, path, fill, &f, err, errlen);
done:
    free(f.row);
    free(tl.t);
    gr_gguf_writer_free(w);
    return st;
}
