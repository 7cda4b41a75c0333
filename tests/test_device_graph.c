/* test_device_graph.c - the device backend (device/gpu_net.c) on a
 * residual graph, through the CPU emulation (and CUDA where a GPU is
 * present): strided convolutions (7x7, 3x3 and a 1x1 shortcut, stride 2,
 * odd input sizes so the padding's last row and column count), add with
 * ReLU, global average pool, and tensors read by two nodes (their
 * gradients add). Forward output, loss, every gradient, the BN moving
 * statistics and three Adam steps against the CPU backend. */
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

enum { H = 13, W = 11, CIN = 3, MAXB = 5, B = 4, NCLS = 10 };

/* Tolerances of the other device tests (test_net.c's golden run on the
 * emulation, test_device_pipeline.c's features). */
#define RTOL 1e-4
#define ATOL 1e-5

/* Two nets with the same weights: one on the CPU, one on ops. NULL (and
 * the reason in e) when ops does not open here. */
static Net *make_net(uint64_t seed, Err *e) {
    Net *net = net_create_text("resnet_tiny", RESNET, H, W, CIN, MAXB, 2, e);
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

/* The graph's shapes are what the test means: the strides and the fan-out. */
static void check_shapes(const Net *n) {
    const Layer *stem = &n->layers[net_find_layer(n, "stem")];
    const Layer *sc = &n->layers[net_find_layer(n, "sc")];
    CHECK(stem->h == 7 && stem->w == 6 && sc->h == 4 && sc->w == 3);
    CHECK(n->layers[net_find_layer(n, "bn0")].gslot >= 0);
    CHECK(sc->din_add[0] + n->layers[net_find_layer(n, "c1")].din_add[0] == 1);
    CHECK(n->layers[net_find_layer(n, "res")].din_add[1] +
              n->layers[net_find_layer(n, "c3")].din_add[0] ==
          1);
}

static void forward_backward_case(const DeviceOps *ops) {
    Err e;
    Net *cpu = make_net(5, &e), *dev = make_net(5, &e);
    REQUIRE(cpu && dev);
    check_shapes(cpu);
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
    int s = net_find_layer(cpu, "sum");
    size_t ns = net_layer_size(cpu, s) * B;
    float *sum_c = malloc(ns * sizeof(float));
    memcpy(sum_c, net_layer_out(cpu, s, B), ns * sizeof(float));
    const float *sum_d = net_layer_out(dev, s, B);
    REQUIRE(sum_d);
    CHECK_ARRAY_NEAR(sum_d, sum_c, ns, RTOL, ATOL);
    int zeros = 0; /* the add's ReLU did cut some */
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
    forward_backward_case(device_emulated());
}

TEST(device_cuda_residual_graph_forward_and_gradients_equal_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    forward_backward_case(device_cuda());
}

/* Three Adam steps (net_update: zero grads, backward, Adam) on both. */
static void training_case(const DeviceOps *ops, const char *device) {
    Err e;
    Net *cpu = make_net(8, &e), *dev = make_net(8, &e);
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
    CHECK(moved > (int)cpu->n_params / 2); /* 68% here */
    CHECK_ARRAY_NEAR(dd, dc, cpu->n_params, 2e-2, 2e-6);
    free(dc), free(dd), free(init);
    adam_free(&oc), adam_free(&od);
    net_free(cpu);
    net_free(dev);
}

TEST(device_emulated_residual_graph_trains_as_the_cpu) { training_case(NULL, "emulated"); }

TEST(device_cuda_residual_graph_trains_as_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    training_case(device_cuda(), NULL);
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
