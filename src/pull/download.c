/* download.c — the resumable, verified download loop (see download.h for the rules). Transport is
 * net/http.h only; this file decides what each response means for the bytes already on disk.
 * Invariant: the hash covers file bytes [0, pos); bytes [pos, have) are on disk but not yet
 * confirmed by this pass; the next incoming byte belongs at file offset pos. */
#include "pull/download.h"

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "pull/cache.h"
#include "pull/check.h"
#include "pull/sha256.h"
#include "pull/writer.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WBUF (2u << 20)          /* one buffer of the writer's ring (writer.h) */
#define SPACE_MARGIN (16u << 20) /* keep this much free beyond the file */

typedef struct dl {
    const gr_dl_opts *o;
    gr_dl_result *r;
    int fd;
    uint64_t have, pos;
    gr_sha256 hash;
    /* what the partial is a prefix of (persisted in the state file) */
    char ident[200], etag[200];
    bool linked; /* ident came from X-Linked-Etag */
    uint64_t total;
    /* the current response (reset at each status line) */
    int status;
    int64_t clen;
    bool has_cr;
    uint64_t cr_start, cr_total;
    char r_etag[200];
    /* the current attempt (sticky across redirects) */
    char a_linked[200], a_revision[128];
    bool began;
    uint64_t skip;
    /* pending appends at file offset have - wlen, in the writer's current fill buffer */
    gr_pull_writer *w;
    uint8_t *wbuf, *cmp;
    size_t wlen;
    /* why a callback stopped the transfer */
    gr_status stop;
    char stop_msg[512];
    bool restart_now;
    uint64_t check_at;
    bool checked;
    double last_report;
    char body[256]; /* start of an error response's body */
    size_t body_len;
    int attempt;
} dl;

/* ---- small helpers ------------------------------------------------------------------------ */

static int stop(dl *d, gr_status s, const char *fmt, ...) GR_PRINTF(3, 4);
static int stop(dl *d, gr_status s, const char *fmt, ...) {
    d->stop = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->stop_msg, sizeof d->stop_msg, fmt, ap);
    va_end(ap);
    return 1;
}

static void report(dl *d, const char *phase, const char *msg, bool force) {
    if (!d->o->progress) return;
    double now = gr_now();
    if (!force && now - d->last_report < 0.1) return;
    d->last_report = now;
    gr_dl_progress p = {phase, d->pos, d->total, d->r->received, d->attempt, msg};
    if (d->o->progress(d->o->progress_user, &p) && d->stop == GR_OK)
        stop(d, GR_E_CANCELLED, "cancelled by the progress callback");
}

/* An ETag value without W/ and quotes, when it is a sha256. */
static bool etag_sha(const char *e, char out[65]) {
    if (!strncmp(e, "W/", 2)) return false;
    size_t n = strlen(e);
    if (n >= 2 && e[0] == '"' && e[n - 1] == '"') e++, n -= 2;
    if (!gr_sha256_is_hex(e, n)) return false;
    for (size_t i = 0; i < 64; i++) out[i] = (char)(e[i] >= 'A' && e[i] <= 'F' ? e[i] - 'A' + 'a' : e[i]);
    out[64] = 0;
    return true;
}

static void copy(char *dst, size_t cap, const char *src) { snprintf(dst, cap, "%s", src ? src : ""); }

/* ---- the state file ------------------------------------------------------------------------ */

static gr_status save_state(dl *d, char *err, size_t errlen) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "url"), gr_jw_str(&w, d->o->safe_url);
    gr_jw_key(&w, "ident"), gr_jw_str(&w, d->ident);
    gr_jw_key(&w, "etag"), gr_jw_str(&w, d->etag);
    gr_jw_key(&w, "linked"), gr_jw_bool(&w, d->linked);
    gr_jw_key(&w, "total"), gr_jw_int(&w, (int64_t)d->total);
    gr_jw_end(&w);
    size_t len = 0;
    char *s = gr_jw_take(&w, &len);
    if (!s) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_status st = gr_cache_write_file(d->o->state_path, s, len, err, errlen);
    free(s);
    return st;
}

