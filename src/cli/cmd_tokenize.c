/* cmd_tokenize.c — `gemrun tokenize`: print the token ids (or pieces) of a text with the vocabulary
 * of a GGUF file. --batch reads length-prefixed records from stdin (u32 little-endian byte count,
 * then the bytes) and prints one line of ids per record, checking decode(encode(x)) == x; the
 * reference tests and the tokenizer benchmark drive it this way (one process, many strings).
 * Must not hold model weights: only the vocabulary is read. */
#include "cli/commands.h"
#include "cli/pull_ui.h"
#include "core/cancel.h"
#include "gguf/gguf.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct opts {
    const char *model, *file, *text;
    bool pieces, bos, special, batch, roundtrip;
    int repeat;
} opts;

static void usage(FILE *f) {
    fprintf(f, "usage: gemrun tokenize -m MODEL [--ids|--pieces] [--no-bos] [--no-special]\n"
               "                       (TEXT | --file F | --batch [--repeat N] [--no-roundtrip])\n"
               "  --ids         print ids on one line (default)\n"
               "  --pieces      print one token per line: id, type and piece\n"
               "  --no-bos      do not prepend BOS\n"
               "  --no-special  encode special-token strings as plain text\n"
               "  --batch       stdin holds records (u32 LE length + bytes); one line of ids each;\n"
               "                a line starting with '!' marks a failed round trip\n");
}

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){.bos = true, .special = true, .roundtrip = true, .repeat = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) o->model = argv[++i];
        else if (!strcmp(a, "--file") && i + 1 < argc) o->file = argv[++i];
        else if (!strcmp(a, "--ids")) o->pieces = false;
        else if (!strcmp(a, "--pieces")) o->pieces = true;
        else if (!strcmp(a, "--no-bos")) o->bos = false;
        else if (!strcmp(a, "--no-special")) o->special = false;
        else if (!strcmp(a, "--batch")) o->batch = true;
        else if (!strcmp(a, "--no-roundtrip")) o->roundtrip = false;
        else if (!strcmp(a, "--repeat") && i + 1 < argc) o->repeat = atoi(argv[++i]);
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "gemrun tokenize: unknown option %s\n", a); return 2; }
        else if (!o->text) o->text = a;
        else { fprintf(stderr, "gemrun tokenize: one TEXT only\n"); return 2; }
    }
    if (!o->model || (!o->batch && !o->text == !o->file) || o->repeat < 1) {
        usage(stderr);
        return 2;
    }
    return -1;
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) { free(b); return NULL; }
        b = nb;
    }
    *len = n;
    return b;
}

static gr_status load_tok(const char *path, gr_tokenizer **t, char *err, size_t errlen) {
    gr_gguf *g;
    gr_status s = gr_gguf_open(path, &g, err, errlen);
    if (s) return s;
    s = gr_tokenizer_from_gguf(g, t, err, errlen);
    gr_gguf_close(g);
    return s;
}

/* Encode into a growing buffer. */
static gr_status encode(const gr_tokenizer *t, const char *s, size_t n, const opts *o,
                        int32_t **ids, size_t *cap, size_t *nid) {
    char err[256];
    gr_status st = gr_tokenize(t, s, n, o->bos, o->special, *ids, *cap, nid, err, sizeof err);
    if (st == GR_OK && *nid > *cap) {
        int32_t *ni = realloc(*ids, *nid * sizeof **ids);
        if (!ni) return GR_E_NOMEM;
        *ids = ni;
        *cap = *nid;
        st = gr_tokenize(t, s, n, o->bos, o->special, *ids, *cap, nid, err, sizeof err);
    }
    if (st) fprintf(stderr, "gemrun tokenize: %s\n", err);
    return st;
}

/* decode(ids) == s? Skips a leading BOS that add_bos inserted. */
static bool roundtrip_ok(const gr_tokenizer *t, const int32_t *ids, size_t n, const char *s,
                         size_t len, const opts *o) {
    size_t pos = 0, i = 0;
    char buf[512];
    if (o->bos && n && ids[0] == gr_tokenizer_bos(t) &&
        !(len >= 5 && !memcmp(s, "<bos>", 5) && o->special))
        i = 1;
    for (; i < n; i++) {
        size_t k = gr_token_piece(t, ids[i], o->special, buf, sizeof buf);
        if (k > sizeof buf || pos + k > len || memcmp(s + pos, buf, k)) return false;
        pos += k;
    }
    return pos == len;
}

