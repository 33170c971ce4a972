/* gguf.c — GGUF v2/v3 reader: parses the header, metadata and tensor infos of a mapped file or a
 * caller's buffer and validates every count, offset and size against the bytes actually present.
 * It must never read past the buffer, never allocate from an unchecked count, and never dereference
 * an unaligned pointer into the file (all multi-byte values are assembled from bytes). */
#include "gguf/gguf.h"
#include "core/error.h"
#include "core/mapping.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_NEST 8 /* arrays of arrays deeper than this are rejected */

typedef struct gguf_kv {
    char *key;
    gr_gguf_vtype type;
    size_t off;              /* first byte of the value (after the type field) */
    size_t len;              /* encoded value length in bytes */
    gr_gguf_vtype elem_type; /* arrays only */
    uint64_t n;              /* arrays only */
    size_t elems;            /* arrays only: offset of the first element */
    size_t *elem_off;        /* arrays of strings/arrays: offset of every element (random access) */
} gguf_kv;

/* Open-addressing hash table of indices (-1 = empty); size is a power of two >= 2 * count. */
typedef struct name_index {
    int64_t *slots;
    size_t mask;
} name_index;

struct gr_gguf {
    const uint8_t *base;
    size_t size;
    gr_mapping map; /* data == NULL when opened from memory */
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gr_gguf_tensor *tensors;
    name_index kv_index;
    name_index tensor_index;
};

/* ---- little-endian byte access (no unaligned loads) ---- */

