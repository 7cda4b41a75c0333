/* layers.h - the reference layers: plain, readable C loops, one
 * *_forward / *_backward pair per layer. They define the semantics (Keras's,
 * see shared/docs/MISSION.md) and are the oracle that the fast kernels in
 * src/kernels/ are tested against.
 *
 * Conventions, for every layer:
 *  - activations are NHWC float32 (batch, height, width, channels);
 *  - conv kernels are HWIO [K][K][Cin][Cout] and dense kernels [In][Out]
 *    (Keras layouts; checkpoints transpose to PyTorch layouts);
 *  - backward functions OVERWRITE the input gradient (din) and ACCUMULATE
 *    (+=) into parameter gradients (dw, db, dgamma, dbeta), which the caller
 *    zeroes once per step; din may be NULL when not needed;
 *  - "relu" flags fuse Keras's activation='relu' into the layer's output. */
#ifndef AUGPROBE_LAYERS_H
#define AUGPROBE_LAYERS_H

#include <stdint.h>

#include "rng.h"

/* Conv2D, stride 1, "same" zero padding (pad = K/2, K odd), with bias. */
void ref_conv2d_forward(float *out, const float *in, const float *w, const float *b,
                        int N, int H, int W, int Cin, int Cout, int K, int relu);
void ref_conv2d_backward(float *din, float *dw, float *db, const float *dout,
                         const float *in, const float *w,
                         int N, int H, int W, int Cin, int Cout, int K);

/* Conv2D with stride S >= 1 and zero padding P = K/2 on each side (K odd,
 * PyTorch's Conv2d(padding=K//2, stride=S)): the output is Ho x Wo with
 * Ho = (H + 2P - K)/S + 1; for S = 1 the same as ref_conv2d_forward. */
void ref_conv2d_strided_forward(float *out, const float *in, const float *w, const float *b,
                                int N, int H, int W, int Cin, int Cout, int K, int S,
                                int relu);
void ref_conv2d_strided_backward(float *din, float *dw, float *db, const float *dout,
                                 const float *in, const float *w, int N, int H, int W, int Cin,
                                 int Cout, int K, int S);
/* Output size of one spatial axis of the strided conv. */
int conv_out_size(int H, int K, int S);

/* Dense: out[B][Out] = in[B][In] . w[In][Out] + b. */
void ref_dense_forward(float *out, const float *in, const float *w, const float *b,
                       int B, int In, int Out, int relu);
void ref_dense_backward(float *din, float *dw, float *db, const float *dout,
                        const float *in, const float *w, int B, int In, int Out);

/* ReLU. relu_backward takes the forward OUTPUT (out > 0 passes gradient);
 * din may alias dout. */
void ref_relu_forward(float *out, const float *in, long n);
void ref_relu_backward(float *din, const float *dout, const float *out, long n);

/* BatchNormalization over the last axis, M = N*H*W rows of C channels.
 * Training: normalises with the biased batch variance, saves mean and
 * 1/sqrt(var+eps) for backward, and updates the moving statistics as Keras's
 * fused kernel (and PyTorch) do: moving = momentum*moving + (1-momentum)*batch,
 * with the UNBIASED batch variance (M/(M-1)) for the moving variance.
 * Inference: uses the moving statistics. */
void ref_batchnorm_forward_train(float *out, float *save_mean, float *save_invstd,
                                 const float *in, const float *gamma, const float *beta,
                                 float *moving_mean, float *moving_var,
                                 long M, int C, float momentum, float eps);
void ref_batchnorm_forward_infer(float *out, const float *in, const float *gamma,
                                 const float *beta, const float *moving_mean,
                                 const float *moving_var, long M, int C, float eps);
void ref_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                            const float *in, const float *save_mean,
                            const float *save_invstd, const float *gamma, long M, int C);

/* MaxPool 2x2, stride 2 (H, W even). The gradient goes to the FIRST maximum
 * of each window in row-major order (as PyTorch and TF on CPU). */
void ref_maxpool2_forward(float *out, const float *in, int N, int H, int W, int C);
void ref_maxpool2_backward(float *din, const float *dout, const float *in,
                           int N, int H, int W, int C);

/* MaxPool K x K, stride S, padding P on each side (PyTorch's MaxPool2d(K,
 * S, P), ceil_mode False): padded positions are -inf, so they never win.
 * Output (H + 2P - K)/S + 1 per axis (pool_out_size). The gradient goes to
 * the FIRST maximum of each window in row-major order; overlapping windows
 * add theirs. K = 2, S = 2, P = 0 is ref_maxpool2_*. */
void ref_maxpool_forward(float *out, const float *in, int N, int H, int W, int C, int K, int S,
                         int P);
void ref_maxpool_backward(float *din, const float *dout, const float *in, int N, int H, int W,
                          int C, int K, int S, int P);
int pool_out_size(int H, int K, int S, int P);

/* Elementwise sum of two inputs (a residual connection), optional ReLU.
 * Backward: both inputs get dout (din0/din1 may be NULL). */
void ref_add_forward(float *out, const float *a, const float *b, long n, int relu);
void ref_add_backward(float *din0, float *din1, const float *dout, long n);

/* Global average pool over the N x H x W x C input: out[N][C], the mean
 * over H*W (summed in double). Backward spreads dout/(H*W) over the window. */
void ref_gap_forward(float *out, const float *in, int N, int H, int W, int C);
void ref_gap_backward(float *din, const float *dout, int N, int H, int W, int C);

/* Inverted dropout: keeps each unit with probability 1-rate and scales it by
 * 1/(1-rate). mask[i] holds that factor (0 or 1/(1-rate)) for backward. */
void dropout_forward(float *out, float *mask, const float *in, long n, float rate, Rng *rng);
void dropout_backward(float *din, const float *dout, const float *mask, long n);

/* Softmax cross-entropy from logits, numerically stable (log-sum-exp).
 * Returns the mean loss over the batch; dlogits (may be NULL) gets
 * (softmax - onehot) / B. correct (may be NULL) gets the number of rows whose
 * argmax equals the label. */
float softmax_xent(float *dlogits, int *correct, const float *logits, const uint8_t *labels,
                   int B, int C);

/* RankNet loss on score differences d = s(a) - s(b) with targets y in
 * {-1, 0, +1}: loss = log(1 + exp(-y*d)), computed stably. Pairs with y == 0
 * are ties: excluded from the loss and the gradient. Returns the mean over
 * non-tie pairs (0 when there are none); dd (may be NULL) gets d loss/d d,
 * divided by the number of non-tie pairs. */
float ranknet_loss(float *dd, const float *d, const float *y, int B);

#endif