/* True when the state file describes a partial of this URL (and fills ident/etag/total). */
static bool load_state(dl *d) {
    char *buf = NULL;
    size_t len = 0;
    if (gr_file_read(d->o->state_path, GR_CACHE_SMALL_FILE_MAX, &buf, &len, NULL, 0) != GR_OK) return false;
    gr_json *doc = NULL;
    bool ok = gr_json_parse(buf, len, NULL, &doc, NULL, 0) == GR_OK;
    const gr_json_val *r = ok ? gr_json_root(doc) : NULL;
    const char *url = gr_json_str(gr_json_get(r, "url"), NULL);
    int64_t total = 0;
    ok = ok && url && !strcmp(url, d->o->safe_url) &&
         gr_json_int(gr_json_get(r, "total"), &total) == GR_OK && total >= 0;
    if (ok) {
        copy(d->ident, sizeof d->ident, gr_json_str(gr_json_get(r, "ident"), NULL));
        copy(d->etag, sizeof d->etag, gr_json_str(gr_json_get(r, "etag"), NULL));
        d->linked = gr_json_bool(gr_json_get(r, "linked"));
        d->total = (uint64_t)total;
    }
    gr_json_free(doc);
    free(buf);
    return ok;
}

/* ---- file ---------------------------------------------------------------------------------- */

/* Hand the filled buffer to the hash and write stages; wait=true: also until they are done, so the
 * hash and the file are complete up to `have`. */
static gr_status flush_to(dl *d, bool wait, char *err, size_t errlen) {
    uint64_t ok_end = 0;
    gr_status s = gr_pull_writer_submit(d->w, d->wlen, d->have - d->wlen, &ok_end, err, errlen);
    if (!s && wait) s = gr_pull_writer_drain(d->w, &ok_end, err, errlen);
    d->wlen = 0;
    d->wbuf = gr_pull_writer_buf(d->w);
    if (s) { /* keep what reached the disk: the partial stays consistent with its size */
        d->have = ok_end;
        if (ftruncate(d->fd, (off_t)d->have) != 0) { /* best effort */ }
    }
    return s;
}

static gr_status flush(dl *d, char *err, size_t errlen) { return flush_to(d, true, err, errlen); }

static gr_status truncate_to(dl *d, uint64_t size, char *err, size_t errlen) {
    d->wlen = 0;
    if (ftruncate(d->fd, (off_t)size) != 0)
        return gr_err(GR_E_IO, err, errlen, "truncating %s: %s", d->o->part_path, strerror(errno));
    d->have = size;
    if (d->pos > size) {
        d->pos = 0;
        gr_sha256_init(&d->hash);
    }
    return GR_OK;
}

/* Hash the partial from disk (after a process restart). */
static gr_status hash_existing(dl *d, char *err, size_t errlen) {
    gr_sha256_init(&d->hash);
    d->pos = 0;
    while (d->pos < d->have) {
        size_t want = d->have - d->pos < WBUF ? (size_t)(d->have - d->pos) : WBUF;
        ssize_t n = pread(d->fd, d->cmp, want, (off_t)d->pos);
        if (n <= 0) return gr_err(GR_E_IO, err, errlen, "reading %s: %s", d->o->part_path,
                                  n < 0 ? strerror(errno) : "short file");
        gr_sha256_update(&d->hash, d->cmp, (size_t)n);
        d->pos += (uint64_t)n;
        gr_status s = gr_cancel_check(d->o->cancel);
        if (s) return gr_err(s, err, errlen, "cancelled while hashing the partial download");
    }
    return GR_OK;
}

/* Incoming bytes for [pos, pos+len) that lie below `have`: compare with the disk, rewrite what
 * differs. */
