/* json.c — strict RFC 8259 parser into a compact pre-order node array, and an escaping writer.
 * Must not: accept anything RFC 8259 rejects, read past the input, recurse deeper than the depth
 * limit, or keep state between calls. See json.h for the rules. */
#include "core/json.h"

#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One node: 24 bytes. Nodes are stored in pre-order, so a container's children follow it and
 * `span` (nodes in the subtree) skips to the next sibling. String/number text lives in a pool placed
 * right after the node array; `off` is the distance from the node itself to its text, which lets
 * accessors work from a node pointer alone. */
struct gr_json_val {
    uint8_t type;
    uint8_t is_int; /* number literal without fraction or exponent */
    uint32_t count; /* array elements, object members, string bytes, number text bytes */
    uint32_t span;
    uint32_t off;
    double num;
};

struct gr_json {
    size_t n_nodes;
    size_t pool_len;
    gr_json_val nodes[]; /* followed by the text pool */
};

enum { DEF_DEPTH = 128, MAX_DEPTH = 1024 };
#define DEF_BYTES ((size_t)64 << 20)
#define MAX_BYTES ((size_t)1 << 30)
#define DEF_NODES ((size_t)4000000)

typedef struct parser {
    const unsigned char *s;
    size_t n, i;
    size_t max_depth, max_nodes;
    gr_json_val *nodes;
    size_t nn, ncap;
    char *pool;
    size_t pl, pcap;
    char decimal_point; /* the C library's decimal point in the current locale (strtod uses it) */
    char *err;
    size_t errlen;
    gr_status st;
} parser;

/* ---- errors ------------------------------------------------------------------------------------ */

static gr_status perr(parser *p, size_t pos, const char *fmt, ...) GR_PRINTF(3, 4);

