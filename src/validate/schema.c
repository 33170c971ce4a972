/* schema.c — compiles a JSON Schema subset (see schema.h) into an array of nodes and validates JSON
 * documents against it. Fails closed: unknown keywords are compile errors. Must not keep global state,
 * recurse without bound, or crash on hostile input; validation work is capped by a step budget so
 * combinator-heavy schemas cannot take exponential time. */
#include "validate/schema.h"

#include "core/error.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64 };
enum { F_NONE, F_DATE, F_DATETIME, F_TIME, F_EMAIL, F_URI, F_UUID, F_IPV4 };

#define MAX_NODES 20000
#define MAX_REF_DEPTH 1000
#define MAX_STEPS 2000000
#define MAX_VDEPTH 600

/* ---- pattern: a small regular-expression engine ------------------------------------------------------
 * ECMA-262 subset, matched on code points by simulating the NFA (Thompson/Pike, no backtracking), so
 * the time is O(text x program) whatever the pattern. Supported: literals, '.', [...] classes with ranges
 * and negation, \d \D \w \W \s \S (the negated ones outside brackets only), \t \n \r \f \v \0 \xHH \uHHHH,
 * escaped punctuation, ^ $ (input start/end), groups ( ) (?: ), '|', * + ? {n} {n,} {n,m} (lazy '?'
 * accepted). Refused with an error: backreferences, lookaround, named groups, \b \B, flags, Unicode
 * property escapes. The match is a search (unanchored), as JSON Schema specifies. */

#define RX_MAX_PROG 5000
#define RX_MAX_DEPTH 100
#define RX_INF 0xFFFFFFFFu

enum { RX_CHAR, RX_ANY, RX_CLASS, RX_SPLIT, RX_JMP, RX_BOL, RX_EOL, RX_MATCH };

typedef struct rx_range {
    uint32_t lo, hi;
} rx_range;

typedef struct rx_class {
    rx_range *r;
    size_t n;
    bool neg;
} rx_class;

typedef struct rx_inst {
    uint8_t op;
    uint32_t c; /* RX_CHAR: code point; RX_CLASS: class index */
    int x, y;   /* RX_SPLIT: both targets; RX_JMP: x */
} rx_inst;

typedef struct rx {
    rx_inst *prog;
    size_t n;
    rx_class *cls;
    size_t ncls;
} rx;

/* AST built by the parser; counted repetition is expanded when emitting code. */
enum { RA_EMPTY, RA_CHAR, RA_ANY, RA_CLASS, RA_BOL, RA_EOL, RA_CAT, RA_ALT, RA_REP };
typedef struct rx_ast {
    uint8_t t;
    uint32_t c, min, max;
    int l, r;
} rx_ast;

typedef struct rxp {
    const char *s;
    size_t n, i;
    rx_ast *a;
    size_t na, capa;
    rx *out;
    const char *why;
    int depth;
    size_t work; /* rx_gen calls, so nested empty repetitions cannot loop for ages */
} rxp;

static uint32_t utf8_next(const char *s, size_t n, size_t *i) {
    unsigned char c = (unsigned char)s[*i];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (*i + k > n) k = 1;
    uint32_t cp = k == 1 ? c : (uint32_t)(c & (0x7F >> k));
    for (size_t j = 1; j < k; j++) cp = (cp << 6) | ((unsigned char)s[*i + j] & 0x3F);
    *i += k;
    return cp;
}

static int rx_node(rxp *p, uint8_t t, uint32_t c, int l, int r) {
    if (p->na == p->capa) {
        size_t cap = p->capa ? p->capa * 2 : 32;
        if (cap > 100000) { p->why = "pattern too complex"; return -1; }
        rx_ast *a = realloc(p->a, cap * sizeof *a);
        if (!a) { p->why = "out of memory"; return -1; }
        p->a = a;
        p->capa = cap;
    }
    p->a[p->na] = (rx_ast){.t = t, .c = c, .l = l, .r = r, .min = 1, .max = 1};
    return (int)p->na++;
}

static bool rx_add_range(rx_class *k, uint32_t lo, uint32_t hi) {
    rx_range *r = realloc(k->r, (k->n + 1) * sizeof *r);
    if (!r) return false;
    k->r = r;
    k->r[k->n++] = (rx_range){lo, hi};
    return true;
}

/* Add the ranges of \d \w \s to a class. */
static bool rx_add_named(rx_class *k, char e) {
    static const rx_range d[] = {{'0', '9'}};
    static const rx_range w[] = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static const rx_range s[] = {{9, 13}, {32, 32}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                                 {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                                 {0xFEFF, 0xFEFF}};
    const rx_range *t = e == 'd' ? d : e == 'w' ? w : s;
    size_t n = e == 'd' ? 1 : e == 'w' ? 4 : sizeof s / sizeof s[0];
    for (size_t i = 0; i < n; i++)
        if (!rx_add_range(k, t[i].lo, t[i].hi)) return false;
    return true;
}

static int rx_new_class(rxp *p) {
    rx_class *c = realloc(p->out->cls, (p->out->ncls + 1) * sizeof *c);
    if (!c) { p->why = "out of memory"; return -1; }
    p->out->cls = c;
    c[p->out->ncls] = (rx_class){0};
    return (int)p->out->ncls++;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A single-character escape after '\' (p->i at the character). Returns false with p->why on error. */
static bool rx_escape_char(rxp *p, uint32_t *cp) {
    char e = p->s[p->i++];
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int k = 0; k < digits; k++) {
            int h = p->i < p->n ? hexval(p->s[p->i]) : -1;
            if (h < 0) { p->why = "bad \\x or \\u escape"; return false; }
            v = v * 16 + (uint32_t)h;
            p->i++;
        }
        *cp = v;
        return true;
    }
    switch (e) {
    case 't': *cp = 9; return true;
    case 'n': *cp = 10; return true;
    case 'v': *cp = 11; return true;
    case 'f': *cp = 12; return true;
    case 'r': *cp = 13; return true;
    case '0':
        if (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') break;
        *cp = 0;
        return true;
    default:
        if ((unsigned char)e < 0x80 && !isalnum((unsigned char)e)) { *cp = (unsigned char)e; return true; }
    }
    p->why = "unsupported escape (backreference, \\b, property or unknown letter escape)";
    return false;
}

static int rx_bracket(rxp *p) {
    int ci = rx_new_class(p);
    if (ci < 0) return -1;
    rx_class *k = &p->out->cls[ci];
    if (p->i < p->n && p->s[p->i] == '^') { k->neg = true; p->i++; }
    for (;;) {
        if (p->i >= p->n) { p->why = "unterminated character class"; return -1; }
        if (p->s[p->i] == ']') { p->i++; break; } /* ECMA: "[]" is an empty class */
        uint32_t lo;
        if (p->s[p->i] == '\\') {
            p->i++;
            if (p->i >= p->n) { p->why = "trailing backslash"; return -1; }
            char e = p->s[p->i];
            if (e == 'd' || e == 'w' || e == 's') {
                p->i++;
                if (!rx_add_named(k, e)) { p->why = "out of memory"; return -1; }
                continue;
            }
            if (e == 'b') { p->i++; lo = 8; }
            else if (!rx_escape_char(p, &lo)) return -1;
        } else lo = utf8_next(p->s, p->n, &p->i);
        uint32_t hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            if (p->s[p->i] == '\\') {
                p->i++;
                if (p->i >= p->n || !rx_escape_char(p, &hi)) { if (!p->why) p->why = "bad range"; return -1; }
            } else hi = utf8_next(p->s, p->n, &p->i);
            if (hi < lo) { p->why = "character class range out of order"; return -1; }
        }
        if (!rx_add_range(k, lo, hi)) { p->why = "out of memory"; return -1; }
    }
    return rx_node(p, RA_CLASS, (uint32_t)ci, -1, -1);
}

