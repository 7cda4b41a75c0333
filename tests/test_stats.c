/* test_stats.c - known answers for the probe's statistics (stats.h) and the
 * linear head: a feature equal to the level ranks every gap right and its
 * threshold is below the ladder; pure noise sits at 0.5 inside its interval;
 * the level plus Gaussian noise of sd sigma gives P(correct) =
 * Phi(gap / (sigma sqrt 2)), so the 75% threshold comes out near
 * 0.954 sigma; a bootstrap interval covers a simulated probe's true accuracy
 * about 95% of the time; the psychometric fit recovers its parameters; the
 * bootstrap's and the probe's parallel loops run on the thread count they
 * are passed, not on OpenMP's global default. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../src/cifar10.h"
#include "../src/common.h"
#include "../src/probe.h"
#include "../src/rng.h"
#include "../src/stats.h"
#include "test.h"

/* The brightness ladder: gaps from 0.01 to 0.4. */
static const float LADDER[7] = {0.0f, 0.01f, 0.02f, 0.05f, 0.1f, 0.2f, 0.4f};

/* Standard normal from two uniforms (Box-Muller). */
static double gauss(Rng *r) {
    double u = (rng_u64(r) >> 11) * (1.0 / 9007199254740992.0) + 1e-300;
    double v = (rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* A one-feature cache: x = signal * level + sigma * N(0, 1), independent
 * per (level, image). */
static void level_cache(ProbeFeatures *f, int n, double signal, double sigma, uint64_t seed) {
    memset(f, 0, sizeof *f);
    snprintf(f->layer, sizeof f->layer, "level");
    f->n_images = n;
    f->n_levels = 7;
    f->dim = 1;
    f->x = xalloc_floats((size_t)7 * n);
    for (int l = 0; l < 7; l++)
        for (int i = 0; i < n; i++) {
            Rng r = rng_stream(seed, (uint64_t)(l * n + i));
            f->x[(size_t)l * n + i] = (float)(signal * LADDER[l] + sigma * gauss(&r));
        }
}

static void linear_config(ProbeConfig *c, ProbePairMode mode) {
    probe_config_defaults(c);
    probe_config_family(c, AUG_BRIGHTNESS);
    c->n_levels = 7;
    memcpy(c->levels, LADDER, sizeof LADDER);
    c->head = PROBE_HEAD_LINEAR;
    c->pairs = mode;
    c->epochs = 5;
    c->passes = 4;
    c->threads = 2;
    c->quiet = 1;
}

TEST(stats_known_answer_feature_equal_to_level_is_perfect_below_the_ladder) {
    ProbeFeatures train, test;
    level_cache(&train, 400, 1.0, 0.0, 1);
    level_cache(&test, 400, 1.0, 0.0, 2);
    for (int mode = 0; mode < 2; mode++) {
        ProbeConfig c;
        linear_config(&c, (ProbePairMode)mode);
        ProbeResult r;
        Err e = {{0}};
        REQUIRE(probe_fit_eval(&c, &train, &test, &r, &e) == 0);
        CHECK_NEAR(r.accuracy, 1.0, 1e-12);
        for (int g = 0; g < r.n_gaps; g++) CHECK_NEAR(r.accuracy_by_gap[g], 1.0, 1e-12);
        CHECK_INT_EQ(r.thr_where, PSY_BELOW);
        char text[128];
        probe_threshold_text(&r, text, sizeof text);
        CHECK_STR_CONTAINS(text, "below the ladder (<0.01)");
        CHECK_NEAR(r.acc_lo, 1.0, 1e-12);
        probe_result_free(&r);
    }
    probe_features_free(&train);
    probe_features_free(&test);
}

TEST(stats_known_answer_pure_noise_is_at_chance_within_its_interval) {
    ProbeFeatures train, test;
    level_cache(&train, 1000, 0.0, 1.0, 3);
    level_cache(&test, 1000, 0.0, 1.0, 4);
    ProbeConfig c;
    linear_config(&c, PROBE_PAIRS_CROSS);
    ProbeResult r;
    Err e = {{0}};
    REQUIRE(probe_fit_eval(&c, &train, &test, &r, &e) == 0);
    CHECK(r.acc_lo <= 0.5 && 0.5 <= r.acc_hi);
    CHECK(r.acc_hi - r.acc_lo < 0.06); /* ~3,400 non-tie pairs over 1,000 images */
    CHECK_NEAR(r.accuracy, 0.5, 0.03);
    CHECK_INT_EQ(r.thr_where, PSY_ABOVE);
    probe_result_free(&r);
    probe_features_free(&train);
    probe_features_free(&test);
}

TEST(stats_known_answer_gaussian_noise_threshold_is_0954_sigma) {
    /* P(correct | gap) = Phi(gap / (sigma sqrt 2)): 75% at gap = 0.6745 sqrt 2 sigma */
    const double sigma = 0.1, want = 0.67448975 * sqrt(2.0) * sigma;
    ProbeFeatures train, test;
    level_cache(&train, 3000, 1.0, sigma, 5);
    level_cache(&test, 3000, 1.0, sigma, 6);
    ProbeConfig c;
    linear_config(&c, PROBE_PAIRS_SAME);
    ProbeResult r;
    Err e = {{0}};
    REQUIRE(probe_fit_eval(&c, &train, &test, &r, &e) == 0);
    CHECK_INT_EQ(r.thr_where, PSY_INSIDE);
    CHECK_NEAR(r.threshold, want, 0.1 * want);
    CHECK(r.thr_lo <= r.threshold && r.threshold <= r.thr_hi);
    CHECK(r.thr_lo < want * 1.1 && r.thr_hi > want * 0.9);
    /* and accuracy by gap follows the formula */
    for (int g = 0; g < r.n_gaps; g++) {
        if (r.by_gap[g].total < 300) continue;
        double p = stats_norm_cdf(r.gap[g] / (sigma * sqrt(2.0)));
        double sd = sqrt(p * (1 - p) / r.by_gap[g].total);
        CHECK_NEAR(r.accuracy_by_gap[g], p, 4 * sd + 0.01);
    }
    probe_result_free(&r);
    probe_features_free(&train);
    probe_features_free(&test);
}

TEST(stats_bootstrap_interval_covers_a_simulated_probe_95_percent) {
    /* 300 images x 3 pairs each, every pair right with probability 0.7 */
    const int N = 300, per = 3, reps = 200, B = 400;
    const double p = 0.7;
    int covered = 0;
    int *image = xmalloc(sizeof(int) * N * per), *gap_of = xmalloc(sizeof(int) * N * per);
    uint8_t *outcome = xmalloc((size_t)N * per);
    double *acc = xmalloc(sizeof(double) * B);
    for (int k = 0; k < N * per; k++) {
        image[k] = k % N;
        gap_of[k] = 0;
    }
    for (int rep = 0; rep < reps; rep++) {
        Rng r = rng_stream(77, (uint64_t)rep);
        for (int k = 0; k < N * per; k++) outcome[k] = rng_float(&r) < p;
        Outcomes o;
        outcomes_make(&o, N, 1, N * per, image, gap_of, outcome);
        int *draws = stats_boot_draws(99, (uint64_t)rep, N, B, 2);
        stats_boot_accuracy(&o, draws, B, acc, 2);
        double lo, hi;
        stats_interval95(acc, B, &lo, &hi);
        covered += lo <= p && p <= hi;
        free(draws);
        outcomes_free(&o);
    }
    /* binomial(200, 0.95): sd 3.1 replicates */
    CHECK(covered >= 180 && covered <= 198);
    free(image);
    free(gap_of);
    free(outcome);
    free(acc);
}

TEST(stats_psychometric_fit_recovers_its_parameters) {
    double gap[6] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.4};
    int k[6], n[6];
    for (int g = 0; g < 6; g++) {
        n[g] = 100000;
        k[g] = (int)lround(n[g] * stats_psy_p(gap[g], 0.08, 1.4));
    }
    double alpha, beta;
    CHECK_INT_EQ(stats_psy_fit(gap, k, n, 6, &alpha, &beta), PSY_INSIDE);
    CHECK_NEAR(alpha, 0.08, 0.08 * 0.01);
    CHECK_NEAR(beta, 1.4, 1e-9); /* on the fit's grid */
    CHECK_NEAR(stats_psy_p(0.08, alpha, beta), 0.75, 0.002);
    /* chance everywhere: above the ladder; no data: NaN, above */
    for (int g = 0; g < 6; g++) k[g] = n[g] / 2;
    CHECK_INT_EQ(stats_psy_fit(gap, k, n, 6, &alpha, &beta), PSY_ABOVE);
    for (int g = 0; g < 6; g++) n[g] = k[g] = 0;
    CHECK_INT_EQ(stats_psy_fit(gap, k, n, 6, &alpha, &beta), PSY_ABOVE);
    CHECK(isnan(alpha));
    /* the interval helper: percentiles with interpolation, NaNs ignored */
    double v[5] = {3, NAN, 1, 2, 4}, lo, hi;
    stats_interval95(v, 5, &lo, &hi);
    CHECK_NEAR(lo, 1 + 0.025 * 3, 1e-12);
    CHECK_NEAR(hi, 1 + 0.975 * 3, 1e-12);
}

TEST(stats_linear_head_is_deterministic_across_threads) {
    ProbeFeatures train, test;
    level_cache(&train, 500, 1.0, 0.1, 8);
    level_cache(&test, 500, 1.0, 0.1, 9);
    ProbeConfig c;
    linear_config(&c, PROBE_PAIRS_CROSS);
    ProbeResult r1, r2;
    Err e = {{0}};
    c.threads = 1;
    REQUIRE(probe_fit_eval(&c, &train, &test, &r1, &e) == 0);
    c.threads = 3;
    REQUIRE(probe_fit_eval(&c, &train, &test, &r2, &e) == 0);
    CHECK(!memcmp(&r1.train_loss, &r2.train_loss, sizeof r1.train_loss));
    CHECK(!memcmp(&r1.threshold, &r2.threshold, sizeof r1.threshold));
    CHECK(!memcmp(&r1.acc_lo, &r2.acc_lo, sizeof r1.acc_lo));
    CHECK(!memcmp(r1.outcome, r2.outcome, (size_t)r1.pairs_test));
    probe_result_free(&r1);
    probe_result_free(&r2);
    probe_features_free(&train);
    probe_features_free(&test);
}

/* This process's threads now (/proc/self/task), or -1 where unreadable. */
static int os_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A loop that ignored the count it is given would run on OpenMP's global
 * default, set to 1 here. libgomp keeps a team's threads after the loop, so
 * a call asked for t threads, more than the process has, must leave it with
 * at least t. Every result matches the one on 1 thread. */
TEST(stats_loops_run_on_the_threads_passed_not_the_global_default) {
#ifndef _OPENMP
    SKIP("built without OpenMP");
#else
    if (os_threads() < 1) SKIP("no /proc/self/task");
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    enum { N = 64, B = 50, G = 6, M = 8 };
    int t;
    /* the bootstrap: draws, accuracies, thresholds */
    int *d1 = stats_boot_draws(3, 4, N, B, 1);
    t = os_threads() + 2;
    int *dt = stats_boot_draws(3, 4, N, B, t);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(d1, dt, sizeof(int) * N * B));
    int image[2 * N], gap_of[2 * N];
    uint8_t outcome[2 * N];
    for (int k = 0; k < 2 * N; k++) {
        image[k] = k % N;
        gap_of[k] = k % G;
        outcome[k] = k % 3 != 0;
    }
    Outcomes o;
    outcomes_make(&o, N, G, 2 * N, image, gap_of, outcome);
    double gap[G] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.4}, v1[B], vt[B];
    stats_boot_accuracy(&o, d1, B, v1, 1);
    t = os_threads() + 2;
    stats_boot_accuracy(&o, d1, B, vt, t);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(v1, vt, sizeof v1));
    stats_boot_threshold(&o, gap, d1, B, v1, 1);
    t = os_threads() + 2;
    stats_boot_threshold(&o, gap, d1, B, vt, t);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(v1, vt, sizeof v1));
    outcomes_free(&o);
    free(d1);
    free(dt);
    /* the probe's pairs */
    ProbePairs p1, pt;
    probe_pairs_make(&p1, N, 2, LADDER, 7, 5, PROBE_SPLIT_TEST, PROBE_PAIRS_CROSS, 1);
    t = os_threads() + 2;
    probe_pairs_make(&pt, N, 2, LADDER, 7, 5, PROBE_SPLIT_TEST, PROBE_PAIRS_CROSS, t);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(p1.image_b, pt.image_b, sizeof(int) * (size_t)p1.n));
    CHECK(!memcmp(p1.la, pt.la, (size_t)p1.n));
    probe_pairs_free(&p1);
    probe_pairs_free(&pt);
    /* augmented images, a floor's features, a tap's average */
    uint8_t *img = xmalloc((size_t)M * CIFAR_PIXELS), lab[M] = {0};
    for (size_t i = 0; i < (size_t)M * CIFAR_PIXELS; i++) img[i] = (uint8_t)(i * 7 % 251);
    ImageSet set = {M, img, lab};
    int idx[M] = {0, 1, 2, 3, 4, 5, 6, 7};
    AugSpec spec;
    Err e = {{0}};
    REQUIRE(aug_parse(&spec, "hflip,zoom=0.5:1.0,hue=-0.1:0.1", &e) == 0);
    float *x1 = xalloc_floats((size_t)M * CIFAR_PIXELS);
    float *xt = xalloc_floats((size_t)M * CIFAR_PIXELS);
    aug_batch(&spec, &set, idx, M, 9, 10, x1, 1);
    t = os_threads() + 2;
    aug_batch(&spec, &set, idx, M, 9, 10, xt, t);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(x1, xt, sizeof(float) * M * CIFAR_PIXELS));
    ProbeFeatures f1, ft;
    REQUIRE(probe_features_input(PROBE_INPUT_STATS, &set, M, AUG_BRIGHTNESS, LADDER, 7, 1 << 20,
                                 1, &f1, &e) == 0);
    t = os_threads() + 2;
    REQUIRE(probe_features_input(PROBE_INPUT_STATS, &set, M, AUG_BRIGHTNESS, LADDER, 7, 1 << 20,
                                 t, &ft, &e) == 0);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(f1.x, ft.x, sizeof(float) * 7 * M * PROBE_STATS_DIM));
    Layer ly;
    memset(&ly, 0, sizeof ly);
    ly.h = ly.w = 32, ly.c = 3; /* the augmented images as a 32x32x3 activation */
    probe_tap_vectors(&ly, x1, M, PROBE_POOL_AVG, xt, 1);
    t = os_threads() + 2;
    probe_tap_vectors(&ly, x1, M, PROBE_POOL_AVG, xt + M * 3, t);
    CHECK(os_threads() >= t);
    CHECK(!memcmp(xt, xt + M * 3, sizeof(float) * M * 3));
    probe_features_free(&f1);
    probe_features_free(&ft);
    free(x1);
    free(xt);
    free(img);
    omp_set_num_threads(saved);
