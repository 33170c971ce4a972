/* gguf.h — GGUF v2/v3 reader (memory-mapped, every offset and size bounds-checked) and writer.
 *
 * Reader: gr_gguf_open() maps the file, parses the header, metadata and tensor infos, and validates
 * every tensor's type, shape, offset and size against the mapping. Tensor data are pointers into the
 * mapping (weights are used in place). Metadata strings are NOT NUL-terminated in the file; the
 * reader copies keys and tensor names into its own NUL-terminated storage, and string values are
 * returned as (pointer, length) into the mapping.
 * Thread safety: a gr_gguf is immutable after open; concurrent readers are fine.
 */
#ifndef GR_GGUF_H
#define GR_GGUF_H

#include "gemrun.h"
#include "tensor/types.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gr_gguf_vtype {
    GR_GGUF_UINT8 = 0,
    GR_GGUF_INT8 = 1,
    GR_GGUF_UINT16 = 2,
    GR_GGUF_INT16 = 3,
    GR_GGUF_UINT32 = 4,
    GR_GGUF_INT32 = 5,
    GR_GGUF_FLOAT32 = 6,
    GR_GGUF_BOOL = 7,
    GR_GGUF_STRING = 8,
    GR_GGUF_ARRAY = 9,
    GR_GGUF_UINT64 = 10,
    GR_GGUF_INT64 = 11,
    GR_GGUF_FLOAT64 = 12,
    GR_GGUF_VTYPE_COUNT
} gr_gguf_vtype;

#define GR_GGUF_MAX_DIMS 4

/* Bytes of one scalar of type t; 0 for strings, arrays and unknown types. */
size_t gr_gguf_scalar_size(uint32_t t);
#define GR_GGUF_DEFAULT_ALIGNMENT 32

typedef struct gr_gguf_str {
    const char *ptr; /* not NUL-terminated */
    uint64_t len;
} gr_gguf_str;

typedef struct gr_gguf_tensor {
    const char *name; /* NUL-terminated copy */
    gr_type type;
    uint32_t n_dims;
    int64_t ne[GR_GGUF_MAX_DIMS]; /* ne[0] contiguous; unused dims are 1 */
    uint64_t offset;              /* relative to the data section */
    size_t nbytes;
    const void *data; /* into the mapping (or the memory buffer) */
} gr_gguf_tensor;

typedef struct gr_gguf gr_gguf;

gr_status gr_gguf_open(const char *path, gr_gguf **out, char *err, size_t errlen);
/* Parse a buffer the caller keeps alive for the object's lifetime (fuzzing, browser). */
gr_status gr_gguf_open_memory(const void *data, size_t size, gr_gguf **out, char *err,
                              size_t errlen);
void gr_gguf_close(gr_gguf *g);

uint32_t gr_gguf_version(const gr_gguf *g);
size_t gr_gguf_alignment(const gr_gguf *g);
size_t gr_gguf_data_offset(const gr_gguf *g); /* start of the tensor data section in the file */
size_t gr_gguf_file_size(const gr_gguf *g);

/* ---- metadata ---- */
int64_t gr_gguf_n_kv(const gr_gguf *g);
const char *gr_gguf_kv_key(const gr_gguf *g, int64_t i);
gr_gguf_vtype gr_gguf_kv_type(const gr_gguf *g, int64_t i);
int64_t gr_gguf_find_key(const gr_gguf *g, const char *key); /* -1 if absent */
/* The value of kv i exactly as encoded in the file (after its type field), for copying; NULL if i
 * is out of range. */
const void *gr_gguf_kv_raw(const gr_gguf *g, int64_t i, size_t *len);

/* Typed getters by key. They return GR_E_NOT_FOUND if absent and GR_E_FORMAT if the stored type
 * cannot be represented (integers convert between widths when the value fits; u32/i32/u64/i64/
 * u16/i16/u8/i8 all read as integers; f32/f64 read as floats). */
gr_status gr_gguf_get_i64(const gr_gguf *g, const char *key, int64_t *out);
gr_status gr_gguf_get_u32(const gr_gguf *g, const char *key, uint32_t *out);
gr_status gr_gguf_get_f32(const gr_gguf *g, const char *key, float *out);
gr_status gr_gguf_get_bool(const gr_gguf *g, const char *key, bool *out);
gr_status gr_gguf_get_str(const gr_gguf *g, const char *key, gr_gguf_str *out);

