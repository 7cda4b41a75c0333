/* test_taps.c - taps declared by the network (tap=LABEL, arch.h), the
 * taps' importance (importance.h) on synthetic features with a known
 * answer, and `study`/`probe` on a network file (--arch): cells, tables and
 * results named by the labels, the importance section and figure, and the
 * errors (unknown label, a file with an error, a checkpoint of another
 * network). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/arch.h"
#include "../src/common.h"
#include "../src/importance.h"
#include "../src/probe.h"
#include "../src/rng.h"
#include "../src/study.h"
#include "../src/study_grid.h"
#include "test.h"

static char out[1 << 17];

static int run(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", test_bin(), args);
    return test_run(cmd, out, sizeof out);
}

static void expect_parse_error(const char *text, const char *want) {
    Arch a;
    Err e;
    e.msg[0] = 0;
    CHECK(arch_parse(&a, "t", "t.net", text, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, want);
    CHECK(strchr(e.msg, '\n') == NULL);
    arch_free(&a);
}

/* ---- the text format ---- */

TEST(taps_parse_and_seed_cnn_declares_the_studys_five) {
    Arch a;
    Err e;
    REQUIRE(arch_parse(&a, "t", "t.net",
                       "c conv filters=2 kernel=3 tap=early\n"
                       "p maxpool\n"
                       "g gap tap=late.v2\n"
                       "d dense units=10\n",
                       &e) == 0);
    CHECK_INT_EQ(arch_n_taps(&a), 2);
    CHECK_INT_EQ(arch_find_tap(&a, "early"), 0);
    CHECK_INT_EQ(arch_find_tap(&a, "late.v2"), 2);
    CHECK_INT_EQ(arch_find_tap(&a, "p"), -1); /* a node name is not a tap label */
    CHECK(a.nodes[1].tap[0] == 0);
    arch_free(&a);
    REQUIRE(arch_load(&a, "seed_cnn", &e) == 0);
    static const char *want[5] = {"block1_pool", "block2_pool", "block3_pool", "flatten",
                                  "dense1"};
    CHECK_INT_EQ(arch_n_taps(&a), 5);
    for (int t = 0; t < 5; t++) {
        int i = arch_find_tap(&a, want[t]);
        REQUIRE(i >= 0);
        CHECK(!strcmp(a.nodes[i].name, want[t])); /* labelled by their own names */
    }
    arch_free(&a);
    /* the study takes them in node order, block pools averaged */
    StudyConfig c;
    study_config_quick(&c);
    CHECK_INT_EQ(c.n_taps, 5);
    static const int dims[5] = {32, 64, 128, 2048, 1024};
    for (int t = 0; t < 5; t++) {
        CHECK(!strcmp(c.taps[t].label, want[t]));
        CHECK_INT_EQ(c.taps[t].dim, dims[t]);
        CHECK_INT_EQ(c.taps[t].pool, t < 3 ? PROBE_POOL_AVG : PROBE_POOL_FLATTEN);
    }
    CHECK_INT_EQ(c.train_batch, 32);
    /* seed_cnn keeps the profile's epochs; resnet18 has its row */
    int e0 = c.epochs, q, f, b;
    Err err;
    CHECK_INT_EQ(study_config_arch(&c, "seed_cnn", &err), 0);
    CHECK_INT_EQ(c.epochs, e0);
    CHECK_INT_EQ(study_arch_recipe("seed_cnn", &q, &f, &b), 0);
    CHECK_INT_EQ(study_arch_recipe("resnet18", &q, &f, &b), 1);
    CHECK(q == 2 && f == 30 && b == 128);
}

