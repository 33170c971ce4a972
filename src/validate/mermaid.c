/* mermaid.c — line-oriented tokenizer and recursive-descent grammar for Mermaid mindmap and flowchart
 * diagrams (see mermaid.h). Must not use regexes, keep global state, or read outside the input. */
#include "validate/mermaid.h"

#include "core/error.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 1000
#define MAX_BYTES (4u << 20)

typedef struct mp {
    const char *s; /* current line (not NUL-terminated) */
    size_t n, i;   /* line length, cursor */
    int line;
    char *err;
    size_t errlen;
    gr_mermaid_info *info;
} mp;

static gr_status mfail(mp *p, size_t col0, const char *msg) {
    return gr_err(GR_E_FORMAT, p->err, p->errlen, "line %d col %zu: %s", p->line, col0 + 1, msg);
}

static bool is_ws(char c) { return c == ' ' || c == '\t'; }
static bool is_idc(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}
static void ws(mp *p) { while (p->i < p->n && is_ws(p->s[p->i])) p->i++; }
static bool eol(const mp *p) { return p->i >= p->n; }
static char cur(const mp *p) { return p->i < p->n ? p->s[p->i] : 0; }
static bool at(const mp *p, const char *lit) {
    size_t k = strlen(lit);
    return p->n - p->i >= k && memcmp(p->s + p->i, lit, k) == 0;
}

/* Is the rest of the line blank or a %% comment? */
static bool blank_or_comment(const mp *p) {
    size_t i = p->i;
    while (i < p->n && is_ws(p->s[i])) i++;
    return i >= p->n || (i + 1 < p->n && p->s[i] == '%' && p->s[i + 1] == '%');
}

/* A word made of id characters; returns its length (0 if none). */
static size_t word(const mp *p) {
    size_t k = p->i;
    while (k < p->n && is_idc(p->s[k])) k++;
    return k - p->i;
}
static bool kw(const mp *p, const char *w) {
    size_t k = strlen(w);
    return word(p) == k && memcmp(p->s + p->i, w, k) == 0;
}

/* ---- shapes and labels -------------------------------------------------------------------------- */

typedef struct shape {
    const char *open, *close, *close2;
} shape;

static const shape k_flow_shapes[] = {
    {"(((", ")))", NULL}, {"([", "])", NULL}, {"((", "))", NULL}, {"[[", "]]", NULL}, {"[(", ")]", NULL},
    {"[/", "/]", "\\]"},  {"[\\", "\\]", "/]"}, {"{{", "}}", NULL}, {"[", "]", NULL},  {"(", ")", NULL},
    {"{", "}", NULL},     {">", "]", NULL}};
static const shape k_mind_shapes[] = {{"((", "))", NULL}, {"))", "((", NULL}, {"{{", "}}", NULL},
                                      {"(", ")", NULL},   {")", "(", NULL},   {"[", "]", NULL}};

static const shape *match_shape(const mp *p, const shape *tab, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (at(p, tab[k].open)) return &tab[k];
    return NULL;
}

/* Label text up to the shape's closer. Quoted text ("...") may hold anything but a quote; unquoted text
 * may not hold bracket characters, so an unbalanced bracket is reported where it occurs. */
static gr_status label(mp *p, const shape *sh, size_t open_col) {
    p->i += strlen(sh->open);
    size_t start = p->i;
    if (cur(p) == '"') {
        p->i++;
        while (!eol(p) && cur(p) != '"') p->i++;
        if (eol(p)) return mfail(p, start, "unterminated quoted text");
        p->i++;
        if (!(at(p, sh->close) || (sh->close2 && at(p, sh->close2))))
            return mfail(p, p->i, "expected the shape to close after the quoted text");
    }
    for (;;) {
        if (eol(p)) return mfail(p, open_col, "unclosed node shape (missing closing bracket)");
        if (at(p, sh->close) || (sh->close2 && at(p, sh->close2))) break;
        if (strchr("[](){}\"", cur(p))) return mfail(p, p->i, "unbalanced bracket or quote in node text (quote the text)");
        p->i++;
    }
    if (p->i == start) return mfail(p, open_col, "empty node text");
    p->i += at(p, sh->close) ? strlen(sh->close) : strlen(sh->close2);
    return GR_OK;
}