static gr_status perr(parser *p, size_t pos, const char *fmt, ...) {
    if (p->st != GR_OK) return p->st; /* keep the first error */
    size_t line = 1, col = 1;
    for (size_t k = 0; k < pos && k < p->n; k++) {
        if (p->s[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->st = GR_E_FORMAT;
    return gr_err(GR_E_FORMAT, p->err, p->errlen, "line %zu col %zu: %s", line, col, msg);
}

static gr_status pnomem(parser *p) {
    if (p->st == GR_OK) p->st = gr_err(GR_E_NOMEM, p->err, p->errlen, "out of memory parsing JSON");
    return p->st;
}

/* Describe the byte at pos for an error message. */
static const char *describe(const parser *p, size_t pos, char buf[16]) {
    if (pos >= p->n) return "end of input";
    unsigned c = p->s[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, 16, "'%c'", (char)c);
    else
        snprintf(buf, 16, "byte 0x%02X", c);
    return buf;
}

/* ---- storage ----------------------------------------------------------------------------------- */

static long new_node(parser *p, gr_json_type t) {
    if (p->nn >= p->max_nodes) {
        perr(p, p->i, "more than %zu values (limit)", p->max_nodes);
        return -1;
    }
    if (p->nn == p->ncap) {
        size_t nc = p->ncap ? p->ncap * 2 : 64;
        gr_json_val *nv = realloc(p->nodes, nc * sizeof *nv);
        if (!nv) {
            pnomem(p);
            return -1;
        }
        p->nodes = nv;
        p->ncap = nc;
    }
    gr_json_val *v = &p->nodes[p->nn];
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)t;
    v->span = 1;
    return (long)p->nn++;
}

static bool pool_reserve(parser *p, size_t extra) {
    if (p->pcap - p->pl >= extra) return true;
    size_t nc = p->pcap ? p->pcap : 256;
    while (nc - p->pl < extra) {
        if (nc > SIZE_MAX / 2) return pnomem(p), false;
        nc *= 2;
    }
    char *np = realloc(p->pool, nc);
    if (!np) return pnomem(p), false;
    p->pool = np;
    p->pcap = nc;
    return true;
}

static bool pool_put(parser *p, const void *b, size_t len) {
    if (!pool_reserve(p, len)) return false;
    memcpy(p->pool + p->pl, b, len);
    p->pl += len;
    return true;
}

/* ---- UTF-8 ------------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (avail bytes available), 0 if invalid (RFC 3629 table). */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (avail < need) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < need; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return need;
}

static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- lexical pieces ---------------------------------------------------------------------------- */

static void skip_ws(parser *p) {
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->i++;
    }
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Four hex digits at pos; -1 if missing or not hex. */
static long hex4(const parser *p, size_t pos) {
    if (pos > p->n || p->n - pos < 4) return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[pos + (size_t)k]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* After a backslash at p->i - 1 ... p->i points at the escape letter. Appends the decoded bytes. */
static bool parse_escape(parser *p) {
    size_t at = p->i - 1;
    if (p->i >= p->n) return perr(p, at, "unterminated escape sequence"), false;
    unsigned char e = p->s[p->i++];
    char c;
    switch (e) {
    case '"': c = '"'; break;
    case '\\': c = '\\'; break;
    case '/': c = '/'; break;
    case 'b': c = '\b'; break;
    case 'f': c = '\f'; break;
    case 'n': c = '\n'; break;
    case 'r': c = '\r'; break;
    case 't': c = '\t'; break;
    case 'u': {
        long u = hex4(p, p->i);
        if (u < 0) return perr(p, at, "\\u must be followed by 4 hex digits"), false;
        p->i += 4;
        uint32_t cp = (uint32_t)u;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return perr(p, at, "lone low surrogate \\u%04lX", u), false;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = -1;
            if (p->n - p->i >= 6 && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') lo = hex4(p, p->i + 2);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return perr(p, at, "high surrogate \\u%04lX not followed by a low surrogate", u), false;
            p->i += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
        }
        char buf[4];
        return pool_put(p, buf, utf8_encode(cp, buf));
    }
    default: {
        char d[16];
        return perr(p, at, "invalid escape \\%s", describe(p, p->i - 1, d)), false;
    }
    }
    return pool_put(p, &c, 1);
}

/* String at p->i (an opening quote). Text goes to the pool, NUL-terminated. */
static bool parse_string_text(parser *p, uint32_t *off, uint32_t *len) {
    size_t start = p->i++;
    size_t pool_start = p->pl;
    for (;;) {
        size_t run = p->i;
        while (p->i < p->n) { /* fast path: plain printable ASCII */
            unsigned char c = p->s[p->i];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            p->i++;
        }
        if (p->i > run && !pool_put(p, p->s + run, p->i - run)) return false;
        if (p->i >= p->n) return perr(p, start, "unterminated string"), false;
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c == '\\') {
            p->i++;
            if (!parse_escape(p)) return false;
        } else if (c < 0x20) {
            return perr(p, p->i, "control character 0x%02X in string must be escaped", c), false;
        } else {
            size_t k = utf8_seq(p->s + p->i, p->n - p->i);
            if (!k) return perr(p, p->i, "invalid UTF-8 byte 0x%02X in string", c), false;
            if (!pool_put(p, p->s + p->i, k)) return false;
            p->i += k;
        }
    }
    size_t slen = p->pl - pool_start;
    if (slen > UINT32_MAX - 1) return perr(p, start, "string too long"), false;
    if (!pool_put(p, "", 1)) return false;
    *off = (uint32_t)pool_start;
    *len = (uint32_t)slen;
    return true;
}

static bool parse_number(parser *p, long idx) {
    size_t start = p->i;
    const unsigned char *s = p->s;
    size_t i = p->i, n = p->n;
    bool is_int = true;
    if (i < n && s[i] == '-') i++;
    if (i >= n || s[i] < '0' || s[i] > '9') return perr(p, start, "'-' must be followed by a digit"), false;
    if (s[i] == '0') {
        i++;
        if (i < n && s[i] >= '0' && s[i] <= '9') return perr(p, start, "leading zeros are not allowed"), false;
    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && s[i] == '.') {
        is_int = false;
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return perr(p, i, "digit expected after decimal point"), false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || s[i] < '0' || s[i] > '9') return perr(p, i, "digit expected in exponent"), false;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    size_t len = i - start;
    if (len > UINT32_MAX - 1) return perr(p, start, "number too long"), false;
    size_t off = p->pl;
    if (!pool_put(p, s + start, len) || !pool_put(p, "", 1)) return false;
    /* strtod follows the locale's decimal point: convert a private copy when it is not '.'. */
    char *txt = p->pool + off;
    double d;
    errno = 0;
    if (p->decimal_point != '.' && !is_int) {
        char *tmp = malloc(len + 1);
        if (!tmp) return pnomem(p), false;
        memcpy(tmp, txt, len + 1);
        char *dot = strchr(tmp, '.');
        if (dot) *dot = p->decimal_point;
        d = strtod(tmp, NULL);
        free(tmp);
    } else {
        d = strtod(txt, NULL);
    }
    if (isinf(d)) return perr(p, start, "number out of range (overflows a double)"), false;
    gr_json_val *v = &p->nodes[idx];
    v->num = d;
    v->is_int = is_int;
    v->off = (uint32_t)off;
    v->count = (uint32_t)len;
    p->i = i;
    return true;
}

static bool parse_literal(parser *p, const char *word, gr_json_type t) {
    size_t wl = strlen(word);
    if (p->n - p->i < wl || memcmp(p->s + p->i, word, wl) != 0) {
        char d[16];
        return perr(p, p->i, "unexpected %s (invalid literal)", describe(p, p->i, d)), false;
    }
    p->i += wl;
    return new_node(p, t) >= 0;
}

/* ---- containers -------------------------------------------------------------------------------- */

static bool parse_value(parser *p, size_t depth);

typedef struct keyref {
    uint32_t off, len; /* pool text */
    size_t pos;        /* source position, for the error */
} keyref;

/* qsort has no context argument, so the sort works on pointers into the pool. */
typedef struct keyptr {
    const char *s;
    uint32_t len;
    size_t pos;
} keyptr;

static int keycmp(const void *a, const void *b) {
    const keyptr *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    int c = memcmp(x->s, y->s, x->len);
    if (c) return c;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* Sort the keys of one object and report the first repeated one. */
static bool check_duplicates(parser *p, const keyref *keys, size_t nk) {
    if (nk < 2) return true;
    keyptr *kp = malloc(nk * sizeof *kp);
    if (!kp) return pnomem(p), false;
    for (size_t k = 0; k < nk; k++) kp[k] = (keyptr){p->pool + keys[k].off, keys[k].len, keys[k].pos};
    qsort(kp, nk, sizeof *kp, keycmp);
    size_t bad = SIZE_MAX, bad_k = 0;
    for (size_t k = 1; k < nk; k++) {
        if (kp[k].len == kp[k - 1].len && memcmp(kp[k].s, kp[k - 1].s, kp[k].len) == 0 && kp[k].pos < bad) {
            bad = kp[k].pos;
            bad_k = k;
        }
    }
    bool ok = bad == SIZE_MAX;
    if (!ok) {
        char name[48];
        size_t m = kp[bad_k].len < sizeof name - 1 ? kp[bad_k].len : sizeof name - 1;
        for (size_t k = 0; k < m; k++) {
            unsigned char c = (unsigned char)kp[bad_k].s[k];
            name[k] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
        name[m] = 0;
        perr(p, bad, "duplicate key \"%s%s\"", name, kp[bad_k].len > m ? "..." : "");
    }
    free(kp);
    return ok;
}

static bool push_key(parser *p, keyref **keys, size_t *nk, size_t *kcap, keyref *local, keyref k) {
    if (*nk == *kcap) {
        size_t nc = *kcap * 2;
        keyref *nkeys = malloc(nc * sizeof *nkeys);
        if (!nkeys) return pnomem(p), false;
        memcpy(nkeys, *keys, *nk * sizeof *nkeys);
        if (*keys != local) free(*keys);
        *keys = nkeys;
        *kcap = nc;
    }
    (*keys)[(*nk)++] = k;
    return true;
}

static bool parse_object_members(parser *p, size_t depth, long idx, keyref **keys, size_t *nk,
                                 size_t *kcap, keyref *local) {
    uint32_t members = 0;
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"') {
            char d[16];
            return perr(p, p->i, "expected a string key, found %s", describe(p, p->i, d)), false;
        }
        size_t kpos = p->i;
        long kidx = new_node(p, GR_JSON_STRING);
        if (kidx < 0) return false;
        uint32_t off, len;
        if (!parse_string_text(p, &off, &len)) return false;
        p->nodes[kidx].off = off;
        p->nodes[kidx].count = len;
        if (!push_key(p, keys, nk, kcap, local, (keyref){off, len, kpos})) return false;
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') {
            char d[16];
            return perr(p, p->i, "expected ':' after key, found %s", describe(p, p->i, d)), false;
        }
        p->i++;
        if (!parse_value(p, depth + 1)) return false;
        members++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == '}') return perr(p, p->i, "trailing comma in object"), false;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            p->nodes[idx].count = members;
            return true;
        }
        char d[16];
        return perr(p, p->i, "expected ',' or '}' in object, found %s", describe(p, p->i, d)), false;
    }
}

