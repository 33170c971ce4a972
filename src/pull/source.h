/* source.h — what `gemrun pull MODEL` fetches: a registry id (with an optional ":quant"), a Hugging
 * Face "owner/repo/path/file.gguf[@revision]" (also "hf://..."), or a plain http(s) URL, turned into
 * a URL and the name the cache files it under. Hugging Face URLs are
 * {HF_ENDPOINT or https://huggingface.co}/{repo}/resolve/{revision}/{file}.
 * Registry ids map to real GGUF files: Q4_0 (the fit plan's default format) to Google's QAT Q4_0
 * repositories, the other formats to unsloth's conversions (see docs/pull.md).
 * Must not touch the network or the disk. Thread safety: reentrant (reads the environment). */
#ifndef GR_PULL_SOURCE_H
#define GR_PULL_SOURCE_H

#include "gemrun.h"
#include "layer/registry.h"

#include <stdbool.h>

typedef struct gr_pull_source {
    char name[512];     /* cache name: "gemma-4-e2b-it", "gemma-4-e2b-it:q8_0", "owner/repo/f.gguf" */
    char url[2048];     /* what to GET */
    char safe_url[2048];/* url without query or userinfo (for manifests and messages) */
    bool hf;            /* a Hugging Face URL: HF_TOKEN may be sent */
    bool registry;      /* from the registry table: registry_id / quant are set */
    char registry_id[64];
    gr_quant quant;
} gr_pull_source;

/* Parse spec (see above). GR_E_INVALID_ARG naming what is wrong (unknown id or quant, a format the
 * table does not offer, an empty file part, a non-http scheme). */
gr_status gr_pull_source_parse(const char *spec, gr_pull_source *out, char *err, size_t errlen);

/* The default format of a registry id (q4_0). */
gr_quant gr_pull_default_quant(const char *registry_id);

/* The URL without query, fragment or userinfo. */
void gr_pull_safe_url(const char *url, char *out, size_t cap);

#endif
