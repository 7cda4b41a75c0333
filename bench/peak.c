/* peak.c - runs the widest FMA loop this CPU supports on every thread. */
#include "peak.h"

#include "../src/common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

double peak_gflops(int threads) {
    int avx512 = __builtin_cpu_supports("avx512f");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!avx512 && !avx2) return 0;
    const long iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double flops = 0;
        float sink = 0;
        double t0 = now_seconds();
#pragma omp parallel num_threads(threads) reduction(+ : flops, sink)
        {
            float s;
            flops += avx512 ? peak_loop_avx512(iters, &s) : peak_loop_avx2(iters, &s);
            sink += s;
        }
        double g = flops / (now_seconds() - t0) / 1e9;
        if (sink == 12345.0f) g += 0; /* keep the result alive */
        if (g > best) best = g;
    }
    return best;
}
