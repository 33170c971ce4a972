/* test_gguf.c — tests of the GGUF reader and writer: round trips of every value type, tensors of
 * several types, and malformed files (truncated at every byte, patched fields). Reference files are
 * encoded here byte by byte, independently of the writer, so the two check each other. Must not
 * depend on any model file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include "gguf/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a tiny independent GGUF encoder ---- */

typedef struct bb {
    uint8_t *b;
    size_t n, cap;
} bb;

static size_t bb_bytes(bb *x, const void *p, size_t n) {
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        assert_non_null(x->b);
    }
    size_t at = x->n;
    if (n) memcpy(x->b + x->n, p, n);
    x->n += n;
    return at;
}

static size_t bb_le(bb *x, uint64_t v, int nbytes) {
    uint8_t t[8];
    for (int i = 0; i < nbytes; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return bb_bytes(x, t, (size_t)nbytes);
}
static size_t bb_u32(bb *x, uint32_t v) {
    return bb_le(x, v, 4);
}
static size_t bb_u64(bb *x, uint64_t v) {
    return bb_le(x, v, 8);
}
static size_t bb_str(bb *x, const char *s) {
    size_t at = bb_u64(x, strlen(s));
    bb_bytes(x, s, strlen(s));
    return at;
}
static void bb_pad(bb *x, size_t a) {
    while (x->n % a)
        bb_le(x, 0, 1);
}
static void patch_le(uint8_t *p, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Field positions of the reference file, for patching. */
typedef struct layout {
    size_t version, n_tensors, n_kv;
    size_t align_type, align_val, name_len, tags_key, tags_n, flag_val;
    size_t t0_ndims, t0_ne0, t0_ne1, t0_type, t1_name, t1_off;
} layout;

/* Data byte j of tensor t (row r, byte c within the row): a formula both sides can compute. */
static uint8_t pattern(int64_t t, int64_t r, size_t c) {
    return (uint8_t)(t * 37 + r * 11 + (int64_t)c * 3 + 1);
}

/* Reference file: v3, kv general.alignment=32 (u32), general.name="tiny", general.tags=[u32 7,8,9],
 * general.flag=true; tensors t0 f32 [8,2] at 0 and t1 f32 [8] at 64; data = pattern. */
static bb make_reference(layout *L) {
    bb x = {0};
    bb_bytes(&x, "GGUF", 4);
    L->version = bb_u32(&x, 3);
    L->n_tensors = bb_u64(&x, 2);
    L->n_kv = bb_u64(&x, 4);
    bb_str(&x, "general.alignment");
    L->align_type = bb_u32(&x, GR_GGUF_UINT32);
    L->align_val = bb_u32(&x, 32);
    bb_str(&x, "general.name");
    bb_u32(&x, GR_GGUF_STRING);
    L->name_len = bb_str(&x, "tiny");
    L->tags_key = bb_str(&x, "general.tags");
    bb_u32(&x, GR_GGUF_ARRAY);
    bb_u32(&x, GR_GGUF_UINT32);
    L->tags_n = bb_u64(&x, 3);
    for (uint32_t v = 7; v <= 9; v++)
        bb_u32(&x, v);
    bb_str(&x, "general.flag");
    bb_u32(&x, GR_GGUF_BOOL);
    L->flag_val = bb_le(&x, 1, 1);
    bb_str(&x, "t0");
    L->t0_ndims = bb_u32(&x, 2);
    L->t0_ne0 = bb_u64(&x, 8);
    L->t0_ne1 = bb_u64(&x, 2);
    L->t0_type = bb_u32(&x, GR_TYPE_F32);
    bb_u64(&x, 0);
    L->t1_name = bb_str(&x, "t1");
    bb_u32(&x, 1);
    bb_u64(&x, 8);
    bb_u32(&x, GR_TYPE_F32);
    L->t1_off = bb_u64(&x, 64);
    bb_pad(&x, 32);
    for (int64_t r = 0; r < 2; r++)
        for (size_t c = 0; c < 32; c++)
            bb_le(&x, pattern(0, r, c), 1);
    for (size_t c = 0; c < 32; c++)
        bb_le(&x, pattern(1, 0, c), 1);
    return x;
}

/* Opens a private, exact-size copy (so ASan sees any over-read) and returns the status. */
static gr_status open_copy(const uint8_t *p, size_t n, char *err, size_t errlen) {
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n) memcpy(copy, p, n);
    gr_gguf *g = NULL;
    err[0] = '\0';
    gr_status s = gr_gguf_open_memory(copy, n, &g, err, errlen);
    if (s == GR_OK)
        assert_non_null(g);
    else
        assert_null(g);
    gr_gguf_close(g);
    free(copy);
    return s;
}

/* Patches `nbytes` at `at` of a fresh reference file and expects status `want` and an error
 * message containing `needle`. */
static void expect_patch(size_t at, uint64_t v, int nbytes, gr_status want, const char *needle) {
    layout L;
    bb x = make_reference(&L);
    patch_le(x.b + at, v, nbytes);
    char err[256];
    gr_status s = open_copy(x.b, x.n, err, sizeof err);
    if (s != want || !strstr(err, needle))
        fail_msg("patch at %zu = %llu: got %d '%s', want %d containing '%s'", at,
                 (unsigned long long)v, s, err, want, needle);
    free(x.b);
}

static void tmp_path(char *p, const char *name) {
    snprintf(p, 512, "%s/test_gguf_%s_%d.gguf", GR_BINARY_DIR, name, (int)getpid());
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* ---- fill callbacks ---- */

typedef struct fill_ctx {
    gr_gguf_writer *w;
    const size_t *row_bytes; /* per tensor */
    int fail_tensor;         /* -1: never fail */
    int64_t calls, last_row_end;
} fill_ctx;

static gr_status fill_pattern(void *ud, int64_t index, int64_t row0, int64_t nrows, void *dst) {
    fill_ctx *c = ud;
    if (index == c->fail_tensor) return GR_E_IO;
    uint8_t *d = dst;
    size_t rb = c->row_bytes[index];
    for (int64_t r = 0; r < nrows; r++)
        for (size_t j = 0; j < rb; j++)
            d[(size_t)r * rb + j] = pattern(index, row0 + r, j);
    c->calls++;
    return GR_OK;
}

/* ---- tests ---- */

static void test_reference_file_reads(void **state) {
    (void)state;
    layout L;
    bb x = make_reference(&L);
    gr_gguf *g;
    char err[256];
    assert_int_equal(gr_gguf_open_memory(x.b, x.n, &g, err, sizeof err), GR_OK);
    assert_int_equal(gr_gguf_version(g), 3);
    assert_int_equal(gr_gguf_alignment(g), 32);
    assert_int_equal(gr_gguf_n_kv(g), 4);
    assert_string_equal(gr_gguf_kv_key(g, 2), "general.tags");
    assert_int_equal(gr_gguf_kv_type(g, 2), GR_GGUF_ARRAY);
    assert_int_equal(gr_gguf_find_key(g, "general.flag"), 3);
    assert_int_equal(gr_gguf_find_key(g, "general.nope"), -1);
    gr_gguf_str s;
    assert_int_equal(gr_gguf_get_str(g, "general.name", &s), GR_OK);
    assert_int_equal(s.len, 4);
    assert_memory_equal(s.ptr, "tiny", 4);
    int64_t v;
    assert_int_equal(gr_gguf_arr_i64(g, "general.tags", 2, &v), GR_OK);
    assert_int_equal(v, 9);
    assert_int_equal(gr_gguf_arr_i64(g, "general.tags", 3, &v), GR_E_INVALID_ARG);
    assert_int_equal(gr_gguf_n_tensors(g), 2);
    const gr_gguf_tensor *t1 = gr_gguf_find_tensor(g, "t1");
    assert_non_null(t1);
    assert_ptr_equal(t1, gr_gguf_tensor_at(g, 1));
    assert_int_equal(t1->nbytes, 32);
    assert_int_equal(gr_gguf_data_offset(g) % 32, 0);
    assert_ptr_equal(t1->data, x.b + gr_gguf_data_offset(g) + 64);
    assert_int_equal(((const uint8_t *)t1->data)[5], pattern(1, 0, 5));
    assert_null(gr_gguf_find_tensor(g, "t2"));
    gr_gguf_close(g);
    free(x.b);
}

/* The writer, given the same content, must produce the reference bytes exactly. */
static void test_writer_matches_reference(void **state) {
    (void)state;
    layout L;
    bb ref = make_reference(&L);
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    assert_non_null(w);
    uint32_t tags[3] = {7, 8, 9};
    assert_int_equal(gr_gguf_set_u32(w, "general.alignment", 32), GR_OK);
    assert_int_equal(gr_gguf_set_str(w, "general.name", "replaced later"), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "general.tags", GR_GGUF_UINT32, tags, 3), GR_OK);
    assert_int_equal(gr_gguf_set_bool(w, "general.flag", true), GR_OK);
    assert_int_equal(gr_gguf_set_str(w, "general.name", "tiny"), GR_OK); /* replaces in place */
    int64_t ne0[2] = {8, 2}, ne1[1] = {8};
    assert_int_equal(gr_gguf_add_tensor(w, "t0", GR_TYPE_F32, 2, ne0), 0);
    assert_int_equal(gr_gguf_add_tensor(w, "t1", GR_TYPE_F32, 1, ne1), 1);
    assert_int_equal(gr_gguf_add_tensor(w, "t1", GR_TYPE_F32, 1, ne1), -1); /* duplicate */
    size_t rb[2] = {32, 32};
    fill_ctx c = {w, rb, -1, 0, 0};
    char path[512];
    tmp_path(path, "ref");
    char err[256];
    assert_int_equal(gr_gguf_writer_write(w, path, fill_pattern, &c, err, sizeof err), GR_OK);
    size_t n;
    uint8_t *got = slurp(path, &n);
    assert_int_equal(n, ref.n);
    assert_memory_equal(got, ref.b, n);
    free(got);
    unlink(path);
    gr_gguf_writer_free(w);
    free(ref.b);
}

static void roundtrip_values(uint32_t version) {
    gr_gguf_writer *w = gr_gguf_writer_new(version, 0);
    assert_non_null(w);
    /* every scalar type through set_scalar, with values at the edges of their range */
    uint8_t u8 = 250;
    int8_t i8 = -100;
    uint16_t u16 = 65000;
    int16_t i16 = -32000;
    int64_t i64 = -5000000000LL;
    uint64_t u64big = 18000000000000000000ULL;
    double f64 = 2.5e-3;
    assert_int_equal(gr_gguf_set_scalar(w, "u8", GR_GGUF_UINT8, &u8), GR_OK);
    assert_int_equal(gr_gguf_set_scalar(w, "i8", GR_GGUF_INT8, &i8), GR_OK);
    assert_int_equal(gr_gguf_set_scalar(w, "u16", GR_GGUF_UINT16, &u16), GR_OK);
    assert_int_equal(gr_gguf_set_scalar(w, "i16", GR_GGUF_INT16, &i16), GR_OK);
    assert_int_equal(gr_gguf_set_u32(w, "u32", 4000000000u), GR_OK);
    assert_int_equal(gr_gguf_set_i32(w, "i32", -7), GR_OK);
    assert_int_equal(gr_gguf_set_f32(w, "f32", 1.5f), GR_OK);
    assert_int_equal(gr_gguf_set_bool(w, "bool", false), GR_OK);
    assert_int_equal(gr_gguf_set_str(w, "str", "h\xc3\xa9llo"), GR_OK);
    assert_int_equal(gr_gguf_set_u64(w, "u64", u64big), GR_OK);
    assert_int_equal(gr_gguf_set_scalar(w, "i64", GR_GGUF_INT64, &i64), GR_OK);
    assert_int_equal(gr_gguf_set_scalar(w, "f64", GR_GGUF_FLOAT64, &f64), GR_OK);
    assert_int_equal(gr_gguf_set_scalar(w, "bad", GR_GGUF_STRING, "x"), GR_E_INVALID_ARG);
    /* arrays of several element types, an empty one, and strings */
    int16_t ai16[4] = {-1, 2, -3, 4};
    float af32[3] = {0.5f, -2.0f, 1e30f};
    bool ab[3] = {true, false, true};
    int64_t ai64[2] = {INT64_MIN, INT64_MAX};
    const char *strs[4] = {"a", "", "<start_of_turn>", "\xe2\x96\x81x"};
    assert_int_equal(gr_gguf_set_arr(w, "a.i16", GR_GGUF_INT16, ai16, 4), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "a.f32", GR_GGUF_FLOAT32, af32, 3), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "a.bool", GR_GGUF_BOOL, ab, 3), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "a.i64", GR_GGUF_INT64, ai64, 2), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "a.empty", GR_GGUF_UINT8, NULL, 0), GR_OK);
    assert_int_equal(gr_gguf_set_arr_str(w, "a.str", strs, 4), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "a.bad", GR_GGUF_ARRAY, ai16, 1), GR_E_INVALID_ARG);

    char path[512];
    tmp_path(path, "values");
    char err[256];
    assert_int_equal(gr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    gr_gguf *g;
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_OK);
    assert_int_equal(gr_gguf_version(g), version);
    assert_int_equal(gr_gguf_n_kv(g), 18);
    assert_int_equal(gr_gguf_find_key(g, "general.alignment"), -1); /* default: not written */

    int64_t v;
    uint32_t u;
    float f;
    bool b;
    gr_gguf_str s;
    assert_int_equal(gr_gguf_get_i64(g, "u8", &v), GR_OK);
    assert_int_equal(v, 250);
    assert_int_equal(gr_gguf_get_i64(g, "i8", &v), GR_OK);
    assert_int_equal(v, -100);
    assert_int_equal(gr_gguf_get_i64(g, "u16", &v), GR_OK);
    assert_int_equal(v, 65000);
    assert_int_equal(gr_gguf_get_i64(g, "i16", &v), GR_OK);
    assert_int_equal(v, -32000);
    assert_int_equal(gr_gguf_get_u32(g, "u32", &u), GR_OK);
    assert_int_equal(u, 4000000000u);
    assert_int_equal(gr_gguf_get_i64(g, "i32", &v), GR_OK);
    assert_int_equal(v, -7);
    assert_int_equal(gr_gguf_get_u32(g, "i32", &u), GR_E_FORMAT); /* negative */
    assert_int_equal(gr_gguf_get_i64(g, "u64", &v), GR_E_FORMAT); /* > INT64_MAX */
    assert_int_equal(gr_gguf_get_i64(g, "i64", &v), GR_OK);
    assert_int_equal(v, -5000000000LL);
    assert_int_equal(gr_gguf_get_u32(g, "i64", &u), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_f32(g, "f32", &f), GR_OK);
    assert_true(f == 1.5f);
    assert_int_equal(gr_gguf_get_f32(g, "f64", &f), GR_OK);
    assert_true(f == (float)2.5e-3);
    assert_int_equal(gr_gguf_get_f32(g, "u32", &f), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_i64(g, "f32", &v), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_bool(g, "bool", &b), GR_OK);
    assert_false(b);
    assert_int_equal(gr_gguf_get_bool(g, "u8", &b), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_str(g, "str", &s), GR_OK);
    assert_int_equal(s.len, 6);
    assert_memory_equal(s.ptr, "h\xc3\xa9llo", 6);
    assert_int_equal(gr_gguf_get_str(g, "u8", &s), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_i64(g, "missing", &v), GR_E_NOT_FOUND);
    assert_int_equal(gr_gguf_get_str(g, "missing", &s), GR_E_NOT_FOUND);
    assert_int_equal(gr_gguf_kv_type(g, gr_gguf_find_key(g, "f64")), GR_GGUF_FLOAT64);

    gr_gguf_vtype et;
    uint64_t n;
    assert_int_equal(gr_gguf_get_arr(g, "a.i16", &et, &n), GR_OK);
    assert_int_equal(et, GR_GGUF_INT16);
    assert_int_equal(n, 4);
    for (uint64_t i = 0; i < 4; i++) {
        assert_int_equal(gr_gguf_arr_i64(g, "a.i16", i, &v), GR_OK);
        assert_int_equal(v, ai16[i]);
    }
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(gr_gguf_arr_f32(g, "a.f32", i, &f), GR_OK);
        assert_true(f == af32[i]);
        assert_int_equal(gr_gguf_arr_bool(g, "a.bool", i, &b), GR_OK);
        assert_int_equal(b, ab[i]);
    }
    assert_int_equal(gr_gguf_arr_i64(g, "a.i64", 0, &v), GR_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(gr_gguf_arr_i64(g, "a.i64", 1, &v), GR_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(gr_gguf_arr_f32(g, "a.i16", 0, &f), GR_E_FORMAT);
    assert_int_equal(gr_gguf_arr_i64(g, "a.f32", 0, &v), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_arr(g, "a.empty", &et, &n), GR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(gr_gguf_arr_i64(g, "a.empty", 0, &v), GR_E_INVALID_ARG);
    assert_int_equal(gr_gguf_get_arr(g, "a.str", &et, &n), GR_OK);
    assert_int_equal(et, GR_GGUF_STRING);
    assert_int_equal(n, 4);
    for (uint64_t i = 0; i < 4; i++) {
        assert_int_equal(gr_gguf_arr_str(g, "a.str", i, &s), GR_OK);
        assert_int_equal(s.len, strlen(strs[i]));
        assert_memory_equal(s.ptr, strs[i], s.len);
    }
    assert_int_equal(gr_gguf_arr_str(g, "a.i16", 0, &s), GR_E_FORMAT);
    assert_int_equal(gr_gguf_arr_i64(g, "a.str", 0, &v), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_arr(g, "u8", &et, &n), GR_E_FORMAT);
    assert_int_equal(gr_gguf_n_tensors(g), 0);
    gr_gguf_close(g);
    unlink(path);
}

static void test_roundtrip_values_v3(void **state) {
    (void)state;
    roundtrip_values(3);
}

static void test_roundtrip_values_v2(void **state) {
    (void)state;
    roundtrip_values(2);
}

/* key "nest": [[1,2,3] (i32), ["x","yz"], [[5] (u8), []]] , followed by nothing else. */
static bb make_nested(int extra_depth) {
    bb x = {0};
    bb_bytes(&x, "GGUF", 4);
    bb_u32(&x, 3);
    bb_u64(&x, 0);
    bb_u64(&x, 1);
    bb_str(&x, "nest");
    bb_u32(&x, GR_GGUF_ARRAY);
    bb_u32(&x, GR_GGUF_ARRAY);
    bb_u64(&x, 3 + (extra_depth ? 1 : 0));
    bb_u32(&x, GR_GGUF_INT32);
    bb_u64(&x, 3);
    for (uint32_t v = 1; v <= 3; v++)
        bb_u32(&x, v);
    bb_u32(&x, GR_GGUF_STRING);
    bb_u64(&x, 2);
    bb_str(&x, "x");
    bb_str(&x, "yz");
    bb_u32(&x, GR_GGUF_ARRAY);
    bb_u64(&x, 2);
    bb_u32(&x, GR_GGUF_UINT8);
    bb_u64(&x, 1);
    bb_le(&x, 5, 1);
    bb_u32(&x, GR_GGUF_UINT8);
    bb_u64(&x, 0);
    if (extra_depth) { /* a chain of singly nested arrays; depth counts the top-level array */
        for (int d = 0; d < extra_depth; d++) {
            bb_u32(&x, GR_GGUF_ARRAY);
            bb_u64(&x, 1);
        }
        bb_u32(&x, GR_GGUF_UINT8);
        bb_u64(&x, 0);
    }
    return x;
}

static void test_nested_arrays(void **state) {
    (void)state;
    bb x = make_nested(0);
    gr_gguf *g;
    char err[256];
    assert_int_equal(gr_gguf_open_memory(x.b, x.n, &g, err, sizeof err), GR_OK);
    gr_gguf_vtype et;
    uint64_t n;
    assert_int_equal(gr_gguf_get_arr(g, "nest", &et, &n), GR_OK);
    assert_int_equal(et, GR_GGUF_ARRAY);
    assert_int_equal(n, 3);
    gr_gguf_vtype want_t[3] = {GR_GGUF_INT32, GR_GGUF_STRING, GR_GGUF_ARRAY};
    uint64_t want_n[3] = {3, 2, 2};
    for (uint64_t i = 0; i < 3; i++) {
        assert_int_equal(gr_gguf_arr_nested(g, "nest", i, &et, &n), GR_OK);
        assert_int_equal(et, want_t[i]);
        assert_int_equal(n, want_n[i]);
    }
    assert_int_equal(gr_gguf_arr_nested(g, "nest", 3, &et, &n), GR_E_INVALID_ARG);
    int64_t v;
    assert_int_equal(gr_gguf_arr_i64(g, "nest", 0, &v), GR_E_FORMAT);

    /* copy through the writer (v2 this time) and compare the encoded value byte for byte */
    gr_gguf_writer *w = gr_gguf_writer_new(2, 32);
    assert_int_equal(gr_gguf_copy_kv(w, g, "nest"), GR_OK);
    assert_int_equal(gr_gguf_copy_kv(w, g, "absent"), GR_E_NOT_FOUND);
    char path[512];
    tmp_path(path, "nested");
    assert_int_equal(gr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    gr_gguf *g2;
    assert_int_equal(gr_gguf_open(path, &g2, err, sizeof err), GR_OK);
    assert_int_equal(gr_gguf_version(g2), 2);
    size_t l1, l2;
    const void *r1 = gr_gguf_kv_raw(g, 0, &l1), *r2 = gr_gguf_kv_raw(g2, 0, &l2);
    assert_int_equal(l1, l2);
    assert_int_equal(l1, x.n - 4 - 4 - 8 - 8 - 12 - 4); /* everything after the value type */
    assert_memory_equal(r1, r2, l1);
    gr_gguf_close(g2);
    gr_gguf_close(g);
    unlink(path);
    free(x.b);

    /* depth: top array (1) + nested element (2) + 6 more = 8 is fine, one more is rejected */
    x = make_nested(6);
    assert_int_equal(open_copy(x.b, x.n, err, sizeof err), GR_OK);
    free(x.b);
    x = make_nested(7);
    assert_int_equal(open_copy(x.b, x.n, err, sizeof err), GR_E_FORMAT);
    assert_non_null(strstr(err, "nest"));
    free(x.b);
}

static void test_big_string_array(void **state) {
    (void)state;
    enum { N = 262144 };
    char **toks = malloc(N * sizeof *toks);
    assert_non_null(toks);
    for (int i = 0; i < N; i++) {
        toks[i] = malloc(16);
        snprintf(toks[i], 16, "tok%d", i * 7);
    }
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    assert_int_equal(gr_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)toks, N),
                     GR_OK);
    char p1[512], p2[512];
    tmp_path(p1, "tok1");
    tmp_path(p2, "tok2");
    char err[256];
    assert_int_equal(gr_gguf_writer_write(w, p1, NULL, NULL, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    gr_gguf *g;
    assert_int_equal(gr_gguf_open(p1, &g, err, sizeof err), GR_OK);
    w = gr_gguf_writer_new(3, 32);
    assert_int_equal(gr_gguf_copy_kv(w, g, "tokenizer.ggml.tokens"), GR_OK);
    assert_int_equal(gr_gguf_writer_write(w, p2, NULL, NULL, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    gr_gguf_close(g);
    assert_int_equal(gr_gguf_open(p2, &g, err, sizeof err), GR_OK);
    uint64_t n;
    gr_gguf_vtype et;
    assert_int_equal(gr_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n), GR_OK);
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++) { /* random access in any order must be O(1): go backwards */
        gr_gguf_str s;
        int j = N - 1 - i;
        assert_int_equal(gr_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)j, &s), GR_OK);
        if (s.len != strlen(toks[j]) || memcmp(s.ptr, toks[j], s.len) != 0)
            fail_msg("token %d differs", j);
    }
    gr_gguf_close(g);
    unlink(p1);
    unlink(p2);
    for (int i = 0; i < N; i++)
        free(toks[i]);
    free(toks);
}

/* Tensors of several types with a custom alignment; the expected byte sizes are the GGML block
 * sizes (f16 2 B/elem, q4_0 18 B/32, q8_0 34 B/32, q4_K 144 B/256, q6_K 210 B/256, bf16 2 B). */
static void tensors_roundtrip(uint32_t version, size_t align) {
    struct {
        const char *name;
        gr_type type;
        uint32_t nd;
        int64_t ne[4];
        size_t row_bytes, nbytes;
    } T[] = {
        {"tok_embd.weight", GR_TYPE_F32, 2, {5, 3, 1, 1}, 20, 60},
        {"norm.weight", GR_TYPE_F16, 1, {7, 1, 1, 1}, 14, 14},
        {"blk.0.attn_q.weight", GR_TYPE_Q4_0, 2, {64, 2, 1, 1}, 36, 72},
        {"blk.0.ffn_up.weight", GR_TYPE_Q8_0, 3, {32, 3, 2, 1}, 34, 204},
        {"blk.0.ffn_down.weight", GR_TYPE_Q4_K, 2, {512, 2, 1, 1}, 288, 576},
        {"blk.0.attn_v.weight", GR_TYPE_Q6_K, 1, {256, 1, 1, 1}, 210, 210},
        {"x.bf16", GR_TYPE_BF16, 4, {3, 1, 2, 2}, 6, 24},
    };
    enum { NT = sizeof T / sizeof T[0] };
    gr_gguf_writer *w = gr_gguf_writer_new(version, align);
    assert_non_null(w);
    assert_int_equal(gr_gguf_set_str(w, "general.architecture", "gemma4"), GR_OK);
    size_t rb[NT];
    for (int i = 0; i < NT; i++) {
        assert_int_equal(gr_gguf_add_tensor(w, T[i].name, T[i].type, T[i].nd, T[i].ne), i);
        rb[i] = T[i].row_bytes;
    }
    fill_ctx c = {w, rb, -1, 0, 0};
    char path[512];
    tmp_path(path, "tensors");
    char err[256];
    assert_int_equal(gr_gguf_writer_write(w, path, fill_pattern, &c, err, sizeof err), GR_OK);
    assert_int_equal(c.calls, NT); /* small tensors: one chunk each */
    gr_gguf_writer_free(w);
    gr_gguf *g;
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_OK);
    assert_int_equal(gr_gguf_version(g), version);
    assert_int_equal(gr_gguf_alignment(g), align);
    uint32_t a;
    assert_int_equal(gr_gguf_get_u32(g, "general.alignment", &a),
                     align == 32 ? GR_E_NOT_FOUND : GR_OK);
    assert_int_equal(gr_gguf_data_offset(g) % align, 0);
    assert_int_equal(gr_gguf_n_tensors(g), NT);
    for (int i = NT - 1; i >= 0; i--) {
        const gr_gguf_tensor *t = gr_gguf_find_tensor(g, T[i].name);
        assert_non_null(t);
        assert_ptr_equal(t, gr_gguf_tensor_at(g, i));
        assert_int_equal(t->type, T[i].type);
        assert_int_equal(t->n_dims, T[i].nd);
        for (int d = 0; d < 4; d++)
            assert_int_equal(t->ne[d], T[i].ne[d]);
        assert_int_equal(t->nbytes, T[i].nbytes);
        assert_int_equal(t->offset % align, 0);
        const uint8_t *d = t->data;
        int64_t rows = T[i].ne[1] * T[i].ne[2] * T[i].ne[3];
        for (int64_t r = 0; r < rows; r++)
            for (size_t j = 0; j < T[i].row_bytes; j++)
                if (d[(size_t)r * T[i].row_bytes + j] != pattern(i, r, j))
                    fail_msg("tensor %s row %lld byte %zu", T[i].name, (long long)r, j);
    }
    /* the mapping itself is page aligned, so data pointers honour the file alignment */
    for (int i = 0; i < NT; i++)
        assert_int_equal((uintptr_t)gr_gguf_tensor_at(g, i)->data % align, 0);
    gr_gguf_close(g);
    unlink(path);
}

