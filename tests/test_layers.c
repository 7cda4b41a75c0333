/* test_layers.c - finite-difference gradient checks of every reference layer
 * and loss (layers.h), through the Kernels table, on small odd sizes. The
 * scalar checked is L = sum(out * r) for a fixed random r, so backward gets
 * dout = r; central differences in float, the loss summed in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kernels/kernels.h"
#include "../src/layers.h"
#include "../src/rng.h"
#include "test.h"

static void fill_uniform(float *x, size_t n, uint64_t stream, float lo, float hi) {
    Rng r = rng_stream(77, stream);
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(&r, lo, hi);
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* A scalar function of the current contents of some buffers. */
typedef double (*LossFn)(void *ctx);

/* Compares analytic[i] with the central difference of f with respect to x[i]
 * for every i; |a - n| <= atol + rtol * max(|a|, |n|). Returns the number of
 * mismatches (and reports the first). */
static int fd_check(const char *what, float *x, size_t n, const float *analytic, LossFn f,
                    void *ctx, float eps, double rtol, double atol) {
    int bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + eps;
        double lp = f(ctx);
        x[i] = keep - eps;
        double lm = f(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * (double)eps);
        double a = analytic[i];
        double err = fabs(a - num), tol = atol + rtol * fmax(fabs(a), fabs(num));
        if (err / (tol > 0 ? tol : 1) > worst) worst = err / tol;
        if (!(err <= tol)) {
            if (!bad)
                test_fail(__FILE__, __LINE__, "%s[%zu]: analytic %.7g vs numeric %.7g", what, i, a,
                          num);
            bad++;
        }
    }
    if (getenv("AUGPROBE_TEST_VERBOSE"))
        printf("    %s: %zu checked, worst err/tol %.3f\n", what, n, worst);
    return bad;
}

/* ---- conv ---- */
typedef struct {
    float *in, *w, *b, *out, *r;
    int N, H, W, Cin, Cout, K;
} ConvCase;

static double conv_loss(void *p) {
    ConvCase *c = p;
    const Kernels *k = kernels_reference();
    k->conv2d_forward(NULL, c->out, c->in, c->w, c->b, c->N, c->H, c->W, c->Cin, c->Cout, c->K, 0);
    return dot(c->out, c->r, (size_t)c->N * c->H * c->W * c->Cout);
}

static void conv_case(int N, int H, int W, int Cin, int Cout, int K) {
    ConvCase c = {0};
    c.N = N, c.H = H, c.W = W, c.Cin = Cin, c.Cout = Cout, c.K = K;
    size_t ni = (size_t)N * H * W * Cin, no = (size_t)N * H * W * Cout,
           nw = (size_t)K * K * Cin * Cout;
    c.in = malloc(ni * 4), c.w = malloc(nw * 4), c.b = malloc(Cout * 4);
    c.out = malloc(no * 4), c.r = malloc(no * 4);
    float *din = malloc(ni * 4), *dw = calloc(nw, 4), *db = calloc(Cout, 4);
    fill_uniform(c.in, ni, 1, -1, 1);
    fill_uniform(c.w, nw, 2, -0.5f, 0.5f);
    fill_uniform(c.b, Cout, 3, -0.5f, 0.5f);
    fill_uniform(c.r, no, 4, -1, 1);
    KernelCtx kc;
    kctx_init(&kc, 1);
    kernels_reference()->conv2d_backward(&kc, din, dw, db, c.r, c.in, c.w, N, H, W, Cin, Cout, K);
    /* The loss is linear in each variable: a larger step only lowers rounding. */
    fd_check("conv din", c.in, ni, din, conv_loss, &c, 0.05f, 1e-3, 1e-4);
    fd_check("conv dw", c.w, nw, dw, conv_loss, &c, 0.05f, 1e-3, 1e-4);
    fd_check("conv db", c.b, Cout, db, conv_loss, &c, 0.05f, 1e-3, 1e-4);
    /* Accumulation: a second backward adds the same again. */
    float *dw2 = malloc(nw * 4);
    memcpy(dw2, dw, nw * 4);
    kernels_reference()->conv2d_backward(&kc, NULL, dw, db, c.r, c.in, c.w, N, H, W, Cin, Cout,
                                         K);
    for (size_t i = 0; i < nw; i++) dw2[i] *= 2;
    CHECK_ARRAY_NEAR(dw, dw2, nw, 1e-6, 1e-6);
    /* The fused ReLU equals max(0, conv). */
    float *outr = malloc(no * 4);
    kernels_reference()->conv2d_forward(&kc, outr, c.in, c.w, c.b, N, H, W, Cin, Cout, K, 1);
    conv_loss(&c);
    for (size_t i = 0; i < no; i++) c.out[i] = c.out[i] > 0 ? c.out[i] : 0;
    CHECK_ARRAY_NEAR(outr, c.out, no, 0, 0);
    kctx_free(&kc);
    free(c.in), free(c.w), free(c.b), free(c.out), free(c.r);
    free(din), free(dw), free(db), free(dw2), free(outr);
}

