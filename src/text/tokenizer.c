/* tokenizer.c — loads a Gemma vocabulary from GGUF metadata, splits text on special/user-defined
 * tokens (leftmost-longest, like Hugging Face's added-token matcher), applies the BOS rule and
 * renders token pieces. The subword algorithms live in bpe.c (Gemma 4) and spm.c (Gemma 3).
 * Invalid UTF-8 (documented behaviour, both styles): every byte of an invalid or truncated
 * sequence is its own symbol and becomes its <0xXX> byte token, so encoding is lossless and
 * decode(encode(x)) == x for any bytes, NUL included. llama.cpp differs: its Gemma 4 path replaces
 * each invalid byte with U+FFFD before BPE (lossy); its SPM path groups bytes by the lead byte's
 * length without validation (so a broken lead byte can swallow the next valid characters into
 * byte tokens). JavaScript/HF reference encoders only ever see valid text.
 * Must not keep pointers into the GGUF mapping: the tokenizer outlives the file. */
#include "core/error.h"
#include "text/tok_internal.h"

#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* ---- hashing and maps ---- */

uint64_t gr_tok_hash(const char *s, size_t n) {
    /* 8 bytes per step (token texts are short), then a final avalanche. */
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    for (size_t k = 0; i + k < n; k++) w |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0xFF51AFD7ED558CCDull;
    return h ^ (h >> 32);
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    return x ^ (x >> 33);
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

int32_t gr_tok_find(const gr_tokenizer *t, const char *s, size_t n) {
    uint64_t h = gr_tok_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & t->map.mask;; i = (i + 1) & t->map.mask) {
        uint64_t slot = t->map.slots[i];
        if (slot == UINT64_MAX) return -1;
        if ((uint32_t)(slot >> 32) != tag) continue;
        int32_t id = (int32_t)(uint32_t)slot;
        size_t tn;
        const char *ts = gr_tok_text(t, id, &tn);
        if (tn == n && memcmp(ts, s, n) == 0) return id;
    }
}

/* Code point of a valid 1..3-byte UTF-8 character. */
static uint32_t bmp_cp(const unsigned char *u, size_t n) {
    if (n == 1) return u[0];
    if (n == 2) return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
}

int32_t gr_tok_find_char(const gr_tokenizer *t, const char *s, size_t n) {
    /* n comes from gr_utf8_char_len: 1..3 bytes are either one valid character or one byte. */
    const unsigned char *u = (const unsigned char *)s;
    if (n <= 3 && (n > 1 || u[0] < 0x80)) return t->bmp_id[bmp_cp(u, n)];
    return gr_tok_find(t, s, n);
}

/* The table behind gr_tok_find_char: most characters are looked up without hashing. */
static gr_status build_bmp(gr_tokenizer *t, char *err, size_t errlen) {
    t->bmp_id = malloc(0x10000 * sizeof(int32_t));
    if (!t->bmp_id) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    memset(t->bmp_id, 0xFF, 0x10000 * sizeof(int32_t));
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        unsigned char u[3];
        size_t n;
        if (cp < 0x80) u[0] = (unsigned char)cp, n = 1;
        else if (cp < 0x800) u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), n = 2;
        else u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)),
             u[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
        if (n == 3 && cp >= 0xD800 && cp <= 0xDFFF) continue; /* never a valid character */
        t->bmp_id[cp] = gr_tok_find(t, (const char *)u, n);
    }
    return GR_OK;
}

