/* kernels.h - one interface for the CPU compute kernels of the layers: the
 * reference loops (src/layers.c) and the fast AVX-512 / AVX2 / portable
 * kernels (cpu_impl.h). The CPU backend's kinds (src/kinds.c) call every
 * heavy layer through a Kernels table, so a kernel set is swapped without
 * touching the training step; the device backend (src/device/) has its
 * own ops (device.h). Signatures and semantics are those of the ref_*
 * functions in layers.h, plus a KernelCtx that owns scratch memory and the
 * thread count (no global state). A strided convolution runs as a strided
 * im2col (kinds.c) and a 1x1 conv2d_forward/backward over the columns (one
 * image of 1 x B*Ho*Wo pixels, K*K*Cin channels). */
#ifndef AUGPROBE_KERNELS_H
#define AUGPROBE_KERNELS_H

#include <stddef.h>

typedef struct KernelCtx {
    float *scratch;      /* grown on demand by kctx_scratch, 64-byte aligned */
    size_t scratch_len;  /* in floats */
    int threads;         /* OpenMP threads to use */
} KernelCtx;

void kctx_init(KernelCtx *ctx, int threads);
void kctx_free(KernelCtx *ctx);
/* Returns a scratch buffer of at least n floats (contents undefined). */
float *kctx_scratch(KernelCtx *ctx, size_t n);

typedef struct Kernels {
    const char *name; /* "reference", "avx512", "avx2", "portable" */
    void (*conv2d_forward)(KernelCtx *, float *out, const float *in, const float *w,
                           const float *b, int N, int H, int W, int Cin, int Cout, int K,
                           int relu);
    void (*conv2d_backward)(KernelCtx *, float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, int N, int H, int W, int Cin,
                            int Cout, int K);
    void (*dense_forward)(KernelCtx *, float *out, const float *in, const float *w,
                          const float *b, int B, int In, int Out, int relu);
    void (*dense_backward)(KernelCtx *, float *din, float *dw, float *db, const float *dout,
                           const float *in, const float *w, int B, int In, int Out);
    void (*relu_backward)(KernelCtx *, float *din, const float *dout, const float *out, long n);
    void (*batchnorm_forward_train)(KernelCtx *, float *out, float *save_mean,
                                    float *save_invstd, const float *in, const float *gamma,
                                    const float *beta, float *moving_mean, float *moving_var,
                                    long M, int C, float momentum, float eps);
    void (*batchnorm_forward_infer)(KernelCtx *, float *out, const float *in,
                                    const float *gamma, const float *beta,
                                    const float *moving_mean, const float *moving_var, long M,
                                    int C, float eps);
    void (*batchnorm_backward)(KernelCtx *, float *din, float *dgamma, float *dbeta,
                               const float *dout, const float *in, const float *save_mean,
                               const float *save_invstd, const float *gamma, long M, int C);
    void (*maxpool2_forward)(KernelCtx *, float *out, const float *in, int N, int H, int W,
                             int C);
    void (*maxpool2_backward)(KernelCtx *, float *din, const float *dout, const float *in,
                              int N, int H, int W, int C);
} Kernels;

/* The reference loops of layers.h, single-threaded. */
const Kernels *kernels_reference(void);
/* The fastest CPU kernels this processor supports (runtime dispatch). */
const Kernels *kernels_cpu_best(void);
/* By name ("reference", "auto", or a name above); NULL if unknown or not
 * supported on this processor. */
const Kernels *kernels_by_name(const char *name);
/* Comma-separated list of the CPU paths compiled in, e.g. "avx512,avx2,portable". */
const char *kernels_compiled(void);

#endif
