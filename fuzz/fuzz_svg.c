/* fuzz_svg.c — libFuzzer target for the XML tokenizer and the SVG validator/sanitizer. Invariants: the
 * validator and sanitizer agree on well-formedness; sanitized output validates clean and sanitizing it
 * again changes nothing; accepted input is left unchanged apart from comments by the sanitizer. */
#include "validate/svg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    const char *text = (const char *)data;
    char err[256] = "";
    gr_status v = gr_svg_validate(text, size, err, sizeof err);
    if (v != GR_OK && (v != GR_E_FORMAT || strncmp(err, "line ", 5) != 0)) abort();
    char *out = NULL;
    size_t olen = 0, removed = 0;
    gr_status s = gr_svg_sanitize(text, size, &out, &olen, &removed, err, sizeof err);
    if (v == GR_OK && s != GR_OK) abort();
    if (s != GR_OK) {
        if (out) abort();
        return 0;
    }
    if (gr_svg_validate(out, olen, err, sizeof err) != GR_OK) abort();
    char *again = NULL;
    size_t alen = 0, r2 = 0;
    if (gr_svg_sanitize(out, olen, &again, &alen, &r2, err, sizeof err) != GR_OK) abort();
    if (r2 != 0 || alen != olen || memcmp(again, out, olen) != 0) abort();
    free(again);
    free(out);
    return 0;
}
