/* cuda.cu - the CUDA backend of the DeviceOps table (device.h): one stream,
 * one cuBLAS handle, and one grid-stride kernel per op of gpu_ops.h that
 * calls the very function the CPU emulation runs. Only this thin layer
 * needs a GPU to test; the index arithmetic and numerics are gpu_ops.h's.
 *
 * Errors: ops return nothing, so the first failed launch or cuBLAS call is
 * kept in the Device and reported by the next upload, download or sync,
 * where CUDA also reports a fault inside a kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common.h"
#include "device.h"
#include "gpu_ops.h"

struct Device {
    cudaStream_t stream;
    cublasHandle_t blas;
    int ordinal;
    char name[640]; /* describe()'s line, made once at open (room for any
                       prop.name and number, so no truncation warning) */
    char err[256];  /* the first failed op since open, "" when none */
};

/* Keeps the first failure: later ones are usually its consequences. */
static void note_error(Device *d, const char *what, const char *msg) {
    if (d->err[0] == '\0') snprintf(d->err, sizeof d->err, "%s: %s", what, msg);
}

static void check(Device *d, const char *what, cudaError_t r) {
    if (r != cudaSuccess) note_error(d, what, cudaGetErrorString(r));
}

/* Reports a kept error, or one CUDA has (sticky or from a launch). */
static int report(Device *d, const char *what, cudaError_t r, Err *e) {
    if (r == cudaSuccess) r = cudaGetLastError();
    if (r != cudaSuccess) note_error(d, what, cudaGetErrorString(r));
    if (d->err[0] != '\0') return err_set(e, "cuda: %s", d->err);
    return 0;
}

/* ---- device ---- */

static void dev_close(Device *d) {
    if (!d) return;
    if (d->stream) cudaStreamSynchronize(d->stream); /* let queued work finish */
    if (d->blas) cublasDestroy(d->blas);
    if (d->stream) cudaStreamDestroy(d->stream);
    free(d);
}

