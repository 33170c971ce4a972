/* config.c — reads a Gemma 3 / Gemma 4 hyper-parameter set from GGUF metadata (spec §3.1, §5) and
 * validates it. Must not touch tensor data (only token_embd's shape, for the vocabulary size) and
 * must not guess silently: a missing required key is an error that names the key. */
#include "model/config.h"

#include "core/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct keyer {
    const gr_gguf *g;
    const char *prefix; /* "gemma4" / "gemma3" */
    char buf[160];
} keyer;

static const char *key(keyer *k, const char *suffix) {
    snprintf(k->buf, sizeof k->buf, "%s.%s", k->prefix, suffix);
    return k->buf;
}

static gr_status req_u32(keyer *k, const char *suffix, uint32_t *out, char *err, size_t errlen) {
    const char *name = key(k, suffix);
    gr_status s = gr_gguf_get_u32(k->g, name, out);
    if (s == GR_E_NOT_FOUND) return gr_err(GR_E_FORMAT, err, errlen, "missing key %s", name);
    if (s != GR_OK) return gr_err(GR_E_FORMAT, err, errlen, "key %s: bad type or value", name);
    return GR_OK;
}

/* Optional key: keeps *out when absent. */
static gr_status opt_u32(keyer *k, const char *suffix, uint32_t *out, char *err, size_t errlen) {
    const char *name = key(k, suffix);
    gr_status s = gr_gguf_get_u32(k->g, name, out);
    if (s == GR_E_NOT_FOUND) return GR_OK;
    if (s != GR_OK) return gr_err(GR_E_FORMAT, err, errlen, "key %s: bad type or value", name);
    return GR_OK;
}

static gr_status opt_f32(keyer *k, const char *suffix, float *out, char *err, size_t errlen) {
    const char *name = key(k, suffix);
    gr_status s = gr_gguf_get_f32(k->g, name, out);
    if (s == GR_E_NOT_FOUND) return GR_OK;
    if (s != GR_OK) return gr_err(GR_E_FORMAT, err, errlen, "key %s: bad type or value", name);
    return GR_OK;
}

static gr_status per_layer(keyer *k, const char *suffix, uint32_t n_layer, uint32_t *out,
                           bool required, uint32_t dflt, char *err, size_t errlen) {
    int64_t v[GR_MAX_LAYERS];
    const char *name = key(k, suffix);
    gr_status s = gr_gguf_get_per_layer_i64(k->g, name, n_layer, v);
    if (s == GR_E_NOT_FOUND && !required) {
        for (uint32_t l = 0; l < n_layer; l++) out[l] = dflt;
        return GR_OK;
    }
    if (s == GR_E_NOT_FOUND) return gr_err(GR_E_FORMAT, err, errlen, "missing key %s", name);
    if (s != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen, "key %s: bad type or wrong array length", name);
    for (uint32_t l = 0; l < n_layer; l++) {
        if (v[l] < 0 || v[l] > (int64_t)1 << 24)
            return gr_err(GR_E_FORMAT, err, errlen, "key %s: layer %u value %lld out of range",
                          name, l, (long long)v[l]);
        out[l] = (uint32_t)v[l];
    }
    return GR_OK;
}

static gr_status read_swa_pattern(keyer *k, gr_gemma_config *c, char *err, size_t errlen) {
    const char *name = key(k, "attention.sliding_window_pattern");
    gr_gguf_vtype et;
    uint64_t n;
    gr_status s = gr_gguf_get_arr(k->g, name, &et, &n);
    if (s == GR_E_NOT_FOUND) return gr_err(GR_E_FORMAT, err, errlen, "missing key %s", name);
    if (s != GR_OK || n != c->n_layer)
        return gr_err(GR_E_FORMAT, err, errlen, "key %s: expected an array of %u values", name,
                      c->n_layer);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        bool b = false;
        if (gr_gguf_arr_bool(k->g, name, l, &b) != GR_OK) {
            int64_t iv;
            if (gr_gguf_arr_i64(k->g, name, l, &iv) != GR_OK)
                return gr_err(GR_E_FORMAT, err, errlen, "key %s: element %u is not a bool", name,
                              l);
            b = iv != 0;
        }
        c->is_swa[l] = b;
    }
    return GR_OK;
}

