/* test_tokenizer.c — tests of the Gemma 4 BPE and Gemma 3 SPM tokenizers on small vocabularies
 * encoded here byte by byte as GGUF (expected ids are derived by hand from the merge ranks and
 * scores), BOS rules, special-token splitting, byte fallback for invalid UTF-8 and NUL, megabyte
 * lines, detokenization and the streaming UTF-8 decoder, and malformed vocabularies (missing merges,
 * missing byte tokens, wrong array lengths). The comparison with the real Gemma tokenizer is in
 * tests/text/tokenizer_ref.test.mjs. Must not depend on files outside the repository. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include "core/cancel.h"
#include "text/chat.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny GGUF encoder (independent of src/gguf's writer) ---- */

typedef struct bb {
    uint8_t *b;
    size_t n, cap;
} bb;

static void bb_put(bb *x, const void *p, size_t n) {
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        assert_non_null(x->b);
    }
    if (n) memcpy(x->b + x->n, p, n);
    x->n += n;
}
static void bb_le(bb *x, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        bb_put(x, &c, 1);
    }
}
static void bb_str(bb *x, const char *s) {
    bb_le(x, strlen(s), 8);
    bb_put(x, s, strlen(s));
}

enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9 };

typedef struct vocab_spec {
    const char *model;
    const char **tokens;
    const int32_t *types; /* NULL: all normal */
    const float *scores;  /* NULL: none */
    int n_tokens, n_types, n_scores;
    const char **merges; /* NULL: key absent */
    int n_merges;
    int bos; /* -1: key absent */
} vocab_spec;

static bb build(const vocab_spec *v) {
    bb x = {0};
    int nkv = 2 + (v->types != NULL) + (v->scores != NULL) + (v->merges != NULL) + (v->bos >= 0);
    bb_put(&x, "GGUF", 4);
    bb_le(&x, 3, 4);
    bb_le(&x, 0, 8);
    bb_le(&x, (uint64_t)nkv, 8);
    bb_str(&x, "tokenizer.ggml.model");
    bb_le(&x, T_STR, 4);
    bb_str(&x, v->model);
    bb_str(&x, "tokenizer.ggml.tokens");
    bb_le(&x, T_ARR, 4);
    bb_le(&x, T_STR, 4);
    bb_le(&x, (uint64_t)v->n_tokens, 8);
    for (int i = 0; i < v->n_tokens; i++) bb_str(&x, v->tokens[i]);
    if (v->types) {
        bb_str(&x, "tokenizer.ggml.token_type");
        bb_le(&x, T_ARR, 4);
        bb_le(&x, T_I32, 4);
        bb_le(&x, (uint64_t)v->n_types, 8);
        for (int i = 0; i < v->n_types; i++) bb_le(&x, (uint32_t)v->types[i], 4);
    }
    if (v->scores) {
        bb_str(&x, "tokenizer.ggml.scores");
        bb_le(&x, T_ARR, 4);
        bb_le(&x, T_F32, 4);
        bb_le(&x, (uint64_t)v->n_scores, 8);
        for (int i = 0; i < v->n_scores; i++) {
            uint32_t u;
            memcpy(&u, &v->scores[i], 4);
            bb_le(&x, u, 4);
        }
    }
    if (v->merges) {
        bb_str(&x, "tokenizer.ggml.merges");
        bb_le(&x, T_ARR, 4);
        bb_le(&x, T_STR, 4);
        bb_le(&x, (uint64_t)v->n_merges, 8);
        for (int i = 0; i < v->n_merges; i++) bb_str(&x, v->merges[i]);
    }
    if (v->bos >= 0) {
        bb_str(&x, "tokenizer.ggml.bos_token_id");
        bb_le(&x, T_U32, 4);
        bb_le(&x, (uint32_t)v->bos, 4);
    }
    while (x.n % 32) bb_le(&x, 0, 1);
    return x;
}

