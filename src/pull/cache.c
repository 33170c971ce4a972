/* cache.c — the on-disk model cache (see cache.h): folders, manifests, listing, removal, locks.
 * Writes go through a temporary file + fsync + rename so readers only ever see whole manifests.
 * It must not download anything or hold a lock longer than one call. */
#include "pull/cache.h"

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "pull/sha256.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static const char *const SUBDIRS[] = {"blobs", "manifests", "partial", "locks"};

/* mkdir -p */
static int mkdirs(const char *path) {
    char tmp[GR_CACHE_PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return errno;
    return 0;
}

static gr_status default_root(char *out, size_t cap, char *err, size_t errlen) {
    const char *v = getenv("GEMRUN_CACHE");
    int n;
    if (v && *v)
        n = snprintf(out, cap, "%s", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v)
        n = snprintf(out, cap, "%s/gemrun", v);
    else if ((v = getenv("HOME")) && *v)
        n = snprintf(out, cap, "%s/.cache/gemrun", v);
    else
        return gr_err(GR_E_INVALID_ARG, err, errlen,
                      "cache: no cache folder (set GEMRUN_CACHE, XDG_CACHE_HOME or HOME)");
    if (n < 0 || (size_t)n >= cap) return gr_err(GR_E_INVALID_ARG, err, errlen, "cache: path too long");
    return GR_OK;
}

gr_status gr_cache_open(const char *dir, gr_cache *c, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (dir && *dir) {
        if (strlen(dir) >= sizeof c->root) return gr_err(GR_E_INVALID_ARG, err, errlen, "cache: path too long");
        strcpy(c->root, dir);
    } else {
        gr_status s = default_root(c->root, sizeof c->root, err, errlen);
        if (s != GR_OK) return s;
    }
    for (size_t i = 0; i < sizeof SUBDIRS / sizeof SUBDIRS[0]; i++) {
        char p[GR_CACHE_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", c->root, SUBDIRS[i]);
        int e = mkdirs(p);
        if (e) return gr_err(GR_E_IO, err, errlen, "cache: cannot create %s: %s", p, strerror(e));
    }
    return GR_OK;
}

void gr_cache_blob_path(const gr_cache *c, const char *sha256, char *out, size_t cap) {
    snprintf(out, cap, "%s/blobs/sha256-%s", c->root, sha256);
}

void gr_cache_manifest_path(const gr_cache *c, const char *name, char *out, size_t cap) {
    char hex[65];
    gr_sha256_hex(name, strlen(name), hex);
    hex[32] = 0;
    snprintf(out, cap, "%s/manifests/%s.json", c->root, hex);
}

void gr_cache_key(const char *url, char key[33]) {
    char hex[65];
    gr_sha256_hex(url, strlen(url), hex);
    memcpy(key, hex, 32);
    key[32] = 0;
}

void gr_cache_partial_path(const gr_cache *c, const char *key, const char *ext, char *out, size_t cap) {
    snprintf(out, cap, "%s/partial/%s%s", c->root, key, ext);
}

/* ---- manifest JSON ------------------------------------------------------------------------- */

static gr_status get_str(const gr_json_val *o, const char *k, char *dst, size_t cap, bool required,
                         char *err, size_t errlen) {
    const gr_json_val *v = gr_json_get(o, k);
    size_t n = 0;
    const char *s = gr_json_str(v, &n);
    dst[0] = 0;
    if (!v && !required) return GR_OK;
    if (!s || n >= cap || memchr(s, 0, n))
        return gr_err(GR_E_FORMAT, err, errlen, "manifest: field '%s' missing, not a string or too long", k);
    memcpy(dst, s, n + 1);
    return GR_OK;
}

static gr_status get_u64(const gr_json_val *o, const char *k, uint64_t *dst, char *err, size_t errlen) {
    int64_t v = 0;
    if (gr_json_int(gr_json_get(o, k), &v) != GR_OK || v < 0)
        return gr_err(GR_E_FORMAT, err, errlen, "manifest: field '%s' is not a non-negative integer", k);
    *dst = (uint64_t)v;
    return GR_OK;
}

static gr_status manifest_fields(const gr_json_val *r, gr_manifest *m, char *err, size_t errlen) {
    gr_status s = get_str(r, "name", m->name, sizeof m->name, true, err, errlen);
    if (!s) s = get_str(r, "source", m->source, sizeof m->source, true, err, errlen);
    if (!s) s = get_str(r, "revision", m->revision, sizeof m->revision, false, err, errlen);
    if (!s) s = get_str(r, "etag", m->etag, sizeof m->etag, false, err, errlen);
    if (!s) s = get_str(r, "sha256", m->sha256, sizeof m->sha256, true, err, errlen);
    if (!s) s = get_str(r, "sha256_from", m->sha256_from, sizeof m->sha256_from, false, err, errlen);
    if (!s) s = get_u64(r, "size", &m->size, err, errlen);
    uint64_t created = 0;
    if (!s && gr_json_get(r, "created")) s = get_u64(r, "created", &created, err, errlen);
    m->created = (int64_t)created;
    if (s) return s;
    if (!m->name[0]) return gr_err(GR_E_FORMAT, err, errlen, "manifest: empty name");
    if (!gr_sha256_is_hex(m->sha256, strlen(m->sha256)))
        return gr_err(GR_E_FORMAT, err, errlen, "manifest: sha256 is not 64 hex digits");
    for (char *p = m->sha256; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
    return GR_OK;
}

gr_status gr_manifest_parse(const char *json, size_t len, gr_manifest *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    gr_json_limits lim = {.max_depth = 8, .max_bytes = 64 * 1024, .max_nodes = 256};
    gr_json *doc = NULL;
    char jerr[160];
    if (gr_json_parse(json, len, &lim, &doc, jerr, sizeof jerr) != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen, "manifest: %s", jerr);
    const gr_json_val *r = gr_json_root(doc);
    gr_status s = gr_json_is(r, GR_JSON_OBJECT)
                      ? manifest_fields(r, m, err, errlen)
                      : gr_err(GR_E_FORMAT, err, errlen, "manifest: not a JSON object");
    gr_json_free(doc);
    return s;
}

char *gr_manifest_to_json(const gr_manifest *m) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "name"), gr_jw_str(&w, m->name);
    gr_jw_key(&w, "source"), gr_jw_str(&w, m->source);
    gr_jw_key(&w, "revision"), gr_jw_str(&w, m->revision);
    gr_jw_key(&w, "etag"), gr_jw_str(&w, m->etag);
    gr_jw_key(&w, "size"), gr_jw_int(&w, (int64_t)m->size);
    gr_jw_key(&w, "sha256"), gr_jw_str(&w, m->sha256);
    gr_jw_key(&w, "sha256_from"), gr_jw_str(&w, m->sha256_from);
    gr_jw_key(&w, "created"), gr_jw_int(&w, m->created);
    char blob[80]; /* for people reading the cache by hand */
    snprintf(blob, sizeof blob, "blobs/sha256-%s", m->sha256);
    gr_jw_key(&w, "file"), gr_jw_str(&w, blob);
    gr_jw_end(&w);
    return gr_jw_take(&w, NULL);
}

/* ---- files ----------------------------------------------------------------------------------- */

gr_status gr_manifest_read(const gr_cache *c, const char *name, gr_manifest *m, char *err, size_t errlen) {
    char path[GR_CACHE_PATH_MAX];
    gr_cache_manifest_path(c, name, path, sizeof path);
    char *buf = NULL;
    size_t n = 0;
    gr_status s = gr_file_read(path, GR_CACHE_SMALL_FILE_MAX, &buf, &n, err, errlen);
    if (s == GR_E_NOT_FOUND) return gr_err(s, err, errlen, "'%s' is not in the cache (%s)", name, c->root);
    if (s) return s;
    s = gr_manifest_parse(buf, n, m, err, errlen);
    free(buf);
    if (!s && strcmp(m->name, name) != 0) /* a 128-bit file-name collision or a hand-edited file */
        s = gr_err(GR_E_FORMAT, err, errlen, "manifest %s names '%s', not '%s'", path, m->name, name);
    return s;
}

gr_status gr_cache_write_file(const char *path, const char *data, size_t len, char *err, size_t errlen) {
    char tmp[GR_CACHE_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return gr_err(GR_E_IO, err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, data, len);
    int ok = w == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        unlink(tmp);
        return gr_err(GR_E_IO, err, errlen, "cannot write %s: %s", path, strerror(e));
    }
    char dir[GR_CACHE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) fsync(dfd), close(dfd);
    return GR_OK;
}

gr_status gr_manifest_write(const gr_cache *c, const gr_manifest *m, char *err, size_t errlen) {
    char *json = gr_manifest_to_json(m);
    if (!json) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    char path[GR_CACHE_PATH_MAX];
    gr_cache_manifest_path(c, m->name, path, sizeof path);
    gr_status s = gr_cache_write_file(path, json, strlen(json), err, errlen);
    free(json);
    return s;
}

bool gr_cache_entry_ok(const gr_cache *c, const gr_manifest *m) {
    char path[GR_CACHE_PATH_MAX];
    gr_cache_blob_path(c, m->sha256, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == m->size;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const gr_manifest *)a)->name, ((const gr_manifest *)b)->name);
}

