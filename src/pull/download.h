/* download.h — one resumable, verified download into a partial file, over net/http.h.
 *
 * What it knows and how it uses it:
 *  - The partial file is a prefix of the resource named by its state file (URL, ETag / X-Linked-Etag,
 *    total size). A state written for another URL, or no state at all, means the bytes are of
 *    unknown origin: start over. The state is written before any byte of a response.
 *  - Each attempt asks for "Range: bytes=<pos>-" (with If-Range when a strong ETag is known).
 *    206 from pos: append. 206 from before pos: drop the overlap. 200 although a range was asked
 *    (range ignored): the body is replayed from byte 0, compared with the bytes on disk, and only
 *    differing bytes are rewritten; hashing restarts at 0. 416 with everything present: done.
 *  - An ETag that changed since the partial began means another version: start over at 0.
 *  - The sha256 runs over the bytes in file order as they arrive (after a process restart the
 *    partial is hashed from disk once). Expected value: the caller's, else X-Linked-Etag, else an
 *    ETag that is 64 hex digits, else none (the computed hash is recorded).
 *  - On a mismatch the file is read from the server once more in full and compared with the
 *    disk: differing bytes are rewritten (counted in `rewritten`), the rest is kept. A second
 *    mismatch means the server's bytes do not match its own checksum: GR_E_INTEGRITY, partial
 *    removed.
 *  - Network errors, timeouts, 408/429/5xx and short bodies are retried with exponential backoff;
 *    the retry budget counts only attempts that brought no new bytes, so a link that keeps dropping
 *    but keeps moving always finishes.
 *  - Free space (statvfs) is checked against the bytes still to come before they are written.
 *  - A header check callback sees the first bytes once the GGUF header is complete, so a wrong
 *    file stops early (GR_E_FORMAT / GR_E_UNSUPPORTED, partial removed).
 * Cancellation (token or a callback returning non-zero) keeps the partial for a later resume.
 * Thread safety: one call per partial file at a time (the caller holds the lock). */
#ifndef GR_PULL_DOWNLOAD_H
#define GR_PULL_DOWNLOAD_H

#include "core/cancel.h"
#include "gemrun.h"
#include "net/http.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct gr_dl_progress {
    const char *phase;   /* "download", "replay" (re-reading bytes already on disk), "retry" */
    uint64_t done;       /* bytes in place and hashed, in file order */
    uint64_t total;      /* 0: unknown */
    uint64_t received;   /* body bytes received over the network by this call */
    int attempt;
    const char *message; /* what happened (retry reason, restart, repair), or NULL */
} gr_dl_progress;
typedef int (*gr_dl_progress_fn)(void *user, const gr_dl_progress *p);
/* Judge the first len bytes (a complete GGUF header) of a file of total bytes. */
typedef gr_status (*gr_dl_check_fn)(void *user, const void *prefix, size_t len, uint64_t total,
                                    char *err, size_t errlen);

typedef struct gr_dl_opts {
    const char *url;
    const char *safe_url; /* for the state file and messages (no query: it may hold secrets) */
    const gr_http_header *headers;
    size_t n_headers;
    const char *part_path, *state_path;
    const char *expected_sha256; /* NULL or "": from the server, else computed */
    int max_retries;             /* attempts in a row without new bytes; 0: 6 */
    double backoff_s;            /* first retry delay, doubled up to 4 s; 0: 0.25 */
    double idle_timeout_s;       /* 0: 30 */
    gr_cancel *cancel;
    gr_dl_progress_fn progress;
    void *progress_user;
    gr_dl_check_fn check; /* may be NULL */
    void *check_user;
} gr_dl_opts;

typedef struct gr_dl_result {
    char sha256[65];
    char sha256_from[32]; /* "given", "x-linked-etag", "etag", "computed" */
    char etag[200];       /* identity seen: X-Linked-Etag, else ETag */
    char revision[128];   /* X-Repo-Commit */
    uint64_t size;
    uint64_t resumed_from; /* bytes of an earlier partial present at the start */
    uint64_t received;     /* body bytes received over the network */
    uint64_t rewritten;    /* bytes on disk found wrong and rewritten */
    int attempts, restarts, repairs;
} gr_dl_result;

/* On GR_OK the partial holds the verified file (the caller renames it into place). */
gr_status gr_download(const gr_dl_opts *o, gr_dl_result *r, char *err, size_t errlen);

#endif
