/* gguf_write.c — GGUF v2/v3 writer: collects metadata (as encoded little-endian values) and tensor
 * declarations, then streams the file to "path.tmp" (tensor data produced in row chunks by a
 * callback) and renames it into place. It must never hold a whole tensor in memory (chunks are
 * capped at GGUF_CHUNK_BYTES) and never leave a partial file at `path`. */
#include "core/error.h"
#include "gguf/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_CHUNK_BYTES ((size_t)64 << 20)

typedef struct wkv {
    char *key;
    gr_gguf_vtype type;
    uint8_t *val; /* encoded value, as it appears in the file after the type field */
    size_t len;
} wkv;

typedef struct wtensor {
    char *name;
    gr_type type;
    uint32_t n_dims;
    int64_t ne[GR_GGUF_MAX_DIMS];
    size_t row_bytes;
    int64_t rows;
    size_t nbytes;
    uint64_t offset;
} wtensor;

struct gr_gguf_writer {
    uint32_t version;
    size_t alignment;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

static void put_le(uint8_t *p, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* strdup is POSIX, not C11 */
static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

gr_gguf_writer *gr_gguf_writer_new(uint32_t version, size_t alignment) {
    if (alignment == 0) alignment = GR_GGUF_DEFAULT_ALIGNMENT;
    if ((version != 2 && version != 3) || (alignment & (alignment - 1)) != 0 ||
        alignment > UINT32_MAX)
        return NULL;
    gr_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = version;
    w->alignment = alignment;
    return w;
}

void gr_gguf_writer_free(gr_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Stores (key, type, val[len]) taking ownership of val; replaces an existing key of that name. */
static gr_status put_kv(gr_gguf_writer *w, const char *key, gr_gguf_vtype type, uint8_t *val,
                        size_t len) {
    if (!w || !key || !*key) {
        free(val);
        return GR_E_INVALID_ARG;
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].val);
            w->kv[i].type = type;
            w->kv[i].val = val;
            w->kv[i].len = len;
            return GR_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) goto nomem;
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = dup_str(key);
    if (!k) goto nomem;
    w->kv[w->n_kv++] = (wkv){k, type, val, len};
    return GR_OK;
nomem:
    free(val);
    return GR_E_NOMEM;
}

gr_status gr_gguf_set_scalar(gr_gguf_writer *w, const char *key, gr_gguf_vtype t, const void *v) {
    size_t sz = gr_gguf_scalar_size(t);
    if (!sz || !v) return GR_E_INVALID_ARG;
    uint8_t *val = malloc(sz);
    if (!val) return GR_E_NOMEM;
    memcpy(val, v, sz);
    return put_kv(w, key, t, val, sz);
}

static gr_status set_int(gr_gguf_writer *w, const char *key, gr_gguf_vtype t, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, (int)gr_gguf_scalar_size(t));
    return gr_gguf_set_scalar(w, key, t, b);
}

gr_status gr_gguf_set_u32(gr_gguf_writer *w, const char *key, uint32_t v) {
    return set_int(w, key, GR_GGUF_UINT32, v);
}

gr_status gr_gguf_set_i32(gr_gguf_writer *w, const char *key, int32_t v) {
    return set_int(w, key, GR_GGUF_INT32, (uint32_t)v);
}

gr_status gr_gguf_set_u64(gr_gguf_writer *w, const char *key, uint64_t v) {
    return set_int(w, key, GR_GGUF_UINT64, v);
}

gr_status gr_gguf_set_f32(gr_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return set_int(w, key, GR_GGUF_FLOAT32, u);
}

gr_status gr_gguf_set_bool(gr_gguf_writer *w, const char *key, bool v) {
    return set_int(w, key, GR_GGUF_BOOL, v ? 1 : 0);
}

gr_status gr_gguf_set_str(gr_gguf_writer *w, const char *key, const char *v) {
    if (!v) return GR_E_INVALID_ARG;
    size_t n = strlen(v);
    uint8_t *val = malloc(8 + n);
    if (!val) return GR_E_NOMEM;
    put_le(val, n, 8);
    memcpy(val + 8, v, n);
    return put_kv(w, key, GR_GGUF_STRING, val, 8 + n);
}