static void test_tensors_v3_align32(void **state) {
    (void)state;
    tensors_roundtrip(3, 32);
}

static void test_tensors_v2_align64(void **state) {
    (void)state;
    tensors_roundtrip(2, 64);
}

static void test_tensors_v3_align8(void **state) {
    (void)state;
    tensors_roundtrip(3, 8);
}

static void test_writer_rejects(void **state) {
    (void)state;
    assert_null(gr_gguf_writer_new(1, 32));
    assert_null(gr_gguf_writer_new(4, 32));
    assert_null(gr_gguf_writer_new(3, 48));
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    int64_t ne[4] = {32, 1, 1, 1}, zero[2] = {32, 0}, odd[1] = {48}, huge[2] = {INT64_MAX, 2};
    assert_int_equal(gr_gguf_add_tensor(w, "a", GR_TYPE_F32, 0, ne), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "a", GR_TYPE_F32, 5, ne), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "a", GR_TYPE_F32, 2, zero), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "a", GR_TYPE_Q4_0, 1, odd), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "a", (gr_type)4, 1, ne), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "a", GR_TYPE_F32, 2, huge), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "", GR_TYPE_F32, 1, ne), -1);
    assert_int_equal(gr_gguf_add_tensor(w, "a", GR_TYPE_F32, 4, ne), 0);
    gr_gguf_writer_free(w);
}

