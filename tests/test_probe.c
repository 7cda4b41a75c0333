/* test_probe.c - the RankNet probe: pair construction, the feature cache,
 * learning a synthetic signal (and not learning noise), ties, determinism,
 * and the `augprobe probe` command (probe.json, flags, --model random). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/augment.h"
#include "../src/checkpoint.h"
#include "../src/cifar10.h"
#include "../src/common.h"
#include "../src/net.h"
#include "../src/probe.h"
#include "../src/rng.h"
#include "test.h"

static const float ZOOM_LEVELS[5] = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f};

TEST(probe_pairs_counts_targets_and_ties) {
    ProbePairs p;
    probe_pairs_make(&p, 1000, 4, ZOOM_LEVELS, 5, 7, PROBE_SPLIT_TRAIN, PROBE_PAIRS_SAME, 2);
    CHECK_INT_EQ(p.n, 4000);
    int ties = 0, use[5] = {0}, bad = 0;
    for (int k = 0; k < p.n; k++) {
        CHECK_INT_EQ(p.image[k], k % 1000);
        REQUIRE(p.la[k] < 5 && p.lb[k] < 5);
        float a = ZOOM_LEVELS[p.la[k]], b = ZOOM_LEVELS[p.lb[k]];
        float want = a > b ? 1.0f : a < b ? -1.0f : 0.0f;
        bad += p.target[k] != want;
        ties += p.target[k] == 0;
        use[p.la[k]]++;
        use[p.lb[k]]++;
    }
    CHECK_INT_EQ(bad, 0);
    CHECK_INT_EQ(ties, p.ties);
    CHECK_NEAR(p.ties, 800, 100); /* 1/5 of the pairs, sd ~25 */
    for (int l = 0; l < 5; l++) CHECK_NEAR(use[l], 1600, 160);
    /* test pairs come from their own streams */
    ProbePairs q;
    probe_pairs_make(&q, 1000, 4, ZOOM_LEVELS, 5, 7, PROBE_SPLIT_TEST, PROBE_PAIRS_SAME, 2);
    int same = 0;
    for (int k = 0; k < q.n; k++) same += q.la[k] == p.la[k] && q.lb[k] == p.lb[k];
    CHECK(same < 600); /* ~4000/25 = 160 agree by chance */
    probe_pairs_free(&p);
    probe_pairs_free(&q);
}

TEST(probe_pairs_independent_of_threads_and_split_size) {
    ProbePairs p1, p4, small;
    probe_pairs_make(&p1, 3000, 4, ZOOM_LEVELS, 5, 11, PROBE_SPLIT_TRAIN, PROBE_PAIRS_SAME, 1);
    probe_pairs_make(&p4, 3000, 4, ZOOM_LEVELS, 5, 11, PROBE_SPLIT_TRAIN, PROBE_PAIRS_SAME, 4);
    probe_pairs_make(&small, 100, 4, ZOOM_LEVELS, 5, 11, PROBE_SPLIT_TRAIN, PROBE_PAIRS_SAME, 4);
    REQUIRE(p1.n == p4.n);
    CHECK(!memcmp(p1.la, p4.la, (size_t)p1.n));
    CHECK(!memcmp(p1.lb, p4.lb, (size_t)p1.n));
    CHECK(!memcmp(p1.target, p4.target, sizeof(float) * (size_t)p1.n));
    CHECK_INT_EQ(p1.ties, p4.ties);
    /* --limit: the first 100 images get the same pairs as in the full split */
    int diff = 0;
    for (int pass = 0; pass < 4; pass++)
        for (int i = 0; i < 100; i++) {
            int k = pass * 3000 + i, ks = pass * 100 + i;
            diff += p1.la[k] != small.la[ks] || p1.lb[k] != small.lb[ks];
        }
    CHECK_INT_EQ(diff, 0);
    probe_pairs_free(&p1);
    probe_pairs_free(&p4);
    probe_pairs_free(&small);
}