/* Characters that precede ▁ inside a token (see cross_bits in tok_internal.h). */
static gr_status build_cross(gr_tokenizer *t, char *err, size_t errlen) {
    t->cross_bits = calloc(0x10000 / 64, sizeof(uint64_t));
    if (!t->cross_bits) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t n, prev = SIZE_MAX;
        const unsigned char *u = (const unsigned char *)gr_tok_text(t, id, &n);
        for (size_t i = 0; i < n;) {
            size_t cl = gr_utf8_char_len(u + i, n - i);
            bool sp = cl == 3 && u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81;
            if (sp && prev != SIZE_MAX) {
                size_t pl = i - prev;
                bool prev_sp = pl == 3 && u[prev] == 0xE2 && u[prev + 1] == 0x96 && u[prev + 2] == 0x81;
                if (!prev_sp) {
                    if (pl <= 3 && (pl > 1 || u[prev] < 0x80)) {
                        uint32_t cp = bmp_cp(u + prev, pl);
                        t->cross_bits[cp >> 6] |= 1ull << (cp & 63);
                    } else {
                        t->cross_astral = true;
                    }
                }
            }
            prev = i;
            i += cl;
        }
    }
    return GR_OK;
}

bool gr_tok_merge_find(const gr_tokenizer *t, int32_t l, int32_t r, int32_t *rank,
                       int32_t *result) {
    if (!t->merges) return false;
    uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
    for (uint32_t i = (uint32_t)mix64(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
        const gr_merge_slot *m = &t->merges[i];
        if (m->key == 0) return false;
        if (m->key == key) {
            *rank = m->rank;
            *result = m->result;
            return true;
        }
    }
}

/* ---- loading ---- */

static gr_status load_tokens(gr_tokenizer *t, const gr_gguf *g, char *err, size_t errlen) {
    gr_gguf_vtype et;
    uint64_t n;
    gr_status s = gr_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n);
    if (s) return gr_err(s, err, errlen, "tokenizer.ggml.tokens: missing or not an array");
    if (et != GR_GGUF_STRING || n == 0 || n > (1u << 24))
        return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.tokens: need 1..16M strings");
    t->n_vocab = (int32_t)n;
    uint64_t total = 0;
    gr_gguf_str str;
    for (uint64_t i = 0; i < n; i++) {
        if (gr_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &str) != GR_OK)
            return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.tokens[%llu] unreadable",
                          (unsigned long long)i);
        total += str.len;
    }
    if (total >= UINT32_MAX) return gr_err(GR_E_FORMAT, err, errlen, "token strings too large");
    t->text = malloc(total + 1);
    t->off = malloc((n + 1) * sizeof *t->off);
    t->type = malloc(n);
    if (!t->text || !t->off || !t->type) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    uint32_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        gr_gguf_arr_str(g, "tokenizer.ggml.tokens", i, &str);
        t->off[i] = o;
        if (str.len) memcpy(t->text + o, str.ptr, str.len);
        o += (uint32_t)str.len;
    }
    t->off[n] = o;
    return GR_OK;
}

static gr_status build_map(gr_tokenizer *t, char *err, size_t errlen) {
    uint32_t cap = pow2_at_least((uint64_t)t->n_vocab * 2);
    t->map.slots = malloc((size_t)cap * sizeof *t->map.slots);
    if (!t->map.slots) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    memset(t->map.slots, 0xFF, (size_t)cap * sizeof *t->map.slots);
    t->map.mask = cap - 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t n;
        const char *s = gr_tok_text(t, id, &n);
        if (gr_tok_find(t, s, n) >= 0) continue; /* duplicates: the first id wins */
        uint64_t h = gr_tok_hash(s, n);
        uint32_t i = (uint32_t)h & t->map.mask;
        while (t->map.slots[i] != UINT64_MAX) i = (i + 1) & t->map.mask;
        t->map.slots[i] = (h >> 32) << 32 | (uint32_t)id;
    }
    return GR_OK;
}

