/* emu.c - the GPU path's device (device.h) emulated on the CPU: host
 * memory, and every op of gpu_ops.h run as a plain serial loop over its
 * index space, the GEMM as a textbook column-major loop. Slow; it exists so
 * that src/device/gpu_net.c (everything the GPU does but the CUDA calls) is run
 * and tested on any machine. Also: --device parsing.
 *
 * Device memory is tracked, and every op checks its pointers: a host
 * pointer handed to an op, or an op or transfer reaching past its buffer,
 * works by accident in host memory but faults on a GPU, so here it stops
 * the program with a message (a caller bug, found by the tests on any
 * machine). */
#include "device.h"

#include <stdlib.h>
#include <string.h>

#include "gpu_ops.h"

typedef struct Block {
    const char *p;
    size_t n;
} Block;

struct Device {
    Block *blocks; /* live allocations */
    int n_blocks, cap;
};

static const Block *find_block(const Device *d, const void *p) {
    const char *c = p;
    for (int i = 0; i < d->n_blocks; i++)
        if (c >= d->blocks[i].p && c < d->blocks[i].p + d->blocks[i].n) return &d->blocks[i];
    return NULL;
}

/* p .. p+bytes must lie in one device allocation. */
static void need(const Device *d, const void *p, size_t bytes, const char *op) {
    const Block *b = find_block(d, p);
    if (b && (const char *)p + bytes <= b->p + b->n) return;
    fprintf(stderr, "augprobe: device emulation: %s: %p %s\n", op, p,
            b ? "reaches past the end of its device buffer" : "is not device memory");
    abort();
}

static void need_host(const Device *d, const void *p, const char *op) {
    if (!find_block(d, p)) return;
    fprintf(stderr, "augprobe: device emulation: %s: %p is device memory, not host\n", op, p);
    abort();
}

static Device *emu_open(Err *e) {
    (void)e;
    return xcalloc(1, sizeof(Device));
}

static void emu_close(Device *d) {
    free(d->blocks);
    free(d);
}

static void emu_describe(Device *d, char *buf, size_t len) {
    (void)d;
    snprintf(buf, len, "CPU emulation of the GPU path");
}

static void *emu_alloc(Device *d, size_t bytes, Err *e) {
    (void)e;
    if (d->n_blocks == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->blocks = xrealloc(d->blocks, sizeof(Block) * (size_t)d->cap);
    }
    char *p = xcalloc(1, bytes ? bytes : 1);
    d->blocks[d->n_blocks++] = (Block){p, bytes ? bytes : 1};
    return p;
}

static void emu_free(Device *d, void *p) {
    if (!p) return;
    for (int i = 0; i < d->n_blocks; i++)
        if (d->blocks[i].p == p) {
            d->blocks[i] = d->blocks[--d->n_blocks];
            free(p);
            return;
        }
    need(d, p, 1, "free"); /* not an allocation's start: stops */
}

static int emu_upload(Device *d, void *dst, const void *src, size_t bytes, Err *e) {
    (void)e;
    need(d, dst, bytes, "upload");
    need_host(d, src, "upload");
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}

static int emu_download(Device *d, void *dst, const void *src, size_t bytes, Err *e) {
    (void)e;
    need(d, src, bytes, "download");
    need_host(d, dst, "download");
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}

static int emu_sync(Device *d, Err *e) {
    (void)d, (void)e;
    return 0;
}

static void emu_zero(Device *d, void *p, size_t bytes) {
    need(d, p, bytes, "zero");
    memset(p, 0, bytes);
}

static void emu_copy(Device *d, void *dst, const void *src, size_t bytes) {
    need(d, dst, bytes, "copy"), need(d, src, bytes, "copy");
    if (bytes) memcpy(dst, src, bytes);
}

/* Column-major, as cublasSgemm. Sums in double: the emulation checks the
 * GPU path's logic, not cuBLAS's rounding (a plain float sum over 32,768
 * terms would be less accurate than cuBLAS's blocked one). Loop orders keep
 * the inner loop contiguous (the golden test runs a full batch). */
static void emu_gemm(Device *d, int ta, int tb, int m, int n, int k, float alpha, const float *A,
                     int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    size_t f = sizeof(float);
    need(d, A, f * (ta ? (size_t)lda * (m - 1) + k : (size_t)lda * (k - 1) + m), "gemm A");
    need(d, B, f * (tb ? (size_t)ldb * (k - 1) + n : (size_t)ldb * (n - 1) + k), "gemm B");
    need(d, C, f * ((size_t)ldc * (n - 1) + m), "gemm C");
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
        for (long i = 0; i < (n); i++) call;                                                   \
    } while (0)
/* bytes of k floats / doubles, for need() */
#define F(k) ((size_t)(k) * sizeof(float))
#define D(k) ((size_t)(k) * sizeof(double))