static gr_status read_common(keyer *k, gr_gemma_config *c, char *err, size_t errlen) {
    gr_status s;
    if ((s = req_u32(k, "block_count", &c->n_layer, err, errlen))) return s;
    if (c->n_layer == 0 || c->n_layer > GR_MAX_LAYERS)
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "%s = %u: must be 1..%d", key(k, "block_count"),
                      c->n_layer, GR_MAX_LAYERS);
    if ((s = req_u32(k, "embedding_length", &c->n_embd, err, errlen))) return s;
    if ((s = req_u32(k, "attention.head_count", &c->n_head, err, errlen))) return s;
    c->n_ctx_train = 0;
    if ((s = opt_u32(k, "context_length", &c->n_ctx_train, err, errlen))) return s;
    if ((s = per_layer(k, "feed_forward_length", c->n_layer, c->n_ff, true, 0, err, errlen)))
        return s;
    if ((s = per_layer(k, "attention.head_count_kv", c->n_layer, c->n_head_kv, false, c->n_head,
                       err, errlen)))
        return s;
    c->rms_eps = 1e-6f;
    if ((s = opt_f32(k, "attention.layer_norm_rms_epsilon", &c->rms_eps, err, errlen))) return s;
    c->final_softcap = 0;
    if ((s = opt_f32(k, "final_logit_softcapping", &c->final_softcap, err, errlen))) return s;
    if ((s = req_u32(k, "attention.sliding_window", &c->sliding_window, err, errlen))) return s;
    c->rope_base = 10000.0f;
    if ((s = opt_f32(k, "rope.freq_base", &c->rope_base, err, errlen))) return s;
    return GR_OK;
}

/* Required float key (spec §3.1: the defaults of the generic loader would be wrong). */
static gr_status req_f32(keyer *k, const char *suffix, float *out, char *err, size_t errlen) {
    const char *name = key(k, suffix);
    gr_status s = gr_gguf_get_f32(k->g, name, out);
    if (s == GR_E_NOT_FOUND) return gr_err(GR_E_FORMAT, err, errlen, "missing key %s", name);
    if (s != GR_OK) return gr_err(GR_E_FORMAT, err, errlen, "key %s: bad type or value", name);
    return GR_OK;
}

static gr_status read_gemma4(keyer *k, gr_gemma_config *c, char *err, size_t errlen) {
    gr_status s;
    uint32_t vlen = 0, vlen_swa = 0;
    if ((s = req_f32(k, "attention.layer_norm_rms_epsilon", &c->rms_eps, err, errlen))) return s;
    if ((s = req_f32(k, "rope.freq_base", &c->rope_base, err, errlen))) return s;
    if ((s = req_u32(k, "attention.key_length", &c->head_dim, err, errlen))) return s;
    if ((s = req_u32(k, "attention.key_length_swa", &c->head_dim_swa, err, errlen))) return s;
    vlen = c->head_dim;
    vlen_swa = c->head_dim_swa;
    if ((s = opt_u32(k, "attention.value_length", &vlen, err, errlen))) return s;
    if ((s = opt_u32(k, "attention.value_length_swa", &vlen_swa, err, errlen))) return s;
    if (vlen != c->head_dim || vlen_swa != c->head_dim_swa)
        return gr_err(GR_E_UNSUPPORTED, err, errlen,
                      "gemma4: key_length must equal value_length (%u/%u, swa %u/%u)",
                      c->head_dim, vlen, c->head_dim_swa, vlen_swa);
    if ((s = read_swa_pattern(k, c, err, errlen))) return s;
    c->n_kv_shared = 0;
    if ((s = opt_u32(k, "attention.shared_kv_layers", &c->n_kv_shared, err, errlen))) return s;
    if ((s = req_u32(k, "embedding_length_per_layer_input", &c->n_embd_per_layer, err, errlen)))
        return s;
    c->rope_base_swa = c->rope_base;
    if ((s = opt_f32(k, "rope.freq_base_swa", &c->rope_base_swa, err, errlen))) return s;
    c->n_rot = c->head_dim;
    if ((s = opt_u32(k, "rope.dimension_count", &c->n_rot, err, errlen))) return s;
    c->n_rot_swa = c->n_rot;
    if ((s = opt_u32(k, "rope.dimension_count_swa", &c->n_rot_swa, err, errlen))) return s;
    c->n_expert = c->n_expert_used = c->n_ff_exp = 0;
    if ((s = opt_u32(k, "expert_count", &c->n_expert, err, errlen))) return s;
    if ((s = opt_u32(k, "expert_used_count", &c->n_expert_used, err, errlen))) return s;
    if ((s = opt_u32(k, "expert_feed_forward_length", &c->n_ff_exp, err, errlen))) return s;
    c->rope_scale = 1.0f;
    c->attn_scale = 1.0f;
    return GR_OK;
}