static bool parse_object(parser *p, size_t depth, long idx) {
    p->i++; /* '{' */
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return true;
    }
    keyref local[16];
    keyref *keys = local;
    size_t nk = 0, kcap = 16;
    bool ok = parse_object_members(p, depth, idx, &keys, &nk, &kcap, local);
    if (ok) ok = check_duplicates(p, keys, nk);
    if (keys != local) free(keys);
    return ok;
}

static bool parse_array(parser *p, size_t depth, long idx) {
    p->i++; /* '[' */
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return true;
    }
    uint32_t count = 0;
    for (;;) {
        if (!parse_value(p, depth + 1)) return false;
        count++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == ']') return perr(p, p->i, "trailing comma in array"), false;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            p->nodes[idx].count = count;
            return true;
        }
        char d[16];
        return perr(p, p->i, "expected ',' or ']' in array, found %s", describe(p, p->i, d)), false;
    }
}

static bool parse_container(parser *p, size_t depth, gr_json_type t) {
    if (depth >= p->max_depth)
        return perr(p, p->i, "nesting deeper than %zu levels (limit)", p->max_depth), false;
    long idx = new_node(p, t);
    if (idx < 0) return false;
    bool ok = t == GR_JSON_OBJECT ? parse_object(p, depth, idx) : parse_array(p, depth, idx);
    if (ok) p->nodes[idx].span = (uint32_t)(p->nn - (size_t)idx);
    return ok;
}

