/* probe.c — RAM, CPU and GPU probing (see probe.h). The CUDA driver is reached only through dlopen and
 * function pointers declared here, so there is no build or link dependency on CUDA. Must not create
 * CUDA allocations or keep global state; must not fail when a source (procfs, cgroup, driver) is absent. */
#include "layer/probe.h"

#include "core/cancel.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__) && !defined(__EMSCRIPTEN__)
#include <dlfcn.h>
#include <sched.h>
#define GR_HAVE_DLOPEN 1
#endif

/* ---- memory ------------------------------------------------------------------------------------ */

static gr_status meminfo_field(const char *text, const char *name, uint64_t *out, char *err, size_t errlen) {
    size_t nl = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, nl) != 0 || line[nl] != ':') continue;
        const char *s = line + nl + 1;
        while (*s == ' ' || *s == '\t') s++;
        if (*s < '0' || *s > '9') return gr_err(GR_E_FORMAT, err, errlen, "meminfo %s: not a number", name);
        uint64_t v = 0;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (v > (UINT64_MAX - 9) / 10) return gr_err(GR_E_FORMAT, err, errlen, "meminfo %s: too large", name);
            v = v * 10 + (uint64_t)(*s - '0');
        }
        while (*s == ' ') s++;
        if (strncmp(s, "kB", 2) != 0) return gr_err(GR_E_FORMAT, err, errlen, "meminfo %s: unit is not kB", name);
        if (v > UINT64_MAX / 1024) return gr_err(GR_E_FORMAT, err, errlen, "meminfo %s: too large", name);
        *out = v * 1024;
        return GR_OK;
    }
    return gr_err(GR_E_FORMAT, err, errlen, "meminfo: %s missing", name);
}

gr_status gr_probe_parse_meminfo(const char *text, uint64_t *total, uint64_t *available, char *err,
                                 size_t errlen) {
    if (!text || !total || !available) return gr_err(GR_E_INVALID_ARG, err, errlen, "NULL argument");
    gr_status st = meminfo_field(text, "MemTotal", total, err, errlen);
    if (st == GR_OK) st = meminfo_field(text, "MemAvailable", available, err, errlen);
    if (st == GR_OK && *available > *total)
        st = gr_err(GR_E_FORMAT, err, errlen, "meminfo: MemAvailable exceeds MemTotal");
    return st;
}

/* Read a small text file; returns the number of bytes read, 0 on failure. */
static size_t read_small(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n;
}

static bool read_u64_file(const char *path, uint64_t *out) {
    char b[64];
    if (!read_small(path, b, sizeof b)) return false;
    char *end;
    unsigned long long v = strtoull(b, &end, 10);
    if (end == b) return false;
    *out = v;
    return true;
}

static void probe_memory(gr_probe *p) {
    static const size_t CAP = 16384;
    char *buf = malloc(CAP);
    bool ok = false;
    if (buf && read_small("/proc/meminfo", buf, CAP))
        ok = gr_probe_parse_meminfo(buf, &p->ram_total, &p->ram_available, NULL, 0) == GR_OK;
    free(buf);
    if (!ok) { /* no procfs (other unix, wasm): sysconf */
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psz > 0) p->ram_total = (uint64_t)pages * (uint64_t)psz;
#ifdef _SC_AVPHYS_PAGES
        long av = sysconf(_SC_AVPHYS_PAGES);
        if (av > 0 && psz > 0) p->ram_available = (uint64_t)av * (uint64_t)psz;
#endif
    }
    /* A container's memory limit bounds what we may use, whatever the host has. */
    uint64_t lim = 0, cur = 0;
    bool have = read_u64_file("/sys/fs/cgroup/memory.max", &lim); /* v2; "max" fails to parse: no limit */
    if (have) read_u64_file("/sys/fs/cgroup/memory.current", &cur);
    else if (read_u64_file("/sys/fs/cgroup/memory/memory.limit_in_bytes", &lim)) { /* v1 */
        have = true;
        read_u64_file("/sys/fs/cgroup/memory/memory.usage_in_bytes", &cur);
    }
    if (have && lim > 0 && (p->ram_total == 0 || lim < p->ram_total)) {
        p->cgroup_limit = lim;
        p->ram_total = lim;
        uint64_t left = cur < lim ? lim - cur : 0;
        if (p->ram_available == 0 || left < p->ram_available) p->ram_available = left;
    }
}

/* ---- CPU --------------------------------------------------------------------------------------- */

