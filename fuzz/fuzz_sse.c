/* fuzz_sse.c — libFuzzer target for the cloud engine's stream readers: the SSE parser
 * (cloud/sse.h), the JSON-array splitter (cloud/jarray.h) and the Gemini / OpenAI response readers
 * they feed. Property checked on every input: feeding it in two pieces (split point from the first
 * two bytes) gives exactly the events of feeding it whole. Crashes, leaks and sanitizer reports are
 * bugs too. */
#include "cloud/gemini.h"
#include "cloud/jarray.h"
#include "cloud/openai.h"
#include "cloud/sse.h"

#include <stdlib.h>
#include <string.h>

typedef struct digest {
    uint64_t h; /* FNV-1a over every event's kind, type and bytes */
    size_t n;
    gr_cloud_reply reply;
} digest;

static void mix(digest *d, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 1099511628211ULL;
}

static int on_text(void *user, const char *t, size_t n) {
    mix(user, t, n);
    return 0;
}

static int on_event(void *user, gr_sse_kind kind, const char *event, const char *data, size_t len) {
    digest *d = user;
    d->n++;
    mix(d, &kind, sizeof kind);
    mix(d, event, strlen(event));
    mix(d, data, len);
    if (data[len] != 0) abort();
    if (kind == GR_SSE_DATA) {
        gr_gemini_parse(data, len, &d->reply, on_text, d, NULL, 0);
        gr_openai_parse(data, len, true, &d->reply, on_text, d, NULL, 0);
    }
    return 0;
}

static int on_elem(void *user, const char *e, size_t len) {
    digest *d = user;
    d->n++;
    mix(d, e, len);
    gr_gemini_parse(e, len, &d->reply, on_text, d, NULL, 0);
    return 0;
}

static void run(const unsigned char *data, size_t size, size_t cut, digest *sd, digest *jd,
                gr_status st[4]) {
    memset(sd, 0, sizeof *sd);
    memset(jd, 0, sizeof *jd);
    gr_cloud_reply_init(&sd->reply);
    gr_cloud_reply_init(&jd->reply);
    gr_sse s;
    gr_jarray j;
    gr_sse_init(&s, on_event, sd);
    gr_jarray_init(&j, on_elem, jd);
    s.max_event = 4096;
    j.max_elem = 4096;
    st[0] = gr_sse_feed(&s, data, cut);
    if (st[0] == GR_OK) st[0] = gr_sse_feed(&s, data + cut, size - cut);
    st[1] = st[0] == GR_OK ? gr_sse_finish(&s) : st[0];
    st[2] = gr_jarray_feed(&j, data, cut);
    if (st[2] == GR_OK) st[2] = gr_jarray_feed(&j, data + cut, size - cut);
    st[3] = st[2] == GR_OK ? gr_jarray_finish(&j) : st[2];
    gr_sse_free(&s);
    gr_jarray_free(&j);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 2) return 0;
    size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    data += 2, size -= 2;
    if (cut > size) cut = size;
    digest a1, a2, b1, b2;
    gr_status sa[4], sb[4];
    run(data, size, 0, &a1, &a2, sa);
    run(data, size, cut, &b1, &b2, sb);
    /* Errors (an over-long event) may surface at a different feed, but only where both fail. */
    if (sa[1] == GR_OK && (sb[1] != GR_OK || a1.h != b1.h || a1.n != b1.n)) abort();
    if (sa[3] == GR_OK && (sb[3] != GR_OK || a2.h != b2.h || a2.n != b2.n)) abort();
    return 0;
}
