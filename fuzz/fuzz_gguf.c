/* fuzz_gguf.c — libFuzzer target for the GGUF reader: parse arbitrary bytes, then touch every kv
 * through every getter and every tensor's first and last data byte. Must not crash or leak; it
 * checks invariants the reader promises (find-by-name agrees with index, data within the buffer).
 */
#include "gguf/gguf.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ELEMS 64 /* elements visited per array: enough to reach every code path */

static void walk_array(const gr_gguf *g, const char *key, volatile uint8_t *sink) {
    gr_gguf_vtype et;
    uint64_t n;
    if (gr_gguf_get_arr(g, key, &et, &n) != GR_OK) abort();
    uint64_t lim = n < MAX_ELEMS ? n : MAX_ELEMS;
    for (uint64_t i = 0; i <= lim; i++) { /* i == lim also probes the out-of-range path */
        int64_t v;
        float f;
        bool b;
        gr_gguf_str s;
        gr_gguf_vtype net;
        uint64_t nn;
        (void)gr_gguf_arr_i64(g, key, i, &v);
        (void)gr_gguf_arr_f32(g, key, i, &f);
        (void)gr_gguf_arr_bool(g, key, i, &b);
        if (gr_gguf_arr_str(g, key, i, &s) == GR_OK && s.len) *sink ^= (uint8_t)s.ptr[s.len - 1];
        (void)gr_gguf_arr_nested(g, key, i, &net, &nn);
    }
    int64_t per_layer[MAX_ELEMS];
    (void)gr_gguf_get_per_layer_i64(g, key, (uint32_t)lim, per_layer);
}

static void walk_kv(const gr_gguf *g, int64_t i, volatile uint8_t *sink) {
    const char *key = gr_gguf_kv_key(g, i);
    if (!key || gr_gguf_find_key(g, key) != i) abort();
    int64_t v;
    uint32_t u;
    float f;
    bool b;
    gr_gguf_str s;
    size_t len;
    (void)gr_gguf_get_i64(g, key, &v);
    (void)gr_gguf_get_u32(g, key, &u);
    (void)gr_gguf_get_f32(g, key, &f);
    (void)gr_gguf_get_bool(g, key, &b);
    if (gr_gguf_get_str(g, key, &s) == GR_OK && s.len) *sink ^= (uint8_t)s.ptr[s.len - 1];
    const uint8_t *raw = gr_gguf_kv_raw(g, i, &len);
    if (len) *sink ^= raw[len - 1];
    int64_t one;
    (void)gr_gguf_get_per_layer_i64(g, key, 1, &one);
    if (gr_gguf_kv_type(g, i) == GR_GGUF_ARRAY) walk_array(g, key, sink);
}

static void walk_tensor(const gr_gguf *g, int64_t i, const uint8_t *buf, size_t size,
                        volatile uint8_t *sink) {
    const gr_gguf_tensor *t = gr_gguf_tensor_at(g, i);
    if (!t || gr_gguf_find_tensor(g, t->name) != t) abort();
    const uint8_t *d = t->data;
    if (d < buf || t->nbytes > size || (size_t)(d - buf) > size - t->nbytes) abort();
    if (t->nbytes) *sink ^= d[0] ^ d[t->nbytes - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gr_gguf *g = NULL;
    char err[256];
    volatile uint8_t sink = 0; /* keeps the data reads from being optimised away */
    if (gr_gguf_open_memory(data, size, &g, err, sizeof err) != GR_OK) {
        if (g || !memchr(err, 0, sizeof err) || err[0] == '\0') abort(); /* must explain itself */
        return 0;
    }
    for (int64_t i = 0; i < gr_gguf_n_kv(g); i++)
        walk_kv(g, i, &sink);
    for (int64_t i = 0; i < gr_gguf_n_tensors(g); i++)
        walk_tensor(g, i, data, size, &sink);
    (void)gr_gguf_find_key(g, "general.alignment");
    (void)gr_gguf_find_tensor(g, "token_embd.weight");
    gr_gguf_close(g);
    return 0;
}
