/* layers.c - reference layers: the plainest correct loops (see layers.h).
 * Accumulations use double where a long sum would otherwise lose bits, so
 * the reference stays a trustworthy oracle. */
#include "layers.h"

#include <math.h>
#include <string.h>

int conv_out_size(int H, int K, int S) { return (H + 2 * (K / 2) - K) / S + 1; }

void ref_conv2d_strided_forward(float *out, const float *in, const float *w, const float *b,
                                int N, int H, int W, int Cin, int Cout, int K, int S,
                                int relu) {
    int pad = K / 2, Ho = conv_out_size(H, K, S), Wo = conv_out_size(W, K, S);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                float *o = out + (((long)n * Ho + y) * Wo + x) * Cout;
                for (int co = 0; co < Cout; co++) o[co] = b ? b[co] : 0.0f;
                for (int ky = 0; ky < K; ky++) {
                    int iy = y * S + ky - pad;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int ix = x * S + kx - pad;
                        if (ix < 0 || ix >= W) continue;
                        const float *ip = in + (((long)n * H + iy) * W + ix) * Cin;
                        const float *wp = w + ((long)(ky * K + kx) * Cin) * Cout;
                        for (int ci = 0; ci < Cin; ci++)
                            for (int co = 0; co < Cout; co++)
                                o[co] += ip[ci] * wp[(long)ci * Cout + co];
                    }
                }
                if (relu)
                    for (int co = 0; co < Cout; co++) o[co] = o[co] > 0 ? o[co] : 0;
            }
}

void ref_conv2d_strided_backward(float *din, float *dw, float *db, const float *dout,
                                 const float *in, const float *w, int N, int H, int W, int Cin,
                                 int Cout, int K, int S) {
    int pad = K / 2, Ho = conv_out_size(H, K, S), Wo = conv_out_size(W, K, S);
    if (din) memset(din, 0, sizeof(float) * (size_t)N * H * W * Cin);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                const float *g = dout + (((long)n * Ho + y) * Wo + x) * Cout;
                if (db)
                    for (int co = 0; co < Cout; co++) db[co] += g[co];
                for (int ky = 0; ky < K; ky++) {
                    int iy = y * S + ky - pad;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int ix = x * S + kx - pad;
                        if (ix < 0 || ix >= W) continue;
                        long ioff = (((long)n * H + iy) * W + ix) * Cin;
                        long woff = ((long)(ky * K + kx) * Cin) * Cout;
                        for (int ci = 0; ci < Cin; ci++) {
                            float acc = 0;
                            for (int co = 0; co < Cout; co++) {
                                dw[woff + (long)ci * Cout + co] += in[ioff + ci] * g[co];
                                acc += w[woff + (long)ci * Cout + co] * g[co];
                            }
                            if (din) din[ioff + ci] += acc;
                        }
                    }
                }
            }
}

/* Stride 1: the strided loops, whose arithmetic is then the plain conv's. */
void ref_conv2d_forward(float *out, const float *in, const float *w, const float *b, int N,
                        int H, int W, int Cin, int Cout, int K, int relu) {
    ref_conv2d_strided_forward(out, in, w, b, N, H, W, Cin, Cout, K, 1, relu);
}

void ref_conv2d_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int N, int H, int W, int Cin, int Cout, int K) {
    ref_conv2d_strided_backward(din, dw, db, dout, in, w, N, H, W, Cin, Cout, K, 1);
}

void ref_add_forward(float *out, const float *a, const float *b, long n, int relu) {
    for (long i = 0; i < n; i++) {
        float v = a[i] + b[i];
        out[i] = relu && !(v > 0) ? 0.0f : v;
    }
}

void ref_add_backward(float *din0, float *din1, const float *dout, long n) {
    if (din0) memcpy(din0, dout, sizeof(float) * (size_t)n);
    if (din1) memcpy(din1, dout, sizeof(float) * (size_t)n);
}

void ref_gap_forward(float *out, const float *in, int N, int H, int W, int C) {
    long hw = (long)H * W;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (long p = 0; p < hw; p++) s += in[((long)n * hw + p) * C + c];
            out[(long)n * C + c] = (float)(s / (double)hw);
        }
}

void ref_gap_backward(float *din, const float *dout, int N, int H, int W, int C) {
    long hw = (long)H * W;
    float inv = 1.0f / (float)hw;
    for (int n = 0; n < N; n++)
        for (long p = 0; p < hw; p++)
            for (int c = 0; c < C; c++) din[((long)n * hw + p) * C + c] = dout[(long)n * C + c] * inv;
}