static bool parse_value(parser *p, size_t depth) {
    skip_ws(p);
    if (p->i >= p->n) return perr(p, p->i, "unexpected end of input, expected a value"), false;
    unsigned char c = p->s[p->i];
    switch (c) {
    case '{': return parse_container(p, depth, GR_JSON_OBJECT);
    case '[': return parse_container(p, depth, GR_JSON_ARRAY);
    case '"': {
        long idx = new_node(p, GR_JSON_STRING);
        if (idx < 0) return false;
        uint32_t off, len;
        if (!parse_string_text(p, &off, &len)) return false;
        p->nodes[idx].off = off;
        p->nodes[idx].count = len;
        return true;
    }
    case 't': return parse_literal(p, "true", GR_JSON_TRUE);
    case 'f': return parse_literal(p, "false", GR_JSON_FALSE);
    case 'n': return parse_literal(p, "null", GR_JSON_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            long idx = new_node(p, GR_JSON_NUMBER);
            if (idx < 0) return false;
            return parse_number(p, idx);
        }
        char d[16];
        if (c == 0xEF && p->i == 0 && p->n >= 3 && p->s[1] == 0xBB && p->s[2] == 0xBF)
            return perr(p, p->i, "byte order mark is not allowed"), false;
        return perr(p, p->i, "unexpected %s, expected a value", describe(p, p->i, d)), false;
    }
}

/* Copy nodes and pool into one block and turn pool offsets into node-relative offsets. */
static gr_status finish(parser *p, gr_json **out) {
    size_t nodes_bytes = p->nn * sizeof(gr_json_val);
    if (nodes_bytes + p->pl > UINT32_MAX)
        return gr_err(GR_E_FORMAT, p->err, p->errlen, "document too large for the JSON tree (> 4 GiB)");
    gr_json *doc = malloc(sizeof *doc + nodes_bytes + p->pl + 1);
    if (!doc) return pnomem(p);
    doc->n_nodes = p->nn;
    doc->pool_len = p->pl;
    memcpy(doc->nodes, p->nodes, nodes_bytes);
    char *pool = (char *)doc->nodes + nodes_bytes;
    if (p->pl) memcpy(pool, p->pool, p->pl);
    pool[p->pl] = 0;
    for (size_t k = 0; k < p->nn; k++) {
        gr_json_val *v = &doc->nodes[k];
        if (v->type == GR_JSON_STRING || v->type == GR_JSON_NUMBER)
            v->off = (uint32_t)((p->nn - k) * sizeof(gr_json_val) + v->off);
    }
    *out = doc;
    return GR_OK;
}

