/* run_cloud.h — `gemrun run --engine cloud`: the cloud engine (engine/engine_cloud.h) built from
 * command-line flags and environment variables, and one prompt streamed through it. Kept apart from
 * cmd_run.c, which drives the local model token by token. It never prints the API key. */
#ifndef GR_CLI_RUN_CLOUD_H
#define GR_CLI_RUN_CLOUD_H

#include "engine/engine.h"

#include <stdbool.h>

/* Each field NULL: its environment variable, else the configuration file, else the default. */
typedef struct cli_cloud {
    const char *protocol; /* "gemini" | "openai"; $GEMRUN_CLOUD_PROTOCOL; default gemini */
    const char *url;      /* $GEMRUN_CLOUD_URL; default the protocol's public host */
    const char *model;    /* $GEMRUN_CLOUD_MODEL; else the config's cloud.model (required) */
    const char *config;   /* file whose "cloud" object is read; $GEMRUN_CONFIG */
} cli_cloud;

/* Builds the engine; on failure prints "gemrun run: ..." to stderr and returns NULL. */
gr_engine *cli_cloud_engine(const cli_cloud *c);

/* Streams the answer to stdout (or one JSON object with json), stats to stderr. Consumes e.
 * Exit status: 0 ok, 1 failure, 130 cancelled by Ctrl-C. */
int cli_run_cloud(gr_engine *e, const char *prompt, int max_tokens, const gr_sampling *sp,
                  bool json);

#endif