static uint64_t le_get(const uint8_t *p, int nbytes) {
    uint64_t v = 0;
    for (int i = nbytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static float le_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)le_get(p, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double le_f64(const uint8_t *p) {
    uint64_t u = le_get(p, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Bytes of one scalar of type t; 0 for strings, arrays and unknown types. */
size_t gr_gguf_scalar_size(uint32_t t) {
    switch (t) {
    case GR_GGUF_UINT8:
    case GR_GGUF_INT8:
    case GR_GGUF_BOOL:
        return 1;
    case GR_GGUF_UINT16:
    case GR_GGUF_INT16:
        return 2;
    case GR_GGUF_UINT32:
    case GR_GGUF_INT32:
    case GR_GGUF_FLOAT32:
        return 4;
    case GR_GGUF_UINT64:
    case GR_GGUF_INT64:
    case GR_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

/* ---- name hashing ---- */

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool index_init(name_index *ix, int64_t count) {
    size_t cap = 16;
    while (cap < (size_t)count * 2)
        cap *= 2;
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return false;
    for (size_t i = 0; i < cap; i++)
        ix->slots[i] = -1;
    ix->mask = cap - 1;
    return true;
}

/* name_at(ctx, i) gives the name stored for index i. Returns the index holding `name` or -1. */
typedef const char *(*name_at_fn)(const gr_gguf *g, int64_t i);

static int64_t index_find(const name_index *ix, const gr_gguf *g, name_at_fn at, const char *name) {
    if (!ix->slots) return -1;
    for (size_t s = hash_name(name) & ix->mask;; s = (s + 1) & ix->mask) {
        int64_t i = ix->slots[s];
        if (i < 0) return -1;
        if (strcmp(at(g, i), name) == 0) return i;
    }
}

/* Insert index i (whose name is `name`); false if the name is already present. */
static bool index_insert(name_index *ix, const gr_gguf *g, name_at_fn at, const char *name,
                         int64_t i) {
    size_t s = hash_name(name) & ix->mask;
    for (; ix->slots[s] >= 0; s = (s + 1) & ix->mask)
        if (strcmp(at(g, ix->slots[s]), name) == 0) return false;
    ix->slots[s] = i;
    return true;
}

static const char *kv_name_at(const gr_gguf *g, int64_t i) {
    return g->kv[i].key;
}
static const char *tensor_name_at(const gr_gguf *g, int64_t i) {
    return g->tensors[i].name;
}

/* ---- cursor over the buffer: every read is checked against the size ---- */

typedef struct cursor {
    const uint8_t *p;
    size_t size;
    size_t pos;
    char *err;
    size_t errlen;
} cursor;

static size_t remaining(const cursor *c) {
    return c->size - c->pos;
}

static gr_status need(cursor *c, size_t n, const char *what) {
    if (n > remaining(c))
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "truncated file: %s needs %zu bytes at byte %zu, file has %zu", what, n,
                      c->pos, c->size);
    return GR_OK;
}

static gr_status rd_u32(cursor *c, uint32_t *v, const char *what) {
    gr_status s = need(c, 4, what);
    if (s) return s;
    *v = (uint32_t)le_get(c->p + c->pos, 4);
    c->pos += 4;
    return GR_OK;
}

static gr_status rd_u64(cursor *c, uint64_t *v, const char *what) {
    gr_status s = need(c, 8, what);
    if (s) return s;
    *v = le_get(c->p + c->pos, 8);
    c->pos += 8;
    return GR_OK;
}

/* Reads a string header and skips its bytes; off and len locate the bytes. */
static gr_status rd_str(cursor *c, size_t *off, size_t *len, const char *what) {
    uint64_t n;
    size_t at = c->pos;
    gr_status s = rd_u64(c, &n, what);
    if (s) return s;
    if (n > remaining(c))
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "%s at byte %zu: string length %llu exceeds the %zu bytes left", what, at,
                      (unsigned long long)n, remaining(c));
    *off = c->pos;
    *len = (size_t)n;
    c->pos += (size_t)n;
    return GR_OK;
}

/* Reads a key or tensor name into a NUL-terminated copy; rejects empty names and NUL bytes. */
static gr_status rd_name(cursor *c, char **out, const char *what) {
    size_t off, len, at = c->pos;
    gr_status s = rd_str(c, &off, &len, what);
    if (s) return s;
    if (len == 0) return gr_err(GR_E_FORMAT, c->err, c->errlen, "empty %s at byte %zu", what, at);
    if (memchr(c->p + off, 0, len))
        return gr_err(GR_E_FORMAT, c->err, c->errlen, "%s at byte %zu contains a NUL byte", what,
                      at);
    char *name = malloc(len + 1);
    if (!name) return gr_err(GR_E_NOMEM, c->err, c->errlen, "out of memory reading %s", what);
    memcpy(name, c->p + off, len);
    name[len] = '\0';
    *out = name;
    return GR_OK;
}

/* ---- values ---- */

static gr_status skip_value(cursor *c, uint32_t type, int depth, const char *key);

/* Smallest encoding of one element of type t (for plausibility checks before looping/allocating).
 */
static size_t min_elem_size(uint32_t t) {
    if (t == GR_GGUF_STRING) return 8;
    if (t == GR_GGUF_ARRAY) return 12;
    return gr_gguf_scalar_size(t);
}

/* Validates an array header at the cursor; returns its element type and count. */
static gr_status rd_array_header(cursor *c, int depth, const char *key, uint32_t *et, uint64_t *n) {
    size_t at = c->pos;
    if (depth > GGUF_MAX_NEST)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "key '%s': arrays nested deeper than %d at byte %zu", key, GGUF_MAX_NEST, at);
    gr_status s = rd_u32(c, et, "array element type");
    if (!s) s = rd_u64(c, n, "array length");
    if (s) return s;
    size_t m = min_elem_size(*et);
    if (m == 0)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "key '%s': unknown array element type %u at byte %zu", key, *et, at);
    if (*n > remaining(c) / m)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "key '%s': array of %llu elements at byte %zu exceeds the %zu bytes left",
                      key, (unsigned long long)*n, at, remaining(c));
    return GR_OK;
}

static gr_status check_bools(cursor *c, size_t off, uint64_t n, const char *key) {
    for (uint64_t i = 0; i < n; i++)
        if (c->p[off + i] > 1)
            return gr_err(GR_E_FORMAT, c->err, c->errlen, "key '%s': bool byte %u at byte %zu", key,
                          c->p[off + i], (size_t)(off + i));
    return GR_OK;
}

/* Skips the elements of an array whose header was read; scalar arrays in one step. */
static gr_status skip_elems(cursor *c, uint32_t et, uint64_t n, int depth, const char *key,
                            size_t *offs) {
    size_t sz = gr_gguf_scalar_size(et);
    if (sz) {
        gr_status s = need(c, (size_t)n * sz, "array data"); /* n * sz <= remaining, checked */
        if (!s && et == GR_GGUF_BOOL) s = check_bools(c, c->pos, n, key);
        if (s) return s;
        c->pos += (size_t)n * sz;
        return GR_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (offs) offs[i] = c->pos;
        gr_status s = skip_value(c, et, depth, key);
        if (s) return s;
    }
    return GR_OK;
}

static gr_status skip_value(cursor *c, uint32_t type, int depth, const char *key) {
    size_t sz = gr_gguf_scalar_size(type);
    if (sz) {
        gr_status s = need(c, sz, "value");
        if (!s && type == GR_GGUF_BOOL) s = check_bools(c, c->pos, 1, key);
        if (s) return s;
        c->pos += sz;
        return GR_OK;
    }
    if (type == GR_GGUF_STRING) {
        size_t off, len;
        return rd_str(c, &off, &len, "string value");
    }
    if (type == GR_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        gr_status s = rd_array_header(c, depth + 1, key, &et, &n);
        return s ? s : skip_elems(c, et, n, depth + 1, key, NULL);
    }
    return gr_err(GR_E_FORMAT, c->err, c->errlen, "key '%s': unknown value type %u at byte %zu",
                  key, type, c->pos);
}

/* Parses the value of kv (whose key is set) at the cursor, recording where it lies. */
static gr_status parse_kv_value(cursor *c, gguf_kv *kv) {
    uint32_t type;
    size_t at = c->pos;
    gr_status s = rd_u32(c, &type, "value type");
    if (s) return s;
    if (type >= GR_GGUF_VTYPE_COUNT)
        return gr_err(GR_E_FORMAT, c->err, c->errlen, "key '%s': unknown value type %u at byte %zu",
                      kv->key, type, at);
    kv->type = (gr_gguf_vtype)type;
    kv->off = c->pos;
    if (type == GR_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        s = rd_array_header(c, 1, kv->key, &et, &n);
        if (s) return s;
        kv->elem_type = (gr_gguf_vtype)et;
        kv->n = n;
        kv->elems = c->pos;
        if (!gr_gguf_scalar_size(et) && n > 0) {
            /* n <= remaining / 8 was checked, so this allocation is bounded by the file size */
            kv->elem_off = malloc((size_t)n * sizeof *kv->elem_off);
            if (!kv->elem_off)
                return gr_err(GR_E_NOMEM, c->err, c->errlen, "key '%s': out of memory", kv->key);
        }
        s = skip_elems(c, et, n, 1, kv->key, kv->elem_off);
    } else {
        s = skip_value(c, type, 0, kv->key);
    }
    kv->len = c->pos - kv->off;
    return s;
}

static gr_status parse_kvs(gr_gguf *g, cursor *c) {
    for (int64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        size_t at = c->pos;
        gr_status s = rd_name(c, &kv->key, "key");
        if (!s) s = parse_kv_value(c, kv);
        if (s) return s;
        if (!index_insert(&g->kv_index, g, kv_name_at, kv->key, i))
            return gr_err(GR_E_FORMAT, c->err, c->errlen, "duplicate key '%s' at byte %zu", kv->key,
                          at);
    }
    return GR_OK;
}

/* ---- tensors ---- */

static gr_status parse_shape(cursor *c, gr_gguf_tensor *t) {
    uint32_t nd;
    size_t at = c->pos;
    gr_status s = rd_u32(c, &nd, "tensor n_dims");
    if (s) return s;
    if (nd < 1 || nd > GR_GGUF_MAX_DIMS)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "tensor '%s': n_dims %u at byte %zu (must be 1..%d)", t->name, nd, at,
                      GR_GGUF_MAX_DIMS);
    t->n_dims = nd;
    int64_t total = 1;
    for (uint32_t d = 0; d < GR_GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        at = c->pos;
        s = rd_u64(c, &ne, "tensor dimension");
        if (s) return s;
        if (ne == 0 || ne > (uint64_t)INT64_MAX || (int64_t)ne > INT64_MAX / total)
            return gr_err(GR_E_FORMAT, c->err, c->errlen,
                          "tensor '%s': dimension %u = %llu at byte %zu is zero or overflows",
                          t->name, d, (unsigned long long)ne, at);
        t->ne[d] = (int64_t)ne;
        total *= (int64_t)ne;
    }
    return GR_OK;
}