static int replay(dl *d, const uint8_t *p, size_t len) {
    while (len) {
        size_t n = len < WBUF ? len : WBUF;
        ssize_t got = pread(d->fd, d->cmp, n, (off_t)d->pos);
        if (got < (ssize_t)n) return stop(d, GR_E_IO, "reading %s: %s", d->o->part_path, strerror(errno));
        if (memcmp(d->cmp, p, n) != 0) {
            size_t diff = 0;
            for (size_t i = 0; i < n; i++) diff += d->cmp[i] != p[i];
            if (pwrite(d->fd, p, n, (off_t)d->pos) != (ssize_t)n)
                return stop(d, GR_E_IO, "writing %s: %s", d->o->part_path, strerror(errno));
            d->r->rewritten += diff;
        }
        gr_sha256_update(&d->hash, p, n);
        d->pos += n, p += n, len -= n;
    }
    return 0;
}

/* Bytes past the end of the file: into the fill buffer; the writer's threads hash and write it. */
static int append(dl *d, const uint8_t *p, size_t len) {
    while (len) {
        size_t n = WBUF - d->wlen < len ? WBUF - d->wlen : len;
        memcpy(d->wbuf + d->wlen, p, n);
        d->wlen += n, d->have += n, d->pos += n, p += n, len -= n;
        char e[256];
        if (d->wlen == WBUF && flush_to(d, false, e, sizeof e) != GR_OK) return stop(d, GR_E_IO, "%s", e);
    }
    return 0;
}

/* ---- the early header check ----------------------------------------------------------------- */

static gr_status run_check(dl *d, uint64_t total, char *err, size_t errlen) {
    gr_status s = flush(d, err, errlen);
    if (s) return s;
    size_t n = d->have < GR_GGUF_PEEK_MAX ? (size_t)d->have : GR_GGUF_PEEK_MAX;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_gguf_peek pk;
    if (pread(d->fd, buf, n, 0) != (ssize_t)n) s = gr_err(GR_E_IO, err, errlen, "reading back the header");
    if (!s) s = gr_gguf_peek_scan(buf, n, &pk, err, errlen);
    if (!s && pk.complete) {
        s = d->o->check(d->o->check_user, buf, n, total, err, errlen);
        d->checked = true;
    } else if (!s) {
        d->check_at = pk.need > 2 * d->check_at ? pk.need : 2 * d->check_at;
        if (total && d->check_at > total) s = gr_err(GR_E_FORMAT, err, errlen, "GGUF header runs past the end of the file");
    }
    free(buf);
    return s;
}

static int maybe_check(dl *d) {
    if (!d->o->check || d->checked || !d->total || d->have < d->check_at) return 0;
    char e[512];
    gr_status s = run_check(d, d->total, e, sizeof e);
    return s ? stop(d, s, "%s", e) : 0;
}

/* ---- response handling -------------------------------------------------------------------- */

static void parse_content_range(dl *d, const char *v) {
    unsigned long long a, b, t;
    char star;
    if (sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t) == 3) {
        d->has_cr = true, d->cr_start = a, d->cr_total = t;
    } else if (sscanf(v, "bytes %llu-%llu/%c", &a, &b, &star) == 3 && star == '*') {
        d->has_cr = true, d->cr_start = a, d->cr_total = 0;
    } else if (sscanf(v, "bytes */%llu", &t) == 1) {
        d->cr_total = t; /* 416: the full size */
    }
}

static int on_header(void *user, int status, const char *name, const char *value) {
    dl *d = user;
    if (!name) {
        d->status = status, d->clen = -1, d->has_cr = false, d->cr_start = d->cr_total = 0;
        d->r_etag[0] = 0;
        return 0;
    }
    if (!strcasecmp(name, "content-length")) d->clen = strtoll(value, NULL, 10);
    else if (!strcasecmp(name, "content-range")) parse_content_range(d, value);
    else if (!strcasecmp(name, "etag")) copy(d->r_etag, sizeof d->r_etag, value);
    else if (!strcasecmp(name, "x-linked-etag")) copy(d->a_linked, sizeof d->a_linked, value);
    else if (!strcasecmp(name, "x-repo-commit")) copy(d->a_revision, sizeof d->a_revision, value);
    return 0;
}

