/* test_device_graph.c - the device backend (device/gpu_net.c) on
 * residual graphs, through the CPU emulation (and CUDA where a GPU is
 * present): strided convolutions (7x7, 3x3 and a 1x1 shortcut, stride 2,
 * odd input sizes so the padding's last row and column count), add with
 * ReLU, global average pool, and tensors read by two nodes (their
 * gradients add); a second graph with ResNet's options (conv without a
 * bias, `batchnorm torch relu`, max-pool 3/2/1). Forward output, loss,
 * every gradient, the BN moving statistics and three Adam steps against
 * the CPU backend; the general max-pool op against the reference (ties
 * included); the built-in resnet18 (one step) against the CPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/device/device.h"
#include "../src/device/gpu_net.h"
#include "../src/layers.h"
#include "../src/net.h"
#include "test.h"

/* bn0 feeds c1 and the shortcut sc; sum feeds c3 and res. c3 has a ReLU:
 * a conv's bias straight before a batchnorm has a zero gradient (the
 * batch mean takes it away), and Adam's step on that rounding noise would
 * be noise on either backend. */
static const char RESNET[] = "stem conv filters=6 kernel=7 stride=2 relu\n"
                             "bn0 batchnorm\n"
                             "c1 conv filters=6 kernel=3 relu\n"
                             "c2 conv filters=8 kernel=3 stride=2\n"
                             "sc conv filters=8 kernel=1 stride=2 in=bn0\n"
                             "sum add in=c2,sc relu\n"
                             "c3 conv filters=8 kernel=3 relu\n"
                             "bn3 batchnorm\n"
                             "res add in=bn3,sum\n"
                             "gap gap\n"
                             "logits dense units=10\n";

/* ResNet's options: convs without a bias (one with, sc), batchnorm with
 * PyTorch's constants (and momentum=/eps=) and a fused ReLU, torchvision's
 * stem max-pool 3/2/1 on an odd 13x11 (out 7x6), a pool feeding a conv and
 * an add. */
static const char OPTIONS[] = "stem conv filters=6 kernel=3 nobias\n"
                              "bn0 batchnorm torch relu\n"
                              "pool maxpool kernel=3 stride=2 pad=1\n"
                              "c1 conv filters=6 kernel=3 nobias\n"
                              "bn1 batchnorm momentum=0.2 eps=1e-4 torch relu\n"
                              "c2 conv filters=6 kernel=3 nobias\n"
                              "bn2 batchnorm torch\n"
                              "sum add in=bn2,pool relu\n"
                              "c3 conv filters=8 kernel=3 stride=2 nobias\n"
                              "bn3 batchnorm torch relu\n"
                              "sc conv filters=8 kernel=1 stride=2 in=sum\n"
                              "res add in=bn3,sc\n"
                              "gap gap\n"
                              "logits dense units=10\n";

/* A graph under test, the inner node whose output is compared (a fused
 * ReLU's: some of it cut), and the check of the shapes that make it mean
 * what its test says. */
typedef struct {
    const char *name, *text, *inner;
    void (*check_shapes)(const Net *n);
} Graph;

enum { H = 13, W = 11, CIN = 3, MAXB = 5, B = 4, NCLS = 10 };

/* Tolerances of the other device tests (test_net.c's golden run on the
 * emulation, test_device_pipeline.c's features). */
#define RTOL 1e-4
#define ATOL 1e-5

/* Two nets with the same weights: one on the CPU, one on ops. NULL (and
 * the reason in e) when ops does not open here. */
static Net *make_net(const Graph *gr, uint64_t seed, Err *e) {
    Net *net = net_create_text(gr->name, gr->text, H, W, CIN, MAXB, 2, e);
    if (!net) return NULL;
    net_init(net, seed);
    Rng r = rng_stream(seed, 99); /* non-trivial biases and BN affine parameters */
    for (size_t j = 0; j < net->n_params; j++)
        if (net->params[j] == 0.0f || net->params[j] == 1.0f)
            net->params[j] += rng_uniform(&r, -0.3f, 0.3f);
    for (size_t j = 0; j < net->n_state; j++) net->state[j] += rng_uniform(&r, 0.0f, 0.2f);
    return net;
}

