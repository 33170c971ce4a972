/* fuzz_manifest.c — libFuzzer target for what `gemrun pull` reads from disk or the network before
 * trusting it: cache manifests (gr_manifest_parse; a parsed manifest must write out and parse back
 * equal) and GGUF header prefixes (gr_gguf_peek_scan on every input, and on each of its prefixes at
 * a few cut points: "complete" must report the same header end for every longer prefix). */
#include "pull/cache.h"
#include "pull/check.h"

#include <stdlib.h>
#include <string.h>

static void manifest(const uint8_t *data, size_t size) {
    gr_manifest m, back;
    if (gr_manifest_parse((const char *)data, size, &m, NULL, 0) != GR_OK) return;
    char *j = gr_manifest_to_json(&m);
    if (!j) return;
    if (gr_manifest_parse(j, strlen(j), &back, NULL, 0) != GR_OK) abort();
    if (strcmp(m.name, back.name) || strcmp(m.sha256, back.sha256) || m.size != back.size) abort();
    free(j);
}

static void peek(const uint8_t *data, size_t size) {
    gr_gguf_peek full, p;
    if (gr_gguf_peek_scan(data, size, &full, NULL, 0) != GR_OK) return;
    if (full.complete && full.header > size) abort();
    if (!full.complete && full.need <= size) abort();
    size_t cuts[3] = {size / 3, size / 2, size ? size - 1 : 0};
    for (int i = 0; i < 3; i++) {
        if (gr_gguf_peek_scan(data, cuts[i], &p, NULL, 0) != GR_OK) abort(); /* a prefix of a good one */
        if (p.complete && (!full.complete || p.header != full.header)) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    manifest(data, size);
    peek(data, size);
    return 0;
}