static void emu_im2col(Device *d, long n, float *col, const float *in, int N, int H, int W,
                       int C, int K, int S, int Ho, int Wo) {
    need(d, col, F(n), "im2col"), need(d, in, F((long)N * H * W * C), "im2col");
    LOOP(n, op_im2col(i, col, in, N, H, W, C, K, S, Ho, Wo));
}
static void emu_col2im(Device *d, long n, float *din, const float *dcol, int N, int H, int W,
                       int C, int K, int S, int Ho, int Wo) {
    need(d, din, F(n), "col2im"), need(d, dcol, F((long)N * Ho * Wo * K * K * C), "col2im");
    LOOP(n, op_col2im(i, din, dcol, N, H, W, C, K, S, Ho, Wo));
}
static void emu_bias_act(Device *d, long n, float *out, const float *bias, int C, int relu) {
    need(d, out, F(n), "bias_act");
    if (bias) need(d, bias, F(C), "bias_act");
    LOOP(n, op_bias_act(i, out, bias, C, relu));
}
static void emu_relu_backward(Device *d, long n, float *g, const float *out) {
    need(d, g, F(n), "relu_backward"), need(d, out, F(n), "relu_backward");
    LOOP(n, op_relu_backward(i, g, out));
}
static void emu_col_partial(Device *d, long n, double *part, const float *x, const float *y,
                            const double *center, const float *mean, const float *invstd,
                            long M, int C, int rows, int mode) {
    need(d, part, D(n), "col_partial"), need(d, x, F(M * C), "col_partial");
    if (mode == COL_SUMSQ_CENTERED) need(d, center, D(C), "col_partial");
    if (mode == COL_SUM_XHAT_PROD)
        need(d, y, F(M * C), "col_partial"), need(d, mean, F(C), "col_partial"),
            need(d, invstd, F(C), "col_partial");
    LOOP(n, op_col_partial(i, part, x, y, center, mean, invstd, M, C, rows, mode));
}
static void emu_col_partial_d(Device *d, long n, double *part, const double *x, long R, int C,
                              int rows) {
    need(d, part, D(n), "col_partial_d"), need(d, x, D(R * C), "col_partial_d");
    LOOP(n, op_col_partial_d(i, part, x, R, C, rows));
}
static void emu_add_sums(Device *d, long n, float *acc, const double *sum) {
    need(d, acc, F(n), "add_sums"), need(d, sum, D(n), "add_sums");
    LOOP(n, op_add_sums(i, acc, sum));
}
static void emu_bn_mean(Device *d, long n, double *mean_d, float *save_mean, const double *sum,
                        long M) {
    need(d, mean_d, D(n), "bn_mean"), need(d, save_mean, F(n), "bn_mean");
    need(d, sum, D(n), "bn_mean");
    LOOP(n, op_bn_mean(i, mean_d, save_mean, sum, M));
}
static void emu_bn_var(Device *d, long n, float *save_invstd, float *moving_mean,
                       float *moving_var, const double *mean_d, const double *sq, long M,
                       float momentum, float eps) {
    need(d, save_invstd, F(n), "bn_var"), need(d, moving_mean, F(n), "bn_var");
    need(d, moving_var, F(n), "bn_var"), need(d, mean_d, D(n), "bn_var"), need(d, sq, D(n), "bn_var");
    LOOP(n, op_bn_var(i, save_invstd, moving_mean, moving_var, mean_d, sq, M, momentum, eps));
}
static void emu_bn_infer_invstd(Device *d, long n, float *invstd, const float *moving_var,
                                float eps) {
    need(d, invstd, F(n), "bn_infer_invstd"), need(d, moving_var, F(n), "bn_infer_invstd");
    LOOP(n, op_bn_infer_invstd(i, invstd, moving_var, eps));
}
static void emu_bn_apply(Device *d, long n, float *out, const float *in, const float *mean,
                         const float *invstd, const float *gamma, const float *beta, int C,
                         int relu) {
    need(d, out, F(n), "bn_apply"), need(d, in, F(n), "bn_apply");
    need(d, mean, F(C), "bn_apply"), need(d, invstd, F(C), "bn_apply");
    need(d, gamma, F(C), "bn_apply"), need(d, beta, F(C), "bn_apply");
    LOOP(n, op_bn_apply(i, out, in, mean, invstd, gamma, beta, C, relu));
}
static void emu_bn_backward(Device *d, long n, float *din, const float *dout, const float *in,
                            const float *mean, const float *invstd, const float *gamma,
                            const double *sum_g, const double *sum_gx, long M, int C) {
    need(d, din, F(n), "bn_backward"), need(d, dout, F(n), "bn_backward");
    need(d, in, F(n), "bn_backward"), need(d, mean, F(C), "bn_backward");
    need(d, invstd, F(C), "bn_backward"), need(d, gamma, F(C), "bn_backward");
    need(d, sum_g, D(C), "bn_backward"), need(d, sum_gx, D(C), "bn_backward");
    LOOP(n, op_bn_backward(i, din, dout, in, mean, invstd, gamma, sum_g, sum_gx, M, C));
}
/* n is the output's N*Ho*Wo*C (forward) or the input's N*H*W*C (backward);
 * the other side has the same N and C. */
