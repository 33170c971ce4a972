/* bench_grammar.c — what constrained decoding costs and what it buys (src/grammar, in the local
 * engine).
 *
 *   bench_grammar validity  [N=500] [schema indices, e.g. 1,5,10]   (tiny random model, real vocab)
 *   bench_grammar overhead  [MODEL.gguf] [reps=9] [tokens=64] [threads=2] [schema index=8]
 *
 * validity: for each schema of tests/grammar/, N generations with constraints ON (each must finish
 * by itself and validate) and N with constraints OFF (same prompt and seeds, 64 tokens; does the
 * free text parse and validate?). The model is a random-weight gemma4-e2b-tiny with the real
 * 262,144-token vocabulary (written to $TMPDIR; vocabulary from $GEMRUN_REF_DIR or
 * /tmp/gemrun-ref/vocab-gemma4.gguf). overhead: on the E2B-shaped file (default
 * /work/models/gemma4-e2b-synth-q4_0.gguf; written first with gr_synth_write, seed 1, when
 * missing), alternating constrained / unconstrained generations (order reversed every repetition)
 * of `tokens` tokens; reports per-token decode time of each (median, min..max), the difference, the
 * grammar's own time per token (mask + matcher, measured inside the engine), and the one-off
 * per-vocabulary precompute. */
#include "core/cancel.h"
#include "core/json.h"
#include "engine/engine_local.h"
#include "model/synth.h"
#include "validate/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const SCHEMAS[] = {"01_boolean.json",       "02_enum.json",
                                      "03_integer_range.json", "04_string_bounds.json",
                                      "05_flat_object.json",   "06_formats.json",
                                      "07_array_items.json",   "08_nested_objects.json",
                                      "09_anyof_oneof.json",   "10_refs_recursive.json"};

