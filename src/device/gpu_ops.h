/* gpu_ops.h - the element-wise work of the GPU path, written as plain
 * functions of one index i. The CUDA backend (src/device/cuda.cu) runs each
 * op as a kernel with one thread per index; the CPU emulation
 * (src/device/emu.c) runs the same function in a loop. Same source, so the
 * index arithmetic and numerics of the GPU path are tested on any machine
 * (tests/test_device.c compares the emulation with the reference layers).
 *
 * Every op is deterministic: reductions have a fixed order (col_partial sums
 * fixed chunks of rows, in double), no atomics, so a GPU run repeats to the
 * bit. Layouts are those of layers.h (NHWC activations, HWIO conv kernels,
 * [In][Out] dense kernels). Self-contained C, also valid CUDA C++. */
#ifndef AUGPROBE_GPU_OPS_H
#define AUGPROBE_GPU_OPS_H

#include <math.h>
#include <stdint.h>

#include "../augment_math.h"

#ifdef __CUDACC__
#define GPU_HD __host__ __device__ static inline
#else
#define GPU_HD static inline
#endif

/* ---- convolution as im2col + GEMM ---- */

/* col[m][kh][kw][c] = in[n][y*S+kh-K/2][x*S+kw-K/2][c] (0 outside), m = (n, y, x)
 * over the Ho x Wo output; i over N*Ho*Wo*K*K*C. col . w (HWIO) is then the
 * convolution with stride S and zero padding K/2. */
GPU_HD void op_im2col(long i, float *col, const float *in, int N, int H, int W, int C, int K,
                      int S, int Ho, int Wo) {
    (void)N;
    int c = (int)(i % C);
    long t = i / C;
    int kw = (int)(t % K);
    t /= K;
    int kh = (int)(t % K);
    long m = t / K;
    int x = (int)(m % Wo), y = (int)((m / Wo) % Ho);
    long n = m / ((long)Wo * Ho);
    int sr = y * S + kh - K / 2, sc = x * S + kw - K / 2;
    col[i] = (sr >= 0 && sr < H && sc >= 0 && sc < W) ? in[((n * H + sr) * W + sc) * C + c] : 0.0f;
}

/* The adjoint of im2col: din[n][h][w][c] = sum over (kh, kw) of
 * dcol[(n, y, x)][kh][kw][c] where y*S = h-kh+K/2 and x*S = w-kw+K/2 fall in
 * the output; i over N*H*W*C (a gather, no atomics). */
GPU_HD void op_col2im(long i, float *din, const float *dcol, int N, int H, int W, int C, int K,
                      int S, int Ho, int Wo) {
    (void)N;
    int c = (int)(i % C);
    long t = i / C;
    int w = (int)(t % W), h = (int)((t / W) % H);
    long n = t / ((long)W * H);
    float acc = 0.0f;
    for (int kh = 0; kh < K; kh++) {
        int r = h - kh + K / 2;
        if (r < 0 || r % S || r / S >= Ho) continue;
        for (int kw = 0; kw < K; kw++) {
            int q = w - kw + K / 2;
            if (q < 0 || q % S || q / S >= Wo) continue;
            long m = (n * Ho + r / S) * Wo + q / S;
            acc += dcol[(m * K * K + (long)kh * K + kw) * C + c];
        }
    }
    din[i] = acc;
}

/* out[m][c] += bias[c] (bias NULL: a conv without one, nothing added),
 * then ReLU when relu; i over M*C. */
GPU_HD void op_bias_act(long i, float *out, const float *bias, int C, int relu) {
    float v = bias ? out[i] + bias[i % C] : out[i];
    out[i] = relu && !(v > 0.0f) ? 0.0f : v;
}

/* g[i] = out[i] > 0 ? g[i] : 0 (ReLU's backward on its output). */
GPU_HD void op_relu_backward(long i, float *g, const float *out) {
    if (!(out[i] > 0.0f)) g[i] = 0.0f;
}

/* ---- column sums in a fixed order ---- */

enum { COL_SUM = 0, COL_SUMSQ_CENTERED = 1, COL_SUM_XHAT_PROD = 2 };

/* Partial column sums of an M x C matrix over chunks of `rows` rows:
 * part[chunk][c], i over chunks*C. mode COL_SUM: x; COL_SUMSQ_CENTERED:
 * (x - center[c])^2 (double center); COL_SUM_XHAT_PROD: y * xhat with
 * xhat = (x - mean[c]) * invstd[c] in float, as the reference BN backward. */