/* Token types and scores: optional for BPE, but when present they must match the token count. */
static gr_status load_types_scores(gr_tokenizer *t, const gr_gguf *g, char *err, size_t errlen) {
    gr_gguf_vtype et;
    uint64_t n;
    memset(t->type, GR_TT_NORMAL, (size_t)t->n_vocab);
    if (gr_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n) == GR_OK) {
        if (n != (uint64_t)t->n_vocab)
            return gr_err(GR_E_FORMAT, err, errlen,
                          "tokenizer.ggml.token_type has %llu entries, tokens has %d",
                          (unsigned long long)n, t->n_vocab);
        for (uint64_t i = 0; i < n; i++) {
            int64_t v;
            if (gr_gguf_arr_i64(g, "tokenizer.ggml.token_type", i, &v) || v < 0 || v > 6)
                return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.token_type[%llu] invalid",
                              (unsigned long long)i);
            t->type[i] = (uint8_t)(v == 0 ? GR_TT_NORMAL : v);
        }
    }
    gr_status s = gr_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n);
    if (s != GR_OK) {
        if (t->kind == GR_TOK_SPM)
            return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.scores missing (needed by SPM)");
        return GR_OK;
    }
    if (n != (uint64_t)t->n_vocab)
        return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.scores has %llu entries, tokens has %d",
                      (unsigned long long)n, t->n_vocab);
    t->score = malloc(n * sizeof(float));
    if (!t->score) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        if (gr_gguf_arr_f32(g, "tokenizer.ggml.scores", i, &t->score[i]))
            return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.scores[%llu] invalid",
                          (unsigned long long)i);
    return GR_OK;
}

/* Zeroed memory for a big random-access table; 2 MB aligned and marked for huge pages where the
 * OS supports it, because lookups are TLB-miss bound otherwise. */
static void *alloc_table(size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    size_t huge = (size_t)2 << 20, rounded = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
    if (p) {
        madvise(p, rounded, MADV_HUGEPAGE);
        memset(p, 0, bytes);
    }
    return p;
#else
    return calloc(1, bytes);
#endif
}

static void merge_insert(gr_tokenizer *t, int32_t l, int32_t r, int32_t rank, int32_t result) {
    uint64_t key = (((uint64_t)(uint32_t)l << 32) | (uint32_t)r) + 1;
    uint32_t i = (uint32_t)mix64(key) & t->merge_mask;
    for (; t->merges[i].key; i = (i + 1) & t->merge_mask)
        if (t->merges[i].key == key) return; /* a repeated pair keeps its first (lowest) rank */
    t->merges[i] = (gr_merge_slot){key, rank, result};
    t->n_merges++;
}

/* Merges "left right" (split at the first space after position 0). A merge naming a token that is
 * not in the vocabulary can never apply and is skipped; a line without a separator is an error. */
static gr_status load_merges(gr_tokenizer *t, const gr_gguf *g, char *err, size_t errlen) {
    gr_gguf_vtype et;
    uint64_t n;
    if (gr_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen,
                      "tokenizer.ggml.merges missing (required by the gemma4 BPE tokenizer)");
    if (et != GR_GGUF_STRING || n > (1u << 26))
        return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.merges: not a string array");
    uint32_t cap = pow2_at_least(n * 2 + 1);
    t->merges = alloc_table((size_t)cap * sizeof *t->merges);
    if (!t->merges) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    t->merge_mask = cap - 1;
    char stack[256];
    for (uint64_t i = 0; i < n; i++) {
        gr_gguf_str m;
        if (gr_gguf_arr_str(g, "tokenizer.ggml.merges", i, &m) != GR_OK)
            return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.merges[%llu] unreadable",
                          (unsigned long long)i);
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        if (!sp)
            return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.merges[%llu]: no separator",
                          (unsigned long long)i);
        size_t ln = (size_t)(sp - m.ptr), rn = m.len - ln - 1;
        int32_t l = gr_tok_find(t, m.ptr, ln), r = gr_tok_find(t, sp + 1, rn), res = -1;
        if (l < 0 || r < 0) continue;
        if (ln + rn <= sizeof stack) { /* the result is left+right without the space */
            memcpy(stack, m.ptr, ln);
            memcpy(stack + ln, sp + 1, rn);
            res = gr_tok_find(t, stack, ln + rn);
        }
        if (res >= 0) merge_insert(t, l, r, (int32_t)i, res);
    }
    return GR_OK;
}

