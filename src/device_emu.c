/* device_emu.c - the GPU path's device (device.h) emulated on the CPU: host
 * memory, and every op of gpu_ops.h run as a plain serial loop over its
 * index space, the GEMM as a textbook column-major loop. Slow; it exists so
 * that src/gpu_net.c (everything the GPU does but the CUDA calls) is run
 * and tested on any machine. Also: --device parsing. */
#include "device.h"

#include <stdlib.h>
#include <string.h>

#include "gpu_ops.h"

struct Device {
    long allocs; /* live allocations, for the leak check in tests */
};

static Device *emu_open(Err *e) {
    (void)e;
    return xcalloc(1, sizeof(Device));
}

static void emu_close(Device *d) { free(d); }

static void emu_describe(Device *d, char *buf, size_t len) {
    (void)d;
    snprintf(buf, len, "CPU emulation of the GPU path");
}

static void *emu_alloc(Device *d, size_t bytes, Err *e) {
    (void)e;
    d->allocs++;
    return xcalloc(1, bytes ? bytes : 1);
}

static void emu_free(Device *d, void *p) {
    if (!p) return;
    d->allocs--;
    free(p);
}

static int emu_copy(Device *d, void *dst, const void *src, size_t bytes, Err *e) {
    (void)d, (void)e;
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}

static int emu_sync(Device *d, Err *e) {
    (void)d, (void)e;
    return 0;
}

static void emu_zero(Device *d, void *p, size_t bytes) {
    (void)d;
    memset(p, 0, bytes);
}

/* Column-major, as cublasSgemm. Sums in double: the emulation checks the
 * GPU path's logic, not cuBLAS's rounding (a plain float sum over 32,768
 * terms would be less accurate than cuBLAS's blocked one). Loop orders keep
 * the inner loop contiguous (the golden test runs a full batch). */
static void emu_gemm(Device *d, int ta, int tb, int m, int n, int k, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    (void)d;
    for (int j = 0; j < n; j++) {
        float *c = C + (long)j * ldc;
        if (ta) { /* C(i,j) = alpha * dot(A(:,i) of A^T..., B(:,j)) */
            for (int i = 0; i < m; i++) {
                const float *a = A + (long)i * lda;
                double acc = 0.0;
                for (int p = 0; p < k; p++)
                    acc += (double)a[p] * (tb ? B[(long)p * ldb + j] : B[(long)j * ldb + p]);
                c[i] = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * c[i]));
            }
        } else {
            double *acc = xcalloc((size_t)m, sizeof(double));
            for (int p = 0; p < k; p++) {
                double b = tb ? B[(long)p * ldb + j] : B[(long)j * ldb + p];
                const float *a = A + (long)p * lda;
                for (int i = 0; i < m; i++) acc[i] += a[i] * b;
            }
            for (int i = 0; i < m; i++)
                c[i] = (float)(alpha * acc[i] + (beta == 0.0f ? 0.0 : (double)beta * c[i]));
            free(acc);
        }
    }
}

#define LOOP(n, call)                                                                          \
    do {                                                                                       \
        (void)d;                                                                               \
        for (long i = 0; i < (n); i++) call;                                                   \
    } while (0)

