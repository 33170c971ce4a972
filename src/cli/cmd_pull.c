/* cmd_pull.c — `gemrun pull` (download a model into the cache, with a progress bar, --quiet or
 * --json lines), `gemrun models` (list the cache) and `gemrun rm` (remove entries). Ctrl-C cancels a
 * pull and keeps the partial download for the next run. Must not implement any download logic. */
#include "cli/commands.h"

#include "core/cancel.h"
#include "core/json.h"
#include "gemrun.h"
#include "pull/pull.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static gr_cancel g_cancel; /* set by SIGINT / SIGTERM */

static void on_signal(int sig) {
    (void)sig;
    gr_cancel_set(&g_cancel); /* an atomic store: async-signal-safe */
}

typedef struct ui {
    bool quiet, json, tty;
    double last;
    bool bar_shown;
} ui;

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

static void human(double b, char *out, size_t cap) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, i++;
    snprintf(out, cap, i ? "%.2f %s" : "%.0f %s", b, u[i]);
}

static void json_progress(const gr_pull_progress *p) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "event"), gr_jw_str(&w, "progress");
    gr_jw_key(&w, "model"), gr_jw_str(&w, p->model);
    gr_jw_key(&w, "phase"), gr_jw_str(&w, p->phase);
    gr_jw_key(&w, "done"), gr_jw_int(&w, (int64_t)p->done);
    gr_jw_key(&w, "total"), gr_jw_int(&w, (int64_t)p->total);
    gr_jw_key(&w, "received"), gr_jw_int(&w, (int64_t)p->received);
    gr_jw_key(&w, "rate"), gr_jw_num(&w, isfinite(p->rate) ? p->rate : 0);
    gr_jw_key(&w, "eta_s"), gr_jw_num(&w, isfinite(p->eta_s) ? p->eta_s : -1);
    gr_jw_key(&w, "attempt"), gr_jw_int(&w, p->attempt);
    gr_jw_key(&w, "message"), gr_jw_str(&w, p->message);
    gr_jw_end(&w);
    char *s = gr_jw_take(&w, NULL);
    if (s) printf("%s\n", s), fflush(stdout);
    free(s);
}

static void draw_bar(ui *u, const gr_pull_progress *p) {
    char done[32], total[32], rate[32], eta[32] = "--:--";
    human((double)p->done, done, sizeof done);
    human((double)p->total, total, sizeof total);
    human(p->rate, rate, sizeof rate);
    if (p->eta_s >= 0 && p->eta_s < 360000)
        snprintf(eta, sizeof eta, "%d:%02d", (int)p->eta_s / 60, (int)p->eta_s % 60);
    double f = p->total ? (double)p->done / (double)p->total : 0;
    char bar[31];
    int fill = (int)(f * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[30] = 0;
    fprintf(stderr, "\r%s %3.0f%% [%s] %s / %s  %s/s  ETA %s\033[K", p->phase[0] == 'r' ? "verify" : "pull",
            f * 100, bar, done, p->total ? total : "?", rate, eta);
    u->bar_shown = true;
}

static int on_progress(void *user, const gr_pull_progress *p) {
    ui *u = user;
    if (u->json) json_progress(p);
    else if (!u->quiet) {
        if (p->message) {
            if (u->bar_shown) fputc('\n', stderr), u->bar_shown = false;
            if (!strcmp(p->phase, "retry"))
                fprintf(stderr, "gemrun pull: attempt %d: %s; resuming at %llu\n", p->attempt, p->message,
                        p->done);
            else
                fprintf(stderr, "gemrun pull: %s\n", p->message);
        }
        double now = gr_now();
        if (u->tty && strcmp(p->phase, "wait") && (now - u->last >= 0.2 || !strcmp(p->phase, "done"))) {
            draw_bar(u, p);
            u->last = now;
        }
    }
    return 0; /* Ctrl-C goes through the cancel token */
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

static void text_result(const ui *u, gr_status s, const gr_pull_info *in, const char *err) {
    if (u->bar_shown) fputc('\n', stderr);
    if (s) {
        fprintf(stderr, "gemrun pull: %s: %s\n", gr_status_str(s), err);
        if (s == GR_E_CANCELLED || s == GR_E_NETWORK || s == GR_E_TIMEOUT)
            fprintf(stderr, "gemrun pull: the partial download is kept; run the same command to resume\n");
        return;
    }
    if (!u->quiet) {
        char size[32], recv[32];
        human((double)in->size, size, sizeof size);
        human((double)in->received, recv, sizeof recv);
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

static int parse_pull_args(int argc, char **argv, gr_pull_opts *o, ui *u, const char **model,
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
    ui u = {.tty = isatty(2)};
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
    o.progress = on_progress, o.user = &u;
    gr_cancel_init(&g_cancel);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    gr_pull_info info;
    char err[1024] = "";
    gr_status s = gr_pull_run(model, &o, &g_cancel, &info, err, sizeof err);
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
        human((double)size, h, sizeof h);
        sum += (uint64_t)size;
        printf("%-44s %12s  %.12s  %s%s\n", gr_json_str(gr_json_get(e, "name"), NULL), h,
               gr_json_str(gr_json_get(e, "sha256"), NULL), gr_json_str(gr_json_get(e, "source"), NULL),
               gr_json_bool(gr_json_get(e, "ok")) ? "" : "  (blob missing)");
    }
    char total[32];
    human((double)sum, total, sizeof total);
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
