/* test_train.c - `augprobe train` and `eval`, end to end on tiny subsets:
 * the run directory's files, learning, bit-exact resume (also after a real
 * SIGTERM), determinism, plain output off a terminal, the confusion matrix,
 * and the errors for bad flags, an unwritable --out and a diverging run. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cifar10.h"
#include "../src/common.h"
#include "../src/train.h"
#include "test.h"

/* Tiny runs: CIFAR images, but few of them, and small evaluations. Most use
 * one thread (fast on a busy 2-core machine); determinism and resume use two,
 * where parallel reductions could break bit-identity. */
#define TINY "--limit 64 --eval-limit 32"

static char *slurp(const char *dir, const char *name, size_t *len) {
    char *p = path_join(dir, name);
    uint8_t *buf = NULL;
    size_t n = 0;
    Err e;
    if (file_read_all(p, &buf, &n, &e)) buf = NULL;
    free(p);
    if (len) *len = n;
    return (char *)buf;
}

static int same_file(const char *dir_a, const char *dir_b, const char *name) {
    size_t la, lb;
    char *a = slurp(dir_a, name, &la), *b = slurp(dir_b, name, &lb);
    int same = a && b && la == lb && memcmp(a, b, la) == 0;
    free(a);
    free(b);
    return same;
}

static int run_train(const char *out_dir, const char *extra, char *log, size_t cap) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s " TINY " %s", test_bin(),
             test_data_dir(), out_dir, extra);
    return test_run(cmd, log, cap);
}

/* Counts the rows of history.csv after the header and checks each has 8
 * finite fields and the right epoch number. Returns -1 on a bad header. */
static int history_rows(const char *dir, double last[8]) {
    char *csv = slurp(dir, "history.csv", NULL);
    if (!csv) return -1;
    const char *hdr = "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds\n";
    if (strncmp(csv, hdr, strlen(hdr))) {
        free(csv);
        return -1;
    }
    int rows = 0;
    for (char *line = csv + strlen(hdr); *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        double v[8];
        int got = sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3],
                         &v[4], &v[5], &v[6], &v[7]);
        CHECK_INT_EQ(got, 8);
        CHECK_INT_EQ((int)v[0], rows + 1);
        for (int i = 0; i < 8; i++) CHECK(isfinite(v[i]));
        for (int i = 2; i <= 6; i += 2) CHECK(v[i] >= 0 && v[i] <= 1);
        if (last) memcpy(last, v, sizeof v);
        rows++;
        line = nl + 1;
    }
    free(csv);
    return rows;
}