static void probe_cpu(gr_cpu_info *c) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->cores_online = n > 0 ? (int)n : 1;
    c->cores_usable = c->cores_online;
#if defined(GR_HAVE_DLOPEN) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int k = CPU_COUNT(&set);
        if (k > 0) c->cores_usable = k;
    }
#endif
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    c->avx2 = __builtin_cpu_supports("avx2");
    c->fma = __builtin_cpu_supports("fma");
    c->avx512f = __builtin_cpu_supports("avx512f");
    c->avx512bw = __builtin_cpu_supports("avx512bw");
    c->avx512vnni = __builtin_cpu_supports("avx512vnni");
    c->f16c = c->avx2; /* every AVX2 CPU has F16C; the builtin has no "f16c" name on older compilers */
#elif defined(__aarch64__)
    c->neon = true;
#endif
}

/* ---- GPU through the CUDA driver API ------------------------------------------------------------ */

#ifdef GR_HAVE_DLOPEN
typedef int cu_result;
typedef int cu_device;
typedef void *cu_context;

typedef struct cuda_api {
    cu_result (*init)(unsigned);
    cu_result (*driver_version)(int *);
    cu_result (*device_count)(int *);
    cu_result (*device_get)(cu_device *, int);
    cu_result (*device_name)(char *, int, cu_device);
    cu_result (*total_mem)(size_t *, cu_device);
    cu_result (*attribute)(int *, int, cu_device);
    cu_result (*ctx_retain)(cu_context *, cu_device);
    cu_result (*ctx_release)(cu_device);
    cu_result (*ctx_push)(cu_context);
    cu_result (*ctx_pop)(cu_context *);
    cu_result (*mem_info)(size_t *, size_t *);
} cuda_api;

enum { CU_ATTR_CC_MAJOR = 75, CU_ATTR_CC_MINOR = 76 };

/* dlsym returns void*; converting to a function pointer goes through memcpy to stay ISO C. */
static bool sym(void *lib, const char *name, void *fnptr, size_t size) {
    void *s = dlsym(lib, name);
    if (!s) return false;
    memcpy(fnptr, &s, size);
    return true;
}
#define SYM(lib, name, field) sym(lib, name, &(field), sizeof(field))

static bool load_cuda(void *lib, cuda_api *a) {
    bool ok = SYM(lib, "cuInit", a->init) && SYM(lib, "cuDeviceGetCount", a->device_count) &&
              SYM(lib, "cuDeviceGet", a->device_get) && SYM(lib, "cuDeviceGetName", a->device_name) &&
              SYM(lib, "cuDeviceTotalMem_v2", a->total_mem) && SYM(lib, "cuDeviceGetAttribute", a->attribute);
    if (!SYM(lib, "cuDriverGetVersion", a->driver_version)) a->driver_version = NULL;
    /* Free memory needs a context; these are optional. */
    if (!SYM(lib, "cuDevicePrimaryCtxRetain", a->ctx_retain) ||
        !(SYM(lib, "cuDevicePrimaryCtxRelease_v2", a->ctx_release) ||
          SYM(lib, "cuDevicePrimaryCtxRelease", a->ctx_release)) ||
        !SYM(lib, "cuCtxPushCurrent_v2", a->ctx_push) || !SYM(lib, "cuCtxPopCurrent_v2", a->ctx_pop) ||
        !SYM(lib, "cuMemGetInfo_v2", a->mem_info))
        a->mem_info = NULL;
    return ok;
}

static void gpu_free_memory(const cuda_api *a, cu_device d, gr_gpu_info *g) {
    if (!a->mem_info) return;
    cu_context ctx = NULL;
    if (a->ctx_retain(&ctx, d) != 0) return;
    if (a->ctx_push(ctx) == 0) {
        size_t fr = 0, tot = 0;
        if (a->mem_info(&fr, &tot) == 0) {
            g->mem_free = fr;
            g->free_known = true;
        }
        cu_context popped;
        a->ctx_pop(&popped);
    }
    a->ctx_release(d);
}