void ref_dense_forward(float *out, const float *in, const float *w, const float *b,
                       int B, int In, int Out, int relu) {
    for (int n = 0; n < B; n++) {
        float *o = out + (long)n * Out;
        for (int j = 0; j < Out; j++) o[j] = b ? b[j] : 0.0f;
        for (int i = 0; i < In; i++) {
            float xi = in[(long)n * In + i];
            const float *wr = w + (long)i * Out;
            for (int j = 0; j < Out; j++) o[j] += xi * wr[j];
        }
        if (relu)
            for (int j = 0; j < Out; j++) o[j] = o[j] > 0 ? o[j] : 0;
    }
}

void ref_dense_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int B, int In, int Out) {
    for (int n = 0; n < B; n++) {
        const float *g = dout + (long)n * Out;
        if (db)
            for (int j = 0; j < Out; j++) db[j] += g[j];
        for (int i = 0; i < In; i++) {
            float xi = in[(long)n * In + i];
            const float *wr = w + (long)i * Out;
            float *dwr = dw + (long)i * Out;
            float acc = 0;
            for (int j = 0; j < Out; j++) {
                dwr[j] += xi * g[j];
                acc += wr[j] * g[j];
            }
            if (din) din[(long)n * In + i] = acc;
        }
    }
}

void ref_relu_forward(float *out, const float *in, long n) {
    for (long i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : 0;
}

void ref_relu_backward(float *din, const float *dout, const float *out, long n) {
    for (long i = 0; i < n; i++) din[i] = out[i] > 0 ? dout[i] : 0;
}

void ref_batchnorm_forward_train(float *out, float *save_mean, float *save_invstd,
                                 const float *in, const float *gamma, const float *beta,
                                 float *moving_mean, float *moving_var,
                                 long M, int C, float momentum, float eps) {
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        for (long m = 0; m < M; m++) sum += in[m * C + c];
        double mean = sum / (double)M;
        for (long m = 0; m < M; m++) {
            double d = in[m * C + c] - mean;
            sq += d * d;
        }
        double var = sq / (double)M;
        float invstd = (float)(1.0 / sqrt(var + eps));
        save_mean[c] = (float)mean;
        save_invstd[c] = invstd;
        for (long m = 0; m < M; m++)
            out[m * C + c] = ((in[m * C + c] - (float)mean) * invstd) * gamma[c] + beta[c];
        double unbiased = M > 1 ? sq / (double)(M - 1) : var;
        moving_mean[c] = momentum * moving_mean[c] + (1.0f - momentum) * (float)mean;
        moving_var[c] = momentum * moving_var[c] + (1.0f - momentum) * (float)unbiased;
    }
}

void ref_batchnorm_forward_infer(float *out, const float *in, const float *gamma,
                                 const float *beta, const float *moving_mean,
                                 const float *moving_var, long M, int C, float eps) {
    for (int c = 0; c < C; c++) {
        float invstd = 1.0f / sqrtf(moving_var[c] + eps);
        for (long m = 0; m < M; m++)
            out[m * C + c] = (in[m * C + c] - moving_mean[c]) * invstd * gamma[c] + beta[c];
    }
}

void ref_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                            const float *in, const float *save_mean,
                            const float *save_invstd, const float *gamma, long M, int C) {
    for (int c = 0; c < C; c++) {
        double sum_g = 0, sum_gx = 0;
        float mean = save_mean[c], invstd = save_invstd[c];
        for (long m = 0; m < M; m++) {
            double g = dout[m * C + c];
            double xhat = (in[m * C + c] - mean) * invstd;
            sum_g += g;
            sum_gx += g * xhat;
        }
        dgamma[c] += (float)sum_gx;
        dbeta[c] += (float)sum_g;
        if (!din) continue;
        /* dx = gamma*invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)) */
        double k = gamma[c] * invstd / (double)M;
        for (long m = 0; m < M; m++) {
            double xhat = (in[m * C + c] - mean) * invstd;
            din[m * C + c] = (float)(k * ((double)M * dout[m * C + c] - sum_g - xhat * sum_gx));
        }
    }
}

void ref_maxpool2_forward(float *out, const float *in, int N, int H, int W, int C) {
    int Ho = H / 2, Wo = W / 2;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++)
                for (int c = 0; c < C; c++) {
                    float best = -INFINITY;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            float v = in[(((long)n * H + 2 * y + dy) * W + 2 * x + dx) * C + c];
                            if (v > best) best = v;
                        }
                    out[(((long)n * Ho + y) * Wo + x) * C + c] = best;
                }
}

