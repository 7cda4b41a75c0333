/* test_kernels.c - every fast CPU kernel path this CPU supports against the
 * reference layers (src/layers.c) on random shapes, odd sizes included, and
 * bit-identical results for the same inputs and thread count.
 *
 * Tolerances: the fast kernels sum in float in a different order than the
 * reference (which sums conv/dense in float too, BN in double), so results
 * agree to a few float ulps per term. We check |got-want| <= 1e-4*|want| +
 * atol, with atol = 1e-5 scaled by sqrt(terms summed) for long sums (a
 * random-walk bound: values near zero after cancellation cannot be expected
 * to match relatively). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/kernels/kernels.h"
#include "../src/layers.h"
#include "../src/omp_defaults.h"
#include "../src/rng.h"
#include "test.h"

static float *rand_floats(Rng *r, long n, float lo, float hi) {
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_float(r);
    return x;
}

static float *copy_floats(const float *x, long n) {
    float *y = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(y, x, sizeof(float) * (size_t)n);
    return y;
}

static double atol_for(long terms) { return 1e-5 * sqrt((double)terms); }

/* The fast paths supported here (reference excluded). */
static int fast_paths(const Kernels **out) {
    static const char *const names[] = {"avx512", "avx2", "portable"};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        const Kernels *k = kernels_by_name(names[i]);
        if (k) out[n++] = k;
    }
    return n;
}

TEST(kernels_dispatch_names) {
    CHECK(kernels_by_name("reference") == kernels_reference());
    CHECK(kernels_by_name("portable") != NULL);
    CHECK(kernels_by_name("nonsense") == NULL);
    CHECK(kernels_by_name("auto") == kernels_cpu_best());
    CHECK_STR_CONTAINS(kernels_compiled(), "portable");
    const char *forced = getenv("AUGPROBE_KERNELS");
    if (!forced || !*forced) {
        /* The best path is the widest supported one. */
        const Kernels *best = kernels_cpu_best();
        if (kernels_by_name("avx512")) CHECK(!strcmp(best->name, "avx512"));
        else if (kernels_by_name("avx2")) CHECK(!strcmp(best->name, "avx2"));
        else CHECK(!strcmp(best->name, "portable"));
    }
}

static void check_conv(const Kernels *k, int threads, int N, int H, int W, int Cin, int Cout,
                       int K, int relu, uint64_t seed) {
    Rng r = rng_stream(seed, 1);
    long nin = (long)N * H * W * Cin, nout = (long)N * H * W * Cout;
    long nw = (long)K * K * Cin * Cout;
    float *in = rand_floats(&r, nin, -1, 1), *w = rand_floats(&r, nw, -1, 1);
    float *b = rand_floats(&r, Cout, -1, 1), *dout = rand_floats(&r, nout, -1, 1);
    float *want = malloc(sizeof(float) * nout), *got = malloc(sizeof(float) * nout);
    KernelCtx ctx;
    kctx_init(&ctx, threads);
    ref_conv2d_forward(want, in, w, b, N, H, W, Cin, Cout, K, relu);
    k->conv2d_forward(&ctx, got, in, w, b, N, H, W, Cin, Cout, K, relu);
    long terms = (long)K * K * Cin;
    if (!CHECK_ARRAY_NEAR(got, want, nout, 1e-4, atol_for(terms)))
        fprintf(stderr, "  conv fwd %s t%d N%d %dx%d %d->%d K%d relu%d\n", k->name, threads, N,
                H, W, Cin, Cout, K, relu);
    /* Backward: dw/db start nonzero to check accumulation. */
    float *dw0 = rand_floats(&r, nw, -1, 1), *db0 = rand_floats(&r, Cout, -1, 1);
    float *dw_want = copy_floats(dw0, nw), *db_want = copy_floats(db0, Cout);
    float *dw_got = copy_floats(dw0, nw), *db_got = copy_floats(db0, Cout);
    float *din_want = malloc(sizeof(float) * nin), *din_got = malloc(sizeof(float) * nin);
    ref_conv2d_backward(din_want, dw_want, db_want, dout, in, w, N, H, W, Cin, Cout, K);
    k->conv2d_backward(&ctx, din_got, dw_got, db_got, dout, in, w, N, H, W, Cin, Cout, K);
    int ok = CHECK_ARRAY_NEAR(din_got, din_want, nin, 1e-4, atol_for((long)K * K * Cout));
    ok &= CHECK_ARRAY_NEAR(dw_got, dw_want, nw, 1e-4, atol_for((long)N * H * W));
    ok &= CHECK_ARRAY_NEAR(db_got, db_want, Cout, 1e-4, atol_for((long)N * H * W));
    /* din may be NULL; db may be NULL. */
    float *dw2 = copy_floats(dw0, nw);
    k->conv2d_backward(&ctx, NULL, dw2, NULL, dout, in, w, N, H, W, Cin, Cout, K);
    int same = memcmp(dw2, dw_got, sizeof(float) * nw) == 0;
    CHECK(same);
    ok &= same;
    if (!ok)
        fprintf(stderr, "  conv bwd %s t%d N%d %dx%d %d->%d K%d\n", k->name, threads, N, H, W,
                Cin, Cout, K);
    kctx_free(&ctx);
    free(in), free(w), free(b), free(dout), free(want), free(got), free(dw0), free(db0);
    free(dw_want), free(db_want), free(dw_got), free(db_got), free(din_want), free(din_got);
    free(dw2);
}