TEST(layers_conv3_gradients_match_finite_differences) { conv_case(2, 5, 7, 3, 5, 3); }
TEST(layers_conv1_gradients_match_finite_differences) { conv_case(2, 3, 4, 5, 7, 1); }
TEST(layers_conv5_gradients_match_finite_differences) { conv_case(1, 6, 5, 2, 3, 5); }

TEST(layers_conv_known_value) {
    /* 1 channel, 3x3 input of ones, 3x3 kernel of ones: the centre sees 9,
     * corners 4, edges 6 (zero padding). */
    float in[9], w[9], b[1] = {0.5f}, out[9];
    for (int i = 0; i < 9; i++) in[i] = w[i] = 1;
    ref_conv2d_forward(out, in, w, b, 1, 3, 3, 1, 1, 3, 0);
    float want[9] = {4.5f, 6.5f, 4.5f, 6.5f, 9.5f, 6.5f, 4.5f, 6.5f, 4.5f};
    CHECK_ARRAY_NEAR(out, want, 9, 0, 0);
}

/* ---- dense ---- */
typedef struct {
    float *in, *w, *b, *out, *r;
    int B, In, Out;
} DenseCase;

static double dense_loss(void *p) {
    DenseCase *c = p;
    ref_dense_forward(c->out, c->in, c->w, c->b, c->B, c->In, c->Out, 0);
    return dot(c->out, c->r, (size_t)c->B * c->Out);
}

TEST(layers_dense_gradients_match_finite_differences) {
    DenseCase c = {0};
    c.B = 3, c.In = 7, c.Out = 5;
    float in[21], w[35], b[5], out[15], r[15], din[21], dw[35] = {0}, db[5] = {0};
    c.in = in, c.w = w, c.b = b, c.out = out, c.r = r;
    fill_uniform(in, 21, 11, -1, 1);
    fill_uniform(w, 35, 12, -1, 1);
    fill_uniform(b, 5, 13, -1, 1);
    fill_uniform(r, 15, 14, -1, 1);
    kernels_reference()->dense_backward(NULL, din, dw, db, r, in, w, 3, 7, 5);
    fd_check("dense din", in, 21, din, dense_loss, &c, 0.05f, 1e-3, 1e-4);
    fd_check("dense dw", w, 35, dw, dense_loss, &c, 0.05f, 1e-3, 1e-4);
    fd_check("dense db", b, 5, db, dense_loss, &c, 0.05f, 1e-3, 1e-4);
    /* out[0][0] by hand */
    double want = b[0];
    for (int i = 0; i < 7; i++) want += (double)in[i] * w[i * 5];
    dense_loss(&c);
    CHECK_NEAR(out[0], want, 1e-5);
}

/* ---- relu ---- */
typedef struct {
    float *in, *out, *r;
    long n;
} ReluCase;

static double relu_loss(void *p) {
    ReluCase *c = p;
    ref_relu_forward(c->out, c->in, c->n);
    return dot(c->out, c->r, (size_t)c->n);
}