TEST(probe_cross_pairs_keep_the_levels_and_pair_other_images) {
    ProbePairs same, cross;
    probe_pairs_make(&same, 500, 4, ZOOM_LEVELS, 5, 7, PROBE_SPLIT_TEST, PROBE_PAIRS_SAME, 2);
    probe_pairs_make(&cross, 500, 4, ZOOM_LEVELS, 5, 7, PROBE_SPLIT_TEST, PROBE_PAIRS_CROSS, 2);
    REQUIRE(same.n == cross.n);
    CHECK(!memcmp(same.la, cross.la, (size_t)same.n)); /* the levels are those of same mode */
    CHECK(!memcmp(same.lb, cross.lb, (size_t)same.n));
    CHECK_INT_EQ(same.ties, cross.ties);
    int self = 0, same_b = 0, below = 0;
    for (int k = 0; k < cross.n; k++) {
        CHECK_INT_EQ(cross.image[k], k % 500);
        same_b += same.image_b[k] == same.image[k];
        self += cross.image_b[k] == cross.image[k];
        REQUIRE(cross.image_b[k] >= 0 && cross.image_b[k] < 500);
        below += cross.image_b[k] < 250;
    }
    CHECK_INT_EQ(same_b, same.n);
    CHECK_INT_EQ(self, 0);
    CHECK_NEAR(below, 1000, 100); /* uniform over the others: half below 250, sd ~32 */
    probe_pairs_free(&same);
    probe_pairs_free(&cross);
}

/* A hand-made cache: feature 0 = signal * level + noise, the rest noise. */
static void synthetic_features(ProbeFeatures *f, int n, int dim, float signal, uint64_t seed) {
    memset(f, 0, sizeof *f);
    snprintf(f->layer, sizeof f->layer, "synthetic");
    f->n_images = n;
    f->n_levels = 5;
    f->dim = dim;
    f->x = xalloc_floats((size_t)5 * n * dim);
    for (int l = 0; l < 5; l++)
        for (int i = 0; i < n; i++) {
            Rng r = rng_stream(seed, (uint64_t)(l * n + i));
            float *x = f->x + ((size_t)l * n + i) * dim;
            for (int d = 0; d < dim; d++) x[d] = rng_uniform(&r, -1, 1);
            x[0] = signal * ZOOM_LEVELS[l] + 0.02f * rng_uniform(&r, -1, 1);
        }
}

static void synthetic_config(ProbeConfig *c, int epochs) {
    probe_config_defaults(c);
    c->n_levels = 5;
    memcpy(c->levels, ZOOM_LEVELS, sizeof ZOOM_LEVELS);
    c->epochs = epochs;
    c->threads = 1; /* tiny head: thread wake-ups would cost more than the work */
    c->quiet = 1;
}

TEST(probe_learns_a_synthetic_signal_and_excludes_ties) {
    ProbeFeatures train, test;
    synthetic_features(&train, 300, 16, 10.0f, 1);
    synthetic_features(&test, 300, 16, 10.0f, 2);
    ProbeConfig c;
    synthetic_config(&c, 4);
    ProbeResult r;
    Err e = {{0}};
    REQUIRE(probe_fit_eval(&c, &train, &test, &r, &e) == 0);
    CHECK_INT_EQ(r.pairs_train, 1200);
    CHECK_INT_EQ(r.pairs_test, 1200);
    CHECK(r.ties_test > 150 && r.ties_test < 330);
    CHECK_INT_EQ(r.a_more.total + r.b_more.total + r.ties_test, r.pairs_test);
    /* above 0.8 is only possible because ties are not counted as errors */
    CHECK(r.accuracy > 0.95);
    CHECK(r.train_accuracy > 0.95);
    CHECK_NEAR(r.accuracy,
               (double)(r.a_more.correct + r.b_more.correct) / (r.a_more.total + r.b_more.total),
               1e-12);
    CHECK(r.a_more.correct > 0.9 * r.a_more.total);
    CHECK(r.b_more.correct > 0.9 * r.b_more.total);
    CHECK_INT_EQ(r.n_gaps, 4);
    int by_gap = 0;
    for (int g = 0; g < r.n_gaps; g++) by_gap += r.by_gap[g].total;
    CHECK_INT_EQ(by_gap, r.a_more.total + r.b_more.total);
    CHECK_NEAR(r.gap[0], 0.1, 1e-6);
    CHECK_NEAR(r.gap[3], 0.4, 1e-6);
    CHECK(r.accuracy_by_gap[3] >= r.accuracy_by_gap[0] - 0.02); /* wide gaps are easier */
    CHECK_INT_EQ(r.feature_dim, 16);
    probe_result_free(&r);
    probe_features_free(&train);
    probe_features_free(&test);
}