static int rx_alt(rxp *p);

static int rx_atom(rxp *p) {
    char c = p->s[p->i];
    if (c == '(') {
        if (++p->depth > RX_MAX_DEPTH) { p->why = "groups nested too deeply"; return -1; }
        p->i++;
        if (p->i < p->n && p->s[p->i] == '?') {
            if (p->i + 1 < p->n && p->s[p->i + 1] == ':') p->i += 2;
            else { p->why = "lookaround and named groups are not supported"; return -1; }
        }
        int e = rx_alt(p);
        if (e < 0) return -1;
        if (p->i >= p->n || p->s[p->i] != ')') { p->why = "missing ')'"; return -1; }
        p->i++;
        p->depth--;
        return e;
    }
    if (c == '[') { p->i++; return rx_bracket(p); }
    if (c == '.') { p->i++; return rx_node(p, RA_ANY, 0, -1, -1); }
    if (c == '^') { p->i++; return rx_node(p, RA_BOL, 0, -1, -1); }
    if (c == '$') { p->i++; return rx_node(p, RA_EOL, 0, -1, -1); }
    if (c == '*' || c == '+' || c == '?' || c == '{' || c == ')' || c == ']' || c == '}') {
        p->why = "quantifier or bracket without something to apply to";
        return -1;
    }
    if (c == '\\') {
        p->i++;
        if (p->i >= p->n) { p->why = "trailing backslash"; return -1; }
        char e = p->s[p->i];
        char lower = (char)(e | 0x20);
        if (lower == 'd' || lower == 'w' || lower == 's') {
            p->i++;
            int ci = rx_new_class(p);
            if (ci < 0) return -1;
            p->out->cls[ci].neg = e != lower;
            if (!rx_add_named(&p->out->cls[ci], lower)) { p->why = "out of memory"; return -1; }
            return rx_node(p, RA_CLASS, (uint32_t)ci, -1, -1);
        }
        uint32_t cp;
        if (!rx_escape_char(p, &cp)) return -1;
        return rx_node(p, RA_CHAR, cp, -1, -1);
    }
    return rx_node(p, RA_CHAR, utf8_next(p->s, p->n, &p->i), -1, -1);
}

static bool rx_number(rxp *p, uint32_t *v) {
    size_t st = p->i;
    uint32_t x = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        x = x * 10 + (uint32_t)(p->s[p->i++] - '0');
        if (x > 1000) { p->why = "repetition count above 1000"; return false; }
    }
    *v = x;
    return p->i > st;
}

static int rx_quant(rxp *p) {
    int e = rx_atom(p);
    while (e >= 0 && p->i < p->n) {
        char c = p->s[p->i];
        uint32_t min, max;
        if (c == '*') { min = 0; max = RX_INF; p->i++; }
        else if (c == '+') { min = 1; max = RX_INF; p->i++; }
        else if (c == '?') { min = 0; max = 1; p->i++; }
        else if (c == '{') {
            p->i++;
            if (!rx_number(p, &min)) { if (!p->why) p->why = "bad {n,m} repetition"; return -1; }
            max = min;
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                max = RX_INF;
                if (p->i < p->n && p->s[p->i] != '}' && !rx_number(p, &max)) { if (!p->why) p->why = "bad {n,m} repetition"; return -1; }
            }
            if (p->i >= p->n || p->s[p->i] != '}' || max < min) { p->why = "bad {n,m} repetition"; return -1; }
            p->i++;
        } else break;
        if (p->i < p->n && p->s[p->i] == '?') p->i++; /* lazy: same language */
        int r = rx_node(p, RA_REP, 0, e, -1);
        if (r < 0) return -1;
        p->a[r].min = min;
        p->a[r].max = max;
        e = r;
    }
    return e;
}

static int rx_cat(rxp *p) {
    int e = -1;
    while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        int q = rx_quant(p);
        if (q < 0) return -1;
        e = e < 0 ? q : rx_node(p, RA_CAT, 0, e, q);
        if (e < 0) return -1;
    }
    return e < 0 ? rx_node(p, RA_EMPTY, 0, -1, -1) : e;
}

static int rx_alt(rxp *p) {
    int e = rx_cat(p);
    while (e >= 0 && p->i < p->n && p->s[p->i] == '|') {
        p->i++;
        int r = rx_cat(p);
        if (r < 0) return -1;
        e = rx_node(p, RA_ALT, 0, e, r);
    }
    return e;
}

static int rx_emit(rxp *p, uint8_t op, uint32_t c, int x, int y) {
    rx *o = p->out;
    if (o->n >= RX_MAX_PROG) { p->why = "pattern too complex (program too large)"; return -1; }
    if ((o->n & (o->n - 1)) == 0) { /* grow at powers of two */
        rx_inst *pr = realloc(o->prog, (o->n ? o->n * 2 : 1) * sizeof *pr);
        if (!pr) { p->why = "out of memory"; return -1; }
        o->prog = pr;
    }
    o->prog[o->n] = (rx_inst){op, c, x, y};
    return (int)o->n++;
}