TEST(layers_relu_gradient_matches_finite_differences) {
    float in[40], out[40], r[40], din[40];
    fill_uniform(in, 40, 21, -1, 1);
    for (int i = 0; i < 40; i++) in[i] += in[i] > 0 ? 0.1f : -0.1f; /* away from the kink */
    fill_uniform(r, 40, 22, -1, 1);
    ReluCase c = {in, out, r, 40};
    relu_loss(&c);
    kernels_reference()->relu_backward(NULL, din, r, out, 40);
    int zeros = 0;
    for (int i = 0; i < 40; i++) zeros += din[i] == 0;
    CHECK(zeros > 5 && zeros < 35);
    fd_check("relu din", in, 40, din, relu_loss, &c, 0.01f, 1e-3, 1e-5);
    /* din may alias dout */
    float g[40];
    memcpy(g, r, sizeof g);
    ref_relu_backward(g, g, out, 40);
    CHECK_ARRAY_NEAR(g, din, 40, 0, 0);
}

/* ---- batch norm (training: output depends on the batch statistics) ---- */
typedef struct {
    float *in, *gamma, *beta, *out, *r, *mean, *invstd, *mm, *mv;
    long M;
    int C;
} BnCase;

static double bn_loss(void *p) {
    BnCase *c = p;
    ref_batchnorm_forward_train(c->out, c->mean, c->invstd, c->in, c->gamma, c->beta, c->mm,
                                c->mv, c->M, c->C, 0.99f, 1e-3f);
    return dot(c->out, c->r, (size_t)c->M * c->C);
}

TEST(layers_batchnorm_train_gradients_match_finite_differences) {
    enum { M = 2 * 3 * 3, C = 3 };
    float in[M * C], out[M * C], r[M * C], din[M * C], gamma[C], beta[C], mean[C], invstd[C];
    float mm[C] = {0}, mv[C] = {1, 1, 1}, dgamma[C] = {0}, dbeta[C] = {0};
    fill_uniform(in, M * C, 31, -2, 2);
    for (int i = 0; i < M * C; i++) in[i] += (float)(i % C); /* per-channel offsets */
    fill_uniform(gamma, C, 32, 0.5f, 1.5f);
    fill_uniform(beta, C, 33, -0.5f, 0.5f);
    fill_uniform(r, M * C, 34, -1, 1);
    BnCase c = {in, gamma, beta, out, r, mean, invstd, mm, mv, M, C};
    bn_loss(&c);
    kernels_reference()->batchnorm_backward(NULL, din, dgamma, dbeta, r, in, mean, invstd, gamma,
                                            M, C);
    /* din sums to zero per channel (mean subtraction) and is not trivially 0 */
    double s = 0, a = 0;
    for (int m = 0; m < M; m++) s += din[m * C], a += fabs(din[m * C]);
    CHECK(fabs(s) < 1e-5 && a > 1e-2);
    fd_check("bn din", in, M * C, din, bn_loss, &c, 1e-2f, 5e-3, 2e-4);
    fd_check("bn dgamma", gamma, C, dgamma, bn_loss, &c, 1e-2f, 1e-3, 1e-4);
    fd_check("bn dbeta", beta, C, dbeta, bn_loss, &c, 1e-2f, 1e-3, 1e-4);
}