gr_status gr_json_parse(const char *text, size_t len, const gr_json_limits *lim, gr_json **out,
                        char *err, size_t errlen) {
    if (out) *out = NULL;
    if (!out || (!text && len)) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_json_parse: NULL argument");
    parser p = {0};
    p.s = (const unsigned char *)(text ? text : "");
    p.n = len;
    p.err = err;
    p.errlen = errlen;
    p.max_depth = lim && lim->max_depth ? lim->max_depth : DEF_DEPTH;
    if (p.max_depth > MAX_DEPTH) p.max_depth = MAX_DEPTH;
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEF_BYTES;
    if (max_bytes > MAX_BYTES) max_bytes = MAX_BYTES;
    p.max_nodes = lim && lim->max_nodes ? lim->max_nodes : DEF_NODES;
    if (p.max_nodes > UINT32_MAX - 1) p.max_nodes = UINT32_MAX - 1;
    if (len > max_bytes)
        return gr_err(GR_E_FORMAT, err, errlen, "line 1 col 1: input of %zu bytes exceeds the limit of %zu",
                      len, max_bytes);
    const struct lconv *lc = localeconv();
    p.decimal_point = lc && lc->decimal_point && lc->decimal_point[0] ? lc->decimal_point[0] : '.';

    gr_status st = GR_OK;
    if (!parse_value(&p, 0)) {
        st = p.st;
    } else {
        skip_ws(&p);
        if (p.i < p.n) {
            char d[16];
            st = perr(&p, p.i, "unexpected %s after the value", describe(&p, p.i, d));
        } else {
            st = finish(&p, out);
        }
    }
    free(p.nodes);
    free(p.pool);
    return st;
}

void gr_json_free(gr_json *doc) { free(doc); }

const gr_json_val *gr_json_root(const gr_json *doc) { return doc && doc->n_nodes ? &doc->nodes[0] : NULL; }

/* ---- accessors --------------------------------------------------------------------------------- */

gr_json_type gr_json_type_of(const gr_json_val *v) { return v ? (gr_json_type)v->type : GR_JSON_NULL; }

const char *gr_json_type_name(gr_json_type t) {
    switch (t) {
    case GR_JSON_NULL: return "null";
    case GR_JSON_FALSE:
    case GR_JSON_TRUE: return "boolean";
    case GR_JSON_NUMBER: return "number";
    case GR_JSON_STRING: return "string";
    case GR_JSON_ARRAY: return "array";
    case GR_JSON_OBJECT: return "object";
    }
    return "?";
}

bool gr_json_is(const gr_json_val *v, gr_json_type t) {
    if (!v) return false;
    if (t == GR_JSON_TRUE || t == GR_JSON_FALSE) return v->type == GR_JSON_TRUE || v->type == GR_JSON_FALSE;
    return v->type == (uint8_t)t;
}

size_t gr_json_len(const gr_json_val *v) {
    if (!v) return 0;
    if (v->type == GR_JSON_ARRAY || v->type == GR_JSON_OBJECT || v->type == GR_JSON_STRING) return v->count;
    return 0;
}

const gr_json_val *gr_json_child(const gr_json_val *v) {
    if (!v || (v->type != GR_JSON_ARRAY && v->type != GR_JSON_OBJECT) || v->span < 2) return NULL;
    return v + 1;
}

const gr_json_val *gr_json_next(const gr_json_val *parent, const gr_json_val *child) {
    if (!parent || !child) return NULL;
    const gr_json_val *nx = child + child->span;
    return nx < parent + parent->span ? nx : NULL;
}