TEST(probe_on_pure_noise_is_at_chance) {
    ProbeFeatures train, test;
    synthetic_features(&train, 300, 16, 0.0f, 3);
    synthetic_features(&test, 300, 16, 0.0f, 4);
    ProbeConfig c;
    synthetic_config(&c, 3);
    ProbeResult r;
    Err e = {{0}};
    REQUIRE(probe_fit_eval(&c, &train, &test, &r, &e) == 0);
    CHECK_NEAR(r.accuracy, 0.5, 0.07); /* ~960 non-tie pairs: sd 0.016 */
    probe_result_free(&r);
    probe_features_free(&train);
    probe_features_free(&test);
}

TEST(probe_is_deterministic_and_seeded) {
    ProbeFeatures train, test;
    synthetic_features(&train, 200, 8, 1.0f, 5);
    synthetic_features(&test, 200, 8, 1.0f, 6);
    ProbeConfig c;
    synthetic_config(&c, 2);
    ProbeResult r1, r2, r3;
    Err e = {{0}};
    REQUIRE(probe_fit_eval(&c, &train, &test, &r1, &e) == 0);
    REQUIRE(probe_fit_eval(&c, &train, &test, &r2, &e) == 0);
    CHECK(!memcmp(&r1.accuracy, &r2.accuracy, sizeof r1.accuracy));
    CHECK(!memcmp(&r1.train_loss, &r2.train_loss, sizeof r1.train_loss));
    CHECK_INT_EQ(r1.a_more.correct, r2.a_more.correct);
    c.seed = 2;
    REQUIRE(probe_fit_eval(&c, &train, &test, &r3, &e) == 0);
    CHECK(r3.train_loss != r1.train_loss);
    probe_result_free(&r1);
    probe_result_free(&r2);
    probe_result_free(&r3);
    probe_features_free(&train);
    probe_features_free(&test);
}