/* Reads type and offset and computes nbytes; location checks happen once data_offset is known. */
static gr_status parse_type_size(cursor *c, gr_gguf_tensor *t, size_t alignment) {
    uint32_t type;
    size_t at = c->pos;
    gr_status s = rd_u32(c, &type, "tensor type");
    if (!s) s = rd_u64(c, &t->offset, "tensor offset");
    if (s) return s;
    if (t->offset % alignment != 0)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "tensor '%s': offset %llu at byte %zu is not a multiple of the alignment %zu",
                      t->name, (unsigned long long)t->offset, at + 4, alignment);
    const gr_type_info *ti = gr_type_get((int)(type > 0x7fffffffu ? 0x7fffffff : type));
    if (ti->blck == 0)
        return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen,
                      "tensor '%s': unsupported tensor type %u at byte %zu", t->name, type, at);
    t->type = (gr_type)type;
    if (t->ne[0] % ti->blck != 0)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "tensor '%s' (type %s at byte %zu): ne[0] = %lld is not a multiple of the "
                      "block size %d",
                      t->name, ti->name, at, (long long)t->ne[0], ti->blck);
    if ((uint64_t)(t->ne[0] / ti->blck) > SIZE_MAX / ti->size) /* gr_row_size would wrap */
        return gr_err(GR_E_FORMAT, c->err, c->errlen, "tensor '%s': row size overflows", t->name);
    size_t row = gr_row_size(t->type, t->ne[0]);
    uint64_t rows = (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]); /* fits: product checked */
    if (row == 0 || rows > SIZE_MAX / row)
        return gr_err(GR_E_FORMAT, c->err, c->errlen, "tensor '%s': byte size overflows", t->name);
    t->nbytes = row * (size_t)rows;
    return GR_OK;
}