/* Odd shapes take the im2col GEMM path; 3x3 on even H, W the Winograd one. */
TEST(kernels_conv_match_reference_on_odd_shapes) {
    const Kernels *paths[3];
    int np = fast_paths(paths);
    REQUIRE(np >= 1);
    static const int shapes[][6] = {
        /* N, H, W, Cin, Cout, K */
        {1, 5, 7, 3, 13, 3},  {2, 7, 5, 13, 33, 3}, {3, 4, 4, 33, 16, 1},
        {1, 6, 9, 5, 3, 5},   {2, 8, 8, 3, 32, 3},  {1, 1, 1, 7, 9, 3},
        {2, 6, 6, 32, 64, 3}, {1, 5, 3, 64, 47, 3}, {3, 3, 5, 17, 29, 5},
        /* even H, W with K=3 take the Winograd path */
        {3, 4, 6, 13, 33, 3}, {1, 2, 2, 5, 7, 3},   {2, 10, 4, 33, 17, 3},
        /* Winograd dW with dIn on the GEMM path (Cout < 8); several chunks
         * per weight-gradient part (the first stores, the rest add) */
        {2, 4, 4, 16, 5, 3},  {4, 16, 16, 32, 32, 3}, {4, 16, 16, 3, 16, 3},
        /* wide channels on few tiles: chunks sized by wino_chunk's floor
         * (Cin*Cout/(Cin+Cout) tiles, not the cache budget), two of them */
        {32, 4, 4, 128, 128, 3},
    };
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    for (int p = 0; p < np; p++)
        for (int s = 0; s < ns; s++)
            for (int threads = 1; threads <= 3; threads += 2)
                check_conv(paths[p], threads, shapes[s][0], shapes[s][1], shapes[s][2],
                           shapes[s][3], shapes[s][4], shapes[s][5], s % 2, 100 + s);
}

