/* sampler.h — token sampling from logits: repetition/presence/frequency penalties over the last
 * tokens, then top-k, top-p, min-p, temperature and a seeded draw (llama.cpp's default order);
 * temp <= 0 is greedy (ties go to the lowest id). Deterministic for a seed; sample() never
 * allocates (all buffers are sized at creation). Not thread-safe: one sampler per sequence. */
#ifndef GR_DECODE_SAMPLER_H
#define GR_DECODE_SAMPLER_H

#include "gemrun.h"
#include <stddef.h>
#include <stdint.h>

typedef struct gr_sampler_params {
    float temp;              /* <= 0: greedy */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int32_t repeat_last_n;   /* tokens the penalties look back over; 0: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    uint64_t seed;
} gr_sampler_params;

typedef struct gr_sampler gr_sampler;

/* temp 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties (repeat_last_n 64), seed 0. */
gr_sampler_params gr_sampler_default_params(void);

gr_status gr_sampler_new(const gr_sampler_params *p, int32_t n_vocab, gr_sampler **out, char *err,
                         size_t errlen);
void gr_sampler_free(gr_sampler *s);
/* Pick a token from n_vocab logits (not modified). */
int32_t gr_sampler_sample(gr_sampler *s, const float *logits);
/* The same over the allowed tokens only: mask holds (n_vocab + 31) / 32 words, bit i%32 of word i/32
 * set = token i allowed (grammar constraints, src/grammar). Disallowed tokens are never candidates, so
 * the filters and the draw see exactly the allowed set. NULL = all allowed. Returns -1 when the mask
 * allows nothing. */
int32_t gr_sampler_sample_masked(gr_sampler *s, const float *logits, const uint32_t *mask);
/* Record a token (prompt or generated) for the penalties. */
void gr_sampler_accept(gr_sampler *s, int32_t token);
/* Forget accepted tokens and restart the random stream from the seed. */
void gr_sampler_reset(gr_sampler *s);

#endif
