/* test_resnet.c - what ResNets need (issue 16): conv without bias,
 * batchnorm with PyTorch's constants and a fused ReLU, max-pool with any
 * window, stride and padding (finite differences, definitions, the fast
 * paths against the reference); the built-in resnet18 and
 * resnet18-imagenet (parameter counts, torchvision's tensor names, taps);
 * golden tests against torchvision in float64 (tools/make_resnet_golden.py:
 * logits, loss, every gradient, BN running statistics after a step), on the
 * CPU and on the emulated device; a state_dict written on PyTorch's side
 * loaded as it is; a checkpoint given with another --arch refused. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/arch.h"
#include "../src/checkpoint.h"
#include "../src/layers.h"
#include "../src/net.h"
#include "golden.h"
#include "test.h"

/* ---- the text format's new options ---- */

static void expect_parse_error(const char *text, const char *want) {
    Arch a;
    Err e;
    e.msg[0] = 0;
    CHECK(arch_parse(&a, "t", "t.net", text, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, want);
    CHECK(strchr(e.msg, '\n') == NULL);
    arch_free(&a);
}

TEST(arch_resnet_options_parse_with_their_defaults) {
    Arch a;
    Err e;
    REQUIRE(arch_parse(&a, "t", "t", "c conv filters=4 kernel=3 nobias\n"
                                     "k batchnorm\n"
                                     "b batchnorm torch relu tap=stem\n"
                                     "m batchnorm momentum=0.2 torch eps=1e-4\n"
                                     "n batchnorm momentum=0.9\n"
                                     "p maxpool kernel=3 stride=2 pad=1\n"
                                     "q maxpool\n",
                       &e) == 0);
    CHECK(a.nodes[0].nobias && !a.nodes[0].relu && !a.nodes[0].tap[0]);
    CHECK(a.nodes[1].momentum == BN_KERAS_MOMENTUM && a.nodes[1].eps == BN_KERAS_EPSILON);
    CHECK(a.nodes[2].momentum == BN_TORCH_MOMENTUM && a.nodes[2].eps == BN_TORCH_EPSILON);
    CHECK(a.nodes[2].relu && !strcmp(a.nodes[2].tap, "stem"));
    /* momentum= in PyTorch's sense with torch (whichever comes first) */
    CHECK(a.nodes[3].momentum == 1.0f - 0.2f && a.nodes[3].eps == 1e-4f);
    CHECK(a.nodes[4].momentum == 0.9f && a.nodes[4].eps == BN_KERAS_EPSILON);
    CHECK(a.nodes[5].ksize == 3 && a.nodes[5].stride == 2 && a.nodes[5].pad == 1);
    CHECK(a.nodes[6].ksize == 2 && a.nodes[6].stride == 2 && a.nodes[6].pad == 0);
    arch_free(&a);
    expect_parse_error("a dense units=3 nobias\n", "t.net:1: dense takes no nobias option");
    expect_parse_error("a maxpool kernel=3 pad=2\n", "t.net:1: pad=2: at most half the kernel (1)");
    expect_parse_error("a batchnorm momentum=1\n", "momentum=1: must be a number in (0, 1)");
    expect_parse_error("a batchnorm eps=0\n", "eps=0: must be a number in (0, 1)");
    expect_parse_error("a conv filters=2 kernel=2\n", "kernel=2: must be an odd number");
    expect_parse_error("a conv filters=2 kernel=3 torch\n", "conv takes no torch option");
    expect_parse_error("a gap tap=\n", "tap=: must be a label");
    expect_parse_error("a gap tap=x/y\n", "tap=x/y: must be a label");
    expect_parse_error("a maxpool pad=-1\n", "pad=-1: must be a whole number from 0 to 31");
    expect_parse_error("a batchnorm nobias\n", "batchnorm takes no nobias option");
}

/* ---- finite differences of the general max-pool ---- */

static float *rnd(size_t n, uint64_t stream) {
    float *x = malloc(sizeof(float) * n);
    Rng r = rng_stream(17, stream);
    for (size_t i = 0; i < n; i++) x[i] = rng_uniform(&r, -1, 1);
    return x;
}

typedef struct {
    float *in, *out, *r;
    int N, H, W, C, K, S, P, Ho, Wo;
} Pool;

static double pool_loss(Pool *p) {
    ref_maxpool_forward(p->out, p->in, p->N, p->H, p->W, p->C, p->K, p->S, p->P);
    double s = 0;
    for (long i = 0; i < (long)p->N * p->Ho * p->Wo * p->C; i++) s += (double)p->out[i] * p->r[i];
    return s;
}

static void check_pool(int H, int W, int K, int S, int P) {
    Pool p = {.N = 2, .H = H, .W = W, .C = 3, .K = K, .S = S, .P = P};
    p.Ho = pool_out_size(H, K, S, P), p.Wo = pool_out_size(W, K, S, P);
    size_t nin = (size_t)p.N * H * W * p.C, nout = (size_t)p.N * p.Ho * p.Wo * p.C;
    p.in = rnd(nin, 1), p.r = rnd(nout, 2), p.out = malloc(sizeof(float) * nout);
    float *din = malloc(sizeof(float) * nin);
    pool_loss(&p);
    ref_maxpool_backward(din, p.r, p.in, p.N, H, W, p.C, K, S, P);
    int bad = 0;
    for (size_t i = 0; i < nin; i++) { /* random floats: no ties within 1e-3 */
        float keep = p.in[i], eps = 1e-4f;
        p.in[i] = keep + eps;
        double lp = pool_loss(&p);
        p.in[i] = keep - eps;
        double lm = pool_loss(&p);
        p.in[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        if (!(fabs(num - din[i]) <= 1e-3 + 1e-3 * fabs(num))) {
            if (!bad) test_fail(__FILE__, __LINE__, "pool %d/%d/%d [%zu]: %g vs %g", K, S, P, i,
                                (double)din[i], num);
            bad++;
        }
    }
    CHECK_INT_EQ(bad, 0);
    /* the definition: window (y, x) is the max of its in-bounds inputs */
    pool_loss(&p);
    for (int y = 0; y < p.Ho; y++)
        for (int x = 0; x < p.Wo; x++) {
            float best = -INFINITY;
            for (int iy = y * S - P; iy < y * S - P + K; iy++)
                for (int ix = x * S - P; ix < x * S - P + K; ix++)
                    if (iy >= 0 && iy < H && ix >= 0 && ix < W && p.in[(iy * W + ix) * 3 + 1] > best)
                        best = p.in[(iy * W + ix) * 3 + 1];
            CHECK(p.out[(y * p.Wo + x) * 3 + 1] == best);
        }
    free(p.in), free(p.r), free(p.out), free(din);
}

TEST(layers_maxpool_any_window_matches_finite_differences_and_pytorch_sizes) {
    check_pool(7, 6, 3, 2, 1); /* torchvision's stem pool, odd size */
    check_pool(8, 8, 3, 2, 1);
    check_pool(5, 7, 3, 1, 1); /* overlapping windows: gradients add */
    check_pool(6, 5, 2, 1, 0);
    check_pool(6, 6, 3, 3, 0);
    /* PyTorch's sizes: MaxPool2d(3, 2, 1) and Conv2d(padding=K//2) */
    CHECK_INT_EQ(pool_out_size(112, 3, 2, 1), 56);
    CHECK_INT_EQ(pool_out_size(16, 3, 2, 1), 8);
    CHECK_INT_EQ(pool_out_size(7, 3, 2, 1), 4);
    CHECK_INT_EQ(conv_out_size(224, 7, 2), 112); /* 7x7 s2 p3 */
    CHECK_INT_EQ(conv_out_size(64, 7, 2), 32);
    CHECK_INT_EQ(conv_out_size(33, 7, 2), 17);
    CHECK_INT_EQ(conv_out_size(56, 3, 2), 28); /* 3x3 s2 p1 */
    CHECK_INT_EQ(conv_out_size(7, 3, 2), 4);
    CHECK_INT_EQ(conv_out_size(56, 1, 2), 28); /* 1x1 s2 p0 */
    CHECK_INT_EQ(conv_out_size(7, 1, 2), 4);
    /* 2x2 stride 2 is the old max-pool, to the bit */
    float *in = rnd(2 * 6 * 4 * 5, 7), a[2 * 3 * 2 * 5], b[2 * 3 * 2 * 5];
    float da[2 * 6 * 4 * 5], db[2 * 6 * 4 * 5], *g = rnd(2 * 3 * 2 * 5, 8);
    ref_maxpool_forward(a, in, 2, 6, 4, 5, 2, 2, 0);
    ref_maxpool2_forward(b, in, 2, 6, 4, 5);
    CHECK(!memcmp(a, b, sizeof a));
    ref_maxpool_backward(da, g, in, 2, 6, 4, 5, 2, 2, 0);
    ref_maxpool2_backward(db, g, in, 2, 6, 4, 5);
    CHECK(!memcmp(da, db, sizeof da));
    free(in), free(g);
    /* padding is -inf, not 0: an all-negative corner stays negative */
    float neg[9], o[4];
    for (int i = 0; i < 9; i++) neg[i] = -1.0f - (float)i;
    ref_maxpool_forward(o, neg, 1, 3, 3, 1, 3, 2, 1);
    CHECK(o[0] == -1.0f && o[1] == -2.0f && o[2] == -4.0f && o[3] == -5.0f);
}

/* ---- batchnorm with PyTorch's constants ---- */

TEST(batchnorm_torch_updates_running_stats_as_pytorch) {
    enum { B = 3, H = 2, W = 2, C = 2, M = B * H * W };
    Err e;
    Net *net = net_create_text("bn", "b batchnorm torch relu\n", H, W, C, B, 1, &e);
    REQUIRE(net);
    net_init(net, 1);
    float x[M * C];
    Rng r = rng_stream(4, 4);
    for (int i = 0; i < M * C; i++) x[i] = rng_uniform(&r, -2, 3);
    const float *y = net_forward(net, x, B, 1, NULL, -1);
    REQUIRE(y);
    for (int c = 0; c < C; c++) {
        double s = 0, sq = 0;
        for (int m = 0; m < M; m++) s += x[m * C + c];
        double mean = s / M;
        for (int m = 0; m < M; m++) sq += (x[m * C + c] - mean) * (x[m * C + c] - mean);
        /* running = 0.9 running + 0.1 batch; the variance unbiased */
        CHECK_NEAR(net->state[c], 0.1 * mean, 1e-6);
        CHECK_NEAR(net->state[C + c], 0.9 + 0.1 * sq / (M - 1), 1e-6);
        /* normalised with the biased variance and eps 1e-5, then ReLU */
        for (int m = 0; m < M; m++) {
            double want = (x[m * C + c] - mean) / sqrt(sq / M + 1e-5);
            CHECK_NEAR(y[m * C + c], want > 0 ? want : 0, 1e-5);
        }
    }
    net_free(net);
}

/* ---- a small graph with every new option, whole ---- */

static const char NEW[] = "c1 conv filters=4 kernel=3 nobias\n"
                          "bn1 batchnorm torch relu\n"
                          "pool maxpool kernel=3 stride=2 pad=1\n"
                          "c2 conv filters=5 kernel=3 stride=2 nobias\n"
                          "bn2 batchnorm momentum=0.2 eps=1e-4 torch relu\n"
                          "sc conv filters=5 kernel=1 stride=2 nobias in=pool\n"
                          "scbn batchnorm torch\n"
                          "sum add in=bn2,scbn relu\n"
                          "gap gap\n"
                          "out dense units=3\n";

static Net *new_net(int B, const Kernels *k, Err *e) {
    Net *net = net_create_text("new", NEW, 9, 10, 2, B, 2, e);
    if (!net) return NULL;
    if (k) net_set_kernels(net, k);
    net_init(net, 5);
    Rng r = rng_stream(1, 19); /* non-trivial BN affine parameters */
    for (size_t j = 0; j < net->n_params; j++)
        if (net->params[j] == 0.0f || net->params[j] == 1.0f)
            net->params[j] += rng_uniform(&r, -0.3f, 0.3f);
    return net;
}

static double new_loss(Net *net, const float *x, const uint8_t *y, int B, float *dl) {
    const float *logits = net_forward(net, x, B, 1, NULL, -1);
    return softmax_xent(dl, NULL, logits, y, B, 3);
}

TEST(net_resnet_options_graph_gradients_match_finite_differences) {
    enum { B = 3, N = B * 9 * 10 * 2 };
    Err e;
    Net *net = new_net(B, kernels_reference(), &e);
    REQUIRE(net);
    /* conv without bias: weights only (4*9*2, 5*9*4, 5*4), no bias tensors */
    CHECK_INT_EQ(net->layers[0].n_params, 72);
    CHECK_INT_EQ(net->layers[net_find_layer(net, "sc")].n_params, 20);
    CHECK_INT_EQ(net->layers[net_find_layer(net, "pool")].h, 5);
    CHECK_INT_EQ(net->layers[net_find_layer(net, "pool")].w, 5);
    CHECK_INT_EQ(net->layers[net_find_layer(net, "sum")].h, 3);
    float x[N], dl[B * 3];
    /* an input whose max-pool windows have no near-ties (stream 3 had one
     * of 1.2e-5 in channel 0: finite differences then straddle the kink) */
    Rng r = rng_stream(2, 4);
    for (int i = 0; i < N; i++) x[i] = rng_uniform(&r, -1, 1);
    uint8_t y[B] = {1, 2, 0};
    new_loss(net, x, y, B, dl);
    net_zero_grads(net);
    REQUIRE(net_backward(net, dl, B) == 0);
    float *grads = malloc(net->n_params * sizeof(float));
    memcpy(grads, net->grads, net->n_params * sizeof(float));
    int bad = 0, nonzero = 0;
    for (size_t i = 0; i < net->n_params; i++) {
        float keep = net->params[i], eps = 5e-4f;
        net->params[i] = keep + eps;
        double lp = new_loss(net, x, y, B, NULL);
        net->params[i] = keep - eps;
        double lm = new_loss(net, x, y, B, NULL);
        net->params[i] = keep;
        double num = (lp - lm) / (2 * (double)eps), a = grads[i];
        nonzero += fabs(a) > 1e-3;
        if (!(fabs(num - a) <= 3e-4 + 2e-2 * fmax(fabs(a), fabs(num)))) {
            if (bad < 3)
                test_fail(__FILE__, __LINE__, "param %zu (of %zu): analytic %g numeric %g", i,
                          net->n_params, a, num);
            bad++;
        }
    }
    CHECK_INT_EQ(bad, 0);
    CHECK(nonzero > (int)net->n_params / 2);
    free(grads);
    /* the fast kernels (and threaded pool) against the reference, both fresh
     * (the finite differences moved net's running statistics) */
    net_free(net);
    net = new_net(B, kernels_reference(), &e);
    Net *fast = new_net(B, NULL, &e);
    REQUIRE(net && fast);
    const float *a = net_forward(net, x, B, 1, NULL, -1), *b = net_forward(fast, x, B, 1, NULL, -1);
    REQUIRE(a && b);
    CHECK_ARRAY_NEAR(b, a, (size_t)B * 3, 1e-4, 1e-5);
    CHECK_ARRAY_NEAR(fast->state, net->state, net->n_state, 1e-5, 1e-6);
    net_zero_grads(net), net_zero_grads(fast);
    REQUIRE(net_backward(net, dl, B) == 0 && net_backward(fast, dl, B) == 0);
    CHECK_ARRAY_NEAR(fast->grads, net->grads, net->n_params, 1e-3, 1e-5);
    net_free(fast);
    net_free(net);
}

/* Same seed and threads, same bits: 3 Adam steps of the graph, twice. */
TEST(net_resnet_options_training_is_deterministic) {
    enum { B = 4, N = B * 9 * 10 * 2 };
    float *params[2] = {NULL, NULL}, *state[2] = {NULL, NULL};
    size_t np = 0, ns = 0;
    for (int run = 0; run < 2; run++) {
        Err e;
        Net *net = new_net(B, NULL, &e);
        REQUIRE(net);
        Adam opt;
        adam_init(&opt, net->n_params);
        float x[N], dl[B * 3];
        uint8_t y[B] = {0, 1, 2, 1};
        for (int step = 0; step < 3; step++) {
            Rng r = rng_stream(8, (uint64_t)step);
            for (int i = 0; i < N; i++) x[i] = rng_uniform(&r, -1, 1);
            new_loss(net, x, y, B, dl);
            REQUIRE(net_update(net, &opt, dl, B) == 0);
        }
        np = net->n_params, ns = net->n_state;
        params[run] = malloc(np * sizeof(float)), state[run] = malloc(ns * sizeof(float));
        memcpy(params[run], net->params, np * sizeof(float));
        memcpy(state[run], net->state, ns * sizeof(float));
        adam_free(&opt);
        net_free(net);
    }
    CHECK(!memcmp(params[0], params[1], np * sizeof(float)));
    CHECK(!memcmp(state[0], state[1], ns * sizeof(float)));
    for (int i = 0; i < 2; i++) free(params[i]), free(state[i]);
}

/* ---- the built-in ResNets ---- */

/* "NAME.SUFFIX" of every tensor of net, with its file shape, into a list. */
typedef struct {
    char name[128];
    int64_t shape[4];
    int ndim, is_state;
} TName;

static int tensor_names(const Net *net, TName *out, int cap) {
    int n = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        const KindDef *kd = kind_def(L->spec.kind);
        NetTensor t[KIND_MAX_TENSORS];
        int m = kd->tensors ? kd->tensors(L, t) : 0;
        for (int j = 0; j < m && n < cap; j++, n++) {
            snprintf(out[n].name, sizeof out[n].name, "%s.%s", L->spec.name, t[j].suffix);
            out[n].ndim = golden_tensor_shape(&t[j], out[n].shape);
            out[n].is_state = t[j].is_state;
        }
    }
    return n;
}

static const TName *find_name(const TName *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

static void check_builtin(const char *arch, int size, size_t want_params, int classes,
                          const char *stem_node) {
    Arch a;
    Err e;
    REQUIRE(arch_load(&a, arch, &e) == 0);
    Net *net = net_create(&a, size, size, 3, 1, 1, &e);
    arch_free(&a);
    REQUIRE(net);
    CHECK_INT_EQ(net->n_params, want_params); /* torchvision's sum of p.numel() */
    CHECK_INT_EQ(net_output_size(net), classes);
    TName t[256];
    int n = tensor_names(net, t, 256);
    /* torchvision's state_dict: 62 parameters, 40 BN statistics (and 20
     * num_batches_tracked counters, which augprobe does not keep) */
    CHECK_INT_EQ(n, 102);
    int states = 0;
    for (int i = 0; i < n; i++) states += t[i].is_state;
    CHECK_INT_EQ(states, 40);
    const TName *c1 = find_name(t, n, "conv1.weight"), *ds = find_name(t, n, "layer2.0.downsample.0.weight");
    const TName *fc = find_name(t, n, "fc.weight");
    REQUIRE(c1 && ds && fc);
    CHECK(c1->ndim == 4 && c1->shape[0] == 64 && c1->shape[1] == 3 &&
          c1->shape[2] == (size == 32 ? 3 : 7));
    CHECK(ds->ndim == 4 && ds->shape[0] == 128 && ds->shape[1] == 64 && ds->shape[2] == 1);
    CHECK(fc->ndim == 2 && fc->shape[0] == classes && fc->shape[1] == 512);
    CHECK(find_name(t, n, "fc.bias") && find_name(t, n, "bn1.running_mean") &&
          find_name(t, n, "layer2.0.downsample.1.weight") &&
          find_name(t, n, "layer4.1.bn2.running_var") && !find_name(t, n, "conv1.bias") &&
          !find_name(t, n, "layer1.0.downsample.0.weight"));
    /* the taps: stem, each stage's last block, the pool */
    static const char *taps[6][2] = {{"stem", NULL},          {"layer1", "layer1.1"},
                                     {"layer2", "layer2.1"}, {"layer3", "layer3.1"},
                                     {"layer4", "layer4.1"}, {"avgpool", "avgpool"}};
    int n_taps = 0;
    for (int i = 0; i < net->n_layers; i++) n_taps += net->layers[i].spec.tap[0] != 0;
    CHECK_INT_EQ(n_taps, 6);
    for (int i = 0; i < 6; i++) {
        int l = net_find_layer(net, taps[i][1] ? taps[i][1] : stem_node);
        REQUIRE(l >= 0);
        CHECK(!strcmp(net->layers[l].spec.tap, taps[i][0]));
    }
    int l4 = net_find_layer(net, "layer4.1");
    CHECK_INT_EQ(net->layers[l4].c, 512);
    CHECK_INT_EQ(net->layers[l4].h, size == 32 ? 4 : 7);
    net_free(net);
}

TEST(arch_resnet18_builtins_are_torchvisions) {
    check_builtin("resnet18", 32, 11173962, 10, "bn1");
    check_builtin("resnet18-imagenet", 224, 11689512, 1000, "maxpool");
}

/* ---- golden tests against torchvision (tools/make_resnet_golden.py) ---- */

/* A safetensors fixture of F32 tensors, read with cJSON. */
typedef struct {
    uint8_t *file;
    size_t len;
    cJSON *root;
    const uint8_t *data;
} Fixture;

static int fixture_open(Fixture *f, const char *name) {
    Err e;
    memset(f, 0, sizeof *f);
    if (file_read_all(test_fixture(name), &f->file, &f->len, &e)) {
        test_fail(__FILE__, __LINE__, "%s", e.msg);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8 && f->len >= 8; i++) hlen |= (uint64_t)f->file[i] << (8 * i);
    if (f->len < 8 || hlen > f->len - 8 ||
        !(f->root = cJSON_ParseWithLength((const char *)f->file + 8, (size_t)hlen))) {
        test_fail(__FILE__, __LINE__, "%s: not a safetensors file", name);
        free(f->file);
        return -1;
    }
    f->data = f->file + 8 + hlen;
    return 0;
}

/* Tensor `name` (F32), its count in *n; NULL (a failure) when absent. */
static const float *fixture_get(const Fixture *f, const char *name, size_t *n) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->root, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!t || !cJSON_IsString(dt) || strcmp(dt->valuestring, "F32") || cJSON_GetArraySize(of) != 2) {
        test_fail(__FILE__, __LINE__, "fixture has no F32 tensor %s", name);
        return NULL;
    }
    size_t b = (size_t)cJSON_GetArrayItem(of, 0)->valuedouble,
           en = (size_t)cJSON_GetArrayItem(of, 1)->valuedouble;
    if (en < b || (en - b) % 4 || f->data + en > f->file + f->len) {
        test_fail(__FILE__, __LINE__, "fixture tensor %s: bad offsets", name);
        return NULL;
    }
    *n = (en - b) / 4;
    return (const float *)(f->data + b);
}

