/* kernels.c - the Kernels tables and runtime dispatch between them.
 * kernels_cpu_best() picks the widest SIMD level this CPU supports
 * (avx512 > avx2 > portable); the environment variable
 * AUGPROBE_KERNELS=reference|portable|avx2|avx512 forces one (an unknown or
 * unsupported value is ignored), e.g. to test the narrower paths. */
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../layers.h"
#include "cpu.h"

void kctx_init(KernelCtx *ctx, int threads) {
    memset(ctx, 0, sizeof *ctx);
    ctx->threads = threads > 0 ? threads : 1;
}

void kctx_free(KernelCtx *ctx) {
    free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_len = 0;
}

float *kctx_scratch(KernelCtx *ctx, size_t n) {
    if (n > ctx->scratch_len) {
        free(ctx->scratch);
        ctx->scratch = xalloc_floats(n);
        ctx->scratch_len = n;
    }
    return ctx->scratch;
}

/* ---- reference table: thin wrappers over layers.c ---- */

static void r_conv_f(KernelCtx *c, float *out, const float *in, const float *w, const float *b,
                     int N, int H, int W, int Cin, int Cout, int K, int relu) {
    (void)c;
    ref_conv2d_forward(out, in, w, b, N, H, W, Cin, Cout, K, relu);
}
static void r_conv_b(KernelCtx *c, float *din, float *dw, float *db, const float *dout,
                     const float *in, const float *w, int N, int H, int W, int Cin, int Cout,
                     int K) {
    (void)c;
    ref_conv2d_backward(din, dw, db, dout, in, w, N, H, W, Cin, Cout, K);
}
static void r_dense_f(KernelCtx *c, float *out, const float *in, const float *w, const float *b,
                      int B, int In, int Out, int relu) {
    (void)c;
    ref_dense_forward(out, in, w, b, B, In, Out, relu);
}
static void r_dense_b(KernelCtx *c, float *din, float *dw, float *db, const float *dout,
                      const float *in, const float *w, int B, int In, int Out) {
    (void)c;
    ref_dense_backward(din, dw, db, dout, in, w, B, In, Out);
}
static void r_relu_b(KernelCtx *c, float *din, const float *dout, const float *out, long n) {
    (void)c;
    ref_relu_backward(din, dout, out, n);
}
static void r_bn_ft(KernelCtx *c, float *out, float *sm, float *si, const float *in,
                    const float *gamma, const float *beta, float *mm, float *mv, long M, int C,
                    float momentum, float eps) {
    (void)c;
    ref_batchnorm_forward_train(out, sm, si, in, gamma, beta, mm, mv, M, C, momentum, eps);
}
static void r_bn_fi(KernelCtx *c, float *out, const float *in, const float *gamma,
                    const float *beta, const float *mm, const float *mv, long M, int C,
                    float eps) {
    (void)c;
    ref_batchnorm_forward_infer(out, in, gamma, beta, mm, mv, M, C, eps);
}
static void r_bn_b(KernelCtx *c, float *din, float *dgamma, float *dbeta, const float *dout,
                   const float *in, const float *sm, const float *si, const float *gamma, long M,
                   int C) {
    (void)c;
    ref_batchnorm_backward(din, dgamma, dbeta, dout, in, sm, si, gamma, M, C);
}
static void r_pool_f(KernelCtx *c, float *out, const float *in, int N, int H, int W, int C) {
    (void)c;
    ref_maxpool2_forward(out, in, N, H, W, C);
}
static void r_pool_b(KernelCtx *c, float *din, const float *dout, const float *in, int N, int H,
                     int W, int C) {
    (void)c;
    ref_maxpool2_backward(din, dout, in, N, H, W, C);
}

static const Kernels REFERENCE = {
    .name = "reference",
    .conv2d_forward = r_conv_f,
    .conv2d_backward = r_conv_b,
    .dense_forward = r_dense_f,
    .dense_backward = r_dense_b,
    .relu_backward = r_relu_b,
    .batchnorm_forward_train = r_bn_ft,
    .batchnorm_forward_infer = r_bn_fi,
    .batchnorm_backward = r_bn_b,
    .maxpool2_forward = r_pool_f,
    .maxpool2_backward = r_pool_b,
};

const Kernels *kernels_reference(void) { return &REFERENCE; }

/* Whether this CPU (and OS) can run a path's instructions. */
static int cpu_has(const char *name) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    if (!strcmp(name, "avx512") || !strcmp(name, "avx2")) return 0;
#endif
    return !strcmp(name, "portable") || !strcmp(name, "reference");
}

static const Kernels *cpu_path(const char *name) {
    if (!cpu_has(name)) return NULL;
    if (!strcmp(name, "avx512")) return kernels_avx512();
    if (!strcmp(name, "avx2")) return kernels_avx2();
    if (!strcmp(name, "portable")) return kernels_portable();
    if (!strcmp(name, "reference")) return &REFERENCE;
    return NULL;
}

const Kernels *kernels_cpu_best(void) {
    const char *forced = getenv("AUGPROBE_KERNELS");
    if (forced && *forced && strcmp(forced, "auto")) {
        const Kernels *k = cpu_path(forced);
        if (k) return k;
    }
    static const char *const order[] = {"avx512", "avx2", "portable"};
    for (int i = 0; i < 3; i++) {
        const Kernels *k = cpu_path(order[i]);
        if (k) return k;
    }
    return &REFERENCE;
}

const Kernels *kernels_by_name(const char *name) {
    if (!strcmp(name, "auto")) return kernels_cpu_best();
    return cpu_path(name);
}

const char *kernels_compiled(void) {
#if defined(__x86_64__) || defined(__i386__)
    return "avx512,avx2,portable";
#else
    return "portable";
#endif
}
