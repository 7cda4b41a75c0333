/* cpu_portable.c - the fast CPU kernels (cpu_impl.h) in portable C: 4-float
 * GCC/Clang vectors (SSE2 on x86-64, NEON on arm64, scalar elsewhere), 6 x 8
 * micro-tiles. Runs on any CPU; the fallback when AVX2 is missing. */
#include <string.h>

#include "cpu.h"

typedef float V __attribute__((vector_size(16)));
#define VL 4
#define MR 6
#define NV 2

static inline V v_load(const float *p) {
    V x;
    memcpy(&x, p, sizeof x);
    return x;
}
static inline void v_store(float *p, V x) { memcpy(p, &x, sizeof x); }
static inline V v_set1(float f) { return (V){f, f, f, f}; }
static inline V v_zero(void) { return (V){0, 0, 0, 0}; }
static inline V v_fma(V a, V b, V c) { return a * b + c; }
static inline V v_max(V a, V b) {
    __typeof__(a > b) gt = a > b;
    return (V)((gt & (__typeof__(gt))a) | (~gt & (__typeof__(gt))b));
}
#define KT_NAME "portable"
#define KT_GETTER kernels_portable

#include "cpu_impl.h"