gr_status gr_gguf_set_arr(gr_gguf_writer *w, const char *key, gr_gguf_vtype t, const void *data,
                          uint64_t n) {
    size_t sz = gr_gguf_scalar_size(t);
    if (!sz || (n && !data) || n > (SIZE_MAX - 12) / sz) return GR_E_INVALID_ARG;
    uint8_t *val = malloc(12 + (size_t)n * sz);
    if (!val) return GR_E_NOMEM;
    put_le(val, t, 4);
    put_le(val + 4, n, 8);
    if (n) memcpy(val + 12, data, (size_t)n * sz);
    return put_kv(w, key, GR_GGUF_ARRAY, val, 12 + (size_t)n * sz);
}

gr_status gr_gguf_set_arr_str(gr_gguf_writer *w, const char *key, const char *const *strs,
                              uint64_t n) {
    if (n && !strs) return GR_E_INVALID_ARG;
    size_t len = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i]) return GR_E_INVALID_ARG;
        len += 8 + strlen(strs[i]);
    }
    uint8_t *val = malloc(len), *p = val + 12;
    if (!val) return GR_E_NOMEM;
    put_le(val, GR_GGUF_STRING, 4);
    put_le(val + 4, n, 8);
    for (uint64_t i = 0; i < n; i++) {
        size_t sl = strlen(strs[i]);
        put_le(p, sl, 8);
        memcpy(p + 8, strs[i], sl);
        p += 8 + sl;
    }
    return put_kv(w, key, GR_GGUF_ARRAY, val, len);
}

gr_status gr_gguf_copy_kv(gr_gguf_writer *w, const gr_gguf *src, const char *key) {
    if (!src || !key) return GR_E_INVALID_ARG;
    int64_t i = gr_gguf_find_key(src, key);
    if (i < 0) return GR_E_NOT_FOUND;
    size_t len;
    const void *raw = gr_gguf_kv_raw(src, i, &len);
    uint8_t *val = malloc(len ? len : 1);
    if (!val) return GR_E_NOMEM;
    memcpy(val, raw, len);
    return put_kv(w, key, gr_gguf_kv_type(src, i), val, len);
}

int64_t gr_gguf_add_tensor(gr_gguf_writer *w, const char *name, gr_type type, uint32_t n_dims,
                           const int64_t *ne) {
    if (!w || !name || !*name || !ne || n_dims < 1 || n_dims > GR_GGUF_MAX_DIMS) return -1;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0) return -1;
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .rows = 1};
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || (d > 0 && ne[d] > INT64_MAX / t.rows)) return -1;
        t.ne[d] = ne[d];
        if (d > 0) t.rows *= ne[d];
    }
    const gr_type_info *ti = gr_type_get((int)type);
    if (ti->blck == 0 || (uint64_t)(ne[0] / ti->blck) > SIZE_MAX / ti->size) return -1;
    t.row_bytes = gr_row_size(type, ne[0]);
    if (t.row_bytes == 0 || (uint64_t)t.rows > SIZE_MAX / t.row_bytes) return -1;
    t.nbytes = t.row_bytes * (size_t)t.rows;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return -1;
        w->t = nt;
        w->cap_t = cap;
    }
    t.name = dup_str(name);
    if (!t.name) return -1;
    w->t[w->n_t] = t;
    return (int64_t)w->n_t++;
}

/* ---- writing ---- */

typedef struct out_file {
    FILE *f;
    uint64_t pos;
    bool failed;
} out_file;

static void out_bytes(out_file *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->f) != n) o->failed = true;
    o->pos += n;
}

static void out_u32(out_file *o, uint32_t v) {
    uint8_t b[4];
    put_le(b, v, 4);
    out_bytes(o, b, 4);
}

static void out_u64(out_file *o, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    out_bytes(o, b, 8);
}

static void out_str(out_file *o, const char *s) {
    size_t n = strlen(s);
    out_u64(o, n);
    out_bytes(o, s, n);
}