TEST(train_tiny_run_writes_the_run_directory) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    const char *dir = test_tmpdir();
    char log[8192];
    int rc = run_train(dir, "--epochs 2 --threads 1", log, sizeof log);
    CHECK_INT_EQ(rc, 0);
    if (rc) printf("    %s\n", log);
    /* off a terminal: plain lines, one per epoch, no control characters */
    CHECK(!strchr(log, '\r'));
    CHECK(!strchr(log, '\033'));
    CHECK_STR_CONTAINS(log, "epoch 1/2  train loss");
    CHECK_STR_CONTAINS(log, "epoch 2/2  train loss");

    double last[8] = {0};
    CHECK_INT_EQ(history_rows(dir, last), 2);
    size_t n;
    char *png = slurp(dir, "curves.png", &n);
    REQUIRE(png);
    CHECK(n > 1000 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8));
    free(png);
    char *model = slurp(dir, "model.safetensors", &n);
    char *ckpt = NULL;
    size_t nc;
    ckpt = slurp(dir, "checkpoint.safetensors", &nc);
    REQUIRE(model && ckpt);
    CHECK(n > 4u * 1000000); /* ~2.4M float parameters */
    CHECK(nc > n);           /* plus Adam's two moments */
    free(model);
    free(ckpt);

    char *js = slurp(dir, "run.json", NULL);
    REQUIRE(js);
    cJSON *o = cJSON_Parse(js);
    free(js);
    REQUIRE(o);
    const cJSON *ver = cJSON_GetObjectItem(o, "version");
    CHECK(cJSON_IsString(ver) && !strcmp(ver->valuestring, AUGPROBE_VERSION));
    const cJSON *status = cJSON_GetObjectItem(o, "status");
    CHECK(cJSON_IsString(status) && !strcmp(status->valuestring, "complete"));
    const cJSON *cfg = cJSON_GetObjectItem(o, "config");
    CHECK(cJSON_IsObject(cfg));
    const cJSON *aug = cJSON_GetObjectItem(cfg, "aug");
    CHECK(cJSON_IsString(aug) && !strcmp(aug->valuestring, TRAIN_DEFAULT_AUG));
    CHECK_INT_EQ(cJSON_GetObjectItem(cfg, "limit")->valueint, 64);
    CHECK_INT_EQ(cJSON_GetObjectItem(o, "threads")->valueint, 1);
    CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "kernels")));
    const cJSON *fin = cJSON_GetObjectItem(o, "final");
    REQUIRE(cJSON_IsObject(fin));
    CHECK_INT_EQ(cJSON_GetObjectItem(fin, "epoch")->valueint, 2);
    CHECK_NEAR(cJSON_GetObjectItem(fin, "test_acc")->valuedouble, last[6], 1e-6);
    CHECK(cJSON_GetObjectItem(o, "wall_seconds")->valuedouble > 0);
    cJSON_Delete(o);
}

TEST(train_learns_a_tiny_set) {
    const char *data_dir = test_data_dir();
    if (!data_dir) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    Cifar10 data;
    memset(&data, 0, sizeof data);
    Err e;
    REQUIRE(cifar10_load(&data, data_dir, 0, 1, 2, &e) == 0);
    cifar10_split(&data, 1);
    TrainConfig cfg;
    train_config_default(&cfg);
    cfg.out_dir = test_tmpdir();
    cfg.aug[0] = 0; /* no augmentation: memorise 32 images */
    cfg.limit = 32;
    cfg.eval_limit = 16;
    cfg.batch = 8;
    cfg.epochs = 6;
    cfg.threads = 1;
    cfg.quiet = 1;
    TrainResult res;
    int rc = train_run(&cfg, &data, &res, &e);
    cifar10_free(&data);
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    REQUIRE(res.n_history == 6);
    CHECK_INT_EQ(res.epochs_done, 6);
    CHECK(!res.interrupted);
    printf("    train loss %.3f -> %.3f, acc %.3f -> %.3f\n", res.history[0].train_loss,
           res.final.train_loss, res.history[0].train_acc, res.final.train_acc);
    CHECK(res.final.train_loss < 0.5 * res.history[0].train_loss);
    CHECK(res.final.train_acc > 0.6); /* chance is 0.1 */
    CHECK(res.history[0].train_acc < 0.5);
    for (int i = 0; i < 6; i++) CHECK_INT_EQ(res.history[i].epoch, i + 1);
    train_result_free(&res);
}

TEST(train_stop_request_stops_at_the_next_step) {
    const char *data_dir = test_data_dir();
    if (!data_dir) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    Cifar10 data;
    memset(&data, 0, sizeof data);
    Err e;
    REQUIRE(cifar10_load(&data, data_dir, 0, 1, 2, &e) == 0);
    cifar10_split(&data, 1);
    TrainConfig cfg;
    train_config_default(&cfg);
    cfg.out_dir = test_tmpdir();
    cfg.limit = 64;
    cfg.eval_limit = 16;
    cfg.epochs = 2;
    cfg.threads = 1;
    cfg.quiet = 1;
    train_request_stop(); /* as SIGINT would: the first step is the last */
    TrainResult res;
    int rc = train_run(&cfg, &data, &res, &e);
    CHECK(train_stop_requested());
    train_clear_stop();
    CHECK(!train_stop_requested());
    cifar10_free(&data);
    CHECK_INT_EQ(rc, TRAIN_STOPPED);
    CHECK(res.interrupted);
    CHECK_INT_EQ(res.epochs_done, 0);
    char *ckpt = path_join(cfg.out_dir, "checkpoint.safetensors");
    CHECK(!path_exists(ckpt)); /* the partial epoch is not saved */
    free(ckpt);
    train_result_free(&res);
}

