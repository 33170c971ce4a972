/* cmd_run.c — `gemrun run`: one prompt in, generated text out (streamed to stdout), speeds on
 * stderr; optional JSON summary and a raw f32 dump of the logits of every evaluated position
 * (the reference harness compares those with llama.cpp). Must not contain model math. */
#include "cli/commands.h"
#include "cli/pull_ui.h"
#include "cli/run_cloud.h"
#include "cli/run_structured.h"

#include "core/cancel.h"
#include "decode/sampler.h"
#include "model/model.h"
#include "text/tokenizer.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run_opts {
    const char *model, *prompt, *tokens, *dump;
    const char *schema, *output; /* structured output (run_structured.c) */
    const char *engine;          /* "local" (default) or "cloud" (run_cloud.c) */
    cli_cloud cloud;
    int n_predict, threads;
    uint32_t ctx, batch;
    bool json, no_bos, ignore_eos;
    cli_model_opts mo;
    gr_sampler_params sp;
} run_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: gemrun run [-m MODEL] (-p TEXT | --tokens ID,ID,...) [options]\n\n"
            "  -m, --model MODEL    a GGUF file, a cache entry, or a registry id / OWNER/REPO/FILE.gguf /\n"
            "                       URL, downloaded on first use (docs/pull.md); default: the model\n"
            "                       the fit plan picks for this machine\n"
            "  --offline            never download (also GEMRUN_OFFLINE=1)\n"
            "  -n N                 tokens to generate (default 64)\n"
            "  --temp T             temperature, <= 0 greedy (default 0.8)\n"
            "  --top-k K --top-p P --min-p P\n"
            "  --repeat-penalty R --repeat-last-n N --presence-penalty P --frequency-penalty P\n"
            "  --seed N             sampling seed (default 0)\n"
            "  -t, --threads N      threads (default 2)\n"
            "  -c, --ctx N          context length (default: prompt + n)\n"
            "  -b, --batch N        prompt tokens per forward chunk (default 512)\n"
            "  --json               print one JSON object at the end\n"
            "  --dump-logits PATH   write f32 logits of every evaluated position\n"
            "  --no-bos             do not prepend BOS to -p text (--tokens ids are used as given)\n"
            "  --ignore-eos         do not stop at end-of-generation tokens\n"
            "  --engine local|cloud run on the local model (default) or a cloud endpoint (docs/cloud.md)\n"
            "  --cloud-protocol gemini|openai  --cloud-url URL  --cloud-model M  --cloud-config FILE\n"
            "                       (or $GEMRUN_CLOUD_PROTOCOL/_URL/_MODEL, $GEMRUN_CONFIG; key from\n"
            "                       $GEMINI_API_KEY / $OPENAI_API_KEY)\n"
            "  --schema FILE        answer with JSON valid against this JSON Schema (chat template,\n"
            "                       constrained decoding, validated; docs/structured.md)\n"
            "  --output KIND        json | mermaid | svg | text: validated structured answer; only a\n"
            "                       valid answer is printed, else exit 3 with the error on stderr\n");
}