const gr_json_val *gr_json_at(const gr_json_val *v, size_t i) {
    if (!v || i >= v->count) return NULL;
    size_t steps;
    if (v->type == GR_JSON_ARRAY)
        steps = i;
    else if (v->type == GR_JSON_OBJECT)
        steps = 2 * i + 1;
    else
        return NULL;
    const gr_json_val *c = gr_json_child(v);
    while (c && steps--) c = gr_json_next(v, c);
    return c;
}

bool gr_json_member(const gr_json_val *obj, size_t i, const gr_json_val **key, const gr_json_val **val) {
    if (!obj || obj->type != GR_JSON_OBJECT || i >= obj->count) return false;
    const gr_json_val *k = gr_json_child(obj);
    for (size_t s = 0; k && s < 2 * i; s++) k = gr_json_next(obj, k);
    if (!k) return false;
    if (key) *key = k;
    if (val) *val = gr_json_next(obj, k);
    return true;
}

const gr_json_val *gr_json_getn(const gr_json_val *obj, const char *key, size_t keylen) {
    if (!obj || obj->type != GR_JSON_OBJECT || !key) return NULL;
    for (const gr_json_val *k = gr_json_child(obj); k; k = gr_json_next(obj, k)) {
        const gr_json_val *val = gr_json_next(obj, k);
        if (k->count == keylen && memcmp((const char *)k + k->off, key, keylen) == 0) return val;
        k = val;
        if (!k) break;
    }
    return NULL;
}

const gr_json_val *gr_json_get(const gr_json_val *obj, const char *key) {
    return key ? gr_json_getn(obj, key, strlen(key)) : NULL;
}