static void probe_gpu(gr_probe *p, const gr_probe_opts *o) {
    const char *name = o && o->cuda_lib ? o->cuda_lib : "libcuda.so.1";
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(p->gpu_note, sizeof p->gpu_note, "no GPU: %s not found (no NVIDIA driver)", name);
        return;
    }
    cuda_api a = {0};
    if (!load_cuda(lib, &a)) {
        snprintf(p->gpu_note, sizeof p->gpu_note, "no GPU: %s lacks the CUDA driver API", name);
        dlclose(lib);
        return;
    }
    cu_result r = a.init(0);
    if (r != 0) {
        snprintf(p->gpu_note, sizeof p->gpu_note, "no GPU: cuInit failed (CUDA error %d)", r);
        return; /* after cuInit the driver stays loaded: unloading it under its own threads is unsafe */
    }
    if (a.driver_version) a.driver_version(&p->cuda_driver_version);
    int n = 0;
    if (a.device_count(&n) != 0 || n <= 0) {
        snprintf(p->gpu_note, sizeof p->gpu_note, "no GPU: the CUDA driver reports no device");
        return;
    }
    for (int i = 0; i < n && p->n_gpus < GR_PROBE_MAX_GPUS; i++) {
        cu_device d;
        if (a.device_get(&d, i) != 0) continue;
        gr_gpu_info *g = &p->gpus[p->n_gpus];
        memset(g, 0, sizeof *g);
        if (a.device_name(g->name, (int)sizeof g->name - 1, d) != 0) snprintf(g->name, sizeof g->name, "CUDA device %d", i);
        size_t tot = 0;
        if (a.total_mem(&tot, d) == 0) g->mem_total = tot;
        a.attribute(&g->cc_major, CU_ATTR_CC_MAJOR, d);
        a.attribute(&g->cc_minor, CU_ATTR_CC_MINOR, d);
        if (o && o->gpu_free) gpu_free_memory(&a, d, g);
        p->n_gpus++;
    }
    if (n > GR_PROBE_MAX_GPUS)
        snprintf(p->gpu_note, sizeof p->gpu_note, "%d CUDA devices, the first %d listed", n, GR_PROBE_MAX_GPUS);
}
#else
static void probe_gpu(gr_probe *p, const gr_probe_opts *o) {
    (void)o;
    snprintf(p->gpu_note, sizeof p->gpu_note, "no GPU: this build cannot load the CUDA driver");
}
#endif

gr_status gr_probe_run(gr_probe *p, const gr_probe_opts *opts, char *err, size_t errlen) {
    if (!p) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_probe_run: NULL probe");
    memset(p, 0, sizeof *p);
    probe_memory(p);
    probe_cpu(&p->cpu);
    probe_gpu(p, opts);
    return GR_OK;
}

/* ---- browser measurements ---------------------------------------------------------------------- */

/* Exact key comparison (keys may contain NUL bytes, which strcmp would stop at). */
static bool key_is(const gr_json_val *k, const char *s) {
    size_t n;
    const char *t = gr_json_str(k, &n);
    return t && n == strlen(s) && memcmp(t, s, n) == 0;
}

static gr_status size_field(const gr_json_val *v, const char *field, uint64_t *out, char *err, size_t errlen) {
    int64_t x;
    if (!gr_json_is(v, GR_JSON_NUMBER))
        return gr_err(GR_E_FORMAT, err, errlen, "%s: expected a number, found %s", field,
                      gr_json_type_name(gr_json_type_of(v)));
    if (gr_json_int(v, &x) != GR_OK || x < 0 || x > ((int64_t)1 << 53))
        return gr_err(GR_E_FORMAT, err, errlen, "%s: expected a byte count between 0 and 2^53", field);
    *out = (uint64_t)x;
    return GR_OK;
}

static gr_status bool_field(const gr_json_val *v, const char *field, bool *out, char *err, size_t errlen) {
    if (!gr_json_is(v, GR_JSON_TRUE))
        return gr_err(GR_E_FORMAT, err, errlen, "%s: expected true or false, found %s", field,
                      gr_json_type_name(gr_json_type_of(v)));
    *out = gr_json_bool(v);
    return GR_OK;
}

static gr_status parse_webgpu(const gr_json_val *o, gr_browser_caps *c, char *err, size_t errlen) {
    if (!gr_json_is(o, GR_JSON_OBJECT))
        return gr_err(GR_E_FORMAT, err, errlen, "webgpu: expected an object, found %s",
                      gr_json_type_name(gr_json_type_of(o)));
    c->webgpu = true;
    gr_status st = GR_OK;
    for (size_t i = 0; st == GR_OK && i < gr_json_len(o); i++) {
        const gr_json_val *k, *v;
        gr_json_member(o, i, &k, &v);
        const char *name = gr_json_str(k, NULL);
        char field[80];
        snprintf(field, sizeof field, "webgpu.%.60s", name);
        if (key_is(k, "adapter")) {
            size_t n;
            const char *s = gr_json_str(v, &n);
            if (!s) st = gr_err(GR_E_FORMAT, err, errlen, "%s: expected a string", field);
            else snprintf(c->adapter, sizeof c->adapter, "%.*s", (int)(n < 95 ? n : 95), s);
        } else if (key_is(k, "isFallbackAdapter")) st = bool_field(v, field, &c->fallback_adapter, err, errlen);
        else if (key_is(k, "shaderF16")) st = bool_field(v, field, &c->shader_f16, err, errlen);
        else if (key_is(k, "maxBufferSize")) st = size_field(v, field, &c->max_buffer_size, err, errlen);
        else if (key_is(k, "maxStorageBufferBindingSize"))
            st = size_field(v, field, &c->max_storage_buffer_binding_size, err, errlen);
        else
            st = gr_err(GR_E_FORMAT, err, errlen, "%s: unknown key", field);
    }
    return st;
}

