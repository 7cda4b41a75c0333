/* step_profile.c - where a whole training step of a built-in network
 * (--arch, default seed_cnn) spends its time: wraps the Kernels table so
 * every call (in net.c's order) is timed in wall seconds and process CPU
 * seconds, and times the parts outside the kernels (dropout, zero_grads,
 * loss, Adam). Prints per call: mean wall ms,
 * mean CPU ms (summed over threads), and their ratio (a 2-thread call that
 * scaled perfectly shows CPU/wall = 2 on a quiet machine; on a loaded one
 * CPU ms is the steadier figure: with OMP_WAIT_POLICY=passive it is the
 * work, with spinning it also counts the waiting).
 *
 *   make build/bench/kernels/step_profile
 *   build/bench/kernels/step_profile [--arch NAME] [--threads T] [--steps S] [--batch B]
 *
 * arg: H*1000+Cout for convolutions and pools (a strided convolution is a
 * 1x1 call on its im2col columns, H = 1: arg 1000+Cout), Out for dense
 * calls, the element count for the rest.
 */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/common.h"
#include "../../src/layers.h"
#include "../../src/net.h"
#include "../../src/omp_defaults.h"
#include "../../src/optim.h"

enum { MAX_CALLS = 512 };

typedef struct Prof {
    const Kernels *real;
    int call;                 /* index of the next call within the step */
    double wall[MAX_CALLS], cpu[MAX_CALLS];
    double cpu_m[MAX_CALLS], cpu_w[MAX_CALLS]; /* master's and one worker's CPU */
    clockid_t worker;                          /* thread 1's CPU clock */
    const char *what[MAX_CALLS];
    long arg[MAX_CALLS];
} Prof;

/* The wrappers see only a KernelCtx; the profile rides in a static (a bench
 * tool, single net). */
