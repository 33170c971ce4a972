/* model_impl.h — internal layout of gr_model (shared by model.c, which binds and validates the
 * tensors, and forward.c, which runs them). Not part of any public interface. */
#ifndef GR_MODEL_MODEL_IMPL_H
#define GR_MODEL_MODEL_IMPL_H

#include "gguf/gguf.h"
#include "model/config.h"
#include "model/model.h"

typedef const gr_gguf_tensor *gr_tref;

typedef struct gr_layer_w {
    gr_tref attn_norm, wq, wk, wv, wo, q_norm, k_norm, post_attn_norm;
    gr_tref ffn_norm, gate, up, down, post_ffw_norm, out_scale;
    gr_tref inp_gate, proj, post_norm; /* PLE */
    /* MoE */
    gr_tref gate_inp, gate_inp_scale, pre_ffw_norm_2, post_ffw_norm_1, post_ffw_norm_2;
    gr_tref gate_up_exps, gate_exps, up_exps, down_exps, down_exps_scale;
    uint32_t kv_src; /* == own index when the layer owns its KV */
    bool moe;
    float out_scale_v; /* layer_output_scale (1 if absent) */
} gr_layer_w;

struct gr_model {
    gr_gguf *gguf;
    gr_gemma_config cfg;
    gr_tref tok_embd, output, output_norm, rope_freqs;
    gr_tref ple_tok_embd, ple_model_proj, ple_proj_norm;
    gr_layer_w layers[GR_MAX_LAYERS];
    float *gelu_tab; /* 65536 entries, see ops.h */
};

/* Tests: the smallest matmul/attention work (multiply-adds) that is split across threads
 * (0 = always split). */
void gr_context_set_small_work(gr_context *c, int64_t macs);

#endif