static bool num(const char *s, double lo, double hi, double *out) {
    if (!s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Returns 0 ok, 1 error, 2 help. */
static int parse(int argc, char **argv, run_opts *o) {
    o->n_predict = 64;
    o->threads = 2;
    o->batch = 512;
    o->sp = gr_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
#define NUM(lo, hi) (num(v, lo, hi, &d) ? (i++, true) : (fprintf(stderr, "gemrun run: bad value for %s\n", a), false))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return 2;
        else if (!strcmp(a, "--json")) o->json = true;
        else if (!strcmp(a, "--no-bos")) o->no_bos = true;
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = true;
        else if (!strcmp(a, "--offline")) o->mo.offline = true;
        else if (!v) {
            fprintf(stderr, "gemrun run: %s needs a value (or is unknown)\n", a);
            return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v, i++;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v, i++;
        else if (!strcmp(a, "--tokens")) o->tokens = v, i++;
        else if (!strcmp(a, "--dump-logits")) o->dump = v, i++;
        else if (!strcmp(a, "--schema")) o->schema = v, i++;
        else if (!strcmp(a, "--output")) o->output = v, i++;
        else if (!strcmp(a, "--engine")) o->engine = v, i++;
        else if (!strcmp(a, "--cloud-protocol")) o->cloud.protocol = v, i++;
        else if (!strcmp(a, "--cloud-url")) o->cloud.url = v, i++;
        else if (!strcmp(a, "--cloud-model")) o->cloud.model = v, i++;
        else if (!strcmp(a, "--cloud-config")) o->cloud.config = v, i++;
        else if (!strcmp(a, "-n")) { if (!NUM(0, 1e7)) return 1; o->n_predict = (int)d; }
        else if (!strcmp(a, "--temp")) { if (!NUM(-1e9, 1e9)) return 1; o->sp.temp = (float)d; }
        else if (!strcmp(a, "--top-k")) { if (!NUM(0, 1e9)) return 1; o->sp.top_k = (int32_t)d; }
        else if (!strcmp(a, "--top-p")) { if (!NUM(0, 1)) return 1; o->sp.top_p = (float)d; }
        else if (!strcmp(a, "--min-p")) { if (!NUM(0, 1)) return 1; o->sp.min_p = (float)d; }
        else if (!strcmp(a, "--repeat-penalty")) { if (!NUM(1e-6, 1e6)) return 1; o->sp.repeat_penalty = (float)d; }
        else if (!strcmp(a, "--repeat-last-n")) { if (!NUM(0, 1e6)) return 1; o->sp.repeat_last_n = (int32_t)d; }
        else if (!strcmp(a, "--presence-penalty")) { if (!NUM(-1e6, 1e6)) return 1; o->sp.presence_penalty = (float)d; }
        else if (!strcmp(a, "--frequency-penalty")) { if (!NUM(-1e6, 1e6)) return 1; o->sp.frequency_penalty = (float)d; }
        else if (!strcmp(a, "--seed")) { if (!NUM(0, 1.8e19)) return 1; o->sp.seed = (uint64_t)d; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!NUM(1, 256)) return 1; o->threads = (int)d; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) { if (!NUM(1, 1 << 24)) return 1; o->ctx = (uint32_t)d; }
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) { if (!NUM(1, 1 << 20)) return 1; o->batch = (uint32_t)d; }
        else {
            fprintf(stderr, "gemrun run: unknown option %s\n", a);
            return 1;
        }
#undef NUM
    }
    if (o->engine && strcmp(o->engine, "local") && strcmp(o->engine, "cloud")) {
        fprintf(stderr, "gemrun run: --engine: expected local or cloud\n");
        return 1;
    }
    if (o->engine && !strcmp(o->engine, "cloud")) {
        if (o->prompt && !o->tokens && !o->dump) return 0;
        fprintf(stderr, "gemrun run: --engine cloud needs -p TEXT (no --tokens, no --dump-logits)\n");
        return 1;
    }
    if (!o->prompt == !o->tokens) {
        fprintf(stderr, "gemrun run: need exactly one of -p TEXT / --tokens IDS\n");
        return 1;
    }
    return 0;
}

static int32_t *parse_ids(const char *s, size_t *n) {
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = s;
    while (ids && *p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            free(ids);
            return NULL;
        }
        if (k == cap) {
            int32_t *t = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!t) return free(ids), NULL;
            ids = t;
        }
        ids[k++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    *n = k;
    return ids;
}