static void out_pad(out_file *o, size_t alignment) {
    static const uint8_t zeros[256] = {0};
    size_t pad = (size_t)((alignment - o->pos % alignment) % alignment);
    while (pad > 0) {
        size_t k = pad < sizeof zeros ? pad : sizeof zeros;
        out_bytes(o, zeros, k);
        pad -= k;
    }
}

static void write_header(gr_gguf_writer *w, out_file *o) {
    out_bytes(o, "GGUF", 4);
    out_u32(o, w->version);
    out_u64(o, w->n_t);
    out_u64(o, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        out_str(o, w->kv[i].key);
        out_u32(o, w->kv[i].type);
        out_bytes(o, w->kv[i].val, w->kv[i].len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        out_str(o, t->name);
        out_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            out_u64(o, (uint64_t)t->ne[d]);
        out_u32(o, (uint32_t)t->type);
        t->offset = off;
        out_u64(o, off);
        off += t->nbytes + (w->alignment - t->nbytes % w->alignment) % w->alignment;
    }
    out_pad(o, w->alignment);
}

static bool has_key(const gr_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kv[i].key, key) == 0) return true;
    return false;
}

/* Streams each tensor's rows through buf (chunk_rows rows at a time), padding after each. */
static gr_status write_data(gr_gguf_writer *w, out_file *o, uint64_t data_start,
                            gr_gguf_fill_fn fill, void *ud, char *err, size_t errlen) {
    uint8_t *buf = NULL;
    size_t buf_cap = 0;
    gr_status s = GR_OK;
    for (size_t i = 0; i < w->n_t && !s; i++) {
        const wtensor *t = &w->t[i];
        if (o->pos - data_start != t->offset) {
            s = gr_err(GR_E_INTERNAL, err, errlen, "tensor '%s': offset mismatch", t->name);
            break;
        }
        int64_t chunk = (int64_t)(GGUF_CHUNK_BYTES / t->row_bytes);
        if (chunk < 1) chunk = 1;
        if (chunk > t->rows) chunk = t->rows;
        size_t need = (size_t)chunk * t->row_bytes;
        if (need > buf_cap) {
            free(buf);
            buf = malloc(need);
            buf_cap = buf ? need : 0;
            if (!buf) {
                s = gr_err(GR_E_NOMEM, err, errlen, "out of memory for a %zu-byte chunk", need);
                break;
            }
        }
        for (int64_t r = 0; r < t->rows && !s; r += chunk) {
            int64_t nr = t->rows - r < chunk ? t->rows - r : chunk;
            s = fill(ud, (int64_t)i, r, nr, buf);
            if (s)
                gr_err(s, err, errlen, "tensor '%s': fill of rows %lld..%lld failed: %s", t->name,
                       (long long)r, (long long)(r + nr), gr_status_str(s));
            else
                out_bytes(o, buf, (size_t)nr * t->row_bytes);
        }
        out_pad(o, w->alignment);
    }
    free(buf);
    return s;
}

gr_status gr_gguf_writer_write(gr_gguf_writer *w, const char *path, gr_gguf_fill_fn fill, void *ud,
                               char *err, size_t errlen) {
    if (!w || !path || (w->n_t && !fill))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "null argument");
    gr_status s;
    /* the reader needs the alignment key whenever it differs from the default; keep any copied
     * key consistent with what we actually write */
    if (w->alignment != GR_GGUF_DEFAULT_ALIGNMENT || has_key(w, "general.alignment")) {
        s = gr_gguf_set_u32(w, "general.alignment", (uint32_t)w->alignment);
        if (s) return gr_err(s, err, errlen, "out of memory");
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    out_file o = {fopen(tmp, "wb"), 0, false};
    if (!o.f) {
        s = gr_err(GR_E_IO, err, errlen, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    write_header(w, &o);
    s = write_data(w, &o, o.pos, fill, ud, err, errlen);
    if (fclose(o.f) != 0) o.failed = true;
    if (!s && o.failed) s = gr_err(GR_E_IO, err, errlen, "%s: write failed", tmp);
    if (!s && rename(tmp, path) != 0)
        s = gr_err(GR_E_IO, err, errlen, "rename %s -> %s: %s", tmp, path, strerror(errno));
    if (s) remove(tmp);
    free(tmp);
    return s;
}