static bool rx_gen(rxp *p, int node, int depth) {
    if (depth > 4 * RX_MAX_DEPTH + 1000 || ++p->work > 200000) { p->why = "pattern too complex"; return false; }
    const rx_ast a = p->a[node];
    switch (a.t) {
    case RA_EMPTY: return true;
    case RA_CHAR: return rx_emit(p, RX_CHAR, a.c, 0, 0) >= 0;
    case RA_ANY: return rx_emit(p, RX_ANY, 0, 0, 0) >= 0;
    case RA_CLASS: return rx_emit(p, RX_CLASS, a.c, 0, 0) >= 0;
    case RA_BOL: return rx_emit(p, RX_BOL, 0, 0, 0) >= 0;
    case RA_EOL: return rx_emit(p, RX_EOL, 0, 0, 0) >= 0;
    case RA_CAT: return rx_gen(p, a.l, depth + 1) && rx_gen(p, a.r, depth + 1);
    case RA_ALT: {
        int sp = rx_emit(p, RX_SPLIT, 0, 0, 0);
        if (sp < 0) return false;
        p->out->prog[sp].x = (int)p->out->n;
        if (!rx_gen(p, a.l, depth + 1)) return false;
        int j = rx_emit(p, RX_JMP, 0, 0, 0);
        if (j < 0) return false;
        p->out->prog[sp].y = (int)p->out->n;
        if (!rx_gen(p, a.r, depth + 1)) return false;
        p->out->prog[j].x = (int)p->out->n;
        return true;
    }
    default: break;
    }
    for (uint32_t k = 0; k < a.min; k++) /* RA_REP: the mandatory copies */
        if (!rx_gen(p, a.l, depth + 1)) return false;
    if (a.max == RX_INF) {
        int sp = rx_emit(p, RX_SPLIT, 0, 0, 0);
        if (sp < 0) return false;
        p->out->prog[sp].x = (int)p->out->n;
        if (!rx_gen(p, a.l, depth + 1) || rx_emit(p, RX_JMP, 0, sp, 0) < 0) return false;
        p->out->prog[sp].y = (int)p->out->n;
        return true;
    }
    size_t first = p->out->n;
    for (uint32_t k = a.min; k < a.max; k++) { /* optional copies: SPLIT next-copy, END (patched) */
        int sp = rx_emit(p, RX_SPLIT, 0, 0, -1);
        if (sp < 0) return false;
        p->out->prog[sp].x = (int)p->out->n;
        if (!rx_gen(p, a.l, depth + 1)) return false;
    }
    for (size_t k = first; k < p->out->n; k++)
        if (p->out->prog[k].op == RX_SPLIT && p->out->prog[k].y == -1) p->out->prog[k].y = (int)p->out->n;
    return true;
}

static void rx_free(rx *r) {
    if (!r) return;
    for (size_t i = 0; i < r->ncls; i++) free(r->cls[i].r);
    free(r->cls);
    free(r->prog);
    free(r);
}

static rx *rx_compile(const char *s, size_t n, const char **why) {
    rx *r = calloc(1, sizeof *r);
    if (!r) { *why = "out of memory"; return NULL; }
    rxp p = {.s = s, .n = n, .out = r};
    int root = rx_alt(&p);
    if (root >= 0 && p.i < p.n) p.why = "unbalanced ')'";
    if (!p.why && root >= 0 && rx_gen(&p, root, 0)) rx_emit(&p, RX_MATCH, 0, 0, 0);
    free(p.a);
    if (p.why || root < 0) {
        *why = p.why ? p.why : "bad pattern";
        rx_free(r);
        return NULL;
    }
    return r;
}

static bool rx_class_has(const rx_class *k, uint32_t c) {
    bool in = false;
    for (size_t i = 0; i < k->n && !in; i++) in = c >= k->r[i].lo && c <= k->r[i].hi;
    return in != k->neg;
}

/* Add state pc (and everything reachable without input) to list; true if MATCH is reachable. */
static bool rx_add(const rx *r, int *list, size_t *cnt, uint32_t *mark, uint32_t gen, int *stack, int pc,
                   bool at_start, bool at_end) {
    size_t sp = 0;
    stack[sp++] = pc;
    while (sp) {
        int i = stack[--sp];
        if (mark[i] == gen) continue;
        mark[i] = gen;
        const rx_inst *in = &r->prog[i];
        switch (in->op) {
        case RX_MATCH: return true;
        case RX_JMP: stack[sp++] = in->x; break;
        case RX_SPLIT: stack[sp++] = in->y; stack[sp++] = in->x; break;
        case RX_BOL: if (at_start) stack[sp++] = i + 1; break;
        case RX_EOL: if (at_end) stack[sp++] = i + 1; break;
        default: list[(*cnt)++] = i;
        }
    }
    return false;
}

/* Unanchored search; -1 on allocation failure. */
static int rx_search(const rx *r, const char *s, size_t n) {
    int *a = malloc(r->n * sizeof *a), *b = malloc(r->n * sizeof *b), *stack = malloc((2 * r->n + 2) * sizeof *stack);
    uint32_t *mark = calloc(r->n, sizeof *mark);
    int res = -1;
    if (!a || !b || !stack || !mark) goto done;
    size_t na = 0, i = 0;
    uint32_t gen = 1;
    res = 0;
    for (;;) {
        bool at_end = i >= n;
        if (rx_add(r, a, &na, mark, gen, stack, 0, i == 0, at_end)) { res = 1; break; }
        if (at_end) break;
        uint32_t c = utf8_next(s, n, &i);
        gen++;
        size_t nb = 0;
        for (size_t k = 0; k < na; k++) {
            const rx_inst *in = &r->prog[a[k]];
            bool ok = in->op == RX_ANY ? (c != '\n' && c != '\r' && c != 0x2028 && c != 0x2029)
                    : in->op == RX_CHAR ? c == in->c : rx_class_has(&r->cls[in->c], c);
            if (ok && rx_add(r, b, &nb, mark, gen, stack, a[k] + 1, false, i >= n)) { res = 1; goto done; }
        }
        int *t = a; a = b; b = t;
        na = nb;
    }
done:
    free(a);
    free(b);
    free(stack);
    free(mark);
    return res;
}

typedef struct sprop {
    const char *key;
    size_t klen;
    int node;
} sprop;

typedef struct snode {
    const gr_json_val *src;
    int boolean; /* -1: an object schema; 0: false; 1: true */
    unsigned types;
    sprop *props;
    size_t nprops;
    const gr_json_val *required, *enm, *cnst;
    const char *ref; /* unresolved $ref text (compile time only) */
    int addl, items, not_, refnode;
    int *prefix, *any, *one, *all;
    size_t nprefix, nany, none, nall;
    double min_items, max_items, min_len, max_len; /* < 0: unset */
    bool unique;
    int format;
    rx *pattern;
    const char *pattern_src;
    bool has_min, has_max, has_xmin, has_xmax, has_mult;
    double min, max, xmin, xmax, mult;
} snode;

struct gr_schema {
    gr_json *doc;
    snode *n;
    size_t count, cap;
};

/* ---- compiling ---------------------------------------------------------------------------------- */

typedef struct cctx {
    gr_schema *s;
    char *err;
    size_t errlen;
    char ptr[512]; /* JSON pointer of the schema value being compiled, for messages */
    size_t plen;
} cctx;