static gr_status read_gemma3(keyer *k, gr_gemma_config *c, char *err, size_t errlen) {
    gr_status s;
    if (c->n_head == 0) return gr_err(GR_E_FORMAT, err, errlen, "head_count is 0");
    c->head_dim = c->n_embd / c->n_head;
    if ((s = opt_u32(k, "attention.key_length", &c->head_dim, err, errlen))) return s;
    uint32_t vlen = c->head_dim;
    if ((s = opt_u32(k, "attention.value_length", &vlen, err, errlen))) return s;
    if (vlen != c->head_dim)
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "gemma3: key_length %u != value_length %u",
                      c->head_dim, vlen);
    c->head_dim_swa = c->head_dim;
    /* Fixed pattern: every 6th layer is global (llama.cpp set_swa_pattern(6)). */
    for (uint32_t l = 0; l < c->n_layer; l++) c->is_swa[l] = (l + 1) % 6 != 0;
    c->n_kv_shared = 0;
    c->n_embd_per_layer = 0;
    c->n_expert = c->n_expert_used = c->n_ff_exp = 0;
    c->n_rot = c->head_dim;
    if ((s = opt_u32(k, "rope.dimension_count", &c->n_rot, err, errlen))) return s;
    c->n_rot_swa = c->n_rot;
    c->rope_base_swa = 10000.0f;
    c->rope_scale = 1.0f;
    float factor = 0;
    if ((s = opt_f32(k, "rope.scaling.factor", &factor, err, errlen))) return s;
    gr_gguf_str type = {0};
    bool has_type = gr_gguf_get_str(k->g, key(k, "rope.scaling.type"), &type) == GR_OK;
    bool linear = !has_type || (type.len == 6 && !memcmp(type.ptr, "linear", 6));
    if (factor > 0 && has_type && !linear && !(type.len == 4 && !memcmp(type.ptr, "none", 4)))
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "gemma3: rope scaling type '%.*s'",
                      (int)(type.len > 32 ? 32 : type.len), type.ptr);
    if (factor > 0 && linear) c->rope_scale = factor;
    /* llama.cpp convention: 27B (62 layers) scales by 1/sqrt(n_embd/n_head). */
    c->attn_scale = c->n_layer == 62 ? 1.0f / sqrtf((float)(c->n_embd / c->n_head))
                                     : 1.0f / sqrtf((float)c->head_dim);
    return GR_OK;
}

