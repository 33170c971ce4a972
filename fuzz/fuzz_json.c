/* fuzz_json.c — libFuzzer target for the core JSON parser and writer. Every input must either parse
 * (then the tree is walked, written, re-parsed and compared equal) or fail with GR_E_FORMAT and a
 * positioned message; anything else (crash, leak, sanitizer report, abort) is a bug. */
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

/* Touch every node through the public accessors so out-of-bounds offsets would be caught. */
static size_t walk(const gr_json_val *v, int depth) {
    size_t n = 1, len;
    switch (gr_json_type_of(v)) {
    case GR_JSON_STRING: {
        const char *s = gr_json_str(v, &len);
        if (s[len] != 0) abort();
        break;
    }
    case GR_JSON_NUMBER: {
        int64_t iv;
        (void)gr_json_int(v, &iv);
        if (!gr_json_num_text(v, &len) || len == 0) abort();
        break;
    }
    case GR_JSON_ARRAY:
    case GR_JSON_OBJECT: {
        size_t count = 0;
        for (const gr_json_val *c = gr_json_child(v); c; c = gr_json_next(v, c)) {
            n += walk(c, depth + 1);
            count++;
        }
        if (count != gr_json_len(v) * (gr_json_type_of(v) == GR_JSON_OBJECT ? 2 : 1)) abort();
        break;
    }
    default: break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    gr_json *doc = NULL;
    char err[256];
    gr_status st = gr_json_parse((const char *)data, size, NULL, &doc, err, sizeof err);
    if (st != GR_OK) {
        if (st != GR_E_FORMAT || doc || strncmp(err, "line ", 5) != 0) abort();
        return 0;
    }
    const gr_json_val *root = gr_json_root(doc);
    walk(root, 0);
    char *out = NULL;
    size_t len = 0;
    if (gr_json_write(root, &out, &len) != GR_OK) abort();
    gr_json *again = NULL;
    if (gr_json_parse(out, len, NULL, &again, err, sizeof err) != GR_OK) abort();
    if (!gr_json_equal(root, gr_json_root(again))) abort();
    char *out2 = NULL;
    size_t len2 = 0;
    if (gr_json_write(gr_json_root(again), &out2, &len2) != GR_OK) abort();
    if (len2 != len || memcmp(out, out2, len) != 0) abort(); /* writing is a fixed point */
    free(out2);
    free(out);
    gr_json_free(again);
    gr_json_free(doc);
    return 0;
}
