/* cmd_plan.c — `gemrun plan`: the fit plan (weights + KV cache + buffers + reserve against the
 * memory budget) and the selection reason, printed before anything loads. With -m it reads only
 * the GGUF's metadata and tensor table (mmapped, no weights touched). Must not load a model. */
#include "cli/commands.h"

#include "layer/plan.h"
#include "layer/probe.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: gemrun plan [-m FILE | --model ID] [--ctx N] [--memory GIB] [--reserve GIB]\n"
        "                   [--quant q4_0|q4_k_m|q8_0|bf16] [--batch N] [--threads N] [--json]\n\n"
        "  without -m / --model: pick the largest conversational model that fits\n"
        "  --memory GIB   budget (default: the probed available RAM)\n"
        "  --reserve GIB  headroom kept free (default 1.5)\n"
        "  --ctx N        context to plan for (default 4096; shrunk if that does not fit)\n");
}

static int num(const char *name, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : NAN;
    if (!v || errno || end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "gemrun plan: %s: bad value '%s' (expected %g..%g)\n", name, v ? v : "", lo,
                hi);
        return 1;
    }
    *out = d;
    return 0;
}

static void print_plan(const gr_fit_plan *p, bool json) {
    if (json) {
        char *s = gr_plan_to_json(p);
        if (s) puts(s);
        free(s);
        return;
    }
    const double G = 1024.0 * 1024.0 * 1024.0;
    printf("model     %s (%s)\n", p->model_id[0] ? p->model_id : "(none)", gr_quant_name(p->quant));
    printf("context   %u tokens (requested %u)\n", p->n_ctx, p->n_ctx_requested);
    printf("weights   %8.3f GiB\nkv cache  %8.3f GiB\nbuffers   %8.3f GiB\nreserve   %8.3f GiB\n",
           p->weights / G, p->kv_cache / G, p->buffers / G, p->reserve / G);
    printf("total     %8.3f GiB of %.3f GiB\n", p->total / G, p->budget / G);
    printf("%s: %s\n", p->fits ? "fits" : "no fit", p->reason);
}

int cmd_plan(int argc, char **argv) {
    const char *file = NULL, *id = NULL, *quant = NULL;
    bool json = false;
    double mem = -1, res = -1, v;
    gr_plan_opts o = gr_plan_default_opts();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return usage(stdout), 0;
        if (!strcmp(a, "--json")) {
            json = true;
            continue;
        }
        if (!val) {
            fprintf(stderr, "gemrun plan: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-m"))
            file = val;
        else if (!strcmp(a, "--model"))
            id = val;
        else if (!strcmp(a, "--quant"))
            quant = val;
        else if (!strcmp(a, "--ctx")) {
            if (num("ctx", val, 1, 1 << 22, &v)) return 2;
            o.n_ctx = (uint32_t)v;
        } else if (!strcmp(a, "--batch")) {
            if (num("batch", val, 1, 65536, &v)) return 2;
            o.n_batch = (uint32_t)v;
        } else if (!strcmp(a, "--threads")) {
            if (num("threads", val, 1, 256, &v)) return 2;
            o.n_threads = (int)v;
        } else if (!strcmp(a, "--memory")) {
            if (num("memory", val, 0.001, 1048576, &mem)) return 2;
        } else if (!strcmp(a, "--reserve")) {
            if (num("reserve", val, 0, 1048576, &res)) return 2;
        } else {
            fprintf(stderr, "gemrun plan: unknown option %s\n", a);
            return usage(stderr), 2;
        }
    }
    char err[512] = "";
    if (file && id) {
        fprintf(stderr, "gemrun plan: give -m FILE or --model ID, not both\n");
        return 2;
    }
    if (quant && gr_quant_parse(quant, &o.quant, err, sizeof err)) {
        fprintf(stderr, "gemrun plan: %s\n", err);
        return 2;
    }
    if (res >= 0) o.reserve = (uint64_t)(res * 1073741824.0);
    if (mem > 0) {
        o.budget = (uint64_t)(mem * 1073741824.0);
    } else {
        gr_probe pr;
        if (gr_probe_run(&pr, NULL, err, sizeof err) || !pr.ram_available) {
            fprintf(stderr, "gemrun plan: no --memory given and RAM could not be probed\n");
            return 1;
        }
        o.budget = pr.ram_available;
    }
    gr_fit_plan p;
    gr_status s;
    if (file || id) {
        gr_model_profile prof;
        gr_gguf *g = NULL;
        if (file) {
            s = gr_gguf_open(file, &g, err, sizeof err);
            if (!s) {
                const char *base = strrchr(file, '/');
                s = gr_registry_from_gguf(g, base ? base + 1 : file, &prof, err, sizeof err);
            }
        } else {
            s = gr_registry_get(id, &prof, err, sizeof err);
        }
        if (!s) s = gr_plan_for_profile(&prof, &o, &p, err, sizeof err);
        gr_gguf_close(g);
    } else {
        s = gr_plan_select(&o, &p, err, sizeof err);
    }
    if (s) {
        fprintf(stderr, "gemrun plan: %s\n", err);
        return s == GR_E_INVALID_ARG || s == GR_E_NOT_FOUND ? 2 : 1;
    }
    print_plan(&p, json);
    return p.fits ? 0 : 3;
}