static gr_status parse_tensor_infos(gr_gguf *g, cursor *c) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gr_gguf_tensor *t = &g->tensors[i];
        size_t at = c->pos;
        gr_status s = rd_name(c, (char **)&t->name, "tensor name");
        if (!s) s = parse_shape(c, t);
        if (!s) s = parse_type_size(c, t, g->alignment);
        if (s) return s;
        if (!index_insert(&g->tensor_index, g, tensor_name_at, t->name, i))
            return gr_err(GR_E_FORMAT, c->err, c->errlen, "duplicate tensor '%s' at byte %zu",
                          t->name, at);
    }
    return GR_OK;
}

static gr_status place_tensors(gr_gguf *g, char *err, size_t errlen) {
    size_t avail = g->size - g->data_offset;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        gr_gguf_tensor *t = &g->tensors[i];
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return gr_err(GR_E_FORMAT, err, errlen,
                          "tensor '%s': data [%llu, +%zu) at file byte %zu runs past the end of "
                          "the file (%zu bytes; truncated?)",
                          t->name, (unsigned long long)t->offset, t->nbytes, g->data_offset,
                          g->size);
        t->data = g->base + g->data_offset + t->offset;
    }
    return GR_OK;
}

/* ---- header ---- */

static gr_status parse_header(gr_gguf *g, cursor *c, uint64_t *n_tensors, uint64_t *n_kv) {
    if (c->size < 4)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "truncated file: %zu bytes is too small for the GGUF magic", c->size);
    if (memcmp(c->p, "GGUF", 4) != 0) {
        if (memcmp(c->p, "FUGG", 4) == 0)
            return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen, "big-endian GGUF not supported");
        return gr_err(GR_E_FORMAT, c->err, c->errlen, "not a GGUF file (bad magic at byte 0)");
    }
    c->pos = 4;
    gr_status s = rd_u32(c, &g->version, "version");
    if (s) return s;
    uint32_t v = g->version;
    uint32_t swapped = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    if ((v & 0xffffu) == 0 && swapped >= 1 && swapped <= 3)
        return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen, "big-endian GGUF not supported");
    if (v != 2 && v != 3)
        return gr_err(GR_E_UNSUPPORTED, c->err, c->errlen,
                      "GGUF version %u not supported (only 2 and 3)", v);
    s = rd_u64(c, n_tensors, "tensor count");
    if (!s) s = rd_u64(c, n_kv, "metadata count");
    if (s) return s;
    /* a kv pair takes >= 13 bytes and a tensor info >= 32: reject impossible counts before
     * allocating anything for them */
    if (*n_kv > remaining(c) / 13)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "metadata count %llu at byte 16 is impossible for a %zu-byte file "
                      "(truncated or corrupt)",
                      (unsigned long long)*n_kv, c->size);
    if (*n_tensors > remaining(c) / 32)
        return gr_err(GR_E_FORMAT, c->err, c->errlen,
                      "tensor count %llu at byte 8 is impossible for a %zu-byte file "
                      "(truncated or corrupt)",
                      (unsigned long long)*n_tensors, c->size);
    return GR_OK;
}

