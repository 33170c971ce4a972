/* fuzz_schema.c — libFuzzer target for the JSON Schema compiler and validator. The input is split at the
 * first NUL byte: schema text, then a document. A schema must compile or fail with a message; a compiled
 * schema must validate the document (and the schema text itself) without crashing, leaking or hanging. */
#include "validate/schema.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t slen = nul ? (size_t)(nul - text) : size;
    gr_schema *s = NULL;
    char err[256] = "";
    gr_status st = gr_schema_compile(text, slen, &s, err, sizeof err);
    if (st != GR_OK) {
        if (s || err[0] == 0 || (st != GR_E_FORMAT && st != GR_E_UNSUPPORTED && st != GR_E_NOMEM)) abort();
        return 0;
    }
    gr_schema_fail f;
    const char *doc = nul ? nul + 1 : text;
    size_t dlen = nul ? size - slen - 1 : slen;
    st = gr_schema_validate_text(s, doc, dlen, &f, err, sizeof err);
    if (st != GR_OK && (st != GR_E_FORMAT || err[0] == 0)) abort();
    gr_schema_free(s);
    return 0;
}