#endif
}

TEST(floor_pixels_matches_numpy) {
    /* tools/make_floor_fixture.py: the same probe in NumPy/SciPy (L-BFGS to
     * convergence, its own pairs) on test_batch images 0..499 (training)
     * and 500..999 (test) */
    const char *dir = test_data_dir();
    if (!dir) SKIP("no offline CIFAR-10 copy (shared/data/cifar10-q75)");
    uint8_t *text;
    size_t len;
    Err e = {{0}};
    REQUIRE(file_read_all(test_fixture("floor/pixels_brightness_cross.txt"), &text, &len, &e) == 0);
    double want = 0;
    int n_pairs = 0;
    REQUIRE(sscanf((const char *)text, "%lf %d", &want, &n_pairs) == 2);
    free(text);
    Cifar10 data;
    memset(&data, 0, sizeof data);
    REQUIRE(cifar10_load(&data, dir, 0, 1, 2, &e) == 0);
    ImageSet tr = {500, data.test.images, data.test.labels};
    ImageSet te = {500, data.test.images + (size_t)500 * CIFAR_PIXELS, data.test.labels + 500};
    ProbeConfig c;
    linear_config(&c, PROBE_PAIRS_CROSS);
    c.epochs = 15;
    ProbeFeatures ftr, fte;
    REQUIRE(probe_features_input(PROBE_INPUT_PIXELS, &tr, 500, AUG_BRIGHTNESS, c.levels, 7,
                                 (size_t)1 << 30, 2, &ftr, &e) == 0);
    REQUIRE(probe_features_input(PROBE_INPUT_PIXELS, &te, 500, AUG_BRIGHTNESS, c.levels, 7,
                                 (size_t)1 << 30, 2, &fte, &e) == 0);
    CHECK_INT_EQ(fte.dim, 3072);
    ProbeResult r;
    REQUIRE(probe_fit_eval(&c, &ftr, &fte, &r, &e) == 0);
    /* numpy's estimate lies within ours, widened by its own sampling (its
     * pairs are other draws): |ours - numpy| <= the two half-widths */
    double half = (r.acc_hi - r.acc_lo) / 2;
    if (getenv("AUG_VERBOSE"))
        printf("  pixels floor: augprobe %.4f [%.4f, %.4f], numpy %.4f\n", r.accuracy, r.acc_lo,
               r.acc_hi, want);
    CHECK(fabs(r.accuracy - want) <= sqrt(2.0) * half); /* two independent estimates */
    CHECK(r.accuracy > 0.6 && r.accuracy < 0.95); /* a floor below the ceiling */
    probe_result_free(&r);
    probe_features_free(&ftr);
    probe_features_free(&fte);
    cifar10_free(&data);
}