gr_status gr_probe_set_browser(gr_probe *p, const char *json, size_t len, char *err, size_t errlen) {
    if (!p || !json) return gr_err(GR_E_INVALID_ARG, err, errlen, "gr_probe_set_browser: NULL argument");
    gr_json *doc;
    char jerr[200];
    gr_json_limits lim = {.max_depth = 8, .max_bytes = 65536, .max_nodes = 1000};
    gr_status st = gr_json_parse(json, len, &lim, &doc, jerr, sizeof jerr);
    if (st != GR_OK) return gr_err(st, err, errlen, "browser caps: %s", jerr);
    const gr_json_val *root = gr_json_root(doc);
    gr_browser_caps c = {0};
    if (!gr_json_is(root, GR_JSON_OBJECT))
        st = gr_err(GR_E_FORMAT, err, errlen, "browser caps: expected an object");
    for (size_t i = 0; st == GR_OK && i < gr_json_len(root); i++) {
        const gr_json_val *k, *v;
        gr_json_member(root, i, &k, &v);
        const char *name = gr_json_str(k, NULL);
        if (key_is(k, "deviceMemoryGB")) {
            double gb = gr_json_num(v);
            if (!gr_json_is(v, GR_JSON_NUMBER) || !(gb >= 0 && gb <= 1024))
                st = gr_err(GR_E_FORMAT, err, errlen, "deviceMemoryGB: expected a number between 0 and 1024");
            else
                c.device_memory_gb = gb;
        } else if (key_is(k, "webgpu")) {
            st = parse_webgpu(v, &c, err, errlen);
        } else {
            st = gr_err(GR_E_FORMAT, err, errlen, "%.60s: unknown key (expected deviceMemoryGB, webgpu)", name);
        }
    }
    if (st == GR_OK && c.max_storage_buffer_binding_size > c.max_buffer_size && c.max_buffer_size)
        st = gr_err(GR_E_FORMAT, err, errlen,
                    "webgpu.maxStorageBufferBindingSize: larger than webgpu.maxBufferSize (impossible)");
    gr_json_free(doc);
    if (st == GR_OK) {
        p->browser = true;
        p->web = c;
    }
    return st;
}

char *gr_probe_to_json(const gr_probe *p) {
    gr_jw w;
    gr_jw_init(&w);
    gr_jw_obj(&w);
    gr_jw_key(&w, "ram_total"), gr_jw_int(&w, (int64_t)p->ram_total);
    gr_jw_key(&w, "ram_available"), gr_jw_int(&w, (int64_t)p->ram_available);
    gr_jw_key(&w, "cgroup_limit"), gr_jw_int(&w, (int64_t)p->cgroup_limit);
    gr_jw_key(&w, "cpu");
    gr_jw_obj(&w);
    gr_jw_key(&w, "cores_online"), gr_jw_int(&w, p->cpu.cores_online);
    gr_jw_key(&w, "cores_usable"), gr_jw_int(&w, p->cpu.cores_usable);
    gr_jw_key(&w, "avx2"), gr_jw_bool(&w, p->cpu.avx2);
    gr_jw_key(&w, "avx512f"), gr_jw_bool(&w, p->cpu.avx512f);
    gr_jw_key(&w, "avx512vnni"), gr_jw_bool(&w, p->cpu.avx512vnni);
    gr_jw_key(&w, "neon"), gr_jw_bool(&w, p->cpu.neon);
    gr_jw_end(&w);
    gr_jw_key(&w, "gpus");
    gr_jw_arr(&w);
    for (int i = 0; i < p->n_gpus; i++) {
        const gr_gpu_info *g = &p->gpus[i];
        gr_jw_obj(&w);
        gr_jw_key(&w, "name"), gr_jw_str(&w, g->name);
        gr_jw_key(&w, "mem_total"), gr_jw_int(&w, (int64_t)g->mem_total);
        gr_jw_key(&w, "mem_free");
        if (g->free_known) gr_jw_int(&w, (int64_t)g->mem_free);
        else gr_jw_null(&w);
        gr_jw_key(&w, "compute_capability");
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", g->cc_major, g->cc_minor);
        gr_jw_str(&w, cc);
        gr_jw_end(&w);
    }
    gr_jw_end(&w);
    gr_jw_key(&w, "gpu_note"), gr_jw_str(&w, p->gpu_note);
    if (p->browser) {
        gr_jw_key(&w, "browser");
        gr_jw_obj(&w);
        gr_jw_key(&w, "deviceMemoryGB"), gr_jw_num(&w, p->web.device_memory_gb);
        gr_jw_key(&w, "webgpu"), gr_jw_bool(&w, p->web.webgpu);
        gr_jw_key(&w, "adapter"), gr_jw_str(&w, p->web.adapter);
        gr_jw_key(&w, "isFallbackAdapter"), gr_jw_bool(&w, p->web.fallback_adapter);
        gr_jw_key(&w, "maxBufferSize"), gr_jw_int(&w, (int64_t)p->web.max_buffer_size);
        gr_jw_end(&w);
    }
    gr_jw_end(&w);
    char *s = gr_jw_take(&w, NULL);
    gr_jw_free(&w);
    return s;
}