static void fixture_close(Fixture *f) {
    cJSON_Delete(f->root);
    free(f->file);
}

enum { RESNET_SAMPLES = 1024 };

typedef struct {
    double max_abs, max_rel;
    size_t n, tensors;
} Worst;

static void worst(Worst *w, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (d > w->max_abs) w->max_abs = d;
        if (fabs(want[i]) >= 1e-3 && d / fabs(want[i]) > w->max_rel) w->max_rel = d / fabs(want[i]);
    }
    w->n += n;
}

/* Fixture tensor KEY (whole, or RESNET_SAMPLES samples + sum + sum|x|)
 * against ours (file layout, n floats). */
static void compare_key(const Fixture *f, const char *key, const float *got, size_t n,
                        double rel, double abs_tol, Worst *w) {
    size_t cnt;
    const float *want = fixture_get(f, key, &cnt);
    if (!want) return;
    w->tensors++;
    if (n <= GOLDEN_SAMPLE_ABOVE) {
        CHECK_INT_EQ(cnt, n);
        if (cnt == n && !CHECK_ARRAY_NEAR(got, want, n, rel, abs_tol)) printf("    in %s\n", key);
        if (cnt == n) worst(w, got, want, n);
        return;
    }
    CHECK_INT_EQ(cnt, RESNET_SAMPLES + 2);
    if (cnt != RESNET_SAMPLES + 2) return;
    float s[RESNET_SAMPLES];
    uint64_t tag = golden_name_tag(key);
    for (int j = 0; j < RESNET_SAMPLES; j++) s[j] = got[golden_hash(tag, (uint64_t)j) % n];
    if (!CHECK_ARRAY_NEAR(s, want, RESNET_SAMPLES, rel, abs_tol)) printf("    in %s\n", key);
    worst(w, s, want, RESNET_SAMPLES);
    double sum = 0, asum = 0;
    for (size_t i = 0; i < n; i++) sum += got[i], asum += fabs(got[i]);
    double ws = want[RESNET_SAMPLES], wa = want[RESNET_SAMPLES + 1];
    CHECK_NEAR(sum, ws, rel * wa);
    CHECK_NEAR(asum, wa, rel * wa);
}