static void test_fill_error_removes_temp(void **state) {
    (void)state;
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    int64_t ne[2] = {4, 2};
    assert_int_equal(gr_gguf_add_tensor(w, "ok", GR_TYPE_F32, 2, ne), 0);
    assert_int_equal(gr_gguf_add_tensor(w, "bad", GR_TYPE_F32, 2, ne), 1);
    size_t rb[2] = {16, 16};
    fill_ctx c = {w, rb, 1, 0, 0};
    char path[512];
    tmp_path(path, "fillerr");
    char tmp[600], err[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(path);
    assert_int_equal(gr_gguf_writer_write(w, path, fill_pattern, &c, err, sizeof err), GR_E_IO);
    assert_non_null(strstr(err, "bad"));
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
    /* an unwritable directory is an I/O error, not a crash */
    assert_int_equal(
        gr_gguf_writer_write(w, "/nonexistent-dir/x.gguf", fill_pattern, &c, err, sizeof err),
        GR_E_IO);
    gr_gguf_writer_free(w);
}

/* A 68 MiB tensor must be produced in chunks of at most 64 MiB (16 rows of 4 MiB, then 1). */
typedef struct chunk_log {
    int64_t row0[8], nrows[8];
    int n;
} chunk_log;

static gr_status fill_log(void *ud, int64_t index, int64_t row0, int64_t nrows, void *dst) {
    chunk_log *l = ud;
    if (l->n < 8) {
        l->row0[l->n] = row0;
        l->nrows[l->n] = nrows;
    }
    l->n++;
    float *f = dst;
    for (int64_t r = 0; r < nrows; r++)
        f[(size_t)r << 20] = (float)(row0 + r); /* first elem */
    return GR_OK;
}

static void test_chunked_fill(void **state) {
    (void)state;
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    int64_t ne[2] = {1 << 20, 17};
    assert_int_equal(gr_gguf_add_tensor(w, "big", GR_TYPE_F32, 2, ne), 0);
    chunk_log l = {{0}, {0}, 0};
    char path[512];
    tmp_path(path, "chunk");
    char err[256];
    assert_int_equal(gr_gguf_writer_write(w, path, fill_log, &l, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.row0[0], 0);
    assert_int_equal(l.nrows[0], 16);
    assert_int_equal(l.row0[1], 16);
    assert_int_equal(l.nrows[1], 1);
    gr_gguf *g;
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_OK);
    const gr_gguf_tensor *t = gr_gguf_find_tensor(g, "big");
    assert_int_equal(t->nbytes, (size_t)17 << 22);
    float v;
    memcpy(&v, (const uint8_t *)t->data + ((size_t)16 << 22), sizeof v);
    assert_true(v == 16.0f);
    gr_gguf_close(g);
    unlink(path);
}

/* A model-sized directory: 2000 tensors and 40 keys, every one found by name. */
static gr_status fill_index(void *ud, int64_t index, int64_t row0, int64_t nrows, void *dst) {
    float *f = dst;
    for (int64_t r = 0; r < nrows; r++)
        for (int j = 0; j < 32; j++)
            f[r * 32 + j] = (float)(index * 1000 + (row0 + r) * 32 + j);
    return GR_OK;
}

static void test_many_tensors(void **state) {
    (void)state;
    enum { NT = 2000, NK = 40 };
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    char name[64];
    for (int i = 0; i < NK; i++) {
        snprintf(name, sizeof name, "gemma4.key.%d", i);
        assert_int_equal(gr_gguf_set_u32(w, name, (uint32_t)i * 3), GR_OK);
    }
    int64_t ne[2] = {32, 2};
    for (int i = 0; i < NT; i++) {
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        assert_int_equal(gr_gguf_add_tensor(w, name, GR_TYPE_F32, 2, ne), i);
    }
    char path[512], err[256];
    tmp_path(path, "many");
    assert_int_equal(gr_gguf_writer_write(w, path, fill_index, NULL, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    gr_gguf *g;
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_OK);
    for (int i = NK - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "gemma4.key.%d", i);
        uint32_t v;
        assert_int_equal(gr_gguf_find_key(g, name), i);
        assert_int_equal(gr_gguf_get_u32(g, name, &v), GR_OK);
        assert_int_equal(v, (uint32_t)i * 3);
    }
    for (int i = NT - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", i);
        const gr_gguf_tensor *t = gr_gguf_find_tensor(g, name);
        assert_ptr_equal(t, gr_gguf_tensor_at(g, i));
        assert_int_equal(t->offset, (uint64_t)i * 256);
        float f;
        memcpy(&f, (const uint8_t *)t->data + 4 * 33, sizeof f); /* row 1, element 1 */
        assert_true(f == (float)(i * 1000 + 33));
    }
    assert_null(gr_gguf_find_tensor(g, "blk.2000.attn_q.weight"));
    gr_gguf_close(g);
    unlink(path);
}

static void test_per_layer(void **state) {
    (void)state;
    gr_gguf_writer *w = gr_gguf_writer_new(3, 32);
    int32_t ff[4] = {100, 200, 300, 400};
    assert_int_equal(gr_gguf_set_u32(w, "scalar", 640), GR_OK);
    assert_int_equal(gr_gguf_set_arr(w, "arr", GR_GGUF_INT32, ff, 4), GR_OK);
    const char *s[1] = {"x"};
    assert_int_equal(gr_gguf_set_arr_str(w, "strs", s, 1), GR_OK);
    assert_int_equal(gr_gguf_set_f32(w, "float", 1.0f), GR_OK);
    char path[512];
    tmp_path(path, "perlayer");
    char err[256];
    assert_int_equal(gr_gguf_writer_write(w, path, NULL, NULL, err, sizeof err), GR_OK);
    gr_gguf_writer_free(w);
    gr_gguf *g;
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_OK);
    int64_t out[4];
    assert_int_equal(gr_gguf_get_per_layer_i64(g, "scalar", 4, out), GR_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], 640);
    assert_int_equal(gr_gguf_get_per_layer_i64(g, "arr", 4, out), GR_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(out[i], ff[i]);
    assert_int_equal(gr_gguf_get_per_layer_i64(g, "arr", 3, out), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_per_layer_i64(g, "strs", 1, out), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_per_layer_i64(g, "float", 4, out), GR_E_FORMAT);
    assert_int_equal(gr_gguf_get_per_layer_i64(g, "none", 4, out), GR_E_NOT_FOUND);
    gr_gguf_close(g);
    unlink(path);
}

