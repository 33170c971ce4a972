/* test_probe.c — the hardware probe: RAM against sysconf and /proc/meminfo, cores against sysconf,
 * CPU features against /proc/cpuinfo, the no-GPU path (a missing driver library), real GPUs when the
 * environment says one exists (GR_EXPECT_GPU=1; checked against nvidia-smi when present), meminfo
 * parsing, browser measurements (valid and impossible values), and the JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "layer/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_memory_and_cpu(void **state) {
    (void)state;
    gr_probe p;
    char err[200];
    assert_int_equal(gr_probe_run(&p, NULL, err, sizeof err), GR_OK);
    uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    assert_true(p.ram_total > 0);
    assert_true(p.ram_available > 0);
    assert_true(p.ram_available <= p.ram_total);
    assert_true(p.ram_total <= phys + phys / 100);
    if (p.cgroup_limit == 0) { /* no container limit: MemTotal is the physical memory */
        double ratio = (double)p.ram_total / (double)phys;
        assert_true(ratio > 0.99 && ratio < 1.01);
    } else {
        assert_int_equal(p.ram_total, p.cgroup_limit);
    }
    assert_int_equal(p.cpu.cores_online, (int)sysconf(_SC_NPROCESSORS_ONLN));
    assert_true(p.cpu.cores_usable >= 1 && p.cpu.cores_usable <= p.cpu.cores_online);
#if defined(__x86_64__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[8192];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "flags", 5)) break;
        fclose(f);
        assert_int_equal(p.cpu.avx2, strstr(line, " avx2") != NULL);
        assert_int_equal(p.cpu.avx512f, strstr(line, " avx512f") != NULL);
        assert_int_equal(p.cpu.fma, strstr(line, " fma") != NULL);
    }
    assert_false(p.cpu.neon);
#endif
}

static void test_no_gpu_path(void **state) {
    (void)state;
    gr_probe p;
    gr_probe_opts o = {.gpu_free = true, .cuda_lib = "libgemrun-no-such-cuda.so.1"};
    assert_int_equal(gr_probe_run(&p, &o, NULL, 0), GR_OK);
    assert_int_equal(p.n_gpus, 0);
    assert_int_equal(p.cuda_driver_version, 0);
    assert_string_equal(p.gpu_note, "no GPU: libgemrun-no-such-cuda.so.1 not found (no NVIDIA driver)");
    /* a library that exists but is not the CUDA driver */
    o.cuda_lib = "libm.so.6";
    assert_int_equal(gr_probe_run(&p, &o, NULL, 0), GR_OK);
    assert_int_equal(p.n_gpus, 0);
    assert_string_equal(p.gpu_note, "no GPU: libm.so.6 lacks the CUDA driver API");
    assert_int_equal(gr_probe_run(NULL, &o, NULL, 0), GR_E_INVALID_ARG);
}

/* Total memory of GPU 0 in MiB from nvidia-smi, 0 if unavailable. */
static long nvidia_smi_total_mib(void) {
    FILE *f = popen("nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null", "r");
    if (!f) return 0;
    long mib = 0;
    if (fscanf(f, "%ld", &mib) != 1) mib = 0;
    pclose(f);
    return mib;
}

static void test_real_gpu(void **state) {
    (void)state;
    gr_probe p;
    gr_probe_opts o = {.gpu_free = true};
    assert_int_equal(gr_probe_run(&p, &o, NULL, 0), GR_OK);
    const char *expect = getenv("GR_EXPECT_GPU");
    print_message("probe: %d GPU(s); %s\n", p.n_gpus, p.n_gpus ? p.gpus[0].name : p.gpu_note);
    if (!expect || strcmp(expect, "1") != 0) {
        /* Either a GPU was found or the note says why not; never a half-filled record. */
        if (p.n_gpus == 0) assert_true(strncmp(p.gpu_note, "no GPU", 6) == 0);
        for (int i = 0; i < p.n_gpus; i++) assert_true(p.gpus[i].mem_total > 0);
        return;
    }
    assert_true(p.n_gpus >= 1);
    const gr_gpu_info *g = &p.gpus[0];
    print_message("probe: %s, %.2f GiB total, %.2f GiB free, cc %d.%d, driver %d\n", g->name,
                  (double)g->mem_total / (1 << 30), (double)g->mem_free / (1 << 30), g->cc_major, g->cc_minor,
                  p.cuda_driver_version);
    assert_true(g->mem_total > ((uint64_t)1 << 30));
    assert_true(g->free_known);
    assert_true(g->mem_free > 0 && g->mem_free <= g->mem_total);
    assert_true(g->cc_major >= 3);
    assert_true(p.cuda_driver_version >= 9000);
    long mib = nvidia_smi_total_mib();
    if (mib > 0) {
        double ratio = (double)g->mem_total / ((double)mib * 1048576.0);
        assert_true(ratio > 0.99 && ratio < 1.01);
    }
}

