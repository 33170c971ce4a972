/* pull_ui.c — see pull_ui.h. */
#include "cli/pull_ui.h"

#include "cli/signals.h"
#include "core/json.h"
#include "pull/pull.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_human_bytes(double b, char *out, size_t cap) {
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

static void draw_bar(cli_pull_ui *u, const gr_pull_progress *p) {
    char done[32], total[32], rate[32], eta[32] = "--:--";
    cli_human_bytes((double)p->done, done, sizeof done);
    cli_human_bytes((double)p->total, total, sizeof total);
    cli_human_bytes(p->rate, rate, sizeof rate);
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

int cli_pull_progress(void *user, const gr_pull_progress *p) {
    cli_pull_ui *u = user;
    if (u->json) json_progress(p);
    else if (!u->quiet) {
        if (p->message) {
            cli_pull_ui_end(u);
            if (!strcmp(p->phase, "retry"))
                fprintf(stderr, "gemrun %s: attempt %d: %s; resuming at %llu\n", u->cmd, p->attempt,
                        p->message, p->done);
            else
                fprintf(stderr, "gemrun %s: %s\n", u->cmd, p->message);
        }
        double now = gr_now();
        if (u->tty && strcmp(p->phase, "wait") && (now - u->last >= 0.2 || !strcmp(p->phase, "done"))) {
            draw_bar(u, p);
            u->last = now;
        }
        if (u->summary && !strcmp(p->phase, "done")) {
            char size[32];
            cli_human_bytes((double)p->total, size, sizeof size);
            cli_pull_ui_end(u);
            fprintf(stderr, "gemrun %s: %s: %s downloaded and verified\n", u->cmd, p->model, size);
        }
    }
    return 0; /* Ctrl-C goes through the cancel token */
}

void cli_pull_ui_end(cli_pull_ui *u) {
    if (u->bar_shown) fputc('\n', stderr), u->bar_shown = false;
}

int cli_model_path(const char *cmd, const char *model, const cli_model_opts *o, char *path, size_t cap) {
    cli_pull_ui u = {.cmd = cmd, .quiet = o->quiet, .tty = isatty(2), .summary = true};
    gr_pull_opts po = {.offline = o->offline, .progress = cli_pull_progress, .user = &u};
    char spec[128], err[1024] = "";
    if (!model || !*model) { /* the fit plan's choice, named before anything happens */
        if (gr_pull_auto_spec(&po, spec, sizeof spec, err, sizeof err)) {
            fprintf(stderr, "gemrun %s: no model given and %s\n", cmd, err);
            return 1;
        }
        if (!o->quiet) fprintf(stderr, "gemrun %s: no model given: the fit plan picks %s\n", cmd, spec);
        model = spec;
    }
    gr_cancel cancel;
    gr_cancel_init(&cancel);
    cli_signals saved;
    cli_cancel_on_signals(&cancel, true, &saved);
    gr_status s = gr_model_resolve_run(model, !o->no_pull, &po, &cancel, path, cap, err, sizeof err);
    cli_signals_restore(&saved);
    cli_pull_ui_end(&u);
    if (!s) return 0;
    fprintf(stderr, "gemrun %s: %s\n", cmd, err);
    if (s == GR_E_CANCELLED || s == GR_E_NETWORK || s == GR_E_TIMEOUT)
        fprintf(stderr, "gemrun %s: the partial download is kept; the next run resumes it\n", cmd);
    return 1;
}