GPU_HD void op_col_partial(long i, double *part, const float *x, const float *y,
                           const double *center, const float *mean, const float *invstd,
                           long M, int C, int rows, int mode) {
    int c = (int)(i % C);
    long lo = (i / C) * rows, hi = lo + rows < M ? lo + rows : M;
    double acc = 0.0;
    for (long m = lo; m < hi; m++) {
        float v = x[m * C + c];
        if (mode == COL_SUM) {
            acc += v;
        } else if (mode == COL_SUMSQ_CENTERED) {
            double d = v - center[c];
            acc += d * d;
        } else {
            double xhat = (v - mean[c]) * invstd[c];
            acc += (double)y[m * C + c] * xhat;
        }
    }
    part[i] = acc;
}

/* The same over an R x C matrix of doubles (the next level). */
GPU_HD void op_col_partial_d(long i, double *part, const double *x, long R, int C, int rows) {
    int c = (int)(i % C);
    long lo = (i / C) * rows, hi = lo + rows < R ? lo + rows : R;
    double acc = 0.0;
    for (long r = lo; r < hi; r++) acc += x[r * C + c];
    part[i] = acc;
}

/* acc[c] += (float)sum[c]; i over C (bias and BN parameter gradients). */
GPU_HD void op_add_sums(long i, float *acc, const double *sum) { acc[i] += (float)sum[i]; }

/* ---- batch normalisation (layers.h semantics) ---- */

/* mean_d[c] = sum[c] / M, save_mean[c] = (float)mean_d[c]; i over C. */
GPU_HD void op_bn_mean(long i, double *mean_d, float *save_mean, const double *sum, long M) {
    mean_d[i] = sum[i] / (double)M;
    save_mean[i] = (float)mean_d[i];
}

/* From the centred sum of squares: save_invstd and the moving statistics
 * (unbiased variance for the moving one, as Keras's fused kernel); i over C. */
GPU_HD void op_bn_var(long i, float *save_invstd, float *moving_mean, float *moving_var,
                      const double *mean_d, const double *sq, long M, float momentum,
                      float eps) {
    double var = sq[i] / (double)M;
    save_invstd[i] = (float)(1.0 / sqrt(var + eps));
    double unbiased = M > 1 ? sq[i] / (double)(M - 1) : var;
    moving_mean[i] = momentum * moving_mean[i] + (1.0f - momentum) * (float)mean_d[i];
    moving_var[i] = momentum * moving_var[i] + (1.0f - momentum) * (float)unbiased;
}

/* Inference coefficients: invstd[c] = 1 / sqrt(moving_var[c] + eps); i over C. */
GPU_HD void op_bn_infer_invstd(long i, float *invstd, const float *moving_var, float eps) {
    invstd[i] = 1.0f / sqrtf(moving_var[i] + eps);
}

/* out = ((in - mean) * invstd) * gamma + beta, then ReLU when relu (a
 * fused `batchnorm relu`, as kinds.c's bn_forward); i over M*C. */
GPU_HD void op_bn_apply(long i, float *out, const float *in, const float *mean,
                        const float *invstd, const float *gamma, const float *beta, int C,
                        int relu) {
    int c = (int)(i % C);
    float v = ((in[i] - mean[c]) * invstd[c]) * gamma[c] + beta[c];
    out[i] = relu && !(v > 0.0f) ? 0.0f : v;
}

/* din = gamma*invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)); i over M*C. */
GPU_HD void op_bn_backward(long i, float *din, const float *dout, const float *in,
                           const float *mean, const float *invstd, const float *gamma,
                           const double *sum_g, const double *sum_gx, long M, int C) {
    int c = (int)(i % C);
    double xhat = (in[i] - mean[c]) * invstd[c];
    double k = gamma[c] * invstd[c] / (double)M;
    din[i] = (float)(k * ((double)M * dout[i] - sum_g[c] - xhat * sum_gx[c]));
}

/* ---- max-pool: K x K windows, stride S, padding P (layers.h's ref_maxpool_*) ---- */