static gr_status class_suffix(mp *p) {
    if (!at(p, ":::")) return GR_OK;
    p->i += 3;
    size_t w = word(p);
    if (!w) return mfail(p, p->i, "expected a class name after ':::'");
    p->i += w;
    return GR_OK;
}

/* ---- flowchart ---------------------------------------------------------------------------------- */

/* Node id: id characters, '-' allowed inside when followed by an id character (so `a-b` is an id but
 * `a-->b` is a link). */
static size_t flow_id(const mp *p) {
    size_t k = p->i;
    while (k < p->n) {
        if (is_idc(p->s[k])) k++;
        else if (p->s[k] == '-' && k > p->i && k + 1 < p->n && is_idc(p->s[k + 1])) k++;
        else break;
    }
    return k - p->i;
}

static gr_status flow_node(mp *p) {
    size_t start = p->i, w = flow_id(p);
    if (!w) return mfail(p, p->i, "expected a node id");
    if (w == 3 && memcmp(p->s + start, "end", 3) == 0) return mfail(p, start, "'end' cannot be used as a node id");
    p->i += w;
    const shape *sh = match_shape(p, k_flow_shapes, sizeof k_flow_shapes / sizeof k_flow_shapes[0]);
    if (sh) {
        gr_status st = label(p, sh, p->i);
        if (st != GR_OK) return st;
    }
    p->info->nodes++;
    return class_suffix(p);
}

static gr_status flow_group(mp *p, size_t *count) {
    *count = 0;
    for (;;) {
        gr_status st = flow_node(p);
        if (st != GR_OK) return st;
        (*count)++;
        size_t save = p->i;
        ws(p);
        if (cur(p) != '&') { p->i = save; return GR_OK; }
        p->i++;
        ws(p);
    }
}

static bool head_char(const mp *p, size_t k) {
    if (k >= p->n) return false;
    char c = p->s[k];
    if (c == '>') return true;
    return (c == 'x' || c == 'o') && (k + 1 >= p->n || !is_idc(p->s[k + 1]));
}

/* A plain link token without inline text: --> --- -.-> -.- ==> === and longer forms, heads > x o.
 * Returns false (cursor unchanged) when none starts here. */
static bool link_plain(mp *p, bool *text_form, char *fam) {
    size_t k = p->i;
    *text_form = false;
    if (k < p->n && p->s[k] == '<') k++;
    if (k >= p->n || (p->s[k] != '-' && p->s[k] != '=')) return false;
    char c = p->s[k];
    *fam = c;
    size_t run = 0;
    while (k < p->n && p->s[k] == c) { k++; run++; }
    if (c == '-' && run == 1 && k < p->n && p->s[k] == '.') {
        *fam = '.';
        while (k < p->n && p->s[k] == '.') k++;
        if (k < p->n && p->s[k] == '-') {
            k++;
            if (head_char(p, k)) k++;
            p->i = k;
            return true;
        }
        if (k < p->n && is_ws(p->s[k])) { p->i = k; *text_form = true; return true; }
        return false;
    }
    if (run >= 2 && head_char(p, k)) { p->i = k + 1; return true; }
    if (run >= 3) { p->i = k; return true; }
    if (run == 2 && k < p->n && is_ws(p->s[k]) && p->s[p->i] != '<') { p->i = k; *text_form = true; return true; }
    return false;
}

