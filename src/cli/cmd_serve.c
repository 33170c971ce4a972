/* cmd_serve.c — `gemrun serve`: options and configuration file -> gr_server, then wait for
 * SIGINT / SIGTERM and stop gracefully. Prints exactly one ready line to stderr when the model is
 * loaded: "gemrun serve: listening on http://HOST:PORT". Must not contain server logic. */
#include "cli/commands.h"
#include "cli/pull_ui.h"
#include "core/file.h"
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(
        f, "usage: gemrun serve [-m MODEL] [--config FILE] [--host 127.0.0.1] [--port 8080]\n"
           "                    [--api-key KEY] [--ctx N] [--threads N] [--offline]\n\n"
           "  MODEL (or local.model in the configuration): a GGUF file, a cache entry, or a registry\n"
           "  id / OWNER/REPO/FILE.gguf / URL, downloaded before listening unless --offline\n"
           "  (docs/pull.md). At least one of -m and --config is needed.\n"
           "  Serves the Gemini API (/v1beta/models/{model}:generateContent, ...) and the OpenAI\n"
           "  API (/v1/chat/completions) with the local model and/or the configured cloud engine,\n"
           "  plus /health, /metrics, /api/status and the web page at /.\n"
           "  --port 0 picks a free port. The key may also come from server.api_key_env.\n"
           "  Configuration: docs/configuration.md and docs/server.md.\n");
}

static int int_arg(const char *name, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "gemrun serve: %s: bad value '%s' (expected %ld..%ld)\n", name, v, lo, hi);
        return 1;
    }
    *out = x;
    return 0;
}

typedef struct serve_args {
    const char *model, *config, *host, *api_key;
    long port, ctx, threads;
    cli_model_opts mo;
} serve_args;

static int parse(int argc, char **argv, serve_args *a) {
    *a = (serve_args){.port = -1, .ctx = -1, .threads = -1};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) return usage(stdout), 0;
        if (!strcmp(o, "--offline")) {
            a->mo.offline = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "gemrun serve: %s needs a value (or is unknown)\n", o);
            return 2;
        }
        i++;
        if (!strcmp(o, "-m") || !strcmp(o, "--model"))
            a->model = v;
        else if (!strcmp(o, "--config"))
            a->config = v;
        else if (!strcmp(o, "--host"))
            a->host = v;
        else if (!strcmp(o, "--api-key"))
            a->api_key = v;
        else if (!strcmp(o, "--port")) {
            if (int_arg("--port", v, 0, 65535, &a->port)) return 2;
        } else if (!strcmp(o, "--ctx")) {
            if (int_arg("--ctx", v, 16, 1 << 22, &a->ctx)) return 2;
        } else if (!strcmp(o, "--threads")) {
            if (int_arg("--threads", v, 1, 256, &a->threads)) return 2;
        } else {
            fprintf(stderr, "gemrun serve: unknown option %s\n", o);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

/* Blocks SIGINT / SIGTERM in every thread (the server's threads inherit the mask) and waits. */
static void wait_for_signal(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "gemrun serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static int serve(gr_server_config *cfg) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512] = "";
    gr_server *s = NULL;
    if (gr_server_new(cfg, &s, err, sizeof err)) {
        fprintf(stderr, "gemrun serve: %s\n", err);
        return 1;
    }
    if (gr_server_load(s, err, sizeof err)) {
        fprintf(stderr, "gemrun serve: %s\n", err);
        gr_server_free(s);
        return 1;
    }
    fprintf(stderr, "gemrun serve: listening on %s\n", gr_server_url(s));
    wait_for_signal();
    gr_server_free(s);
    return 0;
}

int cmd_serve(int argc, char **argv) {
    serve_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    gr_server_config cfg;
    gr_server_config_init(&cfg);
    char *text = NULL, *owned = NULL, err[512] = "";
    if (a.config) {
        size_t len = 0;
        if (gr_file_read(a.config, GR_FILE_CONFIG_MAX, &text, &len, err, sizeof err) != GR_OK) {
            fprintf(stderr, "gemrun serve: %s\n", err);
            return 1;
        }
        if (gr_server_config_parse(text, len, &cfg, &owned, err, sizeof err)) {
            fprintf(stderr, "gemrun serve: %s: %s\n", a.config, err);
            free(text);
            return 2;
        }
        cfg.config_json = text, cfg.config_len = len;
    }
    if (a.model) cfg.model_path = a.model;
    if (a.host) cfg.host = a.host;
    if (a.port >= 0) cfg.port = (int)a.port;
    if (a.api_key) cfg.api_key = a.api_key;
    if (a.ctx > 0) cfg.n_ctx = (uint32_t)a.ctx;
    if (a.threads > 0) cfg.n_threads = (int)a.threads;
    if (!cfg.model_path && !a.config) { /* a server does not download a model nobody named */
        fprintf(stderr, "gemrun serve: give -m MODEL or --config FILE\n");
        usage(stderr);
        free(text);
        return 2;
    }
    char path[4096];
    if (cfg.model_path) { /* a configuration without a local model serves its cloud engine only */
        if (cli_model_path("serve", cfg.model_path, &a.mo, path, sizeof path)) {
            free(owned);
            free(text);
            return 1;
        }
        cfg.model_path = path;
    }
    rc = serve(&cfg);
    free(owned);
    free(text);
    return rc;
}
