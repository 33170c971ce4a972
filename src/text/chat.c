/* chat.c — renders Gemma 4 / Gemma 3 chat prompts (layouts of spec gemma4.md §4.4 and §5) and
 * filters the thought channel out of generated answers. Works on text only: must not tokenize or
 * know about models. */
#include "text/chat.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static const char OPEN[] = "<|channel>", CLOSE[] = "<channel|>";
#define MARK_LEN 10

/* ---- format detection ---- */

static bool contains(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; s && i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return true;
    return false;
}

gr_status gr_chat_detect(const char *tmpl, size_t tmpl_len, const char *arch, gr_chat_format *out,
                         char *err, size_t errlen) {
    if (contains(tmpl, tmpl_len, "<|turn>")) *out = GR_CHAT_GEMMA4;
    else if (contains(tmpl, tmpl_len, "<start_of_turn>")) *out = GR_CHAT_GEMMA3;
    else if (arch && !strcmp(arch, "gemma4")) *out = GR_CHAT_GEMMA4;
    else if (arch && !strcmp(arch, "gemma3")) *out = GR_CHAT_GEMMA3;
    else
        return gr_err(GR_E_UNSUPPORTED, err, errlen,
                      "unknown chat format: no Gemma turn markers in the template, architecture %s",
                      arch ? arch : "(none)");
    return GR_OK;
}

gr_status gr_chat_detect_gguf(const gr_gguf *g, gr_chat_format *out, char *err, size_t errlen) {
    gr_gguf_str tmpl = {0}, arch = {0};
    gr_gguf_get_str(g, "tokenizer.chat_template", &tmpl);
    gr_gguf_get_str(g, "general.architecture", &arch);
    char a[32] = {0};
    if (arch.ptr && arch.len < sizeof a) memcpy(a, arch.ptr, arch.len);
    return gr_chat_detect(tmpl.ptr, tmpl.ptr ? tmpl.len : 0, a[0] ? a : NULL, out, err, errlen);
}

const char *gr_chat_format_name(gr_chat_format f) {
    return f == GR_CHAT_GEMMA4 ? "gemma4" : "gemma3";
}

/* ---- a growable output string ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = true; return; }
        b->p = np;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static void put_trimmed(sbuf *b, const char *s, size_t n) {
    while (n && is_ws(*s)) s++, n--;
    while (n && is_ws(s[n - 1])) n--;
    put(b, s, n);
}

/* ---- thought filter ---- */

void gr_thought_filter_init(gr_thought_filter *f) { memset(f, 0, sizeof *f); }

static void emit(gr_thought_filter *f, char c, char *ans, size_t *n_ans, char *th, size_t *n_th) {
    if (!f->in_thought) ans[(*n_ans)++] = c;
    else if (th) th[(*n_th)++] = c;
}

void gr_thought_filter_feed(gr_thought_filter *f, const char *in, size_t len, char *ans,
                            size_t *n_ans, char *th, size_t *n_th) {
    *n_ans = 0;
    if (n_th) *n_th = 0;
    for (size_t i = 0; i < len; i++) {
        f->hold[f->n_hold++] = in[i];
        /* Release bytes from the front until the hold is a proper prefix of the awaited marker. */
        while (f->n_hold) {
            const char *m = f->in_thought ? CLOSE : OPEN;
            if (!memcmp(f->hold, m, f->n_hold)) {
                if (f->n_hold == MARK_LEN) {
                    f->in_thought = !f->in_thought;
                    f->n_hold = 0;
                }
                break;
            }
            emit(f, f->hold[0], ans, n_ans, th, n_th);
            memmove(f->hold, f->hold + 1, --f->n_hold);
        }
    }
}

void gr_thought_filter_flush(gr_thought_filter *f, char *ans, size_t *n_ans, char *th,
                             size_t *n_th) {
    *n_ans = 0;
    if (n_th) *n_th = 0;
    for (size_t i = 0; i < f->n_hold; i++) emit(f, f->hold[i], ans, n_ans, th, n_th);
    f->n_hold = 0;
}

size_t gr_chat_strip_thought(const char *text, size_t len, char *out) {
    gr_thought_filter f;
    gr_thought_filter_init(&f);
    size_t n = 0, k = 0;
    gr_thought_filter_feed(&f, text, len, out, &n, NULL, NULL);
    gr_thought_filter_flush(&f, out + n, &k, NULL, NULL);
    return n + k;
}