static gr_status flow_link(mp *p) {
    size_t start = p->i;
    bool text_form;
    char fam;
    if (!link_plain(p, &text_form, &fam)) return mfail(p, start, "malformed link");
    if (text_form) { /* -- text -->, == text ==>, -. text .-> */
        const char *closer = fam == '-' ? "--" : fam == '=' ? "==" : ".-";
        size_t tstart = p->i;
        while (!eol(p) && !at(p, closer)) {
            if (strchr("|[](){}", cur(p))) return mfail(p, p->i, "unexpected character in link text");
            p->i++;
        }
        if (eol(p)) return mfail(p, start, "link text is never closed by an arrow");
        size_t k = tstart;
        while (k < p->i && is_ws(p->s[k])) k++;
        if (k == p->i) return mfail(p, start, "empty link text");
        if (fam == '.') {
            p->i += 2;
            if (head_char(p, p->i)) p->i++;
        } else {
            bool tf;
            char f2;
            if (!link_plain(p, &tf, &f2) || tf || f2 != fam) return mfail(p, p->i, "malformed closing arrow after link text");
        }
    }
    size_t save = p->i;
    ws(p);
    if (cur(p) == '|') {
        size_t lstart = p->i++;
        if (cur(p) == '"') { /* |"quoted | text"| */
            p->i++;
            while (!eol(p) && cur(p) != '"') p->i++;
            if (eol(p)) return mfail(p, lstart, "unterminated quoted edge label");
            p->i++;
            if (cur(p) != '|') return mfail(p, p->i, "expected '|' after the quoted edge label");
        }
        while (!eol(p) && cur(p) != '|') p->i++;
        if (eol(p)) return mfail(p, lstart, "unterminated |edge label|");
        if (p->i == lstart + 1) return mfail(p, lstart, "empty |edge label|");
        p->i++;
    } else p->i = save;
    return GR_OK;
}

static bool link_starts(const mp *p) {
    char c = cur(p);
    return c == '-' || c == '=' || (c == '<' && p->i + 1 < p->n && (p->s[p->i + 1] == '-' || p->s[p->i + 1] == '='));
}

static gr_status flow_chain(mp *p) {
    size_t left;
    gr_status st = flow_group(p, &left);
    if (st != GR_OK) return st;
    for (;;) {
        size_t save = p->i;
        ws(p);
        if (!link_starts(p)) { p->i = save; return GR_OK; }
        size_t lk = p->i;
        st = flow_link(p);
        if (st != GR_OK) return st;
        ws(p);
        if (eol(p) || cur(p) == ';' || (cur(p) == '%' && at(p, "%%")))
            return mfail(p, lk, "dangling link: no node after the arrow");
        size_t right;
        st = flow_group(p, &right);
        if (st != GR_OK) return st;
        p->info->edges += left * right;
        left = right;
    }
}

/* Rest of the statement (styles, class lists): must be non-empty; ends at ';' or end of line. */
static gr_status rest_nonempty(mp *p, const char *what) {
    ws(p);
    size_t start = p->i;
    while (!eol(p) && cur(p) != ';') p->i++;
    if (p->i == start) return mfail(p, start, what);
    return GR_OK;
}

static gr_status need_ws(mp *p, const char *what) {
    if (eol(p) || !is_ws(cur(p))) return mfail(p, p->i, what);
    ws(p);
    return GR_OK;
}

static bool direction_word(mp *p) {
    static const char *const d[] = {"TD", "TB", "BT", "RL", "LR"};
    for (int k = 0; k < 5; k++)
        if (kw(p, d[k])) { p->i += 2; return true; }
    return false;
}

typedef struct subg {
    int line;
    size_t col;
} subg;

typedef struct flow {
    subg stack[MAX_DEPTH];
    size_t depth;
} flow;

