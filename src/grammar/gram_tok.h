/* gram_tok.h — the bridge from a tokenizer to the grammar's per-vocabulary data (gram_tok.c). */
#ifndef GR_GRAMMAR_GRAM_TOK_H
#define GR_GRAMMAR_GRAM_TOK_H

#include "grammar/grammar.h"
#include "text/tokenizer.h"

/* Build the per-vocabulary data once per tokenizer (~all tokens' bytes; see gram_vocab.c). */
gr_status gr_gvocab_from_tokenizer(const gr_tokenizer *t, gr_gvocab **out, char *err,
                                   size_t errlen);

#endif