static void check_dense(const Kernels *k, int threads, int B, int In, int Out, int relu,
                        uint64_t seed) {
    Rng r = rng_stream(seed, 2);
    float *in = rand_floats(&r, (long)B * In, -1, 1), *w = rand_floats(&r, (long)In * Out, -1, 1);
    float *b = rand_floats(&r, Out, -1, 1), *dout = rand_floats(&r, (long)B * Out, -1, 1);
    float *want = malloc(sizeof(float) * B * Out), *got = malloc(sizeof(float) * B * Out);
    KernelCtx ctx;
    kctx_init(&ctx, threads);
    ref_dense_forward(want, in, w, b, B, In, Out, relu);
    k->dense_forward(&ctx, got, in, w, b, B, In, Out, relu);
    int ok = CHECK_ARRAY_NEAR(got, want, (size_t)B * Out, 1e-4, atol_for(In));
    float *dw0 = rand_floats(&r, (long)In * Out, -1, 1), *db0 = rand_floats(&r, Out, -1, 1);
    float *dw_want = copy_floats(dw0, (long)In * Out), *dw_got = copy_floats(dw0, (long)In * Out);
    float *db_want = copy_floats(db0, Out), *db_got = copy_floats(db0, Out);
    float *din_want = malloc(sizeof(float) * B * In), *din_got = malloc(sizeof(float) * B * In);
    ref_dense_backward(din_want, dw_want, db_want, dout, in, w, B, In, Out);
    k->dense_backward(&ctx, din_got, dw_got, db_got, dout, in, w, B, In, Out);
    ok &= CHECK_ARRAY_NEAR(din_got, din_want, (size_t)B * In, 1e-4, atol_for(Out));
    ok &= CHECK_ARRAY_NEAR(dw_got, dw_want, (size_t)In * Out, 1e-4, atol_for(B));
    ok &= CHECK_ARRAY_NEAR(db_got, db_want, Out, 1e-4, atol_for(B));
    float *dw2 = copy_floats(dw0, (long)In * Out);
    k->dense_backward(&ctx, NULL, dw2, NULL, dout, in, w, B, In, Out);
    int same = memcmp(dw2, dw_got, sizeof(float) * In * Out) == 0;
    CHECK(same);
    ok &= same;
    if (!ok) fprintf(stderr, "  dense %s t%d B%d %d->%d relu%d\n", k->name, threads, B, In, Out, relu);
    kctx_free(&ctx);
    free(in), free(w), free(b), free(dout), free(want), free(got), free(dw0), free(db0);
    free(dw_want), free(dw_got), free(db_want), free(db_got), free(din_want), free(din_got);
    free(dw2);
}

TEST(kernels_dense_match_reference_on_odd_shapes) {
    const Kernels *paths[3];
    int np = fast_paths(paths);
    static const int shapes[][3] = {
        {1, 1, 1}, {1, 7, 10}, {3, 33, 17}, {32, 64, 10}, {33, 129, 47}, {17, 2048, 33}, {2, 5, 64},
    };
    for (int p = 0; p < np; p++)
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
            for (int threads = 1; threads <= 2; threads++)
                check_dense(paths[p], threads, shapes[s][0], shapes[s][1], shapes[s][2], s % 2,
                            200 + s);
}

static void check_bn(const Kernels *k, int threads, long M, int C, uint64_t seed) {
    Rng r = rng_stream(seed, 3);
    long n = M * C;
    /* Offset, scaled inputs: BN must not lose precision to the mean. */
    float *in = rand_floats(&r, n, 2, 3), *dout = rand_floats(&r, n, -1, 1);
    float *gamma = rand_floats(&r, C, 0.5f, 1.5f), *beta = rand_floats(&r, C, -1, 1);
    float *mm0 = rand_floats(&r, C, -1, 1), *mv0 = rand_floats(&r, C, 0.5f, 2);
    float *mm_w = copy_floats(mm0, C), *mv_w = copy_floats(mv0, C);
    float *mm_g = copy_floats(mm0, C), *mv_g = copy_floats(mv0, C);
    float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
    float sm_w[200], si_w[200], sm_g[200], si_g[200];
    KernelCtx ctx;
    kctx_init(&ctx, threads);
    ref_batchnorm_forward_train(want, sm_w, si_w, in, gamma, beta, mm_w, mv_w, M, C, 0.99f, 1e-3f);
    k->batchnorm_forward_train(&ctx, got, sm_g, si_g, in, gamma, beta, mm_g, mv_g, M, C, 0.99f,
                               1e-3f);
    int ok = CHECK_ARRAY_NEAR(got, want, n, 1e-4, 1e-4);
    ok &= CHECK_ARRAY_NEAR(sm_g, sm_w, C, 1e-5, 1e-6);
    ok &= CHECK_ARRAY_NEAR(si_g, si_w, C, 1e-4, 1e-6);
    ok &= CHECK_ARRAY_NEAR(mm_g, mm_w, C, 1e-5, 1e-6);
    ok &= CHECK_ARRAY_NEAR(mv_g, mv_w, C, 1e-4, 1e-6);
    ref_batchnorm_forward_infer(want, in, gamma, beta, mm0, mv0, M, C, 1e-3f);
    k->batchnorm_forward_infer(&ctx, got, in, gamma, beta, mm0, mv0, M, C, 1e-3f);
    ok &= CHECK_ARRAY_NEAR(got, want, n, 1e-4, 1e-5);
    float *dg_w = rand_floats(&r, C, -1, 1), *db_w = rand_floats(&r, C, -1, 1);
    float *dg_g = copy_floats(dg_w, C), *db_g = copy_floats(db_w, C);
    ref_batchnorm_backward(want, dg_w, db_w, dout, in, sm_w, si_w, gamma, M, C);
    k->batchnorm_backward(&ctx, got, dg_g, db_g, dout, in, sm_w, si_w, gamma, M, C);
    /* din is a difference of O(1) terms that nearly cancel: absolute tol. */
    ok &= CHECK_ARRAY_NEAR(got, want, n, 1e-4, 1e-4);
    ok &= CHECK_ARRAY_NEAR(dg_g, dg_w, C, 1e-4, atol_for(M));
    ok &= CHECK_ARRAY_NEAR(db_g, db_w, C, 1e-4, atol_for(M));
    if (!ok) fprintf(stderr, "  bn %s t%d M%ld C%d\n", k->name, threads, M, C);
    kctx_free(&ctx);
    free(in), free(dout), free(gamma), free(beta), free(mm0), free(mv0), free(mm_w), free(mv_w);
    free(mm_g), free(mv_g), free(want), free(got), free(dg_w), free(db_w), free(dg_g), free(db_g);
}