static gr_status flow_subgraph(mp *p, flow *f) {
    size_t col = p->i;
    p->i += 8;
    gr_status st = need_ws(p, "expected a subgraph id or title");
    if (st != GR_OK) return st;
    if (eol(p) || cur(p) == ';') return mfail(p, p->i, "expected a subgraph id or title");
    if (cur(p) == '"') {
        size_t q = p->i++;
        while (!eol(p) && cur(p) != '"') p->i++;
        if (eol(p)) return mfail(p, q, "unterminated quoted subgraph title");
        p->i++;
    } else {
        size_t w = flow_id(p), k = p->i + w;
        while (k < p->n && is_ws(p->s[k])) k++;
        if (w && (k >= p->n || p->s[k] == '[' || p->s[k] == ';')) { /* `id`, `id [title]` */
            p->i = k;
            if (cur(p) == '[') {
                static const shape sq = {"[", "]", NULL};
                st = label(p, &sq, p->i);
                if (st != GR_OK) return st;
            }
        } else {
            while (!eol(p) && cur(p) != ';') { /* free-text title */
                if (strchr("[](){}\"", cur(p))) return mfail(p, p->i, "unexpected bracket in subgraph title");
                p->i++;
            }
        }
    }
    if (f->depth >= MAX_DEPTH) return mfail(p, col, "subgraphs nested too deeply");
    f->stack[f->depth++] = (subg){p->line, col};
    p->info->subgraphs++;
    if (f->depth > p->info->depth) p->info->depth = f->depth;
    return GR_OK;
}

static gr_status flow_click(mp *p) {
    p->i += 5;
    gr_status st = need_ws(p, "expected a node id after 'click'");
    if (st != GR_OK) return st;
    size_t w = flow_id(p);
    if (!w) return mfail(p, p->i, "expected a node id after 'click'");
    p->i += w;
    st = need_ws(p, "expected a callback or a URL after the node id");
    if (st != GR_OK) return st;
    size_t start = p->i;
    if (eol(p)) return mfail(p, p->i, "expected a callback or a URL after the node id");
    /* Fold the rest of the line (lower case, no blanks or quotes) so no spelling of javascript: slips by. */
    char *low = malloc(p->n - p->i + 1);
    if (!low) return gr_err(GR_E_NOMEM, p->err, p->errlen, "out of memory");
    size_t k = 0;
    for (size_t j = p->i; j < p->n; j++)
        if (!is_ws(p->s[j]) && p->s[j] != '"') low[k++] = (char)tolower((unsigned char)p->s[j]);
    low[k] = 0;
    bool js = strstr(low, "javascript:") || strstr(low, "vbscript:") || strstr(low, "data:");
    free(low);
    if (js) return mfail(p, start, "script or data: URL in click");
    while (!eol(p) && cur(p) != ';') {
        if (cur(p) == '"') {
            size_t q = p->i++;
            while (!eol(p) && cur(p) != '"') p->i++;
            if (eol(p)) return mfail(p, q, "unterminated string");
        }
        p->i++;
    }
    return GR_OK;
}

static gr_status flow_statement(mp *p, flow *f) {
    size_t col = p->i;
    if (kw(p, "subgraph")) return flow_subgraph(p, f);
    if (kw(p, "end")) {
        if (f->depth == 0) return mfail(p, col, "'end' without an open subgraph");
        f->depth--;
        p->i += 3;
        return GR_OK;
    }
    if (kw(p, "direction")) {
        p->i += 9;
        ws(p);
        return direction_word(p) ? GR_OK : mfail(p, p->i, "expected TB, TD, BT, RL or LR");
    }
    if (kw(p, "classDef") || kw(p, "style") || kw(p, "class")) {
        bool is_class = kw(p, "class");
        p->i += word(p);
        gr_status st = need_ws(p, "expected a name");
        if (st != GR_OK) return st;
        size_t w = 0;
        do { /* one id, or for `class` a comma-separated list */
            if (cur(p) == ',') p->i++;
            w = flow_id(p);
            if (!w) return mfail(p, p->i, "expected a name");
            p->i += w;
        } while (is_class && cur(p) == ',');
        return rest_nonempty(p, is_class ? "expected a class name" : "expected style definitions");
    }
    if (kw(p, "linkStyle")) {
        p->i += 9;
        gr_status st = need_ws(p, "expected link numbers or 'default'");
        if (st != GR_OK) return st;
        if (kw(p, "default")) p->i += 7;
        else {
            do {
                if (cur(p) == ',') p->i++;
                size_t d = p->i;
                while (!eol(p) && cur(p) >= '0' && cur(p) <= '9') p->i++;
                if (d == p->i) return mfail(p, p->i, "expected a link number");
            } while (cur(p) == ',');
        }
        return rest_nonempty(p, "expected style definitions");
    }
    if (kw(p, "click")) return flow_click(p);
    return flow_chain(p);
}