static Device *dev_open(Err *e) {
    int count = 0;
    cudaError_t r = cudaGetDeviceCount(&count);
    if (r != cudaSuccess || count == 0) {
        /* Without a driver CUDA says "driver version is insufficient". */
        int driver = 0;
        cudaDriverGetVersion(&driver);
        const char *why = r != cudaSuccess ? cudaGetErrorString(r) : "none found";
        err_set(e, "no CUDA device: %s", driver == 0 ? "no NVIDIA driver found" : why);
        return NULL;
    }
    Device *d = (Device *)calloc(1, sizeof *d);
    if (!d) {
        err_set(e, "cuda: out of host memory");
        return NULL;
    }
    d->ordinal = 0;
    cudaDeviceProp prop;
    const char *step = "cudaSetDevice";
    if ((r = cudaSetDevice(d->ordinal)) != cudaSuccess) goto fail;
    step = "cudaGetDeviceProperties";
    if ((r = cudaGetDeviceProperties(&prop, d->ordinal)) != cudaSuccess) goto fail;
    snprintf(d->name, sizeof d->name, "%s (cc %d.%d, %.1f GiB)", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    /* Non-blocking: never serialised with the legacy default stream. */
    step = "cudaStreamCreateWithFlags";
    if ((r = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        d->stream = NULL;
        goto fail;
    }
    {
        cublasStatus_t s = cublasCreate(&d->blas);
        if (s != CUBLAS_STATUS_SUCCESS) {
            d->blas = NULL;
            err_set(e, "cuda: cublasCreate: %s", cublasGetStatusString(s));
            dev_close(d);
            return NULL;
        }
        /* fp32 as written (no TF32, no reduced-precision reductions), so the
         * GEMMs match the CPU's to 1e-3; the default atomics mode (not
         * allowed) keeps them repeatable to the bit. */
        if ((s = cublasSetStream(d->blas, d->stream)) == CUBLAS_STATUS_SUCCESS)
            s = cublasSetMathMode(d->blas, CUBLAS_PEDANTIC_MATH);
        if (s != CUBLAS_STATUS_SUCCESS) {
            err_set(e, "cuda: cuBLAS setup: %s", cublasGetStatusString(s));
            dev_close(d);
            return NULL;
        }
    }
    return d;
fail:
    err_set(e, "cuda: %s: %s", step, cudaGetErrorString(r));
    dev_close(d);
    return NULL;
}

static void dev_describe(Device *d, char *buf, size_t len) {
    if (len > 0) snprintf(buf, len, "%s", d->name);
}

/* ---- memory ---- */

static void *dev_alloc(Device *d, size_t bytes, Err *e) {
    void *p = NULL;
    /* cudaMalloc(0) may give NULL, which callers read as failure. */
    cudaError_t r = cudaMalloc(&p, bytes ? bytes : 1);
    if (r != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: clear it */
        err_set(e, "cuda: cannot allocate %zu bytes: %s", bytes, cudaGetErrorString(r));
        return NULL;
    }
    if ((r = cudaMemsetAsync(p, 0, bytes, d->stream)) == cudaSuccess)
        r = cudaStreamSynchronize(d->stream);
    if (r != cudaSuccess) {
        err_set(e, "cuda: zeroing %zu bytes: %s", bytes, cudaGetErrorString(r));
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void dev_free(Device *d, void *p) {
    if (p) check(d, "cudaFree", cudaFree(p));
}

static int dev_upload(Device *d, void *dst, const void *src, size_t bytes, Err *e) {
    cudaError_t r = cudaSuccess;
    if (bytes > 0) r = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, d->stream);
    if (r == cudaSuccess) r = cudaStreamSynchronize(d->stream);
    return report(d, "upload", r, e);
}

static int dev_download(Device *d, void *dst, const void *src, size_t bytes, Err *e) {
    cudaError_t r = cudaSuccess;
    if (bytes > 0) r = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, d->stream);
    if (r == cudaSuccess) r = cudaStreamSynchronize(d->stream);
    return report(d, "download", r, e);
}

static int dev_sync(Device *d, Err *e) {
    return report(d, "sync", cudaStreamSynchronize(d->stream), e);
}

static void dev_zero(Device *d, void *p, size_t bytes) {
    if (bytes > 0) check(d, "zero", cudaMemsetAsync(p, 0, bytes, d->stream));
}

static void dev_copy(Device *d, void *dst, const void *src, size_t bytes) {
    if (bytes > 0)
        check(d, "copy", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, d->stream));
}

/* ---- GEMM ---- */

static void dev_gemm(Device *d, int ta, int tb, int m, int n, int k, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cublasStatus_t s =
        cublasSgemm(d->blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n,
                    k, &alpha, A, lda, B, ldb, &beta, C, ldc);
    if (s != CUBLAS_STATUS_SUCCESS) note_error(d, "cublasSgemm", cublasGetStatusString(s));
}

/* ---- the element-wise ops: one thread per index, grid-stride ---- */

#define EACH_INDEX(n)                                                                              \
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n);                            \
         i += (long)gridDim.x * blockDim.x)

enum { THREADS = 256 };
/* Enough blocks to fill any GPU; the grid-stride loop covers the rest. */
static const long MAX_BLOCKS = 1L << 20;

/* Launches kernel k over n indices on the device's stream; the kernel's
 * parameter types P convert the arguments a as in a plain call. */
template <typename... P, typename... A>
static void launch(Device *d, const char *what, void (*k)(long, P...), long n, A... a) {
    if (n <= 0) return;
    long blocks = (n + THREADS - 1) / THREADS;
    if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
    k<<<(unsigned)blocks, THREADS, 0, d->stream>>>(n, a...);
    check(d, what, cudaGetLastError());
}

static __global__ void k_im2col(long n, float *col, const float *in, int N, int H, int W, int C,
                                int K, int S, int Ho, int Wo) {
    EACH_INDEX(n) op_im2col(i, col, in, N, H, W, C, K, S, Ho, Wo);
}
static void dev_im2col(Device *d, long n, float *col, const float *in, int N, int H, int W, int C,
                       int K, int S, int Ho, int Wo) {
    launch(d, "im2col", k_im2col, n, col, in, N, H, W, C, K, S, Ho, Wo);
}

