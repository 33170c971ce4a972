/* registry.c — the model profile table (see registry.h). Sizes are computed from the tensor shapes
 * each geometry implies (the same tensor list the GGUF files carry, typed with the synthetic
 * writer's per-tensor type rules, sized with gr_row_size). Must not open model weights. */
#include "layer/registry.h"

#include "core/error.h"
#include "model/synth.h"
#include "tensor/types.h"

#include <stdio.h>
#include <string.h>

#define GIB (1024ull * 1024ull * 1024ull)

static const char *const QUANT_NAMES[GR_QUANT_COUNT] = {"q4_0", "q4_k_m", "q8_0", "bf16"};

const char *gr_quant_name(gr_quant q) {
    return (unsigned)q < GR_QUANT_COUNT ? QUANT_NAMES[q] : "unknown";
}

gr_status gr_quant_parse(const char *name, gr_quant *out, char *err, size_t errlen) {
    for (int i = 0; name && i < GR_QUANT_COUNT; i++)
        if (!strcmp(name, QUANT_NAMES[i])) {
            *out = (gr_quant)i;
            return GR_OK;
        }
    return gr_err(GR_E_INVALID_ARG, err, errlen,
                  "quant: unknown format '%s' (expected q4_0, q4_k_m, q8_0 or bf16)",
                  name ? name : "(null)");
}

/* ---- the table
 * ----------------------------------------------------------------------------------- */

typedef struct entry {
    const char *id;
    const char *preset; /* synth preset with this geometry, or NULL: gemma3-12b below */
    unsigned caps, place;
    uint64_t min_memory;
} entry;

#define CONV_ALL (GR_CAP_CONVERSATIONAL | GR_CAP_STRUCTURED | GR_CAP_VISION)
static const entry TABLE[] = {
    {"gemma-4-e2b-it", "gemma4-e2b", CONV_ALL, GR_PLACE_LOCAL | GR_PLACE_AUTO | GR_PLACE_CLOUD,
     4 * GIB},
    {"gemma-4-e4b-it", "gemma4-e4b", CONV_ALL, GR_PLACE_LOCAL | GR_PLACE_AUTO | GR_PLACE_CLOUD,
     8 * GIB},
    {"gemma-4-26b-a4b-it", "gemma4-26b-a4b", CONV_ALL, GR_PLACE_CLOUD, 0},
    {"gemma-4-31b-it", "gemma4-31b", CONV_ALL, GR_PLACE_CLOUD, 0},
    {"gemma-3-1b-it", "gemma3-1b", GR_CAP_CONVERSATIONAL, GR_PLACE_LOCAL, 0},
    {"gemma-3-4b-it", "gemma3-4b", CONV_ALL, GR_PLACE_LOCAL, 0},
    {"gemma-3-12b-it", NULL, CONV_ALL, GR_PLACE_LOCAL | GR_PLACE_CLOUD, 0},
    {"gemma-3-27b-it", "gemma3-27b", CONV_ALL, GR_PLACE_CLOUD, 0},
};
#define N_TABLE (sizeof TABLE / sizeof TABLE[0])

size_t gr_registry_count(void) {
    return N_TABLE;
}
const char *gr_registry_id(size_t i) {
    return i < N_TABLE ? TABLE[i].id : NULL;
}

/* Gemma 3 12B (released config): no synthetic preset exists for it. */
static void gemma3_12b(gr_gemma_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = GR_ARCH_GEMMA3;
    c->n_layer = 48, c->n_embd = 3840, c->n_head = 16, c->n_vocab = 262144, c->n_ctx_train = 131072;
    c->head_dim = c->head_dim_swa = 256, c->n_rot = c->n_rot_swa = 256;
    c->sliding_window = 1024;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        c->n_head_kv[l] = 8;
        c->n_ff[l] = 15360;
        c->is_swa[l] = (l + 1) % 6 != 0;
    }
    c->rope_base = 1e6f, c->rope_base_swa = 1e4f, c->rope_scale = 8, c->rms_eps = 1e-6f;
    c->attn_scale = 1.0f / 16.0f;
}

/* ---- sizes from shapes
 * --------------------------------------------------------------------------- */