static Prof P;

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double clock_now(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define BEGIN                                                                              \
    double w0 = omp_get_wtime(), c0 = cpu_now(), m0 = clock_now(CLOCK_THREAD_CPUTIME_ID),  \
           k0 = clock_now(P.worker)
#define END(name, a)                                                                       \
    do {                                                                                   \
        int i_ = P.call++ % MAX_CALLS;                                                     \
        P.wall[i_] += omp_get_wtime() - w0, P.cpu[i_] += cpu_now() - c0;                   \
        P.cpu_m[i_] += clock_now(CLOCK_THREAD_CPUTIME_ID) - m0;                            \
        P.cpu_w[i_] += clock_now(P.worker) - k0;                                           \
        P.what[i_] = name, P.arg[i_] = a;                                                  \
    } while (0)

static void conv_f(KernelCtx *c, float *out, const float *in, const float *w, const float *b,
                   int N, int H, int W, int Cin, int Cout, int K, int relu) {
    BEGIN;
    P.real->conv2d_forward(c, out, in, w, b, N, H, W, Cin, Cout, K, relu);
    END("conv fwd", (long)H * 1000 + Cout);
}
static void conv_b(KernelCtx *c, float *din, float *dw, float *db, const float *dout,
                   const float *in, const float *w, int N, int H, int W, int Cin, int Cout,
                   int K) {
    BEGIN;
    P.real->conv2d_backward(c, din, dw, db, dout, in, w, N, H, W, Cin, Cout, K);
    END("conv bwd", (long)H * 1000 + Cout);
}
static void dense_f(KernelCtx *c, float *out, const float *in, const float *w, const float *b,
                    int B, int In, int Out, int relu) {
    BEGIN;
    P.real->dense_forward(c, out, in, w, b, B, In, Out, relu);
    END("dense fwd", Out);
}
static void dense_b(KernelCtx *c, float *din, float *dw, float *db, const float *dout,
                    const float *in, const float *w, int B, int In, int Out) {
    BEGIN;
    P.real->dense_backward(c, din, dw, db, dout, in, w, B, In, Out);
    END("dense bwd", Out);
}
static void relu_b(KernelCtx *c, float *din, const float *dout, const float *out, long n) {
    BEGIN;
    P.real->relu_backward(c, din, dout, out, n);
    END("relu bwd", n);
}
static void bn_ft(KernelCtx *c, float *out, float *sm, float *si, const float *in,
                  const float *g, const float *be, float *mm, float *mv, long M, int C, float mo,
                  float eps) {
    BEGIN;
    P.real->batchnorm_forward_train(c, out, sm, si, in, g, be, mm, mv, M, C, mo, eps);
    END("bn fwd", M * C);
}
static void bn_fi(KernelCtx *c, float *out, const float *in, const float *g, const float *be,
                  const float *mm, const float *mv, long M, int C, float eps) {
    BEGIN;
    P.real->batchnorm_forward_infer(c, out, in, g, be, mm, mv, M, C, eps);
    END("bn infer", M * C);
}
static void bn_b(KernelCtx *c, float *din, float *dg, float *db, const float *dout,
                 const float *in, const float *sm, const float *si, const float *g, long M,
                 int C) {
    BEGIN;
    P.real->batchnorm_backward(c, din, dg, db, dout, in, sm, si, g, M, C);
    END("bn bwd", M * C);
}
static void pool_f(KernelCtx *c, float *out, const float *in, int N, int H, int W, int C) {
    BEGIN;
    P.real->maxpool2_forward(c, out, in, N, H, W, C);
    END("pool fwd", (long)H * 1000 + C);
}
static void pool_b(KernelCtx *c, float *din, const float *dout, const float *in, int N, int H,
                   int W, int C) {
    BEGIN;
    P.real->maxpool2_backward(c, din, dout, in, N, H, W, C);
    END("pool bwd", (long)H * 1000 + C);
}

static const Kernels WRAP = {"profiled", conv_f, conv_b, dense_f, dense_b, relu_b,
                             bn_ft,      bn_fi,  bn_b,   pool_f,  pool_b};

int main(int argc, char **argv) {
    omp_default_wait(argv);
    int threads = 1, steps = 20, B = 32;
    const char *arch = "seed_cnn";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arch")) arch = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
    }
    Err e;
    const char *text = arch_builtin(arch);
    if (!text) return fprintf(stderr, "step_profile: --arch %s: not a built-in network\n", arch), 1;
    Net *net = net_create_text(arch, text, 32, 32, 3, B, threads, &e);
    if (!net) return fprintf(stderr, "step_profile: %s\n", e.msg), 1;
    net_init(net, 1);
    P.real = net->k;
    P.worker = CLOCK_THREAD_CPUTIME_ID;
#pragma omp parallel num_threads(threads)
    if (omp_get_thread_num() == 1) pthread_getcpuclockid(pthread_self(), &P.worker);
    net_set_kernels(net, &WRAP);
    Adam opt;
    adam_init(&opt, net->n_params);
    float *x = xalloc_floats((size_t)B * 3072), *dl = xalloc_floats((size_t)B * 10);
    uint8_t *lab = xmalloc((size_t)B);
    Rng r = rng_stream(1, 99);
    for (long i = 0; i < (long)B * 3072; i++) x[i] = rng_float(&r);
    for (int i = 0; i < B; i++) lab[i] = (uint8_t)(i % 10);
    double other_w[4] = {0}, other_c[4] = {0};
    double tw = 0, tc = 0;
    for (int s = -2; s < steps; s++) {
        if (s == 0) {
            memset(&P.wall, 0, sizeof P.wall), memset(&P.cpu, 0, sizeof P.cpu);
            memset(&P.cpu_m, 0, sizeof P.cpu_m), memset(&P.cpu_w, 0, sizeof P.cpu_w);
            memset(other_w, 0, sizeof other_w), memset(other_c, 0, sizeof other_c);
            tw = tc = 0;
        }
        P.call = 0;
        double w0 = omp_get_wtime(), c0 = cpu_now(), w, c;
        Rng drop = rng_stream(1, rng_mix(RNG_TAG_DROPOUT, (uint64_t)s + 5));
        net_zero_grads(net);
        w = omp_get_wtime(), c = cpu_now();
        other_w[0] += w - w0, other_c[0] += c - c0;
        const float *logits = net_forward(net, x, B, 1, &drop, -1);
        softmax_xent(dl, NULL, logits, lab, B, 10);
        net_backward(net, dl, B);
        double w2 = omp_get_wtime(), c2 = cpu_now();
        adam_step(&opt, net->params, net->grads);
        other_w[1] += omp_get_wtime() - w2, other_c[1] += cpu_now() - c2;
        tw += omp_get_wtime() - w0, tc += cpu_now() - c0;
    }
    int ncalls = P.call;
    double kw = 0, kc = 0;
    printf("threads=%d batch=%d steps=%d (means per step)\n", threads, B, steps);
    printf("%-3s %-10s %8s %9s %9s %6s %9s %9s\n", "#", "call", "arg", "wall ms", "cpu ms",
           "cpu/w", "thr0 ms", "thr1 ms");
    double kmax = 0;
    for (int i = 0; i < ncalls; i++) {
        printf("%-3d %-10s %8ld %9.3f %9.3f %6.2f %9.3f %9.3f\n", i, P.what[i], P.arg[i],
               1e3 * P.wall[i] / steps, 1e3 * P.cpu[i] / steps, P.cpu[i] / P.wall[i],
               1e3 * P.cpu_m[i] / steps, 1e3 * P.cpu_w[i] / steps);
        kw += P.wall[i], kc += P.cpu[i];
        kmax += P.cpu_m[i] > P.cpu_w[i] ? P.cpu_m[i] : P.cpu_w[i];
    }
    if (threads == 2)
        printf("kernels: sum over calls of max(thr0, thr1) CPU = %.3f ms (the wall time on "
               "two idle cores, less wake-ups)\n", 1e3 * kmax / steps);
    printf("%-24s %9.3f %9.3f\n", "kernels total", 1e3 * kw / steps, 1e3 * kc / steps);
    printf("%-24s %9.3f %9.3f\n", "zero_grads", 1e3 * other_w[0] / steps, 1e3 * other_c[0] / steps);
    printf("%-24s %9.3f %9.3f\n", "adam", 1e3 * other_w[1] / steps, 1e3 * other_c[1] / steps);
    printf("%-24s %9.3f %9.3f\n", "rest (dropout, copies)",
           1e3 * (tw - kw - other_w[0] - other_w[1]) / steps,
           1e3 * (tc - kc - other_c[0] - other_c[1]) / steps);
    printf("%-24s %9.3f %9.3f\n", "step", 1e3 * tw / steps, 1e3 * tc / steps);
    printf("img/s wall %.1f; img/s by CPU time (cpu/threads) %.1f\n", B * steps / tw,
           B * steps / (tc / threads));
    free(x), free(dl), free(lab);
    adam_free(&opt);
    net_free(net);
    return 0;
}