gr_status gr_cache_list(const gr_cache *c, gr_manifest **out, size_t *n, char *err, size_t errlen) {
    *out = NULL, *n = 0;
    char dir[GR_CACHE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/manifests", c->root);
    DIR *d = opendir(dir);
    if (!d) return gr_err(GR_E_IO, err, errlen, "cannot list %s: %s", dir, strerror(errno));
    size_t cap = 0;
    gr_status s = GR_OK;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l != 37 || strcmp(e->d_name + 32, ".json") != 0) continue; /* skips temporaries */
        char path[GR_CACHE_PATH_MAX + 300], *buf = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (gr_file_read(path, GR_CACHE_SMALL_FILE_MAX, &buf, &len, NULL, 0) != GR_OK) continue;
        if (*n == cap) {
            gr_manifest *g = realloc(*out, (cap = cap ? 2 * cap : 8) * sizeof **out);
            if (!g) {
                free(buf);
                s = gr_err(GR_E_NOMEM, err, errlen, "out of memory");
                break;
            }
            *out = g;
        }
        if (gr_manifest_parse(buf, len, &(*out)[*n], NULL, 0) == GR_OK) ++*n;
        free(buf);
    }
    closedir(d);
    if (*n) qsort(*out, *n, sizeof **out, by_name);
    return s;
}