TEST(taps_errors_name_the_line) {
    expect_parse_error("a conv filters=2 kernel=3 tap=x\nb conv filters=2 kernel=3 tap=x\n",
                       "t.net:2: tap=x: node 'a' (line 1) has that tap label already");
    expect_parse_error("a conv filters=2 kernel=3 tap=x tap=y\n", "t.net:1: option tap given twice");
    expect_parse_error("a conv filters=2 kernel=3 tap=\n", "t.net:1: tap=:");
    expect_parse_error("a conv filters=2 kernel=3 tap=a/b\n", "t.net:1: tap=a/b:");
    expect_parse_error("a conv filters=2 kernel=3 tap=pixels\n",
                       "t.net:1: tap=pixels: 'pixels' names a floor");
    expect_parse_error("a conv filters=2 kernel=3 taps=x\n", "unknown option 'taps=x'");
}

/* ---- importance on synthetic taps ---- */

TEST(importance_shares_clip_negative_losses) {
    double loss[3], share[3];
    const double w1[3] = {0.6, 0.9, 0.95};
    CHECK_INT_EQ(importance_shares(3, 0.9, w1, loss, share), 1);
    CHECK_NEAR(loss[0], 0.3, 1e-12);
    CHECK_NEAR(loss[2], -0.05, 1e-12);
    CHECK_NEAR(share[0], 1.0, 1e-12);
    CHECK_NEAR(share[1], 0.0, 1e-12);
    CHECK_NEAR(share[2], 0.0, 1e-12);
    const double w2[2] = {0.8, 0.7};
    CHECK_INT_EQ(importance_shares(2, 0.9, w2, loss, share), 0);
    CHECK_NEAR(share[0], 1.0 / 3, 1e-12);
    CHECK_NEAR(share[1], 2.0 / 3, 1e-12);
    const double w3[2] = {0.9, 0.95};
    importance_shares(2, 0.9, w3, loss, share);
    CHECK(isnan(share[0]) && isnan(share[1])); /* nothing lost: no shares */
}

/* Synthetic caches [level][image][dim]: a tap that carries the level
 * (level + image noise in each of its values), or pure noise. */
enum { N_IMG = 300, N_LEV = 5 };
static const float LEVELS[N_LEV] = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f};

