/* run_structured.h — `gemrun run --schema FILE | --output KIND`: one prompt through an engine
 * wrapped in the structured-output pipeline (layer/structured.h); only the validated answer goes to
 * stdout. Kept apart from cmd_run.c (which drives the model token by token) so the engine-based
 * path has one home. It must not contain validation logic of its own. */
#ifndef GR_CLI_RUN_STRUCTURED_H
#define GR_CLI_RUN_STRUCTURED_H

#include "engine/engine.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_structured {
    const char
        *output; /* "json", "json_schema", "mermaid", "svg", "text"; NULL: from schema_path */
    const char *schema_path; /* JSON Schema file (implies json_schema) */
    const char *prompt;      /* the user message */
    const char *system;      /* optional system message */
    /* The local engine (used when primary is NULL). */
    const char *model_path;
    uint32_t n_ctx; /* 0: the engine's default */
    int n_threads;
    int max_tokens;
    gr_sampling sampling;
    /* Prebuilt engines (e.g. a cloud engine), passed into the pipeline's ownership; may be NULL. */
    gr_engine *primary, *fallback;
    int repairs; /* <= 0: default (1) */
    bool json;   /* stdout: one JSON object {text, engine, model, report} instead of the text */
} cli_structured;

/* Parses an --output value; false when unknown. */
bool cli_output_kind(const char *name, gr_output_kind *out);

/* Exit status: 0 valid answer printed; 3 GR_E_INVALID_OUTPUT (message on stderr, nothing on
 * stdout); 1 any other failure. Engines in o are consumed in every case. */
int cli_run_structured(cli_structured *o);

#endif