/* Token table of the small Gemma 4 style vocabulary: specials, 256 byte tokens, then text. */
enum { PAD, EOS, BOS, UNK, TURN, ETURN, CHAN, ECHAN, BYTE0, A = BYTE0 + 256, B, C, SP, NL, NL2,
       AB, ABC, SPA, BC, H, I, HI, CSPA, NTOK };
#define BYTE(c) (BYTE0 + (unsigned char)(c))

static char byte_names[256][8];
static const char *toks[NTOK];
static int32_t types[NTOK];
static float scores[NTOK];

static void init_table(void) {
    static const char *head[] = {"<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>",
                                 "<|channel>", "<channel|>"};
    static const int32_t head_ty[] = {3, 3, 3, 2, 3, 3, 4, 4};
    static const char *tail[] = {"a", "b", "c", "\xE2\x96\x81", "\n", "\n\n", "ab", "abc",
                                 ("\xE2\x96\x81" "a"), "bc", "h", "i", "hi",
                                 ("c\xE2\x96\x81" "a")};
    for (int i = 0; i < BYTE0; i++) toks[i] = head[i], types[i] = head_ty[i];
    for (int c = 0; c < 256; c++) {
        snprintf(byte_names[c], sizeof byte_names[c], "<0x%02X>", c);
        toks[BYTE0 + c] = byte_names[c];
        types[BYTE0 + c] = 6;
    }
    for (int i = A; i < NTOK; i++) toks[i] = tail[i - A], types[i] = 1;
    /* SPM scores: higher merges first. bc (-1) beats ab (-2); abc, hi, ▁a in between. */
    for (int i = 0; i < NTOK; i++) scores[i] = 0;
    scores[AB] = -2, scores[BC] = -1, scores[ABC] = -3, scores[SPA] = -1.5f, scores[HI] = -4;
}

static const char *merges[] = {"a b", "ab c", "\xE2\x96\x81 a", "b c", "h i", ("c \xE2\x96\x81" "a")};

static vocab_spec bpe_spec(void) {
    init_table();
    return (vocab_spec){"gemma4", toks, types, NULL, NTOK, NTOK, 0, merges, 6, BOS};
}
static vocab_spec spm_spec(void) {
    init_table();
    return (vocab_spec){"llama", toks, types, scores, NTOK, NTOK, NTOK, NULL, 0, BOS};
}

typedef struct fixture {
    bb file;
    gr_gguf *g;
    gr_tokenizer *t;
} fixture;

static gr_status open_spec(const vocab_spec *v, fixture *f, char *err, size_t errlen) {
    f->file = build(v);
    f->t = NULL;
    gr_status s = gr_gguf_open_memory(f->file.b, f->file.n, &f->g, err, errlen);
    assert_int_equal(s, GR_OK);
    return gr_tokenizer_from_gguf(f->g, &f->t, err, errlen);
}
static void close_fx(fixture *f) {
    gr_tokenizer_free(f->t);
    gr_gguf_close(f->g);
    free(f->file.b);
}

/* Encode and compare with the expected ids. */
static void expect(const gr_tokenizer *t, const char *s, size_t len, bool bos, bool special,
                   const int32_t *want, size_t nwant) {
    int32_t ids[64];
    size_t n;
    char err[128];
    assert_int_equal(gr_tokenize(t, s, len, bos, special, ids, 64, &n, err, sizeof err), GR_OK);
    if (n != nwant) fprintf(stderr, "text '%.*s': got %zu ids, want %zu\n", (int)len, s, n, nwant);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], want[i]);
}
#define EXPECT(t, s, bos, sp, ...)                                                               \
    do {                                                                                         \
        const int32_t w_[] = {__VA_ARGS__};                                                      \
        expect(t, s, sizeof(s) - 1, bos, sp, w_, sizeof w_ / sizeof w_[0]);                      \
    } while (0)