static void test_truncated_every_byte(void **state) {
    (void)state;
    layout L;
    bb x = make_reference(&L);
    char err[256];
    assert_int_equal(open_copy(x.b, x.n, err, sizeof err), GR_OK);
    for (size_t n = 0; n < x.n; n++) {
        gr_status s = open_copy(x.b, n, err, sizeof err);
        if (s != GR_E_FORMAT || err[0] == '\0')
            fail_msg("truncated to %zu of %zu bytes: status %d '%s'", n, x.n, s, err);
    }
    free(x.b);
}

static void test_malformed_header(void **state) {
    (void)state;
    layout L;
    bb x = make_reference(&L);
    free(x.b);
    expect_patch(0, 'X', 1, GR_E_FORMAT, "magic");
    expect_patch(0, 0x47475546u, 4, GR_E_UNSUPPORTED, "big-endian"); /* "FUGG" */
    expect_patch(L.version, 0x03000000u, 4, GR_E_UNSUPPORTED, "big-endian");
    expect_patch(L.version, 1, 4, GR_E_UNSUPPORTED, "version 1");
    expect_patch(L.version, 4, 4, GR_E_UNSUPPORTED, "version 4");
    expect_patch(L.n_tensors, 1ull << 60, 8, GR_E_FORMAT, "tensor count");
    expect_patch(L.n_kv, 1ull << 60, 8, GR_E_FORMAT, "metadata count");
    expect_patch(L.n_kv, 5, 8, GR_E_FORMAT, ""); /* parses tensor info as a kv: garbage */
}

