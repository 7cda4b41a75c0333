/* kernels_bench.c - times each heavy layer of the seed CNN through a Kernels
 * table at a given batch size: forward and backward ms and GFLOP/s per layer,
 * the memory-bound layers (BN, pool, ReLU backward), and the sum as one
 * training step (images/s) and one inference pass. Each figure is the best
 * of --reps runs (the machine is shared; the best is the least disturbed).
 * --clock cpu times by process CPU seconds / threads instead of wall clock:
 * on a loaded shared machine this is closer to what the code would do alone
 * (it counts OpenMP spin-waiting, so it errs on the slow side).
 *
 *   build/bench/kernels/kernels_bench [--kernels NAME] [--batch N] [--threads T] [--reps R]
 *                             [--clock wall|cpu]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/common.h"
#include "../../src/kernels/kernels.h"
#include "../../src/omp_defaults.h"
#include "../peak.h"

typedef struct {
    const char *name;
    int H, W, Cin, Cout, pool; /* conv 3x3 (+ReLU, BN[, pool]) or dense when H == 0 */
} LayerSpec;

static const LayerSpec SEED[] = {
    {"conv1 32x32 3->32", 32, 32, 3, 32, 0},     {"conv2 32x32 32->32", 32, 32, 32, 32, 1},
    {"conv3 16x16 32->64", 16, 16, 32, 64, 0},   {"conv4 16x16 64->64", 16, 16, 64, 64, 1},
    {"conv5 8x8 64->128", 8, 8, 64, 128, 0},     {"conv6 8x8 128->128", 8, 8, 128, 128, 1},
    {"dense1 2048->1024", 0, 0, 2048, 1024, 0}, {"dense2 1024->10", 0, 0, 1024, 10, 0},
};

static int use_cpu_clock;
static int clock_threads = 1;

static double now(void) {
    if (!use_cpu_clock) return omp_get_wtime();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (ts.tv_sec + ts.tv_nsec * 1e-9) / clock_threads;
}

static double best_ms(double *t, int n) {
    double b = t[0];
    for (int i = 1; i < n; i++) b = t[i] < b ? t[i] : b;
    return b * 1e3;
}

