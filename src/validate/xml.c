/* xml.c — strict XML 1.0 subset parser (see xml.h). Recursive descent over the input with a depth limit;
 * every node and string is owned by the tree. Must not expand anything but the predefined and numeric
 * entities, accept DOCTYPE, or read past the input. */
#include "validate/xml.h"

#include "core/error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct xp {
    const char *s;
    size_t n, i;
    char *err;
    size_t errlen;
    int depth;
} xp;

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static bool buf_add(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

void gr_xml_linecol(const char *text, size_t len, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') { l++; c = 1; }
        else c++;
    }
    *line = l;
    *col = c;
}

static gr_status xfail(xp *p, size_t off, const char *msg) {
    int l, c;
    gr_xml_linecol(p->s, p->n, off, &l, &c);
    return gr_err(GR_E_FORMAT, p->err, p->errlen, "line %d col %d: %s", l, c, msg);
}

static gr_status nomem(xp *p) { return gr_err(GR_E_NOMEM, p->err, p->errlen, "out of memory"); }

static bool at(const xp *p, const char *lit) {
    size_t k = strlen(lit);
    return p->n - p->i >= k && memcmp(p->s + p->i, lit, k) == 0;
}

static bool is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }
static bool name_start(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':' || ch >= 0x80;
}
static bool name_char(unsigned char ch) {
    return name_start(ch) || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
}
static void skip_ws(xp *p) { while (p->i < p->n && is_ws(p->s[p->i])) p->i++; }