static void test_malformed_metadata(void **state) {
    (void)state;
    layout L;
    bb x = make_reference(&L);
    free(x.b);
    expect_patch(L.align_val, 0, 4, GR_E_FORMAT, "general.alignment");
    expect_patch(L.align_val, 48, 4, GR_E_FORMAT, "power of two");
    expect_patch(L.align_type, GR_GGUF_INT32, 4, GR_E_FORMAT, "general.alignment");
    expect_patch(L.align_type, 13, 4, GR_E_FORMAT, "unknown value type");
    expect_patch(L.name_len, 1ull << 60, 8, GR_E_FORMAT, "string length");
    expect_patch(L.name_len, 1000, 8, GR_E_FORMAT, "byte");
    expect_patch(L.tags_n, 1ull << 60, 8, GR_E_FORMAT, "general.tags");
    expect_patch(L.tags_n - 4, 77, 4, GR_E_FORMAT, "element type 77");
    expect_patch(L.tags_key + 8 + 8, 'n' | 'a' << 8 | 'm' << 16 | 'e' << 24, 4, GR_E_FORMAT,
                 "duplicate key 'general.name'");
    expect_patch(L.tags_key + 8 + 3, 0, 1, GR_E_FORMAT, "NUL");
    expect_patch(L.tags_key, 0, 8, GR_E_FORMAT, "empty key");
    expect_patch(L.tags_key, 1ull << 62, 8, GR_E_FORMAT, "key");
    expect_patch(L.flag_val, 2, 1, GR_E_FORMAT, "general.flag");
}