static void test_bpe_merges(void **st) {
    (void)st;
    fixture f;
    char err[256];
    vocab_spec v = bpe_spec();
    assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
    EXPECT(f.t, "abc", false, true, ABC);           /* a+b (rank 0), then ab+c (rank 1) */
    EXPECT(f.t, "bc a", false, true, BC, SPA);      /* ▁a (rank 2) before bc (rank 3) */
    EXPECT(f.t, " abc", false, true, SP, ABC);      /* a+b (0), ab+c (1); ▁+abc is no merge */
    /* "c▁a" is a token spanning a space: the word split must not cut after c (it may after b). */
    EXPECT(f.t, "c a", false, true, CSPA);
    EXPECT(f.t, "ab a", false, true, AB, SPA);
    close_fx(&f);
    /* The same in a text long enough for the per-call word cache. */
    assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
    {
        char text[400];
        int32_t ids[200];
        size_t n;
        memcpy(text, "c a", 3);
        for (int k = 0; k < 99; k++) memcpy(text + 3 + 4 * k, " c a", 4);
        assert_int_equal(gr_tokenize(f.t, text, 399, false, true, ids, 200, &n, err, sizeof err), GR_OK);
        /* "c a" then 99 times " c a", which is ▁ then c▁a (no merge joins ▁ and c). */
        assert_int_equal(ids[0], CSPA);
        for (size_t k = 1; k < n; k++) assert_int_equal(ids[k], k % 2 ? SP : CSPA);
        assert_int_equal(n, 199);
    }
    EXPECT(f.t, "abab", false, true, AB, AB);
    EXPECT(f.t, "hix", false, true, HI, BYTE('x')); /* x is not in the vocabulary */
    EXPECT(f.t, "a  b", false, true, A, SP, SP, B); /* no space merges: one ▁ each */
    /* Newline runs: a whole-run token is used directly, otherwise characters. */
    EXPECT(f.t, "a\n\nb", false, true, A, NL2, B);
    EXPECT(f.t, "a\n\n\nb", false, true, A, NL, NL, NL, B);
    /* Special tokens: control only with parse_special, user-defined always. */
    EXPECT(f.t, "<|turn>hi<turn|>", false, true, TURN, HI, ETURN);
    EXPECT(f.t, "<|channel>a<channel|>", false, false, CHAN, A, ECHAN);
    EXPECT(f.t, "<|turn>", false, false, BYTE('<'), BYTE('|'), BYTE('t'), BYTE('u'), BYTE('r'),
           BYTE('n'), BYTE('>'));
    /* BOS: prepended when asked; a text that starts with <bos> keeps a single one. */
    EXPECT(f.t, "hi", true, true, BOS, HI);
    EXPECT(f.t, "<bos>hi", true, true, BOS, HI);
    EXPECT(f.t, "", true, true, BOS);
    assert_true(gr_tokenizer_add_bos(f.t));
    assert_int_equal(gr_tokenizer_bos(f.t), BOS);
    assert_true(gr_tokenizer_is_eog(f.t, EOS));
    assert_true(gr_tokenizer_is_eog(f.t, ETURN));
    assert_false(gr_tokenizer_is_eog(f.t, TURN));
    close_fx(&f);
}

static void test_bpe_bytes_invalid_utf8(void **st) {
    (void)st;
    fixture f;
    char err[256];
    vocab_spec v = bpe_spec();
    assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
    /* Every byte of an invalid or unknown sequence becomes its byte token (documented: invalid
     * UTF-8 is kept byte for byte, so decode(encode(x)) == x even for binary input). */
    EXPECT(f.t, "\xC3\xA9", false, true, BYTE(0xC3), BYTE(0xA9));
    EXPECT(f.t, "a\xFF" "b", false, true, A, BYTE(0xFF), B);
    EXPECT(f.t, "\xE2\x96" "a", false, true, BYTE(0xE2), BYTE(0x96), A); /* truncated ▁ */
    EXPECT(f.t, "\xC0\x80", false, true, BYTE(0xC0), BYTE(0x80));         /* overlong NUL */
    EXPECT(f.t, "a\0b", false, true, A, BYTE(0), B);                      /* NUL is a byte */
    close_fx(&f);
}