static bool status_ok(int s) { return s == 200 || s == 206; }

/* The identity changed (another version of the file): drop what we have. */
static int identity_changed(dl *d, const char *ident) {
    char msg[512];
    snprintf(msg, sizeof msg, "the file changed on the server (ETag %.160s -> %.160s): starting over",
             d->ident, ident);
    d->r->restarts++;
    char e[256];
    if (truncate_to(d, 0, e, sizeof e) != GR_OK) return stop(d, GR_E_IO, "%s", e);
    d->pos = 0;
    gr_sha256_init(&d->hash);
    report(d, "download", msg, true);
    if (d->status == 206) { /* this body continues the new version mid-file: ask again from 0 */
        d->restart_now = true;
        return stop(d, GR_E_CANCELLED, "restart");
    }
    return 0;
}

static int check_space(dl *d) {
    if (!d->total || d->total <= d->have) return 0;
    uint64_t need = d->total - d->have, free_b = 0;
    char dir[GR_CACHE_PATH_MAX], e[256];
    copy(dir, sizeof dir, d->o->part_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (gr_cache_free_bytes(dir, &free_b, e, sizeof e) != GR_OK) return 0; /* cannot tell: go on */
    if (free_b >= need + SPACE_MARGIN) return 0;
    char a[64], b[480];
    snprintf(a, sizeof a, "%.2f GiB", (double)(need + SPACE_MARGIN) / (1 << 30));
    snprintf(b, sizeof b, "%.2f GiB free in %.400s", (double)free_b / (1 << 30), dir);
    return stop(d, GR_E_IO, "not enough disk space: the download needs %s, %s", a, b);
}

/* First body byte (or end) of the final response: decide what it means for the partial. */
static int begin(dl *d) {
    d->began = true;
    if (!status_ok(d->status)) return 0;
    const char *ident = d->a_linked[0] ? d->a_linked : d->r_etag;
    if (d->status == 206) {
        if (!d->has_cr || d->cr_start > d->pos) { /* nonsense range: start clean */
            d->restart_now = true;
            report(d, "download", "the server answered a range we did not ask for: starting over", true);
            char e[256];
            if (truncate_to(d, 0, e, sizeof e)) return stop(d, GR_E_IO, "%s", e);
            d->pos = 0, gr_sha256_init(&d->hash);
            return stop(d, GR_E_CANCELLED, "restart");
        }
        d->skip = d->pos - d->cr_start;
    } else if (d->pos > 0) { /* 200: range ignored (or If-Range failed) */
        d->pos = 0, gr_sha256_init(&d->hash);
        report(d, "replay", "the server ignored the range request: re-reading from byte 0, "
               "keeping the bytes on disk that match", true);
    }
    if (d->ident[0] && ident[0] && strcmp(ident, d->ident) != 0 && identity_changed(d, ident)) return 1;
    if (ident[0]) copy(d->ident, sizeof d->ident, ident);
    d->linked = d->a_linked[0] != 0;
    copy(d->etag, sizeof d->etag, d->r_etag);
    uint64_t total = d->status == 206 ? d->cr_total : (d->clen >= 0 ? (uint64_t)d->clen : 0);
    if (total) d->total = total;
    if (d->pos == 0 && d->have > d->total && d->total) { /* a longer stale partial */
        char e[256];
        if (truncate_to(d, d->total, e, sizeof e)) return stop(d, GR_E_IO, "%s", e);
    }
    char e[256];
    if (save_state(d, e, sizeof e) != GR_OK) return stop(d, GR_E_IO, "%s", e);
    return check_space(d);
}

static int on_data(void *user, int status, const void *data, size_t len) {
    dl *d = user;
    (void)status;
    if (!d->began && begin(d)) return 1;
    if (!status_ok(d->status)) { /* keep the start of an error body for the message */
        size_t n = sizeof d->body - 1 - d->body_len < len ? sizeof d->body - 1 - d->body_len : len;
        memcpy(d->body + d->body_len, data, n);
        for (size_t i = d->body_len; i < d->body_len + n; i++) /* one printable line for messages */
            if ((unsigned char)d->body[i] < 0x20 || d->body[i] == 0x7f) d->body[i] = ' ';
        d->body_len += n;
        d->body[d->body_len] = 0;
        return 0;
    }
    const uint8_t *p = data;
    d->r->received += len;
    if (d->skip) {
        size_t n = d->skip < len ? (size_t)d->skip : len;
        d->skip -= n, p += n, len -= n;
    }
    if (d->total && d->pos + len > d->total) /* more than the size it announced */
        return stop(d, GR_E_UPSTREAM, "the server sent more bytes than it announced");
    size_t below = d->pos < d->have - d->wlen ? (size_t)((d->have - d->wlen) - d->pos) : 0;
    if (below > len) below = len;
    if (below && replay(d, p, below)) return 1;
    if (len > below && append(d, p + below, len - below)) return 1;
    report(d, d->pos < d->have ? "replay" : "download", NULL, false);
    if (d->stop) return 1;
    return maybe_check(d);
}

/* ---- one attempt --------------------------------------------------------------------------- */

typedef enum { A_DONE, A_RETRY, A_FAIL } attempt_end;

static attempt_end http_error(dl *d, gr_status *s, char *err, size_t errlen) {
    int st = d->status;
    const char *body = d->body_len ? d->body : "";
    if (st == 401 || st == 403) {
        *s = gr_err(GR_E_AUTH, err, errlen, "%s: HTTP %d (%s)%s", d->o->safe_url, st, body,
                    d->o->n_headers ? "" : "; gated models need HF_TOKEN and an accepted licence");
        return A_FAIL;
    }
    if (st == 404) {
        *s = gr_err(GR_E_NOT_FOUND, err, errlen, "%s: HTTP 404, no such file", d->o->safe_url);
        return A_FAIL;
    }
    if (st == 408 || st == 429 || st >= 500) {
        *s = gr_err(st == 429 ? GR_E_RATE_LIMITED : GR_E_UPSTREAM, err, errlen, "%s: HTTP %d",
                    d->o->safe_url, st);
        return A_RETRY;
    }
    *s = gr_err(GR_E_UPSTREAM, err, errlen, "%s: unexpected HTTP %d", d->o->safe_url, st);
    return A_FAIL;
}

static attempt_end after_ok(dl *d, gr_status *s, char *err, size_t errlen) {
    if (d->status == 416) {
        if (d->cr_total) d->total = d->cr_total;
        if (d->total && d->pos == d->total && d->have == d->total) return A_DONE;
        char e[256];
        d->r->restarts++;
        if (truncate_to(d, 0, e, sizeof e)) return *s = gr_err(GR_E_IO, err, errlen, "%s", e), A_FAIL;
        d->pos = 0, gr_sha256_init(&d->hash);
        *s = gr_err(GR_E_UPSTREAM, err, errlen, "%s: range not satisfiable: starting over", d->o->safe_url);
        return A_RETRY;
    }
    if (!status_ok(d->status)) return http_error(d, s, err, errlen);
    if (!d->began && begin(d)) {
        if (d->restart_now) return *s = GR_E_UPSTREAM, A_RETRY;
        return *s = gr_err(d->stop, err, errlen, "%s", d->stop_msg), A_FAIL;
    }
    if (!d->total || d->pos == d->total) {
        if (!d->total) d->total = d->pos;
        if (d->have > d->pos && truncate_to(d, d->pos, err, errlen)) return *s = GR_E_IO, A_FAIL;
        return A_DONE;
    }
    *s = gr_err(GR_E_NETWORK, err, errlen, "%s: the response ended at byte %llu of %llu", d->o->safe_url,
                (unsigned long long)d->pos, (unsigned long long)d->total);
    return A_RETRY;
}

static attempt_end attempt(dl *d, gr_status *s, char *err, size_t errlen) {
    d->began = false, d->skip = 0, d->stop = GR_OK, d->restart_now = false, d->body_len = 0;
    d->a_linked[0] = d->a_revision[0] = 0, d->status = 0;
    gr_http_header hs[16];
    size_t n = 0;
    for (; n < d->o->n_headers && n < 15; n++) hs[n] = d->o->headers[n];
    if (d->pos > 0 && d->etag[0] && strncmp(d->etag, "W/", 2)) hs[n++] = (gr_http_header){"If-Range", d->etag};
    gr_http_request req = {.url = d->o->url, .headers = hs, .n_headers = n, .cancel = d->o->cancel,
                           .idle_timeout_s = d->o->idle_timeout_s > 0 ? d->o->idle_timeout_s : 30,
                           .range_from = d->pos};
    int status = 0;
    char herr[512];
    gr_status hs_ = gr_http_perform(&req, on_header, on_data, d, &status, herr, sizeof herr);
    char ferr[256];
    gr_status fs = flush(d, ferr, sizeof ferr);
    if (d->a_revision[0]) copy(d->r->revision, sizeof d->r->revision, d->a_revision);
    if (d->stop != GR_OK) {
        if (d->restart_now) return *s = GR_E_UPSTREAM, A_RETRY;
        *s = gr_err(d->stop, err, errlen, "%s", d->stop_msg);
        return A_FAIL;
    }
    if (fs) return *s = gr_err(fs, err, errlen, "%s", ferr), A_FAIL;
    if (hs_ == GR_E_CANCELLED || hs_ == GR_E_INVALID_ARG || hs_ == GR_E_NOMEM)
        return *s = gr_err(hs_, err, errlen, "%s", herr), A_FAIL;
    if (hs_ != GR_OK) return *s = gr_err(hs_, err, errlen, "%s", herr), A_RETRY;
    return after_ok(d, s, err, errlen);
}

/* ---- verification and the loop -------------------------------------------------------------- */

static bool expected(const dl *d, char out[65], char *from, size_t cap) {
    if (d->o->expected_sha256 && *d->o->expected_sha256) {
        copy(out, 65, d->o->expected_sha256);
        for (char *p = out; *p; p++) *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        return copy(from, cap, "given"), true;
    }
    if (d->linked && etag_sha(d->ident, out))
        return copy(from, cap, "x-linked-etag"), true;
    if (etag_sha(d->etag, out)) return copy(from, cap, "etag"), true;
    copy(from, cap, "computed");
    return false;
}

static bool sleep_backoff(dl *d, int fails) {
    double t = (d->o->backoff_s > 0 ? d->o->backoff_s : 0.25) * (double)(1u << (fails > 5 ? 5 : fails - 1));
    if (t > 4) t = 4;
    for (double end = gr_now() + t; gr_now() < end;) {
        if (gr_cancel_check(d->o->cancel)) return false;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    return true;
}

/* Returns GR_OK when the hash matches (or there is nothing to match); sets *again for a repair. */
static gr_status verify(dl *d, bool *again, char *err, size_t errlen) {
    char want[65], got[65];
    gr_sha256 h = d->hash;
    gr_sha256_final_hex(&h, got);
    bool have_want = expected(d, want, d->r->sha256_from, sizeof d->r->sha256_from);
    copy(d->r->sha256, sizeof d->r->sha256, got);
    *again = false;
    if (!have_want || !strcmp(want, got)) return GR_OK;
    if (d->r->repairs == 0) {
        d->r->repairs++;
        d->pos = 0, gr_sha256_init(&d->hash);
        *again = true;
        char msg[400];
        snprintf(msg, sizeof msg, "sha256 mismatch (got %s, want %s from %s): re-reading the file "
                 "to find and rewrite the bad bytes", got, want, d->r->sha256_from);
        report(d, "replay", msg, true);
        return GR_OK;
    }
    return gr_err(GR_E_INTEGRITY, err, errlen,
                  "%s: sha256 mismatch: the server's bytes hash to %s but %s says %s (checked twice; "
                  "partial download removed)", d->o->safe_url, got, d->r->sha256_from, want);
}

static gr_status loop(dl *d, char *err, size_t errlen) {
    int fails = 0;
    gr_status s = GR_OK;
    for (;;) {
        uint64_t pos0 = d->pos, recv0 = d->r->received;
        d->attempt = ++d->r->attempts;
        attempt_end e = attempt(d, &s, err, errlen);
        if (e == A_FAIL) return s;
        if (e == A_DONE) {
            if (d->o->check && !d->checked && d->total) {
                d->check_at = d->have;
                if ((s = run_check(d, d->total, err, errlen))) return s;
            }
            bool again = false;
            if ((s = verify(d, &again, err, errlen)) || !again) return s;
            fails = 0;
            continue;
        }
        if (d->r->restarts > 8)
            return gr_err(GR_E_UPSTREAM, err, errlen, "%s: the file keeps changing on the server "
                          "(%d restarts)", d->o->safe_url, d->r->restarts);
        if (d->restart_now) continue; /* no new bytes expected from this response; ask again */
        fails = d->pos > pos0 || (d->pos < pos0 && d->r->received > recv0) ? 0 : fails + 1;
        int max = d->o->max_retries > 0 ? d->o->max_retries : 6;
        if (fails > max) return s;
        report(d, "retry", err, true);
        if (d->stop) return gr_err(GR_E_CANCELLED, err, errlen, "%s", d->stop_msg);
        if (fails && !sleep_backoff(d, fails)) return gr_err(GR_E_CANCELLED, err, errlen, "cancelled");
    }
}

static gr_status open_partial(dl *d, char *err, size_t errlen) {
    d->fd = open(d->o->part_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0) return gr_err(GR_E_IO, err, errlen, "cannot open %s: %s", d->o->part_path, strerror(errno));
    struct stat st;
    if (fstat(d->fd, &st) != 0) return gr_err(GR_E_IO, err, errlen, "stat %s: %s", d->o->part_path, strerror(errno));
    d->have = (uint64_t)st.st_size;
    if (!load_state(d)) { /* bytes of unknown origin */
        d->ident[0] = d->etag[0] = 0, d->total = 0;
        gr_status s = truncate_to(d, 0, err, errlen);
        if (s) return s;
    }
    if (d->total && d->have > d->total) {
        gr_status s = truncate_to(d, 0, err, errlen);
        if (s) return s;
    }
    d->r->resumed_from = d->have;
    return hash_existing(d, err, errlen);
}

gr_status gr_download(const gr_dl_opts *o, gr_dl_result *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (!o || !o->url || !o->safe_url || !o->part_path || !o->state_path)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "download: missing options");
    dl d = {.o = o, .r = r, .fd = -1, .check_at = 64 * 1024};
    d.cmp = malloc(WBUF);
    gr_status s = d.cmp ? GR_OK : gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_sha256_init(&d.hash);
    if (!s) s = open_partial(&d, err, errlen);
    if (!s) s = gr_pull_writer_new(d.fd, &d.hash, WBUF, &d.w, err, errlen);
    if (!s) d.wbuf = gr_pull_writer_buf(d.w);
    if (!s) s = loop(&d, err, errlen);
    if (!s) {
        r->size = d.pos;
        copy(r->etag, sizeof r->etag, d.ident);
        if (fsync(d.fd) != 0) s = gr_err(GR_E_IO, err, errlen, "fsync %s: %s", o->part_path, strerror(errno));
    }
    gr_pull_writer_free(d.w); /* drains: nothing touches the file after this */
    if (d.fd >= 0) close(d.fd);
    /* Bytes that can never verify, or a file we refuse: drop them so the next run starts clean. */
    if (s == GR_E_INTEGRITY || s == GR_E_FORMAT || s == GR_E_UNSUPPORTED) {
        unlink(o->part_path);
        unlink(o->state_path);
    }
    free(d.cmp);
    return s;
}