/* The input index of window (y, x)'s FIRST maximum in row-major order, in
 * channel c of example n (as the reference's pool_argmax: padding is
 * outside every window, so it never wins); -1 for a window wholly in the
 * padding, which P <= K/2 rules out. Deliberately a second copy of
 * layers.c's pool_argmax: that one is this op's oracle in the tests. */
GPU_HD long op_pool_argmax(const float *in, long n, int H, int W, int C, int c, int y, int x,
                           int K, int S, int P) {
    long best_i = -1;
    float best = -INFINITY;
    for (int ky = 0; ky < K; ky++) {
        int iy = y * S + ky - P;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < K; kx++) {
            int ix = x * S + kx - P;
            if (ix < 0 || ix >= W) continue;
            long j = ((n * H + iy) * W + ix) * C + c;
            if (best_i < 0 || in[j] > best) {
                best = in[j];
                best_i = j;
            }
        }
    }
    return best_i;
}

/* out = each window's maximum; i over the OUTPUT N*Ho*Wo*C. */
GPU_HD void op_maxpool_forward(long i, float *out, const float *in, int H, int W, int C, int K,
                               int S, int P, int Ho, int Wo) {
    int c = (int)(i % C);
    long t = i / C;
    int x = (int)(t % Wo), y = (int)((t / Wo) % Ho);
    long n = t / ((long)Wo * Ho);
    long j = op_pool_argmax(in, n, H, W, C, c, y, x, K, S, P);
    out[i] = j < 0 ? -INFINITY : in[j];
}

/* din = the sum of dout over the windows whose first maximum is this
 * element (windows overlap when S < K), a gather: i over the INPUT
 * N*H*W*C. Window y covers rows y*S-P .. y*S-P+K-1, so row h is in windows
 * ceil((h+P-K+1)/S) .. (h+P)/S (likewise columns); they are visited in
 * row-major order from 0, the order in which the reference adds into
 * din, so the sum has the same bits. */
GPU_HD void op_maxpool_backward(long i, float *din, const float *dout, const float *in, int H,
                                int W, int C, int K, int S, int P, int Ho, int Wo) {
    int c = (int)(i % C);
    long t = i / C;
    int w = (int)(t % W), h = (int)((t / W) % H);
    long n = t / ((long)W * H);
    int y0 = h + P - K + 1 > 0 ? (h + P - K + S) / S : 0, y1 = (h + P) / S;
    int x0 = w + P - K + 1 > 0 ? (w + P - K + S) / S : 0, x1 = (w + P) / S;
    if (y1 > Ho - 1) y1 = Ho - 1;
    if (x1 > Wo - 1) x1 = Wo - 1;
    float acc = 0.0f;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (op_pool_argmax(in, n, H, W, C, c, y, x, K, S, P) == i)
                acc += dout[((n * Ho + y) * Wo + x) * C + c];
    din[i] = acc;
}

/* ---- dropout, products, Adam ---- */

/* A uniform float in [0, 1) from (key, i): splitmix64's finaliser, top 24
 * bits. Counter-based, so every thread draws its own without shared state. */