static void test_malformed_tensors(void **state) {
    (void)state;
    layout L;
    bb x = make_reference(&L);
    free(x.b);
    expect_patch(L.t1_off, 4096, 8, GR_E_FORMAT, "'t1'");
    expect_patch(L.t1_off, 96, 8, GR_E_FORMAT, "past the end");
    expect_patch(L.t1_off, 65, 8, GR_E_FORMAT, "not a multiple of the alignment");
    expect_patch(L.t1_off, UINT64_MAX - 31, 8, GR_E_FORMAT, "'t1'");
    expect_patch(L.t0_ne0, 1ull << 62, 8, GR_E_FORMAT, "overflows"); /* 2^62 * 2 rows */
    expect_patch(L.t0_ne0, 1ull << 63, 8, GR_E_FORMAT, "'t0'");
    expect_patch(L.t0_ne1, 1ull << 62, 8, GR_E_FORMAT, "'t0'");
    expect_patch(L.t0_ne0, 1ull << 61, 8, GR_E_FORMAT, "byte size overflows"); /* 2^63 B * 2 */
    expect_patch(L.t1_name + 8 + 2 + 4, 1ull << 62, 8, GR_E_FORMAT, "row size overflows");
    expect_patch(L.t0_ne1, 0, 8, GR_E_FORMAT, "zero");
    expect_patch(L.t0_ne0, 0, 8, GR_E_FORMAT, "'t0'");
    expect_patch(L.t0_ndims, 5, 4, GR_E_FORMAT, "n_dims 5");
    expect_patch(L.t0_ndims, 0, 4, GR_E_FORMAT, "n_dims 0");
    expect_patch(L.t0_type, 99, 4, GR_E_UNSUPPORTED, "'t0': unsupported tensor type 99");
    expect_patch(L.t0_type, 4, 4, GR_E_UNSUPPORTED, "type 4");
    expect_patch(L.t0_type, 0xffffffffu, 4, GR_E_UNSUPPORTED, "t0");
    expect_patch(L.t0_type, GR_TYPE_Q4_0, 4, GR_E_FORMAT, "block size");
    expect_patch(L.t1_name + 8 + 1, '0', 1, GR_E_FORMAT, "duplicate tensor 't0'");
    expect_patch(L.t1_name, 1ull << 60, 8, GR_E_FORMAT, "tensor name");
    expect_patch(L.t1_name + 8 + 1, 0, 1, GR_E_FORMAT, "NUL");
}

