/* sse.c — incremental Server-Sent Events parser (see sse.h). Bytes are gathered into whole lines
 * first, so every decision is made on a complete line and the split points of the input cannot
 * change the result. */
#include "cloud/sse.h"

#include <stdlib.h>
#include <string.h>

#define GR_SSE_DEFAULT_MAX ((size_t)16 << 20)

void gr_sse_init(gr_sse *p, gr_sse_fn fn, void *user) {
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->user = user;
}

void gr_sse_free(gr_sse *p) {
    free(p->line);
    free(p->data);
    free(p->raw);
    p->line = p->data = p->raw = NULL;
}

static size_t max_event(const gr_sse *p) {
    return p->max_event ? p->max_event : GR_SSE_DEFAULT_MAX;
}

/* Append n bytes to a growing buffer, keeping room for a NUL. */
static gr_status grow_append(char **buf, size_t *len, size_t *cap, const char *s, size_t n,
                             size_t max) {
    if (*len + n > max) return GR_E_FORMAT;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1)
            c *= 2;
        char *b = realloc(*buf, c);
        if (!b) return GR_E_NOMEM;
        *buf = b;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return GR_OK;
}

static gr_status deliver(gr_sse *p, gr_sse_kind kind, const char *event, char *buf, size_t len) {
    static char empty[1];
    if (!buf) buf = empty;
    int stop = p->fn ? p->fn(p->user, kind, event, buf, len) : 0;
    return stop ? GR_E_CANCELLED : GR_OK;
}

/* A blank line: dispatch what was gathered (RAW first: it came before in the byte stream or
 * between events, and a caller treats it as an error anyway). */
static gr_status dispatch(gr_sse *p) {
    gr_status s = GR_OK;
    if (p->raw_len) s = deliver(p, GR_SSE_RAW, "", p->raw, p->raw_len);
    p->raw_len = 0;
    if (s == GR_OK && p->has_data) {
        size_t n = p->data_len;
        if (n && p->data[n - 1] == '\n') n--; /* the last data line's newline is not part of it */
        if (p->data) p->data[n] = 0;
        s = deliver(p, GR_SSE_DATA, p->event[0] ? p->event : "message", p->data, n);
    }
    p->data_len = 0;
    p->has_data = false;
    p->event[0] = 0;
    return s;
}

static gr_status process_line(gr_sse *p, const char *line, size_t len) {
    if (!p->bom_checked) {
        p->bom_checked = true;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) line += 3, len -= 3;
    }
    if (len == 0) return dispatch(p);
    if (line[0] == ':') return GR_OK; /* comment / keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - v);
    if (vlen && *v == ' ') v++, vlen--;
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        p->has_data = true;
        gr_status s = grow_append(&p->data, &p->data_len, &p->data_cap, v, vlen, max_event(p));
        if (s == GR_OK)
            s = grow_append(&p->data, &p->data_len, &p->data_cap, "\n", 1, max_event(p));
        return s;
    }
    if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        size_t n = vlen < sizeof p->event - 1 ? vlen : sizeof p->event - 1;
        memcpy(p->event, v, n);
        p->event[n] = 0;
        return GR_OK;
    }
    if ((nlen == 2 && memcmp(line, "id", 2) == 0) || (nlen == 5 && memcmp(line, "retry", 5) == 0))
        return GR_OK;
    /* Not SSE: keep the line verbatim for the caller (a bare JSON error object). */
    gr_status s = GR_OK;
    if (p->raw_len) s = grow_append(&p->raw, &p->raw_len, &p->raw_cap, "\n", 1, max_event(p));
    if (s == GR_OK) s = grow_append(&p->raw, &p->raw_len, &p->raw_cap, line, len, max_event(p));
    return s;
}

static gr_status fail(gr_sse *p, gr_status s) {
    if (s != GR_OK) p->fail_status = s;
    return s;
}

gr_status gr_sse_feed(gr_sse *p, const void *bytes, size_t len) {
    if (p->fail_status != GR_OK) return p->fail_status;
    const char *b = bytes;
    size_t i = 0;
    while (i < len) {
        if (p->after_cr) {
            p->after_cr = false;
            if (b[i] == '\n') {
                i++;
                continue;
            }
        }
        /* Take bytes up to the next line end in one go. */
        size_t j = i;
        while (j < len && b[j] != '\n' && b[j] != '\r')
            j++;
        gr_status s = grow_append(&p->line, &p->line_len, &p->line_cap, b + i, j - i, max_event(p));
        if (s != GR_OK) return fail(p, s);
        if (j == len) break;
        p->after_cr = b[j] == '\r';
        s = process_line(p, p->line ? p->line : "", p->line_len);
        p->line_len = 0;
        if (s != GR_OK) return fail(p, s);
        i = j + 1;
    }
    return GR_OK;
}

gr_status gr_sse_finish(gr_sse *p) {
    if (p->fail_status != GR_OK) return p->fail_status;
    gr_status s = GR_OK;
    if (p->line_len) s = process_line(p, p->line, p->line_len);
    p->line_len = 0;
    if (s == GR_OK) s = dispatch(p);
    return fail(p, s);
}