static char *read_schema(const char *name, size_t *n) {
    char path[1024];
    const char *src = getenv("GEMRUN_SRC") ? getenv("GEMRUN_SRC") : ".";
    snprintf(path, sizeof path, "%s/tests/grammar/%s", src, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (run from the repository root or set GEMRUN_SRC)\n", path);
        exit(1);
    }
    char *buf = malloc(1 << 16);
    *n = fread(buf, 1, (1 << 16) - 1, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

static gr_status gen(gr_engine *e, const gr_output_constraint *oc, uint64_t seed, int max_tokens,
                     gr_result *r) {
    gr_message msg = {.role = GR_ROLE_USER, .text = "Reply with JSON only: describe an order with a customer and lines."};
    gr_request req = {.messages = &msg, .n_messages = 1, .max_tokens = max_tokens, .output = *oc};
    req.sampling.temperature = 1.0f;
    req.sampling.seed = seed;
    return gr_engine_generate(e, &req, NULL, NULL, NULL, r);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static gr_engine *open_engine(const char *path, int threads, uint32_t n_ctx) {
    char err[256] = "";
    gr_engine *e = NULL;
    gr_local_config cfg = {.model_path = path, .n_ctx = n_ctx, .n_threads = threads};
    if (gr_local_engine_new(&cfg, &e, err, sizeof err)) {
        fprintf(stderr, "engine: %s\n", err);
        exit(1);
    }
    return e;
}

/* ---- validity
 * ------------------------------------------------------------------------------------ */

static bool valid(const gr_schema *sc, const gr_result *r) {
    char err[256];
    gr_schema_fail f;
    return r->text &&
           gr_schema_validate_text(sc, r->text, r->text_len, &f, err, sizeof err) == GR_OK;
}

static int validity(int argc, char **argv) {
    int N = argc > 2 ? atoi(argv[2]) : 500;
    const char *pick = argc > 3 ? argv[3] : NULL;
    uint64_t first =
        argc > 4 ? strtoull(argv[4], NULL, 10) : 0; /* seed offset: split a run over processes */
    const char *dir = getenv("GEMRUN_REF_DIR") ? getenv("GEMRUN_REF_DIR") : "/tmp/gemrun-ref";
    char vocab[512], model[512], err[256] = "";
    snprintf(vocab, sizeof vocab, "%s/vocab-gemma4.gguf", dir);
    snprintf(model, sizeof model, "%s/bench_grammar_tiny_%ld.gguf",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    gr_synth_opts o = {
        .preset = "gemma4-e2b-tiny", .type = "q8_0", .seed = 11, .vocab_path = vocab};
    if (gr_synth_write(&o, model, err, sizeof err)) {
        fprintf(stderr,
                "synth: %s (vocabulary: node tools/make_vocab.mjs --style gemma4 --out %s)\n", err,
                vocab);
        return 1;
    }
    gr_engine *e = open_engine(model, 1, 4096);
    printf("| schema | constrained: valid / N | finished by itself | tokens (median) | "
           "unconstrained: valid / N |\n");
    printf("|---|---|---|---|---|\n");
    bool use[11] = {false};
    for (const char *p = pick; p && *p;) { /* "1,5,10" */
        int k = atoi(p);
        if (k >= 1 && k <= 10) use[k] = true;
        p = strchr(p, ',');
        if (p) p++;
    }
    for (int s = 0; s < 10; s++) {
        if (pick && !use[s + 1]) continue;
        size_t n;
        char *text = read_schema(SCHEMAS[s], &n);
        gr_schema *sc = NULL;
        if (gr_schema_compile(text, n, &sc, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", SCHEMAS[s], err);
            return 1;
        }
        int ok_c = 0, fin = 0, ok_u = 0;
        double *toks = malloc((size_t)N * sizeof *toks);
        gr_output_constraint on = {GR_OUTPUT_JSON_SCHEMA, text}, off = {GR_OUTPUT_TEXT, NULL};
        for (int i = 0; i < N; i++) {
            gr_result r;
            const uint64_t seed = 7919u * (uint64_t)s + first + (uint64_t)i + 1;
            gen(e, &on, seed, 2000, &r);
            fin += r.status == GR_OK && r.finish == GR_FINISH_STOP;
            ok_c += r.status == GR_OK && r.finish == GR_FINISH_STOP && valid(sc, &r);
            if (!(r.status == GR_OK && r.finish == GR_FINISH_STOP && valid(sc, &r)))
                fprintf(stderr, "%s #%d failed: %s %s %.300s\n", SCHEMAS[s], i,
                        gr_finish_str(r.finish), r.error, r.text ? r.text : "");
            toks[i] = r.usage.completion_tokens;
            gr_result_clear(&r);
            gen(e, &off, seed, 64, &r);
            ok_u += valid(sc, &r);
            gr_result_clear(&r);
            if ((i + 1) % 50 == 0)
                fprintf(stderr,
                        "progress %s seeds %llu..: %d done, constrained valid %d, unconstrained "
                        "valid %d\n",
                        SCHEMAS[s], (unsigned long long)first, i + 1, ok_c, ok_u);
        }
        printf("| %s | %d / %d | %d | %.0f | %d / %d |\n", SCHEMAS[s], ok_c, N, fin,
               median(toks, N), ok_u, N);
        fflush(stdout);
        free(toks);
        gr_schema_free(sc);
        free(text);
    }
    gr_engine_destroy(e);
    unlink(model);
    return 0;
}

/* ---- overhead
 * ------------------------------------------------------------------------------------ */

static double ms_per_token(const gr_result *r) {
    return r->timings.gen_tok_s > 0 ? 1e3 / r->timings.gen_tok_s : 0;
}

static int overhead(int argc, char **argv) {
    const char *path = argc > 2 ? argv[2] : "/work/models/gemma4-e2b-synth-q4_0.gguf";
    int reps = argc > 3 ? atoi(argv[3]) : 9, tokens = argc > 4 ? atoi(argv[4]) : 64;
    int threads = argc > 5 ? atoi(argv[5]) : 2, si = argc > 6 ? atoi(argv[6]) : 8;
    if (reps < 1 || reps > 200 || tokens < 4 || si < 1 || si > 10) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    size_t n;
    char *text = read_schema(SCHEMAS[si - 1], &n);
    double t0 = gr_now();
    if (access(path, R_OK) !=
        0) { /* write the E2B-shaped file first (same recipe as bench/README.md) */
        char vocab[512], err[256] = "";
        const char *dir = getenv("GEMRUN_REF_DIR") ? getenv("GEMRUN_REF_DIR") : "/tmp/gemrun-ref";
        snprintf(vocab, sizeof vocab, "%s/vocab-gemma4.gguf", dir);
        gr_synth_opts o = {.preset = "gemma4-e2b", .type = "q4_0", .seed = 1, .vocab_path = vocab};
        if (gr_synth_write(&o, path, err, sizeof err)) {
            fprintf(stderr, "synth %s: %s\n", path, err);
            return 1;
        }
        printf("wrote %s in %.1f s\n", path, gr_now() - t0);
        t0 = gr_now();
    }
    gr_engine *e = open_engine(path, threads, 1024);
    printf("model %s loaded in %.1f s, %d threads, schema %s, %d tokens per generation\n", path,
           gr_now() - t0, threads, SCHEMAS[si - 1], tokens);
    gr_output_constraint on = {GR_OUTPUT_JSON_SCHEMA, text}, off = {GR_OUTPUT_TEXT, NULL};
    gr_result r;
    gen(e, &on, 1, 4, &r); /* warm-up; builds the per-vocabulary data once */
    printf("per-vocabulary precompute (once per engine): %.1f ms\n",
           gr_local_engine_grammar_setup_ms(e));
    gr_result_clear(&r);
    double *con = calloc((size_t)reps, sizeof *con), *unc = calloc((size_t)reps, sizeof *unc);
    double *diff = calloc((size_t)reps, sizeof *diff), *gram = calloc((size_t)reps, sizeof *gram);
    int ntok_c = 0;
    for (int i = 0; i < reps; i++) {
        for (int k = 0; k < 2; k++) {
            bool constrained = (i % 2 == 0) == (k == 0); /* C U, U C, C U, ... */
            gen(e, constrained ? &on : &off, 100 + (uint64_t)i, tokens, &r);
            if (r.status) fprintf(stderr, "generation failed: %s\n", r.error);
            if (constrained) {
                con[i] = ms_per_token(&r);
                gram[i] = gr_local_engine_last_grammar_ms(e) /
                          (r.usage.completion_tokens ? r.usage.completion_tokens : 1);
                ntok_c += r.usage.completion_tokens;
            } else {
                unc[i] = ms_per_token(&r);
            }
            gr_result_clear(&r);
        }
        diff[i] = con[i] - unc[i];
        printf("rep %d: constrained %.2f ms/token, unconstrained %.2f ms/token, grammar %.3f "
               "ms/token\n",
               i, con[i], unc[i], gram[i]);
        fflush(stdout);
    }
    double mu = median(unc, reps), mc = median(con, reps), md = median(diff, reps),
           mg = median(gram, reps);
    printf("\n| measure | median | min | max |\n|---|---|---|---|\n");
    printf("| unconstrained decode, ms/token | %.2f | %.2f | %.2f |\n", mu, unc[0], unc[reps - 1]);
    printf("| constrained decode, ms/token | %.2f | %.2f | %.2f |\n", mc, con[0], con[reps - 1]);
    printf("| paired difference (C - U), ms/token | %.2f | %.2f | %.2f |\n", md, diff[0],
           diff[reps - 1]);
    printf("| grammar time inside the engine, ms/token | %.3f | %.3f | %.3f |\n", mg, gram[0],
           gram[reps - 1]);
    printf("overhead: end-to-end %.1f %% (paired median), grammar's own time %.2f %% of "
           "unconstrained decode; "
           "%d constrained tokens in all\n",
           100 * md / mu, 100 * mg / mu, ntok_c);
    free(con), free(unc), free(diff), free(gram), free(text);
    gr_engine_destroy(e);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "validity")) return validity(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "overhead")) return overhead(argc, argv);
    fprintf(stderr, "usage: bench_grammar validity [N] [schemas] [seed offset] | overhead [MODEL] "
                    "[reps] [tokens] [threads] [schema]\n");
    return 2;
}
