/* gram_num.c — grammars for JSON numbers: exact decimal integer ranges (digit-by-digit splitting,
 * no leading zeros) and numbers with integer-part ranges plus a bounded fraction. Bounds are
 * checked by the caller (gram_json.c); here lo <= hi always holds. Must not know about JSON Schema
 * keywords. */
#include "grammar/gram_num.h"

#include <stdio.h>
#include <string.h>

static uint32_t digits(gr_grammar *g, uint32_t n) {
    return gr_gram_rep(g, gr_gram_range(g, '0', '9'), n, n);
}

/* Same-length decimal strings a <= b (n digits). */
static uint32_t same_len(gr_grammar *g, const char *a, const char *b, int n) {
    if (n == 0) return gr_gram_empty(g);
    if (a[0] == b[0])
        return gr_gram_seq2(g, gr_gram_char(g, (uint8_t)a[0]), same_len(g, a + 1, b + 1, n - 1));
    char nines[20], zeros[20];
    memset(nines, '9', sizeof nines), memset(zeros, '0', sizeof zeros);
    bool a_low = !memcmp(a + 1, zeros, (size_t)n - 1),
         b_high = !memcmp(b + 1, nines, (size_t)n - 1);
    char mid_lo = a_low ? a[0] : (char)(a[0] + 1), mid_hi = b_high ? b[0] : (char)(b[0] - 1);
    uint32_t alts[3], k = 0;
    if (!a_low)
        alts[k++] =
            gr_gram_seq2(g, gr_gram_char(g, (uint8_t)a[0]), same_len(g, a + 1, nines, n - 1));
    if (mid_lo <= mid_hi)
        alts[k++] = gr_gram_seq2(g, gr_gram_range(g, (uint8_t)mid_lo, (uint8_t)mid_hi),
                                 digits(g, (uint32_t)n - 1));
    if (!b_high)
        alts[k++] =
            gr_gram_seq2(g, gr_gram_char(g, (uint8_t)b[0]), same_len(g, zeros, b + 1, n - 1));
    return gr_gram_alt(g, alts, k);
}

static uint64_t pow10u(int d) {
    uint64_t p = 1;
    while (d-- > 0)
        p *= 10;
    return p;
}

uint32_t gr_gram_uint_range(gr_grammar *g, uint64_t lo, uint64_t hi) {
    char a[24], b[24];
    uint32_t alts[24], k = 0;
    int dlo = snprintf(a, sizeof a, "%llu", (unsigned long long)lo);
    int dhi = snprintf(b, sizeof b, "%llu", (unsigned long long)hi);
    for (int d = dlo; d <= dhi && k < 24; d++) {
        uint64_t s = d == 1 ? 0 : pow10u(d - 1), e = pow10u(d) - 1;
        if (s < lo) s = lo;
        if (e > hi) e = hi;
        snprintf(a, sizeof a, "%llu", (unsigned long long)s);
        snprintf(b, sizeof b, "%llu", (unsigned long long)e);
        alts[k++] = same_len(g, a, b, d);
    }
    return gr_gram_alt(g, alts, k);
}

uint32_t gr_gram_int_range(gr_grammar *g, int64_t lo, int64_t hi) {
    uint32_t alts[2], k = 0;
    if (lo < 0) {
        uint64_t mlo = hi < 0 ? (uint64_t)(-hi) : 1, mhi = (uint64_t)(-lo);
        alts[k++] = gr_gram_seq2(g, gr_gram_char(g, '-'), gr_gram_uint_range(g, mlo, mhi));
    }
    if (hi >= 0) alts[k++] = gr_gram_uint_range(g, lo > 0 ? (uint64_t)lo : 0, (uint64_t)hi);
    return gr_gram_alt(g, alts, k);
}

/* '.' and 1..f digits; nonzero: the value of the fraction is > 0 (last digit nonzero). */
static uint32_t frac(gr_grammar *g, uint32_t f, bool nonzero) {
    uint32_t d = gr_gram_range(g, '0', '9');
    if (!nonzero) return gr_gram_seq2(g, gr_gram_char(g, '.'), gr_gram_rep(g, d, 1, f));
    return gr_gram_seq3(g, gr_gram_char(g, '.'), gr_gram_rep(g, d, 0, f - 1),
                        gr_gram_range(g, '1', '9'));
}

/* Non-negative values in the interval described by b (integer bounds, see gram_num.h). */
static uint32_t nonneg(gr_grammar *g, const gr_num_bounds *b, uint32_t f) {
    uint32_t alts[4], k = 0;
    uint64_t L = b->lo, H = b->hi;
    if (b->lo_excl && (L < H || b->hi_open))
        alts[k++] = gr_gram_seq2(g, gr_gram_uint_range(g, L, L), frac(g, f, true));
    uint64_t mlo = b->lo_excl ? L + 1 : L;
    if (mlo + 1 <= H) /* [mlo, H-1] with any fraction */
        alts[k++] =
            gr_gram_seq2(g, gr_gram_uint_range(g, mlo, H - 1), gr_gram_opt(g, frac(g, f, false)));
    if (mlo <= H) {
        if (b->hi_open)
            alts[k++] =
                gr_gram_seq2(g, gr_gram_uint_range(g, H, H), gr_gram_opt(g, frac(g, f, false)));
        else if (!b->hi_excl)
            alts[k++] = gr_gram_uint_range(g, H, H);
    }
    return k ? gr_gram_alt(g, alts, k) : UINT32_MAX;
}

uint32_t gr_gram_num_range(gr_grammar *g, const gr_num_bounds *pos, const gr_num_bounds *neg,
                           uint32_t frac_digits) {
    uint32_t alts[2], k = 0;
    if (neg) {
        uint32_t n = nonneg(g, neg, frac_digits);
        if (n != UINT32_MAX) alts[k++] = gr_gram_seq2(g, gr_gram_char(g, '-'), n);
    }
    if (pos) {
        uint32_t p = nonneg(g, pos, frac_digits);
        if (p != UINT32_MAX) alts[k++] = p;
    }
    return k ? gr_gram_alt(g, alts, k) : UINT32_MAX;
}

uint32_t gr_gram_number_any(gr_grammar *g, uint32_t int_digits, uint32_t frac_digits,
                            bool exponent) {
    uint32_t d = gr_gram_range(g, '0', '9');
    uint32_t ip = gr_gram_alt2(
        g, gr_gram_char(g, '0'),
        gr_gram_seq2(g, gr_gram_range(g, '1', '9'), gr_gram_rep(g, d, 0, int_digits - 1)));
    uint32_t parts[4] = {gr_gram_opt(g, gr_gram_char(g, '-')), ip,
                         gr_gram_opt(g, frac(g, frac_digits, false))};
    uint32_t n = 3;
    if (exponent) /* at most 2 exponent digits: the value stays finite as a double */
        parts[n++] = gr_gram_opt(g, gr_gram_seq3(g, gr_gram_class(g, "eE"),
                                                 gr_gram_opt(g, gr_gram_class(g, "+-")),
                                                 gr_gram_rep(g, d, 1, 2)));
    return gr_gram_seq(g, parts, n);
}