const char *gr_json_str(const gr_json_val *v, size_t *len) {
    if (!v || v->type != GR_JSON_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->count;
    return (const char *)v + v->off;
}

double gr_json_num(const gr_json_val *v) { return v && v->type == GR_JSON_NUMBER ? v->num : 0.0; }

const char *gr_json_num_text(const gr_json_val *v, size_t *len) {
    if (!v || v->type != GR_JSON_NUMBER) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->count;
    return (const char *)v + v->off;
}

gr_status gr_json_int(const gr_json_val *v, int64_t *out) {
    if (!v || v->type != GR_JSON_NUMBER || !v->is_int) return GR_E_FORMAT;
    const char *s = (const char *)v + v->off;
    bool neg = *s == '-';
    if (neg) s++;
    /* Accumulate as a negative number so INT64_MIN is representable. */
    int64_t acc = 0;
    for (; *s; s++) {
        int d = *s - '0';
        if (acc < (INT64_MIN + d) / 10) return GR_E_FORMAT;
        acc = acc * 10 - d;
    }
    if (!neg) {
        if (acc == INT64_MIN) return GR_E_FORMAT;
        acc = -acc;
    }
    if (out) *out = acc;
    return GR_OK;
}

bool gr_json_bool(const gr_json_val *v) { return v && v->type == GR_JSON_TRUE; }

bool gr_json_equal(const gr_json_val *a, const gr_json_val *b) {
    if (!a || !b) return a == b;
    if (a->type != b->type) return false;
    switch ((gr_json_type)a->type) {
    case GR_JSON_NULL:
    case GR_JSON_TRUE:
    case GR_JSON_FALSE: return true;
    case GR_JSON_NUMBER: return a->num == b->num;
    case GR_JSON_STRING:
        return a->count == b->count && memcmp((const char *)a + a->off, (const char *)b + b->off, a->count) == 0;
    case GR_JSON_ARRAY: {
        if (a->count != b->count) return false;
        const gr_json_val *x = gr_json_child(a), *y = gr_json_child(b);
        for (; x && y; x = gr_json_next(a, x), y = gr_json_next(b, y))
            if (!gr_json_equal(x, y)) return false;
        return !x && !y;
    }
    case GR_JSON_OBJECT: {
        if (a->count != b->count) return false;
        for (size_t i = 0; i < a->count; i++) {
            const gr_json_val *k, *va;
            if (!gr_json_member(a, i, &k, &va)) return false;
            if (!gr_json_equal(va, gr_json_getn(b, (const char *)k + k->off, k->count))) return false;
        }
        return true;
    }
    }
    return false;
}

/* ---- writer ------------------------------------------------------------------------------------ */

void gr_jw_init(gr_jw *w) { memset(w, 0, sizeof *w); }

void gr_jw_free(gr_jw *w) {
    if (!w) return;
    free(w->buf);
    gr_jw_init(w);
}

gr_status gr_jw_status(const gr_jw *w) { return w->status; }

static void jw_fail(gr_jw *w, gr_status s) {
    if (w->status == GR_OK) w->status = s;
}

static bool jw_reserve(gr_jw *w, size_t extra) {
    if (w->status != GR_OK) return false;
    if (w->cap - w->len > extra) return true; /* keep room for the NUL */
    size_t nc = w->cap ? w->cap : 256;
    while (nc - w->len <= extra) {
        if (nc > SIZE_MAX / 2) return jw_fail(w, GR_E_NOMEM), false;
        nc *= 2;
    }
    char *nb = realloc(w->buf, nc);
    if (!nb) return jw_fail(w, GR_E_NOMEM), false;
    w->buf = nb;
    w->cap = nc;
    return true;
}

static void jw_put(gr_jw *w, const char *s, size_t n) {
    if (!jw_reserve(w, n)) return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

/* Structural bookkeeping before a value: commas in arrays, a key must precede a value in objects. */
static bool jw_before_value(gr_jw *w) {
    if (w->status != GR_OK) return false;
    if (w->depth == 0) {
        if (w->done) return jw_fail(w, GR_E_INTERNAL), false;
        return true;
    }
    int d = w->depth - 1;
    if (w->kind[d] == 'o') {
        if (!w->key_pending[d]) return jw_fail(w, GR_E_INTERNAL), false;
        w->key_pending[d] = false;
        return true;
    }
    if (w->count[d]++ > 0) jw_put(w, ",", 1);
    return w->status == GR_OK;
}

static void jw_after_value(gr_jw *w) {
    if (w->depth == 0) w->done = true;
}

void gr_jw_escape(gr_jw *w, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len && w->status == GR_OK) {
        size_t run = i;
        while (i < len && u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\') i++;
        if (i > run) jw_put(w, s + run, i - run);
        if (i >= len) break;
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jw_put(w, e, 2);
            i++;
        } else if (c < 0x20) {
            const char *short_esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
                                  : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (short_esc) {
                jw_put(w, short_esc, 2);
            } else {
                char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                jw_put(w, e, 6);
            }
            i++;
        } else {
            size_t k = utf8_seq(u + i, len - i);
            if (k) {
                jw_put(w, s + i, k);
                i += k;
            } else {
                jw_put(w, "\xEF\xBF\xBD", 3); /* U+FFFD for each invalid byte */
                i++;
            }
        }
    }
}

static void jw_string(gr_jw *w, const char *s, size_t len) {
    jw_put(w, "\"", 1);
    gr_jw_escape(w, s, len);
    jw_put(w, "\"", 1);
}

static void jw_open(gr_jw *w, char kind) {
    if (!jw_before_value(w)) return;
    if (w->depth >= GR_JW_MAX_DEPTH) {
        jw_fail(w, GR_E_INTERNAL);
        return;
    }
    jw_put(w, kind == 'o' ? "{" : "[", 1);
    w->kind[w->depth] = (uint8_t)kind;
    w->count[w->depth] = 0;
    w->key_pending[w->depth] = false;
    w->depth++;
}

void gr_jw_obj(gr_jw *w) { jw_open(w, 'o'); }
void gr_jw_arr(gr_jw *w) { jw_open(w, 'a'); }

void gr_jw_end(gr_jw *w) {
    if (w->status != GR_OK) return;
    if (w->depth == 0 || w->key_pending[w->depth - 1]) {
        jw_fail(w, GR_E_INTERNAL);
        return;
    }
    w->depth--;
    jw_put(w, w->kind[w->depth] == 'o' ? "}" : "]", 1);
    jw_after_value(w);
}

void gr_jw_keyn(gr_jw *w, const char *key, size_t len) {
    if (w->status != GR_OK) return;
    int d = w->depth - 1;
    if (d < 0 || w->kind[d] != 'o' || w->key_pending[d] || !key) {
        jw_fail(w, GR_E_INTERNAL);
        return;
    }
    if (w->count[d]++ > 0) jw_put(w, ",", 1);
    jw_string(w, key, len);
    jw_put(w, ":", 1);
    w->key_pending[d] = true;
}

void gr_jw_key(gr_jw *w, const char *key) { gr_jw_keyn(w, key, key ? strlen(key) : 0); }

void gr_jw_strn(gr_jw *w, const char *s, size_t len) {
    if (!s) {
        gr_jw_null(w);
        return;
    }
    if (!jw_before_value(w)) return;
    jw_string(w, s, len);
    jw_after_value(w);
}

void gr_jw_str(gr_jw *w, const char *s) { gr_jw_strn(w, s, s ? strlen(s) : 0); }

static void jw_literal(gr_jw *w, const char *lit) {
    if (!jw_before_value(w)) return;
    jw_put(w, lit, strlen(lit));
    jw_after_value(w);
}

void gr_jw_null(gr_jw *w) { jw_literal(w, "null"); }
void gr_jw_bool(gr_jw *w, bool b) { jw_literal(w, b ? "true" : "false"); }

void gr_jw_int(gr_jw *w, int64_t x) {
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, x);
    jw_literal(w, b);
}

