/* peak_avx512.c - an FMA loop with 12 independent accumulators, enough to
 * cover the FMA latency on 2 pipes; compiled with avx512 flags (Makefile). */
#include <immintrin.h>

#include "peak.h"

double peak_loop_avx512(long iters, float *sink) {
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 16 * 12 * (double)iters;
}
