/* registry.h — model profiles for memory-aware selection (pattern 2): the Gemma 4 and Gemma 3
 * variants with their geometry (from the synthetic-model presets, or spelled out here where no
 * preset exists), weight bytes per quantization computed from the tensor shapes (never typed in),
 * capability and placement flags; and the same kind of profile read from a local GGUF's metadata
 * and tensor table. It must not load weights or allocate model memory: plans are made before
 * anything loads.
 *
 * "Resident" bytes are what RSS will hold while serving: every tensor except the Gemma 4 per-layer
 * embedding table (per_layer_token_embd), which is mmapped but read one row per token, so only the
 * pages of rows actually used become resident (counted per context token by the plan).
 * Thread safety: every function is reentrant; profiles are plain data. */
#ifndef GR_LAYER_REGISTRY_H
#define GR_LAYER_REGISTRY_H

#include "gemrun.h"
#include "gguf/gguf.h"
#include "model/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Weight formats a profile lists sizes for. */
typedef enum gr_quant {
    GR_QUANT_Q4_0 = 0,
    GR_QUANT_Q4_K_M,
    GR_QUANT_Q8_0,
    GR_QUANT_BF16,
    GR_QUANT_COUNT
} gr_quant;

const char *gr_quant_name(gr_quant q); /* "q4_0", "q4_k_m", "q8_0", "bf16" */
/* GR_E_INVALID_ARG naming the accepted values for an unknown name. */
gr_status gr_quant_parse(const char *name, gr_quant *out, char *err, size_t errlen);

/* What a model is good for (bit flags). */
enum {
    GR_CAP_CONVERSATIONAL = 1u << 0, /* chat, tutoring: selection picks the largest of these */
    GR_CAP_STRUCTURED = 1u << 1,     /* reliable JSON / Mermaid / SVG (with constrained decoding) */
    GR_CAP_VISION = 1u << 2          /* image input (the model has it; this runtime is text-only) */
};

/* Where a model may run (bit flags). AUTO: automatic selection may pick it (the seed's E2B/E4B);
 * other LOCAL models run only when asked for by id or file. 26B-A4B and 31B are server models. */
enum { GR_PLACE_LOCAL = 1u << 0, GR_PLACE_CLOUD = 1u << 1, GR_PLACE_AUTO = 1u << 2 };

typedef struct gr_model_profile {
    char id[64];                             /* "gemma-4-e2b-it", ..., or the file's base name */
    gr_gemma_config cfg;                     /* geometry: KV per layer type, widths, vocabulary */
    uint64_t n_params;                       /* all weights (elements) */
    uint64_t file_bytes[GR_QUANT_COUNT];     /* tensor bytes per format */
    uint64_t resident_bytes[GR_QUANT_COUNT]; /* file_bytes minus the PLE table */
    uint64_t ple_row_bytes[GR_QUANT_COUNT];  /* one PLE table row (0: no table) */
    unsigned capabilities;                   /* GR_CAP_* */
    unsigned placement;                      /* GR_PLACE_* */
    uint64_t min_memory; /* automatic selection needs at least this much memory (bytes) */
    bool from_file;      /* sizes come from a GGUF: only index `file_quant` is meaningful */
    gr_quant file_quant;
} gr_model_profile;

size_t gr_registry_count(void);
const char *gr_registry_id(size_t i); /* NULL past the end */
/* GR_E_NOT_FOUND (message names the id and lists the known ones). */
gr_status gr_registry_get(const char *id, gr_model_profile *out, char *err, size_t errlen);

/* Tensor bytes of a geometry in one format (every tensor, and without the PLE table), and the
 * bytes of one PLE row (0 without one). k_eq_v: full layers have no attn_v (31B, 26B-A4B). */
gr_status gr_registry_config_bytes(const gr_gemma_config *c, bool k_eq_v, gr_quant q,
                                   uint64_t *file, uint64_t *resident, uint64_t *ple_row);

/* Profile of a local GGUF: geometry from its metadata, sizes from its tensor table (all of them
 * stored under index file_quant, which is the closest named format, or Q4_0 when none matches).
 * Capabilities: conversational; placement: LOCAL. */
gr_status gr_registry_from_gguf(const gr_gguf *g, const char *id, gr_model_profile *out, char *err,
                                size_t errlen);

#endif
