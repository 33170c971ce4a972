/* model.c — loading a Gemma 3 / Gemma 4 GGUF: config, then every tensor bound by name and checked
 * for presence, type and shape (spec §3.2, §3.3) so the forward pass can trust them blindly.
 * Must not copy weights (they are used in place from the mapping) nor run any math but tables. */
#include "model/model.h"

#include "core/error.h"
#include "model/model_impl.h"
#include "model/ops.h"
#include "tensor/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { VEC, MAT }; /* VEC: F32 vector/scalar; MAT: a weight matrix of any supported type */
enum { OPTIONAL = 0, REQUIRED = 1 };

typedef struct binder {
    const gr_gguf *g;
    char *err;
    size_t errlen;
} binder;

static gr_status bind(binder *b, const char *name, int req, int cls, int64_t ne0, int64_t ne1,
                      int64_t ne2, gr_tref *out) {
    const gr_gguf_tensor *t = gr_gguf_find_tensor(b->g, name);
    *out = NULL;
    if (!t) {
        if (req) return gr_err(GR_E_FORMAT, b->err, b->errlen, "missing tensor %s", name);
        return GR_OK;
    }
    const int64_t want[4] = {ne0, ne1, ne2, 1};
    if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != want[2] || t->ne[3] != 1)
        return gr_err(GR_E_FORMAT, b->err, b->errlen,
                      "tensor %s: shape {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld}",
                      name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                      (long long)t->ne[3], (long long)ne0, (long long)ne1, (long long)ne2);
    if (cls == VEC) {
        if (t->type != GR_TYPE_F32)
            return gr_err(GR_E_UNSUPPORTED, b->err, b->errlen, "tensor %s: type %s, expected f32",
                          name, gr_type_get(t->type)->name ? gr_type_get(t->type)->name : "?");
    } else {
        const gr_kernels *k = gr_kernels_get(GR_ISA_SCALAR);
        const gr_type_info *ti = gr_type_get(t->type);
        gr_type vdt = k->vec_dot_type[t->type];
        if (!ti->supported || !k->vec_dot[t->type] || !k->to_float[t->type] ||
            !k->from_float[vdt] || gr_row_size(vdt, ne0) == 0 || gr_row_size(t->type, ne0) == 0)
            return gr_err(GR_E_UNSUPPORTED, b->err, b->errlen,
                          "tensor %s: type %s unsupported for a weight of row length %lld", name,
                          ti->name ? ti->name : "?", (long long)ne0);
    }
    *out = t;
    return GR_OK;
}

#define BINDG(nm, req, cls, ne0, ne1, ne2, out)                                                    \
    do {                                                                                           \
        gr_status s_ = bind(b, nm, req, cls, ne0, ne1, ne2, out);                                  \
        if (s_) return s_;                                                                         \
    } while (0)
#define BINDL(suffix, req, cls, ne0, ne1, ne2, out)                                                \
    do {                                                                                           \
        gr_status s_ = bind(b, lname(name, sizeof name, l, suffix), req, cls, ne0, ne1, ne2, out);  \
        if (s_) return s_;                                                                         \
    } while (0)

static const char *lname(char *buf, size_t n, uint32_t l, const char *suffix) {
    snprintf(buf, n, "blk.%u.%s", l, suffix);
    return buf;
}

static gr_status bind_moe(binder *b, const gr_gemma_config *c, uint32_t l, gr_layer_w *w) {
    char name[96];
    const int64_t d = c->n_embd, E = c->n_expert, F = c->n_ff_exp;
    if (!E) return gr_err(GR_E_FORMAT, b->err, b->errlen,
                          "layer %u has ffn_gate_inp but expert_count is missing", l);
    BINDL("ffn_gate_inp.weight", REQUIRED, MAT, d, E, 1, &w->gate_inp);
    BINDL("ffn_gate_inp.scale", REQUIRED, VEC, d, 1, 1, &w->gate_inp_scale);
    BINDL("pre_ffw_norm_2.weight", REQUIRED, VEC, d, 1, 1, &w->pre_ffw_norm_2);
    BINDL("post_ffw_norm_1.weight", REQUIRED, VEC, d, 1, 1, &w->post_ffw_norm_1);
    BINDL("post_ffw_norm_2.weight", REQUIRED, VEC, d, 1, 1, &w->post_ffw_norm_2);
    BINDL("ffn_gate_up_exps.weight", OPTIONAL, MAT, d, 2 * F, E, &w->gate_up_exps);
    if (!w->gate_up_exps) {
        BINDL("ffn_gate_exps.weight", REQUIRED, MAT, d, F, E, &w->gate_exps);
        BINDL("ffn_up_exps.weight", REQUIRED, MAT, d, F, E, &w->up_exps);
    }
    BINDL("ffn_down_exps.weight", REQUIRED, MAT, F, d, E, &w->down_exps);
    BINDL("ffn_down_exps.scale", OPTIONAL, VEC, E, 1, 1, &w->down_exps_scale);
    w->moe = true;
    return GR_OK;
}