typedef struct sizer {
    const gr_gemma_config *c;
    const char *type;
    uint64_t bytes, resident, elems, ple_row;
    bool ok;
} sizer;

static void tensor(sizer *s, const char *name, uint32_t n_dims, int64_t ne0, int64_t rows) {
    int t = gr_synth_tensor_type(s->type, s->c, name, ne0, n_dims);
    size_t row = t < 0 ? 0 : gr_row_size((gr_type)t, ne0);
    if (!row) {
        s->ok = false;
        return;
    }
    uint64_t b = (uint64_t)row * (uint64_t)rows;
    s->bytes += b;
    s->elems += (uint64_t)ne0 * (uint64_t)rows;
    if (!strcmp(name, "per_layer_token_embd.weight"))
        s->ple_row = row;
    else
        s->resident += b;
}

static void layer_tensors(sizer *s, uint32_t l, bool k_eq_v) {
    const gr_gemma_config *c = s->c;
    char n[64];
    const int64_t hd = gr_layer_head_dim(c, l), kv = (int64_t)c->n_head_kv[l] * hd, d = c->n_embd;
    const int64_t q = (int64_t)c->n_head * hd, F = c->n_ff[l];
    const bool owns = l < c->n_layer - c->n_kv_shared;
#define T(suffix, dims, ne0, rows)                                                                 \
    (snprintf(n, sizeof n, "blk.%u.%s", l, suffix), tensor(s, n, dims, ne0, rows))
    T("attn_norm.weight", 1, d, 1);
    T("attn_q.weight", 2, d, q);
    if (owns) T("attn_k.weight", 2, d, kv);
    if (owns && !(k_eq_v && !c->is_swa[l])) T("attn_v.weight", 2, d, kv);
    T("attn_output.weight", 2, q, d);
    T("attn_q_norm.weight", 1, hd, 1);
    if (owns) T("attn_k_norm.weight", 1, hd, 1);
    T("post_attention_norm.weight", 1, d, 1);
    T("ffn_norm.weight", 1, d, 1);
    T("ffn_gate.weight", 2, d, F);
    T("ffn_up.weight", 2, d, F);
    T("ffn_down.weight", 2, F, d);
    T("post_ffw_norm.weight", 1, d, 1);
    if (c->arch != GR_ARCH_GEMMA4) return;
    if (c->n_expert) {
        const int64_t E = c->n_expert, Fe = c->n_ff_exp;
        T("ffn_gate_inp.weight", 2, d, E);
        T("ffn_gate_inp.scale", 1, d, 1);
        T("pre_ffw_norm_2.weight", 1, d, 1);
        T("post_ffw_norm_1.weight", 1, d, 1);
        T("post_ffw_norm_2.weight", 1, d, 1);
        T("ffn_gate_up_exps.weight", 3, d, 2 * Fe * E);
        T("ffn_down_exps.weight", 3, Fe, d * E);
        T("ffn_down_exps.scale", 1, E, 1);
    }
    if (c->n_embd_per_layer) {
        T("inp_gate.weight", 2, d, c->n_embd_per_layer);
        T("proj.weight", 2, c->n_embd_per_layer, d);
        T("post_norm.weight", 1, d, 1);
    }
    T("layer_output_scale.weight", 1, 1, 1);
#undef T
}

static bool size_model(const gr_gemma_config *c, bool k_eq_v, const char *type, sizer *s) {
    *s = (sizer){.c = c, .type = type, .ok = true};
    tensor(s, "token_embd.weight", 2, c->n_embd, c->n_vocab);
    if (c->arch == GR_ARCH_GEMMA4) {
        if (c->n_embd_per_layer) {
            const int64_t LP = (int64_t)c->n_layer * c->n_embd_per_layer;
            tensor(s, "per_layer_token_embd.weight", 2, LP, c->n_vocab);
            tensor(s, "per_layer_model_proj.weight", 2, c->n_embd, LP);
            tensor(s, "per_layer_proj_norm.weight", 1, c->n_embd_per_layer, 1);
        }
        tensor(s, "rope_freqs.weight", 1, c->head_dim / 2, 1);
    }
    for (uint32_t l = 0; l < c->n_layer; l++)
        layer_tensors(s, l, k_eq_v);
    tensor(s, "output_norm.weight", 1, c->n_embd, 1);
    return s->ok;
}

