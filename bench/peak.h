/* peak.h - measures this machine's fp32 FMA peak (GFLOP/s, all threads). */
#ifndef AUGPROBE_BENCH_PEAK_H
#define AUGPROBE_BENCH_PEAK_H
double peak_gflops(int threads);
/* The AVX-512 and AVX2 loops (bench/peak_avx512.c, bench/peak_avx2.c):
 * FLOPs done per call of `iters` iterations is returned. */
double peak_loop_avx512(long iters, float *sink);
double peak_loop_avx2(long iters, float *sink);
#endif