static gr_status bind_layer(binder *b, const gr_gemma_config *c, uint32_t l, gr_layer_w *w) {
    char name[96];
    const int64_t d = c->n_embd, hd = gr_layer_head_dim(c, l), nh = c->n_head;
    const int64_t nkv = c->n_head_kv[l], F = c->n_ff[l], P = c->n_embd_per_layer;
    const bool g4 = c->arch == GR_ARCH_GEMMA4;
    w->kv_src = gr_kv_source_layer(c, l);
    const bool owns = w->kv_src == l;
    BINDL("attn_norm.weight", REQUIRED, VEC, d, 1, 1, &w->attn_norm);
    BINDL("attn_q.weight", REQUIRED, MAT, d, nh * hd, 1, &w->wq);
    BINDL("attn_output.weight", REQUIRED, MAT, nh * hd, d, 1, &w->wo);
    BINDL("attn_q_norm.weight", REQUIRED, VEC, hd, 1, 1, &w->q_norm);
    if (owns) {
        BINDL("attn_k.weight", REQUIRED, MAT, d, nkv * hd, 1, &w->wk);
        BINDL("attn_v.weight", g4 ? OPTIONAL : REQUIRED, MAT, d, nkv * hd, 1, &w->wv);
        BINDL("attn_k_norm.weight", REQUIRED, VEC, hd, 1, 1, &w->k_norm);
    }
    BINDL("post_attention_norm.weight", REQUIRED, VEC, d, 1, 1, &w->post_attn_norm);
    BINDL("ffn_norm.weight", REQUIRED, VEC, d, 1, 1, &w->ffn_norm);
    BINDL("ffn_gate.weight", REQUIRED, MAT, d, F, 1, &w->gate);
    BINDL("ffn_up.weight", REQUIRED, MAT, d, F, 1, &w->up);
    BINDL("ffn_down.weight", REQUIRED, MAT, F, d, 1, &w->down);
    BINDL("post_ffw_norm.weight", REQUIRED, VEC, d, 1, 1, &w->post_ffw_norm);
    w->out_scale_v = 1.0f;
    if (g4) {
        BINDL("layer_output_scale.weight", OPTIONAL, VEC, 1, 1, 1, &w->out_scale);
        if (w->out_scale) memcpy(&w->out_scale_v, w->out_scale->data, sizeof(float));
    }
    if (P) {
        BINDL("inp_gate.weight", REQUIRED, MAT, d, P, 1, &w->inp_gate);
        BINDL("proj.weight", REQUIRED, MAT, P, d, 1, &w->proj);
        BINDL("post_norm.weight", REQUIRED, VEC, d, 1, 1, &w->post_norm);
    }
    if (g4 && gr_gguf_find_tensor(b->g, lname(name, sizeof name, l, "ffn_gate_inp.weight")))
        return bind_moe(b, c, l, w);
    return GR_OK;
}

static gr_status bind_all(binder *b, gr_model *m) {
    const gr_gemma_config *c = &m->cfg;
    const int64_t d = c->n_embd, V = c->n_vocab, P = c->n_embd_per_layer, L = c->n_layer;
    BINDG("token_embd.weight", REQUIRED, MAT, d, V, 1, &m->tok_embd);
    BINDG("output.weight", OPTIONAL, MAT, d, V, 1, &m->output);
    BINDG("output_norm.weight", REQUIRED, VEC, d, 1, 1, &m->output_norm);
    bool any_full = false;
    for (uint32_t l = 0; l < c->n_layer; l++) any_full |= !c->is_swa[l];
    if (c->arch == GR_ARCH_GEMMA4)
        BINDG("rope_freqs.weight", any_full ? REQUIRED : OPTIONAL, VEC, c->n_rot / 2, 1, 1, &m->rope_freqs);
    if (P) {
        BINDG("per_layer_token_embd.weight", REQUIRED, MAT, L * P, V, 1, &m->ple_tok_embd);
        BINDG("per_layer_model_proj.weight", REQUIRED, MAT, d, L * P, 1, &m->ple_model_proj);
        BINDG("per_layer_proj_norm.weight", REQUIRED, VEC, P, 1, 1, &m->ple_proj_norm);
    }
    for (uint32_t l = 0; l < c->n_layer; l++) {
        gr_status s = bind_layer(b, c, l, &m->layers[l]);
        if (s) return s;
    }
    return GR_OK;
}

gr_status gr_model_load(const char *path, gr_model **out, char *err, size_t errlen) {
    *out = NULL;
    gr_model *m = calloc(1, sizeof *m);
    if (!m) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_status s = gr_gguf_open(path, &m->gguf, err, errlen);
    if (!s) s = gr_gemma_config_from_gguf(m->gguf, &m->cfg, err, errlen);
    if (!s) {
        binder b = {m->gguf, err, errlen};
        s = bind_all(&b, m);
    }
    if (!s) {
        m->gelu_tab = malloc(65536 * sizeof(float));
        if (!m->gelu_tab) s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
        else gr_gelu_table_init(m->gelu_tab);
    }
    if (s) {
        gr_model_free(m);
        return s;
    }
    *out = m;
    return GR_OK;
}

void gr_model_free(gr_model *m) {
    if (!m) return;
    if (m->gguf) gr_gguf_close(m->gguf);
    free(m->gelu_tab);
    free(m);
}

const gr_gemma_config *gr_model_config(const gr_model *m) { return &m->cfg; }
const gr_gguf *gr_model_gguf(const gr_model *m) { return m->gguf; }