TEST(train_same_seed_same_bits_other_seed_other_bits) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char a[600], b[600], c[600], log[8192];
    snprintf(a, sizeof a, "%s", test_tmpdir());
    snprintf(b, sizeof b, "%s", test_tmpdir());
    snprintf(c, sizeof c, "%s", test_tmpdir());
    CHECK_INT_EQ(run_train(a, "--epochs 1 --seed 5 --threads 2", log, sizeof log), 0);
    CHECK_INT_EQ(run_train(b, "--epochs 1 --seed 5 --threads 2", log, sizeof log), 0);
    CHECK_INT_EQ(run_train(c, "--epochs 1 --seed 6 --threads 2", log, sizeof log), 0);
    CHECK(same_file(a, b, "model.safetensors"));
    CHECK(same_file(a, b, "checkpoint.safetensors"));
    CHECK(!same_file(a, c, "model.safetensors"));
}

TEST(train_resume_is_bit_identical) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char straight[600], split[600], log[8192];
    snprintf(straight, sizeof straight, "%s", test_tmpdir());
    snprintf(split, sizeof split, "%s", test_tmpdir());
    CHECK_INT_EQ(run_train(straight, "--epochs 2 --threads 2", log, sizeof log), 0);
    CHECK_INT_EQ(run_train(split, "--epochs 1 --threads 2", log, sizeof log), 0);
    CHECK_INT_EQ(history_rows(split, NULL), 1);

    /* flags that contradict the checkpoint are refused */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume --aug zoom=0.7 --epochs 2",
             test_bin(), test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    CHECK_STR_CONTAINS(log, "conflicts with the checkpoint");
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume --seed 9", test_bin(),
             test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);

    /* the rest of the config comes from the checkpoint; --epochs extends */
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume --epochs 2 --threads 2",
             test_bin(), test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 0);
    CHECK_STR_CONTAINS(log, "resuming after epoch 1 of 2");
    CHECK(!strstr(log, "epoch 1/2  train"));
    CHECK_STR_CONTAINS(log, "epoch 2/2  train");
    CHECK(same_file(straight, split, "model.safetensors"));
    CHECK(same_file(straight, split, "checkpoint.safetensors"));
    CHECK_INT_EQ(history_rows(split, NULL), 2);

    /* --epochs may extend a run, not shorten it; no checkpoint, no resume */
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume --epochs 1", test_bin(),
             test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    CHECK_STR_CONTAINS(log, "less than the 2 epochs already done");
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume", test_bin(),
             test_data_dir(), test_tmpdir());
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 1);
    CHECK_STR_CONTAINS(log, "no checkpoint to resume from");
}

/* Known values of the cosine schedule: lr at the first step, lr/2 half-way,
 * lr (1 + cos(pi/4))/2 a quarter in, near 0 at the last; constant: lr. */
TEST(train_lr_schedule_values) {
    TrainConfig cfg;
    train_config_default(&cfg);
    cfg.lr = 0.002f;
    CHECK(train_lr_at(&cfg, 0, 100) == 0.002f);
    CHECK(train_lr_at(&cfg, 77, 100) == 0.002f);
    cfg.lr_cosine = 1;
    CHECK(train_lr_at(&cfg, 0, 100) == 0.002f);
    CHECK(fabsf(train_lr_at(&cfg, 50, 100) - 0.001f) < 1e-9f);
    CHECK(fabsf(train_lr_at(&cfg, 25, 100) - 0.002f * 0.85355339f) < 1e-9f);
    float last = train_lr_at(&cfg, 99, 100);
    CHECK(last > 0 && fabsf(last - 0.002f * 0.5f * (1 + cosf(3.14159265f * 0.99f))) < 1e-9f);
    for (int t = 1; t < 100; t++) CHECK(train_lr_at(&cfg, t, 100) < train_lr_at(&cfg, t - 1, 100));
    CHECK(!strcmp(train_lr_schedule_name(1), "cosine"));
}