TEST(probe_rejects_bad_levels) {
    float lv[PROBE_MAX_LEVELS];
    int n = 0;
    Err e = {{0}};
    CHECK(probe_parse_levels(AUG_ZOOM, "0.5,0.7,0.9", lv, &n, &e) == 0);
    CHECK_INT_EQ(n, 3);
    CHECK_NEAR(lv[1], 0.7, 1e-7);
    CHECK(probe_parse_levels(AUG_ZOOM, "0.5", lv, &n, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "--levels");
    CHECK(probe_parse_levels(AUG_ZOOM, "0.5,x", lv, &n, &e) < 0);
    CHECK(probe_parse_levels(AUG_ZOOM, "0.5,,0.6", lv, &n, &e) < 0);
    CHECK(probe_parse_levels(AUG_ZOOM, "0.5,0.5", lv, &n, &e) < 0);
    float lo, hi;
    aug_valid_range(AUG_ZOOM, &lo, &hi);
    char text[64];
    snprintf(text, sizeof text, "0.5,%g", (double)hi + 1);
    CHECK(probe_parse_levels(AUG_ZOOM, text, lv, &n, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "range");
}

/* n random uint8 images: no data set needed for the trunk's plumbing. */
static uint8_t *random_images(int n, uint64_t seed) {
    uint8_t *img = xmalloc((size_t)n * CIFAR_PIXELS);
    Rng r = rng_stream(seed, 0);
    for (size_t i = 0; i < (size_t)n * CIFAR_PIXELS; i++) img[i] = (uint8_t)rng_below(&r, 256);
    return img;
}

static Net *random_trunk(int max_batch, Err *e) {
    Net *net = net_create_text("seed_cnn", arch_builtin("seed_cnn"), CIFAR_H, CIFAR_W, CIFAR_C, max_batch, 2, e);
    if (net) net_init(net, 3);
    return net;
}

TEST(probe_features_once_per_image_and_level_for_several_taps) {
    Err e = {{0}};
    Net *trunk = random_trunk(8, &e);
    REQUIRE(trunk);
    const int n = 13, L = 3;
    uint8_t *img = random_images(n, 9);
    ImageSet set = {n, img, NULL};
    ProbeTap taps[3] = {{"flatten", PROBE_POOL_FLATTEN},
                        {"block1_conv1", PROBE_POOL_AVG},
                        {"block3_pool", PROBE_POOL_AVG}};
    ProbeFeatures f[3];
    long ran = -1;
    REQUIRE(probe_features_compute(trunk, &set, n, AUG_ZOOM, ZOOM_LEVELS, L, taps, 3,
                                   (size_t)1 << 30, f, &ran, &e) == 0);
    CHECK_INT_EQ(ran, (long)n * L); /* one trunk pass per (image, level), all taps */
    CHECK_INT_EQ(f[0].dim, 2048);
    CHECK_INT_EQ(f[1].dim, 32);
    CHECK_INT_EQ(f[2].dim, 128);

    /* oracle: augment one image by hand, run the trunk, read the layers */
    const int l = 2, i = 11;
    AugParams p;
    aug_params_level(AUG_ZOOM, ZOOM_LEVELS[l], &p);
    float *x = xalloc_floats(CIFAR_PIXELS);
    aug_apply(&p, img + (size_t)i * CIFAR_PIXELS, x, CIFAR_H, CIFAR_W);
    int flat = net_find_layer(trunk, "flatten"), c1 = net_find_layer(trunk, "block1_conv1");
    const float *out = net_forward(trunk, x, 1, 0, NULL, flat);
    CHECK_ARRAY_NEAR(f[0].x + ((size_t)l * n + i) * 2048, out, 2048, 1e-5, 1e-6);
    const float *a1 = trunk->layers[c1].out;
    float mean[32] = {0};
    for (int s = 0; s < 32 * 32; s++)
        for (int ch = 0; ch < 32; ch++) mean[ch] += a1[s * 32 + ch] / 1024.0f;
    CHECK_ARRAY_NEAR(f[1].x + ((size_t)l * n + i) * 32, mean, 32, 1e-4, 1e-5);

    /* a cache that would not fit is refused, naming the way out */
    ProbeFeatures big;
    ProbeTap wide = {"block1_conv1", PROBE_POOL_FLATTEN};
    CHECK(probe_features_compute(trunk, &set, n, AUG_ZOOM, ZOOM_LEVELS, L, &wide, 1,
                                 (size_t)1 << 20, &big, NULL, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "--pool avg");
    ProbeTap nope = {"no_such_layer", PROBE_POOL_FLATTEN};
    CHECK(probe_features_compute(trunk, &set, n, AUG_ZOOM, ZOOM_LEVELS, L, &nope, 1,
                                 (size_t)1 << 30, &big, NULL, &e) < 0);
    CHECK_STR_CONTAINS(e.msg, "block2_conv1");

    for (int t = 0; t < 3; t++) probe_features_free(&f[t]);
    free(x);
    free(img);
    net_free(trunk);
}

TEST(probe_run_on_real_images_computes_features_once) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("no offline CIFAR-10 copy (shared/data/cifar10-q75)");
    Cifar10 data;
    memset(&data, 0, sizeof data);
    Err e = {{0}};
    REQUIRE(cifar10_load(&data, dir, 0, 1, 2, &e) == 0);
    cifar10_split(&data, 1);
    Net *trunk = random_trunk(64, &e);
    REQUIRE(trunk);
    ProbeConfig c;
    probe_config_defaults(&c);
    c.limit = 20;
    c.epochs = 3;
    c.threads = 2;
    c.quiet = 1;
    ProbeResult r;
    REQUIRE(probe_run(&c, trunk, &data, &r, &e) == 0);
    CHECK_INT_EQ(r.forward_images, 2 * 20 * 5); /* not x passes, not x epochs */
    CHECK_INT_EQ(r.pairs_train, 80);
    CHECK_INT_EQ(r.pairs_test, 80);
    CHECK(r.accuracy >= 0 && r.accuracy <= 1);
    CHECK(isfinite(r.train_loss) && r.train_loss > 0);
    probe_result_free(&r);
    net_free(trunk);
    cifar10_free(&data);
}

static const char *JSON_KEYS[] = {"augmentation", "layer",      "pool",     "levels",
                                  "pairs_train",  "pairs_test", "ties_test", "accuracy",
                                  "a_more",       "b_more",     "accuracy_by_gap",
                                  "seconds"};

TEST(probe_command_random_model_writes_probe_json) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("no offline CIFAR-10 copy (shared/data/cifar10-q75)");
    const char *tmp = test_tmpdir();
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd,
             "%s probe --model random --data %s --limit 24 --epochs 2 --threads 2 --quiet "
             "--out %s/p",
             test_bin(), dir, tmp);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_STR_CONTAINS(out, "where a has more aug : ");
    CHECK_STR_CONTAINS(out, "where b has more aug : ");
    CHECK_STR_CONTAINS(out, "ties");
    char path[1024];
    snprintf(path, sizeof path, "%s/p/probe.json", tmp);
    uint8_t *text;
    size_t len;
    Err e = {{0}};
    REQUIRE(file_read_all(path, &text, &len, &e) == 0);
    cJSON *o = cJSON_Parse((const char *)text);
    REQUIRE(o);
    for (size_t k = 0; k < sizeof JSON_KEYS / sizeof JSON_KEYS[0]; k++)
        CHECK(cJSON_GetObjectItemCaseSensitive(o, JSON_KEYS[k]) != NULL);
    CHECK(!strcmp(cJSON_GetObjectItem(o, "augmentation")->valuestring, "zoom"));
    CHECK(!strcmp(cJSON_GetObjectItem(o, "layer")->valuestring, "flatten"));
    CHECK(!strcmp(cJSON_GetObjectItem(o, "pool")->valuestring, "flatten"));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(o, "levels")), 5);
    CHECK_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "levels"), 1)->valuedouble, 0.6, 1e-12);
    CHECK_INT_EQ(cJSON_GetObjectItem(o, "pairs_train")->valueint, 96);
    CHECK_INT_EQ(cJSON_GetObjectItem(o, "pairs_test")->valueint, 96);
    cJSON *am = cJSON_GetObjectItem(o, "a_more"), *bm = cJSON_GetObjectItem(o, "b_more");
    REQUIRE(cJSON_GetArraySize(am) == 2 && cJSON_GetArraySize(bm) == 2);
    int non_ties = cJSON_GetArrayItem(am, 1)->valueint + cJSON_GetArrayItem(bm, 1)->valueint;
    CHECK_INT_EQ(non_ties + cJSON_GetObjectItem(o, "ties_test")->valueint, 96);
    double acc = cJSON_GetObjectItem(o, "accuracy")->valuedouble;
    CHECK_NEAR(acc,
               (double)(cJSON_GetArrayItem(am, 0)->valueint + cJSON_GetArrayItem(bm, 0)->valueint) /
                   non_ties,
               1e-9);
    cJSON *gaps = cJSON_GetObjectItem(o, "accuracy_by_gap");
    CHECK_INT_EQ(cJSON_GetArraySize(gaps), 4);
    CHECK(cJSON_GetObjectItemCaseSensitive(gaps, "0.1") != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(gaps, "0.4") != NULL);

    /* same seed and threads: the same bits */
    snprintf(cmd, sizeof cmd,
             "%s probe --model random --data %s --limit 24 --epochs 2 --threads 2 --quiet "
             "--out %s/q",
             test_bin(), dir, tmp);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    snprintf(path, sizeof path, "%s/q/probe.json", tmp);
    uint8_t *text2;
    REQUIRE(file_read_all(path, &text2, &len, &e) == 0);
    cJSON *o2 = cJSON_Parse((const char *)text2);
    REQUIRE(o2);
    double acc2 = cJSON_GetObjectItem(o2, "accuracy")->valuedouble;
    double loss1 = cJSON_GetObjectItem(o, "train_loss")->valuedouble;
    double loss2 = cJSON_GetObjectItem(o2, "train_loss")->valuedouble;
    CHECK(!memcmp(&acc, &acc2, sizeof acc));
    CHECK(!memcmp(&loss1, &loss2, sizeof loss1));
    cJSON_Delete(o2);
    free(text2);
    cJSON_Delete(o);
    free(text);
}