/* Mean softmax cross-entropy over B rows of C logits in double, labels of
 * any count (softmax_xent's are uint8); dl = (softmax - onehot) / B. */
static double xent(float *dl, const float *z, const int64_t *y, int B, int C) {
    double total = 0;
    for (int n = 0; n < B; n++) {
        const float *r = z + (size_t)n * C;
        double mx = r[0], s = 0;
        for (int j = 1; j < C; j++) mx = r[j] > mx ? r[j] : mx;
        for (int j = 0; j < C; j++) s += exp(r[j] - mx);
        double lse = mx + log(s);
        total += lse - r[y[n]];
        for (int j = 0; j < C; j++)
            dl[(size_t)n * C + j] = (float)((exp(r[j] - lse) - (j == y[n])) / B);
    }
    return total / B;
}

/* The golden run of arch on the CPU, or (device: a --device value) there. */
static void resnet_golden(const char *arch, int size, int classes, const char *fixture,
                          const char *device) {
    enum { B = 2 };
    Fixture f;
    if (fixture_open(&f, fixture)) return;
    Arch a;
    Err e;
    REQUIRE(arch_load(&a, arch, &e) == 0);
    Net *net = net_create(&a, size, size, 3, B, 2, &e);
    arch_free(&a);
    REQUIRE(net);
    golden_set_named_weights(net);
    if (device && net_place(net, device, NULL, &e)) {
        test_fail(__FILE__, __LINE__, "%s", e.msg);
        net_free(net), fixture_close(&f);
        return;
    }
    size_t nx = (size_t)B * size * size * 3;
    float *x = malloc(nx * sizeof(float)), *dl = malloc(sizeof(float) * B * classes);
    int64_t y[B];
    golden_batch_sized(0, x, B, size, size, 3, y, classes);
    net_zero_grads(net);
    const float *logits = net_forward(net, x, B, 1, NULL, -1);
    REQUIRE(logits);
    float loss = (float)xent(dl, logits, y, B, classes);
    REQUIRE(net_backward(net, dl, B) == 0);
    REQUIRE(net_sync_host(net, NULL, &e) == 0); /* a device's gradients and statistics */
    const double rel = 1e-4, abs_tol = 1e-5; /* the seed CNN's golden tolerances */
    Worst wl = {0}, wg = {0}, ws = {0};
    compare_key(&f, "logits", logits, (size_t)B * classes, rel, abs_tol, &wl);
    compare_key(&f, "loss", &loss, 1, rel, abs_tol, &wl);
    for (int l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        const KindDef *kd = kind_def(L->spec.kind);
        NetTensor t[KIND_MAX_TENSORS];
        int m = kd->tensors ? kd->tensors(L, t) : 0;
        for (int j = 0; j < m; j++) {
            char key[160];
            snprintf(key, sizeof key, "%s.%s.%s", t[j].is_state ? "state" : "grad", L->spec.name,
                     t[j].suffix);
            float *file = malloc(t[j].n * sizeof(float));
            golden_convert(&t[j], file, (t[j].is_state ? net->state : net->grads) + t[j].off, 1);
            compare_key(&f, key, file, t[j].n, rel, abs_tol, t[j].is_state ? &ws : &wg);
            free(file);
        }
    }
    CHECK_INT_EQ(wg.tensors, 62); /* every parameter's gradient */
    CHECK_INT_EQ(ws.tensors, 40); /* every running_mean and running_var */
    if (getenv("AUGPROBE_TEST_VERBOSE"))
        printf("    %s %dx%d on %s vs torchvision (float64): logits+loss max abs %.3g max rel "
               "%.3g; grads %zu values max abs %.3g max rel %.3g; running stats %zu values max "
               "abs %.3g max rel %.3g\n",
               arch, size, size, device ? device : "cpu", wl.max_abs, wl.max_rel, wg.n,
               wg.max_abs, wg.max_rel, ws.n, ws.max_abs, ws.max_rel);
    free(x), free(dl);
    net_free(net);
    fixture_close(&f);
}