static __global__ void k_col2im(long n, float *din, const float *dcol, int N, int H, int W, int C,
                                int K, int S, int Ho, int Wo) {
    EACH_INDEX(n) op_col2im(i, din, dcol, N, H, W, C, K, S, Ho, Wo);
}
static void dev_col2im(Device *d, long n, float *din, const float *dcol, int N, int H, int W, int C,
                       int K, int S, int Ho, int Wo) {
    launch(d, "col2im", k_col2im, n, din, dcol, N, H, W, C, K, S, Ho, Wo);
}

static __global__ void k_bias_act(long n, float *out, const float *bias, int C, int relu) {
    EACH_INDEX(n) op_bias_act(i, out, bias, C, relu);
}
static void dev_bias_act(Device *d, long n, float *out, const float *bias, int C, int relu) {
    launch(d, "bias_act", k_bias_act, n, out, bias, C, relu);
}

static __global__ void k_relu_backward(long n, float *g, const float *out) {
    EACH_INDEX(n) op_relu_backward(i, g, out);
}
static void dev_relu_backward(Device *d, long n, float *g, const float *out) {
    launch(d, "relu_backward", k_relu_backward, n, g, out);
}

static __global__ void k_col_partial(long n, double *part, const float *x, const float *y,
                                     const double *center, const float *mean, const float *invstd,
                                     long M, int C, int rows, int mode) {
    EACH_INDEX(n) op_col_partial(i, part, x, y, center, mean, invstd, M, C, rows, mode);
}
static void dev_col_partial(Device *d, long n, double *part, const float *x, const float *y,
                            const double *center, const float *mean, const float *invstd, long M,
                            int C, int rows, int mode) {
    launch(d, "col_partial", k_col_partial, n, part, x, y, center, mean, invstd, M, C, rows, mode);
}

static __global__ void k_col_partial_d(long n, double *part, const double *x, long R, int C,
                                       int rows) {
    EACH_INDEX(n) op_col_partial_d(i, part, x, R, C, rows);
}
static void dev_col_partial_d(Device *d, long n, double *part, const double *x, long R, int C,
                              int rows) {
    launch(d, "col_partial_d", k_col_partial_d, n, part, x, R, C, rows);
}

static __global__ void k_add_sums(long n, float *acc, const double *sum) {
    EACH_INDEX(n) op_add_sums(i, acc, sum);
}
static void dev_add_sums(Device *d, long n, float *acc, const double *sum) {
    launch(d, "add_sums", k_add_sums, n, acc, sum);
}

static __global__ void k_bn_mean(long n, double *mean_d, float *save_mean, const double *sum,
                                 long M) {
    EACH_INDEX(n) op_bn_mean(i, mean_d, save_mean, sum, M);
}
static void dev_bn_mean(Device *d, long n, double *mean_d, float *save_mean, const double *sum,
                        long M) {
    launch(d, "bn_mean", k_bn_mean, n, mean_d, save_mean, sum, M);
}

static __global__ void k_bn_var(long n, float *save_invstd, float *moving_mean, float *moving_var,
                                const double *mean_d, const double *sq, long M, float momentum,
                                float eps) {
    EACH_INDEX(n) op_bn_var(i, save_invstd, moving_mean, moving_var, mean_d, sq, M, momentum, eps);
}
static void dev_bn_var(Device *d, long n, float *save_invstd, float *moving_mean, float *moving_var,
                       const double *mean_d, const double *sq, long M, float momentum, float eps) {
    launch(d, "bn_var", k_bn_var, n, save_invstd, moving_mean, moving_var, mean_d, sq, M, momentum,
           eps);
}

static __global__ void k_bn_infer_invstd(long n, float *invstd, const float *moving_var,
                                         float eps) {
    EACH_INDEX(n) op_bn_infer_invstd(i, invstd, moving_var, eps);
}
static void dev_bn_infer_invstd(Device *d, long n, float *invstd, const float *moving_var,
                                float eps) {
    launch(d, "bn_infer_invstd", k_bn_infer_invstd, n, invstd, moving_var, eps);
}