TEST(probe_command_bad_flags_exit_2) {
    static const char *bad[][2] = {
        {"--levels 0.5", "--levels"},
        {"--levels 0.5,abc", "--levels"},
        {"--levels 0.5,0.5", "--levels"},
        {"--levels 0.5,1000", "--levels"},
        {"--aug nonsense", "--aug"},
        {"--aug hflip --levels 0,2", "--levels"},
        {"--pool max", "--pool"},
        {"--pairs diagonal", "--pairs: 'diagonal' is not same or cross"},
        {"--head deep", "--head: 'deep' is not mlp or linear"},
        {"--aug blur --levels 0,5", "outside blur's range"},
        {"--layer no_such_layer", "no_such_layer"},
        {"--epochs 0", "--epochs"},
        {"--passes x", "--passes"},
        {"--limit -3", "--limit"},
        {"--nonsense", "--nonsense"},
        {"extra_arg", "extra_arg"},
    };
    char cmd[1024], out[8192];
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(cmd, sizeof cmd, "%s probe --model random %s", test_bin(), bad[k][0]);
        CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
        CHECK_STR_CONTAINS(out, bad[k][1]);
        CHECK_STR_CONTAINS(out, "Usage: augprobe probe");
    }
    snprintf(cmd, sizeof cmd, "%s probe --help", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "flatten (default");
    CHECK_STR_CONTAINS(out, "0.5,0.6,0.7,0.8,0.9");
}