static gr_status read_alignment(gr_gguf *g, char *err, size_t errlen) {
    g->alignment = GR_GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gr_gguf_find_key(g, "general.alignment");
    if (i < 0) return GR_OK;
    const gguf_kv *kv = &g->kv[i];
    if (kv->type != GR_GGUF_UINT32)
        return gr_err(GR_E_FORMAT, err, errlen, "general.alignment at byte %zu is not a u32",
                      kv->off);
    uint32_t a = (uint32_t)le_get(g->base + kv->off, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return gr_err(GR_E_FORMAT, err, errlen,
                      "general.alignment = %u at byte %zu is not a power of two", a, kv->off);
    g->alignment = a;
    return GR_OK;
}

static gr_status parse(gr_gguf *g, char *err, size_t errlen) {
    cursor c = {g->base, g->size, 0, err, errlen};
    uint64_t nt, nkv;
    gr_status s = parse_header(g, &c, &nt, &nkv);
    if (s) return s;
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->tensors = calloc(nt ? nt : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors || !index_init(&g->kv_index, (int64_t)nkv) ||
        !index_init(&g->tensor_index, (int64_t)nt))
        return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    g->n_kv = (int64_t)nkv; /* set before parsing so close() frees partial work */
    g->n_tensors = (int64_t)nt;
    if ((s = parse_kvs(g, &c)) != GR_OK || (s = read_alignment(g, err, errlen)) != GR_OK ||
        (s = parse_tensor_infos(g, &c)) != GR_OK)
        return s;
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (pad > SIZE_MAX - c.pos || (nt > 0 && c.pos + pad > g->size))
        return gr_err(GR_E_FORMAT, err, errlen,
                      "truncated file: data section at byte %zu is past the end (%zu bytes)",
                      c.pos + pad, g->size);
    /* with no tensors the padding may be absent; the data section is then empty at the end */
    g->data_offset = c.pos + pad > g->size ? g->size : c.pos + pad;
    return place_tensors(g, err, errlen);
}

/* ---- open / close ---- */

static gr_status open_common(gr_gguf *g, gr_gguf **out, char *err, size_t errlen) {
    gr_status s = parse(g, err, errlen);
    if (s != GR_OK) {
        gr_gguf_close(g);
        return s;
    }
    *out = g;
    return GR_OK;
}

gr_status gr_gguf_open_memory(const void *data, size_t size, gr_gguf **out, char *err,
                              size_t errlen) {
    if (!out || (!data && size)) return gr_err(GR_E_INVALID_ARG, err, errlen, "null argument");
    *out = NULL;
    gr_gguf *g = calloc(1, sizeof *g);
    if (!g) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    static const uint8_t empty[1] = {0};
    g->base = data ? data : empty;
    g->size = size;
    return open_common(g, out, err, errlen);
}

gr_status gr_gguf_open(const char *path, gr_gguf **out, char *err, size_t errlen) {
    if (!path || !out) return gr_err(GR_E_INVALID_ARG, err, errlen, "null argument");
    *out = NULL;
    gr_gguf *g = calloc(1, sizeof *g);
    if (!g) return gr_err(GR_E_NOMEM, err, errlen, "out of memory");
    gr_status s = gr_mapping_open(path, &g->map, err, errlen);
    if (s != GR_OK) {
        free(g);
        return s;
    }
    static const uint8_t empty[1] = {0};
    g->base = g->map.data ? g->map.data : empty;
    g->size = g->map.size;
    s = open_common(g, out, err, errlen);
    if (s != GR_OK && err && errlen) {
        /* prefix the path so the caller knows which file was bad */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        gr_err(s, err, errlen, "%s: %s", path, tmp);
    }
    return s;
}

void gr_gguf_close(gr_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
            free(g->kv[i].elem_off);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; i++)
            free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    if (g->map.data) gr_mapping_close(&g->map);
    free(g);
}

uint32_t gr_gguf_version(const gr_gguf *g) {
    return g->version;
}
size_t gr_gguf_alignment(const gr_gguf *g) {
    return g->alignment;
}
size_t gr_gguf_data_offset(const gr_gguf *g) {
    return g->data_offset;
}
size_t gr_gguf_file_size(const gr_gguf *g) {
    return g->size;
}

/* ---- metadata access ---- */

int64_t gr_gguf_n_kv(const gr_gguf *g) {
    return g->n_kv;
}