static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch == '\r') fputs("\\r", f);
        else if (ch == '\t') fputs("\\t", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

typedef struct outbuf {
    char *p;
    size_t n, cap;
} outbuf;

static void out_add(outbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *t = realloc(b->p, cap);
        if (!t) return;
        b->p = t, b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static bool dump_logits(FILE *f, const gr_context *c, int32_t i, uint32_t V) {
    const float *l = gr_context_logits(c, i);
    return l && fwrite(l, sizeof(float), V, f) == V;
}

/* --schema / --output: the chat goes through the structured-output pipeline instead. */
static int run_structured(const run_opts *o) {
    if (!o->prompt || o->dump) {
        fprintf(stderr, "gemrun run: --schema/--output need -p TEXT and no --dump-logits\n");
        return 2;
    }
    cli_structured c = {.output = o->output, .schema_path = o->schema, .prompt = o->prompt,
                        .model_path = o->model, .n_ctx = o->ctx, .n_threads = o->threads,
                        .max_tokens = o->n_predict, .repairs = -1, .json = o->json};
    c.sampling = (gr_sampling){.temperature = o->sp.temp > 0 ? o->sp.temp : 0, .top_k = o->sp.top_k,
                               .top_p = o->sp.top_p, .min_p = o->sp.min_p,
                               .repeat_penalty = o->sp.repeat_penalty, .seed = o->sp.seed};
    return cli_run_structured(&c);
}

/* --engine cloud: the prompt goes to the cloud endpoint (streamed), or through the structured
 * pipeline with the cloud engine as its primary when --schema/--output is given. */
static int run_cloud(const run_opts *o) {
    gr_engine *e = cli_cloud_engine(&o->cloud);
    if (!e) return 1;
    gr_sampling sp = {.temperature = o->sp.temp > 0 ? o->sp.temp : 0, .top_k = o->sp.top_k,
                      .top_p = o->sp.top_p, .seed = o->sp.seed};
    if (!o->schema && !o->output) return cli_run_cloud(e, o->prompt, o->n_predict, &sp, o->json);
    cli_structured c = {.output = o->output, .schema_path = o->schema, .prompt = o->prompt,
                        .max_tokens = o->n_predict, .sampling = sp, .primary = e, .repairs = -1,
                        .json = o->json};
    return cli_run_structured(&c);
}

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    int pr = parse(argc, argv, &o);
    if (pr == 2) return usage(stdout), 0;
    if (pr) return usage(stderr), 2;
    if (o.engine && !strcmp(o.engine, "cloud")) return run_cloud(&o);
    char path[4096];
    if (cli_model_path("run", o.model, &o.mo, path, sizeof path)) return 1;
    o.model = path;
    if (o.schema || o.output) return run_structured(&o);
    char err[512] = "";
    gr_model *m = NULL;
    if (gr_model_load(o.model, &m, err, sizeof err)) {
        fprintf(stderr, "gemrun run: %s\n", err);
        return 1;
    }
    const uint32_t V = gr_model_config(m)->n_vocab;
    gr_tokenizer *tk = NULL;
    if (gr_tokenizer_from_gguf(gr_model_gguf(m), &tk, err, sizeof err) != GR_OK) tk = NULL;
    int rc = 1;
    int32_t *prompt = NULL, *gen = NULL;
    size_t np = 0;
    gr_context *c = NULL;
    gr_sampler *smp = NULL;
    FILE *df = NULL;
    outbuf text = {0};
    if (o.tokens) {
        if (!(prompt = parse_ids(o.tokens, &np)) || np == 0) {
            fprintf(stderr, "gemrun run: --tokens: expected comma-separated ids\n");
            goto done;
        }
    } else {
        if (!tk) {
            fprintf(stderr, "gemrun run: the model has no usable tokenizer (%s); use --tokens\n", err);
            goto done;
        }
        size_t len = strlen(o.prompt), cap = len + 16;
        prompt = malloc(cap * sizeof *prompt);
        if (!prompt || gr_tokenize(tk, o.prompt, len, !o.no_bos, true, prompt, cap, &np, err,
                                   sizeof err) != GR_OK || np > cap) {
            fprintf(stderr, "gemrun run: tokenize: %s\n", err);
            goto done;
        }
    }
    if (np == 0) {
        fprintf(stderr, "gemrun run: empty prompt\n");
        goto done;
    }
    gr_context_params cp = gr_context_default_params();
    cp.n_threads = o.threads;
    cp.n_batch = o.batch;
    cp.n_ctx = o.ctx ? o.ctx : (uint32_t)(np + (size_t)o.n_predict);
    cp.all_logits = o.dump != NULL;
    /* all_logits keeps n_batch rows of n_vocab floats: keep that buffer modest */
    if (o.dump && cp.n_batch > 64) cp.n_batch = 64;
    if (gr_context_new(m, &cp, &c, err, sizeof err) ||
        gr_sampler_new(&o.sp, (int32_t)V, &smp, err, sizeof err)) {
        fprintf(stderr, "gemrun run: %s\n", err);
        goto done;
    }
    if (o.dump && !(df = fopen(o.dump, "wb"))) {
        fprintf(stderr, "gemrun run: cannot open %s: %s\n", o.dump, strerror(errno));
        goto done;
    }
    gen = malloc(((size_t)o.n_predict + 1) * sizeof *gen);
    if (!gen) goto done;
    /* Prompt: in n_batch calls when dumping (all_logits keeps one call's rows). */
    const double t0 = gr_now();
    const uint32_t step = o.dump ? cp.n_batch : (uint32_t)np;
    for (size_t i = 0; i < np; i += step) {
        uint32_t n = (uint32_t)(np - i < step ? np - i : step);
        if (gr_context_eval(c, prompt + i, n, NULL, err, sizeof err)) {
            fprintf(stderr, "gemrun run: %s\n", err);
            goto done;
        }
        for (uint32_t j = 0; df && j < n; j++)
            if (!dump_logits(df, c, (int32_t)j, V)) goto dump_fail;
    }
    const double t1 = gr_now();
    for (size_t i = 0; i < np; i++) gr_sampler_accept(smp, prompt[i]);
    gr_utf8_stream us = {0};
    int ngen = 0;
    char piece[256], utf[512];
    while (ngen < o.n_predict) {
        const int32_t id = gr_sampler_sample(smp, gr_context_logits(c, -1));
        if (tk && !o.ignore_eos && gr_tokenizer_is_eog(tk, id)) break;
        gen[ngen++] = id;
        gr_sampler_accept(smp, id);
        if (tk) {
            size_t pl = gr_token_piece(tk, id, false, piece, sizeof piece);
            size_t ul = gr_utf8_stream_feed(&us, piece, pl < sizeof piece ? pl : sizeof piece,
                                            utf, sizeof utf);
            out_add(&text, utf, ul);
            if (!o.json) fwrite(utf, 1, ul, stdout);
        } else if (!o.json) {
            printf("%s%d", ngen > 1 ? " " : "", id);
        }
        if (!o.json) fflush(stdout);
        if (gr_context_n_past(c) >= gr_context_n_ctx(c)) break;
        if (gr_context_eval(c, &id, 1, NULL, err, sizeof err)) {
            fprintf(stderr, "\ngemrun run: %s\n", err);
            goto done;
        }
        if (df && !dump_logits(df, c, 0, V)) goto dump_fail;
    }
    const double t2 = gr_now();
    if (tk) {
        size_t ul = gr_utf8_stream_flush(&us, utf, sizeof utf);
        out_add(&text, utf, ul);
        if (!o.json) fwrite(utf, 1, ul, stdout);
    }
    const double pp = (double)np / (t1 - t0 > 0 ? t1 - t0 : 1e-9);
    const double tg = ngen ? (double)ngen / (t2 - t1 > 0 ? t2 - t1 : 1e-9) : 0;
    if (!o.json) {
        printf("\n");
        fflush(stdout); /* before the stats on stderr, so a shared log keeps the order */
    }
    fprintf(stderr, "prompt: %zu tokens, %.2f tok/s | generation: %d tokens, %.2f tok/s\n", np, pp,
            ngen, tg);
    if (o.json) {
        printf("{\"prompt_tokens\":[");
        for (size_t i = 0; i < np; i++) printf("%s%d", i ? "," : "", prompt[i]);
        printf("],\"tokens\":[");
        for (int i = 0; i < ngen; i++) printf("%s%d", i ? "," : "", gen[i]);
        printf("],\"text\":");
        json_str(stdout, text.p ? text.p : "", text.n);
        printf(",\"prompt_tok_s\":%.3f,\"gen_tok_s\":%.3f}\n", pp, tg);
    }
    rc = 0;
    goto done;
dump_fail:
    fprintf(stderr, "gemrun run: writing %s failed\n", o.dump);
done:
    if (df && fclose(df) && rc == 0) rc = 1;
    free(text.p);
    free(prompt);
    free(gen);
    gr_sampler_free(smp);
    gr_context_free(c);
    if (tk) gr_tokenizer_free(tk);
    gr_model_free(m);
    return rc;
}