/* The same checks through a real file on disk: the message names the path. */
static void test_malformed_file_on_disk(void **state) {
    (void)state;
    layout L;
    bb x = make_reference(&L);
    patch_le(x.b + L.t1_off, 33, 8);
    char path[512];
    tmp_path(path, "bad");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x.b, 1, x.n, f), x.n);
    fclose(f);
    gr_gguf *g = (gr_gguf *)&g; /* must be reset to NULL on failure */
    char err[512];
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_E_FORMAT);
    assert_null(g);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "t1"));
    f = fopen(path, "wb"); /* empty file */
    fclose(f);
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_E_FORMAT);
    unlink(path);
    assert_int_equal(gr_gguf_open(path, &g, err, sizeof err), GR_E_IO);
    assert_int_equal(gr_gguf_open_memory(NULL, 0, &g, err, sizeof err), GR_E_FORMAT);
    free(x.b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_file_reads),
        cmocka_unit_test(test_writer_matches_reference),
        cmocka_unit_test(test_roundtrip_values_v3),
        cmocka_unit_test(test_roundtrip_values_v2),
        cmocka_unit_test(test_nested_arrays),
        cmocka_unit_test(test_big_string_array),
        cmocka_unit_test(test_tensors_v3_align32),
        cmocka_unit_test(test_tensors_v2_align64),
        cmocka_unit_test(test_tensors_v3_align8),
        cmocka_unit_test(test_writer_rejects),
        cmocka_unit_test(test_fill_error_removes_temp),
        cmocka_unit_test(test_chunked_fill),
        cmocka_unit_test(test_many_tensors),
        cmocka_unit_test(test_per_layer),
        cmocka_unit_test(test_truncated_every_byte),
        cmocka_unit_test(test_malformed_header),
        cmocka_unit_test(test_malformed_metadata),
        cmocka_unit_test(test_malformed_tensors),
        cmocka_unit_test(test_malformed_file_on_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