static size_t ptr_push(char *buf, size_t cap, size_t len, const char *seg, size_t slen) {
    size_t at = len;
    if (at + 1 < cap) buf[at++] = '/';
    for (size_t i = 0; i < slen && at + 3 < cap; i++) {
        if (seg[i] == '~') { buf[at++] = '~'; buf[at++] = '0'; }
        else if (seg[i] == '/') { buf[at++] = '~'; buf[at++] = '1'; }
        else if ((unsigned char)seg[i] < 0x20) buf[at++] = '?';
        else buf[at++] = seg[i];
    }
    buf[at < cap ? at : cap - 1] = 0;
    return at;
}

static size_t ptr_push_idx(char *buf, size_t cap, size_t len, size_t i) {
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%zu", i);
    return ptr_push(buf, cap, len, tmp, (size_t)n);
}

static const char *shown(const char *p) { return p[0] ? p : "(root)"; }

static gr_status cfail(cctx *c, gr_status st, const char *kw, const char *what) {
    return gr_err(st, c->err, c->errlen, "%s/%s: %s", c->ptr, kw, what);
}

static int new_node(cctx *c, const gr_json_val *src) {
    gr_schema *s = c->s;
    if (s->count >= MAX_NODES) return -1;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        snode *n = realloc(s->n, cap * sizeof *n);
        if (!n) return -1;
        s->n = n;
        s->cap = cap;
    }
    snode *n = &s->n[s->count];
    memset(n, 0, sizeof *n);
    n->src = src;
    n->boolean = -1;
    n->addl = n->items = n->not_ = n->refnode = -1;
    n->min_items = n->max_items = n->min_len = n->max_len = -1;
    return (int)s->count++;
}

static gr_status compile(cctx *c, const gr_json_val *v, int *out);

/* Compile the child schema `v` found under keyword path segment(s); restores the pointer afterwards. */
static gr_status child(cctx *c, const char *seg, size_t slen, bool use_idx, size_t idx,
                       const gr_json_val *v, int *out) {
    size_t save = c->plen;
    c->plen = use_idx ? ptr_push_idx(c->ptr, sizeof c->ptr, c->plen, idx)
                      : ptr_push(c->ptr, sizeof c->ptr, c->plen, seg, slen);
    gr_status st = compile(c, v, out);
    c->plen = save;
    c->ptr[save < sizeof c->ptr ? save : sizeof c->ptr - 1] = 0;
    return st;
}

/* An array of schemas (anyOf/oneOf/allOf/prefixItems): compiled into a malloc'ed index list. */
static gr_status schema_list(cctx *c, const char *kw, const gr_json_val *v, int **list,
                             size_t *n) {
    if (!gr_json_is(v, GR_JSON_ARRAY) || gr_json_len(v) == 0)
        return cfail(c, GR_E_FORMAT, kw, "must be a non-empty array of schemas");
    size_t cnt = gr_json_len(v);
    int *l = calloc(cnt, sizeof *l);
    if (!l) return gr_err(GR_E_NOMEM, c->err, c->errlen, "out of memory");
    *list = l; /* owned by the node from here on, so errors below do not leak it */
    *n = cnt;
    size_t save = c->plen;
    c->plen = ptr_push(c->ptr, sizeof c->ptr, c->plen, kw, strlen(kw));
    gr_status st = GR_OK;
    for (size_t i = 0; i < cnt && st == GR_OK; i++) st = child(c, NULL, 0, true, i, gr_json_at(v, i), &l[i]);
    c->plen = save;
    c->ptr[save] = 0;
    return st;
}

static bool nonneg_int(const gr_json_val *v, double *out) {
    if (!gr_json_is(v, GR_JSON_NUMBER)) return false;
    double x = gr_json_num(v);
    if (x < 0 || floor(x) != x) return false;
    *out = x;
    return true;
}

static unsigned type_bit(const gr_json_val *v) {
    static const struct { const char *name; unsigned bit; } t[] = {
        {"null", T_NULL}, {"boolean", T_BOOL}, {"object", T_OBJ}, {"array", T_ARR},
        {"number", T_NUM}, {"string", T_STR}, {"integer", T_INT}};
    const char *s = gr_json_str(v, NULL);
    if (!s) return 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(s, t[i].name) == 0) return t[i].bit;
    return 0;
}

static int format_id(const char *s) {
    static const char *const names[] = {"", "date", "date-time", "time", "email", "uri", "uuid", "ipv4"};
    for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(s, names[i]) == 0) return i;
    return F_NONE;
}

static bool is_annotation(const char *k) {
    static const char *const ann[] = {"title", "description", "$schema", "$id", "$comment", "examples",
                                      "default", "deprecated", "readOnly", "writeOnly"};
    for (size_t i = 0; i < sizeof ann / sizeof ann[0]; i++)
        if (strcmp(k, ann[i]) == 0) return true;
    return false;
}

static gr_status kw_type(cctx *c, snode *n, const gr_json_val *v) {
    if (gr_json_is(v, GR_JSON_STRING)) {
        n->types = type_bit(v);
        if (!n->types) return cfail(c, GR_E_FORMAT, "type", "unknown type name");
        return GR_OK;
    }
    if (!gr_json_is(v, GR_JSON_ARRAY) || gr_json_len(v) == 0)
        return cfail(c, GR_E_FORMAT, "type", "must be a type name or a non-empty array of them");
    for (size_t i = 0; i < gr_json_len(v); i++) {
        unsigned b = type_bit(gr_json_at(v, i));
        if (!b) return cfail(c, GR_E_FORMAT, "type", "unknown type name in array");
        n->types |= b;
    }
    return GR_OK;
}

static gr_status kw_number(cctx *c, const char *k, const gr_json_val *v, bool *has, double *dst) {
    if (!gr_json_is(v, GR_JSON_NUMBER)) return cfail(c, GR_E_FORMAT, k, "must be a number");
    *has = true;
    *dst = gr_json_num(v);
    return GR_OK;
}

static gr_status kw_props(cctx *c, int self, const gr_json_val *v) {
    if (!gr_json_is(v, GR_JSON_OBJECT)) return cfail(c, GR_E_FORMAT, "properties", "must be an object");
    size_t cnt = gr_json_len(v);
    sprop *p = calloc(cnt ? cnt : 1, sizeof *p);
    if (!p) return gr_err(GR_E_NOMEM, c->err, c->errlen, "out of memory");
    c->s->n[self].props = p;
    c->s->n[self].nprops = cnt;
    size_t save = c->plen;
    c->plen = ptr_push(c->ptr, sizeof c->ptr, c->plen, "properties", 10);
    gr_status st = GR_OK;
    for (size_t i = 0; i < cnt && st == GR_OK; i++) {
        const gr_json_val *key, *val;
        gr_json_member(v, i, &key, &val);
        p[i].key = gr_json_str(key, &p[i].klen);
        st = child(c, p[i].key, p[i].klen, false, 0, val, &p[i].node);
    }
    c->plen = save;
    c->ptr[save] = 0;
    return st;
}

