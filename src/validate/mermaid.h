/* mermaid.h — Mermaid diagram validator: a real tokenizer + grammar for `mindmap` and
 * `flowchart`/`graph` diagrams (see docs/validation.md for the accepted syntax). It reports the first
 * error with its line and column; it does not render, and it must never crash on hostile input or keep
 * global state (fuzz/fuzz_mermaid.c). Stricter than mermaid.js where mermaid.js is ambiguous: unquoted
 * node text may not contain bracket characters (quote it), mindmap indentation uses spaces and a dedent
 * must return to an earlier level, and `click` may not use javascript: URLs. */
#ifndef GR_VALIDATE_MERMAID_H
#define GR_VALIDATE_MERMAID_H

#include "gemrun.h"

#include <stddef.h>

typedef enum gr_mermaid_kind { GR_MERMAID_NONE = 0, GR_MERMAID_FLOWCHART, GR_MERMAID_MINDMAP } gr_mermaid_kind;

typedef struct gr_mermaid_info {
    gr_mermaid_kind kind;
    size_t nodes;     /* mindmap: nodes; flowchart: node references (an id used twice counts twice) */
    size_t edges;     /* flowchart: links, `A & B --> C` counts 2 */
    size_t subgraphs; /* flowchart */
    size_t depth;     /* mindmap: tree depth (root alone = 1); flowchart: deepest subgraph nesting */
} gr_mermaid_info;

/* GR_OK, or GR_E_FORMAT with "line L col C: message". info may be NULL. */
gr_status gr_mermaid_validate(const char *text, size_t len, gr_mermaid_info *info, char *err, size_t errlen);

#endif