static void test_spm_scores(void **st) {
    (void)st;
    fixture f;
    char err[256];
    vocab_spec v = spm_spec();
    assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
    assert_true(gr_tokenizer_is_spm(f.t));
    /* bc (-1) before ab (-2), then a+bc forms abc. */
    EXPECT(f.t, "abc", false, true, ABC);
    /* ▁abc: bc (-1) first, then ▁a (-1.5) beats a+bc (-3). BPE ranks give ▁ + abc instead. */
    EXPECT(f.t, " abc", false, true, SPA, BC);
    EXPECT(f.t, "ab", false, true, AB);
    EXPECT(f.t, "b a", false, true, B, SPA);
    EXPECT(f.t, "hi\xFF", false, true, HI, BYTE(0xFF));
    EXPECT(f.t, "<|turn>hi", true, true, BOS, TURN, HI);
    close_fx(&f);
}

static void roundtrip(const gr_tokenizer *t, const char *s, size_t len) {
    size_t cap = len + 16, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    char err[128];
    assert_int_equal(gr_tokenize(t, s, len, false, true, ids, cap, &n, err, sizeof err), GR_OK);
    char *out = malloc(len + 64);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char piece[64];
        size_t k = gr_token_piece(t, ids[i], true, piece, sizeof piece);
        assert_true(o + k <= len);
        memcpy(out + o, piece, k);
        o += k;
    }
    assert_int_equal(o, len);
    assert_memory_equal(out, s, len);
    free(out);
    free(ids);
}

static void test_pieces_roundtrip(void **st) {
    (void)st;
    for (int style = 0; style < 2; style++) {
        fixture f;
        char err[256], buf[16];
        vocab_spec v = style ? spm_spec() : bpe_spec();
        assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
        assert_int_equal(gr_token_piece(f.t, SPA, false, buf, sizeof buf), 2);
        assert_memory_equal(buf, " a", 2);
        assert_int_equal(gr_token_piece(f.t, BYTE(0xFF), false, buf, sizeof buf), 1);
        assert_int_equal((unsigned char)buf[0], 0xFF);
        assert_int_equal(gr_token_piece(f.t, TURN, false, buf, sizeof buf), 0);
        assert_int_equal(gr_token_piece(f.t, TURN, true, buf, sizeof buf), 7);
        assert_int_equal(gr_token_piece(f.t, CHAN, false, buf, sizeof buf), 10); /* user-defined */
        assert_int_equal(gr_token_piece(f.t, -1, true, buf, sizeof buf), 0);
        assert_int_equal(gr_token_piece(f.t, NTOK, true, buf, sizeof buf), 0);
        /* Pieces longer than the buffer report their full length and write only cap bytes. */
        assert_int_equal(gr_token_piece(f.t, CHAN, true, buf, 3), 10);
        static const char mixed[] = "hi abc\n\n\xFF\0x <|turn>\xE2\x96 bc\xF0\x9F\x98\x80";
        roundtrip(f.t, mixed, sizeof mixed - 1);
        close_fx(&f);
    }
}

static void test_megabyte_lines(void **st) {
    (void)st;
    size_t len = 1 << 20;
    char *s = malloc(len);
    for (size_t i = 0; i < len; i++) s[i] = i % 2 ? 'b' : 'a';
    for (int style = 0; style < 2; style++) {
        fixture f;
        char err[256];
        vocab_spec v = style ? spm_spec() : bpe_spec();
        assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
        size_t n = 0;
        double t0 = gr_now();
        /* Counting pass with no output buffer, then a real one. */
        assert_int_equal(gr_tokenize(f.t, s, len, false, true, NULL, 0, &n, err, sizeof err), GR_OK);
        assert_int_equal(n, len / 2); /* ab ab ab ... */
        int32_t *ids = malloc(n * sizeof *ids);
        assert_int_equal(gr_tokenize(f.t, s, len, false, true, ids, n, &n, err, sizeof err), GR_OK);
        for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], AB);
        assert_true(gr_now() - t0 < 5.0);
        /* A megabyte of one repeated space: one ▁ token each (no space merges here). */
        memset(s, ' ', len);
        assert_int_equal(gr_tokenize(f.t, s, len, false, true, NULL, 0, &n, err, sizeof err), GR_OK);
        assert_int_equal(n, len);
        for (size_t i = 0; i < len; i++) s[i] = i % 2 ? 'b' : 'a';
        free(ids);
        close_fx(&f);
    }
    free(s);
}