const char *gr_gguf_kv_key(const gr_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

gr_gguf_vtype gr_gguf_kv_type(const gr_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].type : GR_GGUF_VTYPE_COUNT;
}

int64_t gr_gguf_find_key(const gr_gguf *g, const char *key) {
    return key ? index_find(&g->kv_index, g, kv_name_at, key) : -1;
}

const void *gr_gguf_kv_raw(const gr_gguf *g, int64_t i, size_t *len) {
    if (i < 0 || i >= g->n_kv) return NULL;
    *len = g->kv[i].len;
    return g->base + g->kv[i].off;
}

/* Integer value of type t at p; false if t is not an integer type or the value does not fit. */
static bool int_at(const uint8_t *p, uint32_t t, int64_t *out) {
    uint64_t u;
    switch (t) {
    case GR_GGUF_UINT8:
        *out = p[0];
        return true;
    case GR_GGUF_INT8:
        *out = (int8_t)p[0];
        return true;
    case GR_GGUF_UINT16:
        *out = (int64_t)le_get(p, 2);
        return true;
    case GR_GGUF_INT16:
        *out = (int16_t)(uint16_t)le_get(p, 2);
        return true;
    case GR_GGUF_UINT32:
        *out = (int64_t)le_get(p, 4);
        return true;
    case GR_GGUF_INT32:
        *out = (int32_t)(uint32_t)le_get(p, 4);
        return true;
    case GR_GGUF_UINT64:
        u = le_get(p, 8);
        if (u > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)u;
        return true;
    case GR_GGUF_INT64:
        u = le_get(p, 8);
        memcpy(out, &u, sizeof *out); /* two's complement reinterpretation, no UB */
        return true;
    default:
        return false;
    }
}

static bool float_at(const uint8_t *p, uint32_t t, float *out) {
    if (t == GR_GGUF_FLOAT32)
        *out = le_f32(p);
    else if (t == GR_GGUF_FLOAT64)
        *out = (float)le_f64(p);
    else
        return false;
    return true;
}

static gr_gguf_str str_at(const gr_gguf *g, size_t off) {
    gr_gguf_str s = {(const char *)g->base + off + 8, le_get(g->base + off, 8)};
    return s;
}

static gr_status lookup(const gr_gguf *g, const char *key, const gguf_kv **kv) {
    int64_t i = gr_gguf_find_key(g, key);
    if (i < 0) return GR_E_NOT_FOUND;
    *kv = &g->kv[i];
    return GR_OK;
}

gr_status gr_gguf_get_i64(const gr_gguf *g, const char *key, int64_t *out) {
    const gguf_kv *kv;
    gr_status s = lookup(g, key, &kv);
    if (s) return s;
    return int_at(g->base + kv->off, kv->type, out) ? GR_OK : GR_E_FORMAT;
}

gr_status gr_gguf_get_u32(const gr_gguf *g, const char *key, uint32_t *out) {
    int64_t v;
    gr_status s = gr_gguf_get_i64(g, key, &v);
    if (s) return s;
    if (v < 0 || v > (int64_t)UINT32_MAX) return GR_E_FORMAT;
    *out = (uint32_t)v;
    return GR_OK;
}

gr_status gr_gguf_get_f32(const gr_gguf *g, const char *key, float *out) {
    const gguf_kv *kv;
    gr_status s = lookup(g, key, &kv);
    if (s) return s;
    return float_at(g->base + kv->off, kv->type, out) ? GR_OK : GR_E_FORMAT;
}

gr_status gr_gguf_get_bool(const gr_gguf *g, const char *key, bool *out) {
    const gguf_kv *kv;
    gr_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != GR_GGUF_BOOL) return GR_E_FORMAT;
    *out = g->base[kv->off] != 0;
    return GR_OK;
}

gr_status gr_gguf_get_str(const gr_gguf *g, const char *key, gr_gguf_str *out) {
    const gguf_kv *kv;
    gr_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != GR_GGUF_STRING) return GR_E_FORMAT;
    *out = str_at(g, kv->off);
    return GR_OK;
}

gr_status gr_gguf_get_arr(const gr_gguf *g, const char *key, gr_gguf_vtype *elem_type,
                          uint64_t *n) {
    const gguf_kv *kv;
    gr_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != GR_GGUF_ARRAY) return GR_E_FORMAT;
    if (elem_type) *elem_type = kv->elem_type;
    if (n) *n = kv->n;
    return GR_OK;
}