static gr_status kw_defs(cctx *c, const char *kw, const gr_json_val *v) {
    if (!gr_json_is(v, GR_JSON_OBJECT)) return cfail(c, GR_E_FORMAT, kw, "must be an object");
    size_t save = c->plen;
    c->plen = ptr_push(c->ptr, sizeof c->ptr, c->plen, kw, strlen(kw));
    gr_status st = GR_OK;
    for (size_t i = 0; i < gr_json_len(v) && st == GR_OK; i++) {
        const gr_json_val *key, *val;
        gr_json_member(v, i, &key, &val);
        size_t kl;
        const char *ks = gr_json_str(key, &kl);
        int idx;
        st = child(c, ks, kl, false, 0, val, &idx);
    }
    c->plen = save;
    c->ptr[save] = 0;
    return st;
}

static gr_status kw_required(cctx *c, snode *n, const gr_json_val *v) {
    if (!gr_json_is(v, GR_JSON_ARRAY)) return cfail(c, GR_E_FORMAT, "required", "must be an array of strings");
    for (size_t i = 0; i < gr_json_len(v); i++)
        if (!gr_json_is(gr_json_at(v, i), GR_JSON_STRING))
            return cfail(c, GR_E_FORMAT, "required", "must be an array of strings");
    n->required = v;
    return GR_OK;
}

/* One keyword of an object schema. `self` is an index because compiling children may move the array. */
static gr_status keyword(cctx *c, int self, const char *k, const gr_json_val *v) {
#define N (&c->s->n[self])
    if (is_annotation(k)) return GR_OK;
    if (!strcmp(k, "type")) return kw_type(c, N, v);
    if (!strcmp(k, "properties")) return kw_props(c, self, v);
    if (!strcmp(k, "required")) return kw_required(c, N, v);
    if (!strcmp(k, "$defs") || !strcmp(k, "definitions")) return kw_defs(c, k, v);
    if (!strcmp(k, "enum")) {
        if (!gr_json_is(v, GR_JSON_ARRAY) || gr_json_len(v) == 0)
            return cfail(c, GR_E_FORMAT, k, "must be a non-empty array");
        N->enm = v;
        return GR_OK;
    }
    if (!strcmp(k, "const")) { N->cnst = v; return GR_OK; }
    if (!strcmp(k, "additionalProperties") || !strcmp(k, "items") || !strcmp(k, "not")) {
        if (!strcmp(k, "items") && gr_json_is(v, GR_JSON_ARRAY))
            return cfail(c, GR_E_UNSUPPORTED, k, "array form of items is not draft 2020-12; use prefixItems");
        int idx;
        gr_status st = child(c, k, strlen(k), false, 0, v, &idx);
        if (st != GR_OK) return st;
        if (k[0] == 'a') N->addl = idx;
        else if (k[0] == 'i') N->items = idx;
        else N->not_ = idx;
        return GR_OK;
    }
    if (!strcmp(k, "prefixItems")) return schema_list(c, k, v, &N->prefix, &N->nprefix);
    if (!strcmp(k, "anyOf")) return schema_list(c, k, v, &N->any, &N->nany);
    if (!strcmp(k, "oneOf")) return schema_list(c, k, v, &N->one, &N->none);
    if (!strcmp(k, "allOf")) return schema_list(c, k, v, &N->all, &N->nall);
    double *cnt = !strcmp(k, "minItems") ? &N->min_items : !strcmp(k, "maxItems") ? &N->max_items
                : !strcmp(k, "minLength") ? &N->min_len : !strcmp(k, "maxLength") ? &N->max_len : NULL;
    if (cnt) return nonneg_int(v, cnt) ? GR_OK : cfail(c, GR_E_FORMAT, k, "must be a non-negative integer");
    if (!strcmp(k, "uniqueItems")) {
        if (!gr_json_is(v, GR_JSON_TRUE) && !gr_json_is(v, GR_JSON_FALSE))
            return cfail(c, GR_E_FORMAT, k, "must be a boolean");
        N->unique = gr_json_bool(v);
        return GR_OK;
    }
    if (!strcmp(k, "minimum")) return kw_number(c, k, v, &N->has_min, &N->min);
    if (!strcmp(k, "maximum")) return kw_number(c, k, v, &N->has_max, &N->max);
    if (!strcmp(k, "exclusiveMinimum")) return kw_number(c, k, v, &N->has_xmin, &N->xmin);
    if (!strcmp(k, "exclusiveMaximum")) return kw_number(c, k, v, &N->has_xmax, &N->xmax);
    if (!strcmp(k, "multipleOf")) {
        gr_status st = kw_number(c, k, v, &N->has_mult, &N->mult);
        if (st == GR_OK && !(N->mult > 0)) return cfail(c, GR_E_FORMAT, k, "must be greater than 0");
        return st;
    }
    if (!strcmp(k, "pattern")) {
        size_t pl;
        const char *src = gr_json_str(v, &pl), *why = NULL;
        if (!src) return cfail(c, GR_E_FORMAT, k, "must be a string");
        rx *r = rx_compile(src, pl, &why);
        if (!r)
            return gr_err(strstr(why, "support") ? GR_E_UNSUPPORTED : GR_E_FORMAT, c->err, c->errlen,
                          "%s/pattern: %s", c->ptr, why);
        N->pattern = r;
        N->pattern_src = src;
        return GR_OK;
    }
    if (!strcmp(k, "format")) {
        const char *f = gr_json_str(v, NULL);
        if (!f) return cfail(c, GR_E_FORMAT, k, "must be a string");
        N->format = format_id(f);
        if (N->format == F_NONE) return cfail(c, GR_E_UNSUPPORTED, k, "unsupported format");
        return GR_OK;
    }
    if (!strcmp(k, "$ref")) {
        const char *r = gr_json_str(v, NULL);
        if (!r) return cfail(c, GR_E_FORMAT, k, "must be a string");
        if (r[0] != '#' || (r[1] && r[1] != '/'))
            return cfail(c, GR_E_UNSUPPORTED, k, "only local references (#, #/...) are supported");
        N->ref = r;
        return GR_OK;
    }
    return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen, "%s/%s: unsupported keyword \"%s\"", c->ptr, k, k);
#undef N
}