/* Whole-input check: valid UTF-8 and only XML Chars (no NUL, no C0 controls but TAB/LF/CR). */
static gr_status check_chars(xp *p) {
    const unsigned char *s = (const unsigned char *)p->s;
    for (size_t i = 0; i < p->n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return xfail(p, i, "control character");
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (k == 0 || c > 0xF4 || i + k > p->n) return xfail(p, i, "invalid UTF-8");
        uint32_t cp = c & (0x7F >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return xfail(p, i, "invalid UTF-8");
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
            return xfail(p, i, "invalid UTF-8");
        i += k;
    }
    return GR_OK;
}

static size_t put_utf8(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode one reference at p->i ('&'), appending its characters. */
static gr_status entity(xp *p, buf *b) {
    size_t start = p->i++;
    static const struct { const char *name; char ch; } pre[] = {
        {"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    for (size_t k = 0; k < 5; k++)
        if (at(p, pre[k].name)) {
            p->i += strlen(pre[k].name);
            return buf_add(b, &pre[k].ch, 1) ? GR_OK : nomem(p);
        }
    if (p->i >= p->n || p->s[p->i] != '#') return xfail(p, start, "unknown entity (only &lt; &gt; &amp; &quot; &apos; and &#...; are allowed)");
    p->i++;
    bool hex = p->i < p->n && p->s[p->i] == 'x';
    if (hex) p->i++;
    uint32_t cp = 0;
    size_t nd = 0;
    while (p->i < p->n && p->s[p->i] != ';') {
        char ch = p->s[p->i];
        int d = ch >= '0' && ch <= '9' ? ch - '0'
              : hex && ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : hex && ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
        if (d < 0) return xfail(p, start, "bad character reference");
        cp = cp * (hex ? 16u : 10u) + (uint32_t)d;
        if (cp > 0x10FFFF) return xfail(p, start, "character reference out of range");
        nd++;
        p->i++;
    }
    if (p->i >= p->n || nd == 0) return xfail(p, start, "bad character reference");
    p->i++;
    bool ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
              (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
    if (!ok) return xfail(p, start, "character reference to a character not allowed in XML");
    char o[4];
    return buf_add(b, o, put_utf8(cp, o)) ? GR_OK : nomem(p);
}

static gr_status read_name(xp *p, char **out) {
    size_t st = p->i;
    if (p->i >= p->n || !name_start((unsigned char)p->s[p->i])) return xfail(p, p->i, "expected a name");
    while (p->i < p->n && name_char((unsigned char)p->s[p->i])) p->i++;
    *out = malloc(p->i - st + 1);
    if (!*out) return nomem(p);
    memcpy(*out, p->s + st, p->i - st);
    (*out)[p->i - st] = 0;
    return GR_OK;
}

static gr_xml_node *node_new(gr_xml_kind k, size_t off) {
    gr_xml_node *n = calloc(1, sizeof *n);
    if (n) { n->kind = k; n->off = off; }
    return n;
}

static bool add_kid(gr_xml_node *parent, gr_xml_node *kid) {
    if (parent->nkids == parent->capkids) {
        size_t cap = parent->capkids ? parent->capkids * 2 : 4;
        gr_xml_node **k = realloc(parent->kids, cap * sizeof *k);
        if (!k) return false;
        parent->kids = k;
        parent->capkids = cap;
    }
    parent->kids[parent->nkids++] = kid;
    return true;
}

/* Append a node to parent, freeing it if that fails. */
static gr_status attach(xp *p, gr_xml_node *parent, gr_xml_node *kid) {
    if (!kid) return nomem(p);
    if (!add_kid(parent, kid)) { gr_xml_free(kid); return nomem(p); }
    return GR_OK;
}

/* Raw section up to `end` (comment, PI, CDATA): copied verbatim. */
static gr_status raw_until(xp *p, const char *end, const char *what, size_t start, char **out, size_t *len) {
    const char *e = NULL;
    size_t el = strlen(end);
    for (size_t i = p->i; i + el <= p->n; i++)
        if (memcmp(p->s + i, end, el) == 0) { e = p->s + i; break; }
    if (!e) return xfail(p, start, what);
    *len = (size_t)(e - (p->s + p->i));
    *out = malloc(*len + 1);
    if (!*out) return nomem(p);
    memcpy(*out, p->s + p->i, *len);
    (*out)[*len] = 0;
    p->i = (size_t)(e - p->s) + el;
    return GR_OK;
}

static gr_status comment(xp *p, gr_xml_node *parent) {
    size_t start = p->i;
    p->i += 4;
    gr_xml_node *n = node_new(GR_XML_COMMENT, start);
    gr_status st = attach(p, parent, n);
    if (st != GR_OK) return st;
    st = raw_until(p, "-->", "unterminated comment", start, &n->text, &n->tlen);
    if (st == GR_OK && (strstr(n->text, "--") || (n->tlen && n->text[n->tlen - 1] == '-')))
        return xfail(p, start, "\"--\" inside a comment");
    return st;
}

static gr_status pi(xp *p, gr_xml_node *parent, bool first) {
    size_t start = p->i;
    p->i += 2;
    gr_xml_node *n = node_new(GR_XML_PI, start);
    gr_status st = attach(p, parent, n);
    if (st == GR_OK) st = read_name(p, &n->name);
    if (st != GR_OK) return st;
    bool is_decl = strlen(n->name) == 3 && (n->name[0] | 32) == 'x' && (n->name[1] | 32) == 'm' &&
                   (n->name[2] | 32) == 'l';
    if (is_decl && !first) return xfail(p, start, "XML declaration not at the start of the document");
    if (p->i < p->n && !is_ws(p->s[p->i]) && !at(p, "?>")) return xfail(p, p->i, "bad processing instruction");
    return raw_until(p, "?>", "unterminated processing instruction", start, &n->text, &n->tlen);
}

static gr_status attr_value(xp *p, gr_xml_attr *a) {
    if (p->i >= p->n || (p->s[p->i] != '"' && p->s[p->i] != '\'')) return xfail(p, p->i, "expected a quoted attribute value");
    char q = p->s[p->i++];
    buf b = {0};
    if (!buf_add(&b, "", 0)) return nomem(p);
    a->value = b.p;
    while (p->i < p->n && p->s[p->i] != q) {
        char ch = p->s[p->i];
        gr_status st = GR_OK;
        if (ch == '<') return xfail(p, p->i, "'<' in an attribute value");
        if (ch == '&') st = entity(p, &b);
        else {
            char sp = is_ws(ch) ? ' ' : ch;
            st = buf_add(&b, &sp, 1) ? GR_OK : nomem(p);
            p->i++;
        }
        a->value = b.p;
        a->vlen = b.len;
        if (st != GR_OK) return st;
    }
    if (p->i >= p->n) return xfail(p, p->i, "unterminated attribute value");
    p->i++;
    return GR_OK;
}

static gr_status attributes(xp *p, gr_xml_node *e) {
    for (;;) {
        size_t before = p->i;
        skip_ws(p);
        if (p->i >= p->n) return xfail(p, p->i, "unterminated start tag");
        if (p->s[p->i] == '>' || at(p, "/>")) return GR_OK;
        if (p->i == before) return xfail(p, p->i, "expected whitespace before an attribute");
        gr_xml_attr *na = realloc(e->attrs, (e->nattrs + 1) * sizeof *na);
        if (!na) return nomem(p);
        e->attrs = na;
        gr_xml_attr *a = &e->attrs[e->nattrs++];
        memset(a, 0, sizeof *a);
        a->off = p->i;
        gr_status st = read_name(p, &a->name);
        if (st != GR_OK) return st;
        for (size_t k = 0; k + 1 < e->nattrs; k++)
            if (strcmp(e->attrs[k].name, a->name) == 0) return xfail(p, a->off, "duplicate attribute");
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != '=') return xfail(p, p->i, "expected '=' after attribute name");
        p->i++;
        skip_ws(p);
        st = attr_value(p, a);
        if (st != GR_OK) return st;
    }
}

static gr_status element(xp *p, gr_xml_node *parent);

static gr_status text(xp *p, gr_xml_node *parent) {
    gr_xml_node *n = node_new(GR_XML_TEXT, p->i);
    gr_status st = attach(p, parent, n);
    if (st != GR_OK) return st;
    buf b = {0};
    while (p->i < p->n && p->s[p->i] != '<') {
        if (at(p, "]]>")) { st = xfail(p, p->i, "\"]]>\" in text"); break; }
        if (p->s[p->i] == '&') st = entity(p, &b);
        else {
            st = buf_add(&b, p->s + p->i, 1) ? GR_OK : nomem(p);
            p->i++;
        }
        if (st != GR_OK) break;
    }
    n->text = b.p;
    n->tlen = b.len;
    if (st == GR_OK && !n->text) {
        n->text = calloc(1, 1);
        if (!n->text) return nomem(p);
    }
    return st;
}

static gr_status content(xp *p, gr_xml_node *e) {
    for (;;) {
        if (p->i >= p->n) return xfail(p, e->off, "element is never closed");
        gr_status st;
        if (at(p, "</")) return GR_OK;
        if (at(p, "<!--")) st = comment(p, e);
        else if (at(p, "<![CDATA[")) {
            size_t start = p->i;
            p->i += 9;
            gr_xml_node *n = node_new(GR_XML_TEXT, start);
            st = attach(p, e, n);
            if (st == GR_OK) {
                n->cdata = true;
                st = raw_until(p, "]]>", "unterminated CDATA section", start, &n->text, &n->tlen);
            }
        } else if (at(p, "<?")) st = pi(p, e, false);
        else if (at(p, "<!")) st = xfail(p, p->i, "declarations (DOCTYPE, ENTITY) are not allowed");
        else if (p->s[p->i] == '<') st = element(p, e);
        else st = text(p, e);
        if (st != GR_OK) return st;
    }
}

static gr_status element(xp *p, gr_xml_node *parent) {
    size_t start = p->i;
    if (++p->depth > GR_XML_MAX_DEPTH) return xfail(p, start, "elements nested too deeply");
    p->i++;
    gr_xml_node *e = node_new(GR_XML_ELEM, start);
    gr_status st = attach(p, parent, e);
    if (st == GR_OK) st = read_name(p, &e->name);
    if (st == GR_OK) st = attributes(p, e);
    if (st != GR_OK) return st;
    if (at(p, "/>")) {
        p->i += 2;
        p->depth--;
        return GR_OK;
    }
    p->i++;
    st = content(p, e);
    if (st != GR_OK) return st;
    size_t close = p->i;
    p->i += 2;
    size_t nl = strlen(e->name);
    if (p->n - p->i < nl || memcmp(p->s + p->i, e->name, nl) != 0 ||
        (p->i + nl < p->n && name_char((unsigned char)p->s[p->i + nl])))
        return xfail(p, close, "end tag does not match the open element");
    p->i += nl;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '>') return xfail(p, p->i, "expected '>' to close the end tag");
    p->i++;
    p->depth--;
    return GR_OK;
}

static gr_status document(xp *p, gr_xml_node *doc) {
    if (at(p, "\xEF\xBB\xBF")) p->i += 3;
    size_t decl_at = p->i; /* the XML declaration may only be the very first thing */
    bool root = false;
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n) break;
        gr_status st;
        if (at(p, "<?")) st = pi(p, doc, p->i == decl_at);
        else if (at(p, "<!--")) st = comment(p, doc);
        else if (at(p, "<!")) st = xfail(p, p->i, "declarations (DOCTYPE, ENTITY) are not allowed");
        else if (p->s[p->i] == '<' && !at(p, "</")) {
            if (root) return xfail(p, p->i, "more than one root element");
            root = true;
            st = element(p, doc);
        } else st = xfail(p, p->i, root ? "content after the root element" : "expected the root element");
        if (st != GR_OK) return st;
    }
    return root ? GR_OK : xfail(p, p->i, "no root element");
}

gr_status gr_xml_parse(const char *text, size_t len, gr_xml_node **doc, char *err, size_t errlen) {
    if (!doc || (!text && len)) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    *doc = NULL;
    if (len > GR_XML_MAX_BYTES) return gr_err(GR_E_FORMAT, err, errlen, "line 1 col 1: document too large");
    xp p = {.s = text ? text : "", .n = len, .err = err, .errlen = errlen};
    gr_status st = check_chars(&p);
    if (st != GR_OK) return st;
    gr_xml_node *d = node_new(GR_XML_DOC, 0);
    if (!d) return nomem(&p);
    st = document(&p, d);
    if (st != GR_OK) {
        gr_xml_free(d);
        return st;
    }
    *doc = d;
    return GR_OK;
}

void gr_xml_free(gr_xml_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) gr_xml_free(n->kids[i]);
    for (size_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n->kids);
    free(n->name);
    free(n->text);
    free(n);
}

const gr_xml_node *gr_xml_root(const gr_xml_node *doc) {
    for (size_t i = 0; doc && i < doc->nkids; i++)
        if (doc->kids[i]->kind == GR_XML_ELEM) return doc->kids[i];
    return NULL;
}

const char *gr_xml_attr_get(const gr_xml_node *e, const char *name) {
    for (size_t i = 0; e && i < e->nattrs; i++)
        if (strcmp(e->attrs[i].name, name) == 0) return e->attrs[i].value;
    return NULL;
}