static gr_status flow_line(mp *p, flow *f) {
    for (;;) {
        ws(p);
        if (blank_or_comment(p)) return GR_OK;
        if (cur(p) == ';') { p->i++; continue; }
        gr_status st = flow_statement(p, f);
        if (st != GR_OK) return st;
        ws(p);
        if (blank_or_comment(p)) return GR_OK;
        if (cur(p) != ';') return mfail(p, p->i, "unexpected text after the statement");
    }
}

/* ---- mindmap ------------------------------------------------------------------------------------ */

typedef struct mind {
    size_t levels[MAX_DEPTH];
    size_t depth;
    bool have_root;
    size_t root_indent;
} mind;

static gr_status mind_node(mp *p) {
    size_t start = p->i;
    const shape *sh = match_shape(p, k_mind_shapes, sizeof k_mind_shapes / sizeof k_mind_shapes[0]);
    if (!sh) {
        while (!eol(p) && !match_shape(p, k_mind_shapes, sizeof k_mind_shapes / sizeof k_mind_shapes[0])) {
            if (strchr("]}\"", cur(p))) return mfail(p, p->i, "unbalanced bracket or quote in node text");
            p->i++;
        }
        if (eol(p)) return GR_OK; /* plain text node */
        for (size_t k = start; k < p->i; k++)
            if (is_ws(p->s[k])) return mfail(p, k, "node id before a shape may not contain spaces");
        sh = match_shape(p, k_mind_shapes, sizeof k_mind_shapes / sizeof k_mind_shapes[0]);
    }
    gr_status st = label(p, sh, p->i);
    if (st != GR_OK) return st;
    ws(p);
    if (!eol(p)) return mfail(p, p->i, "unexpected text after the node");
    return GR_OK;
}

static gr_status mind_decoration(mp *p, const mind *m) {
    size_t col = p->i;
    if (!m->have_root) return mfail(p, col, "decoration before the first node");
    if (at(p, "::icon(")) {
        p->i += 7;
        size_t s = p->i;
        while (!eol(p) && cur(p) != ')') {
            if (strchr("()[]{}", cur(p))) return mfail(p, p->i, "unexpected bracket in icon name");
            p->i++;
        }
        if (eol(p)) return mfail(p, col, "unterminated ::icon(");
        if (p->i == s) return mfail(p, col, "empty ::icon()");
        p->i++;
    } else {
        p->i += 3;
        do { /* class names: [A-Za-z0-9_-]+ separated by spaces */
            size_t s = p->i;
            while (!eol(p) && (is_idc(cur(p)) || cur(p) == '-')) p->i++;
            if (p->i == s) return mfail(p, p->i, "expected a class name after ':::'");
            ws(p);
        } while (!eol(p));
    }
    ws(p);
    return eol(p) ? GR_OK : mfail(p, p->i, "unexpected text after the decoration");
}

static gr_status mind_line(mp *p, mind *m) {
    size_t indent = 0;
    while (p->i < p->n && is_ws(cur(p))) {
        if (cur(p) == '\t') return mfail(p, p->i, "tab in mindmap indentation (use spaces)");
        indent++;
        p->i++;
    }
    if (at(p, "::icon(") || at(p, ":::")) return mind_decoration(p, m);
    size_t col = p->i;
    gr_status st = mind_node(p);
    if (st != GR_OK) return st;
    if (!m->have_root) {
        m->have_root = true;
        m->root_indent = indent;
        m->levels[0] = indent;
        m->depth = 1;
    } else {
        if (indent <= m->root_indent) return mfail(p, col, "second root node (a mindmap has exactly one root; indent children)");
        bool popped = false;
        while (m->depth > 1 && m->levels[m->depth - 1] > indent) { m->depth--; popped = true; }
        if (m->levels[m->depth - 1] == indent) m->depth--; /* a sibling takes the level over */
        else if (popped) return mfail(p, col, "bad indentation: dedent does not match any outer level");
        if (m->depth >= MAX_DEPTH) return mfail(p, col, "mindmap nested too deeply");
        m->levels[m->depth++] = indent;
    }
    p->info->nodes++;
    if (m->depth > p->info->depth) p->info->depth = m->depth;
    return GR_OK;
}