TEST(resnet18_golden_matches_torchvision_logits_grads_and_running_stats) {
    resnet_golden("resnet18", 32, 10, "resnet/resnet18.golden.safetensors", NULL);
}

TEST(resnet18_imagenet_golden_matches_torchvision_at_128x128) {
    resnet_golden("resnet18-imagenet", 128, 1000, "resnet/resnet18-imagenet.golden.safetensors",
                  NULL);
}

/* The same on the emulated device: the GPU path's ops and orchestration
 * (on CUDA, resnet18 is checked against the CPU in test_device_graph.c). */
TEST(resnet18_golden_emulated_device_matches_torchvision) {
    resnet_golden("resnet18", 32, 10, "resnet/resnet18.golden.safetensors", "emulated");
}

TEST(resnet18_imagenet_golden_emulated_device_matches_torchvision_at_128x128) {
    resnet_golden("resnet18-imagenet", 128, 1000, "resnet/resnet18-imagenet.golden.safetensors",
                  "emulated");
}

/* ---- a state_dict written on PyTorch's side ---- */

/* Rebuilds tools/make_resnet_golden.py's whole state_dict file from its
 * committed header: the data are the golden values by name (the I64
 * num_batches_tracked counters 0), at the header's offsets. */
static char *torch_state_dict_file(void) {
    Err e;
    uint8_t *hdr;
    size_t hlen_file;
    if (file_read_all(test_fixture("resnet/resnet18_torch.header"), &hdr, &hlen_file, &e)) {
        test_fail(__FILE__, __LINE__, "%s", e.msg);
        return NULL;
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)hdr[i] << (8 * i);
    cJSON *root = hlen_file == 8 + hlen ? cJSON_ParseWithLength((char *)hdr + 8, hlen) : NULL;
    char *path = NULL;
    if (!root) {
        test_fail(__FILE__, __LINE__, "resnet18_torch.header: not a safetensors header");
        goto out;
    }
    size_t data_len = 0;
    for (const cJSON *t = root->child; t; t = t->next) {
        if (!strcmp(t->string, "__metadata__")) continue;
        size_t en = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 1)->valuedouble;
        data_len = en > data_len ? en : data_len;
    }
    uint8_t *data = calloc(data_len ? data_len : 1, 1);
    for (const cJSON *t = root->child; t; t = t->next) {
        if (!strcmp(t->string, "__metadata__") ||
            strcmp(cJSON_GetObjectItem(t, "dtype")->valuestring, "F32"))
            continue; /* I64 counters: 0 */
        int64_t shape[4];
        int nd = 0;
        for (const cJSON *s = cJSON_GetObjectItem(t, "shape")->child; s && nd < 4; s = s->next)
            shape[nd++] = (int64_t)s->valuedouble;
        size_t b = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
        golden_named_tensor(t->string, shape, nd, (float *)(data + b));
    }
    path = path_join(test_tmpdir(), "resnet18_torch.safetensors");
    FILE *fp = fopen(path, "wb");
    int ok = fp && fwrite(hdr, 1, hlen_file, fp) == hlen_file &&
             fwrite(data, 1, data_len, fp) == data_len;
    if (fp) ok = fclose(fp) == 0 && ok;
    if (!ok) test_fail(__FILE__, __LINE__, "cannot write %s", path);
    free(data);