static void expect_load_error(vocab_spec *v, gr_status want, const char *msg_part) {
    fixture f;
    char err[256] = "";
    assert_int_equal(open_spec(v, &f, err, sizeof err), want);
    assert_null(f.t);
    if (!strstr(err, msg_part)) fprintf(stderr, "error '%s' lacks '%s'\n", err, msg_part);
    assert_non_null(strstr(err, msg_part));
    close_fx(&f);
}

static void test_malformed_vocab(void **st) {
    (void)st;
    vocab_spec v = bpe_spec();
    v.merges = NULL;
    expect_load_error(&v, GR_E_FORMAT, "merges");
    v = bpe_spec();
    v.n_types = NTOK - 1;
    expect_load_error(&v, GR_E_FORMAT, "token_type");
    v = spm_spec();
    v.n_scores = 3;
    expect_load_error(&v, GR_E_FORMAT, "scores");
    v = spm_spec();
    v.scores = NULL;
    expect_load_error(&v, GR_E_FORMAT, "scores");
    v = bpe_spec();
    v.model = "bert";
    expect_load_error(&v, GR_E_UNSUPPORTED, "bert");
    v = bpe_spec();
    v.bos = NTOK + 5;
    expect_load_error(&v, GR_E_FORMAT, "out of range");
    static const char *bad_merge[] = {"a b", "nospace"};
    v = bpe_spec();
    v.merges = bad_merge;
    v.n_merges = 2;
    expect_load_error(&v, GR_E_FORMAT, "separator");
    /* No byte tokens and no <unk>: cannot encode arbitrary bytes -> refused at load. */
    static const char *tiny[] = {"<bos>", "a"};
    static const int32_t tiny_ty[] = {3, 1};
    vocab_spec nb = {"gemma4", tiny, tiny_ty, NULL, 2, 2, 0, merges, 0, 0};
    expect_load_error(&nb, GR_E_FORMAT, "byte token");
}

static void test_lenient_vocab(void **st) {
    (void)st;
    fixture f;
    char err[256];
    /* Merges naming unknown tokens are skipped (they can never apply); the rest still work. */
    static const char *m2[] = {"zz q", "a b", "ab c"};
    vocab_spec v = bpe_spec();
    v.merges = m2;
    v.n_merges = 3;
    assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
    EXPECT(f.t, "abc", false, true, ABC);
    close_fx(&f);
    /* Missing byte tokens with an <unk>: unknown bytes encode as <unk>. */
    static const char *tiny[] = {"<bos>", "<unk>", "a"};
    static const int32_t tiny_ty[] = {3, 2, 1};
    vocab_spec nb = {"gemma4", tiny, tiny_ty, NULL, 3, 3, 0, merges, 0, 0};
    assert_int_equal(open_spec(&nb, &f, err, sizeof err), GR_OK);
    EXPECT(f.t, "a\xC3\xA9", false, true, 2, 1, 1);
    close_fx(&f);
}

