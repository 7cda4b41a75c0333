/* device.h - the operations the GPU path needs, behind one table: the CUDA
 * backend (src/device/cuda.cu, built where nvcc is found) and a CPU
 * emulation of it (src/device/emu.c) that runs the same per-element code
 * (src/device/gpu_ops.h) in plain loops. src/device/gpu_net.c drives a network through
 * this table only, so the whole GPU path (buffers, GEMM orientation, op
 * order) runs and is tested on machines without a GPU; only the thin CUDA
 * layer itself needs one.
 *
 * Pointers passed to the ops are device pointers from alloc. Ops are queued
 * in order on the device's one stream; download and sync wait for them and
 * report any error of the ops before (CUDA errors are sticky). Element
 * counts n are of the op's index space (see gpu_ops.h). */
#ifndef AUGPROBE_DEVICE_H
#define AUGPROBE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "../augment_math.h"
#include "../common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct Device Device; /* an open device: context, stream, handles */

typedef struct DeviceOps {
    const char *name; /* "cuda", "emulated" */
    /* Opens the device; NULL with e set ("no CUDA device: ...") when none. */
    Device *(*open)(Err *e);
    void (*close)(Device *d);
    /* One line: "NVIDIA H200 (cc 9.0, 139.8 GiB)". */
    void (*describe)(Device *d, char *buf, size_t len);

    /* Zeroed device memory; NULL with e set when out of memory. */
    void *(*alloc)(Device *d, size_t bytes, Err *e);
    void (*free)(Device *d, void *p);
    int (*upload)(Device *d, void *dst, const void *src, size_t bytes, Err *e);
    int (*download)(Device *d, void *dst, const void *src, size_t bytes, Err *e);
    int (*sync)(Device *d, Err *e);
    void (*zero)(Device *d, void *p, size_t bytes);
    /* dst = src, bytes of device memory (queued; the buffers do not overlap). */
    void (*copy)(Device *d, void *dst, const void *src, size_t bytes);

    /* C = alpha op(A) op(B) + beta C, column-major, as cublasSgemm (fp32,
     * no TF32); ta/tb nonzero: transposed. */
    void (*gemm)(Device *d, int ta, int tb, int m, int n, int k, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);

    /* The ops of gpu_ops.h, one thread per index in 0..n-1. */
    void (*im2col)(Device *d, long n, float *col, const float *in, int N, int H, int W, int C,
                   int K, int S, int Ho, int Wo);
    void (*col2im)(Device *d, long n, float *din, const float *dcol, int N, int H, int W, int C,
                   int K, int S, int Ho, int Wo);
    /* bias NULL: none (a conv with nobias), only the ReLU */
    void (*bias_act)(Device *d, long n, float *out, const float *bias, int C, int relu);
    void (*relu_backward)(Device *d, long n, float *g, const float *out);
    void (*col_partial)(Device *d, long n, double *part, const float *x, const float *y,
                        const double *center, const float *mean, const float *invstd, long M,
                        int C, int rows, int mode);
    void (*col_partial_d)(Device *d, long n, double *part, const double *x, long R, int C,
                          int rows);
    void (*add_sums)(Device *d, long n, float *acc, const double *sum);
    void (*bn_mean)(Device *d, long n, double *mean_d, float *save_mean, const double *sum,
                    long M);
    void (*bn_var)(Device *d, long n, float *save_invstd, float *moving_mean, float *moving_var,
                   const double *mean_d, const double *sq, long M, float momentum, float eps);
    void (*bn_infer_invstd)(Device *d, long n, float *invstd, const float *moving_var,
                            float eps);
    void (*bn_apply)(Device *d, long n, float *out, const float *in, const float *mean,
                     const float *invstd, const float *gamma, const float *beta, int C,
                     int relu);
    void (*bn_backward)(Device *d, long n, float *din, const float *dout, const float *in,
                        const float *mean, const float *invstd, const float *gamma,
                        const double *sum_g, const double *sum_gx, long M, int C);
    /* K x K windows, stride S, padding P, on H x W in and Ho x Wo out */
    void (*maxpool_forward)(Device *d, long n, float *out, const float *in, int H, int W, int C,
                            int K, int S, int P, int Ho, int Wo);
    void (*maxpool_backward)(Device *d, long n, float *din, const float *dout, const float *in,
                             int H, int W, int C, int K, int S, int P, int Ho, int Wo);
    void (*dropout_forward)(Device *d, long n, float *out, float *mask, const float *in,
                            float rate, uint64_t key);
    void (*mul)(Device *d, long n, float *out, const float *a, const float *b);
    void (*add)(Device *d, long n, float *out, const float *a, const float *b, int relu);
    void (*gap_forward)(Device *d, long n, float *out, const float *in, long HW, int C);
    void (*gap_backward)(Device *d, long n, float *din, const float *dout, long HW, int C);
    void (*adam)(Device *d, long n, float *p, float *m, float *v, const float *g, float alpha,
                 float beta1, float beta2, float eps);
    void (*aug_geometry)(Device *d, long n, float *x, const uint8_t *images, const int *idx,
                         const AugParams *params, int H, int W);
    void (*aug_mean)(Device *d, long n, float *mean, const float *x, int H, int W);
    void (*aug_colour_flip)(Device *d, long n, float *out, const float *x, const float *mean,
                            const AugParams *params, int H, int W);
} DeviceOps;

/* The CPU emulation (always present). */
const DeviceOps *device_emulated(void);
/* The CUDA backend, or NULL when this build has none (no nvcc at build time). */
const DeviceOps *device_cuda(void);

/* --device values. */
typedef enum DeviceChoice { DEVICE_CPU, DEVICE_CUDA, DEVICE_AUTO, DEVICE_EMULATED } DeviceChoice;
/* "cpu", "cuda", "auto", "emulated"; -1 when unknown. */
int device_choice_parse(const char *name, DeviceChoice *out);
const char *device_choice_name(DeviceChoice c);
/* "cuda" when built with the CUDA backend, else "" (for `augprobe info`). */
const char *device_backends_compiled(void);

#ifdef __cplusplus
}
#endif

#endif