/* ---- driver ------------------------------------------------------------------------------------- */

static size_t line_end(const char *s, size_t n, size_t i) {
    while (i < n && s[i] != '\n') i++;
    return i;
}

/* The first meaningful line: the diagram type (and a flowchart's direction). */
static gr_status header(mp *p, flow **f, mind **m) {
    gr_mermaid_info *info = p->info;
    ws(p);
    if (kw(p, "mindmap")) {
        p->i += 7;
        info->kind = GR_MERMAID_MINDMAP;
        *m = calloc(1, sizeof **m);
        if (!*m) return gr_err(GR_E_NOMEM, p->err, p->errlen, "out of memory");
    } else if (kw(p, "flowchart") || kw(p, "graph")) {
        p->i += word(p);
        info->kind = GR_MERMAID_FLOWCHART;
        *f = calloc(1, sizeof **f);
        if (!*f) return gr_err(GR_E_NOMEM, p->err, p->errlen, "out of memory");
        ws(p);
        if (!eol(p) && cur(p) != ';' && !direction_word(p))
            return mfail(p, p->i, "expected a direction (TB, TD, BT, RL, LR)");
        if (cur(p) == ';') p->i++;
    } else return mfail(p, p->i, "unknown diagram type (expected flowchart, graph or mindmap)");
    if (!blank_or_comment(p)) {
        ws(p);
        return mfail(p, p->i, "unexpected text after the diagram type");
    }
    return GR_OK;
}

gr_status gr_mermaid_validate(const char *text, size_t len, gr_mermaid_info *info, char *err, size_t errlen) {
    gr_mermaid_info dummy;
    if (!info) info = &dummy;
    memset(info, 0, sizeof *info);
    if (!text && len) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    if (!text) text = "";
    if (len > MAX_BYTES) return gr_err(GR_E_FORMAT, err, errlen, "line 1 col 1: diagram too large");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') {
            int l = 1;
            size_t ls = 0;
            for (size_t k = 0; k < i; k++)
                if (text[k] == '\n') { l++; ls = k + 1; }
            return gr_err(GR_E_FORMAT, err, errlen, "line %d col %zu: control character", l, i - ls + 1);
        }
    }
    mp p = {.err = err, .errlen = errlen, .info = info};
    flow *f = NULL;
    mind *m = NULL;
    gr_status st = GR_OK;
    size_t pos = 0;
    for (int line = 1; pos <= len && st == GR_OK; line++) {
        size_t e = line_end(text, len, pos);
        p.s = text + pos;
        p.n = e - pos;
        if (p.n && p.s[p.n - 1] == '\r') p.n--;
        p.i = 0;
        p.line = line;
        if (info->kind == GR_MERMAID_NONE) {
            if (!blank_or_comment(&p)) st = header(&p, &f, &m);
        } else if (!blank_or_comment(&p)) {
            st = m ? mind_line(&p, m) : flow_line(&p, f);
        }
        pos = e + 1;
    }
    if (st == GR_OK) {
        if (info->kind == GR_MERMAID_NONE) st = gr_err(GR_E_FORMAT, err, errlen, "line 1 col 1: empty diagram");
        else if (m && !m->have_root) st = mfail(&p, 0, "mindmap has no root node");
        else if (f && f->depth > 0)
            st = gr_err(GR_E_FORMAT, err, errlen, "line %d col %zu: subgraph is never closed with 'end'",
                        f->stack[f->depth - 1].line, f->stack[f->depth - 1].col + 1);
    }
    free(f);
    free(m);
    return st;
}
