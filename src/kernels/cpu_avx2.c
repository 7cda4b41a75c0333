/* cpu_avx2.c - the fast CPU kernels (cpu_impl.h) for AVX2 + FMA: 6 x 16
 * micro-tiles in ymm registers. Built with the Makefile's AVX2 flags and only
 * called when the CPU reports AVX2 and FMA (see kernels.c). */
#include <immintrin.h>

#include "cpu.h"

typedef __m256 V;
#define VL 8
#define MR 6
#define NV 2
#define v_load(p) _mm256_loadu_ps(p)
#define v_store(p, x) _mm256_storeu_ps((p), (x))
#define v_set1(f) _mm256_set1_ps(f)
#define v_zero() _mm256_setzero_ps()
#define v_fma(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define v_max(a, b) _mm256_max_ps((a), (b))
#define KT_NAME "avx2"
#define KT_GETTER kernels_avx2

#include "cpu_impl.h"
