/* cpu_avx512.c - the fast CPU kernels (cpu_impl.h) for AVX-512F: 14 x 32
 * micro-tiles in zmm registers. Built with the Makefile's AVX-512 flags and
 * only called when the CPU reports AVX-512F (see kernels.c). */
#include <immintrin.h>

#include "cpu.h"

typedef __m512 V;
#define VL 16
#define MR 14
#define NV 2
#define v_load(p) _mm512_loadu_ps(p)
#define v_store(p, x) _mm512_storeu_ps((p), (x))
#define v_set1(f) _mm512_set1_ps(f)
#define v_zero() _mm512_setzero_ps()
#define v_fma(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define v_max(a, b) _mm512_max_ps((a), (b))
#define KT_NAME "avx512"
#define KT_GETTER kernels_avx512

#include "cpu_impl.h"