static __global__ void k_bn_apply(long n, float *out, const float *in, const float *mean,
                                  const float *invstd, const float *gamma, const float *beta,
                                  int C, int relu) {
    EACH_INDEX(n) op_bn_apply(i, out, in, mean, invstd, gamma, beta, C, relu);
}
static void dev_bn_apply(Device *d, long n, float *out, const float *in, const float *mean,
                         const float *invstd, const float *gamma, const float *beta, int C,
                         int relu) {
    launch(d, "bn_apply", k_bn_apply, n, out, in, mean, invstd, gamma, beta, C, relu);
}

static __global__ void k_bn_backward(long n, float *din, const float *dout, const float *in,
                                     const float *mean, const float *invstd, const float *gamma,
                                     const double *sum_g, const double *sum_gx, long M, int C) {
    EACH_INDEX(n) op_bn_backward(i, din, dout, in, mean, invstd, gamma, sum_g, sum_gx, M, C);
}
static void dev_bn_backward(Device *d, long n, float *din, const float *dout, const float *in,
                            const float *mean, const float *invstd, const float *gamma,
                            const double *sum_g, const double *sum_gx, long M, int C) {
    launch(d, "bn_backward", k_bn_backward, n, din, dout, in, mean, invstd, gamma, sum_g, sum_gx, M,
           C);
}

static __global__ void k_maxpool_forward(long n, float *out, const float *in, int H, int W, int C,
                                         int K, int S, int P, int Ho, int Wo) {
    EACH_INDEX(n) op_maxpool_forward(i, out, in, H, W, C, K, S, P, Ho, Wo);
}
static void dev_maxpool_forward(Device *d, long n, float *out, const float *in, int H, int W,
                                int C, int K, int S, int P, int Ho, int Wo) {
    launch(d, "maxpool_forward", k_maxpool_forward, n, out, in, H, W, C, K, S, P, Ho, Wo);
}

static __global__ void k_maxpool_backward(long n, float *din, const float *dout, const float *in,
                                          int H, int W, int C, int K, int S, int P, int Ho,
                                          int Wo) {
    EACH_INDEX(n) op_maxpool_backward(i, din, dout, in, H, W, C, K, S, P, Ho, Wo);
}
static void dev_maxpool_backward(Device *d, long n, float *din, const float *dout, const float *in,
                                 int H, int W, int C, int K, int S, int P, int Ho, int Wo) {
    launch(d, "maxpool_backward", k_maxpool_backward, n, din, dout, in, H, W, C, K, S, P, Ho, Wo);
}

static __global__ void k_dropout_forward(long n, float *out, float *mask, const float *in,
                                         float rate, uint64_t key) {
    EACH_INDEX(n) op_dropout_forward(i, out, mask, in, rate, key);
}
static void dev_dropout_forward(Device *d, long n, float *out, float *mask, const float *in,
                                float rate, uint64_t key) {
    launch(d, "dropout_forward", k_dropout_forward, n, out, mask, in, rate, key);
}

static __global__ void k_mul(long n, float *out, const float *a, const float *b) {
    EACH_INDEX(n) op_mul(i, out, a, b);
}
static void dev_mul(Device *d, long n, float *out, const float *a, const float *b) {
    launch(d, "mul", k_mul, n, out, a, b);
}

static __global__ void k_add(long n, float *out, const float *a, const float *b, int relu) {
    EACH_INDEX(n) op_add(i, out, a, b, relu);
}
static void dev_add(Device *d, long n, float *out, const float *a, const float *b, int relu) {
    launch(d, "add", k_add, n, out, a, b, relu);
}

static __global__ void k_gap_forward(long n, float *out, const float *in, long HW, int C) {
    EACH_INDEX(n) op_gap_forward(i, out, in, HW, C);
}
static void dev_gap_forward(Device *d, long n, float *out, const float *in, long HW, int C) {
    launch(d, "gap_forward", k_gap_forward, n, out, in, HW, C);
}

