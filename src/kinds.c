/* kinds.c - the layer kinds of kinds.h, one section each: shape inference,
 * initialisation, checkpoint tensors, CPU forward and backward. Heavy work
 * goes through the net's Kernels table (src/kernels/kernels.h); the
 * reference loops of layers.c define what each must compute. */
#include "kinds.h"

#include <math.h>
#include <string.h>

#include "layers.h"
#include "net.h"

/* Floats of a conv or dense node's bias (0 with nobias). */
static size_t bias_len(const Layer *L) { return L->spec.nobias ? 0 : (size_t)L->spec.units; }

/* Glorot-uniform as Keras computes fans: receptive field times channels;
 * the bias (the last `units` floats, if any) stays zero. */
static void glorot_init(Layer *L, float *p, float *s, Rng *rng) {
    (void)s;
    size_t rf = L->spec.kind == LAYER_CONV ? (size_t)L->spec.ksize * L->spec.ksize : 1;
    size_t fan_in = L->spec.kind == LAYER_CONV ? rf * (size_t)L->in_c
                                               : (size_t)L->in_h * L->in_w * L->in_c;
    size_t fan_out = rf * (size_t)L->spec.units;
    float limit = (float)sqrt(6.0 / (double)(fan_in + fan_out));
    size_t n_kernel = L->n_params - bias_len(L);
    for (size_t j = 0; j < n_kernel; j++) p[j] = rng_uniform(rng, -limit, limit);
}

/* weight (in `layout`) and bias (unless nobias) of a conv or dense node */
static int weight_bias_tensors(const Layer *L, NetTensor *t, TensorLayout layout) {
    size_t units = (size_t)L->spec.units, nk = L->n_params - bias_len(L);
    t[0] = (NetTensor){.suffix = "weight", .layout = layout, .off = L->param_off, .n = nk,
                       .cout = (int)units};
    if (layout == TENSOR_CONV)
        t[0].K = L->spec.ksize, t[0].cin = L->in_c;
    else
        t[0].cin = (int)(nk / units);
    if (!bias_len(L)) return 1;
    t[1] = (NetTensor){.suffix = "bias", .layout = TENSOR_PLAIN, .off = L->param_off + nk,
                       .n = units, .cout = (int)units};
    return 2;
}

/* ---- conv ----
 * Stride 1 runs the Kernels table's conv (Winograd / im2col GEMM); a
 * larger stride runs a strided im2col into net->col and the table's conv
 * as a 1x1 convolution of that 1 x (B*Ho*Wo) image of K*K*Cin channels (its
 * GEMM: HWIO weights are the [K*K*Cin][Cout] matrix of that product; the
 * dense GEMM, made for small batches, was 3x slower at these sizes). */

static int conv_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1;
    const NodeSpec *s = &L->spec;
    if (s->units <= 0 || s->ksize <= 0 || s->ksize % 2 == 0 || s->stride < 1)
        return err_set(e, "conv needs filters > 0, an odd kernel and a stride >= 1");
    L->h = conv_out_size(L->in_h, s->ksize, s->stride);
    L->w = conv_out_size(L->in_w, s->ksize, s->stride);
    L->c = s->units;
    L->n_params = (size_t)s->ksize * s->ksize * L->in_c * s->units + bias_len(L);
    L->macs = (size_t)s->ksize * s->ksize * L->in_c * s->units * L->h * L->w;
    if (s->stride > 1) L->scratch = (size_t)L->h * L->w * s->ksize * s->ksize * L->in_c;
    return 0;
}

static int conv_tensors(const Layer *L, NetTensor *t) {
    return weight_bias_tensors(L, t, TENSOR_CONV);
}

/* col[(n, y, x)][(ky, kx, ci)] of the strided, zero-padded input */
static void im2col_strided(float *col, const float *in, int N, int H, int W, int C, int K,
                           int S, int Ho, int Wo, int threads) {
    int pad = K / 2;
    long rows = (long)N * Ho * Wo, kkc = (long)K * K * C;
#pragma omp parallel for num_threads(threads) schedule(static) if (rows * kkc > 65536)
    for (long r = 0; r < rows; r++) {
        int x = (int)(r % Wo), y = (int)(r / Wo % Ho), n = (int)(r / ((long)Wo * Ho));
        float *c = col + r * kkc;
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++, c += C) {
                int iy = y * S + ky - pad, ix = x * S + kx - pad;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                    memset(c, 0, sizeof(float) * (size_t)C);
                else
                    memcpy(c, in + (((long)n * H + iy) * W + ix) * C, sizeof(float) * (size_t)C);
            }
    }
}