/* ---- rendering ---- */

static const char *role_name(gr_chat_role r) {
    return r == GR_ROLE_SYSTEM ? "system" : r == GR_ROLE_USER ? "user" : "model";
}

static void render_gemma4(sbuf *b, const gr_chat_msg *m, size_t n, const gr_chat_opts *o) {
    size_t first = 0;
    puts_(b, "<bos>");
    bool has_sys = n > 0 && m[0].role == GR_ROLE_SYSTEM;
    if (has_sys || o->thinking) {
        puts_(b, "<|turn>system\n");
        if (o->thinking) puts_(b, "<|think|>");
        if (has_sys) put_trimmed(b, m[0].content, m[0].len);
        puts_(b, "<turn|>\n");
        first = has_sys;
    }
    for (size_t i = first; i < n; i++) {
        puts_(b, "<|turn>");
        puts_(b, role_name(m[i].role));
        puts_(b, "\n");
        if (m[i].role == GR_ROLE_MODEL) { /* earlier answers lose their thought channel */
            char *tmp = malloc(m[i].len + 16);
            if (!tmp) { b->oom = true; return; }
            put_trimmed(b, tmp, gr_chat_strip_thought(m[i].content, m[i].len, tmp));
            free(tmp);
        } else {
            put_trimmed(b, m[i].content, m[i].len);
        }
        puts_(b, "<turn|>\n");
    }
    if (o->add_generation_prompt) {
        puts_(b, "<|turn>model\n");
        if (!o->thinking) puts_(b, "<|channel>thought\n<channel|>");
    }
}

static gr_status render_gemma3(sbuf *b, const gr_chat_msg *m, size_t n, const gr_chat_opts *o,
                               char *err, size_t errlen) {
    size_t first = n > 0 && m[0].role == GR_ROLE_SYSTEM;
    puts_(b, "<bos>");
    for (size_t i = first; i < n; i++) {
        gr_chat_role want = (i - first) % 2 == 0 ? GR_ROLE_USER : GR_ROLE_MODEL;
        if (m[i].role != want)
            return gr_err(GR_E_INVALID_ARG, err, errlen,
                          "Gemma 3 conversation roles must alternate user/model (message %zu is %s)",
                          i, role_name(m[i].role));
        puts_(b, "<start_of_turn>");
        puts_(b, role_name(m[i].role));
        puts_(b, "\n");
        if (i == first && first) { /* no system role in Gemma 3: fold it into the first turn */
            put(b, m[0].content, m[0].len);
            puts_(b, "\n\n");
        }
        put_trimmed(b, m[i].content, m[i].len);
        puts_(b, "<end_of_turn>\n");
    }
    if (o->add_generation_prompt) puts_(b, "<start_of_turn>model\n");
    return GR_OK;
}

gr_status gr_chat_render(gr_chat_format f, const gr_chat_msg *msgs, size_t n, const gr_chat_opts *o,
                         char **out, size_t *out_len, char *err, size_t errlen) {
    *out = NULL;
    *out_len = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned)msgs[i].role > GR_ROLE_MODEL || (!msgs[i].content && msgs[i].len))
            return gr_err(GR_E_INVALID_ARG, err, errlen, "message %zu: bad role or content", i);
    sbuf b = {0};
    gr_status s = GR_OK;
    if (f == GR_CHAT_GEMMA4) render_gemma4(&b, msgs, n, o);
    else s = render_gemma3(&b, msgs, n, o, err, errlen);
    if (!s && b.oom) s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    if (s) {
        free(b.p);
        return s;
    }
    *out = b.p;
    *out_len = b.n;
    return GR_OK;
}

size_t gr_chat_stop_tokens(gr_chat_format f, const gr_tokenizer *t, int32_t *ids, size_t cap) {
    const char *names[2] = {f == GR_CHAT_GEMMA4 ? "<turn|>" : "<end_of_turn>", "<eos>"};
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        int32_t id = gr_tokenizer_find(t, names[i], strlen(names[i]));
        if (id < 0) continue;
        if (n < cap) ids[n] = id;
        n++;
    }
    return n;
}