/* The one rule of what a resume may change: each field alone is named by
 * its bit; the first in the documented order wins; --epochs may grow but
 * not shrink, and not change at all under a cosine schedule. */
TEST(train_config_diff_names_the_first_differing_field) {
    TrainConfig a, b;
    train_config_default(&a);
    b = a;
    CHECK(train_config_diff(&a, &b, 3, TRAIN_CFG_ALL) == 0);
    snprintf(b.aug, sizeof b.aug, "hflip");
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL) == TRAIN_CFG_AUG);
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL & ~TRAIN_CFG_AUG) == 0);
    b.batch = a.batch + 1;
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL) == TRAIN_CFG_AUG); /* aug comes first */
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL & ~TRAIN_CFG_AUG) == TRAIN_CFG_BATCH);
    b = a;
    b.seed = a.seed + 1;
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL) == TRAIN_CFG_SEED);
    b = a;
    snprintf(b.arch, sizeof b.arch, "seed_cnn"); /* "" is seed_cnn */
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL) == 0);
    snprintf(b.arch, sizeof b.arch, "resnet18");
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL) == TRAIN_CFG_ARCH);
    b = a;
    b.lr_cosine = 1;
    CHECK(train_config_diff(&a, &b, 0, TRAIN_CFG_ALL) == TRAIN_CFG_LR_SCHEDULE);
    b = a;
    a.epochs = 5;
    b.epochs = 3;
    CHECK(train_config_diff(&a, &b, 3, TRAIN_CFG_ALL) == 0); /* a constant rate: may grow */
    CHECK(train_config_diff(&a, &b, 6, TRAIN_CFG_ALL) == TRAIN_CFG_EPOCHS); /* < done */
    b.lr_cosine = 1; /* the checkpoint's schedule rules, even when want's is unset */
    CHECK(train_config_diff(&a, &b, 3, TRAIN_CFG_ALL & ~TRAIN_CFG_LR_SCHEDULE) == TRAIN_CFG_EPOCHS);
    a.lr_cosine = 1;
    CHECK(train_config_diff(&a, &b, 3, TRAIN_CFG_ALL) == TRAIN_CFG_EPOCHS);
    CHECK(train_config_diff(&a, &b, 3, TRAIN_CFG_ALL & ~TRAIN_CFG_EPOCHS) == 0);
    Err e;
    CHECK(train_config_check(&a, &b, 3, TRAIN_CFG_ALL, "X/checkpoint.safetensors", &e) != 0);
    CHECK_STR_CONTAINS(e.msg, "--epochs 5 conflicts with the checkpoint's 3: its cosine");
    CHECK_STR_CONTAINS(e.msg, "(X/checkpoint.safetensors)");
}

/* A cosine run resumes bit-identically (the rate is a function of the step
 * count), differs from the constant-rate run, records its schedule, and a
 * resume may not change its length or its schedule. */
