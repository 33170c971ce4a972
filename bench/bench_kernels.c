/* bench_kernels.c — single-thread throughput of the matvec kernels (decode's hot loop): GB/s of
 * weight bytes read per type and ISA, for a cache-resident matrix ("hot") and for many copies
 * rotated so every pass comes from DRAM ("cold"), next to plain memory read/copy bandwidth.
 * Usage: bench_kernels [seconds-per-case] [type-filter]. Not a test: prints numbers only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static uint32_t rng(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Memory bandwidth: sum of 64-bit words (read) and memcpy (read+write, counted as 2x bytes). */
static void bench_memory(size_t bytes, double secs) {
    uint64_t *a = malloc(bytes), *b = malloc(bytes);
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    const size_t nw = bytes / 8;
    uint64_t sink = 0;
    double best_r = 0, best_c = 0;
    for (int trial = 0; trial < 10; trial++) { /* best of 10: the machine is shared */
        const double t0 = now();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < nw; i += 4) s0 += a[i], s1 += a[i + 1], s2 += a[i + 2], s3 += a[i + 3];
        sink += s0 + s1 + s2 + s3;
        const double r = (double)bytes / (now() - t0) / 1e9;
        best_r = r > best_r ? r : best_r;
        const double t1 = now();
        memcpy(b, a, bytes);
        a[(size_t)trial * 7 % nw] = b[(size_t)trial * 13 % nw];
        const double c = 2.0 * (double)bytes / (now() - t1) / 1e9;
        best_c = c > best_c ? c : best_c;
    }
    (void)secs;
    printf("memory read (sum)  %7.1f GB/s   (%zu MB buffer)\n", best_r, bytes >> 20);
    printf("memory copy        %7.1f GB/s   (read+write bytes)\n", best_c);
    if (sink == 42) printf(" ");
    free(a), free(b);
}

/* Returns GB/s of weight bytes for `copies` rotated copies of a rows x n matrix. */
static double bench_matvec(const gr_kernels *k, gr_type t, int64_t rows, int64_t n, int copies, double secs) {
    const gr_kernels *ref = gr_kernels_get(GR_ISA_SCALAR);
    const size_t rs = gr_row_size(t, n), mat = rs * (size_t)rows;
    uint8_t *w = malloc(mat * (size_t)copies);
    float *row = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)rows);
    uint32_t seed = 12345;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) row[i] = (float)(rng(&seed) >> 8) / 8388608.0f - 1.0f;
        ref->from_float[t](row, w + (size_t)r * rs, n);
    }
    for (int c = 1; c < copies; c++) memcpy(w + mat * (size_t)c, w, mat);
    const gr_type vt = k->vec_dot_type[t];
    uint8_t *x = malloc(gr_row_size(vt, n) + 64);
    k->from_float[vt](row, x, n);
    /* Best of 10 trials: the machine is shared, the fastest trial is the kernel's own speed. */
    double best = 0;
    int reps = 0;
    for (int trial = 0; trial < 10; trial++) {
        int done = 0;
        double t0 = now(), el;
        do {
            gr_matmul(k, t, w + mat * (size_t)(reps % copies), rs, x, 0, y, rows, n, 0, rows, 1);
            reps++, done++;
        } while ((el = now() - t0) < secs / 10);
        const double gbs = (double)mat * done / el / 1e9;
        if (gbs > best) best = gbs;
    }
    free(w), free(row), free(y), free(x);
    return best;
}

int main(int argc, char **argv) {
    const double secs = argc > 1 ? atof(argv[1]) : 0.3;
    const char *filter = argc > 2 ? argv[2] : NULL;
    static const gr_type types[] = {GR_TYPE_Q4_0, GR_TYPE_Q8_0, GR_TYPE_Q4_1, GR_TYPE_Q5_0, GR_TYPE_Q5_1,
                                    GR_TYPE_Q4_K, GR_TYPE_Q5_K, GR_TYPE_Q6_K, GR_TYPE_F16,  GR_TYPE_BF16,
                                    GR_TYPE_F32};
    static const int64_t shapes[][2] = {{2048, 1536}, {6144, 1536}};
    bench_memory((size_t)256 << 20, secs);
    printf("GB/s of weights, single thread; hot = one matrix (cache), cold = copies rotated through >=256 MB\n");
    printf("%-6s %-11s %9s %9s %9s %9s %9s %9s\n", "type", "rows x n", "scal.hot", "avx2.hot", "512.hot",
           "scal.cold", "avx2.cold", "512.cold");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const gr_type t = types[ti];
        if (filter && !strstr(filter, gr_type_get(t)->name)) continue;
        for (size_t si = 0; si < 2; si++) {
            const int64_t rows = shapes[si][0], n = shapes[si][1];
            const size_t mat = gr_row_size(t, n) * (size_t)rows;
            const int copies = (int)(((size_t)256 << 20) / mat) + 1;
            double r[2][GR_ISA_COUNT];
            for (int isa = 0; isa < GR_ISA_COUNT; isa++) {
                const gr_kernels *k = gr_kernels_get((gr_isa)isa);
                r[0][isa] = k ? bench_matvec(k, t, rows, n, 1, secs) : 0;
                r[1][isa] = k ? bench_matvec(k, t, rows, n, copies, secs) : 0;
            }
            printf("%-6s %5lldx%-5lld %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", gr_type_get(t)->name, (long long)rows,
                   (long long)n, r[0][0], r[0][1], r[0][2], r[1][0], r[1][1], r[1][2]);
            fflush(stdout);
        }
    }
    return 0;
}
