/* sampler.c — see sampler.h. Candidate lists are sorted by (logit desc, id asc) so every filter is
 * deterministic; the RNG is xoshiro256** seeded through splitmix64. Must not allocate in sample(). */
#include "decode/sampler.h"

#include "core/error.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct gr_sampler {
    gr_sampler_params p;
    int32_t n_vocab;
    cand *cands;
    float *probs;
    int32_t *ring; /* last repeat_last_n accepted tokens */
    int32_t ring_len, ring_pos;
    int32_t *count;  /* occurrences of each token in the ring */
    uint64_t rng[4];
};

gr_sampler_params gr_sampler_default_params(void) {
    return (gr_sampler_params){.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                               .repeat_penalty = 1.0f, .repeat_last_n = 64,
                               .presence_penalty = 0.0f, .frequency_penalty = 0.0f, .seed = 0};
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(gr_sampler *s) {
    uint64_t *r = s->rng;
    const uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0];
    r[3] ^= r[1];
    r[1] ^= r[2];
    r[0] ^= r[3];
    r[2] ^= t;
    r[3] = rotl(r[3], 45);
    return out;
}

/* Uniform in [0, 1) with 53 random bits. */
static double next_unit(gr_sampler *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

void gr_sampler_reset(gr_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->ring_len = s->ring_pos = 0;
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
}

gr_status gr_sampler_new(const gr_sampler_params *p, int32_t n_vocab, gr_sampler **out, char *err,
                         size_t errlen) {
    *out = NULL;
    if (!p || n_vocab <= 0) return gr_err(GR_E_INVALID_ARG, err, errlen, "sampler: bad vocab size");
    if (p->repeat_last_n < 0 || !(p->repeat_penalty > 0) || isnan(p->temp) || isnan(p->top_p) ||
        isnan(p->min_p))
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "sampler: repeat_last_n must be >= 0 and repeat_penalty > 0");
    gr_sampler *s = calloc(1, sizeof *s);
    if (!s) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    s->probs = malloc((size_t)n_vocab * sizeof *s->probs);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->ring = malloc(((size_t)p->repeat_last_n + 1) * sizeof *s->ring);
    if (!s->cands || !s->probs || !s->count || !s->ring) {
        gr_sampler_free(s);
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    }
    gr_sampler_reset(s);
    *out = s;
    return GR_OK;
}

void gr_sampler_free(gr_sampler *s) {
    if (!s) return;
    free(s->cands);
    free(s->probs);
    free(s->count);
    free(s->ring);
    free(s);
}

void gr_sampler_accept(gr_sampler *s, int32_t token) {
    const int32_t cap = s->p.repeat_last_n;
    if (cap <= 0 || token < 0 || token >= s->n_vocab) return;
    if (s->ring_len == cap) s->count[s->ring[s->ring_pos]]--;
    else s->ring_len++;
    s->ring[s->ring_pos] = token;
    s->ring_pos = (s->ring_pos + 1) % cap;
    s->count[token]++;
}

static float penalized(const gr_sampler *s, int32_t id, float l) {
    const int32_t n = s->count[id];
    if (n == 0) return l;
    const float rp = s->p.repeat_penalty;
    if (rp != 1.0f) l = l > 0 ? l / rp : l * rp;
    return l - (float)n * s->p.frequency_penalty - s->p.presence_penalty;
}

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool better(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Move the k best candidates to the front, sorted (k small: min-heap selection; else qsort). */
static void top_sorted(cand *c, int32_t n, int32_t k) {
    if (k >= n || k > 4096) {
        qsort(c, (size_t)n, sizeof *c, cand_cmp);
        return;
    }
    /* c[0..k) as a min-heap of the best seen (root = worst of them). */
    for (int32_t i = k / 2; i-- > 0;) {
        for (int32_t j = i;;) {
            int32_t m = j, a = 2 * j + 1, b = a + 1;
            if (a < k && better(&c[m], &c[a])) m = a;
            if (b < k && better(&c[m], &c[b])) m = b;
            if (m == j) break;
            cand t = c[j]; c[j] = c[m]; c[m] = t;
            j = m;
        }
    }
    for (int32_t i = k; i < n; i++) {
        if (!better(&c[i], &c[0])) continue;
        c[0] = c[i];
        for (int32_t j = 0;;) {
            int32_t m = j, a = 2 * j + 1, b = a + 1;
            if (a < k && better(&c[m], &c[a])) m = a;
            if (b < k && better(&c[m], &c[b])) m = b;
            if (m == j) break;
            cand t = c[j]; c[j] = c[m]; c[m] = t;
            j = m;
        }
    }
    qsort(c, (size_t)k, sizeof *c, cand_cmp);
}

/* Softmax of the first n (sorted) candidates at temperature t into probs. */
static void softmax_into(const cand *c, int32_t n, float t, float *probs) {
    double sum = 0;
    for (int32_t i = 0; i < n; i++) {
        probs[i] = expf((c[i].logit - c[0].logit) / t);
        sum += probs[i];
    }
    for (int32_t i = 0; i < n; i++) probs[i] = (float)(probs[i] / sum);
}

/* Candidates: every token, or only those whose mask bit is set. Returns their count. */
static int32_t gather(gr_sampler *s, const float *logits, const uint32_t *mask) {
    const int32_t V = s->n_vocab;
    cand *c = s->cands;
    if (!mask) {
        for (int32_t i = 0; i < V; i++) c[i] = (cand){penalized(s, i, logits[i]), i};
        return V;
    }
    int32_t n = 0;
    for (int32_t w = 0; w < (V + 31) / 32; w++) {
        for (uint32_t bits = mask[w]; bits; bits &= bits - 1) {
            int32_t i = w * 32 + __builtin_ctz(bits);
            if (i < V) c[n++] = (cand){penalized(s, i, logits[i]), i};
        }
    }
    return n;
}

int32_t gr_sampler_sample(gr_sampler *s, const float *logits) {
    return gr_sampler_sample_masked(s, logits, NULL);
}

int32_t gr_sampler_sample_masked(gr_sampler *s, const float *logits, const uint32_t *mask) {
    cand *c = s->cands;
    const int32_t V = gather(s, logits, mask);
    if (V == 0) return -1;
    if (s->p.temp <= 0) {
        int32_t best = 0;
        for (int32_t i = 1; i < V; i++)
            if (better(&c[i], &c[best])) best = i;
        return c[best].id;
    }
    int32_t n = V;
    if (s->p.top_k > 0 && s->p.top_k < n) n = s->p.top_k;
    top_sorted(c, V, n);
    if (s->p.top_p < 1.0f) {
        softmax_into(c, n, 1.0f, s->probs);
        double cum = 0;
        for (int32_t i = 0; i < n; i++) {
            cum += s->probs[i];
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0) {
        softmax_into(c, n, 1.0f, s->probs);
        const float thr = s->probs[0] * s->p.min_p;
        int32_t keep = 1;
        while (keep < n && s->probs[keep] >= thr) keep++;
        n = keep;
    }
    softmax_into(c, n, s->p.temp, s->probs);
    const double u = next_unit(s);
    double cum = 0;
    for (int32_t i = 0; i < n; i++) {
        cum += s->probs[i];
        if (u < cum) return c[i].id;
    }
    return c[n - 1].id;
}