static int32_t get_id(const gr_gguf *g, const char *key, int32_t n_vocab, int32_t def, bool *bad) {
    int64_t v;
    if (gr_gguf_get_i64(g, key, &v) != GR_OK) return def;
    if (v < -1 || v >= n_vocab) *bad = true;
    return (int32_t)v;
}

static gr_status load_specials(gr_tokenizer *t, const gr_gguf *g, char *err, size_t errlen) {
    bool bad = false;
    t->bos = get_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, gr_tok_find(t, "<bos>", 5), &bad);
    t->eos = get_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, gr_tok_find(t, "<eos>", 5), &bad);
    t->eot = get_id(g, "tokenizer.ggml.eot_token_id", t->n_vocab, -1, &bad);
    t->unk = get_id(g, "tokenizer.ggml.unknown_token_id", t->n_vocab, gr_tok_find(t, "<unk>", 5), &bad);
    t->pad = get_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, -1, &bad);
    if (bad) return gr_err(GR_E_FORMAT, err, errlen, "a tokenizer.ggml.*_token_id is out of range");
    bool b = true;
    gr_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b);
    /* Gemma 4 degrades badly without BOS: llama.cpp forces it whatever the file says. */
    t->add_bos = t->kind == GR_TOK_BPE_GEMMA4 ? true : b;
    for (int c = 0; c < 256; c++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[c >> 4];
        name[4] = hex[c & 15];
        name[5] = '>';
        t->byte_id[c] = gr_tok_find(t, name, 6);
        if (t->byte_id[c] < 0 && t->unk < 0)
            return gr_err(GR_E_FORMAT, err, errlen,
                          "vocabulary lacks byte token %.6s and has no unknown token", name);
    }
    return GR_OK;
}

/* Strings that end generation: the eos/eot ids plus the turn-end tokens found by text. */
static gr_status load_eog(gr_tokenizer *t, char *err, size_t errlen) {
    static const char *const names[] = {"<eos>", "<turn|>", "<end_of_turn>", "<|tool_response>",
                                        "<eot>"};
    t->eog = malloc(8 * sizeof(int32_t));
    if (!t->eog) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    int32_t cand[8] = {t->eos, t->eot};
    int nc = 2;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cand[nc++] = gr_tok_find(t, names[i], strlen(names[i]));
    for (int i = 0; i < nc; i++) {
        bool seen = cand[i] < 0;
        for (int j = 0; j < t->n_eog && !seen; j++) seen = t->eog[j] == cand[i];
        if (!seen) t->eog[t->n_eog++] = cand[i];
    }
    return GR_OK;
}

static bool splits_always(uint8_t ty) { return ty == GR_TT_USER; }
static bool splits_if_special(uint8_t ty) { return ty == GR_TT_CONTROL || ty == GR_TT_UNKNOWN; }

static gr_status build_special_lens(gr_tokenizer *t, char *err, size_t errlen) {
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t n;
        const char *s = gr_tok_text(t, id, &n);
        if (!n || n > UINT16_MAX || !(splits_always(t->type[id]) || splits_if_special(t->type[id])))
            continue;
        gr_special_lens *sl = &t->special[(unsigned char)s[0]];
        uint32_t k = 0;
        while (k < sl->n && sl->lens[k] > n) k++;
        if (k < sl->n && sl->lens[k] == n) continue;
        uint16_t *nl = realloc(sl->lens, (sl->n + 1) * sizeof *nl);
        if (!nl) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
        memmove(nl + k + 1, nl + k, (sl->n - k) * sizeof *nl);
        nl[k] = (uint16_t)n;
        sl->lens = nl;
        sl->n++;
    }
    return GR_OK;
}