TEST(layers_batchnorm_moving_stats_use_unbiased_variance) {
    enum { M = 4, C = 2 };
    float in[M * C] = {1, 10, 2, 20, 3, 30, 6, 40}, out[M * C], mean[C], invstd[C];
    float gamma[C] = {1, 1}, beta[C] = {0, 0}, mm[C] = {0.5f, 0}, mv[C] = {1, 2};
    ref_batchnorm_forward_train(out, mean, invstd, in, gamma, beta, mm, mv, M, C, 0.99f, 1e-3f);
    /* channel 0: mean 3, biased var 3.5, unbiased 14/3 */
    CHECK_NEAR(mean[0], 3.0, 1e-6);
    CHECK_NEAR(invstd[0], 1.0 / sqrt(3.5 + 1e-3), 1e-6);
    CHECK_NEAR(mm[0], 0.99 * 0.5 + 0.01 * 3, 1e-6);
    CHECK_NEAR(mv[0], 0.99 * 1 + 0.01 * 14.0 / 3, 1e-6);
    /* channel 1: mean 25, unbiased var 500/3 */
    CHECK_NEAR(mv[1], 0.99 * 2 + 0.01 * 500.0 / 3, 1e-4);
    CHECK_NEAR(out[0], (1 - 3) / sqrt(3.5 + 1e-3), 1e-5);
    /* inference uses the moving statistics */
    ref_batchnorm_forward_infer(out, in, gamma, beta, mm, mv, M, C, 1e-3f);
    CHECK_NEAR(out[0], (1 - mm[0]) / sqrt(mv[0] + 1e-3), 1e-5);
}

/* ---- max pool ---- */
typedef struct {
    float *in, *out, *r;
    int N, H, W, C;
} PoolCase;

static double pool_loss(void *p) {
    PoolCase *c = p;
    ref_maxpool2_forward(c->out, c->in, c->N, c->H, c->W, c->C);
    return dot(c->out, c->r, (size_t)c->N * c->H / 2 * c->W / 2 * c->C);
}

TEST(layers_maxpool_gradient_matches_finite_differences) {
    enum { N = 2, H = 4, W = 6, C = 3, NI = N * H * W * C, NO = NI / 4 };
    float in[NI], out[NO], r[NO], din[NI];
    /* distinct values 0.1 apart: no ties within the finite-difference step */
    int perm[NI];
    for (int i = 0; i < NI; i++) perm[i] = i;
    Rng rng = rng_stream(5, 5);
    rng_shuffle(&rng, perm, NI);
    for (int i = 0; i < NI; i++) in[i] = 0.1f * (float)perm[i] - 7.0f;
    fill_uniform(r, NO, 41, -1, 1);
    PoolCase c = {in, out, r, N, H, W, C};
    kernels_reference()->maxpool2_backward(NULL, din, r, in, N, H, W, C);
    fd_check("maxpool din", in, NI, din, pool_loss, &c, 0.01f, 1e-3, 1e-5);
    int nonzero = 0;
    for (int i = 0; i < NI; i++) nonzero += din[i] != 0;
    CHECK_INT_EQ(nonzero, NO);
}

TEST(layers_maxpool_ties_go_to_first_maximum) {
    float in[4] = {2, 2, 2, 2}, dout[1] = {1}, din[4], out[1];
    ref_maxpool2_forward(out, in, 1, 2, 2, 1);
    ref_maxpool2_backward(din, dout, in, 1, 2, 2, 1);
    float want[4] = {1, 0, 0, 0};
    CHECK(out[0] == 2);
    CHECK_ARRAY_NEAR(din, want, 4, 0, 0);
}

/* ---- dropout (fixed mask) ---- */
typedef struct {
    float *in, *out, *r, *mask;
    long n;
} DropCase;

static double drop_loss(void *p) {
    DropCase *c = p;
    Rng rng = rng_stream(9, 9); /* the same mask every call */
    dropout_forward(c->out, c->mask, c->in, c->n, 0.3f, &rng);
    return dot(c->out, c->r, (size_t)c->n);
}

TEST(layers_dropout_gradient_matches_finite_differences) {
    enum { N = 200 };
    float in[N], out[N], r[N], mask[N], din[N];
    fill_uniform(in, N, 51, -1, 1);
    fill_uniform(r, N, 52, -1, 1);
    DropCase c = {in, out, r, mask, N};
    drop_loss(&c);
    dropout_backward(din, r, mask, N);
    fd_check("dropout din", in, N, din, drop_loss, &c, 0.05f, 1e-4, 1e-5);
    int dropped = 0;
    for (int i = 0; i < N; i++) {
        dropped += mask[i] == 0;
        CHECK(mask[i] == 0 || fabsf(mask[i] - 1 / 0.7f) < 1e-6f);
    }
    CHECK(dropped > 40 && dropped < 80); /* ~60 of 200 at rate 0.3 */
}