static void test_chat_prompt_tokens(void **st) {
    (void)st;
    fixture f;
    char err[256];
    vocab_spec v = bpe_spec();
    assert_int_equal(open_spec(&v, &f, err, sizeof err), GR_OK);
    gr_chat_msg m[] = {{GR_ROLE_USER, "hi", 2}};
    gr_chat_opts o = {false, true};
    char *p;
    size_t plen, n;
    assert_int_equal(gr_chat_render(GR_CHAT_GEMMA4, m, 1, &o, &p, &plen, err, sizeof err), GR_OK);
    int32_t ids[256];
    assert_int_equal(gr_tokenize(f.t, p, plen, true, true, ids, 256, &n, err, sizeof err), GR_OK);
    /* One BOS (the template's), turn markers and channel markers as single tokens. */
    assert_int_equal(ids[0], BOS);
    assert_int_equal(ids[1], TURN);
    assert_true(ids[2] != BOS);
    int turns = 0, eturns = 0, chans = 0, bos = 0;
    for (size_t i = 0; i < n; i++) {
        turns += ids[i] == TURN, eturns += ids[i] == ETURN;
        chans += ids[i] == CHAN || ids[i] == ECHAN, bos += ids[i] == BOS;
    }
    assert_int_equal(turns, 2);
    assert_int_equal(eturns, 1);
    assert_int_equal(chans, 2);
    assert_int_equal(bos, 1);
    int32_t stop[4];
    assert_int_equal(gr_chat_stop_tokens(GR_CHAT_GEMMA4, f.t, stop, 4), 2);
    assert_int_equal(stop[0], ETURN);
    assert_int_equal(stop[1], EOS);
    free(p);
    close_fx(&f);
}

static void test_utf8_stream(void **st) {
    (void)st;
    gr_utf8_stream s = {0};
    char out[64];
    /* é split across two feeds: nothing, then both bytes. */
    assert_int_equal(gr_utf8_stream_feed(&s, "\xC3", 1, out, sizeof out), 0);
    assert_int_equal(gr_utf8_stream_feed(&s, "\xA9", 1, out, sizeof out), 2);
    assert_memory_equal(out, "\xC3\xA9", 2);
    /* 😀 one byte at a time. */
    const char *emoji = "\xF0\x9F\x98\x80";
    size_t got = 0;
    for (int i = 0; i < 4; i++) got += gr_utf8_stream_feed(&s, emoji + i, 1, out + got, sizeof out - got);
    assert_int_equal(got, 4);
    assert_memory_equal(out, emoji, 4);
    /* Invalid bytes become U+FFFD; a broken sequence followed by ASCII keeps the ASCII. */
    assert_int_equal(gr_utf8_stream_feed(&s, "\xFF", 1, out, sizeof out), 3);
    assert_memory_equal(out, "\xEF\xBF\xBD", 3);
    assert_int_equal(gr_utf8_stream_feed(&s, "\xE2\x96", 2, out, sizeof out), 0);
    assert_int_equal(gr_utf8_stream_feed(&s, "A", 1, out, sizeof out), 4);
    assert_memory_equal(out, "\xEF\xBF\xBD" "A", 4);
    /* A dangling sequence at the end is flushed as U+FFFD. */
    assert_int_equal(gr_utf8_stream_feed(&s, "x\xF0\x9F", 3, out, sizeof out), 1);
    assert_int_equal(gr_utf8_stream_flush(&s, out, sizeof out), 3);
    assert_int_equal(gr_utf8_stream_flush(&s, out, sizeof out), 0);
    /* Never writes past cap. */
    char small[4] = {'#', '#', '#', '#'};
    assert_int_equal(gr_utf8_stream_feed(&s, "\xFF\xFF", 2, small, 2), 2);
    assert_int_equal(small[2], '#');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bpe_merges),       cmocka_unit_test(test_bpe_bytes_invalid_utf8),
        cmocka_unit_test(test_spm_scores),       cmocka_unit_test(test_pieces_roundtrip),
        cmocka_unit_test(test_megabyte_lines),   cmocka_unit_test(test_malformed_vocab),
        cmocka_unit_test(test_lenient_vocab),    cmocka_unit_test(test_chat_prompt_tokens),
        cmocka_unit_test(test_utf8_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
