/* gram_num.h — number grammars (gram_num.c) for gram_json.c. Internal to src/grammar/. */
#ifndef GR_GRAMMAR_GRAM_NUM_H
#define GR_GRAMMAR_GRAM_NUM_H

#include "grammar/gram_internal.h"

/* Decimal integers lo..hi (lo <= hi, both < 10^19), without leading zeros. */
uint32_t gr_gram_uint_range(gr_grammar *g, uint64_t lo, uint64_t hi);
/* Signed: lo <= hi; negatives as '-' and a magnitude >= 1 (never "-0"). */
uint32_t gr_gram_int_range(gr_grammar *g, int64_t lo, int64_t hi);

/* A non-negative magnitude interval with integer ends: lo..hi, each end inclusive or exclusive;
 * hi_open: hi is only the digit cap (hi itself may take a fraction). */
typedef struct gr_num_bounds {
    uint64_t lo, hi;
    bool lo_excl, hi_excl, hi_open;
} gr_num_bounds;
/* Numbers whose magnitude lies in pos (non-negative values) or, with a '-', in neg (either may be
 * NULL); fractions of 1..frac_digits digits. UINT32_MAX when both are empty. */
uint32_t gr_gram_num_range(gr_grammar *g, const gr_num_bounds *pos, const gr_num_bounds *neg,
                           uint32_t frac_digits);
/* Any JSON number with an integer part of at most int_digits digits. */
uint32_t gr_gram_number_any(gr_grammar *g, uint32_t int_digits, uint32_t frac_digits,
                            bool exponent);

#endif