/* ---- memory bandwidth ---------------------------------------------------------------------------
 */

typedef struct bw_job {
    const uint64_t *buf;
    long n; /* words */
    uint64_t sums[256]; /* one per chunk (n_threads <= 256) */
} bw_job;

/* Four independent accumulators so the loop is bound by loads, not by the add chain. */
static void bw_sum(void *arg, int chunk, int nchunks, int thread) {
    (void)thread;
    bw_job *j = arg;
    long lo, hi;
    gr_split_range(j->n, chunk, nchunks, &lo, &hi);
    uint64_t a = 0, b = 0, c = 0, d = 0;
    long i = lo;
    for (; i + 4 <= hi; i += 4)
        a += j->buf[i], b += j->buf[i + 1], c += j->buf[i + 2], d += j->buf[i + 3];
    for (; i < hi; i++)
        a += j->buf[i];
    j->sums[chunk] = a + b + c + d;
}

gr_status gr_probe_mem_bandwidth(int n_threads, size_t bytes, double *bytes_per_s, char *err,
                                 size_t errlen) {
    if (!bytes_per_s) return gr_err(GR_E_INVALID_ARG, err, errlen, "bytes_per_s: NULL");
    *bytes_per_s = 0;
    if (n_threads < 1 || n_threads > 256)
        return gr_err(GR_E_INVALID_ARG, err, errlen, "n_threads: %d is not in 1..256", n_threads);
    if (!bytes) bytes = 256u << 20;
    if (bytes < (1u << 20))
        return gr_err(GR_E_INVALID_ARG, err, errlen, "bytes: %zu is below 1 MiB", bytes);
    bw_job *j = calloc(1, sizeof *j);
    uint64_t *buf = malloc(bytes);
    gr_pool *pool = NULL;
    if (!j || !buf || gr_pool_new(n_threads, &pool)) {
        free(j);
        free(buf);
        return gr_err(GR_E_NOMEM, err, errlen, "bandwidth probe: cannot allocate %zu bytes", bytes);
    }
    j->n = (long)(bytes / sizeof *buf);
    for (long i = 0; i < j->n; i++) /* touch every page (and defeat zero-page sharing) */
        buf[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull;
    j->buf = buf;
    double best = 1e30;
    for (int pass = 0; pass < 4; pass++) {
        double t0 = gr_now();
        gr_pool_run(pool, bw_sum, j, n_threads);
        double dt = gr_now() - t0;
        if (pass > 0 && dt < best) best = dt; /* pass 0 warms caches, TLB and threads */
    }
    uint64_t check = 0; /* consumed so the sums cannot be optimised away */
    for (int i = 0; i < n_threads; i++)
        check ^= j->sums[i];
    *bytes_per_s = (double)(j->n * (long)sizeof *buf) / (best > 1e-9 ? best : 1e-9);
    if (check == 0x5A5A5A5A5A5A5A5Aull) *bytes_per_s += 1; /* practically never; keeps `check` live */
    gr_pool_free(pool);
    free(buf);
    free(j);
    return GR_OK;
}
