/* cmd_synth.c — `gemrun synth`: write a random-weight Gemma GGUF of a preset's exact shape.
 * Option parsing and reporting only; the writer is gr_synth_write (src/model/synth.c). */
#include "cli/commands.h"
#include "model/synth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: gemrun synth --preset NAME [--type TYPE] -o FILE [--vocab VOCAB.gguf]\n"
            "                    [--seed N] [--layers N] [--n-vocab N]\n\n"
            "  --type    f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m (default f32)\n"
            "  --vocab   tokenizer-only GGUF whose tokenizer.* keys are copied (llama.cpp needs them)\n"
            "  --list    print the preset names\n\npresets:");
    for (size_t i = 0; i < gr_synth_preset_count(); i++)
        fprintf(f, "%s%s", i % 4 ? " " : "\n  ", gr_synth_preset_name(i));
    fprintf(f, "\n");
}

static int parse_u64(const char *s, unsigned long long *v) {
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-') return -1;
    *v = strtoull(s, &end, 10);
    return (errno || *end) ? -1 : 0;
}

int cmd_synth(int argc, char **argv) {
    gr_synth_opts o = {0};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long n = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            synth_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list")) {
            for (size_t k = 0; k < gr_synth_preset_count(); k++) puts(gr_synth_preset_name(k));
            return 0;
        }
        if (!v) {
            fprintf(stderr, "gemrun synth: %s needs a value (or unknown option)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--preset")) o.preset = v;
        else if (!strcmp(a, "--type")) o.type = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--vocab")) o.vocab_path = v;
        else if (!strcmp(a, "--seed") && !parse_u64(v, &n)) o.seed = n;
        else if (!strcmp(a, "--layers") && !parse_u64(v, &n) && n > 0 && n <= 256) o.n_layers = (uint32_t)n;
        else if (!strcmp(a, "--n-vocab") && !parse_u64(v, &n) && n > 0 && n < (1u << 31)) o.n_vocab = (uint32_t)n;
        else {
            fprintf(stderr, "gemrun synth: bad option or value: %s %s\n", a, v);
            return 2;
        }
    }
    if (!o.preset || !out) {
        fprintf(stderr, "gemrun synth: --preset and -o are required\n");
        synth_usage(stderr);
        return 2;
    }
    char err[512] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gr_status st = gr_synth_write(&o, out, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (st != GR_OK) {
        fprintf(stderr, "gemrun synth: %s (%s)\n", err[0] ? err : "failed", gr_status_str(st));
        return 1;
    }
    fprintf(stderr, "gemrun synth: wrote %s (%s, %s) in %.1f s\n", out, o.preset,
            o.type ? o.type : "f32",
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