TEST(train_cosine_resume_is_bit_identical) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char straight[600], split[600], flat[600], log[8192], cmd[2048];
    snprintf(straight, sizeof straight, "%s", test_tmpdir());
    snprintf(split, sizeof split, "%s", test_tmpdir());
    snprintf(flat, sizeof flat, "%s", test_tmpdir());
    CHECK_INT_EQ(run_train(straight, "--epochs 2 --lr-schedule cosine", log, sizeof log), 0);
    CHECK_INT_EQ(run_train(flat, "--epochs 2", log, sizeof log), 0);
    CHECK(!same_file(straight, flat, "model.safetensors"));
    char *run = slurp(straight, "run.json", NULL);
    REQUIRE(run);
    CHECK_STR_CONTAINS(run, "\"lr_schedule\":\t\"cosine\"");
    free(run);
    run = slurp(flat, "run.json", NULL);
    REQUIRE(run);
    CHECK(!strstr(run, "lr_schedule")); /* constant-rate runs keep their old files */
    free(run);

    /* SIGTERM after the first epoch's checkpoint, then resume */
    snprintf(cmd, sizeof cmd,
             "%s train --data %s --out %s " TINY " --epochs 2 --lr-schedule cosine > %s/log 2>&1 "
             "& pid=$!; i=0; while [ ! -e %s/checkpoint.safetensors ] && [ $i -lt 6000 ]; do "
             "sleep 0.01; i=$((i+1)); done; kill -TERM $pid; wait $pid; echo \"exit=$?\"",
             test_bin(), test_data_dir(), split, split, split);
    test_run(cmd, log, sizeof log);
    CHECK_STR_CONTAINS(log, "exit=130");
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume --epochs 3", test_bin(),
             test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    CHECK_STR_CONTAINS(log, "cosine learning-rate schedule spans 2 epochs");
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume --lr-schedule constant",
             test_bin(), test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    CHECK_STR_CONTAINS(log, "--lr-schedule constant conflicts with the checkpoint's cosine");
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume", test_bin(),
             test_data_dir(), split);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 0);
    CHECK(same_file(straight, split, "model.safetensors"));
    CHECK(same_file(straight, split, "checkpoint.safetensors"));
}

TEST(train_sigterm_then_resume_is_bit_identical) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char straight[600], killed[600], log[8192], cmd[4096];
    snprintf(straight, sizeof straight, "%s", test_tmpdir());
    snprintf(killed, sizeof killed, "%s", test_tmpdir());
    CHECK_INT_EQ(run_train(straight, "--epochs 3 --threads 1", log, sizeof log), 0);
    /* Start the CLI, SIGTERM it once the first epoch's checkpoint is there. */
    snprintf(cmd, sizeof cmd,
             "%s train --data %s --out %s " TINY " --epochs 3 --threads 1 > %s/log 2>&1 & pid=$!; "
             "i=0; while [ ! -e %s/checkpoint.safetensors ] && [ $i -lt 6000 ]; do "
             "sleep 0.01; i=$((i+1)); done; kill -TERM $pid; wait $pid; echo \"exit=$?\"; "
             "cat %s/log",
             test_bin(), test_data_dir(), killed, killed, killed, killed);
    test_run(cmd, log, sizeof log);
    CHECK_STR_CONTAINS(log, "exit=130");
    CHECK_STR_CONTAINS(log, "resume with: augprobe train --resume --out");
    int rows = history_rows(killed, NULL);
    CHECK(rows >= 1 && rows < 3);
    snprintf(cmd, sizeof cmd, "%s train --data %s --out %s --resume", test_bin(),
             test_data_dir(), killed);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 0);
    CHECK(same_file(straight, killed, "model.safetensors"));
    CHECK_INT_EQ(history_rows(killed, NULL), 3);
}

