/* pull_ui.h — what the user sees while a model downloads (progress bar on a terminal, a line per
 * event otherwise, JSON lines for `pull --json`), and the one way every command turns its model
 * argument into a file: a path, a cache entry, or a registry id / Hugging Face path / URL pulled on
 * first use (docs/pull.md). Must not implement download logic. */
#ifndef GR_CLI_PULL_UI_H
#define GR_CLI_PULL_UI_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_pull_ui {
    const char *cmd; /* "pull", "run", ... for the messages */
    bool quiet, json, tty;
    double last;
    bool bar_shown;
    bool summary; /* one line when the download is done (commands other than pull) */
} cli_pull_ui;

void cli_human_bytes(double b, char *out, size_t cap);
/* A gr_pull_progress_fn; user is a cli_pull_ui. */
int cli_pull_progress(void *user, const gr_pull_progress *p);
/* End the bar's line, if one is shown. */
void cli_pull_ui_end(cli_pull_ui *u);

typedef struct cli_model_opts {
    bool offline;   /* --offline (GEMRUN_OFFLINE=1 works too) */
    bool no_pull;   /* cache and files only */
    bool quiet;     /* no progress output */
} cli_model_opts;

/* The file for a model argument (NULL: the fit plan's choice for this machine), pulling it when it
 * is not cached and that is allowed; Ctrl-C cancels the download and keeps the partial file.
 * Returns 0, or 1 after printing "gemrun CMD: ..." on stderr. */
int cli_model_path(const char *cmd, const char *model, const cli_model_opts *o, char *path, size_t cap);

#endif