/* Arrays. Element type is never GR_GGUF_ARRAY at the top level accessors below; nested arrays are
 * parsed and validated but only reachable through gr_gguf_arr_nested(). */
gr_status gr_gguf_get_arr(const gr_gguf *g, const char *key, gr_gguf_vtype *elem_type,
                          uint64_t *n);
gr_status gr_gguf_arr_i64(const gr_gguf *g, const char *key, uint64_t i, int64_t *out);
gr_status gr_gguf_arr_f32(const gr_gguf *g, const char *key, uint64_t i, float *out);
gr_status gr_gguf_arr_bool(const gr_gguf *g, const char *key, uint64_t i, bool *out);
gr_status gr_gguf_arr_str(const gr_gguf *g, const char *key, uint64_t i, gr_gguf_str *out);
/* Nested arrays: element i of an array of arrays, as (elem_type, n). */
gr_status gr_gguf_arr_nested(const gr_gguf *g, const char *key, uint64_t i,
                             gr_gguf_vtype *elem_type, uint64_t *n);

/* "Scalar or per-layer array" values (e.g. gemma4.feed_forward_length): if the key holds a
 * scalar integer every layer gets it; if an array, it must have exactly n_layers entries. */
gr_status gr_gguf_get_per_layer_i64(const gr_gguf *g, const char *key, uint32_t n_layers,
                                    int64_t *out);

/* ---- tensors ---- */
int64_t gr_gguf_n_tensors(const gr_gguf *g);
const gr_gguf_tensor *gr_gguf_tensor_at(const gr_gguf *g, int64_t i);
const gr_gguf_tensor *gr_gguf_find_tensor(const gr_gguf *g, const char *name); /* NULL if absent */

/* ---- writer ----
 * Build the metadata and the list of tensors, then write. Tensor data are produced by a callback,
 * in row chunks, so multi-GB files never need to be held in memory. */
typedef struct gr_gguf_writer gr_gguf_writer;

/* Fill rows [row0, row0 + nrows) of tensor `index` (as declared by add_tensor) into dst, which holds
 * nrows * gr_row_size(type, ne[0]) bytes. Return GR_OK or an error to abort the write. */
typedef gr_status (*gr_gguf_fill_fn)(void *ud, int64_t index, int64_t row0, int64_t nrows,
                                     void *dst);

gr_gguf_writer *gr_gguf_writer_new(uint32_t version /* 2 or 3 */, size_t alignment);
void gr_gguf_writer_free(gr_gguf_writer *w);
/* Setters replace an existing key of the same name. They return GR_E_NOMEM or GR_OK. */
gr_status gr_gguf_set_u32(gr_gguf_writer *w, const char *key, uint32_t v);
gr_status gr_gguf_set_i32(gr_gguf_writer *w, const char *key, int32_t v);
gr_status gr_gguf_set_u64(gr_gguf_writer *w, const char *key, uint64_t v);
gr_status gr_gguf_set_f32(gr_gguf_writer *w, const char *key, float v);
gr_status gr_gguf_set_bool(gr_gguf_writer *w, const char *key, bool v);
gr_status gr_gguf_set_str(gr_gguf_writer *w, const char *key, const char *v);
/* Generic scalar of any non-array, non-string type from its raw little-endian bytes. */
gr_status gr_gguf_set_scalar(gr_gguf_writer *w, const char *key, gr_gguf_vtype t, const void *v);
/* Array of n scalars of type t (raw little-endian elements, packed), or of n strings. */
gr_status gr_gguf_set_arr(gr_gguf_writer *w, const char *key, gr_gguf_vtype t, const void *data,
                          uint64_t n);
gr_status gr_gguf_set_arr_str(gr_gguf_writer *w, const char *key, const char *const *strs,
                              uint64_t n);
/* Copy key `key` (any type, nested arrays included) from an open file. */
gr_status gr_gguf_copy_kv(gr_gguf_writer *w, const gr_gguf *src, const char *key);
/* Declare a tensor; returns its index (>= 0) or -1 on a bad shape/type or no memory. */
int64_t gr_gguf_add_tensor(gr_gguf_writer *w, const char *name, gr_type type, uint32_t n_dims,
                           const int64_t *ne);
gr_status gr_gguf_writer_write(gr_gguf_writer *w, const char *path, gr_gguf_fill_fn fill, void *ud,
                               char *err, size_t errlen);

#endif
