/* gram_tok.c — builds the grammar's per-vocabulary data from a gr_tokenizer: each token's output
 * bytes (what the engine streams for it) and its kind. End-of-generation ids are EOG; control,
 * unknown, unused and user-defined tokens are SPECIAL (never allowed under a grammar). */
#include "grammar/gram_tok.h"

#include "core/error.h"

#include <stdlib.h>

enum { TT_NORMAL = 1, TT_BYTE = 6 };

gr_status gr_gvocab_from_tokenizer(const gr_tokenizer *t, gr_gvocab **out, char *err,
                                   size_t errlen) {
    if (!t || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "gvocab: NULL argument");
    int32_t n = gr_tokenizer_n_vocab(t);
    gr_gtoken *toks = calloc((size_t)(n > 0 ? n : 1), sizeof *toks);
    char *buf = malloc((size_t)(n > 0 ? n : 1) * 64);
    size_t used = 0, cap = (size_t)(n > 0 ? n : 1) * 64;
    gr_status s = toks && buf ? GR_OK : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    for (int32_t i = 0; i < n && !s; i++) {
        int32_t type = gr_tokenizer_token_type(t, i);
        if (gr_tokenizer_is_eog(t, i)) {
            toks[i].kind = GR_GTOK_EOG;
            continue;
        }
        if (type != TT_NORMAL && type != TT_BYTE) {
            toks[i].kind = GR_GTOK_SPECIAL;
            continue;
        }
        size_t len = gr_token_piece(t, i, false, NULL, 0);
        if (used + len > cap) {
            while (used + len > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
                break;
            }
            buf = nb;
        }
        gr_token_piece(t, i, false, buf + used, len);
        toks[i] = (gr_gtoken){NULL, len, GR_GTOK_NORMAL};
        toks[i].bytes = (const char *)(uintptr_t)used; /* offset until buf stops moving */
        used += len;
    }
    for (int32_t i = 0; i < n && !s; i++)
        if (toks[i].kind == GR_GTOK_NORMAL) toks[i].bytes = buf + (uintptr_t)toks[i].bytes;
    if (!s) s = gr_gvocab_new(toks, n, out, err, errlen);
    free(toks);
    free(buf);
    return s;
}