static void batch(int step, float *x, uint8_t *y) {
    Rng r = rng_stream(77, (uint64_t)step);
    for (int i = 0; i < B * H * W * CIN; i++) x[i] = rng_uniform(&r, -1, 1);
    for (int b = 0; b < B; b++) y[b] = (uint8_t)((b * 3 + step) % NCLS);
}

/* RESNET's shapes are what the test means: the strides and the fan-out. */
static void residual_shapes(const Net *n) {
    const Layer *stem = &n->layers[net_find_layer(n, "stem")];
    const Layer *sc = &n->layers[net_find_layer(n, "sc")];
    CHECK(stem->h == 7 && stem->w == 6 && sc->h == 4 && sc->w == 3);
    CHECK(n->layers[net_find_layer(n, "bn0")].gslot >= 0);
    CHECK(sc->din_add[0] + n->layers[net_find_layer(n, "c1")].din_add[0] == 1);
    CHECK(n->layers[net_find_layer(n, "res")].din_add[1] +
              n->layers[net_find_layer(n, "c3")].din_add[0] ==
          1);
}

/* OPTIONS': the odd pool output, the options, the pool read twice. */
static void options_shapes(const Net *n) {
    const Layer *pool = &n->layers[net_find_layer(n, "pool")];
    CHECK(pool->h == 7 && pool->w == 6 && n->layers[net_find_layer(n, "sc")].h == 4);
    CHECK(n->layers[0].spec.nobias && n->layers[net_find_layer(n, "bn1")].spec.relu);
    CHECK(fabsf(n->layers[net_find_layer(n, "bn1")].spec.momentum - 0.8f) < 1e-6f);
    CHECK(pool->gslot >= 0);
    CHECK(n->layers[net_find_layer(n, "c1")].din_add[0] +
              n->layers[net_find_layer(n, "sum")].din_add[1] ==
          1);
}

static const Graph RESIDUAL = {"resnet_tiny", RESNET, "sum", residual_shapes};
static const Graph WITH_OPTIONS = {"resnet_options", OPTIONS, "bn1", options_shapes};

static void forward_backward_case(const Graph *gr, const DeviceOps *ops) {
    Err e;
    Net *cpu = make_net(gr, 5, &e), *dev = make_net(gr, 5, &e);
    REQUIRE(cpu && dev);
    gr->check_shapes(cpu);
    if (net_use_device(dev, ops, NULL, &e)) {
        net_free(cpu), net_free(dev);
        SKIP(e.msg);
    }
    float x[B * H * W * CIN], dl_c[B * NCLS], dl_d[B * NCLS];
    uint8_t y[B];
    batch(0, x, y);
    /* training forward (dropout-free net, batch statistics) */
    const float *lc = net_forward(cpu, x, B, 1, NULL, -1);
    const float *ld = net_forward(dev, x, B, 1, NULL, -1);
    REQUIRE(lc && ld);
    CHECK_ARRAY_NEAR(ld, lc, B * NCLS, RTOL, ATOL);
    CHECK(fabsf(lc[0] - lc[NCLS]) > 1e-3f); /* examples differ: not a constant net */
    float loss_c = softmax_xent(dl_c, NULL, lc, y, B, NCLS);
    float loss_d = softmax_xent(dl_d, NULL, ld, y, B, NCLS);
    CHECK_NEAR(loss_d, loss_c, RTOL * fabs(loss_c) + ATOL);
    /* an inner node, through the tap path */
    int s = net_find_layer(cpu, gr->inner);
    size_t ns = net_layer_size(cpu, s) * B;
    float *sum_c = malloc(ns * sizeof(float));
    memcpy(sum_c, net_layer_out(cpu, s, B), ns * sizeof(float));
    const float *sum_d = net_layer_out(dev, s, B);
    REQUIRE(sum_d);
    CHECK_ARRAY_NEAR(sum_d, sum_c, ns, RTOL, ATOL);
    int zeros = 0; /* its ReLU did cut some */
    for (size_t i = 0; i < ns; i++) zeros += sum_c[i] == 0.0f;
    CHECK(zeros > 0 && zeros < (int)ns);
    free(sum_c);
    /* backward from the same dlogits: every parameter's gradient */
    net_zero_grads(cpu), net_zero_grads(dev);
    REQUIRE(net_backward(cpu, dl_c, B) == 0);
    REQUIRE(net_backward(dev, dl_c, B) == 0);
    REQUIRE(net_sync_host(dev, NULL, &e) == 0);
    CHECK_ARRAY_NEAR(dev->grads, cpu->grads, cpu->n_params, RTOL, ATOL);
    CHECK_ARRAY_NEAR(dev->state, cpu->state, cpu->n_state, RTOL, ATOL); /* moving stats */
    int nonzero = 0;
    for (size_t j = 0; j < cpu->n_params; j++) nonzero += fabsf(cpu->grads[j]) > 1e-5f;
    CHECK(nonzero > (int)cpu->n_params * 3 / 4);
    /* inference forward (moving statistics), a smaller batch */
    lc = net_forward(cpu, x, 2, 0, NULL, -1);
    float inf_c[2 * NCLS];
    memcpy(inf_c, lc, sizeof inf_c);
    ld = net_forward(dev, x, 2, 0, NULL, -1);
    REQUIRE(ld);
    CHECK_ARRAY_NEAR(ld, inf_c, 2 * NCLS, RTOL, ATOL);
    net_free(cpu);
    net_free(dev);
}

