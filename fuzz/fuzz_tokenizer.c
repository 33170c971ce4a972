/* fuzz_tokenizer.c — libFuzzer target for the tokenizers. The first input byte picks the mode:
 * even: the rest is text, encoded with a BPE (Gemma 4) or SPM (Gemma 3) vocabulary, with and
 * without special parsing, then decoded again (must round-trip unless the text holds U+2581), and
 * streamed through gr_utf8_stream and the thought filter; odd: the rest is a GGUF file whose
 * vocabulary is loaded and used. Vocabularies are small ones built here, or the GGUF named by
 * $GEMRUN_FUZZ_VOCAB. Must not write files. */
#include "text/chat.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bb {
    unsigned char *b;
    size_t n, cap;
} bb;

static void put(bb *x, const void *p, size_t n) {
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        if (!x->b) abort();
    }
    memcpy(x->b + x->n, p, n);
    x->n += n;
}
static void le(bb *x, unsigned long long v, int n) {
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        put(x, &c, 1);
    }
}
static void str(bb *x, const char *s) {
    le(x, strlen(s), 8);
    put(x, s, strlen(s));
}

static const char *text_tokens[] = {"a", "b", "ab", "\xE2\x96\x81", ("\xE2\x96\x81" "a"), "\n",
                                    "\n\n", "abc", "c", "bc", "\xC3\xA9", "<s>"};

/* A vocabulary with specials, all 256 byte tokens and a few merges/scores. */
static bb small_vocab(bool spm) {
    static const char *head[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>",
                                 "<|channel>", "<channel|>"};
    static const int head_ty[] = {3, 3, 3, 2, 3, 3, 4, 4};
    size_t nt = sizeof text_tokens / sizeof *text_tokens, n = 8 + 256 + nt;
    bb x = {0};
    put(&x, "GGUF", 4);
    le(&x, 3, 4);
    le(&x, 0, 8);
    le(&x, 5, 8);
    str(&x, "tokenizer.ggml.model");
    le(&x, 8, 4);
    str(&x, spm ? "llama" : "gemma4");
    str(&x, "tokenizer.ggml.tokens");
    le(&x, 9, 4);
    le(&x, 8, 4);
    le(&x, n, 8);
    for (int i = 0; i < 8; i++) str(&x, head[i]);
    for (int c = 0; c < 256; c++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", c);
        str(&x, name);
    }
    for (size_t i = 0; i < nt; i++) str(&x, text_tokens[i]);
    str(&x, "tokenizer.ggml.token_type");
    le(&x, 9, 4);
    le(&x, 5, 4);
    le(&x, n, 8);
    for (size_t i = 0; i < n; i++) le(&x, i < 8 ? (unsigned)head_ty[i] : i < 264 ? 6u : i == n - 1 ? 4u : 1u, 4);
    str(&x, "tokenizer.ggml.scores");
    le(&x, 9, 4);
    le(&x, 6, 4);
    le(&x, n, 8);
    for (size_t i = 0; i < n; i++) {
        float f = -(float)(i % 7);
        unsigned u;
        memcpy(&u, &f, 4);
        le(&x, u, 4);
    }
    static const char *merges[] = {"a b", "ab c", "b c", "\xE2\x96\x81 a", "\n \n"};
    str(&x, "tokenizer.ggml.merges");
    le(&x, 9, 4);
    le(&x, 8, 4);
    le(&x, 5, 8);
    for (int i = 0; i < 5; i++) str(&x, merges[i]);
    while (x.n % 32) le(&x, 0, 1);
    return x;
}

typedef struct vocab {
    bb file;
    gr_gguf *g;
    gr_tokenizer *t;
} vocab;

static gr_tokenizer *load(vocab *v, bool spm) {
    char err[256];
    const char *path = getenv("GEMRUN_FUZZ_VOCAB");
    if (path) {
        if (gr_gguf_open(path, &v->g, err, sizeof err)) abort();
    } else {
        v->file = small_vocab(spm);
        if (gr_gguf_open_memory(v->file.b, v->file.n, &v->g, err, sizeof err)) abort();
    }
    if (gr_tokenizer_from_gguf(v->g, &v->t, err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    return v->t;
}

static void check_text(const gr_tokenizer *t, const char *s, size_t n, bool special) {
    static int32_t ids[1 << 16];
    char err[128], piece[256];
    size_t nid;
    if (gr_tokenize(t, s, n, true, special, ids, 1 << 16, &nid, err, sizeof err)) abort();
    if (nid > (1 << 16) || nid < 1 || ids[0] != gr_tokenizer_bos(t)) abort();
    bool marker = false;
    for (size_t i = 0; i + 2 < n; i++)
        marker |= (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
                  (unsigned char)s[i + 2] == 0x81;
    bool starts_bos = special && n >= 5 && !memcmp(s, "<bos>", 5);
    size_t pos = 0;
    for (size_t i = starts_bos ? 0 : 1; i < nid; i++) {
        size_t k = gr_token_piece(t, ids[i], special, piece, sizeof piece);
        if (k > sizeof piece) abort();
        if (!marker && (pos + k > n || memcmp(s + pos, piece, k))) abort(); /* round trip */
        pos += k;
    }
    if (!marker && pos != n) abort();
}

static void check_streams(const char *s, size_t n) {
    gr_utf8_stream us = {0};
    gr_thought_filter tf;
    gr_thought_filter_init(&tf);
    char out[3 * 7 + 16], ans[sizeof out + 16], th[sizeof out + 16];
    for (size_t i = 0; i < n; i += 7) {
        size_t k = n - i < 7 ? n - i : 7, u, na, nt;
        u = gr_utf8_stream_feed(&us, s + i, k, out, sizeof out);
        gr_thought_filter_feed(&tf, out, u, ans, &na, th, &nt);
    }
    size_t u = gr_utf8_stream_flush(&us, out, sizeof out), na, nt;
    gr_thought_filter_feed(&tf, out, u, ans, &na, th, &nt);
    gr_thought_filter_flush(&tf, ans, &na, th, &nt);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static vocab bpe, spm;
    static gr_tokenizer *tb, *ts;
    if (!tb) tb = load(&bpe, false), ts = load(&spm, true);
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] % 2 == 0) {
        const gr_tokenizer *t = data[0] & 2 ? ts : tb;
        check_text(t, s, n, data[0] & 4);
        check_streams(s, n);
        return 0;
    }
    gr_gguf *g;
    gr_tokenizer *t;
    char err[256];
    if (gr_gguf_open_memory(s, n, &g, err, sizeof err)) return 0;
    if (gr_tokenizer_from_gguf(g, &t, err, sizeof err) == GR_OK) {
        size_t nid;
        gr_tokenize(t, "ab <|turn>\n\n\xFF\xC3\xA9 x", 16, true, true, NULL, 0, &nid, err, sizeof err);
        char piece[64];
        for (int32_t id = 0; id < gr_tokenizer_n_vocab(t) && id < 512; id++)
            gr_token_piece(t, id, true, piece, sizeof piece);
        gr_tokenizer_free(t);
    }
    gr_gguf_close(g);
    return 0;
}