TEST(kernels_batchnorm_match_reference) {
    const Kernels *paths[3];
    int np = fast_paths(paths);
    static const long shapes[][2] = {{1, 3}, {2, 1}, {7, 13}, {300, 33}, {1000, 32}, {517, 128}};
    for (int p = 0; p < np; p++)
        for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
            for (int threads = 1; threads <= 3; threads++)
                check_bn(paths[p], threads, shapes[s][0], (int)shapes[s][1], 300 + s);
}

TEST(kernels_maxpool_and_relu_match_reference_with_ties) {
    const Kernels *paths[3];
    int np = fast_paths(paths);
    static const int shapes[][4] = {{1, 2, 2, 1}, {2, 4, 6, 3}, {3, 8, 8, 33}, {1, 6, 2, 64}};
    for (int p = 0; p < np; p++)
        for (int s = 0; s < 4; s++)
            for (int threads = 1; threads <= 2; threads++) {
                int N = shapes[s][0], H = shapes[s][1], W = shapes[s][2], C = shapes[s][3];
                long n = (long)N * H * W * C, no = n / 4;
                Rng r = rng_stream(400 + s, 4);
                float *in = rand_floats(&r, n, -1, 1), *dout = rand_floats(&r, no, -1, 1);
                /* Many ties: values from {-1, 0, 0.5} (ReLU then BN gives equal values). */
                for (long i = 0; i < n; i++) in[i] = in[i] < -0.3f ? -1 : in[i] < 0.5f ? 0 : 0.5f;
                float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
                KernelCtx ctx;
                kctx_init(&ctx, threads);
                ref_maxpool2_forward(want, in, N, H, W, C);
                paths[p]->maxpool2_forward(&ctx, got, in, N, H, W, C);
                CHECK(memcmp(got, want, sizeof(float) * no) == 0);
                ref_maxpool2_backward(want, dout, in, N, H, W, C);
                memset(got, 0x7f, sizeof(float) * n); /* must be fully overwritten */
                paths[p]->maxpool2_backward(&ctx, got, dout, in, N, H, W, C);
                CHECK(memcmp(got, want, sizeof(float) * n) == 0);
                float *dr = rand_floats(&r, n, -1, 1);
                ref_relu_backward(want, dr, in, n);
                paths[p]->relu_backward(&ctx, got, dr, in, n);
                CHECK(memcmp(got, want, sizeof(float) * n) == 0);
                paths[p]->relu_backward(&ctx, dr, dr, in, n); /* din aliases dout */
                CHECK(memcmp(dr, want, sizeof(float) * n) == 0);
                kctx_free(&ctx);
                free(in), free(dout), free(want), free(got), free(dr);
            }
}

/* Same inputs and thread count: bit-identical outputs, on the seed net's
 * second conv at batch 4 (several chunks and weight-gradient parts; the
 * Winograd path) and on 31x31 images (the im2col GEMM path). */