/* ---- softmax cross-entropy ---- */
typedef struct {
    float *logits;
    const uint8_t *labels;
    int B, C;
} XentCase;

static double xent_loss(void *p) {
    XentCase *c = p;
    return softmax_xent(NULL, NULL, c->logits, c->labels, c->B, c->C);
}

TEST(layers_softmax_xent_gradient_and_value) {
    enum { B = 4, C = 10 };
    float logits[B * C], d[B * C];
    uint8_t labels[B] = {3, 0, 9, 5};
    fill_uniform(logits, B * C, 61, -3, 3);
    XentCase c = {logits, labels, B, C};
    int correct = -1;
    float loss = softmax_xent(d, &correct, logits, labels, B, C);
    fd_check("xent dlogits", logits, B * C, d, xent_loss, &c, 1e-2f, 2e-3, 2e-5);
    /* value by hand */
    double want = 0;
    int right = 0;
    for (int n = 0; n < B; n++) {
        double s = 0;
        int arg = 0;
        for (int j = 0; j < C; j++) {
            s += exp(logits[n * C + j]);
            if (logits[n * C + j] > logits[n * C + arg]) arg = j;
        }
        want += log(s) - logits[n * C + labels[n]];
        right += arg == labels[n];
    }
    CHECK_NEAR(loss, want / B, 1e-5);
    CHECK_INT_EQ(correct, right);
    /* huge logits stay finite */
    for (int i = 0; i < B * C; i++) logits[i] *= 1000;
    loss = softmax_xent(d, NULL, logits, labels, B, C);
    CHECK(isfinite(loss));
    for (int i = 0; i < B * C; i++) CHECK(isfinite(d[i]));
}

/* ---- RankNet loss ---- */
typedef struct {
    float *d;
    const float *y;
    int B;
} RankCase;

static double rank_loss(void *p) {
    RankCase *c = p;
    return ranknet_loss(NULL, c->d, c->y, c->B);
}

TEST(layers_ranknet_loss_gradient_ties_and_stability) {
    enum { B = 8 };
    float d[B] = {0.3f, -1.2f, 2.0f, 0.0f, -0.4f, 1.1f, 0.7f, -2.5f};
    float y[B] = {1, -1, 0, 1, 1, -1, 0, -0.4f}, dd[B];
    RankCase c = {d, y, B};
    float loss = ranknet_loss(dd, d, y, B);
    fd_check("ranknet dd", d, B, dd, rank_loss, &c, 1e-2f, 2e-3, 2e-5);
    CHECK(dd[2] == 0 && dd[6] == 0); /* ties carry no gradient */
    /* by hand over the 6 non-tie pairs, sign(y) only */
    double want = 0;
    for (int i = 0; i < B; i++)
        if (y[i] != 0) want += log1p(exp(-(y[i] > 0 ? 1 : -1) * (double)d[i]));
    CHECK_NEAR(loss, want / 6, 1e-6);
    /* stability at |d| = 1000 */
    float big[4] = {1000, -1000, 1000, -1000}, ybig[4] = {1, 1, -1, -1}, dbig[4];
    float lb = ranknet_loss(dbig, big, ybig, 4);
    CHECK(isfinite(lb));
    CHECK_NEAR(lb, (0 + 1000 + 1000 + 0) / 4.0, 1e-3);
    for (int i = 0; i < 4; i++) CHECK(isfinite(dbig[i]));
    CHECK_NEAR(dbig[1], -0.25, 1e-6);
    CHECK_NEAR(dbig[0], 0, 1e-6);
    /* all ties: zero loss and gradient */
    float yt[2] = {0, 0}, dt[2] = {5, -5}, gt[2] = {1, 1};
    CHECK(ranknet_loss(gt, dt, yt, 2) == 0);
    CHECK(gt[0] == 0 && gt[1] == 0);
}