gr_status gr_registry_config_bytes(const gr_gemma_config *c, bool k_eq_v, gr_quant q,
                                   uint64_t *file, uint64_t *resident, uint64_t *ple_row) {
    sizer sz;
    if ((unsigned)q >= GR_QUANT_COUNT || !c || !size_model(c, k_eq_v, QUANT_NAMES[q], &sz))
        return GR_E_INVALID_ARG;
    *file = sz.bytes, *resident = sz.resident, *ple_row = sz.ple_row;
    return GR_OK;
}

gr_status gr_registry_get(const char *id, gr_model_profile *out, char *err, size_t errlen) {
    const entry *e = NULL;
    for (size_t i = 0; id && i < N_TABLE; i++)
        if (!strcmp(id, TABLE[i].id)) e = &TABLE[i];
    if (!e)
        return gr_err(GR_E_NOT_FOUND, err, errlen,
                      "model: unknown id '%s' (known: gemma-4-e2b-it, gemma-4-e4b-it, "
                      "gemma-4-26b-a4b-it, gemma-4-31b-it, gemma-3-1b-it, gemma-3-4b-it, "
                      "gemma-3-12b-it, gemma-3-27b-it)",
                      id ? id : "(null)");
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", e->id);
    gr_synth_shape shape = {0};
    if (e->preset) {
        gr_synth_opts o = {.preset = e->preset};
        gr_status s = gr_synth_config(&o, &out->cfg, &shape, err, errlen);
        if (s) return s;
    } else {
        gemma3_12b(&out->cfg);
    }
    for (int q = 0; q < GR_QUANT_COUNT; q++) {
        sizer sz;
        if (!size_model(&out->cfg, shape.k_eq_v, QUANT_NAMES[q], &sz))
            return gr_err(GR_E_INTERNAL, err, errlen, "%s: cannot size %s tensors", e->id,
                          QUANT_NAMES[q]);
        out->file_bytes[q] = sz.bytes;
        out->resident_bytes[q] = sz.resident;
        out->ple_row_bytes[q] = sz.ple_row;
        out->n_params = sz.elems;
    }
    out->capabilities = e->caps;
    out->placement = e->place;
    out->min_memory = e->min_memory;
    return GR_OK;
}

/* ---- a local file
 * -------------------------------------------------------------------------------- */

static gr_quant quant_of_file(const gr_gguf *g) {
    uint32_t ft = 0;
    if (gr_gguf_get_u32(g, "general.file_type", &ft) != GR_OK) return GR_QUANT_Q4_0;
    switch (ft) {
    case 7:
        return GR_QUANT_Q8_0;
    case 15:
        return GR_QUANT_Q4_K_M;
    case 32:
        return GR_QUANT_BF16;
    default:
        return GR_QUANT_Q4_0;
    }
}

gr_status gr_registry_from_gguf(const gr_gguf *g, const char *id, gr_model_profile *out, char *err,
                                size_t errlen) {
    memset(out, 0, sizeof *out);
    gr_status s = gr_gemma_config_from_gguf(g, &out->cfg, err, errlen);
    if (s) return s;
    snprintf(out->id, sizeof out->id, "%s", id ? id : "local-file");
    const gr_quant q = quant_of_file(g);
    out->from_file = true;
    out->file_quant = q;
    for (int64_t i = 0; i < gr_gguf_n_tensors(g); i++) {
        const gr_gguf_tensor *t = gr_gguf_tensor_at(g, i);
        uint64_t elems = 1;
        for (uint32_t k = 0; k < t->n_dims; k++)
            elems *= (uint64_t)t->ne[k];
        out->n_params += elems;
        out->file_bytes[q] += t->nbytes;
        if (!strcmp(t->name, "per_layer_token_embd.weight"))
            out->ple_row_bytes[q] = t->ne[1] ? t->nbytes / (uint64_t)t->ne[1] : 0;
        else
            out->resident_bytes[q] += t->nbytes;
    }
    out->capabilities = GR_CAP_CONVERSATIONAL;
    out->placement = GR_PLACE_LOCAL;
    return GR_OK;
}
