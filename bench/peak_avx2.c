/* peak_avx2.c - an FMA loop with 12 independent accumulators, enough to
 * cover the FMA latency on 2 pipes; compiled with avx2 flags (Makefile). */
#include <immintrin.h>

#include "peak.h"
static float hsum256(__m256 v) {
    float t[8];
    _mm256_storeu_ps(t, v);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
double peak_loop_avx2(long iters, float *sink) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, acc[i]);
    *sink = hsum256(s);
    return 2.0 * 8 * 12 * (double)iters;
}