static void emu_im2col(Device *d, long n, float *col, const float *in, int N, int H, int W,
                       int C, int K) {
    LOOP(n, op_im2col(i, col, in, N, H, W, C, K));
}
static void emu_col2im(Device *d, long n, float *din, const float *dcol, int N, int H, int W,
                       int C, int K) {
    LOOP(n, op_col2im(i, din, dcol, N, H, W, C, K));
}
static void emu_bias_act(Device *d, long n, float *out, const float *bias, int C, int relu) {
    LOOP(n, op_bias_act(i, out, bias, C, relu));
}
static void emu_relu_backward(Device *d, long n, float *g, const float *out) {
    LOOP(n, op_relu_backward(i, g, out));
}
static void emu_col_partial(Device *d, long n, double *part, const float *x, const float *y,
                            const double *center, const float *mean, const float *invstd,
                            long M, int C, int rows, int mode) {
    LOOP(n, op_col_partial(i, part, x, y, center, mean, invstd, M, C, rows, mode));
}
static void emu_col_partial_d(Device *d, long n, double *part, const double *x, long R, int C,
                              int rows) {
    LOOP(n, op_col_partial_d(i, part, x, R, C, rows));
}
static void emu_add_sums(Device *d, long n, float *acc, const double *sum) {
    LOOP(n, op_add_sums(i, acc, sum));
}
static void emu_bn_mean(Device *d, long n, double *mean_d, float *save_mean, const double *sum,
                        long M) {
    LOOP(n, op_bn_mean(i, mean_d, save_mean, sum, M));
}
static void emu_bn_var(Device *d, long n, float *save_invstd, float *moving_mean,
                       float *moving_var, const double *mean_d, const double *sq, long M,
                       float momentum, float eps) {
    LOOP(n, op_bn_var(i, save_invstd, moving_mean, moving_var, mean_d, sq, M, momentum, eps));
}
static void emu_bn_infer_invstd(Device *d, long n, float *invstd, const float *moving_var,
                                float eps) {
    LOOP(n, op_bn_infer_invstd(i, invstd, moving_var, eps));
}
static void emu_bn_apply(Device *d, long n, float *out, const float *in, const float *mean,
                         const float *invstd, const float *gamma, const float *beta, int C) {
    LOOP(n, op_bn_apply(i, out, in, mean, invstd, gamma, beta, C));
}
static void emu_bn_backward(Device *d, long n, float *din, const float *dout, const float *in,
                            const float *mean, const float *invstd, const float *gamma,
                            const double *sum_g, const double *sum_gx, long M, int C) {
    LOOP(n, op_bn_backward(i, din, dout, in, mean, invstd, gamma, sum_g, sum_gx, M, C));
}
static void emu_maxpool_forward(Device *d, long n, float *out, const float *in, int H, int W,
                                int C) {
    LOOP(n, op_maxpool_forward(i, out, in, H, W, C));
}
static void emu_maxpool_backward(Device *d, long n, float *din, const float *dout,
                                 const float *in, int H, int W, int C) {
    LOOP(n, op_maxpool_backward(i, din, dout, in, H, W, C));
}
static void emu_dropout_forward(Device *d, long n, float *out, float *mask, const float *in,
                                float rate, uint64_t key) {
    LOOP(n, op_dropout_forward(i, out, mask, in, rate, key));
}
static void emu_mul(Device *d, long n, float *out, const float *a, const float *b) {
    LOOP(n, op_mul(i, out, a, b));
}
static void emu_adam(Device *d, long n, float *p, float *m, float *v, const float *g,
                     float alpha, float beta1, float beta2, float eps) {
    LOOP(n, op_adam(i, p, m, v, g, alpha, beta1, beta2, eps));
}
static void emu_aug_geometry(Device *d, long n, float *x, const uint8_t *images, const int *idx,
                             const AugParams *params, int H, int W) {
    LOOP(n, op_aug_geometry(i, x, images, idx, params, H, W));
}
static void emu_aug_mean(Device *d, long n, float *mean, const float *x, int H, int W) {
    LOOP(n, op_aug_mean(i, mean, x, H, W));
}
static void emu_aug_colour_flip(Device *d, long n, float *out, const float *x,
                                const float *mean, const AugParams *params, int H, int W) {
    LOOP(n, op_aug_colour_flip(i, out, x, mean, params, H, W));
}

static const DeviceOps EMULATED = {
    .name = "emulated",
    .open = emu_open,
    .close = emu_close,
    .describe = emu_describe,
    .alloc = emu_alloc,
    .free = emu_free,
    .upload = emu_copy,
    .download = emu_copy,
    .sync = emu_sync,
    .zero = emu_zero,
    .gemm = emu_gemm,
    .im2col = emu_im2col,
    .col2im = emu_col2im,
    .bias_act = emu_bias_act,
    .relu_backward = emu_relu_backward,
    .col_partial = emu_col_partial,
    .col_partial_d = emu_col_partial_d,
    .add_sums = emu_add_sums,
    .bn_mean = emu_bn_mean,
    .bn_var = emu_bn_var,
    .bn_infer_invstd = emu_bn_infer_invstd,
    .bn_apply = emu_bn_apply,
    .bn_backward = emu_bn_backward,
    .maxpool_forward = emu_maxpool_forward,
    .maxpool_backward = emu_maxpool_backward,
    .dropout_forward = emu_dropout_forward,
    .mul = emu_mul,
    .adam = emu_adam,
    .aug_geometry = emu_aug_geometry,
    .aug_mean = emu_aug_mean,
    .aug_colour_flip = emu_aug_colour_flip,
};

const DeviceOps *device_emulated(void) { return &EMULATED; }

static const char *const CHOICE_NAMES[] = {"cpu", "cuda", "auto", "emulated"};

int device_choice_parse(const char *name, DeviceChoice *out) {
    for (int c = 0; c < 4; c++)
        if (!strcmp(name, CHOICE_NAMES[c])) {
            *out = (DeviceChoice)c;
            return 0;
        }
    return -1;
}

const char *device_choice_name(DeviceChoice c) {
    return (unsigned)c < 4 ? CHOICE_NAMES[c] : "?";
}

const char *device_backends_compiled(void) { return device_cuda() ? "cuda" : ""; }