TEST(probe_command_missing_model_exits_1) {
    const char *tmp = test_tmpdir();
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s probe --model %s/none.safetensors --limit 8", test_bin(), tmp);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "none.safetensors");
    /* a cache that would not fit is refused before any data is loaded */
    snprintf(cmd, sizeof cmd, "%s probe --model random --layer block1_conv1 --data %s/nodata",
             test_bin(), tmp);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "6250 MB");
    CHECK_STR_CONTAINS(out, "--pool avg");
}

/* Reads "accuracy" and "a_more" of DIR/probe.json; -1 when unreadable. */
static double json_accuracy(const char *dir, int *a_correct) {
    char path[1024];
    snprintf(path, sizeof path, "%s/probe.json", dir);
    uint8_t *text;
    size_t len;
    Err e = {{0}};
    if (file_read_all(path, &text, &len, &e)) return -1;
    cJSON *o = cJSON_Parse((const char *)text);
    double acc = -1;
    const cJSON *a = o ? cJSON_GetObjectItem(o, "accuracy") : NULL;
    const cJSON *am = o ? cJSON_GetObjectItem(o, "a_more") : NULL;
    if (cJSON_IsNumber(a) && cJSON_GetArraySize(am) == 2) {
        acc = a->valuedouble;
        *a_correct = cJSON_GetArrayItem(am, 0)->valueint;
    }
    cJSON_Delete(o);
    free(text);
    return acc;
}

TEST(probe_command_loads_a_model_file) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("no offline CIFAR-10 copy (shared/data/cifar10-q75)");
    /* the random control with --seed 4 and a saved copy of that same network
     * must give the same bits */
    Err e = {{0}};
    Net *trunk = random_trunk(1, &e);
    REQUIRE(trunk);
    net_init(trunk, 4);
    const char *tmp = test_tmpdir();
    char model[1024], cmd[2048], out[8192];
    snprintf(model, sizeof model, "%s/m.safetensors", tmp);
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "seed_cnn");
    meta.seed = 4;
    REQUIRE(checkpoint_save(model, trunk, NULL, NULL, &meta, &e) == 0);
    net_free(trunk);
    const char *common = "--limit 16 --epochs 1 --threads 2 --quiet --seed 4 --aug contrast "
                         "--layer block2_pool --pool avg";
    snprintf(cmd, sizeof cmd, "%s probe --data %s --model %s --out %s/f %s", test_bin(), dir,
             model, tmp, common);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    snprintf(cmd, sizeof cmd, "%s probe --data %s --model random --out %s/r %s", test_bin(), dir,
             tmp, common);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    char fdir[1024], rdir[1024];
    snprintf(fdir, sizeof fdir, "%s/f", tmp);
    snprintf(rdir, sizeof rdir, "%s/r", tmp);
    int af = -1, ar = -2;
    double accf = json_accuracy(fdir, &af), accr = json_accuracy(rdir, &ar);
    CHECK(accf >= 0);
    CHECK(accf == accr);
    CHECK_INT_EQ(af, ar);
}