static __global__ void k_gap_backward(long n, float *din, const float *dout, long HW, int C) {
    EACH_INDEX(n) op_gap_backward(i, din, dout, HW, C);
}
static void dev_gap_backward(Device *d, long n, float *din, const float *dout, long HW, int C) {
    launch(d, "gap_backward", k_gap_backward, n, din, dout, HW, C);
}

static __global__ void k_adam(long n, float *p, float *m, float *v, const float *g, float alpha,
                              float beta1, float beta2, float eps) {
    EACH_INDEX(n) op_adam(i, p, m, v, g, alpha, beta1, beta2, eps);
}
static void dev_adam(Device *d, long n, float *p, float *m, float *v, const float *g, float alpha,
                     float beta1, float beta2, float eps) {
    launch(d, "adam", k_adam, n, p, m, v, g, alpha, beta1, beta2, eps);
}

static __global__ void k_aug_geometry(long n, float *x, const uint8_t *images, const int *idx,
                                      const AugParams *params, int H, int W) {
    EACH_INDEX(n) op_aug_geometry(i, x, images, idx, params, H, W);
}
static void dev_aug_geometry(Device *d, long n, float *x, const uint8_t *images, const int *idx,
                             const AugParams *params, int H, int W) {
    launch(d, "aug_geometry", k_aug_geometry, n, x, images, idx, params, H, W);
}

static __global__ void k_aug_mean(long n, float *mean, const float *x, int H, int W) {
    EACH_INDEX(n) op_aug_mean(i, mean, x, H, W);
}
static void dev_aug_mean(Device *d, long n, float *mean, const float *x, int H, int W) {
    launch(d, "aug_mean", k_aug_mean, n, mean, x, H, W);
}

static __global__ void k_aug_colour_flip(long n, float *out, const float *x, const float *mean,
                                         const AugParams *params, int H, int W) {
    EACH_INDEX(n) op_aug_colour_flip(i, out, x, mean, params, H, W);
}
static void dev_aug_colour_flip(Device *d, long n, float *out, const float *x, const float *mean,
                                const AugParams *params, int H, int W) {
    launch(d, "aug_colour_flip", k_aug_colour_flip, n, out, x, mean, params, H, W);
}

/* ---- the table ---- */

/* Filled by name (C++17 has no designated initialisers): upload and
 * download have the same type, so a positional slip would compile. */
static DeviceOps make_ops(void) {
    DeviceOps o;
    memset(&o, 0, sizeof o);
    o.name = "cuda";
    o.open = dev_open;
    o.close = dev_close;
    o.describe = dev_describe;
    o.alloc = dev_alloc;
    o.free = dev_free;
    o.upload = dev_upload;
    o.download = dev_download;
    o.sync = dev_sync;
    o.zero = dev_zero;
    o.copy = dev_copy;
    o.gemm = dev_gemm;
    o.im2col = dev_im2col;
    o.col2im = dev_col2im;
    o.bias_act = dev_bias_act;
    o.relu_backward = dev_relu_backward;
    o.col_partial = dev_col_partial;
    o.col_partial_d = dev_col_partial_d;
    o.add_sums = dev_add_sums;
    o.bn_mean = dev_bn_mean;
    o.bn_var = dev_bn_var;
    o.bn_infer_invstd = dev_bn_infer_invstd;
    o.bn_apply = dev_bn_apply;
    o.bn_backward = dev_bn_backward;
    o.maxpool_forward = dev_maxpool_forward;
    o.maxpool_backward = dev_maxpool_backward;
    o.dropout_forward = dev_dropout_forward;
    o.mul = dev_mul;
    o.add = dev_add;
    o.gap_forward = dev_gap_forward;
    o.gap_backward = dev_gap_backward;
    o.adam = dev_adam;
    o.aug_geometry = dev_aug_geometry;
    o.aug_mean = dev_aug_mean;
    o.aug_colour_flip = dev_aug_colour_flip;
    return o;
}

/* Built at load time (before main), so no thread-safe-static guard. */
static const DeviceOps cuda_ops = make_ops();

extern "C" const DeviceOps *device_cuda(void) { return &cuda_ops; }
