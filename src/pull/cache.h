/* cache.h — the model cache on disk: content-addressed blobs, one JSON manifest per name, partial
 * downloads and their state, and flock-based locks. Layout under the root:
 *   blobs/sha256-<hex>           verified files (several names may share one blob)
 *   manifests/<h>.json           name -> blob; <h> = first 32 hex of sha256(name)
 *   partial/<key>.part|.json     a download in progress and what it is a prefix of
 *   locks/<key>.lock, cache.lock per-download lock, and the lock around commit / remove
 * Root: the caller's directory, else $GEMRUN_CACHE, else $XDG_CACHE_HOME/gemrun, else
 * ~/.cache/gemrun. Blobs enter by rename(2) from partial/ (same file system), manifests by write to a
 * temporary + fsync + rename, so a crash never leaves a half-written entry.
 * Must not touch the network. Thread safety: reentrant; cross-process safety comes from the locks. */
#ifndef GR_PULL_CACHE_H
#define GR_PULL_CACHE_H

#include "core/cancel.h"
#include "gemrun.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_CACHE_PATH_MAX 4096

typedef struct gr_cache {
    char root[GR_CACHE_PATH_MAX - 128];
} gr_cache;

typedef struct gr_manifest {
    char name[512];      /* "gemma-4-e2b-it", "owner/repo/file.gguf", or a URL */
    char source[2048];   /* URL fetched (query string stripped of nothing: never holds secrets) */
    char revision[128];  /* X-Repo-Commit, or "" */
    char etag[200];      /* the server's ETag (or X-Linked-Etag), or "" */
    char sha256[65];     /* lowercase hex */
    char sha256_from[32];/* "given", "x-linked-etag", "etag", "computed" */
    uint64_t size;
    int64_t created;     /* unix seconds */
} gr_manifest;

/* Resolve the root (see above), create it and its folders. GR_E_IO naming the folder. */
gr_status gr_cache_open(const char *dir, gr_cache *c, char *err, size_t errlen);

void gr_cache_blob_path(const gr_cache *c, const char *sha256, char *out, size_t cap);
void gr_cache_manifest_path(const gr_cache *c, const char *name, char *out, size_t cap);
/* key: 32 hex of sha256(url); the partial file, its state and its lock. */
void gr_cache_key(const char *url, char key[33]);
void gr_cache_partial_path(const gr_cache *c, const char *key, const char *ext, char *out, size_t cap);

/* Manifest JSON <-> struct. Parse rejects missing fields and bad sha256 (GR_E_FORMAT). */
gr_status gr_manifest_parse(const char *json, size_t len, gr_manifest *m, char *err, size_t errlen);
char *gr_manifest_to_json(const gr_manifest *m); /* malloc'ed, NULL on no memory */

/* By name: GR_E_NOT_FOUND when absent; GR_E_FORMAT for a damaged manifest. */
gr_status gr_manifest_read(const gr_cache *c, const char *name, gr_manifest *m, char *err, size_t errlen);
gr_status gr_manifest_write(const gr_cache *c, const gr_manifest *m, char *err, size_t errlen);
/* The entry is usable: manifest present, blob present with the recorded size. */
bool gr_cache_entry_ok(const gr_cache *c, const gr_manifest *m);

/* Every readable manifest (damaged ones are skipped), sorted by name. *out malloc'ed. */
gr_status gr_cache_list(const gr_cache *c, gr_manifest **out, size_t *n, char *err, size_t errlen);
/* Find by exact name, else by a unique sha256 prefix of >= 8 hex digits. */
gr_status gr_cache_find(const gr_cache *c, const char *name_or_hash, gr_manifest *m, char *err,
                        size_t errlen);
/* Remove the manifest; the blob too when no other manifest points at it. Under cache.lock.
 * *freed: bytes of blob removed (0 when shared). */
gr_status gr_cache_remove(const gr_cache *c, const char *name_or_hash, uint64_t *freed, char *err,
                          size_t errlen);

/* Exclusive flock on locks/<key>.lock. When another process holds it, on_wait (may be NULL) is
 * called once, then the lock is polled every 50 ms until taken or the token fires. *fd_out is
 * released with gr_cache_unlock. */
gr_status gr_cache_lock(const gr_cache *c, const char *key, gr_cancel *cancel,
                        void (*on_wait)(void *), void *user, int *fd_out, char *err, size_t errlen);
void gr_cache_unlock(int fd);

/* Manifests and download state files are read whole (core/file.h) up to this size. */
#define GR_CACHE_SMALL_FILE_MAX (64u * 1024)
/* Write atomically: a temporary in the same folder, fsync, rename, fsync the folder. */
gr_status gr_cache_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen);

/* Bytes free for an unprivileged writer in the file system holding path (statvfs). */
gr_status gr_cache_free_bytes(const char *path, uint64_t *free_bytes, char *err, size_t errlen);

#endif
