/* tiny_vocab.h — one writer for the tiny tokenizer-only GGUFs the engine tests load with
 * `gemrun synth --vocab`-style copying: the given specials first (<unk> at id 3 is UNKNOWN, the rest
 * CONTROL), then the 256 byte tokens <0xNN> (BYTE), then the given words (NORMAL); BOS = 2, EOS = 1.
 * With merges: a BPE vocabulary; without: per-token scores -id (an SPM-style vocabulary).
 * Include after <cmocka.h>; for test programs only. */
#ifndef GR_TESTS_TINY_VOCAB_H
#define GR_TESTS_TINY_VOCAB_H

#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct tiny_vocab {
    const char *model; /* tokenizer.ggml.model, e.g. "gemma4" */
    const char *const *specials;
    size_t n_specials;
    const char *const *words;
    size_t n_words;
    const char *const *merges; /* NULL: scores instead */
    size_t n_merges;
} tiny_vocab;

static void tiny_vocab_write(const char *path, const tiny_vocab *v) {
    static char bytes[256][8];
    const size_t n = v->n_specials + 256 + v->n_words;
    const char **toks = malloc(n * sizeof *toks);
    int32_t *types = malloc(n * sizeof *types);
    float *scores = malloc(n * sizeof *scores);
    assert_true(toks && types && scores);
    size_t k = 0;
    for (size_t i = 0; i < v->n_specials; i++, k++) toks[k] = v->specials[i], types[k] = i == 3 ? 2 : 3;
    for (int c = 0; c < 256; c++, k++) {
        snprintf(bytes[c], sizeof bytes[c], "<0x%02X>", c);
        toks[k] = bytes[c], types[k] = 6;
    }
    for (size_t i = 0; i < v->n_words; i++, k++) toks[k] = v->words[i], types[k] = 1;
    for (size_t i = 0; i < n; i++) scores[i] = -(float)i;
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    assert_non_null(w);
    assert_int_equal(gr_gguf_set_str(w, "tokenizer.ggml.model", v->model), GR_OK);
    assert_int_equal(gr_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, n), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "tokenizer.ggml.token_type", GR_GGUF_INT32, types, n), GR_OK);
    if (v->merges)
        assert_int_equal(gr_gguf_set_arr_str(w, "tokenizer.ggml.merges", v->merges, v->n_merges), GR_OK);
    else
        assert_int_equal(gr_gguf_set_arr(w, "tokenizer.ggml.scores", GR_GGUF_FLOAT32, scores, n), GR_OK);
    assert_int_equal(gr_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 2), GR_OK);
    assert_int_equal(gr_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 1), GR_OK);
    char err[256] = "";
    gr_status s = gr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err);
    if (s) fail_msg("vocab %s: %s", path, err);
    gr_gguf_writer_free(w);
    free(toks), free(types), free(scores);
}

#define TINY_VOCAB_COUNT(a) (sizeof(a) / sizeof *(a))

#endif