gr_status gr_tokenizer_from_gguf(const gr_gguf *g, gr_tokenizer **out, char *err, size_t errlen) {
    *out = NULL;
    gr_gguf_str model;
    if (gr_gguf_get_str(g, "tokenizer.ggml.model", &model) != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen, "tokenizer.ggml.model missing");
    gr_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_status s;
    if (model.len == 6 && !memcmp(model.ptr, "gemma4", 6)) {
        t->kind = GR_TOK_BPE_GEMMA4;
    } else if (model.len == 5 && !memcmp(model.ptr, "llama", 5)) {
        t->kind = GR_TOK_SPM;
    } else {
        s = gr_err(GR_E_UNSUPPORTED, err, errlen, "tokenizer model '%.*s' not supported "
                   "(gemma4 or llama)", (int)(model.len > 64 ? 64 : model.len), model.ptr);
        goto fail;
    }
    if ((s = load_tokens(t, g, err, errlen)) || (s = build_map(t, err, errlen)) ||
        (s = load_types_scores(t, g, err, errlen)) || (s = load_specials(t, g, err, errlen)) ||
        (s = load_eog(t, err, errlen)) || (s = build_special_lens(t, err, errlen)) ||
        (s = build_bmp(t, err, errlen)))
        goto fail;
    if (t->kind == GR_TOK_BPE_GEMMA4 && (s = load_merges(t, g, err, errlen))) goto fail;
    if ((s = build_cross(t, err, errlen))) goto fail;
    *out = t;
    return GR_OK;
fail:
    gr_tokenizer_free(t);
    return s;
}

void gr_tokenizer_free(gr_tokenizer *t) {
    if (!t) return;
    for (int c = 0; c < 256; c++) free(t->special[c].lens);
    free(t->text);
    free(t->off);
    free(t->type);
    free(t->score);
    free(t->map.slots);
    free(t->merges);
    free(t->eog);
    free(t->bmp_id);
    free(t->cross_bits);
    free(t);
}

int32_t gr_tokenizer_n_vocab(const gr_tokenizer *t) { return t->n_vocab; }
int32_t gr_tokenizer_bos(const gr_tokenizer *t) { return t->bos; }
int32_t gr_tokenizer_eos(const gr_tokenizer *t) { return t->eos; }
bool gr_tokenizer_add_bos(const gr_tokenizer *t) { return t->add_bos; }
bool gr_tokenizer_is_spm(const gr_tokenizer *t) { return t->kind == GR_TOK_SPM; }
int32_t gr_tokenizer_find(const gr_tokenizer *t, const char *text, size_t len) {
    return gr_tok_find(t, text, len);
}
int32_t gr_tokenizer_token_type(const gr_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? t->type[id] : 0;
}