static void check_deterministic(int H, int W);
TEST(kernels_are_deterministic_for_a_thread_count) {
    check_deterministic(32, 32);
    check_deterministic(31, 31);
}

static void check_deterministic(int H, int W) {
    const Kernels *paths[3];
    int np = fast_paths(paths);
    int N = 4, C = 32, K = 3;
    long n = (long)N * H * W * C, nw = (long)K * K * C * C;
    Rng r = rng_stream(500, 5);
    float *in = rand_floats(&r, n, -1, 1), *w = rand_floats(&r, nw, -1, 1);
    float *dout = rand_floats(&r, n, -1, 1);
    float *o[2], *dw[2], *din[2], g[2][64], sm[2][64], si[2][64], mm[2][64], mv[2][64];
    for (int p = 0; p < np; p++)
        for (int threads = 1; threads <= 3; threads++) {
            for (int rep = 0; rep < 2; rep++) {
                KernelCtx ctx;
                kctx_init(&ctx, threads);
                o[rep] = malloc(sizeof(float) * n);
                din[rep] = malloc(sizeof(float) * n);
                dw[rep] = calloc(nw, sizeof(float));
                memset(g[rep], 0, sizeof g[rep]);
                memset(mm[rep], 0, sizeof mm[rep]);
                memset(sm[rep], 0, sizeof sm[rep]);
                memset(si[rep], 0, sizeof si[rep]);
                for (int c = 0; c < 64; c++) mv[rep][c] = 1;
                paths[p]->conv2d_forward(&ctx, o[rep], in, w, NULL, N, H, W, C, C, K, 1);
                paths[p]->conv2d_backward(&ctx, din[rep], dw[rep], g[rep], dout, in, w, N, H, W,
                                          C, C, K);
                paths[p]->batchnorm_forward_train(&ctx, din[rep] + 0, sm[rep], si[rep], o[rep],
                                                  w, w, mm[rep], mv[rep], (long)N * H * W, C,
                                                  0.99f, 1e-3f);
                kctx_free(&ctx);
            }
            CHECK(memcmp(o[0], o[1], sizeof(float) * n) == 0);
            CHECK(memcmp(din[0], din[1], sizeof(float) * n) == 0);
            CHECK(memcmp(dw[0], dw[1], sizeof(float) * nw) == 0);
            CHECK(memcmp(g[0], g[1], sizeof g[0]) == 0);
            CHECK(memcmp(sm[0], sm[1], sizeof sm[0]) == 0 && memcmp(mv[0], mv[1], sizeof mv[0]) == 0);
            for (int rep = 0; rep < 2; rep++) free(o[rep]), free(din[rep]), free(dw[rep]);
        }
    free(in), free(w), free(dout);
}

/* The default OpenMP wait policy (src/omp_defaults.c): ./augprobe re-execs
 * itself with a bounded spin that libgomp really applies, and a user's
 * choice is left alone. libgomp prints what it parsed when
 * OMP_DISPLAY_ENV=verbose (once per process: before and after the re-exec). */
TEST(omp_default_wait_policy) {
    char out[16384], cmd[512];
    snprintf(cmd, sizeof cmd,
             "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose %s info 2>&1",
             test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "GOMP_SPINCOUNT = '" OMP_DEFAULT_SPINCOUNT "'");
    CHECK_STR_CONTAINS(out, "omp wait:  GOMP_SPINCOUNT=" OMP_DEFAULT_SPINCOUNT " (default");
    snprintf(cmd, sizeof cmd,
             "env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=verbose %s info 2>&1",
             test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "OMP_WAIT_POLICY = 'ACTIVE'");
    CHECK(strstr(out, "GOMP_SPINCOUNT = '" OMP_DEFAULT_SPINCOUNT "'") == NULL);
    CHECK_STR_CONTAINS(out, "omp wait:  from the environment");
    snprintf(cmd, sizeof cmd,
             "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=7 OMP_DISPLAY_ENV=verbose %s info 2>&1",
             test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "GOMP_SPINCOUNT = '7'");
    CHECK(strstr(out, "GOMP_SPINCOUNT = '" OMP_DEFAULT_SPINCOUNT "'") == NULL);
}