static void fill(float *x, long n, unsigned seed) {
    for (long i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

int main(int argc, char **argv) {
    omp_default_wait(argv);
    const char *kname = "auto";
    int B = 32, threads = omp_get_max_threads(), reps = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kernels")) kname = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clock")) use_cpu_clock = !strcmp(argv[i + 1], "cpu");
        else {
            fprintf(stderr, "usage: kernels_bench [--kernels NAME] [--batch N] [--threads T] [--reps R] [--clock wall|cpu]\n");
            return 2;
        }
    }
    const Kernels *k = kernels_by_name(kname);
    if (!k || B < 1 || threads < 1 || reps < 1) {
        fprintf(stderr, "kernels_bench: bad --kernels/--batch/--threads/--reps\n");
        return 2;
    }
    KernelCtx ctx;
    kctx_init(&ctx, threads);
    clock_threads = threads;
    long maxact = (long)B * 32 * 32 * 128;
    float *in = xalloc_floats(maxact), *out = xalloc_floats(maxact), *dout = xalloc_floats(maxact);
    float *din = xalloc_floats(maxact), *w = xalloc_floats(2048 * 1024), *dw = xalloc_floats(2048 * 1024);
    float *bias = xalloc_floats(1024), *db = xalloc_floats(1024), *v[8];
    for (int i = 0; i < 8; i++) v[i] = xalloc_floats(1024);
    fill(in, maxact, 1), fill(dout, maxact, 2), fill(w, 2048 * 1024, 3), fill(bias, 1024, 4);
    for (int i = 0; i < 1024; i++) v[0][i] = 1, v[1][i] = 0, v[3][i] = 1;
    double *t = malloc(sizeof(double) * reps);
    double tot_f = 0, tot_b = 0, tot_mem_f = 0, tot_mem_b = 0, tot_infer_mem = 0, flops_f = 0;
    printf("kernels=%s batch=%d threads=%d (best of %d, %s clock); FMA peak %.0f GFLOP/s on 1 "
           "thread, %.0f on %d (wall clock)\n", k->name, B, threads, reps,
           use_cpu_clock ? "cpu" : "wall", peak_gflops(1), peak_gflops(threads), threads);
    printf("%-22s %9s %8s %9s %8s | %-28s\n", "layer", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s",
           "BN+pool+relu' fwd/bwd/infer ms");
    int nl = (int)(sizeof SEED / sizeof SEED[0]);
    for (int l = 0; l < nl; l++) {
        const LayerSpec *s = &SEED[l];
        int conv = s->H > 0;
        long M = conv ? (long)B * s->H * s->W : B;
        long kdim = conv ? 9L * s->Cin : s->Cin;
        double fl = 2.0 * M * kdim * s->Cout;
        int need_din = l > 0;
#define TIME(stmt)                                                              \
    for (int r = 0; r < reps; r++) {                                             \
        double t0 = now();                                             \
        stmt;                                                                    \
        t[r] = now() - t0;                                             \
    }
        double f_ms, b_ms;
        if (conv) {
            TIME(k->conv2d_forward(&ctx, out, in, w, bias, B, s->H, s->W, s->Cin, s->Cout, 3, 1));
            f_ms = best_ms(t, reps);
            TIME(k->conv2d_backward(&ctx, need_din ? din : NULL, dw, db, dout, in, w, B, s->H,
                                    s->W, s->Cin, s->Cout, 3));
            b_ms = best_ms(t, reps);
        } else {
            int relu = l == nl - 2;
            TIME(k->dense_forward(&ctx, out, in, w, bias, B, s->Cin, s->Cout, relu));
            f_ms = best_ms(t, reps);
            TIME(k->dense_backward(&ctx, din, dw, db, dout, in, w, B, s->Cin, s->Cout));
            b_ms = best_ms(t, reps);
        }
        double bfl = fl * (need_din ? 2 : 1);
        /* The memory-bound layers that follow this one in the seed net. */
        double mf = 0, mb = 0, mi = 0;
        long n = M * s->Cout;
        if (conv) {
            TIME(k->batchnorm_forward_train(&ctx, out, v[4], v[5], in, v[0], v[1], v[2], v[3], M,
                                            s->Cout, 0.99f, 1e-3f));
            mf += best_ms(t, reps);
            TIME(k->batchnorm_forward_infer(&ctx, out, in, v[0], v[1], v[2], v[3], M, s->Cout, 1e-3f));
            mi += best_ms(t, reps);
            TIME(k->batchnorm_backward(&ctx, din, v[6], v[7], dout, in, v[4], v[5], v[0], M, s->Cout));
            mb += best_ms(t, reps);
            if (s->pool) {
                TIME(k->maxpool2_forward(&ctx, out, in, B, s->H, s->W, s->Cout));
                mf += best_ms(t, reps);
                mi += best_ms(t, reps);
                TIME(k->maxpool2_backward(&ctx, din, dout, in, B, s->H, s->W, s->Cout));
                mb += best_ms(t, reps);
            }
        }
        if (conv || l == nl - 2) {
            TIME(k->relu_backward(&ctx, din, dout, in, n));
            mb += best_ms(t, reps);
        }
        printf("%-22s %9.3f %8.1f %9.3f %8.1f | %7.3f %7.3f %7.3f\n", s->name, f_ms,
               fl / f_ms * 1e-6, b_ms, bfl / b_ms * 1e-6, mf, mb, mi);
        tot_f += f_ms, tot_b += b_ms, tot_mem_f += mf, tot_mem_b += mb, tot_infer_mem += mi;
        flops_f += fl;
    }
    double step = tot_f + tot_b + tot_mem_f + tot_mem_b;
    double infer = tot_f + tot_infer_mem;
    printf("GEMM layers: fwd %.3f ms, bwd %.3f ms; BN/pool/relu: fwd %.3f ms, bwd %.3f ms\n",
           tot_f, tot_b, tot_mem_f, tot_mem_b);
    printf("training step (sum of layers): %.3f ms = %.0f images/s, %.1f GFLOP/s overall\n", step,
           B / step * 1e3, 3 * flops_f / step * 1e-6);
    printf("inference pass (sum of layers): %.3f ms = %.0f images/s\n", infer, B / infer * 1e3);
    return 0;
}