/* Array kv for key with element i in range: GR_E_INVALID_ARG if i is out of range. */
static gr_status arr_lookup(const gr_gguf *g, const char *key, uint64_t i, const gguf_kv **kv) {
    gr_status s = lookup(g, key, kv);
    if (s) return s;
    if ((*kv)->type != GR_GGUF_ARRAY) return GR_E_FORMAT;
    return i < (*kv)->n ? GR_OK : GR_E_INVALID_ARG;
}

static const uint8_t *scalar_elem(const gr_gguf *g, const gguf_kv *kv, uint64_t i) {
    return g->base + kv->elems + (size_t)i * gr_gguf_scalar_size(kv->elem_type);
}

gr_status gr_gguf_arr_i64(const gr_gguf *g, const char *key, uint64_t i, int64_t *out) {
    const gguf_kv *kv;
    gr_status s = arr_lookup(g, key, i, &kv);
    if (s) return s;
    if (!gr_gguf_scalar_size(kv->elem_type)) return GR_E_FORMAT;
    return int_at(scalar_elem(g, kv, i), kv->elem_type, out) ? GR_OK : GR_E_FORMAT;
}

gr_status gr_gguf_arr_f32(const gr_gguf *g, const char *key, uint64_t i, float *out) {
    const gguf_kv *kv;
    gr_status s = arr_lookup(g, key, i, &kv);
    if (s) return s;
    if (!gr_gguf_scalar_size(kv->elem_type)) return GR_E_FORMAT;
    return float_at(scalar_elem(g, kv, i), kv->elem_type, out) ? GR_OK : GR_E_FORMAT;
}

gr_status gr_gguf_arr_bool(const gr_gguf *g, const char *key, uint64_t i, bool *out) {
    const gguf_kv *kv;
    gr_status s = arr_lookup(g, key, i, &kv);
    if (s) return s;
    if (kv->elem_type != GR_GGUF_BOOL) return GR_E_FORMAT;
    *out = *scalar_elem(g, kv, i) != 0;
    return GR_OK;
}

gr_status gr_gguf_arr_str(const gr_gguf *g, const char *key, uint64_t i, gr_gguf_str *out) {
    const gguf_kv *kv;
    gr_status s = arr_lookup(g, key, i, &kv);
    if (s) return s;
    if (kv->elem_type != GR_GGUF_STRING) return GR_E_FORMAT;
    *out = str_at(g, kv->elem_off[i]);
    return GR_OK;
}

gr_status gr_gguf_arr_nested(const gr_gguf *g, const char *key, uint64_t i,
                             gr_gguf_vtype *elem_type, uint64_t *n) {
    const gguf_kv *kv;
    gr_status s = arr_lookup(g, key, i, &kv);
    if (s) return s;
    if (kv->elem_type != GR_GGUF_ARRAY) return GR_E_FORMAT;
    const uint8_t *p = g->base + kv->elem_off[i];
    if (elem_type) *elem_type = (gr_gguf_vtype)le_get(p, 4);
    if (n) *n = le_get(p + 4, 8);
    return GR_OK;
}

gr_status gr_gguf_get_per_layer_i64(const gr_gguf *g, const char *key, uint32_t n_layers,
                                    int64_t *out) {
    const gguf_kv *kv;
    gr_status s = lookup(g, key, &kv);
    if (s) return s;
    if (kv->type != GR_GGUF_ARRAY) {
        int64_t v;
        if (!int_at(g->base + kv->off, kv->type, &v)) return GR_E_FORMAT;
        for (uint32_t l = 0; l < n_layers; l++)
            out[l] = v;
        return GR_OK;
    }
    if (kv->n != n_layers || !gr_gguf_scalar_size(kv->elem_type)) return GR_E_FORMAT;
    for (uint32_t l = 0; l < n_layers; l++)
        if (!int_at(scalar_elem(g, kv, l), kv->elem_type, &out[l])) return GR_E_FORMAT;
    return GR_OK;
}

/* ---- tensors ---- */

int64_t gr_gguf_n_tensors(const gr_gguf *g) {
    return g->n_tensors;
}

const gr_gguf_tensor *gr_gguf_tensor_at(const gr_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gr_gguf_tensor *gr_gguf_find_tensor(const gr_gguf *g, const char *name) {
    int64_t i = name ? index_find(&g->tensor_index, g, tensor_name_at, name) : -1;
    return i >= 0 ? &g->tensors[i] : NULL;
}