TEST(device_emulated_residual_graph_forward_and_gradients_equal_the_cpu) {
    forward_backward_case(&RESIDUAL, device_emulated());
}

TEST(device_cuda_residual_graph_forward_and_gradients_equal_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    forward_backward_case(&RESIDUAL, device_cuda());
}

TEST(device_emulated_resnet_options_graph_forward_and_gradients_equal_the_cpu) {
    forward_backward_case(&WITH_OPTIONS, device_emulated());
}

TEST(device_cuda_resnet_options_graph_forward_and_gradients_equal_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    forward_backward_case(&WITH_OPTIONS, device_cuda());
}

/* Three Adam steps (net_update: zero grads, backward, Adam) on both. */
static void training_case(const Graph *gr, const DeviceOps *ops, const char *device) {
    Err e;
    Net *cpu = make_net(gr, 8, &e), *dev = make_net(gr, 8, &e);
    REQUIRE(cpu && dev);
    float *init = malloc(cpu->n_params * sizeof(float));
    memcpy(init, cpu->params, cpu->n_params * sizeof(float));
    if (ops ? net_use_device(dev, ops, NULL, &e) : net_place(dev, device, NULL, &e)) {
        free(init), net_free(cpu), net_free(dev);
        SKIP(e.msg);
    }
    CHECK(dev->backend == gpu_net_backend());
    Adam oc, od;
    adam_init(&oc, cpu->n_params);
    adam_init(&od, dev->n_params);
    float x[B * H * W * CIN], dl[B * NCLS], losses[2][3];
    uint8_t y[B];
    for (int step = 0; step < 3; step++) {
        batch(step, x, y);
        Net *nets[2] = {cpu, dev};
        Adam *opts[2] = {&oc, &od};
        for (int k = 0; k < 2; k++) {
            const float *logits = net_forward(nets[k], x, B, 1, NULL, -1);
            REQUIRE(logits);
            losses[k][step] = softmax_xent(dl, NULL, logits, y, B, NCLS);
            REQUIRE(net_update(nets[k], opts[k], dl, B) == 0);
        }
        CHECK_NEAR(losses[1][step], losses[0][step], RTOL * fabs(losses[0][step]) + ATOL);
    }
    REQUIRE(net_sync_host(dev, &od, &e) == 0);
    CHECK_ARRAY_NEAR(dev->params, cpu->params, cpu->n_params, RTOL, ATOL);
    CHECK_ARRAY_NEAR(dev->state, cpu->state, cpu->n_state, RTOL, ATOL);
    CHECK_ARRAY_NEAR(od.m, oc.m, oc.n, 1e-3, 1e-6);
    CHECK_ARRAY_NEAR(od.v, oc.v, oc.n, 1e-3, 1e-9);
    /* the steps moved the weights (by up to 3 lr), and the same way: the change to 2% */
    float *dc = malloc(cpu->n_params * sizeof(float)), *dd = malloc(cpu->n_params * sizeof(float));
    int moved = 0;
    for (size_t j = 0; j < cpu->n_params; j++) {
        dc[j] = cpu->params[j] - init[j], dd[j] = dev->params[j] - init[j];
        moved += fabsf(dc[j]) > 1e-3f;
    }
    CHECK(moved > (int)cpu->n_params / 2); /* 68% on RESIDUAL */
    CHECK_ARRAY_NEAR(dd, dc, cpu->n_params, 2e-2, 2e-6);
    free(dc), free(dd), free(init);
    adam_free(&oc), adam_free(&od);
    net_free(cpu);
    net_free(dev);
}