/* din = the sum of dcol's entries over the windows each input pixel is in;
 * one image per thread, so no two threads write the same pixel. */
static void col2im_strided(float *din, const float *dcol, int N, int H, int W, int C, int K,
                           int S, int Ho, int Wo, int threads) {
    int pad = K / 2;
    long kkc = (long)K * K * C;
    memset(din, 0, sizeof(float) * (size_t)N * H * W * C);
#pragma omp parallel for num_threads(threads) schedule(static) if (N > 1)
    for (int n = 0; n < N; n++)
        for (int y = 0; y < Ho; y++)
            for (int x = 0; x < Wo; x++) {
                const float *c = dcol + (((long)n * Ho + y) * Wo + x) * kkc;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++, c += C) {
                        int iy = y * S + ky - pad, ix = x * S + kx - pad;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                        float *d = din + (((long)n * H + iy) * W + ix) * C;
                        for (int ci = 0; ci < C; ci++) d[ci] += c[ci];
                    }
            }
}

static void conv_forward(Net *net, Layer *L, const float *in, const float *in1, int B,
                         int training, Rng *rng) {
    (void)in1, (void)training, (void)rng;
    const float *p = net->params + L->param_off;
    const float *bias = bias_len(L) ? p + L->n_params - L->spec.units : NULL;
    int K = L->spec.ksize;
    if (L->spec.stride == 1) {
        net->k->conv2d_forward(&net->kctx, L->out, in, p, bias, B, L->in_h, L->in_w, L->in_c,
                               L->c, K, L->spec.relu);
        return;
    }
    im2col_strided(net->col, in, B, L->in_h, L->in_w, L->in_c, K, L->spec.stride, L->h, L->w,
                   net->kctx.threads);
    net->k->conv2d_forward(&net->kctx, L->out, net->col, p, bias, 1, 1, B * L->h * L->w,
                           K * K * L->in_c, L->c, 1, L->spec.relu);
}

static void conv_backward(Net *net, Layer *L, float *g, const float *in, const float *in1,
                          float *din, float *din1, int B) {
    (void)in1, (void)din1;
    const float *p = net->params + L->param_off;
    float *gp = net->grads + L->param_off;
    float *gb = bias_len(L) ? gp + L->n_params - L->spec.units : NULL;
    int K = L->spec.ksize;
    if (L->spec.stride == 1) {
        net->k->conv2d_backward(&net->kctx, din, gp, gb, g, in, p, B, L->in_h, L->in_w,
                                L->in_c, L->c, K);
        return;
    }
    /* the forward's col was overwritten by later nodes: redo it */
    im2col_strided(net->col, in, B, L->in_h, L->in_w, L->in_c, K, L->spec.stride, L->h, L->w,
                   net->kctx.threads);
    net->k->conv2d_backward(&net->kctx, din ? net->dcol : NULL, gp, gb, g, net->col, p, 1, 1,
                            B * L->h * L->w, K * K * L->in_c, L->c, 1);
    if (din)
        col2im_strided(din, net->dcol, B, L->in_h, L->in_w, L->in_c, K, L->spec.stride, L->h,
                       L->w, net->kctx.threads);
}

/* ---- batchnorm (momentum and eps from the node; relu: max(0, .) after) ---- */

/* x = max(0, x), threaded (element-wise: the same bits on any thread count) */
static void relu_in_place(float *x, long n, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
}

static int bn_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1, (void)e;
    L->h = L->in_h, L->w = L->in_w, L->c = L->in_c;
    L->n_params = 2 * (size_t)L->c;
    L->n_state = 2 * (size_t)L->c;
    L->aux_fixed = 2 * (size_t)L->c; /* the batch's mean and invstd, for backward */
    return 0;
}

static void bn_init(Layer *L, float *p, float *s, Rng *rng) {
    (void)rng;
    for (int c = 0; c < L->c; c++) {
        p[c] = 1.0f;        /* gamma */
        p[L->c + c] = 0.0f; /* beta */
        s[c] = 0.0f;        /* moving mean */
        s[L->c + c] = 1.0f; /* moving variance */
    }
}