static gr_status compile(cctx *c, const gr_json_val *v, int *out) {
    int self = new_node(c, v);
    if (self < 0) return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen, "%s: schema too large", shown(c->ptr));
    *out = self;
    if (gr_json_is(v, GR_JSON_TRUE) || gr_json_is(v, GR_JSON_FALSE)) {
        c->s->n[self].boolean = gr_json_bool(v);
        return GR_OK;
    }
    if (!gr_json_is(v, GR_JSON_OBJECT))
        return gr_err(GR_E_FORMAT, c->err, c->errlen, "%s: a schema must be an object or a boolean",
                      shown(c->ptr));
    for (size_t i = 0; i < gr_json_len(v); i++) {
        const gr_json_val *key, *val;
        gr_json_member(v, i, &key, &val);
        size_t kl;
        const char *k = gr_json_str(key, &kl);
        if (strlen(k) != kl)
            return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen, "%s: keyword with a NUL byte", shown(c->ptr));
        gr_status st = keyword(c, self, k, val);
        if (st != GR_OK) return st;
    }
    return GR_OK;
}

/* Resolve a local JSON pointer ("#/a/b~1c") inside the document; NULL when it does not exist. */
static const gr_json_val *resolve(const gr_json_val *root, const char *ref) {
    const gr_json_val *v = root;
    const char *p = ref + 1;
    char seg[256];
    while (*p == '/') {
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            char ch = *p++;
            if (ch == '~') {
                if (*p == '0') ch = '~';
                else if (*p == '1') ch = '/';
                else return NULL;
                p++;
            }
            if (n + 1 >= sizeof seg) return NULL;
            seg[n++] = ch;
        }
        seg[n] = 0;
        if (gr_json_is(v, GR_JSON_OBJECT)) v = gr_json_getn(v, seg, n);
        else if (gr_json_is(v, GR_JSON_ARRAY)) {
            char *end;
            if (n == 0 || (n > 1 && seg[0] == '0')) return NULL;
            unsigned long i = strtoul(seg, &end, 10);
            if (*end) return NULL;
            v = gr_json_at(v, i);
        } else return NULL;
        if (!v) return NULL;
    }
    return v;
}

static gr_status resolve_refs(cctx *c) {
    const gr_json_val *root = gr_json_root(c->s->doc);
    for (size_t i = 0; i < c->s->count; i++) {
        if (!c->s->n[i].ref) continue;
        const char *ref = c->s->n[i].ref;
        const gr_json_val *t = resolve(root, ref);
        if (!t) return gr_err(GR_E_FORMAT, c->err, c->errlen, "$ref \"%s\": target does not exist", ref);
        int found = -1;
        for (size_t j = 0; j < c->s->count && found < 0; j++)
            if (c->s->n[j].src == t) found = (int)j;
        if (found < 0) {
            snprintf(c->ptr, sizeof c->ptr, "%s", ref + 1);
            c->plen = strlen(c->ptr);
            gr_status st = compile(c, t, &found);
            if (st != GR_OK) return st;
        }
        c->s->n[i].refnode = found;
        c->s->n[i].ref = NULL;
    }
    return GR_OK;
}

/* A cycle through $ref/allOf/anyOf/oneOf/not never moves to a smaller instance, so validation would not
 * terminate: reject it at compile time. color: 0 new, 1 on the stack, 2 done. */
static bool same_instance_cycle(const gr_schema *s, int i, uint8_t *color, int depth) {
    if (color[i] == 1 || depth > MAX_REF_DEPTH) return true;
    if (color[i] == 2) return false;
    color[i] = 1;
    const snode *n = &s->n[i];
    bool cyc = (n->refnode >= 0 && same_instance_cycle(s, n->refnode, color, depth + 1)) ||
               (n->not_ >= 0 && same_instance_cycle(s, n->not_, color, depth + 1));
    const int *lists[3] = {n->any, n->one, n->all};
    size_t lens[3] = {n->nany, n->none, n->nall};
    for (int l = 0; l < 3 && !cyc; l++)
        for (size_t j = 0; j < lens[l] && !cyc; j++) cyc = same_instance_cycle(s, lists[l][j], color, depth + 1);
    color[i] = 2;
    return cyc;
}

gr_status gr_schema_compile(const char *text, size_t len, gr_schema **out, char *err, size_t errlen) {
    if (!out || (!text && len)) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    *out = NULL;
    gr_schema *s = calloc(1, sizeof *s);
    if (!s) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_status st = gr_json_parse(text ? text : "", len, NULL, &s->doc, err, errlen);
    if (st != GR_OK) { gr_schema_free(s); return st; }
    cctx c = {.s = s, .err = err, .errlen = errlen};
    int root;
    st = compile(&c, gr_json_root(s->doc), &root);
    if (st == GR_OK) st = resolve_refs(&c);
    if (st == GR_OK) {
        uint8_t *color = calloc(s->count, 1);
        if (!color) st = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
        for (size_t i = 0; st == GR_OK && i < s->count; i++)
            if (same_instance_cycle(s, (int)i, color, 0))
                st = gr_err(GR_E_FORMAT, err, errlen,
                            "$ref cycle that does not descend into the instance (would never terminate)");
        free(color);
    }
    if (st != GR_OK) { gr_schema_free(s); return st; }
    *out = s;
    return GR_OK;
}

void gr_schema_free(gr_schema *s) {
    if (!s) return;
    for (size_t i = 0; i < s->count; i++) {
        free(s->n[i].props);
        free(s->n[i].prefix);
        free(s->n[i].any);
        free(s->n[i].one);
        free(s->n[i].all);
        rx_free(s->n[i].pattern);
    }
    free(s->n);
    gr_json_free(s->doc);
    free(s);
}

/* ---- formats ------------------------------------------------------------------------------------ */

static bool digits(const char *s, int n, int *val) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *val = v;
    return true;
}

static bool is_date(const char *s, size_t n) {
    int y, m, d;
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n != 10 || s[4] != '-' || s[7] != '-') return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) return false;
    if (m < 1 || m > 12 || d < 1) return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= dim[m - 1] + (m == 2 && leap);
}

/* RFC 3339 full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool is_time(const char *s, size_t n) {
    int h, m, sec;
    if (n < 9 || s[2] != ':' || s[5] != ':') return false;
    if (!digits(s, 2, &h) || !digits(s + 3, 2, &m) || !digits(s + 6, 2, &sec)) return false;
    if (h > 23 || m > 59 || sec > 60) return false;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == start) return false;
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == n;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (n - i != 6 || s[i + 3] != ':') return false;
        return digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
    }
    return false;
}

static bool is_datetime(const char *s, size_t n) {
    return n > 11 && (s[10] == 'T' || s[10] == 't') && is_date(s, 10) && is_time(s + 11, n - 11);
}

static bool is_alnum(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* local@domain: a dot-atom local part (RFC 5322 atext) and a hostname of LDH labels. */
static bool is_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at) return false;
    size_t ln = (size_t)(at - s), dn = n - ln - 1;
    if (ln == 0 || ln > 64 || dn == 0 || dn > 253) return false;
    for (size_t i = 0; i < ln; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (i == 0 || i == ln - 1 || s[i - 1] == '.') return false;
        } else if (!is_alnum(ch) && !strchr("!#$%&'*+/=?^_`{|}~-", ch)) return false;
    }
    const char *d = at + 1;
    size_t lab = 0;
    for (size_t i = 0; i <= dn; i++) {
        if (i == dn || d[i] == '.') {
            if (lab == 0 || lab > 63 || d[i - 1] == '-' || d[i - lab] == '-') return false;
            lab = 0;
        } else if (is_alnum(d[i]) || d[i] == '-') lab++;
        else return false;
    }
    return true;
}