out:
    cJSON_Delete(root);
    free(hdr);
    return path;
}

TEST(resnet18_loads_a_pytorch_state_dict_and_gives_its_logits) {
    enum { B = 4 };
    char *path = torch_state_dict_file();
    REQUIRE(path);
    Arch a;
    Err e;
    REQUIRE(arch_load(&a, "resnet18", &e) == 0);
    Net *net = net_create(&a, 32, 32, 3, B, 2, &e);
    arch_free(&a);
    REQUIRE(net);
    CheckpointMeta meta;
    if (checkpoint_load(path, net, NULL, NULL, &meta, &e)) test_fail(__FILE__, __LINE__, "%s", e.msg);
    CHECK(!strcmp(meta.arch, "resnet18") && meta.epoch == 0);
    float x[B * 32 * 32 * 3];
    int64_t y[B];
    golden_batch_sized(5, x, B, 32, 32, 3, y, 10);
    const float *logits = net_forward(net, x, B, 0, NULL, -1);
    REQUIRE(logits);
    size_t cnt;
    float *want = test_load_floats("resnet/resnet18_torch_logits.f32", &cnt);
    REQUIRE(want);
    CHECK_INT_EQ(cnt, B * 10);
    /* float32 through 18 layers against float64 */
    CHECK_ARRAY_NEAR(logits, want, (size_t)B * 10, 1e-4, 1e-4);
    free(want);
    /* weights only: asking for Adam's state is an error, in one line */
    Adam opt;
    adam_init(&opt, net->n_params);
    CHECK(checkpoint_load(path, net, &opt, NULL, NULL, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "no optimiser state");
    adam_free(&opt);
    /* into another network: one line naming the file and the tensor */
    REQUIRE(arch_load(&a, "resnet18-imagenet", &e) == 0);
    Net *other = net_create(&a, 64, 64, 3, 1, 1, &e);
    arch_free(&a);
    REQUIRE(other);
    CHECK(checkpoint_load(path, other, NULL, NULL, NULL, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "resnet18_torch.safetensors: tensor conv1.weight: shape [64, 3, 3, 3] "
                              "does not match the network's [64, 3, 7, 7]");
    CHECK(strchr(e.msg, '\n') == NULL);
    net_free(other);
    net_free(net);
    free(path);
}

/* ---- the CLI ---- */

TEST(cli_resnet18_summary_and_a_checkpoint_of_another_arch) {
    if (access(test_bin(), X_OK) != 0) SKIP("no augprobe binary (the engine-only gpu-core build)");
    char out[65536], cmd[2048];
    snprintf(cmd, sizeof cmd, "%s summary --arch resnet18", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "Model: \"resnet18\"");
    CHECK_STR_CONTAINS(out, "Trainable params: 11,173,962");
    CHECK_STR_CONTAINS(out, "layer2.0.downsample.0 (Conv2D)");
    snprintf(cmd, sizeof cmd, "%s summary --arch resnet18-imagenet", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "Trainable params: 11,689,512");
    CHECK_STR_CONTAINS(out, "maxpool (MaxPooling2D)               (None, 8, 8, 64)");
    /* a seed_cnn model given as resnet18 (and a PyTorch file without --arch) */
    Err e;
    Net *seed = net_create_text("seed_cnn", arch_builtin("seed_cnn"), 32, 32, 3, 1, 1, &e);
    REQUIRE(seed);
    net_init(seed, 1);
    char *model = path_join(test_tmpdir(), "seed.safetensors");
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "seed_cnn");
    REQUIRE(checkpoint_save(model, seed, NULL, NULL, &meta, &e) == 0);
    net_free(seed);
    snprintf(cmd, sizeof cmd, "%s eval --model %s --arch resnet18", test_bin(), model);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "seed.safetensors: architecture 'seed_cnn', expected 'resnet18'");
    CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
    char *torch = torch_state_dict_file();
    REQUIRE(torch);
    snprintf(cmd, sizeof cmd, "%s eval --model %s", test_bin(), torch);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "resnet18_torch.safetensors: ");
    CHECK_STR_CONTAINS(out, "--arch names it)");
    CHECK(strchr(out, '\n') == out + strlen(out) - 1);
    if (test_data_dir()) {
        snprintf(cmd, sizeof cmd, "%s eval --data %s --model %s --arch resnet18 --limit 16",
                 test_bin(), test_data_dir(), torch);
        CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
        CHECK_STR_CONTAINS(out, "(resnet18, 0 epochs");
    }
    free(torch);
    free(model);
}