static int bn_tensors(const Layer *L, NetTensor *t) {
    static const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int j = 0; j < 4; j++)
        t[j] = (NetTensor){.suffix = suffix[j], .layout = TENSOR_PLAIN, .is_state = j >= 2,
                           .off = (j < 2 ? L->param_off : L->state_off) + (size_t)(j % 2) * L->c,
                           .n = (size_t)L->c, .cout = L->c};
    return 4;
}

static void bn_forward(Net *net, Layer *L, const float *in, const float *in1, int B,
                       int training, Rng *rng) {
    (void)in1, (void)rng;
    const float *p = net->params + L->param_off;
    float *s = net->state + L->state_off;
    long M = (long)B * L->in_h * L->in_w;
    if (training)
        net->k->batchnorm_forward_train(&net->kctx, L->out, L->aux, L->aux + L->c, in, p,
                                        p + L->c, s, s + L->c, M, L->c, L->spec.momentum,
                                        L->spec.eps);
    else
        net->k->batchnorm_forward_infer(&net->kctx, L->out, in, p, p + L->c, s, s + L->c, M,
                                        L->c, L->spec.eps);
    if (L->spec.relu) relu_in_place(L->out, M * L->c, net->kctx.threads);
}

static void bn_backward(Net *net, Layer *L, float *g, const float *in, const float *in1,
                        float *din, float *din1, int B) {
    (void)in1, (void)din1;
    const float *p = net->params + L->param_off;
    float *gp = net->grads + L->param_off;
    long M = (long)B * L->in_h * L->in_w;
    net->k->batchnorm_backward(&net->kctx, din, gp, gp + L->c, g, in, L->aux, L->aux + L->c, p,
                               M, L->c);
}

/* ---- maxpool ----
 * 2x2 stride 2 (no padding) runs the Kernels table's maxpool2; any other
 * window runs the reference, one example per thread. */

static int pool2(const Layer *L) {
    return L->spec.ksize == 2 && L->spec.stride == 2 && L->spec.pad == 0;
}

static int pool_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1;
    const NodeSpec *s = &L->spec;
    if (pool2(L) && (L->in_h % 2 || L->in_w % 2))
        return err_set(e, "max-pool input %dx%d is not even", L->in_h, L->in_w);
    if (s->ksize < 1 || s->stride < 1 || s->pad < 0 || s->pad > s->ksize / 2)
        return err_set(e, "max-pool needs a kernel >= 1, a stride >= 1 and pad <= kernel/2");
    if (L->in_h + 2 * s->pad < s->ksize || L->in_w + 2 * s->pad < s->ksize)
        return err_set(e, "max-pool input %dx%d is smaller than its %dx%d window", L->in_h,
                       L->in_w, s->ksize, s->ksize);
    L->h = pool_out_size(L->in_h, s->ksize, s->stride, s->pad);
    L->w = pool_out_size(L->in_w, s->ksize, s->stride, s->pad);
    L->c = L->in_c;
    return 0;
}

static void pool_forward(Net *net, Layer *L, const float *in, const float *in1, int B,
                         int training, Rng *rng) {
    (void)in1, (void)training, (void)rng;
    if (pool2(L)) {
        net->k->maxpool2_forward(&net->kctx, L->out, in, B, L->in_h, L->in_w, L->in_c);
        return;
    }
    size_t per_in = (size_t)L->in_h * L->in_w * L->in_c, per_out = (size_t)L->h * L->w * L->c;
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (B > 1)
    for (int b = 0; b < B; b++)
        ref_maxpool_forward(L->out + b * per_out, in + b * per_in, 1, L->in_h, L->in_w, L->in_c,
                            L->spec.ksize, L->spec.stride, L->spec.pad);
}

static void pool_backward(Net *net, Layer *L, float *g, const float *in, const float *in1,
                          float *din, float *din1, int B) {
    (void)in1, (void)din1;
    if (!din) return;
    if (pool2(L)) {
        net->k->maxpool2_backward(&net->kctx, din, g, in, B, L->in_h, L->in_w, L->in_c);
        return;
    }
    size_t per_in = (size_t)L->in_h * L->in_w * L->in_c, per_out = (size_t)L->h * L->w * L->c;
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (B > 1)
    for (int b = 0; b < B; b++)
        ref_maxpool_backward(din + b * per_in, g + b * per_out, in + b * per_in, 1, L->in_h,
                             L->in_w, L->in_c, L->spec.ksize, L->spec.stride, L->spec.pad);
}

