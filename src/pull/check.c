/* check.c — early judgement of a download from its header (see check.h). The peek scanner only
 * measures; every value it skips is parsed again, with the reader's full checks, by
 * gr_gguf_open_memory. It must never read past the prefix it was given. */
#include "pull/check.h"

#include "core/error.h"
#include "gguf/gguf.h"
#include "layer/probe.h"
#include "layer/registry.h"
#include "model/config.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_COUNT (1u << 20)  /* tensors, metadata keys */
#define MAX_NAME 65535u       /* key and tensor-name bytes */

typedef struct cur {
    const uint8_t *p;
    size_t len, pos;
    uint64_t need; /* set when the prefix ran out */
} cur;

/* Consume n bytes if present; otherwise record how many bytes would be needed. */
static bool take(cur *c, uint64_t n, const uint8_t **out) {
    if (n > GR_GGUF_PEEK_MAX || c->pos + n > (uint64_t)c->len) {
        c->need = c->pos + n;
        return false;
    }
    if (out) *out = c->p + c->pos;
    c->pos += (size_t)n;
    return true;
}

static bool u32(cur *c, uint32_t *v) {
    const uint8_t *b;
    if (!take(c, 4, &b)) return false;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return true;
}

static bool u64(cur *c, uint64_t *v) {
    uint32_t lo, hi;
    if (!u32(c, &lo) || !u32(c, &hi)) return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

/* Results of one step: 1 = done, 0 = prefix too short, -1 = malformed (message in err). */
static int str(cur *c, uint64_t max, char *err, size_t errlen) {
    uint64_t n;
    if (!u64(c, &n)) return 0;
    if (n > max) {
        gr_err(GR_E_FORMAT, err, errlen, "GGUF: string of %llu bytes at byte %zu is too long",
               (unsigned long long)n, c->pos - 8);
        return -1;
    }
    return take(c, n, NULL) ? 1 : 0;
}

static int value(cur *c, uint32_t type, int depth, char *err, size_t errlen) {
    if (type == GR_GGUF_STRING) return str(c, GR_GGUF_PEEK_MAX, err, errlen);
    if (type != GR_GGUF_ARRAY) {
        size_t sz = gr_gguf_scalar_size(type);
        if (!sz) return gr_err(GR_E_FORMAT, err, errlen, "GGUF: unknown value type %u", type), -1;
        return take(c, sz, NULL) ? 1 : 0;
    }
    uint32_t et;
    uint64_t n;
    if (!u32(c, &et) || !u64(c, &n)) return 0;
    if (depth > 2 || et >= GR_GGUF_VTYPE_COUNT || n > GR_GGUF_PEEK_MAX)
        return gr_err(GR_E_FORMAT, err, errlen, "GGUF: bad array (type %u, %llu items)", et,
                      (unsigned long long)n), -1;
    size_t sz = gr_gguf_scalar_size(et);
    if (sz) return take(c, n * sz, NULL) ? 1 : 0; /* n * sz <= 2^28 * 8: no overflow */
    for (uint64_t i = 0; i < n; i++) {
        int r = value(c, et, depth + 1, err, errlen);
        if (r != 1) return r;
    }
    return 1;
}

static int tensor_info(cur *c, char *err, size_t errlen) {
    int r = str(c, MAX_NAME, err, errlen);
    if (r != 1) return r;
    uint32_t nd, type;
    if (!u32(c, &nd)) return 0;
    if (nd == 0 || nd > GR_GGUF_MAX_DIMS)
        return gr_err(GR_E_FORMAT, err, errlen, "GGUF: tensor with %u dimensions", nd), -1;
    return take(c, 8ull * nd, NULL) && u32(c, &type) && take(c, 8, NULL) ? 1 : 0;
}

static int header(cur *c, char *err, size_t errlen) {
    const uint8_t *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    if (!take(c, 4, &magic)) return 0;
    if (memcmp(magic, "GGUF", 4) != 0)
        return gr_err(GR_E_FORMAT, err, errlen, "not a GGUF file (magic %02x %02x %02x %02x)", magic[0],
                      magic[1], magic[2], magic[3]), -1;
    if (!u32(c, &version) || !u64(c, &n_tensors) || !u64(c, &n_kv)) return 0;
    if (version != 2 && version != 3)
        return gr_err(GR_E_FORMAT, err, errlen, "GGUF version %u is not supported (2, 3)", version), -1;
    if (n_tensors > MAX_COUNT || n_kv > MAX_COUNT)
        return gr_err(GR_E_FORMAT, err, errlen, "GGUF: impossible counts (%llu tensors, %llu keys)",
                      (unsigned long long)n_tensors, (unsigned long long)n_kv), -1;
    for (uint64_t i = 0; i < n_kv; i++) {
        uint32_t t;
        int r = str(c, MAX_NAME, err, errlen);
        if (r != 1) return r;
        if (!u32(c, &t)) return 0;
        if ((r = value(c, t, 0, err, errlen)) != 1) return r;
    }
    for (uint64_t i = 0; i < n_tensors; i++) {
        int r = tensor_info(c, err, errlen);
        if (r != 1) return r;
    }
    return 1;
}

gr_status gr_gguf_peek_scan(const void *data, size_t len, gr_gguf_peek *out, char *err, size_t errlen) {
    cur c = {.p = data, .len = data ? len : 0};
    memset(out, 0, sizeof *out);
    int r = header(&c, err, errlen);
    if (r < 0) return GR_E_FORMAT;
    if (r == 1) {
        out->complete = true;
        out->header = c.pos;
        return GR_OK;
    }
    if (c.need > GR_GGUF_PEEK_MAX)
        return gr_err(GR_E_FORMAT, err, errlen, "GGUF header larger than %u MiB", GR_GGUF_PEEK_MAX >> 20);
    out->need = c.need;
    return GR_OK;
}

/* ---- the judgement ------------------------------------------------------------------------ */

static gr_status check_arch(const gr_gguf *g, char *err, size_t errlen) {
    gr_gguf_str a = {0};
    if (gr_gguf_get_str(g, "general.architecture", &a) != GR_OK)
        return gr_err(GR_E_FORMAT, err, errlen, "GGUF has no general.architecture");
    if ((a.len == 6 && !memcmp(a.ptr, "gemma3", 6)) || (a.len == 6 && !memcmp(a.ptr, "gemma4", 6)))
        return GR_OK;
    return gr_err(GR_E_UNSUPPORTED, err, errlen,
                  "architecture '%.*s' is not supported by gemrun (gemma3, gemma4)",
                  (int)(a.len > 64 ? 64 : a.len), a.ptr);
}

static gr_status check_fit(const gr_gguf *g, const gr_model_check *opt, gr_fit_plan *plan, char *err,
                           size_t errlen) {
    gr_model_profile prof;
    gr_status s = gr_registry_from_gguf(g, "download", &prof, err, errlen);
    if (s) return s;
    gr_plan_opts po = gr_plan_default_opts();
    po.budget = opt ? opt->budget : 0;
    if (!po.budget) {
        gr_probe pr;
        if (gr_probe_run(&pr, NULL, NULL, 0) == GR_OK) po.budget = pr.ram_available;
    }
    if (!po.budget) return GR_OK; /* nothing to judge against */
    gr_fit_plan p;
    char perr[256];
    s = gr_plan_for_profile(&prof, &po, &p, perr, sizeof perr);
    if (s == GR_E_INVALID_ARG) /* a budget below the reserve: nothing fits */
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "the model does not fit this machine: %s", perr);
    if (s) return gr_err(s, err, errlen, "%s", perr);
    if (plan) *plan = p;
    if (!p.fits)
        return gr_err(GR_E_UNSUPPORTED, err, errlen, "the model does not fit this machine: %s "
                      "(pass --no-check to download anyway)", p.reason);
    return GR_OK;
}

gr_status gr_model_check_header(const void *prefix, size_t len, uint64_t file_size,
                                const gr_model_check *opt, gr_fit_plan *plan, char *err, size_t errlen) {
    if (!prefix || !len || !file_size || file_size > (uint64_t)SIZE_MAX / 2)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "model check: bad sizes");
    void *buf = mmap(NULL, (size_t)file_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (buf == MAP_FAILED) return gr_err(GR_E_NOMEM, err, errlen, "model check: cannot map %llu bytes",
                                         (unsigned long long)file_size);
    memcpy(buf, prefix, len < file_size ? len : (size_t)file_size);
    gr_gguf *g = NULL;
    gr_status s = gr_gguf_open_memory(buf, (size_t)file_size, &g, err, errlen);
    if (!s) s = check_arch(g, err, errlen);
    gr_gemma_config cfg;
    if (!s) s = gr_gemma_config_from_gguf(g, &cfg, err, errlen);
    if (!s && !(opt && opt->skip_fit)) s = check_fit(g, opt, plan, err, errlen);
    gr_gguf_close(g);
    munmap(buf, (size_t)file_size);
    return s;
}