static void test_parse_meminfo(void **state) {
    (void)state;
    uint64_t t, a;
    char err[200];
    const char *ok = "MemTotalX:      1 kB\nMemTotal:       16318504 kB\nMemFree:  1 kB\nMemAvailable:   10000000 kB\n";
    assert_int_equal(gr_probe_parse_meminfo(ok, &t, &a, err, sizeof err), GR_OK);
    assert_true(t == 16318504ull * 1024);
    assert_true(a == 10000000ull * 1024);
    assert_int_equal(gr_probe_parse_meminfo("MemTotal: 100 kB\n", &t, &a, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "meminfo: MemAvailable missing");
    assert_int_equal(gr_probe_parse_meminfo("MemTotal: lots\nMemAvailable: 1 kB\n", &t, &a, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "meminfo MemTotal: not a number");
    assert_int_equal(gr_probe_parse_meminfo("MemTotal: 5 MB\nMemAvailable: 1 kB\n", &t, &a, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "meminfo MemTotal: unit is not kB");
    assert_int_equal(gr_probe_parse_meminfo("MemTotal: 5 kB\nMemAvailable: 9 kB\n", &t, &a, err, sizeof err), GR_E_FORMAT);
    assert_string_equal(err, "meminfo: MemAvailable exceeds MemTotal");
    assert_int_equal(gr_probe_parse_meminfo("MemTotal: 99999999999999999999999 kB\n", &t, &a, err, sizeof err),
                     GR_E_FORMAT);
    assert_string_equal(err, "meminfo MemTotal: too large");
    assert_int_equal(gr_probe_parse_meminfo("", &t, &a, err, sizeof err), GR_E_FORMAT);
    assert_int_equal(gr_probe_parse_meminfo(NULL, &t, &a, err, sizeof err), GR_E_INVALID_ARG);
}

static void expect_browser_error(const char *json, const char *want) {
    gr_probe p = {0};
    char err[256] = "";
    assert_int_equal(gr_probe_set_browser(&p, json, strlen(json), err, sizeof err), GR_E_FORMAT);
    if (!strstr(err, want)) fail_msg("%s: error \"%s\" lacks \"%s\"", json, err, want);
    assert_false(p.browser);
}

static void test_browser_caps(void **state) {
    (void)state;
    gr_probe p = {0};
    char err[256];
    const char *js = "{\"deviceMemoryGB\": 8, \"webgpu\": {\"adapter\": \"nvidia ampere\", \"isFallbackAdapter\": false,"
                     " \"shaderF16\": true, \"maxBufferSize\": 4294967296, \"maxStorageBufferBindingSize\": 2147483648}}";
    assert_int_equal(gr_probe_set_browser(&p, js, strlen(js), err, sizeof err), GR_OK);
    assert_true(p.browser);
    assert_true(p.web.device_memory_gb == 8.0);
    assert_true(p.web.webgpu);
    assert_false(p.web.fallback_adapter);
    assert_true(p.web.shader_f16);
    assert_true(p.web.max_buffer_size == 4294967296ull);
    assert_true(p.web.max_storage_buffer_binding_size == 2147483648ull);
    assert_string_equal(p.web.adapter, "nvidia ampere");
    const char *nogpu = "{\"deviceMemoryGB\": 0.5}";
    gr_probe q = {0};
    assert_int_equal(gr_probe_set_browser(&q, nogpu, strlen(nogpu), err, sizeof err), GR_OK);
    assert_false(q.web.webgpu);
    assert_true(q.web.device_memory_gb == 0.5);

    expect_browser_error("{\"deviceMemoryGB\": -1}", "deviceMemoryGB: expected a number between 0 and 1024");
    expect_browser_error("{\"deviceMemoryGB\": 5000}", "deviceMemoryGB: expected a number between 0 and 1024");
    expect_browser_error("{\"deviceMemoryGB\": \"8\"}", "deviceMemoryGB: expected a number");
    expect_browser_error("{\"webgpu\": {\"maxBufferSize\": -5}}", "webgpu.maxBufferSize: expected a byte count");
    expect_browser_error("{\"webgpu\": {\"maxBufferSize\": 1e300}}", "webgpu.maxBufferSize: expected a byte count");
    expect_browser_error("{\"webgpu\": {\"maxBufferSize\": 1.5}}", "webgpu.maxBufferSize: expected a byte count");
    expect_browser_error("{\"webgpu\": {\"maxBufferSize\": \"big\"}}", "webgpu.maxBufferSize: expected a number, found string");
    expect_browser_error("{\"webgpu\": {\"shaderF16\": 1}}", "webgpu.shaderF16: expected true or false, found number");
    expect_browser_error("{\"webgpu\": {\"foo\": 1}}", "webgpu.foo: unknown key");
    expect_browser_error("{\"webgpu\": []}", "webgpu: expected an object, found array");
    expect_browser_error("{\"vram\": 8}", "vram: unknown key");
    expect_browser_error("{\"webgpu\": {\"maxBufferSize\": 1024, \"maxStorageBufferBindingSize\": 4096}}",
                         "webgpu.maxStorageBufferBindingSize: larger than webgpu.maxBufferSize");
    expect_browser_error("{\"deviceMemoryGB\": 8", "browser caps: line 1 col 21:");
}

static void test_to_json(void **state) {
    (void)state;
    gr_probe p;
    gr_probe_opts o = {.cuda_lib = "libgemrun-no-such-cuda.so.1"};
    gr_probe_run(&p, &o, NULL, 0);
    const char *js = "{\"deviceMemoryGB\": 4, \"webgpu\": {\"adapter\": \"intel \\\"xe\\\"\", \"maxBufferSize\": 268435456}}";
    assert_int_equal(gr_probe_set_browser(&p, js, strlen(js), NULL, 0), GR_OK);
    char *s = gr_probe_to_json(&p);
    assert_non_null(s);
    gr_json *doc;
    char err[200];
    assert_int_equal(gr_json_parse(s, strlen(s), NULL, &doc, err, sizeof err), GR_OK);
    const gr_json_val *r = gr_json_root(doc);
    int64_t v;
    assert_int_equal(gr_json_int(gr_json_get(r, "ram_total"), &v), GR_OK);
    assert_true((uint64_t)v == p.ram_total);
    assert_int_equal(gr_json_int(gr_json_get(gr_json_get(r, "cpu"), "cores_online"), &v), GR_OK);
    assert_int_equal(v, p.cpu.cores_online);
    assert_int_equal(gr_json_len(gr_json_get(r, "gpus")), 0);
    assert_string_equal(gr_json_str(gr_json_get(r, "gpu_note"), NULL), p.gpu_note);
    const gr_json_val *b = gr_json_get(r, "browser");
    assert_string_equal(gr_json_str(gr_json_get(b, "adapter"), NULL), "intel \"xe\"");
    assert_true(gr_json_num(gr_json_get(b, "deviceMemoryGB")) == 4.0);
    gr_json_free(doc);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_and_cpu), cmocka_unit_test(test_no_gpu_path),
        cmocka_unit_test(test_real_gpu),       cmocka_unit_test(test_parse_meminfo),
        cmocka_unit_test(test_browser_caps),   cmocka_unit_test(test_to_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