static gr_status validate(gr_gemma_config *c, char *err, size_t errlen) {
    if (c->n_embd == 0 || c->n_head == 0 || c->head_dim == 0 || c->head_dim_swa == 0)
        return gr_err(GR_E_FORMAT, err, errlen, "zero embedding length, head count or head dim");
    if (c->head_dim % 2 || c->head_dim_swa % 2 || c->n_rot > c->head_dim ||
        c->n_rot_swa > c->head_dim_swa || c->n_rot % 2 || c->n_rot_swa % 2)
        return gr_err(GR_E_FORMAT, err, errlen, "bad rope dimension count %u/%u for head dim %u/%u",
                      c->n_rot, c->n_rot_swa, c->head_dim, c->head_dim_swa);
    if (c->n_kv_shared >= c->n_layer && c->n_kv_shared)
        return gr_err(GR_E_FORMAT, err, errlen, "shared_kv_layers %u >= block_count %u",
                      c->n_kv_shared, c->n_layer);
    for (uint32_t l = 0; l < c->n_layer; l++) {
        uint32_t nkv = c->n_head_kv[l];
        if (nkv == 0 || c->n_head % nkv)
            return gr_err(GR_E_FORMAT, err, errlen,
                          "layer %u: head_count_kv %u does not divide head_count %u", l, nkv,
                          c->n_head);
        if (c->n_ff[l] == 0)
            return gr_err(GR_E_FORMAT, err, errlen, "layer %u: feed_forward_length is 0", l);
        if (gr_kv_source_layer(c, l) == UINT32_MAX)
            return gr_err(GR_E_FORMAT, err, errlen, "layer %u is KV-shared but has no donor", l);
    }
    if (c->sliding_window == 0) return gr_err(GR_E_FORMAT, err, errlen, "sliding_window is 0");
    if (!(c->rms_eps > 0) || !(c->rope_base > 0) || !(c->rope_base_swa > 0))
        return gr_err(GR_E_FORMAT, err, errlen, "bad rms epsilon or rope base");
    if (c->n_expert) {
        if (c->n_expert_used == 0 || c->n_expert_used > c->n_expert || c->n_ff_exp == 0)
            return gr_err(GR_E_FORMAT, err, errlen, "MoE: bad expert_used_count %u / count %u / ff %u",
                          c->n_expert_used, c->n_expert, c->n_ff_exp);
    }
    return GR_OK;
}

gr_status gr_gemma_config_from_gguf(const gr_gguf *g, gr_gemma_config *c, char *err,
                                    size_t errlen) {
    memset(c, 0, sizeof *c);
    gr_gguf_str arch;
    if (gr_gguf_get_str(g, "general.architecture", &arch) != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen, "missing key general.architecture");
    keyer k = {.g = g};
    if (arch.len == 6 && !memcmp(arch.ptr, "gemma4", 6)) {
        c->arch = GR_ARCH_GEMMA4;
        k.prefix = "gemma4";
    } else if (arch.len == 6 && !memcmp(arch.ptr, "gemma3", 6)) {
        c->arch = GR_ARCH_GEMMA3;
        k.prefix = "gemma3";
    } else {
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "unsupported architecture '%.*s'",
                      (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
    }
    gr_status s = read_common(&k, c, err, errlen);
    if (!s) s = c->arch == GR_ARCH_GEMMA4 ? read_gemma4(&k, c, err, errlen)
                                          : read_gemma3(&k, c, err, errlen);
    if (s) return s;
    const gr_gguf_tensor *emb = gr_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return gr_err(GR_E_FORMAT, err, errlen, "missing tensor token_embd.weight");
    if (emb->ne[1] <= 0 || emb->ne[1] > INT32_MAX)
        return gr_err(GR_E_FORMAT, err, errlen, "token_embd.weight: bad vocabulary size");
    c->n_vocab = (uint32_t)emb->ne[1];
    return validate(c, err, errlen);
}

uint32_t gr_kv_source_layer(const gr_gemma_config *c, uint32_t l) {
    if (c->n_kv_shared == 0 || c->n_kv_shared >= c->n_layer) return l;
    uint32_t first_shared = c->n_layer - c->n_kv_shared;
    if (l < first_shared) return l;
    /* The last non-shared layer of the same kind (sliding / full) below first_shared. */
    for (uint32_t d = first_shared; d-- > 0;)
        if (c->is_swa[d] == c->is_swa[l]) return d;
    return UINT32_MAX;
}