TEST(eval_prints_a_confusion_matrix_of_the_split) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    const char *dir = test_tmpdir();
    char log[16384], cmd[2048];
    REQUIRE(run_train(dir, "--epochs 1 --threads 1", log, sizeof log) == 0);
    const char *splits[2] = {"test", "val"};
    for (int s = 0; s < 2; s++) {
        snprintf(cmd, sizeof cmd, "%s eval --data %s --model %s/model.safetensors --split %s "
                                  "--limit 300 --threads 1",
                 test_bin(), test_data_dir(), dir, splits[s]);
        CHECK_INT_EQ(test_run(cmd, log, sizeof log), 0);
        CHECK_STR_CONTAINS(log, "per-class accuracy");
        CHECK_STR_CONTAINS(log, "airplane");
        CHECK_STR_CONTAINS(log, "truck");
        char *m = strstr(log, "confusion matrix");
        REQUIRE(m);
        m = strchr(m, '\n');
        REQUIRE(m);
        m = strchr(m + 1, '\n'); /* skip the column header */
        REQUIRE(m);
        long sum = 0, diag = 0;
        int rows = 0;
        for (char *line = m + 1; *line && rows < 10; rows++) {
            char name[32];
            int off;
            if (sscanf(line, "%31s%n", name, &off) != 1) break;
            char *p = line + off;
            for (int j = 0; j < 10; j++) {
                long v = strtol(p, &p, 10);
                sum += v;
                if (j == rows) diag += v;
            }
            char *nl = strchr(line, '\n');
            if (!nl) break;
            line = nl + 1;
        }
        CHECK_INT_EQ(rows, 10);
        CHECK_INT_EQ(sum, 300);
        /* the printed accuracy is the diagonal's share */
        char *acc = strstr(log, "accuracy ");
        REQUIRE(acc);
        CHECK_NEAR(strtod(acc + 9, NULL), diag / 300.0, 1e-4);
    }
}

TEST(train_bad_flags_exit_2_with_one_clear_line) {
    const char *bad[] = {"--epochs -3", "--epochs 0", "--limit abc", "--aug bogus=3",
                         "--no-aug --aug hflip", "--kernels nonesuch", "extra",
                         "--lr-schedule linear"};
    const char *want[] = {"--epochs", "--epochs", "--limit", "--aug", "--no-aug", "--kernels",
                          "extra", "--lr-schedule"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[512], log[8192];
        snprintf(cmd, sizeof cmd, "%s train --out /nonexistent/never %s", test_bin(), bad[i]);
        CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
        CHECK(!strncmp(log, "augprobe train: ", 16));
        char *nl = strchr(log, '\n');
        REQUIRE(nl);
        *nl = 0; /* the first line names the flag; usage follows */
        CHECK_STR_CONTAINS(log, want[i]);
        CHECK_STR_CONTAINS(nl + 1, "Usage: augprobe train");
    }
    char log[8192];
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s eval --split train --model x", test_bin());
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    snprintf(cmd, sizeof cmd, "%s eval", test_bin());
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    CHECK_STR_CONTAINS(log, "--model");
}

TEST(train_unwritable_out_fails_before_training) {
    const char *dir = test_tmpdir();
    char file[700], cmd[2048], log[4096];
    snprintf(file, sizeof file, "%s/a-file", dir);
    Err e;
    REQUIRE(file_write_atomic(file, "x", 1, &e) == 0);
    /* a directory below a regular file can never be created, even as root */
    snprintf(cmd, sizeof cmd, "%s train --data /nonexistent --out %s/sub --epochs 1", test_bin(),
             file);
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 1);
    CHECK(!strncmp(log, "augprobe train: --out: ", 23));
    CHECK_STR_CONTAINS(log, "a-file");
    CHECK(!strchr(log, '\n') || !strchr(strchr(log, '\n') + 1, '\n')); /* one line */
}

TEST(train_diverging_run_stops_with_a_clear_error) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    const char *dir = test_tmpdir();
    char log[8192];
    /* a learning rate of 1e38 blows the weights up within two epochs */
    CHECK_INT_EQ(run_train(dir, "--epochs 3 --lr 1e38 --threads 1", log, sizeof log), 1);
    CHECK_STR_CONTAINS(log, "augprobe train: epoch ");
    CHECK_STR_CONTAINS(log, "training diverged"); /* at a step (loss) or an epoch end */
    /* what was kept is finite and loads */
    int rows = history_rows(dir, NULL);
    CHECK(rows <= 2);
    if (rows > 0) {
        CHECK_STR_CONTAINS(log, "the last good checkpoint");
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s eval --data %s --model %s/checkpoint.safetensors --limit 10",
                 test_bin(), test_data_dir(), dir);
        CHECK_INT_EQ(test_run(cmd, log, sizeof log), 0);
    }
}