static bool is_hex(char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'); }

/* Absolute URI (RFC 3986): scheme ":" then only URI characters, valid %XX escapes, at most one '#'. */
static bool is_uri(const char *s, size_t n) {
    size_t i = 0;
    if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) return false;
    while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) i++;
    if (i >= n || s[i] != ':') return false;
    int hashes = 0;
    for (i++; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
            i += 2;
        } else if (ch == '#') {
            if (++hashes > 1) return false;
        } else if (!is_alnum(ch) && !strchr("-._~:/?[]@!$&'()*+,;=", ch)) return false;
    }
    return true;
}

static bool is_uuid(const char *s, size_t n) {
    if (n != 36) return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
    }
    return true;
}

static bool is_ipv4(const char *s, size_t n) {
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.') return false;
            i++;
        }
        size_t start = i;
        int v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) v = v * 10 + (s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0')) return false;
    }
    return i == n;
}

static bool check_format(int f, const char *s, size_t n) {
    switch (f) {
    case F_DATE: return is_date(s, n);
    case F_DATETIME: return is_datetime(s, n);
    case F_TIME: return is_time(s, n);
    case F_EMAIL: return is_email(s, n);
    case F_URI: return is_uri(s, n);
    case F_UUID: return is_uuid(s, n);
    case F_IPV4: return is_ipv4(s, n);
    default: return true;
    }
}

static const char *format_name(int f) {
    static const char *const names[] = {"", "date", "date-time", "time", "email", "uri", "uuid", "ipv4"};
    return names[f];
}

/* ---- validating --------------------------------------------------------------------------------- */

typedef struct vctx {
    const gr_schema *s;
    char path[256];
    size_t plen;
    int quiet; /* > 0 inside anyOf/oneOf/not branches: failures are expected, do not record them */
    bool failed_hard; /* step budget or depth exhausted: stop everything */
    long steps;
    int depth;
    gr_schema_fail *fail;
    char *err;
    size_t errlen;
} vctx;

static bool vfail(vctx *v, const char *kw, const char *fmt, ...) GR_PRINTF(3, 4);
static bool vfail(vctx *v, const char *kw, const char *fmt, ...) {
    if (v->quiet > 0 && !v->failed_hard) return false;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gr_err(GR_E_FORMAT, v->err, v->errlen, "%s: %s", shown(v->path), msg);
    if (v->fail) {
        snprintf(v->fail->pointer, sizeof v->fail->pointer, "%s", v->path);
        snprintf(v->fail->keyword, sizeof v->fail->keyword, "%s", kw);
    }
    return false;
}

static const char *inst_type(const gr_json_val *x) {
    switch (gr_json_type_of(x)) {
    case GR_JSON_TRUE:
    case GR_JSON_FALSE: return "boolean";
    case GR_JSON_NUMBER: return floor(gr_json_num(x)) == gr_json_num(x) ? "integer" : "number";
    default: return gr_json_type_name(gr_json_type_of(x));
    }
}

static bool type_ok(unsigned types, const gr_json_val *x) {
    switch (gr_json_type_of(x)) {
    case GR_JSON_NULL: return types & T_NULL;
    case GR_JSON_TRUE:
    case GR_JSON_FALSE: return types & T_BOOL;
    case GR_JSON_STRING: return types & T_STR;
    case GR_JSON_ARRAY: return types & T_ARR;
    case GR_JSON_OBJECT: return types & T_OBJ;
    case GR_JSON_NUMBER:
        return (types & T_NUM) || ((types & T_INT) && floor(gr_json_num(x)) == gr_json_num(x));
    }
    return false;
}

static void type_list(unsigned types, char *buf, size_t cap) {
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < 7; i++) {
        if (!(types & (1u << i))) continue;
        int w = snprintf(buf + at, cap - at, "%s%s", at ? " or " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - at) break;
        at += (size_t)w;
    }
}

static bool validate(vctx *v, int node, const gr_json_val *x);

static bool sub(vctx *v, int node, const gr_json_val *x, const char *seg, size_t slen, bool idx, size_t i) {
    size_t save = v->plen;
    v->plen = idx ? ptr_push_idx(v->path, sizeof v->path, v->plen, i)
                  : ptr_push(v->path, sizeof v->path, v->plen, seg, slen);
    bool ok = validate(v, node, x);
    v->plen = save;
    v->path[save < sizeof v->path ? save : sizeof v->path - 1] = 0;
    return ok;
}

static bool v_object(vctx *v, const snode *n, const gr_json_val *x) {
    for (size_t i = 0; n->required && i < gr_json_len(n->required); i++) {
        size_t kl;
        const char *k = gr_json_str(gr_json_at(n->required, i), &kl);
        if (!gr_json_getn(x, k, kl)) return vfail(v, "required", "missing required property \"%s\"", k);
    }
    for (size_t i = 0; i < gr_json_len(x); i++) {
        const gr_json_val *key, *val;
        gr_json_member(x, i, &key, &val);
        size_t kl;
        const char *k = gr_json_str(key, &kl);
        int target = -1;
        for (size_t p = 0; p < n->nprops && target < 0; p++)
            if (n->props[p].klen == kl && memcmp(n->props[p].key, k, kl) == 0) target = n->props[p].node;
        if (target < 0 && n->addl >= 0) {
            const snode *a = &v->s->n[n->addl];
            if (a->boolean == 0)
                return vfail(v, "additionalProperties", "property \"%s\" is not allowed", k);
            target = n->addl;
        }
        if (target >= 0 && !sub(v, target, val, k, kl, false, 0)) return false;
    }
    return true;
}

static bool v_array(vctx *v, const snode *n, const gr_json_val *x) {
    size_t len = gr_json_len(x);
    if (n->min_items >= 0 && (double)len < n->min_items)
        return vfail(v, "minItems", "array has %zu items, fewer than minItems %.0f", len, n->min_items);
    if (n->max_items >= 0 && (double)len > n->max_items)
        return vfail(v, "maxItems", "array has %zu items, more than maxItems %.0f", len, n->max_items);
    size_t i = 0;
    for (const gr_json_val *e = gr_json_child(x); e; e = gr_json_next(x, e), i++) {
        int target = i < n->nprefix ? n->prefix[i] : n->items;
        if (target >= 0 && !sub(v, target, e, NULL, 0, true, i)) return false;
    }
    if (n->unique) {
        size_t a = 0;
        for (const gr_json_val *e = gr_json_child(x); e; e = gr_json_next(x, e), a++) {
            size_t b = a + 1;
            for (const gr_json_val *f = gr_json_next(x, e); f; f = gr_json_next(x, f), b++) {
                if (++v->steps > MAX_STEPS) { v->failed_hard = true; return vfail(v, "uniqueItems", "validation too expensive"); }
                if (gr_json_equal(e, f)) return vfail(v, "uniqueItems", "items %zu and %zu are equal", a, b);
            }
        }
    }
    return true;
}

