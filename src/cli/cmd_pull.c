/* cmd_pull.c — `gemrun pull` (download a model into the cache, with a progress bar, --quiet or
 * --json lines), `gemrun models` (list the cache) and `gemrun rm` (remove entries). Ctrl-C cancels a
 * pull and keeps the partial download for the next run. Must not implement any download logic. */
#include "cli/commands.h"

#include "cli/pull_ui.h"
#include "cli/signals.h"
#include "core/cancel.h"
#include "core/json.h"
#include "gemrun.h"
#include "pull/pull.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void pull_usage(FILE *f) {
    fprintf(f,
            "usage: gemrun pull [MODEL] [--quant Q] [--sha256 HEX] [--offline] [--quiet | --json]\n"
            "                   [--memory GIB] [--no-check] [--retries N] [--timeout S] [--cache DIR]\n\n"
            "  MODEL   a registry id (gemma-4-e2b-it, gemma-4-e4b-it, gemma-3-1b-it, ...; ':q8_0' picks a\n"
            "          format), OWNER/REPO/FILE.gguf[@REVISION] on Hugging Face, or an http(s) URL.\n"
            "          Without MODEL: the model the fit plan picks for this machine.\n"
            "  --offline     use the cache only (also GEMRUN_OFFLINE=1)\n"
            "  --json        JSON lines on stdout (progress events, then done or error)\n"
            "  --quiet       print only the file's path\n"
            "  --memory GIB  memory budget for the fit check (default: available RAM)\n"
            "  --no-check    skip the GGUF, architecture and fit checks\n"
            "env: HF_TOKEN (gated repositories), HF_ENDPOINT, GEMRUN_CACHE, XDG_CACHE_HOME\n"
            "The path of the verified file is printed on stdout.\n");
}

static void json_result(gr_status s, const gr_pull_info *in, const char *err) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "event"), gr_jw_str(&w, s ? "error" : "done");
    gr_jw_key(&w, "model"), gr_jw_str(&w, in->name);
    if (s) {
        gr_jw_key(&w, "status"), gr_jw_str(&w, gr_status_str(s));
        gr_jw_key(&w, "code"), gr_jw_int(&w, s);
        gr_jw_key(&w, "message"), gr_jw_str(&w, err);
    } else {
        gr_jw_key(&w, "path"), gr_jw_str(&w, in->path);
        gr_jw_key(&w, "sha256"), gr_jw_str(&w, in->sha256);
        gr_jw_key(&w, "sha256_from"), gr_jw_str(&w, in->sha256_from);
        gr_jw_key(&w, "cached"), gr_jw_bool(&w, in->cached);
    }
    gr_jw_key(&w, "size"), gr_jw_int(&w, (int64_t)in->size);
    gr_jw_key(&w, "resumed_from"), gr_jw_int(&w, (int64_t)in->resumed_from);
    gr_jw_key(&w, "received"), gr_jw_int(&w, (int64_t)in->received);
    gr_jw_key(&w, "rewritten"), gr_jw_int(&w, (int64_t)in->rewritten);
    gr_jw_key(&w, "attempts"), gr_jw_int(&w, in->attempts);
    gr_jw_key(&w, "restarts"), gr_jw_int(&w, in->restarts);
    gr_jw_key(&w, "repairs"), gr_jw_int(&w, in->repairs);
    gr_jw_end(&w);
    char *out = gr_jw_take(&w, NULL);
    if (out) printf("%s\n", out);
    free(out);
}

static void text_result(cli_pull_ui *u, gr_status s, const gr_pull_info *in, const char *err) {
    cli_pull_ui_end(u);
    if (s) {
        fprintf(stderr, "gemrun pull: %s: %s\n", gr_status_str(s), err);
        if (s == GR_E_CANCELLED || s == GR_E_NETWORK || s == GR_E_TIMEOUT)
            fprintf(stderr, "gemrun pull: the partial download is kept; run the same command to resume\n");
        return;
    }
    if (!u->quiet) {
        char size[32], recv[32];
        cli_human_bytes((double)in->size, size, sizeof size);
        cli_human_bytes((double)in->received, recv, sizeof recv);
        if (in->cached) fprintf(stderr, "gemrun pull: %s is in the cache (%s)\n", in->name, size);
        else
            fprintf(stderr, "gemrun pull: %s: %s verified (sha256 %.16s… from %s); received %s in %d "
                    "attempt(s), resumed from %llu, %llu byte(s) repaired\n", in->name, size, in->sha256,
                    in->sha256_from, recv, in->attempts, in->resumed_from, in->rewritten);
    }
    printf("%s\n", in->path);
}

static int need_value(const char *opt, const char *v) {
    if (v) return 0;
    fprintf(stderr, "gemrun pull: %s needs a value\n", opt);
    return 1;
}