void gr_jw_num(gr_jw *w, double x) {
    if (w->status != GR_OK) return;
    if (!isfinite(x)) {
        jw_fail(w, GR_E_INVALID_ARG);
        return;
    }
    char b[40];
    if (x == trunc(x) && fabs(x) < 1e15) {
        snprintf(b, sizeof b, "%.0f", x); /* integral values read best without an exponent ("-0" too) */
    } else {
        /* Shortest precision that reads back exactly; the C library may use a locale decimal comma. */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(b, sizeof b, "%.*g", prec, x);
            if (strtod(b, NULL) == x) break;
        }
    }
    for (char *c = b; *c; c++)
        if (*c == ',') *c = '.';
    jw_literal(w, b);
}

void gr_jw_value(gr_jw *w, const gr_json_val *v) {
    if (!v) {
        gr_jw_null(w);
        return;
    }
    switch ((gr_json_type)v->type) {
    case GR_JSON_NULL: gr_jw_null(w); return;
    case GR_JSON_TRUE: gr_jw_bool(w, true); return;
    case GR_JSON_FALSE: gr_jw_bool(w, false); return;
    case GR_JSON_NUMBER: {
        /* Integers are written from their literal so values beyond 2^53 stay exact. */
        int64_t iv;
        bool minus_zero = v->num == 0 && ((const char *)v + v->off)[0] == '-';
        if (!minus_zero && gr_json_int(v, &iv) == GR_OK)
            gr_jw_int(w, iv);
        else
            gr_jw_num(w, v->num);
        return;
    }
    case GR_JSON_STRING: gr_jw_strn(w, (const char *)v + v->off, v->count); return;
    case GR_JSON_ARRAY:
        gr_jw_arr(w);
        for (const gr_json_val *c = gr_json_child(v); c; c = gr_json_next(v, c)) gr_jw_value(w, c);
        gr_jw_end(w);
        return;
    case GR_JSON_OBJECT:
        gr_jw_obj(w);
        for (const gr_json_val *k = gr_json_child(v); k; k = gr_json_next(v, k)) {
            gr_jw_keyn(w, (const char *)k + k->off, k->count);
            k = gr_json_next(v, k);
            gr_jw_value(w, k);
            if (!k) break;
        }
        gr_jw_end(w);
        return;
    }
}

char *gr_jw_take(gr_jw *w, size_t *len) {
    if (w->status == GR_OK && (w->depth != 0 || !w->done)) w->status = GR_E_INTERNAL;
    if (w->status != GR_OK) return NULL;
    char *b = w->buf;
    if (len) *len = w->len;
    gr_jw_init(w);
    return b;
}

gr_status gr_json_write(const gr_json_val *v, char **out, size_t *len) {
    if (!out) return GR_E_INVALID_ARG;
    *out = NULL;
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_value(&w, v);
    char *b = gr_jw_take(&w, len);
    if (!b) {
        gr_status st = w.status;
        gr_jw_free(&w);
        return st;
    }
    *out = b;
    return GR_OK;
}