void ref_maxpool2_backward(float *din, const float *dout, const float *in,
                           int N, int H, int W, int C) {
    int Ho = H / 2, Wo = W / 2;
    memset(din, 0, sizeof(float) * (size_t)N * H * W * C);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++)
                for (int c = 0; c < C; c++) {
                    long best_i = -1;
                    float best = -INFINITY;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            long i = (((long)n * H + 2 * y + dy) * W + 2 * x + dx) * C + c;
                            if (best_i < 0 || in[i] > best) {
                                best = in[i];
                                best_i = i;
                            }
                        }
                    din[best_i] += dout[(((long)n * Ho + y) * Wo + x) * C + c];
                }
}

int pool_out_size(int H, int K, int S, int P) { return (H + 2 * P - K) / S + 1; }

/* The input index of window (y, x)'s first maximum in channel c, or -1
 * (a window wholly in the padding, which P <= K/2 rules out). */
static long pool_argmax(const float *in, int n, int H, int W, int C, int c, int y, int x, int K,
                        int S, int P) {
    long best_i = -1;
    float best = -INFINITY;
    for (int ky = 0; ky < K; ky++) {
        int iy = y * S + ky - P;
        if (iy < 0 || iy >= H) continue;
        for (int kx = 0; kx < K; kx++) {
            int ix = x * S + kx - P;
            if (ix < 0 || ix >= W) continue;
            long i = (((long)n * H + iy) * W + ix) * C + c;
            if (best_i < 0 || in[i] > best) best = in[i], best_i = i;
        }
    }
    return best_i;
}

void ref_maxpool_forward(float *out, const float *in, int N, int H, int W, int C, int K, int S,
                         int P) {
    int Ho = pool_out_size(H, K, S, P), Wo = pool_out_size(W, K, S, P);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++)
                for (int c = 0; c < C; c++) {
                    long i = pool_argmax(in, n, H, W, C, c, y, x, K, S, P);
                    out[(((long)n * Ho + y) * Wo + x) * C + c] = i < 0 ? -INFINITY : in[i];
                }
}

void ref_maxpool_backward(float *din, const float *dout, const float *in, int N, int H, int W,
                          int C, int K, int S, int P) {
    int Ho = pool_out_size(H, K, S, P), Wo = pool_out_size(W, K, S, P);
    memset(din, 0, sizeof(float) * (size_t)N * H * W * C);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++)
                for (int c = 0; c < C; c++) {
                    long i = pool_argmax(in, n, H, W, C, c, y, x, K, S, P);
                    if (i >= 0) din[i] += dout[(((long)n * Ho + y) * Wo + x) * C + c];
                }
}

void dropout_forward(float *out, float *mask, const float *in, long n, float rate, Rng *rng) {
    float keep = 1.0f - rate, scale = 1.0f / keep;
    for (long i = 0; i < n; i++) {
        mask[i] = rng_float(rng) < keep ? scale : 0.0f;
        out[i] = in[i] * mask[i];
    }
}

void dropout_backward(float *din, const float *dout, const float *mask, long n) {
    for (long i = 0; i < n; i++) din[i] = dout[i] * mask[i];
}

float softmax_xent(float *dlogits, int *correct, const float *logits, const uint8_t *labels,
                   int B, int C) {
    double total = 0;
    int right = 0;
    for (int n = 0; n < B; n++) {
        const float *z = logits + (long)n * C;
        int arg = 0;
        float mx = z[0];
        for (int j = 1; j < C; j++)
            if (z[j] > mx) {
                mx = z[j];
                arg = j;
            }
        double sum = 0;
        for (int j = 0; j < C; j++) sum += exp((double)z[j] - mx);
        double lse = mx + log(sum);
        total += lse - z[labels[n]];
        right += arg == labels[n];
        if (dlogits)
            for (int j = 0; j < C; j++) {
                double p = exp((double)z[j] - lse);
                dlogits[(long)n * C + j] = (float)((p - (j == labels[n])) / B);
            }
    }
    if (correct) *correct = right;
    return (float)(total / B);
}

float ranknet_loss(float *dd, const float *d, const float *y, int B) {
    int count = 0;
    for (int i = 0; i < B; i++) count += y[i] != 0;
    double total = 0;
    for (int i = 0; i < B; i++) {
        if (y[i] == 0) {
            if (dd) dd[i] = 0;
            continue;
        }
        double s = y[i] > 0 ? 1.0 : -1.0;
        double t = -s * d[i];
        /* log(1 + exp(t)) without overflow */
        total += t > 0 ? t + log1p(exp(-t)) : log1p(exp(t));
        if (dd) {
            double sig = 1.0 / (1.0 + exp(-t)); /* d/dt log(1+e^t) */
            dd[i] = (float)(-s * sig / count);
        }
    }
    return count ? (float)(total / count) : 0.0f;
}