static void emu_maxpool_forward(Device *d, long n, float *out, const float *in, int H, int W,
                                int C, int K, int S, int P, int Ho, int Wo) {
    long N = n / ((long)Ho * Wo * C);
    need(d, out, F(n), "maxpool_forward"), need(d, in, F(N * H * W * C), "maxpool_forward");
    LOOP(n, op_maxpool_forward(i, out, in, H, W, C, K, S, P, Ho, Wo));
}
static void emu_maxpool_backward(Device *d, long n, float *din, const float *dout,
                                 const float *in, int H, int W, int C, int K, int S, int P,
                                 int Ho, int Wo) {
    long N = n / ((long)H * W * C);
    need(d, din, F(n), "maxpool_backward"), need(d, in, F(n), "maxpool_backward");
    need(d, dout, F(N * Ho * Wo * C), "maxpool_backward");
    LOOP(n, op_maxpool_backward(i, din, dout, in, H, W, C, K, S, P, Ho, Wo));
}
static void emu_dropout_forward(Device *d, long n, float *out, float *mask, const float *in,
                                float rate, uint64_t key) {
    need(d, out, F(n), "dropout_forward"), need(d, mask, F(n), "dropout_forward");
    need(d, in, F(n), "dropout_forward");
    LOOP(n, op_dropout_forward(i, out, mask, in, rate, key));
}
static void emu_mul(Device *d, long n, float *out, const float *a, const float *b) {
    need(d, out, F(n), "mul"), need(d, a, F(n), "mul"), need(d, b, F(n), "mul");
    LOOP(n, op_mul(i, out, a, b));
}
static void emu_add(Device *d, long n, float *out, const float *a, const float *b, int relu) {
    need(d, out, F(n), "add"), need(d, a, F(n), "add"), need(d, b, F(n), "add");
    LOOP(n, op_add(i, out, a, b, relu));
}
static void emu_gap_forward(Device *d, long n, float *out, const float *in, long HW, int C) {
    need(d, out, F(n), "gap_forward"), need(d, in, F(n * HW), "gap_forward");
    LOOP(n, op_gap_forward(i, out, in, HW, C));
}
static void emu_gap_backward(Device *d, long n, float *din, const float *dout, long HW, int C) {
    need(d, din, F(n), "gap_backward"), need(d, dout, F(n / HW), "gap_backward");
    LOOP(n, op_gap_backward(i, din, dout, HW, C));
}
static void emu_adam(Device *d, long n, float *p, float *m, float *v, const float *g,
                     float alpha, float beta1, float beta2, float eps) {
    need(d, p, F(n), "adam"), need(d, m, F(n), "adam"), need(d, v, F(n), "adam");
    need(d, g, F(n), "adam");
    LOOP(n, op_adam(i, p, m, v, g, alpha, beta1, beta2, eps));
}
static void emu_aug_geometry(Device *d, long n, float *x, const uint8_t *images, const int *idx,
                             const AugParams *params, int H, int W) {
    long nb = n / ((long)H * W);
    need(d, x, F(3 * n), "aug_geometry"), need(d, images, 1, "aug_geometry");
    need(d, idx, sizeof(int) * (size_t)nb, "aug_geometry");
    need(d, params, sizeof(AugParams) * (size_t)nb, "aug_geometry");
    LOOP(n, op_aug_geometry(i, x, images, idx, params, H, W));
}
static void emu_aug_mean(Device *d, long n, float *mean, const float *x, int H, int W) {
    need(d, mean, F(n), "aug_mean"), need(d, x, F(n * H * W), "aug_mean");
    LOOP(n, op_aug_mean(i, mean, x, H, W));
}
static void emu_aug_colour_flip(Device *d, long n, float *out, const float *x,
                                const float *mean, const AugParams *params, int H, int W) {
    long nb = n / ((long)H * W);
    need(d, out, F(3 * n), "aug_colour_flip"), need(d, x, F(3 * n), "aug_colour_flip");
    need(d, mean, F(3 * nb), "aug_colour_flip");
    need(d, params, sizeof(AugParams) * (size_t)nb, "aug_colour_flip");
    LOOP(n, op_aug_colour_flip(i, out, x, mean, params, H, W));
}

static const DeviceOps EMULATED = {
    .name = "emulated",
    .open = emu_open,
    .close = emu_close,
    .describe = emu_describe,
    .alloc = emu_alloc,
    .free = emu_free,
    .upload = emu_upload,
    .download = emu_download,
    .sync = emu_sync,
    .zero = emu_zero,
    .copy = emu_copy,
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
    .add = emu_add,
    .gap_forward = emu_gap_forward,
    .gap_backward = emu_gap_backward,
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
