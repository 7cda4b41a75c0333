/* bench_augment.c - micro-measurement: time to augment a batch of 32 CIFAR
 * images with a spec (default the notebook's), 1 thread and all threads.
 * Not part of the build or the tests. Build and run from the repo root:
 *   make && cc -O3 -std=c17 -fopenmp -o build/bench_augment tools/bench_augment.c \
 *       build/src/augment.o build/src/rng.o build/src/common.o -lm
 *   build/bench_augment ["hflip,vflip,zoom=0.5:1.0"] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <omp.h>

#include "../src/augment.h"
#include "../src/cifar10.h"

int main(int argc, char **argv) {
    const char *text = argc > 1 ? argv[1] : "hflip,vflip,zoom=0.5:1.0";
    AugSpec spec;
    Err e;
    if (aug_parse(&spec, text, &e)) {
        fprintf(stderr, "bench_augment: %s\n", e.msg);
        return 2;
    }
    enum { N = 1024, B = 32, REPS = 3000 };
    uint8_t *img = xmalloc((size_t)N * CIFAR_PIXELS), *lab = xcalloc(N, 1);
    Rng r = rng_stream(1, 1);
    for (size_t i = 0; i < (size_t)N * CIFAR_PIXELS; i++) img[i] = (uint8_t)rng_below(&r, 256);
    ImageSet set = {N, img, lab};
    float *out = xalloc_floats((size_t)B * CIFAR_PIXELS);
    int idx[B];
    int threads[2] = {1, omp_get_max_threads()};
    for (int t = 0; t < 2; t++) {
        double best = 1e9, best_cpu = 1e9;
        for (int trial = 0; trial < 3; trial++) {
            struct timespec c0, c1;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
            double t0 = now_seconds();
            for (int rep = 0; rep < REPS; rep++) {
                for (int i = 0; i < B; i++) idx[i] = (rep * B + i) % N;
                aug_batch(&spec, &set, idx, B, 1, (uint64_t)rep, out, threads[t]);
            }
            double us = (now_seconds() - t0) / REPS * 1e6;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
            double cpu = ((c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) * 1e-9) / REPS * 1e6;
            if (us < best) best = us;
            if (cpu < best_cpu) best_cpu = cpu;
        }
        printf("%s: batch of %d, %d thread(s): %.1f us wall, %.1f us CPU (all threads)\n", text,
               B, threads[t], best, best_cpu);
    }
    free(img), free(lab), free(out);
    return 0;
}