static bool v_string(vctx *v, const snode *n, const gr_json_val *x) {
    size_t len;
    const char *s = gr_json_str(x, &len);
    size_t cps = 0;
    for (size_t i = 0; i < len; i++) cps += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (n->min_len >= 0 && (double)cps < n->min_len)
        return vfail(v, "minLength", "string has %zu characters, fewer than minLength %.0f", cps, n->min_len);
    if (n->max_len >= 0 && (double)cps > n->max_len)
        return vfail(v, "maxLength", "string has %zu characters, more than maxLength %.0f", cps, n->max_len);
    if (n->pattern) {
        int m = rx_search(n->pattern, s, len);
        if (m < 0) { v->failed_hard = true; return vfail(v, "pattern", "out of memory"); }
        if (m == 0) return vfail(v, "pattern", "does not match the pattern \"%.80s\"", n->pattern_src);
    }
    if (n->format != F_NONE && !check_format(n->format, s, len))
        return vfail(v, "format", "not a valid %s", format_name(n->format));
    return true;
}

static bool v_number(vctx *v, const snode *n, const gr_json_val *x) {
    double d = gr_json_num(x);
    if (n->has_min && d < n->min) return vfail(v, "minimum", "%.17g is less than minimum %.17g", d, n->min);
    if (n->has_max && d > n->max) return vfail(v, "maximum", "%.17g is greater than maximum %.17g", d, n->max);
    if (n->has_xmin && d <= n->xmin)
        return vfail(v, "exclusiveMinimum", "%.17g is not greater than %.17g", d, n->xmin);
    if (n->has_xmax && d >= n->xmax)
        return vfail(v, "exclusiveMaximum", "%.17g is not less than %.17g", d, n->xmax);
    if (n->has_mult) {
        double q = d / n->mult;
        /* Tolerance for binary fractions such as 0.3 / 0.1; an infinite quotient is not a multiple. */
        if (!isfinite(q) || fabs(q - nearbyint(q)) > 1e-9 * fmax(1.0, fabs(q)))
            return vfail(v, "multipleOf", "%.17g is not a multiple of %.17g", d, n->mult);
    }
    return true;
}

static bool v_combinators(vctx *v, const snode *n, const gr_json_val *x, int node) {
    for (size_t i = 0; i < n->nall; i++)
        if (!validate(v, n->all[i], x)) return false;
    if (n->nany) {
        bool any = false;
        v->quiet++;
        for (size_t i = 0; i < n->nany && !any && !v->failed_hard; i++) any = validate(v, n->any[i], x);
        v->quiet--;
        if (v->failed_hard) return false;
        if (!any) return vfail(v, "anyOf", "matches none of the %zu anyOf alternatives", n->nany);
    }
    if (n->none) {
        size_t hits = 0;
        v->quiet++;
        for (size_t i = 0; i < n->none && hits < 2 && !v->failed_hard; i++) hits += validate(v, n->one[i], x);
        v->quiet--;
        if (v->failed_hard) return false;
        if (hits != 1)
            return vfail(v, "oneOf", "matches %s of the oneOf alternatives, expected exactly one",
                         hits ? "more than one" : "none");
    }
    if (n->not_ >= 0) {
        v->quiet++;
        bool m = validate(v, n->not_, x);
        v->quiet--;
        if (v->failed_hard) return false;
        if (m) return vfail(v, "not", "must not match the \"not\" schema");
    }
    (void)node;
    return true;
}

static bool validate(vctx *v, int node, const gr_json_val *x) {
    if (v->failed_hard) return false;
    if (++v->steps > MAX_STEPS || v->depth >= MAX_VDEPTH) {
        v->failed_hard = true;
        return vfail(v, "$ref", "validation too expensive (step or depth limit)");
    }
    const snode *n = &v->s->n[node];
    if (n->boolean == 1) return true;
    if (n->boolean == 0) return vfail(v, "false", "no value is allowed here (schema false)");
    if (n->types && !type_ok(n->types, x)) {
        char want[96];
        type_list(n->types, want, sizeof want);
        return vfail(v, "type", "expected %s, got %s", want, inst_type(x));
    }
    if (n->cnst && !gr_json_equal(n->cnst, x)) return vfail(v, "const", "value does not equal the const value");
    if (n->enm) {
        bool hit = false;
        for (size_t i = 0; i < gr_json_len(n->enm) && !hit; i++) hit = gr_json_equal(gr_json_at(n->enm, i), x);
        if (!hit) return vfail(v, "enum", "value is not one of the %zu enum values", gr_json_len(n->enm));
    }
    bool ok = true;
    switch (gr_json_type_of(x)) {
    case GR_JSON_OBJECT: ok = v_object(v, n, x); break;
    case GR_JSON_ARRAY: ok = v_array(v, n, x); break;
    case GR_JSON_STRING: ok = v_string(v, n, x); break;
    case GR_JSON_NUMBER: ok = v_number(v, n, x); break;
    default: break;
    }
    if (!ok) return false;
    v->depth++;
    ok = (n->refnode < 0 || validate(v, n->refnode, x)) && v_combinators(v, n, x, node);
    v->depth--;
    return ok;
}

gr_status gr_schema_validate(const gr_schema *s, const gr_json_val *doc, gr_schema_fail *fail, char *err,
                             size_t errlen) {
    if (!s || !doc) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    vctx v = {.s = s, .fail = fail, .err = err, .errlen = errlen};
    if (fail) memset(fail, 0, sizeof *fail);
    return validate(&v, 0, doc) ? GR_OK : GR_E_FORMAT;
}

gr_status gr_schema_validate_text(const gr_schema *s, const char *text, size_t len, gr_schema_fail *fail,
                                  char *err, size_t errlen) {
    if (!s || (!text && len)) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    gr_json *doc = NULL;
    gr_status st = gr_json_parse(text ? text : "", len, NULL, &doc, err, errlen);
    if (st != GR_OK) {
        if (fail) {
            memset(fail, 0, sizeof *fail);
            snprintf(fail->keyword, sizeof fail->keyword, "json");
        }
        return st;
    }
    st = gr_schema_validate(s, gr_json_root(doc), fail, err, errlen);
    gr_json_free(doc);
    return st;
}