TEST(device_emulated_residual_graph_trains_as_the_cpu) {
    training_case(&RESIDUAL, NULL, "emulated");
}

TEST(device_cuda_residual_graph_trains_as_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    training_case(&RESIDUAL, device_cuda(), NULL);
}

TEST(device_emulated_resnet_options_graph_trains_as_the_cpu) {
    training_case(&WITH_OPTIONS, NULL, "emulated");
}

TEST(device_cuda_resnet_options_graph_trains_as_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    training_case(&WITH_OPTIONS, device_cuda(), NULL);
}

/* The strided im2col/col2im ops against the reference strided conv, op by
 * op (no GEMM in between): col . w is the convolution, and col2im is its
 * adjoint (<col2im(c), x> = <c, im2col(x)>) for kernels 1, 3, 7. */
TEST(device_emulated_strided_im2col_is_the_reference_conv_and_col2im_its_adjoint) {
    const DeviceOps *o = device_emulated();
    Err e;
    Device *d = o->open(&e);
    REQUIRE(d);
    static const int KS[3] = {1, 3, 7};
    for (int t = 0; t < 3; t++) {
        int N = 2, Hh = 9, Ww = 8, C = 3, Co = 2, K = KS[t], S = 2;
        int Ho = conv_out_size(Hh, K, S), Wo = conv_out_size(Ww, K, S);
        long nin = (long)N * Hh * Ww * C, kkc = (long)K * K * C, rows = (long)N * Ho * Wo;
        float *x = malloc(sizeof(float) * nin), *w = malloc(sizeof(float) * kkc * Co);
        float *col = malloc(sizeof(float) * rows * kkc), *back = malloc(sizeof(float) * nin);
        float *ref = malloc(sizeof(float) * rows * Co), *got = calloc(rows * Co, sizeof(float));
        Rng r = rng_stream(4, (uint64_t)K);
        for (long i = 0; i < nin; i++) x[i] = rng_uniform(&r, -1, 1);
        for (long i = 0; i < kkc * Co; i++) w[i] = rng_uniform(&r, -1, 1);
        float *dx = o->alloc(d, sizeof(float) * nin, &e);
        float *dcol = o->alloc(d, sizeof(float) * rows * kkc, &e);
        float *dback = o->alloc(d, sizeof(float) * nin, &e);
        REQUIRE(dx && dcol && dback);
        REQUIRE(o->upload(d, dx, x, sizeof(float) * nin, &e) == 0);
        o->im2col(d, rows * kkc, dcol, dx, N, Hh, Ww, C, K, S, Ho, Wo);
        REQUIRE(o->download(d, col, dcol, sizeof(float) * rows * kkc, &e) == 0);
        ref_conv2d_strided_forward(ref, x, w, NULL, N, Hh, Ww, C, Co, K, S, 0);
        for (long m = 0; m < rows; m++)
            for (int co = 0; co < Co; co++) {
                double acc = 0;
                for (long j = 0; j < kkc; j++) acc += (double)col[m * kkc + j] * w[j * Co + co];
                got[m * Co + co] = (float)acc;
            }
        CHECK_ARRAY_NEAR(got, ref, (size_t)(rows * Co), 1e-5, 1e-6);
        /* adjoint: col2im of col against x, and col against im2col(x) */
        o->col2im(d, nin, dback, dcol, N, Hh, Ww, C, K, S, Ho, Wo);
        REQUIRE(o->download(d, back, dback, sizeof(float) * nin, &e) == 0);
        double lhs = 0, rhs = 0;
        for (long i = 0; i < nin; i++) lhs += (double)back[i] * x[i];
        for (long i = 0; i < rows * kkc; i++) rhs += (double)col[i] * col[i];
        CHECK_NEAR(lhs, rhs, 1e-4 * fabs(rhs));
        CHECK(rhs > 1.0);
        o->free(d, dx), o->free(d, dcol), o->free(d, dback);
        free(x), free(w), free(col), free(back), free(ref), free(got);
    }
    o->close(d);
}