GPU_HD float op_hash_uniform(uint64_t key, long i) {
    uint64_t z = key + 0x9E3779B97F4A7C15ull * ((uint64_t)i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

/* Inverted dropout: mask = 1/(1-rate) with probability 1-rate, else 0. */
GPU_HD void op_dropout_forward(long i, float *out, float *mask, const float *in, float rate,
                               uint64_t key) {
    float keep = 1.0f - rate;
    mask[i] = op_hash_uniform(key, i) < keep ? 1.0f / keep : 0.0f;
    out[i] = in[i] * mask[i];
}

/* out[i] = a[i] * b[i] (dropout backward: gradient times mask). */
GPU_HD void op_mul(long i, float *out, const float *a, const float *b) { out[i] = a[i] * b[i]; }

/* ---- residual add, global average pool ---- */

/* out[i] = a[i] + b[i], then ReLU when relu (layers.h's ref_add_forward);
 * out may be a (gradients added into a buffer). */
GPU_HD void op_add(long i, float *out, const float *a, const float *b, int relu) {
    float v = a[i] + b[i];
    out[i] = relu && !(v > 0.0f) ? 0.0f : v;
}

/* out[n][c] = the mean of in[n][.][.][c] over HW positions, summed in
 * double (ref_gap_forward); i over N*C. */
GPU_HD void op_gap_forward(long i, float *out, const float *in, long HW, int C) {
    int c = (int)(i % C);
    long n = i / C;
    double s = 0.0;
    for (long p = 0; p < HW; p++) s += in[(n * HW + p) * C + c];
    out[i] = (float)(s / (double)HW);
}

/* din[n][p][c] = dout[n][c] / HW (ref_gap_backward); i over N*HW*C. */
GPU_HD void op_gap_backward(long i, float *din, const float *dout, long HW, int C) {
    int c = (int)(i % C);
    long n = i / (HW * C);
    din[i] = dout[n * C + c] * (1.0f / (float)HW);
}

/* Keras's Adam (optim.h), alpha computed by the caller for this step. */
GPU_HD void op_adam(long i, float *p, float *m, float *v, const float *g, float alpha,
                    float beta1, float beta2, float eps) {
    float gi = g[i];
    m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    p[i] -= alpha * m[i] / (sqrtf(v[i]) + eps);
}

/* ---- augmentation of uint8 HWC images (augment.h's aug_apply) ---- */

/* Geometry and brightness of one output pixel of image b = i / (H*W):
 * x[b][r][c][0..2] from images[idx[b]] (H*W*3 bytes each), params[b]. */
GPU_HD void op_aug_geometry(long i, float *x, const uint8_t *images, const int *idx,
                            const AugParams *params, int H, int W) {
    long b = i / ((long)H * W);
    int pix = (int)(i % ((long)H * W)), r = pix / W, c = pix % W;
    const AugParams *p = &params[b];
    const uint8_t *in = images + (long)idx[b] * H * W * 3;
    float *o = x + i * 3;
    if (aug_is_identity_geometry(p)) {
        for (int k = 0; k < 3; k++) o[k] = in[(long)pix * 3 + k] / 255.0f;
    } else {
        double sr, sc;
        aug_source(p, H, W, r, c, &sr, &sc);
        AugTap tr = aug_make_tap(sr, H), tc = aug_make_tap(sc, W);
        const uint8_t *p00 = in + ((long)tr.i0 * W + tc.i0) * 3;
        const uint8_t *p01 = in + ((long)tr.i0 * W + tc.i1) * 3;
        const uint8_t *p10 = in + ((long)tr.i1 * W + tc.i0) * 3;
        const uint8_t *p11 = in + ((long)tr.i1 * W + tc.i1) * 3;
        for (int k = 0; k < 3; k++)
            o[k] = aug_blend(p00[k] / 255.0f, p01[k] / 255.0f, p10[k] / 255.0f,
                             p11[k] / 255.0f, tr.w1, tc.w1);
    }
    if (p->brightness != 0.0f)
        for (int k = 0; k < 3; k++) o[k] = aug_clip01(o[k] + p->brightness);
}

/* Per-channel mean of image b = i / 3 (contrast needs it); i over n*3. */
GPU_HD void op_aug_mean(long i, float *mean, const float *x, int H, int W) {
    long b = i / 3;
    int k = (int)(i % 3), npix = H * W;
    double sum = 0.0;
    for (int j = 0; j < npix; j++) sum += x[(b * npix + j) * 3 + k];
    mean[i] = (float)(sum / npix);
}

/* Contrast, saturation, hue and the flips: out pixel (r, c) of image b is
 * the coloured x pixel at the flipped position; i over n*H*W. mean is
 * op_aug_mean's (read only when contrast != 1). */
GPU_HD void op_aug_colour_flip(long i, float *out, const float *x, const float *mean,
                               const AugParams *params, int H, int W) {
    long b = i / ((long)H * W);
    int pix = (int)(i % ((long)H * W)), r = pix / W, c = pix % W;
    const AugParams *p = &params[b];
    int sr = p->vflip ? H - 1 - r : r, sc = p->hflip ? W - 1 - c : c;
    const float *s = x + ((b * H + sr) * (long)W + sc) * 3;
    float px[3] = {s[0], s[1], s[2]};
    if (p->contrast != 1.0f)
        for (int k = 0; k < 3; k++)
            px[k] = aug_clip01((px[k] - mean[b * 3 + k]) * p->contrast + mean[b * 3 + k]);
    if (p->saturation != 1.0f || p->hue != 0.0f) aug_pixel_hsv(p, px);
    for (int k = 0; k < 3; k++) out[i * 3 + k] = px[k];
}

#endif
