/* jarray.c — splitter for the JSON-array stream form (see jarray.h). A byte-at-a-time state
 * machine: simple, and the split points of the input cannot matter. */
#include "cloud/jarray.h"

#include <stdlib.h>
#include <string.h>

enum { J_BEFORE = 0, J_BETWEEN, J_ELEM, J_DONE, J_BARE };

void gr_jarray_init(gr_jarray *a, gr_jarray_fn fn, void *user) {
    memset(a, 0, sizeof *a);
    a->fn = fn;
    a->user = user;
}

void gr_jarray_free(gr_jarray *a) {
    free(a->buf);
    a->buf = NULL;
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gr_status push(gr_jarray *a, char c) {
    size_t max = a->max_elem ? a->max_elem : ((size_t)16 << 20);
    if (a->len + 1 > max) return GR_E_FORMAT;
    if (a->len + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        char *b = realloc(a->buf, cap);
        if (!b) return GR_E_NOMEM;
        a->buf = b;
        a->cap = cap;
    }
    a->buf[a->len++] = c;
    a->buf[a->len] = 0;
    return GR_OK;
}

/* One byte inside an element; *done is set when its closing brace arrived. */
static gr_status elem_byte(gr_jarray *a, char c, bool *done) {
    gr_status s = push(a, c);
    if (s != GR_OK) return s;
    if (a->in_str) {
        if (a->esc)
            a->esc = false;
        else if (c == '\\')
            a->esc = true;
        else if (c == '"')
            a->in_str = false;
        return GR_OK;
    }
    if (c == '"')
        a->in_str = true;
    else if (c == '{' || c == '[')
        a->depth++;
    else if (c == '}' || c == ']') {
        if (--a->depth == 0) *done = true;
        if (a->depth < 0) return GR_E_FORMAT;
    }
    return GR_OK;
}

static gr_status step(gr_jarray *a, char c) {
    switch (a->state) {
    case J_BEFORE:
        if (is_ws(c)) return GR_OK;
        if (c == '[') return a->state = J_BETWEEN, GR_OK;
        if (c != '{') return GR_E_FORMAT;
        a->state = J_BARE;
        break;
    case J_BETWEEN:
        if (is_ws(c) || c == ',') return GR_OK;
        if (c == ']') return a->state = J_DONE, GR_OK;
        if (c != '{') return GR_E_FORMAT;
        a->state = J_ELEM;
        break;
    case J_DONE:
        return is_ws(c) ? GR_OK : GR_E_FORMAT;
    default:
        break;
    }
    bool done = false;
    gr_status s = elem_byte(a, c, &done);
    if (s != GR_OK || !done) return s;
    int stop = a->fn ? a->fn(a->user, a->buf, a->len) : 0;
    a->len = 0;
    a->state = a->state == J_BARE ? J_DONE : J_BETWEEN;
    return stop ? GR_E_CANCELLED : GR_OK;
}

gr_status gr_jarray_feed(gr_jarray *a, const void *bytes, size_t len) {
    if (a->fail_status != GR_OK) return a->fail_status;
    const char *b = bytes;
    for (size_t i = 0; i < len; i++) {
        gr_status s = step(a, b[i]);
        if (s != GR_OK) return a->fail_status = s;
    }
    return GR_OK;
}

gr_status gr_jarray_finish(gr_jarray *a) {
    if (a->fail_status != GR_OK) return a->fail_status;
    return a->state == J_DONE ? GR_OK : GR_E_FORMAT;
}