/* ---- max-pool with any window, op by op ---- */

/* The device's max-pool forward and backward (o, d) on host x (N x Hh x
 * Ww x C) and dout, into host out and din; 0, or -1 when d failed. */
static int device_pool(const DeviceOps *o, Device *d, float *out, float *din, const float *x,
                       const float *dout, int N, int Hh, int Ww, int C, int K, int S, int P) {
    int Ho = pool_out_size(Hh, K, S, P), Wo = pool_out_size(Ww, K, S, P);
    size_t nin = (size_t)N * Hh * Ww * C, nout = (size_t)N * Ho * Wo * C, f = sizeof(float);
    Err e;
    float *dx = o->alloc(d, nin * f, &e), *dy = o->alloc(d, nout * f, &e);
    float *dg = o->alloc(d, nout * f, &e), *ddin = o->alloc(d, nin * f, &e);
    int rc = -1;
    if (dx && dy && dg && ddin && o->upload(d, dx, x, nin * f, &e) == 0 &&
        o->upload(d, dg, dout, nout * f, &e) == 0) {
        o->maxpool_forward(d, (long)nout, dy, dx, Hh, Ww, C, K, S, P, Ho, Wo);
        o->maxpool_backward(d, (long)nin, ddin, dg, dx, Hh, Ww, C, K, S, P, Ho, Wo);
        rc = o->download(d, out, dy, nout * f, &e) || o->download(d, din, ddin, nin * f, &e)
                 ? -1
                 : 0;
    }
    o->free(d, dx), o->free(d, dy), o->free(d, dg), o->free(d, ddin);
    return rc;
}

/* Against the reference, to the bit, on inputs of four values (ties in
 * most windows, where the first maximum in row-major order must win, and
 * windows of -1 only, where the padding must not): torchvision's 3/2/1 on
 * an odd size, the seed CNN's 2x2, overlapping and odd others. Then ties by
 * hand: a 3x3 of ones under 3/2/1 gives each window's gradient to its
 * first element. */
TEST(device_emulated_maxpool_any_window_is_the_reference_ties_included) {
    const DeviceOps *o = device_emulated();
    Err e;
    Device *d = o->open(&e);
    REQUIRE(d);
    static const int CASES[][3] = {{3, 2, 1}, {2, 2, 0}, {3, 1, 1},
                                   {3, 3, 0}, {5, 2, 2}, {1, 1, 0}}; /* K, S, P */
    enum { N = 2, PH = 9, PW = 7, PC = 3, NIN = N * PH * PW * PC };
    float x[NIN], din[NIN], din_ref[NIN], dout[NIN], out[NIN], out_ref[NIN];
    for (int t = 0; t < (int)(sizeof CASES / sizeof CASES[0]); t++) {
        int K = CASES[t][0], S = CASES[t][1], P = CASES[t][2];
        size_t nout = (size_t)N * pool_out_size(PH, K, S, P) * pool_out_size(PW, K, S, P) * PC;
        Rng r = rng_stream(21, (uint64_t)t);
        for (int i = 0; i < NIN; i++) x[i] = (float)(rng_u64(&r) % 4) - 1.0f;
        for (size_t i = 0; i < nout; i++) dout[i] = rng_uniform(&r, -1, 1);
        REQUIRE(device_pool(o, d, out, din, x, dout, N, PH, PW, PC, K, S, P) == 0);
        ref_maxpool_forward(out_ref, x, N, PH, PW, PC, K, S, P);
        ref_maxpool_backward(din_ref, dout, x, N, PH, PW, PC, K, S, P);
        if (memcmp(out, out_ref, nout * sizeof(float)) || memcmp(din, din_ref, sizeof din))
            test_fail(__FILE__, __LINE__, "max-pool %d/%d/%d differs from the reference", K, S, P);
    }
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, g[4] = {1, 2, 3, 4}, o4[4], d9[9];
    REQUIRE(device_pool(o, d, o4, d9, ones, g, 1, 3, 3, 1, 3, 2, 1) == 0);
    static const float want[9] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    CHECK(!memcmp(d9, want, sizeof want));
    CHECK(o4[0] == 1 && o4[3] == 1);
    o->close(d);
}

/* ---- the built-in resnet18 ---- */