static int run_batch(const gr_tokenizer *t, const opts *o) {
    size_t len;
    char *in = read_all(stdin, &len);
    if (!in) { fprintf(stderr, "gemrun tokenize: cannot read stdin\n"); return 1; }
    size_t cap = 1 << 16, nid = 0, records = 0, tokens = 0, bytes = 0, rt_fail = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    int rc = 0;
    double t_enc = 0, c_enc = 0; /* wall and CPU seconds: CPU time is stable on a shared machine */
    for (size_t p = 0; p < len && rc == 0;) {
        if (len - p < 4) { fprintf(stderr, "gemrun tokenize: truncated record header\n"); rc = 1; break; }
        uint32_t n = (uint32_t)(unsigned char)in[p] | (uint32_t)(unsigned char)in[p + 1] << 8 |
                     (uint32_t)(unsigned char)in[p + 2] << 16 | (uint32_t)(unsigned char)in[p + 3] << 24;
        p += 4;
        if (n > len - p) { fprintf(stderr, "gemrun tokenize: truncated record\n"); rc = 1; break; }
        double t0 = gr_now();
        clock_t c0 = clock();
        for (int r = 0; r < o->repeat && rc == 0; r++)
            if (encode(t, in + p, n, o, &ids, &cap, &nid)) rc = 1;
        t_enc += gr_now() - t0;
        c_enc += (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (rc) break;
        bool ok = !o->roundtrip || roundtrip_ok(t, ids, nid, in + p, n, o);
        rt_fail += !ok;
        if (!ok) fputc('!', stdout);
        for (size_t i = 0; i < nid; i++) printf(i ? " %d" : "%d", ids[i]);
        fputc('\n', stdout);
        records++;
        tokens += nid;
        bytes += n;
        p += n;
    }
    fprintf(stderr, "batch: %zu records, %zu bytes, %zu tokens, %zu round-trip failures, "
            "encode %.6f s (%.2f MB/s), cpu %.6f s (%.2f MB/s cpu)\n", records, bytes, tokens,
            rt_fail, t_enc, t_enc > 0 ? (double)bytes * o->repeat / t_enc / 1e6 : 0.0, c_enc,
            c_enc > 0 ? (double)bytes * o->repeat / c_enc / 1e6 : 0.0);
    free(ids);
    free(in);
    return rc ? rc : (rt_fail ? 3 : 0);
}

static void print_piece(const gr_tokenizer *t, int32_t id) {
    char buf[1024];
    size_t k = gr_token_piece(t, id, true, buf, sizeof buf);
    printf("%d\t%d\t'", id, gr_tokenizer_token_type(t, id));
    for (size_t i = 0; i < k && i < sizeof buf; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02X", c);
        else fputc(c, stdout);
    }
    fputs("'\n", stdout);
}

int cmd_tokenize(int argc, char **argv) {
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[512];
    gr_tokenizer *t;
    char path[4096];
    cli_model_opts mo = {0};
    if (cli_model_path("tokenize", o.model, &mo, path, sizeof path)) return 1;
    double t0 = gr_now();
    if (load_tok(path, &t, err, sizeof err)) {
        fprintf(stderr, "gemrun tokenize: %s: %s\n", o.model, err);
        return 1;
    }
    if (getenv("GEMRUN_TOKENIZE_TIMING"))
        fprintf(stderr, "vocabulary loaded in %.3f s (%d tokens)\n", gr_now() - t0,
                gr_tokenizer_n_vocab(t));
    if (o.batch) {
        rc = run_batch(t, &o);
        gr_tokenizer_free(t);
        return rc;
    }
    size_t len = o.text ? strlen(o.text) : 0;
    char *buf = NULL;
    if (o.file) {
        FILE *f = fopen(o.file, "rb");
        if (!f || !(buf = read_all(f, &len))) {
            fprintf(stderr, "gemrun tokenize: cannot read %s\n", o.file);
            if (f) fclose(f);
            gr_tokenizer_free(t);
            return 1;
        }
        fclose(f);
    }
    size_t cap = 1024, nid = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    rc = ids && !encode(t, o.file ? buf : o.text, len, &o, &ids, &cap, &nid) ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < nid; i++) {
        if (o.pieces) print_piece(t, ids[i]);
        else printf(i + 1 < nid ? "%d " : "%d", ids[i]);
    }
    if (rc == 0 && !o.pieces) putchar('\n');
    free(ids);
    free(buf);
    gr_tokenizer_free(t);
    return rc;
}