static int parse_pull_args(int argc, char **argv, gr_pull_opts *o, cli_pull_ui *u, const char **model,
                           const char **quant) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return pull_usage(stdout), -1;
        if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) u->quiet = true;
        else if (!strcmp(a, "--json")) u->json = true;
        else if (!strcmp(a, "--offline")) o->offline = 1;
        else if (!strcmp(a, "--no-check")) o->no_check = 1;
        else if (a[0] == '-' && a[1]) {
            if (need_value(a, v)) return 2;
            i++;
            char *end = NULL;
            double d = strtod(v, &end);
            bool num = end && end != v && !*end && d >= 0;
            if (!strcmp(a, "--sha256")) o->sha256 = v;
            else if (!strcmp(a, "--cache")) o->cache_dir = v;
            else if (!strcmp(a, "--quant")) *quant = v;
            else if (!strcmp(a, "--memory") && num && d > 0) o->memory_bytes = (unsigned long long)(d * 1073741824.0);
            else if (!strcmp(a, "--retries") && num && d >= 1 && d <= 1000) o->max_retries = (int)d;
            else if (!strcmp(a, "--timeout") && num && d > 0) o->idle_timeout_s = d;
            else return fprintf(stderr, "gemrun pull: unknown option or bad value: %s %s\n", a, v), 2;
        } else if (!**model) *model = a;
        else return fprintf(stderr, "gemrun pull: more than one MODEL given ('%s')\n", a), 2;
    }
    return 0;
}

int cmd_pull(int argc, char **argv) {
    gr_pull_opts o = {0};
    cli_pull_ui u = {.cmd = "pull", .tty = isatty(2)};
    const char *model = "", *quant = NULL;
    int rc = parse_pull_args(argc, argv, &o, &u, &model, &quant);
    if (rc) return rc < 0 ? 0 : rc;
    char spec[1024];
    if (quant) {
        if (!*model || strchr(model, '/') || strchr(model, ':'))
            return fprintf(stderr, "gemrun pull: --quant goes with a registry id (gemma-4-e2b-it "
                           "--quant q8_0)\n"), 2;
        snprintf(spec, sizeof spec, "%s:%s", model, quant);
        model = spec;
    }
    o.progress = cli_pull_progress, o.user = &u;
    gr_cancel cancel; /* Ctrl-C: the partial download is kept for the next run */
    gr_cancel_init(&cancel);
    cli_signals saved;
    cli_cancel_on_signals(&cancel, true, &saved);
    gr_pull_info info;
    char err[1024] = "";
    gr_status s = gr_pull_run(model, &o, &cancel, &info, err, sizeof err);
    cli_signals_restore(&saved);
    if (u.json) json_result(s, &info, err);
    else text_result(&u, s, &info, err);
    return s == GR_OK ? 0 : 1;
}

/* ---- models / rm -------------------------------------------------------------------------- */

static const char *cache_arg(int argc, char **argv, bool *json) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) *json = true;
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc) dir = argv[++i];
    }
    return dir;
}

int cmd_models(int argc, char **argv) {
    bool json = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return printf("usage: gemrun models [--json] [--cache DIR]\n  lists the model cache\n"), 0;
    const char *dir = cache_arg(argc, argv, &json);
    char err[512];
    char *s = gr_models_json(dir, err, sizeof err);
    if (!s) return fprintf(stderr, "gemrun models: %s\n", err), 1;
    if (json) {
        printf("%s\n", s);
        free(s);
        return 0;
    }
    gr_json *doc = NULL;
    gr_json_parse(s, strlen(s), NULL, &doc, NULL, 0);
    const gr_json_val *arr = gr_json_root(doc);
    printf("%-44s %12s  %-12s  %s\n", "NAME", "SIZE", "SHA256", "SOURCE");
    uint64_t sum = 0;
    for (size_t i = 0; i < gr_json_len(arr); i++) {
        const gr_json_val *e = gr_json_at(arr, i);
        int64_t size = 0;
        gr_json_int(gr_json_get(e, "size"), &size);
        char h[32];
        cli_human_bytes((double)size, h, sizeof h);
        sum += (uint64_t)size;
        printf("%-44s %12s  %.12s  %s%s\n", gr_json_str(gr_json_get(e, "name"), NULL), h,
               gr_json_str(gr_json_get(e, "sha256"), NULL), gr_json_str(gr_json_get(e, "source"), NULL),
               gr_json_bool(gr_json_get(e, "ok")) ? "" : "  (blob missing)");
    }
    char total[32];
    cli_human_bytes((double)sum, total, sizeof total);
    printf("%zu model(s), %s\n", gr_json_len(arr), total);
    gr_json_free(doc);
    free(s);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    bool json = false;
    const char *dir = cache_arg(argc, argv, &json);
    int n = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return printf("usage: gemrun rm NAME|SHA256-PREFIX... [--cache DIR]\n"), 0;
        if (!strcmp(argv[i], "--cache")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-') continue;
        char err[512];
        n++;
        if (gr_model_remove(argv[i], dir, err, sizeof err) != GR_OK) {
            fprintf(stderr, "gemrun rm: %s\n", err);
            rc = 1;
        } else {
            printf("removed %s\n", argv[i]);
        }
    }
    if (!n) return fprintf(stderr, "usage: gemrun rm NAME|SHA256-PREFIX... [--cache DIR]\n"), 2;
    return rc;
}