/* The parameters after one Adam step, dev against cpu. The first step is
 * lr * g / (|g| + 3.2e-6) (Keras's eps 1e-7 after bias correction), so
 * where |g| is below the gradients' ATOL its rounding (a few 1e-7 apart
 * on resnet18) moves a parameter by a fair part of lr (up to 8e-5 on 189
 * of its 11.2M): those are held to one step, lr; the rest to RTOL/ATOL. */
static void check_stepped(const Net *cpu, const Net *dev, float lr) {
    size_t bad = 0, worst = 0;
    double worst_d = 0;
    for (size_t j = 0; j < cpu->n_params; j++) {
        double want = cpu->params[j], d = fabs((double)dev->params[j] - want);
        double tol = fabsf(cpu->grads[j]) < ATOL ? lr : ATOL + RTOL * fabs(want);
        if (!(d <= tol)) {
            if (!(d <= worst_d)) worst_d = d, worst = j;
            bad++;
        }
    }
    if (bad)
        test_fail(__FILE__, __LINE__, "params after a step: %zu of %zu off; worst [%zu] by %g",
                  bad, cpu->n_params, worst, worst_d);
}

/* resnet18 (32x32, batch 2) on ops against the CPU: logits, loss, every
 * gradient and the BN running statistics after a training forward and
 * backward from the same dlogits, then the parameters and Adam's moments
 * after one step. */
static void resnet18_case(const DeviceOps *ops) {
    enum { RB = 2, RS = 32, N = RB * RS * RS * 3 };
    Arch a;
    Err e;
    REQUIRE(arch_load(&a, "resnet18", &e) == 0);
    Net *cpu = net_create(&a, RS, RS, 3, RB, 2, &e), *dev = net_create(&a, RS, RS, 3, RB, 2, &e);
    arch_free(&a);
    REQUIRE(cpu && dev);
    net_init(cpu, 3), net_init(dev, 3);
    if (net_use_device(dev, ops, NULL, &e)) {
        net_free(cpu), net_free(dev);
        SKIP(e.msg);
    }
    float *x = malloc(N * sizeof(float)), dl[RB * NCLS], dl_d[RB * NCLS];
    REQUIRE(x);
    Rng r = rng_stream(12, 0);
    for (int i = 0; i < N; i++) x[i] = rng_uniform(&r, -1, 1);
    uint8_t y[RB] = {3, 7};
    const float *lc = net_forward(cpu, x, RB, 1, NULL, -1);
    const float *ld = net_forward(dev, x, RB, 1, NULL, -1);
    REQUIRE(lc && ld);
    CHECK_ARRAY_NEAR(ld, lc, RB * NCLS, RTOL, ATOL);
    float loss_c = softmax_xent(dl, NULL, lc, y, RB, NCLS);
    float loss_d = softmax_xent(dl_d, NULL, ld, y, RB, NCLS);
    CHECK_NEAR(loss_d, loss_c, RTOL * fabs(loss_c) + ATOL);
    net_zero_grads(cpu), net_zero_grads(dev);
    REQUIRE(net_backward(cpu, dl, RB) == 0 && net_backward(dev, dl, RB) == 0);
    Adam oc, od;
    adam_init(&oc, cpu->n_params);
    adam_init(&od, dev->n_params);
    REQUIRE(net_sync_host(dev, &od, &e) == 0);
    CHECK_ARRAY_NEAR(dev->grads, cpu->grads, cpu->n_params, RTOL, ATOL);
    CHECK_ARRAY_NEAR(dev->state, cpu->state, cpu->n_state, RTOL, ATOL);
    net_adam_step(cpu, &oc), net_adam_step(dev, &od);
    REQUIRE(net_sync_host(dev, &od, &e) == 0);
    check_stepped(cpu, dev, oc.lr);
    CHECK_ARRAY_NEAR(od.m, oc.m, oc.n, 1e-3, 1e-6);
    CHECK_ARRAY_NEAR(od.v, oc.v, oc.n, 1e-3, 1e-9);
    free(x);
    adam_free(&oc), adam_free(&od);
    net_free(cpu), net_free(dev);
}

TEST(device_emulated_resnet18_step_equals_the_cpu) { resnet18_case(device_emulated()); }

TEST(device_cuda_resnet18_step_equals_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    resnet18_case(device_cuda());
}