gr_status gr_cache_find(const gr_cache *c, const char *q, gr_manifest *m, char *err, size_t errlen) {
    gr_status s = gr_manifest_read(c, q, m, err, errlen);
    size_t ql = strlen(q);
    if (s != GR_E_NOT_FOUND || ql < 8 || ql > 64 || strspn(q, "0123456789abcdef") != ql) return s;
    gr_manifest *all = NULL;
    size_t n = 0, hits = 0;
    s = gr_cache_list(c, &all, &n, err, errlen);
    for (size_t i = 0; s == GR_OK && i < n; i++) /* names sharing one blob count once */
        if (!strncmp(all[i].sha256, q, ql) && (!hits || strcmp(m->sha256, all[i].sha256)))
            *m = all[i], hits++;
    free(all);
    if (s) return s;
    if (hits == 1) return GR_OK;
    if (hits > 1) return gr_err(GR_E_INVALID_ARG, err, errlen, "'%s' matches %zu different files", q, hits);
    return gr_err(GR_E_NOT_FOUND, err, errlen, "'%s' is not in the cache (%s)", q, c->root);
}

gr_status gr_cache_remove(const gr_cache *c, const char *q, uint64_t *freed, char *err, size_t errlen) {
    if (freed) *freed = 0;
    int fd = -1;
    gr_status s = gr_cache_lock(c, "cache", NULL, NULL, NULL, &fd, err, errlen);
    if (s) return s;
    gr_manifest m, *all = NULL;
    size_t n = 0;
    char path[GR_CACHE_PATH_MAX];
    s = gr_cache_find(c, q, &m, err, errlen);
    if (!s) {
        gr_cache_manifest_path(c, m.name, path, sizeof path);
        if (unlink(path) != 0) s = gr_err(GR_E_IO, err, errlen, "cannot remove %s: %s", path, strerror(errno));
    }
    if (!s) s = gr_cache_list(c, &all, &n, err, errlen);
    bool shared = false;
    for (size_t i = 0; !s && i < n; i++) shared |= !strcmp(all[i].sha256, m.sha256);
    free(all);
    if (!s && !shared) {
        gr_cache_blob_path(c, m.sha256, path, sizeof path);
        struct stat st;
        if (stat(path, &st) == 0 && unlink(path) == 0 && freed) *freed = (uint64_t)st.st_size;
    }
    gr_cache_unlock(fd);
    return s;
}

/* ---- locks and space --------------------------------------------------------------------------- */

gr_status gr_cache_lock(const gr_cache *c, const char *key, gr_cancel *cancel,
                        void (*on_wait)(void *), void *user, int *fd_out, char *err, size_t errlen) {
    char path[GR_CACHE_PATH_MAX];
    snprintf(path, sizeof path, "%s/locks/%s.lock", c->root, key);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return gr_err(GR_E_IO, err, errlen, "cannot open lock %s: %s", path, strerror(errno));
    bool waited = false;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            return gr_err(GR_E_IO, err, errlen, "cannot lock %s: %s", path, strerror(e));
        }
        if (!waited && on_wait) on_wait(user);
        waited = true;
        gr_status s = gr_cancel_check(cancel);
        if (s) {
            close(fd);
            return gr_err(s, err, errlen, "cancelled while waiting for %s", path);
        }
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    *fd_out = fd;
    return GR_OK;
}

void gr_cache_unlock(int fd) {
    if (fd >= 0) close(fd); /* closing the descriptor releases the flock */
}

gr_status gr_cache_free_bytes(const char *path, uint64_t *free_bytes, char *err, size_t errlen) {
    struct statvfs v;
    if (statvfs(path, &v) != 0) return gr_err(GR_E_IO, err, errlen, "statvfs %s: %s", path, strerror(errno));
    *free_bytes = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    return GR_OK;
}