bool gr_tokenizer_is_eog(const gr_tokenizer *t, int32_t id) {
    for (int32_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

/* ---- encoding ---- */

void gr_tok_emit_bytes(const gr_tokenizer *t, const unsigned char *s, size_t n, gr_tok_out *o) {
    for (size_t i = 0; i < n; i++) gr_tok_emit(o, t->byte_id[s[i]] >= 0 ? t->byte_id[s[i]] : t->unk);
}

void gr_tok_scratch_free(gr_tok_scratch *s) {
    free(s->cache);
    free(s->sym);
    free(s->heap);
    free(s->buf);
}

/* The special token starting at text[pos] (longest allowed match), or -1. */
static int32_t special_at(const gr_tokenizer *t, const char *text, size_t len, size_t pos,
                          bool parse_special, size_t *mlen) {
    const gr_special_lens *sl = &t->special[(unsigned char)text[pos]];
    for (uint32_t k = 0; k < sl->n; k++) {
        size_t n = sl->lens[k];
        if (n > len - pos) continue;
        int32_t id = gr_tok_find(t, text + pos, n);
        if (id < 0) continue;
        if (splits_always(t->type[id]) || (parse_special && splits_if_special(t->type[id]))) {
            *mlen = n;
            return id;
        }
    }
    return -1;
}

static gr_status encode_fragment(const gr_tokenizer *t, const char *s, size_t n,
                                 gr_tok_scratch *sc, gr_tok_out *o) {
    if (n == 0) return GR_OK;
    return t->kind == GR_TOK_BPE_GEMMA4 ? gr_bpe_encode(t, s, n, sc, o) : gr_spm_encode(t, s, n, sc, o);
}

gr_status gr_tokenize(const gr_tokenizer *t, const char *text, size_t len, bool add_bos,
                      bool parse_special, int32_t *out, size_t cap, size_t *n_out, char *err,
                      size_t errlen) {
    *n_out = 0;
    if (!text && len) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL text");
    gr_tok_out o = {out, out ? cap : 0, 0};
    gr_tok_scratch sc = {0};
    gr_status s = GR_OK;
    size_t frag = 0, pos = 0, blen;
    const char *btxt = t->bos >= 0 ? gr_tok_text(t, t->bos, &blen) : NULL;
    /* No double BOS: a prompt whose text already starts with the BOS token keeps just that one. */
    bool text_has_bos = btxt && parse_special && blen && len >= blen && !memcmp(text, btxt, blen);
    if (add_bos && t->bos >= 0 && !text_has_bos) gr_tok_emit(&o, t->bos);
    while (pos < len) {
        size_t mlen = 0;
        int32_t id = t->special[(unsigned char)text[pos]].n
                         ? special_at(t, text, len, pos, parse_special, &mlen)
                         : -1;
        if (id < 0) {
            pos++;
            continue;
        }
        if ((s = encode_fragment(t, text + frag, pos - frag, &sc, &o))) goto done;
        gr_tok_emit(&o, id);
        pos += mlen;
        frag = pos;
    }
    s = encode_fragment(t, text + frag, len - frag, &sc, &o);
done:
    gr_tok_scratch_free(&sc);
    *n_out = o.n;
    if (s) return gr_err(s, err, errlen, "tokenize: out of memory");
    return GR_OK;
}

/* ---- pieces ---- */

static size_t put_bytes(char *buf, size_t cap, size_t o, const char *s, size_t n) {
    if (o < cap) memcpy(buf + o, s, n < cap - o ? n : cap - o);
    return o + n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t gr_token_piece(const gr_tokenizer *t, int32_t id, bool render_special, char *buf,
                      size_t cap) {
    if (id < 0 || id >= t->n_vocab) return 0;
    size_t n;
    const char *s = gr_tok_text(t, id, &n);
    uint8_t ty = t->type[id];
    if (ty == GR_TT_BYTE && n == 6) {
        int hi = hexval(s[3]), lo = hexval(s[4]);
        if (hi >= 0 && lo >= 0) {
            char b = (char)(hi * 16 + lo);
            return put_bytes(buf, cap, 0, &b, 1);
        }
    }
    if (ty == GR_TT_CONTROL || ty == GR_TT_UNKNOWN || ty == GR_TT_UNUSED)
        return render_special ? put_bytes(buf, cap, 0, s, n) : 0;
    /* Normal and user-defined tokens: U+2581 (E2 96 81) stands for a space. */
    size_t o = 0, i = 0;
    while (i < n) {
        if (i + 3 <= n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            o = put_bytes(buf, cap, o, " ", 1);
            i += 3;
        } else {
            size_t j = i + 1;
            while (j < n && (unsigned char)s[j] != 0xE2) j++;
            o = put_bytes(buf, cap, o, s + i, j - i);
            i = j;
        }
    }
    return o;
}

int32_t gr_tok_split_chars(const gr_tokenizer *t, const char *p, size_t n, gr_tok_sym *s) {
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = gr_utf8_char_len((const unsigned char *)p + i, n - i);
        s[ns] = (gr_tok_sym){gr_tok_find_char(t, p + i, cl), ns - 1, ns + 1, (uint32_t)i,
                             (uint32_t)cl};
        ns++;
        i += cl;
    }
    s[ns - 1].next = -1;
    return ns;
}

bool gr_tok_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (*cap >= need) return true;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}