/* ---- flatten (an alias: no forward or backward) ---- */

static int flatten_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1, (void)e;
    L->c = L->in_h * L->in_w * L->in_c, L->h = L->w = 1;
    return 0;
}

/* ---- dropout ---- */

static int dropout_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1;
    if (!(L->spec.rate >= 0 && L->spec.rate < 1))
        return err_set(e, "dropout rate %g outside [0, 1)", (double)L->spec.rate);
    L->h = L->in_h, L->w = L->in_w, L->c = L->in_c;
    L->aux_per_example = (size_t)L->h * L->w * L->c; /* the mask */
    return 0;
}

static void dropout_fwd(Net *net, Layer *L, const float *in, const float *in1, int B,
                        int training, Rng *rng) {
    (void)in1;
    long n_out = (long)B * L->h * L->w * L->c;
    if (training && rng) {
        dropout_forward(L->out, L->aux, in, n_out, L->spec.rate, rng);
    } else {
        memcpy(L->out, in, (size_t)n_out * sizeof(float));
        if (training)
            for (long j = 0; j < n_out; j++) L->aux[j] = 1.0f;
    }
    (void)net;
}

static void dropout_bwd(Net *net, Layer *L, float *g, const float *in, const float *in1,
                        float *din, float *din1, int B) {
    (void)net, (void)in, (void)in1, (void)din1;
    if (din) dropout_backward(din, g, L->aux, (long)B * L->h * L->w * L->c);
}

/* ---- dense ---- */

static int dense_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1;
    if (L->spec.units <= 0) return err_set(e, "dense needs units > 0");
    L->n_params = (size_t)L->in_h * L->in_w * L->in_c * L->spec.units + (size_t)L->spec.units;
    L->macs = L->n_params - (size_t)L->spec.units;
    L->h = L->w = 1, L->c = L->spec.units;
    return 0;
}

static int dense_tensors(const Layer *L, NetTensor *t) {
    return weight_bias_tensors(L, t, TENSOR_DENSE);
}

static void dense_fwd(Net *net, Layer *L, const float *in, const float *in1, int B,
                      int training, Rng *rng) {
    (void)in1, (void)training, (void)rng;
    const float *p = net->params + L->param_off;
    int n_in = L->in_h * L->in_w * L->in_c;
    net->k->dense_forward(&net->kctx, L->out, in, p, p + (size_t)n_in * L->c, B, n_in, L->c,
                          L->spec.relu);
}

static void dense_bwd(Net *net, Layer *L, float *g, const float *in, const float *in1,
                      float *din, float *din1, int B) {
    (void)in1, (void)din1;
    const float *p = net->params + L->param_off;
    float *gp = net->grads + L->param_off;
    int n_in = L->in_h * L->in_w * L->in_c;
    net->k->dense_backward(&net->kctx, din, gp, gp + (size_t)n_in * L->c, g, in, p, B, n_in,
                           L->c);
}

/* ---- add (two inputs of one shape; the reference's loop, threaded) ---- */

static int add_infer(Layer *L, const Layer *in1, Err *e) {
    if (in1->h != L->in_h || in1->w != L->in_w || in1->c != L->in_c)
        return err_set(e, "add: its inputs %s (%dx%dx%d) and %s (%dx%dx%d) differ in shape",
                       L->spec.in[0], L->in_h, L->in_w, L->in_c, L->spec.in[1], in1->h, in1->w,
                       in1->c);
    L->h = L->in_h, L->w = L->in_w, L->c = L->in_c;
    return 0;
}

/* chunks of the reference's loops, one per thread: the same arithmetic */
#define CHUNKS(n, threads) ((n) > 65536 ? (threads) : 1)

static void add_fwd(Net *net, Layer *L, const float *in, const float *in1, int B, int training,
                    Rng *rng) {
    (void)training, (void)rng;
    long n = (long)B * L->h * L->w * L->c;
    int parts = CHUNKS(n, net->kctx.threads);
#pragma omp parallel for num_threads(parts) schedule(static)
    for (int t = 0; t < parts; t++) {
        long lo = n * t / parts, hi = n * (t + 1) / parts;
        ref_add_forward(L->out + lo, in + lo, in1 + lo, hi - lo, L->spec.relu);
    }
}

