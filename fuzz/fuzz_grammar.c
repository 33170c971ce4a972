/* fuzz_grammar.c — libFuzzer target for the grammar engine: the JSON Schema -> grammar compiler,
 * the matcher and the token mask. Input: schema text, a NUL, then a document (an empty schema part
 * means the "any JSON" grammar). Checked, besides no crash / leak / hang:
 *  - a compile error has a message and one of the documented statuses;
 *  - fail closed: a document the grammar accepts as complete parses as JSON and validates against
 * the same schema with src/validate/schema.h (the grammar's language is a subset of the schema's);
 *  - the mask agrees with feeding: over a small vocabulary cut from the document, a token is
 * allowed exactly when feeding its bytes succeeds (end-of-turn: exactly when the output is
 * complete). */
#include "core/json.h"
#include "grammar/grammar.h"
#include "validate/schema.h"

#include <stdlib.h>
#include <string.h>

#define N_TOK 24

static void check_mask(const gr_grammar *g, gr_gmatch *m, const char *doc, size_t n) {
    gr_gtoken toks[N_TOK];
    for (int i = 0; i < N_TOK - 1;
         i++) { /* pieces of the document of 1..4 bytes, plus a few fixed */
        size_t at = n ? ((size_t)i * 7) % n : 0, len = (size_t)(i % 4) + 1;
        if (at + len > n) len = n - at;
        toks[i] = (gr_gtoken){doc + at, len, GR_GTOK_NORMAL};
    }
    toks[N_TOK - 1] = (gr_gtoken){"<eos>", 5, GR_GTOK_EOG};
    gr_gvocab *v = NULL;
    if (gr_gvocab_new(toks, N_TOK, &v, NULL, 0) != GR_OK) return;
    uint32_t mask[1];
    gr_gmatch_mask(m, v, mask);
    for (int i = 0; i < N_TOK; i++) {
        bool allowed = (mask[0] >> i) & 1, ok;
        if (i == N_TOK - 1) {
            ok = gr_gmatch_accepting(m);
        } else {
            gr_gmatch *c = NULL;
            if (gr_gmatch_new(g, &c, NULL, 0) != GR_OK) break;
            ok = toks[i].len > 0 && gr_gmatch_feed(c, doc, n) &&
                 gr_gmatch_feed(c, toks[i].bytes, toks[i].len);
            gr_gmatch_free(c);
        }
        if (allowed != ok) abort();
    }
    gr_gvocab_free(v);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t slen = nul ? (size_t)(nul - text) : size;
    const char *doc = nul ? nul + 1 : "";
    size_t dlen = nul ? size - slen - 1 : 0;
    gr_grammar *g = NULL;
    char err[256] = "";
    gr_status st = slen ? gr_grammar_from_schema(text, slen, NULL, &g, err, sizeof err)
                        : gr_grammar_json(NULL, &g, err, sizeof err);
    if (st != GR_OK) {
        if (g || !err[0] ||
            (st != GR_E_FORMAT && st != GR_E_UNSUPPORTED && st != GR_E_INVALID_ARG &&
             st != GR_E_NOMEM))
            abort();
        return 0;
    }
    gr_gmatch *m = NULL;
    if (gr_gmatch_new(g, &m, NULL, 0) != GR_OK) abort();
    size_t fed = 0; /* feed in uneven chunks; a rejected chunk leaves the matcher unchanged */
    for (size_t i = 0; i < dlen;) {
        size_t k = 1 + (i * 5) % 7;
        if (i + k > dlen) k = dlen - i;
        if (!gr_gmatch_feed(m, doc + i, k)) break;
        i += k, fed = i;
    }
    if (fed == dlen && gr_gmatch_accepting(m)) {
        gr_json *j = NULL;
        if (gr_json_parse(doc, dlen, NULL, &j, err, sizeof err) != GR_OK) abort();
        gr_json_free(j);
        gr_schema *sc = NULL;
        if (slen && gr_schema_compile(text, slen, &sc, err, sizeof err) == GR_OK) {
            gr_schema_fail f;
            if (gr_schema_validate_text(sc, doc, dlen, &f, err, sizeof err) != GR_OK) abort();
        }
        gr_schema_free(sc);
    }
    if (fed < 256) check_mask(g, m, doc, fed);
    gr_gmatch_free(m);
    gr_grammar_free(g);
    return 0;
}
