/* peak_fma.c - measures the machine's fp32 FMA peak: independent chains of
 * vector FMAs (AVX-512 when the CPU has it, else AVX2), on one core and on
 * all OpenMP threads. Prints GFLOP/s; the kernels' GFLOP/s are read against it.
 *
 *   build/bench/peak_fma [seconds]
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12 /* > latency x throughput, so the FMA units never wait */

__attribute__((target("avx512f"))) static double run512(long iters) {
    __m512 acc[CHAINS], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    float s = 0, tmp[16];
    for (int i = 0; i < CHAINS; i++) {
        _mm512_storeu_ps(tmp, acc[i]);
        s += tmp[0];
    }
    return s;
}

__attribute__((target("avx2,fma"))) static double run256(long iters) {
    __m256 acc[CHAINS], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    float s = 0, tmp[8];
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(tmp, acc[i]);
        s += tmp[0];
    }
    return s;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GFLOP/s with `threads` threads each running the loop, per wall second and
 * (in *per_cpu) per CPU second used, which a shared, loaded machine does not
 * distort as much. */
static double measure(int threads, int wide, long iters, double *sink, double *per_cpu) {
    double t0 = omp_get_wtime(), c0 = cpu_seconds(), s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
    s += wide ? run512(iters) : run256(iters);
    double dt = omp_get_wtime() - t0, dc = cpu_seconds() - c0;
    *sink += s;
    double flop = (double)threads * iters * CHAINS * (wide ? 16 : 8) * 2;
    *per_cpu = flop / dc * 1e-9;
    return flop / dt * 1e-9;
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    __builtin_cpu_init();
    int wide = __builtin_cpu_supports("avx512f");
    if (!wide && !__builtin_cpu_supports("fma")) {
        printf("peak_fma: no FMA on this CPU\n");
        return 1;
    }
    double sink = 0;
    long iters = 1000000;
    while (1) { /* calibrate to ~secs on one core */
        double t0 = omp_get_wtime();
        sink += wide ? run512(iters) : run256(iters);
        if (omp_get_wtime() - t0 > secs / 4 || iters > (1L << 40)) break;
        iters *= 2;
    }
    iters *= 4;
    int all = omp_get_max_threads();
    double best1 = 0, bestn = 0, cpu1 = 0, cpun = 0, c;
    for (int r = 0; r < 3; r++) {
        double g1 = measure(1, wide, iters, &sink, &c);
        cpu1 = c > cpu1 ? c : cpu1;
        double gn = measure(all, wide, iters, &sink, &c);
        cpun = c > cpun ? c : cpun;
        best1 = g1 > best1 ? g1 : best1;
        bestn = gn > bestn ? gn : bestn;
    }
    printf("fp32 FMA peak (%s): %.1f GFLOP/s on 1 core, %.1f GFLOP/s on %d threads (best of 3, "
           "wall clock)\n", wide ? "avx512" : "avx2", best1, bestn, all);
    printf("  per CPU-second: %.1f GFLOP/s per core (x%d = %.1f if the cores were not shared)\n",
           cpu1, all, cpu1 * all);
    return sink == 12345.0; /* keep the work alive */
}
