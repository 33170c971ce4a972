/* engine_local.h — the local engine: gr_engine over a Gemma GGUF model on the CPU. Renders the chat
 * with the model's own format, tokenizes, prefills in n_batch chunks (checking cancellation between
 * chunks and, inside gr_context_eval, between layers), samples, and streams UTF-8-safe text with
 * the Gemma 4 thought channel stripped. One gr_context is kept for the engine's life; a prompt
 * sharing a prefix with the previous request's tokens reuses that part of the KV cache.
 * Output constraints: GR_OUTPUT_JSON and GR_OUTPUT_JSON_SCHEMA are enforced while decoding by the
 * grammar engine (src/grammar): only tokens that keep the output a valid prefix are sampled, the
 * request finishes (STOP) as soon as the document is complete, no thought channel is requested, and
 * a schema the grammar cannot enforce fails the request (GR_E_UNSUPPORTED / GR_E_INVALID_ARG) rather
 * than generating unconstrained. Compiled grammars are cached by schema text. Mermaid / SVG are not
 * constrained here (the layer validates them). Stop sequences (req->stop) apply to unconstrained
 * kinds. It must not know about queues, routers or transports.
 *
 * Thread safety: like every engine, one generate() at a time per instance (a second concurrent call
 * fails with GR_E_BUSY); the cancel token may be set from any thread. Several engines may share one
 * gr_model (immutable), each with its own context. */
#ifndef GR_ENGINE_LOCAL_H
#define GR_ENGINE_LOCAL_H

#include "engine/engine.h"
#include "model/model.h"

typedef struct gr_local_config {
    const char *model_path; /* GGUF to load (owned by the engine), or ... */
    const gr_model *model;  /* ... an already loaded model, borrowed (must outlive the engine) */
    uint32_t n_ctx;         /* context length; 0: min(4096, trained context) */
    uint32_t n_batch;       /* prompt tokens per chunk; 0: 64 (bounds the cancel latency) */
    int n_threads;          /* 0: 2 */
    int default_max_tokens; /* for requests with max_tokens <= 0; 0: 256 */
    const char *model_id;   /* result.model; NULL: general.name, else the file's base name */
    bool thinking;          /* Gemma 4: ask for a thought channel (stripped from the output) */
} gr_local_config;

/* Errors: GR_E_INVALID_ARG (neither or both of model_path / model, bad numbers), the loader's and
 * the tokenizer's errors (a model without a usable vocabulary cannot serve chat). */
gr_status gr_local_engine_new(const gr_local_config *cfg, gr_engine **out, char *err,
                              size_t errlen);

/* Tokens of the last request's prompt, as rendered and tokenized (for tests and diagnostics). */
int gr_local_engine_last_prompt_tokens(const gr_engine *e);
/* Prompt tokens of the last request whose KV entries were reused from the previous request. */
int gr_local_engine_last_reused(const gr_engine *e);
/* Grammar constraints (GR_OUTPUT_JSON / GR_OUTPUT_JSON_SCHEMA, src/grammar): milliseconds spent once
 * building the per-vocabulary token data (0 until the first constrained request), and the time the
 * last request spent computing masks and advancing the matcher. */
double gr_local_engine_grammar_setup_ms(const gr_engine *e);
double gr_local_engine_last_grammar_ms(const gr_engine *e);

#endif
