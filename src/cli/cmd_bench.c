/* cmd_bench.c — `gemrun bench`: llama-bench style speed test. For each thread count: prompt
 * processing of p random tokens into a fresh context (pp), and generation of n tokens one at a
 * time from a fresh context (tg); median and spread over reps. Must not contain model math. */
#include "cli/commands.h"
#include "cli/pull_ui.h"

#include "core/cancel.h"
#include "model/model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "usage: gemrun bench -m MODEL [-p 512] [-n 128] [-t 1,2] [-r 3] [-b 512] [--json]\n");
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stat { double median, lo, hi; } stat;

static stat summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    stat s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    if (!s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* One timed run; returns tokens per second or a negative value on error. */
static double run_pp(gr_context *c, const int32_t *tok, uint32_t p, char *err, size_t errlen) {
    gr_context_truncate(c, 0);
    double t0 = gr_now();
    if (gr_context_eval(c, tok, p, NULL, err, errlen)) return -1;
    return p / (gr_now() - t0);
}

static double run_tg(gr_context *c, const int32_t *tok, uint32_t n, char *err, size_t errlen) {
    gr_context_truncate(c, 0);
    double t0 = gr_now();
    for (uint32_t i = 0; i < n; i++)
        if (gr_context_eval(c, &tok[i], 1, NULL, err, errlen)) return -1;
    return n / (gr_now() - t0);
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *threads = "1,2";
    long p = 512, n = 128, reps = 3, batch = 512;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        else if (!strcmp(a, "--json")) continue;
        else if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "-t")) threads = v;
        else if (!strcmp(a, "-p")) ok = parse_int(v, 0, 1 << 20, &p);
        else if (!strcmp(a, "-n")) ok = parse_int(v, 0, 1 << 20, &n);
        else if (!strcmp(a, "-r")) ok = parse_int(v, 1, 1000, &reps);
        else if (!strcmp(a, "-b")) ok = parse_int(v, 1, 1 << 20, &batch);
        else ok = false;
        if (!ok || !v) {
            fprintf(stderr, "gemrun bench: bad option %s\n", a);
            return usage(stderr), 2;
        }
        i++;
    }
    for (int i = 1; i < argc; i++) json |= !strcmp(argv[i], "--json");
    if (!model || !threads) return usage(stderr), 2;
    char err[512] = "", path[4096];
    cli_model_opts mo = {0};
    if (cli_model_path("bench", model, &mo, path, sizeof path)) return 1;
    gr_model *m = NULL;
    if (gr_model_load(path, &m, err, sizeof err)) {
        fprintf(stderr, "gemrun bench: %s\n", err);
        return 1;
    }
    const uint32_t V = gr_model_config(m)->n_vocab;
    const size_t ntok = (size_t)(p > n ? p : n) + 1;
    int32_t *tok = malloc(ntok * sizeof *tok);
    double *pp = malloc((size_t)reps * sizeof *pp), *tg = malloc((size_t)reps * sizeof *tg);
    if (!tok || !pp || !tg) return 1;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < ntok; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        tok[i] = (int32_t)(x % V);
    }
    int rc = 0;
    if (!json) printf("| threads | test   |          t/s | min .. max          |\n"
                      "|--------:|--------|-------------:|---------------------|\n");
    else printf("[");
    const char *tp = threads;
    bool first = true;
    while (*tp && rc == 0) {
        long nt;
        char *end;
        nt = strtol(tp, &end, 10);
        if (end == tp || nt < 1 || nt > 256) {
            fprintf(stderr, "gemrun bench: bad thread list '%s'\n", threads);
            rc = 2;
            break;
        }
        tp = *end == ',' ? end + 1 : end;
        gr_context_params cp = gr_context_default_params();
        cp.n_threads = (int)nt;
        cp.n_ctx = (uint32_t)(p > n ? p : n) + 8;
        cp.n_batch = (uint32_t)(p > 0 && p < batch ? p : batch);
        gr_context *c = NULL;
        if (gr_context_new(m, &cp, &c, err, sizeof err)) {
            fprintf(stderr, "gemrun bench: %s\n", err);
            rc = 1;
            break;
        }
        /* warm-up: touch the weights once */
        if (run_tg(c, tok, 2, err, sizeof err) < 0) rc = 1;
        for (int r = 0; r < reps && rc == 0 && p > 0; r++)
            if ((pp[r] = run_pp(c, tok, (uint32_t)p, err, sizeof err)) < 0) rc = 1;
        for (int r = 0; r < reps && rc == 0 && n > 0; r++)
            if ((tg[r] = run_tg(c, tok, (uint32_t)n, err, sizeof err)) < 0) rc = 1;
        gr_context_free(c);
        if (rc) {
            fprintf(stderr, "gemrun bench: %s\n", err);
            break;
        }
        for (int k = 0; k < 2; k++) {
            long cnt = k ? n : p;
            if (cnt <= 0) continue;
            stat s = summarize(k ? tg : pp, (int)reps);
            if (json)
                printf("%s{\"threads\":%ld,\"test\":\"%s%ld\",\"tok_s\":%.3f,\"min\":%.3f,"
                       "\"max\":%.3f,\"reps\":%ld}",
                       first ? "" : ",", nt, k ? "tg" : "pp", cnt, s.median, s.lo, s.hi, reps);
            else
                printf("| %7ld | %s%-4ld | %12.2f | %8.2f .. %8.2f |\n", nt, k ? "tg" : "pp", cnt,
                       s.median, s.lo, s.hi);
            first = false;
            fflush(stdout);
        }
    }
    if (json) printf("]\n");
    free(tok), free(pp), free(tg);
    gr_model_free(m);
    return rc;
}