static void add_bwd(Net *net, Layer *L, float *g, const float *in, const float *in1,
                    float *din, float *din1, int B) {
    (void)net, (void)in, (void)in1;
    ref_add_backward(din, din1, g, (long)B * L->h * L->w * L->c);
}

/* ---- gap: global average pool (one example per thread) ---- */

static int gap_infer(Layer *L, const Layer *in1, Err *e) {
    (void)in1, (void)e;
    L->h = L->w = 1, L->c = L->in_c;
    return 0;
}

static void gap_fwd(Net *net, Layer *L, const float *in, const float *in1, int B, int training,
                    Rng *rng) {
    (void)in1, (void)training, (void)rng;
    size_t per = (size_t)L->in_h * L->in_w * L->in_c;
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (B > 1)
    for (int b = 0; b < B; b++)
        ref_gap_forward(L->out + (size_t)b * L->c, in + (size_t)b * per, 1, L->in_h, L->in_w,
                        L->in_c);
}

static void gap_bwd(Net *net, Layer *L, float *g, const float *in, const float *in1, float *din,
                    float *din1, int B) {
    (void)in, (void)in1, (void)din1;
    if (!din) return;
    size_t per = (size_t)L->in_h * L->in_w * L->in_c;
#pragma omp parallel for num_threads(net->kctx.threads) schedule(static) if (B > 1)
    for (int b = 0; b < B; b++)
        ref_gap_backward(din + (size_t)b * per, g + (size_t)b * L->c, 1, L->in_h, L->in_w,
                         L->in_c);
}

/* ---- the table ---- */

static const KindDef KINDS[LAYER_KINDS] = {
    [LAYER_CONV] = {.name = "conv", .keras = "Conv2D", .n_in = 1,
                    .opts = OPT_UNITS | OPT_KERNEL | OPT_STRIDE | OPT_RELU | OPT_NOBIAS,
                    .required = OPT_UNITS | OPT_KERNEL, .spatial = 1, .infer = conv_infer,
                    .init = glorot_init, .tensors = conv_tensors, .forward = conv_forward,
                    .backward = conv_backward},
    [LAYER_BATCHNORM] = {.name = "batchnorm", .keras = "BatchNormalization", .n_in = 1,
                         .opts = OPT_RELU | OPT_TORCH | OPT_MOMENTUM | OPT_EPS, .spatial = 1, .infer = bn_infer, .init = bn_init,
                         .tensors = bn_tensors, .forward = bn_forward,
                         .backward = bn_backward},
    [LAYER_MAXPOOL] = {.name = "maxpool", .keras = "MaxPooling2D", .n_in = 1,
                       .opts = OPT_KERNEL | OPT_STRIDE | OPT_PAD, .spatial = 1,
                       .infer = pool_infer, .forward = pool_forward,
                       .backward = pool_backward},
    [LAYER_FLATTEN] = {.name = "flatten", .keras = "Flatten", .n_in = 1, .alias = 1,
                       .infer = flatten_infer},
    [LAYER_DROPOUT] = {.name = "dropout", .keras = "Dropout", .n_in = 1, .opts = OPT_RATE,
                       .required = OPT_RATE, .infer = dropout_infer, .forward = dropout_fwd,
                       .backward = dropout_bwd},
    [LAYER_DENSE] = {.name = "dense", .keras = "Dense", .n_in = 1, .opts = OPT_UNITS | OPT_RELU,
                     .required = OPT_UNITS, .infer = dense_infer, .init = glorot_init,
                     .tensors = dense_tensors, .forward = dense_fwd, .backward = dense_bwd},
    [LAYER_ADD] = {.name = "add", .keras = "Add", .n_in = 2, .opts = OPT_RELU, .spatial = 1,
                   .infer = add_infer, .forward = add_fwd, .backward = add_bwd},
    [LAYER_GAP] = {.name = "gap", .keras = "GlobalAveragePooling2D", .n_in = 1,
                   .infer = gap_infer, .forward = gap_fwd, .backward = gap_bwd},
};

const KindDef *kind_def(LayerKind k) { return &KINDS[k]; }

const KindDef *kind_by_name(const char *name, LayerKind *k) {
    for (int i = 0; i < LAYER_KINDS; i++)
        if (!strcmp(KINDS[i].name, name)) {
            if (k) *k = (LayerKind)i;
            return &KINDS[i];
        }
    return NULL;
}

const char *kind_names(void) {
    return "conv, batchnorm, maxpool, flatten, dropout, dense, add, gap";
}