/* A standard normal draw (Box-Muller). */
static float gauss(Rng *r) {
    double u1 = 1.0 - rng_float(r), u2 = rng_float(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void synth(ProbeFeatures *f, int dim, float signal, uint64_t seed, int split) {
    memset(f, 0, sizeof *f);
    snprintf(f->layer, sizeof f->layer, "synthetic");
    f->n_images = N_IMG;
    f->n_levels = N_LEV;
    f->dim = dim;
    f->x = xalloc_floats((size_t)N_LEV * N_IMG * dim);
    for (int i = 0; i < N_IMG; i++) {
        Rng r = rng_stream(seed, (uint64_t)(split * 100000 + i));
        float content[8];
        for (int j = 0; j < dim; j++) content[j] = gauss(&r) * 0.15f;
        for (int l = 0; l < N_LEV; l++)
            for (int j = 0; j < dim; j++)
                f->x[((size_t)l * N_IMG + i) * dim + j] =
                    signal * LEVELS[l] + content[j] + gauss(&r) * 0.02f;
    }
}

/* Fits the importance of taps[0..n) (train/test caches made by make()) and
 * its intervals over 400 replicates. */
static void fit_importance(ProbeFeatures *tr, ProbeFeatures *te, int n, double *loss,
                           double *share, double *share_lo, double *share_hi, double *loss_lo,
                           double *loss_hi, double *acc_all) {
    ProbeConfig c;
    probe_config_defaults(&c);
    c.family = AUG_BRIGHTNESS;
    c.n_levels = N_LEV;
    memcpy(c.levels, LEVELS, sizeof LEVELS);
    c.head = PROBE_HEAD_LINEAR;
    c.pairs = PROBE_PAIRS_CROSS;
    c.passes = 2;
    c.epochs = 15;
    c.quiet = 1;
    c.threads = 2;
    ImportanceHeads h;
    ImportanceFit f;
    Err e;
    REQUIRE(importance_train(&c, tr, n, &h, &e) == 0);
    REQUIRE(importance_eval(&c, &h, te, n, &f, &e) == 0);
    CHECK_INT_EQ(f.n_taps, n);
    CHECK_INT_EQ(f.pairs_test, 2 * N_IMG);
    enum { B = 400 };
    double *ra = xmalloc(sizeof(double) * B), *rw = xmalloc(sizeof(double) * B * n);
    importance_boot(&f, N_IMG, c.passes, c.levels, c.n_levels, c.seed, c.family, c.pairs, B,
                    c.threads, ra, rw);
    importance_shares(n, f.acc_all, f.acc_without, loss, share);
    importance_intervals(n, B, ra, rw, loss_lo, loss_hi, share_lo, share_hi);
    *acc_all = f.acc_all;
    /* the replicates of "all" are the bootstrap of its own outcomes: their
     * mean is near its accuracy */
    double m = 0;
    for (int r = 0; r < B; r++) m += ra[r];
    CHECK_NEAR(m / B, f.acc_all, 0.01);
    free(ra);
    free(rw);
    importance_heads_free(&h);
    importance_fit_free(&f);
}

TEST(importance_known_answer_one_informative_tap_takes_the_share) {
    ProbeFeatures tr[3], te[3];
    synth(&tr[0], 4, 0.0f, 11, 0); /* noise */
    synth(&tr[1], 4, 1.0f, 12, 0); /* carries the level */
    synth(&tr[2], 6, 0.0f, 13, 0); /* noise */
    synth(&te[0], 4, 0.0f, 11, 1);
    synth(&te[1], 4, 1.0f, 12, 1);
    synth(&te[2], 6, 0.0f, 13, 1);
    double loss[3], share[3], slo[3], shi[3], llo[3], lhi[3], acc;
    fit_importance(tr, te, 3, loss, share, slo, shi, llo, lhi, &acc);
    CHECK(acc > 0.85);               /* the informative tap ranks well */
    CHECK(loss[1] > 0.3);            /* without it: near chance */
    CHECK(llo[1] > 0.2);             /* and the interval says so */
    CHECK(fabs(loss[0]) < 0.03 && fabs(loss[2]) < 0.03);
    CHECK(llo[0] <= 0.0 + 0.02 && lhi[0] >= -0.02);
    CHECK(share[1] > 0.9);
    CHECK(slo[1] <= share[1] && share[1] <= shi[1]);
    CHECK(shi[1] >= 0.99);           /* the interval covers ~1 */
    CHECK(slo[1] > 0.8);
    CHECK(share[0] < 0.1 && share[2] < 0.1);
    CHECK_NEAR(share[0] + share[1] + share[2], 1.0, 1e-9);
    for (int t = 0; t < 3; t++) {
        probe_features_free(&tr[t]);
        probe_features_free(&te[t]);
    }
}

TEST(importance_known_answer_redundant_taps_lose_nothing) {
    /* two copies of one informative tap (same values) and a noise tap:
     * dropping either copy loses ~0 (the other still has it) */
    ProbeFeatures tr[3], te[3];
    synth(&tr[0], 4, 1.0f, 21, 0);
    synth(&tr[1], 4, 1.0f, 21, 0);
    synth(&tr[2], 4, 0.0f, 22, 0);
    synth(&te[0], 4, 1.0f, 21, 1);
    synth(&te[1], 4, 1.0f, 21, 1);
    synth(&te[2], 4, 0.0f, 22, 1);
    double loss[3], share[3], slo[3], shi[3], llo[3], lhi[3], acc;
    fit_importance(tr, te, 3, loss, share, slo, shi, llo, lhi, &acc);
    CHECK(acc > 0.85);
    CHECK(fabs(loss[0]) < 0.02);
    CHECK(fabs(loss[1]) < 0.02);
    CHECK(llo[0] <= 0.005 && lhi[0] >= -0.005); /* the interval covers 0 */
    CHECK(llo[1] <= 0.005 && lhi[1] >= -0.005);
    for (int t = 0; t < 3; t++) {
        probe_features_free(&tr[t]);
        probe_features_free(&te[t]);
    }
}

TEST(importance_drop_equals_the_head_on_the_other_columns) {
    /* ProbeConfig.drop: the head on [a, b] with b's columns dropped is the
     * head on a alone, bit for bit */
    ProbeFeatures a, b, ab;
    synth(&a, 3, 1.0f, 31, 0);
    synth(&b, 2, 0.5f, 32, 0);
    memset(&ab, 0, sizeof ab);
    ab.n_images = N_IMG, ab.n_levels = N_LEV, ab.dim = 5;
    ab.x = xalloc_floats((size_t)N_LEV * N_IMG * 5);
    for (size_t r = 0; r < (size_t)N_LEV * N_IMG; r++) {
        memcpy(ab.x + r * 5, a.x + r * 3, 3 * sizeof(float));
        memcpy(ab.x + r * 5 + 3, b.x + r * 2, 2 * sizeof(float));
    }
    ProbeConfig c;
    probe_config_defaults(&c);
    c.family = AUG_BRIGHTNESS;
    c.n_levels = N_LEV;
    memcpy(c.levels, LEVELS, sizeof LEVELS);
    c.head = PROBE_HEAD_LINEAR;
    c.passes = 1;
    c.epochs = 3;
    c.quiet = 1;
    ProbeHead ha, hab;
    ProbeResult ra, rab;
    Err e;
    memset(&ra, 0, sizeof ra);
    memset(&rab, 0, sizeof rab);
    REQUIRE(probe_head_train(&c, &a, &ha, &ra, &e) == 0);
    uint8_t drop[5] = {0, 0, 0, 1, 1};
    c.drop = drop;
    REQUIRE(probe_head_train(&c, &ab, &hab, &rab, &e) == 0);
    CHECK(memcmp(ha.w, hab.w, 3 * sizeof(float)) == 0);
    CHECK(hab.w[3] == 0 && hab.w[4] == 0);
    CHECK(ra.train_loss == rab.train_loss);
    probe_head_free(&ha);
    probe_head_free(&hab);
    probe_result_free(&ra);
    probe_result_free(&rab);
    probe_features_free(&a);
    probe_features_free(&b);
    probe_features_free(&ab);
}

/* ---- study and probe on a network file ---- */

/* A 2-block mini ResNet with 3 taps: the stem, block 1 (spatial: averaged)
 * and the global pool. */
static const char MINI[] =
    "# mini: two residual blocks\n"
    "stem      conv       filters=8 kernel=3 relu tap=stem\n"
    "stem_bn   batchnorm\n"
    "b1_conv1  conv       filters=8 kernel=3 relu\n"
    "b1_bn1    batchnorm\n"
    "b1_conv2  conv       filters=8 kernel=3\n"
    "b1_out    add        in=b1_conv2,stem_bn relu tap=block1\n"
    "b2_conv1  conv       filters=16 kernel=3 stride=2 relu\n"
    "b2_conv2  conv       filters=16 kernel=3\n"
    "b2_proj   conv       filters=16 kernel=1 stride=2 in=b1_out\n"
    "b2_out    add        in=b2_conv2,b2_proj relu\n"
    "gap       gap        tap=pooled\n"
    "logits    dense      units=10\n";

static char *write_file(const char *name, const char *text) {
    char *p = path_join(test_tmpdir(), name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static char *slurp(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    uint8_t *data = NULL;
    size_t n;
    int rc = file_read_all(p, &data, &n, NULL);
    free(p);
    return rc ? NULL : (char *)data;
}

TEST(study_taps_of_a_file_a_gap_of_a_tap_is_the_same_tap) {
    char *p = write_file("same.net", "c conv filters=4 kernel=3 tap=conv\n"
                                     "m maxpool tap=pool\n"
                                     "g gap in=m tap=pooled\n"
                                     "d dense units=10\n");
    StudyConfig c;
    study_config_full(&c);
    Err e;
    REQUIRE(study_config_arch(&c, p, &e) == 0);
    CHECK_INT_EQ(c.n_taps, 3);
    CHECK(!strcmp(c.taps[1].node, "m") && c.taps[1].pool == PROBE_POOL_AVG);
    CHECK_INT_EQ(c.taps[1].dim, 4);
    CHECK_INT_EQ(c.taps[2].same_as, 1); /* pooled = pool averaged */
    CHECK_INT_EQ(c.taps[0].same_as, -1);
    CHECK(!strcmp(c.arch_name, "same"));
    CHECK_INT_EQ(c.epochs, 50); /* not in the table: seed_cnn's full profile */
    int taps[STUDY_TAPS];
    CHECK_INT_EQ(study_importance_taps(&c, taps), 2);
    CHECK(taps[0] == 0 && taps[1] == 1);
    c.tap_mask = 1u | 4u; /* without pool, pooled stays in */
    CHECK_INT_EQ(study_importance_taps(&c, taps), 2);
    CHECK(taps[1] == 2);
    CHECK_INT_EQ(study_config_arch(&c, "no_such_network", &e), ARCH_NOT_FOUND);
    char *many = write_file("many.net", "a conv filters=2 kernel=3 tap=t1\nb conv filters=2 kernel=3 tap=t2\n"
                                        "c conv filters=2 kernel=3 tap=t3\nd conv filters=2 kernel=3 tap=t4\n"
                                        "e conv filters=2 kernel=3 tap=t5\nf conv filters=2 kernel=3 tap=t6\n"
                                        "g conv filters=2 kernel=3 tap=t7\nh conv filters=2 kernel=3 tap=t8\n");
    CHECK_INT_EQ(study_config_arch(&c, many, &e), -1);
    CHECK_STR_CONTAINS(e.msg, "many.net: declares 8 taps; the study takes at most 7");
    free(p);
    free(many);
}

TEST(study_arch_usage_and_file_errors) {
    char *mini = write_file("mini.net", MINI);
    char *bad = write_file("bad.net", "a conv filters=2 kernel=3\nb convv\n");
    char *notaps = write_file("notaps.net", "c conv filters=2 kernel=3\ng gap\nd dense units=10\n");
    char args[2048];
    /* neither a built-in nor a file: usage, exit 2 */
    CHECK_INT_EQ(run("study --arch no_such_net --plan"), 2);
    CHECK_STR_CONTAINS(out, "'no_such_net' is neither a built-in network");
    CHECK_STR_CONTAINS(out, "Usage: augprobe study");
    /* a file with an error: one line naming it, exit 1 */
    snprintf(args, sizeof args, "study --arch %s --plan", bad);
    CHECK_INT_EQ(run(args), 1);
    CHECK_STR_CONTAINS(out, "bad.net:2: unknown kind 'convv'");
    snprintf(args, sizeof args, "study --arch %s --plan", notaps);
    CHECK_INT_EQ(run(args), 1);
    CHECK_STR_CONTAINS(out, "notaps.net: declares no taps");
    /* --taps takes the network's labels */
    snprintf(args, sizeof args, "study --arch %s --taps stem,block1_pool --plan", mini);
    CHECK_INT_EQ(run(args), 2);
    CHECK_STR_CONTAINS(out, "--taps: 'block1_pool' is not one of: stem block1 pooled (or all)");
    snprintf(args, sizeof args, "study --arch %s --taps stem,pooled --plan --networks aug", mini);
    CHECK_INT_EQ(run(args), 0);
    free(mini);
    free(bad);
    free(notaps);
}

TEST(study_arch_file_taps_importance_and_probe_layer_labels) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char *mini = write_file("mini.net", MINI);
    char dir[1024], args[4096];
    snprintf(dir, sizeof dir, "%s/mini_study", test_tmpdir());
    snprintf(args, sizeof args,
             "study --data %s --out %s --arch %s --networks aug,random,pixels --families "
             "brightness,zoom --train-limit 256 --epochs 1 --eval-limit 16 --probe-limit 60 "
             "--passes 2 --probe-epochs 5 --bootstrap 100 --threads 2",
             test_data_dir(), dir, mini);
    REQUIRE(run(args) == 0);
    /* aug, random: 2 families x 2 modes x (3 taps + importance); pixels 2 x 2 */
    CHECK_STR_CONTAINS(out, "done: 36 cells");
    char *p = path_join(dir, "cells/seed1-aug-brightness-cross-block1-linear.json");
    CHECK(path_exists(p));
    free(p);
    p = path_join(dir, "cells/seed1-random-zoom-same-importance-linear.json");
    CHECK(path_exists(p));
    free(p);
    p = path_join(dir, "importance.png");
    CHECK(path_exists(p));
    free(p);
    p = path_join(dir, "importance.svg");
    CHECK(path_exists(p));
    free(p);
    char *md = slurp(dir, "report.md");
    char *js = slurp(dir, "results.json");
    REQUIRE(md && js);
    CHECK_STR_CONTAINS(md, "| stem (avg, 8) |");
    CHECK_STR_CONTAINS(md, "| block1 (avg, 8) |");
    CHECK_STR_CONTAINS(md, "| pooled (16) |");
    CHECK_STR_CONTAINS(md, "- Network: mini");
    CHECK_STR_CONTAINS(md, "## Relative importance of the taps");
    CHECK_STR_CONTAINS(md, "| all taps (accuracy) |");
    CHECK_STR_CONTAINS(md, "](importance.png)");
    CHECK_STR_CONTAINS(md, "best of block1 minus best of stem, pooled");
    CHECK_STR_CONTAINS(md, "Not in this grid (it needs network aug, augmentation zoom, tap flatten");
    cJSON *o = cJSON_Parse(js);
    REQUIRE(o);
    const cJSON *cf = cJSON_GetObjectItem(o, "config");
    CHECK(!strcmp(cJSON_GetObjectItem(cf, "arch")->valuestring, "mini"));
    const cJSON *taps = cJSON_GetObjectItem(cf, "taps");
    REQUIRE(cJSON_GetArraySize(taps) == 3);
    CHECK(!strcmp(cJSON_GetArrayItem(taps, 1)->valuestring, "block1"));
    /* importance: 2 nets x 2 families x 2 modes, each with 3 taps whose
     * shares add to 1 (or are all undefined), intervals ordered */
    const cJSON *imp = cJSON_GetObjectItem(o, "importance"), *r;
    CHECK_INT_EQ(cJSON_GetArraySize(imp), 8);
    cJSON_ArrayForEach(r, imp) {
        const cJSON *tj = cJSON_GetObjectItem(r, "taps"), *t;
        REQUIRE(cJSON_GetArraySize(tj) == 3);
        double sum = 0, all = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "accuracy_all"), "value")->valuedouble;
        int defined = 0;
        CHECK(all > 0.3 && all <= 1.0);
        cJSON_ArrayForEach(t, tj) {
            const cJSON *sh = cJSON_GetObjectItem(t, "share");
            const cJSON *v = cJSON_GetObjectItem(sh, "value");
            if (cJSON_IsNumber(v)) {
                defined++;
                sum += v->valuedouble;
                CHECK(v->valuedouble >= 0 && v->valuedouble <= 1);
            }
            const cJSON *ci = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "loss"), "ci95");
            CHECK(cJSON_GetArrayItem(ci, 0)->valuedouble <= cJSON_GetArrayItem(ci, 1)->valuedouble);
        }
        CHECK(defined == 0 || (defined == 3 && fabs(sum - 1) < 1e-9));
    }
    /* the importance cell's accuracies are the table's losses: all - without */
    char *cell = slurp(dir, "cells/seed1-aug-brightness-cross-importance-linear.json");
    REQUIRE(cell);
    cJSON *cj = cJSON_Parse(cell);
    REQUIRE(cj);
    double all = cJSON_GetObjectItem(cj, "accuracy_all")->valuedouble;
    double wo = cJSON_GetArrayItem(cJSON_GetObjectItem(cj, "accuracy_without"), 0)->valuedouble;
    cJSON_ArrayForEach(r, imp) {
        if (strcmp(cJSON_GetObjectItem(r, "network")->valuestring, "aug") ||
            strcmp(cJSON_GetObjectItem(r, "augmentation")->valuestring, "brightness") ||
            strcmp(cJSON_GetObjectItem(r, "pairs")->valuestring, "cross"))
            continue;
        const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "taps"), 0);
        CHECK_NEAR(cJSON_GetObjectItem(cJSON_GetObjectItem(t0, "loss"), "value")->valuedouble,
                   all - wo, 1e-9);
    }
    cJSON_Delete(cj);
    free(cell);
    cJSON_Delete(o);
    /* a rerun reuses every cell, importance included */
    REQUIRE(run(args) == 0);
    CHECK_STR_CONTAINS(out, "(0 computed, 36 reused)");
    /* a rerun with another network in the same --out is refused */
    char args2[4096];
    snprintf(args2, sizeof args2,
             "study --data %s --out %s --networks aug,random,pixels --families brightness,zoom "
             "--train-limit 256 --epochs 1 --eval-limit 16 --probe-limit 60 --passes 2 "
             "--probe-epochs 5 --bootstrap 100 --threads 2",
             test_data_dir(), dir);
    CHECK_INT_EQ(run(args2), 1);
    CHECK_STR_CONTAINS(out, "a network trained with another network (--arch) is there");

    /* probe: --layer takes a tap label (spatial: averaged) */
    char model[1100];
    snprintf(model, sizeof model, "%s/seed1/aug/model.safetensors", dir);
    snprintf(args, sizeof args,
             "probe --data %s --model %s --layer block1 --aug brightness --limit 40 --passes 1 "
             "--epochs 2 --head linear --out %s/probe --quiet",
             test_data_dir(), model, dir);
    REQUIRE(run(args) == 0);
    char pdir[1100];
    snprintf(pdir, sizeof pdir, "%s/probe", dir);
    char *pj = slurp(pdir, "probe.json");
    REQUIRE(pj);
    cJSON *po = cJSON_Parse(pj);
    REQUIRE(po);
    CHECK(!strcmp(cJSON_GetObjectItem(po, "layer")->valuestring, "b1_out"));
    CHECK(!strcmp(cJSON_GetObjectItem(po, "pool")->valuestring, "avg"));
    CHECK_INT_EQ(cJSON_GetObjectItem(po, "feature_dim")->valueint, 8);
    cJSON_Delete(po);
    free(pj);
    /* an unknown label: one line listing the taps, exit 2 */
    snprintf(args, sizeof args, "probe --data %s --model %s --layer block9 --quiet",
             test_data_dir(), model);
    CHECK_INT_EQ(run(args), 2);
    CHECK_STR_CONTAINS(out, "--layer: no layer named 'block9' (taps: stem, block1, pooled;");
    /* the model given with another --arch: one line, exit 1 */
    snprintf(args, sizeof args, "probe --data %s --model %s --arch seed_cnn --limit 40 --quiet",
             test_data_dir(), model);
    CHECK_INT_EQ(run(args), 1);
    CHECK_STR_CONTAINS(out, "architecture 'mini', expected 'seed_cnn'");
    /* --arch for the untrained control */
    snprintf(args, sizeof args,
             "probe --data %s --model random --arch %s --layer pooled --aug brightness "
             "--limit 40 --passes 1 --epochs 2 --head linear --out %s/probe2 --quiet",
             test_data_dir(), mini, dir);
    CHECK_INT_EQ(run(args), 0);
    snprintf(args, sizeof args, "probe --model random --arch %s/none.net", dir);
    CHECK_INT_EQ(run(args), 2);
    free(md);
    free(js);
    free(mini);
}
