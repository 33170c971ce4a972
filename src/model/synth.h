/* synth.h — synthetic (random-weight) Gemma 3 / Gemma 4 GGUF files with the exact tensor names,
 * shapes and metadata of the real variants, plus reduced ("-tiny") presets that keep every
 * structural feature at a few MB. Used by `gemrun synth`, by tests and by the benchmarks.
 * Must not hold whole tensors in memory: weights are generated and quantized row by row. */
#ifndef GR_MODEL_SYNTH_H
#define GR_MODEL_SYNTH_H

#include "gemrun.h"
#include "model/config.h"
#include "tensor/types.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_synth_opts {
    const char *preset;     /* e.g. "gemma4-e2b", "gemma4-e2b-tiny" (see gr_synth_preset_name) */
    bool reduced;           /* same as appending "-tiny" to the preset name */
    const char *type;       /* weight type: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k
                               q4_k_m; NULL = "f32" */
    uint64_t seed;          /* PRNG seed: same seed and options give the same file bytes */
    const char *vocab_path; /* optional tokenizer-only GGUF: every tokenizer.* key is copied and
                               n_vocab becomes its token count */
    uint32_t n_vocab;       /* 0 = preset default (262144) or the vocab file's count */
    uint32_t n_layers;      /* 0 = preset default; else the layer pattern, KV sharing and per-layer
                               widths are re-derived for this many layers */
} gr_synth_opts;

/* Structure facts that are not part of gr_gemma_config but decide which tensors exist. */
typedef struct gr_synth_shape {
    bool k_eq_v;        /* full layers have no attn_v (V = raw K projection) */
    uint32_t ff_shared; /* E2B "double wide" FFN width on KV-shared layers (0 = same as n_ff) */
    const char *general_name;
} gr_synth_shape;

/* Number of presets (full-size and reduced) and their names, for listing and loops in tests. */
size_t gr_synth_preset_count(void);
const char *gr_synth_preset_name(size_t i);

/* The config (and extra shape facts) the file for these options will describe. n_vocab is the
 * override or the preset's default; a vocab file is not opened here. */
gr_status gr_synth_config(const gr_synth_opts *o, gr_gemma_config *c, gr_synth_shape *s, char *err,
                          size_t errlen);

/* Storage type chosen for a tensor of the given name and row length under weight type `type`
 * (the file type, incl. "q4_k_m"); layer l and the config decide llama.cpp-style Q4_K_M mixing.
 * c must not be NULL for "q4_k_m". Returns -1 for an unknown type name. */
int gr_synth_tensor_type(const char *type, const gr_gemma_config *c, const char *name, int64_t ne0,
                         uint32_t n_dims);

/* Write the file. Deterministic for a given set of options. */
gr_status gr_synth_write(const gr_synth_opts *o, const char *path, char *err, size_t errlen);

#endif
