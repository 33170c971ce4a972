/* probe.h — hardware probe: what this machine (or browser page) offers for local inference: total and
 * available RAM (respecting a cgroup memory limit), CPU cores and SIMD features, and dedicated GPU
 * memory through the CUDA driver API, which is loaded at run time with dlopen("libcuda.so.1") so the
 * binary runs (and reports "no GPU") where CUDA is absent. The browser build passes in what the page
 * measured (navigator.deviceMemory, WebGPU adapter limits) as JSON. It must not link against CUDA,
 * allocate GPU memory, or decide anything: the fit plan (registry) decides from these numbers.
 *
 * Thread safety: gr_probe_run may be called from any thread; a gr_probe is plain data. */
#ifndef GR_LAYER_PROBE_H
#define GR_LAYER_PROBE_H

#include "gemrun.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_PROBE_MAX_GPUS 8

typedef struct gr_gpu_info {
    char name[96];
    uint64_t mem_total; /* bytes (cuDeviceTotalMem) */
    uint64_t mem_free;  /* bytes (cuMemGetInfo); valid when free_known */
    bool free_known;
    int cc_major, cc_minor; /* compute capability */
} gr_gpu_info;

typedef struct gr_cpu_info {
    int cores_online; /* sysconf(_SC_NPROCESSORS_ONLN) */
    int cores_usable; /* CPUs in this process's affinity mask (containers, taskset) */
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vnni, neon;
} gr_cpu_info;

/* What a browser page measured. All fields optional (0 / false / "" = not reported). */
typedef struct gr_browser_caps {
    double device_memory_gb;  /* navigator.deviceMemory (rounded by browsers, capped at 8 by Chrome) */
    bool webgpu;              /* an adapter was obtained */
    bool fallback_adapter;    /* GPUAdapterInfo.isFallbackAdapter (software rasteriser) */
    bool shader_f16;          /* the "shader-f16" feature */
    uint64_t max_buffer_size; /* GPUAdapter.limits.maxBufferSize */
    uint64_t max_storage_buffer_binding_size;
    char adapter[96];         /* vendor / architecture / description */
} gr_browser_caps;

typedef struct gr_probe {
    uint64_t ram_total;     /* bytes; min(physical, cgroup limit) */
    uint64_t ram_available; /* bytes the process could still use */
    uint64_t cgroup_limit;  /* bytes; 0 = no limit found */
    gr_cpu_info cpu;
    int n_gpus;
    gr_gpu_info gpus[GR_PROBE_MAX_GPUS];
    char gpu_note[160]; /* why there is no GPU ("no GPU: libcuda.so.1 not found"), or driver notes */
    int cuda_driver_version; /* cuDriverGetVersion, e.g. 12040; 0 when absent */
    bool browser;            /* web caps below were passed in */
    gr_browser_caps web;
} gr_probe;

typedef struct gr_probe_opts {
    bool gpu_free;        /* also query free GPU memory (retains the primary context: ~100 ms) */
    const char *cuda_lib; /* NULL: "libcuda.so.1" (tests pass a missing name to check the no-GPU path) */
} gr_probe_opts;

/* Fill *p for this machine. Missing sources are not errors (fields stay 0 and notes say why); the
 * status is GR_OK unless arguments are bad. opts may be NULL. */
gr_status gr_probe_run(gr_probe *p, const gr_probe_opts *opts, char *err, size_t errlen);

/* Parse /proc/meminfo text: MemTotal and MemAvailable in bytes. GR_E_FORMAT naming the missing or
 * malformed field. */
gr_status gr_probe_parse_meminfo(const char *text, uint64_t *total, uint64_t *available, char *err,
                                 size_t errlen);

/* Browser measurements as JSON, e.g.
 *   {"deviceMemoryGB": 8, "webgpu": {"adapter": "nvidia ampere", "isFallbackAdapter": false,
 *    "shaderF16": true, "maxBufferSize": 4294967296, "maxStorageBufferBindingSize": 2147483648}}
 * Unknown keys, wrong types and impossible numbers (negative, deviceMemoryGB > 1024, sizes above
 * 2^53) are GR_E_FORMAT errors naming the field. On success p->browser and p->web are set. */
gr_status gr_probe_set_browser(gr_probe *p, const char *json, size_t len, char *err, size_t errlen);

/* The probe as a JSON object (for `gemrun plan`, /health). Returns a malloc'ed string or NULL. */
char *gr_probe_to_json(const gr_probe *p);

/* Memory read bandwidth (bytes/s): n_threads (>= 1) sum a `bytes` buffer (0: 256 MiB; at least
 * 1 MiB), best of 3 passes after one warm-up pass. About 50-150 ms for 256 MiB. GR_E_INVALID_ARG
 * for bad arguments, GR_E_NOMEM when the buffer cannot be allocated. The runtime check
 * (runtime_check.h) divides bytes read per decoded token by this. */
gr_status gr_probe_mem_bandwidth(int n_threads, size_t bytes, double *bytes_per_s, char *err,
                                 size_t errlen);

#endif
