/* utf8.c — UTF-8 validation helpers for the tokenizers and the streaming detokenizer
 * (gr_utf8_stream). Pure functions over bytes: must not allocate or touch tokenizer state. */
#include "text/tok_internal.h"
#include "text/tokenizer.h"

#include <string.h>

/* Expected length of a sequence from its lead byte; 0 for a byte that cannot start one. */
static size_t lead_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Is b a valid continuation at position j (1-based) of a sequence led by c? The second byte has
 * narrower ranges to exclude overlong forms, surrogates and code points above U+10FFFF. */
static bool cont_ok(unsigned char c, size_t j, unsigned char b) {
    if (j == 1) {
        if (c == 0xE0) return b >= 0xA0 && b <= 0xBF;
        if (c == 0xED) return b >= 0x80 && b <= 0x9F;
        if (c == 0xF0) return b >= 0x90 && b <= 0xBF;
        if (c == 0xF4) return b >= 0x80 && b <= 0x8F;
    }
    return b >= 0x80 && b <= 0xBF;
}

size_t gr_utf8_char_len(const unsigned char *s, size_t n) {
    size_t need = lead_len(s[0]);
    if (need <= 1 || need > n) return 1;
    for (size_t j = 1; j < need; j++)
        if (!cont_ok(s[0], j, s[j])) return 1;
    return need;
}

static const unsigned char REPL[3] = {0xEF, 0xBF, 0xBD};

static size_t put(char *out, size_t cap, size_t o, const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (o + i < cap) out[o + i] = (char)b[i];
    return o + n;
}

/* Bytes of the virtual concatenation pending + in. */
static unsigned char at(const gr_utf8_stream *s, const char *in, size_t i) {
    return i < s->n_pending ? s->pending[i] : (unsigned char)in[i - s->n_pending];
}

size_t gr_utf8_stream_feed(gr_utf8_stream *s, const char *in, size_t len, char *out, size_t cap) {
    size_t total = s->n_pending + len, i = 0, o = 0;
    unsigned char tail[8];
    size_t n_tail = 0;
    while (i < total) {
        unsigned char c = at(s, in, i), seq[4] = {c, 0, 0, 0};
        size_t need = lead_len(c), j = 1;
        if (need == 0) { /* stray continuation or impossible byte */
            o = put(out, cap, o, REPL, 3);
            i++;
            continue;
        }
        for (; j < need && i + j < total; j++) {
            seq[j] = at(s, in, i + j);
            if (!cont_ok(c, j, seq[j])) break;
        }
        if (j == need) {
            o = put(out, cap, o, seq, need);
            i += need;
        } else if (i + j >= total) { /* valid so far but incomplete: keep for the next feed */
            for (size_t k = i; k < total; k++) tail[n_tail++] = at(s, in, k);
            i = total;
        } else { /* maximal valid prefix, then a bad byte: one U+FFFD for the prefix */
            o = put(out, cap, o, REPL, 3);
            i += j;
        }
    }
    memcpy(s->pending, tail, n_tail);
    s->n_pending = n_tail;
    return o < cap ? o : cap;
}

size_t gr_utf8_stream_flush(gr_utf8_stream *s, char *out, size_t cap) {
    size_t o = 0;
    if (s->n_pending) o = put(out, cap, o, REPL, 3);
    s->n_pending = 0;
    return o < cap ? o : cap;
}
