/* test_device_pipeline.c - the GPU path in the pipeline, on the CPU
 * emulation (and CUDA where a GPU is present): probe features from a device
 * trunk equal the CPU's, a train_run on the device learns and repeats to
 * the bit, --device's errors and auto's fallback. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/augment.h"
#include "../src/device/device.h"
#include "../src/net.h"
#include "../src/probe.h"
#include "../src/rng.h"
#include "../src/train.h"
#include "golden.h"
#include "test.h"

/* Probe features (per-level augmentation + taps, pooled and flat) from a
 * device trunk equal the CPU trunk's. */
static void features_case(const DeviceOps *ops) {
    Err e;
    Net *cpu = net_create_text("seed_cnn", arch_builtin("seed_cnn"), 32, 32, 3, 4, 1, &e);
    Net *dev = net_create_text("seed_cnn", arch_builtin("seed_cnn"), 32, 32, 3, 4, 1, &e);
    REQUIRE(cpu && dev);
    net_set_kernels(cpu, kernels_reference());
    net_init(cpu, 5);
    net_init(dev, 5);
    if (net_use_device(dev, ops, NULL, &e)) {
        net_free(cpu), net_free(dev);
        SKIP(e.msg);
    }
    ImageSet set = golden_images(6, 9);
    float levels[2] = {0.6f, 0.9f};
    ProbeTap taps[2] = {{"block1_pool", PROBE_POOL_AVG}, {"flatten", PROBE_POOL_FLATTEN}};
    ProbeFeatures fc[2], fd[2];
    REQUIRE(probe_features_compute(cpu, &set, 6, AUG_ZOOM, levels, 2, taps, 2, (size_t)1 << 30, fc,
                                   NULL, &e) == 0);
    REQUIRE(probe_features_compute(dev, &set, 6, AUG_ZOOM, levels, 2, taps, 2, (size_t)1 << 30, fd,
                                   NULL, &e) == 0);
    for (int t = 0; t < 2; t++) {
        CHECK_INT_EQ(fc[t].dim, fd[t].dim);
        CHECK_ARRAY_NEAR(fd[t].x, fc[t].x, (size_t)fc[t].dim * 6 * 2, 1e-4, 1e-5);
        probe_features_free(&fc[t]);
        probe_features_free(&fd[t]);
    }
    golden_images_free(&set);
    net_free(cpu);
    net_free(dev);
}

TEST(device_emulated_probe_features_equal_the_cpu) { features_case(device_emulated()); }

TEST(device_cuda_probe_features_equal_the_cpu) {
    if (!device_cuda()) SKIP("built without the CUDA backend (no nvcc at build time)");
    features_case(device_cuda());
}

/* A tiny training run through train_run on a device (32 images, dropout
 * on): its masks differ from the CPU's, so it is checked by learning and by
 * repeating to the bit, also across a resume (the moments go to the host
 * checkpoint and back). */
static int tiny_train(const char *device, const char *out, int epochs, int resume,
                      TrainResult *res, Err *e) {
    const char *data_dir = test_data_dir();
    Cifar10 data;
    memset(&data, 0, sizeof data);
    if (cifar10_load(&data, data_dir, 0, 1, 2, e)) return -1;
    cifar10_split(&data, 1);
    TrainConfig cfg;
    train_config_default(&cfg);
    cfg.out_dir = out;
    cfg.aug[0] = 0;
    cfg.limit = 32;
    cfg.eval_limit = 16;
    cfg.batch = 8;
    cfg.epochs = epochs;
    cfg.resume = resume;
    cfg.threads = 1;
    cfg.quiet = 1;
    snprintf(cfg.device, sizeof cfg.device, "%s", device);
    int rc = train_run(&cfg, &data, res, e);
    cifar10_free(&data);
    return rc;
}

TEST(device_emulated_training_learns_and_resumes_to_the_bit) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/a", test_tmpdir());
    snprintf(b, sizeof b, "%s/b", test_tmpdir());
    TrainResult ra, rb;
    Err e;
    int rc = tiny_train("emulated", a, 4, 0, &ra, &e);
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    /* b: 2 epochs, then resumed to 4 */
    REQUIRE(tiny_train("emulated", b, 2, 0, &rb, &e) == 0);
    train_result_free(&rb);
    rc = tiny_train("emulated", b, 4, 1, &rb, &e);
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    REQUIRE(rb.n_history == 4);
    CHECK_STR_CONTAINS(ra.device, "emulated");
    printf("    train loss %.3f -> %.3f, acc %.3f -> %.3f\n", ra.history[0].train_loss,
           ra.final.train_loss, ra.history[0].train_acc, ra.final.train_acc);
    CHECK(ra.final.train_loss < 0.6 * ra.history[0].train_loss);
    CHECK(ra.final.train_acc > 0.5); /* chance is 0.1 */
    /* epochs 1-2 of b come back from history.csv (6 decimals) */
    for (int i = 0; i < ra.n_history; i++) {
        CHECK_NEAR(rb.history[i].train_loss, ra.history[i].train_loss, i < 2 ? 5e-7 : 0);
        CHECK(ra.history[i].test_acc == rb.history[i].test_acc);
    }
    /* the final weights (synced from the device) are the same bits */
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    uint8_t *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    REQUIRE(file_read_all(pa, &da, &la, &e) == 0 && file_read_all(pb, &db, &lb, &e) == 0);
    CHECK(la == lb && memcmp(da, db, la) == 0);
    free(da), free(db);
    train_result_free(&ra);
    train_result_free(&rb);
}

TEST(device_flag_errors_are_one_clear_line) {
    char cmd[1024], log[4096];
    snprintf(cmd, sizeof cmd, "%s train --device tpu --epochs 1 2>&1", test_bin());
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 2);
    CHECK_STR_CONTAINS(log, "--device: 'tpu' is not one of cpu, cuda, auto, emulated");
    /* eval on a model that does not exist fails on the model first; use a
     * random-init probe instead: --device cuda where there is no GPU */
    if (device_cuda()) {
        Err e;
        Device *d = device_cuda()->open(&e);
        if (d) {
            device_cuda()->close(d);
            SKIP("a GPU is present: --device cuda works here");
        }
    }
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    snprintf(cmd, sizeof cmd,
             "%s train --device cuda --data %s --limit 8 --eval-limit 8 --epochs 1 --out %s/c "
             "2>&1",
             test_bin(), test_data_dir(), test_tmpdir());
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 1);
    CHECK_STR_CONTAINS(log, device_cuda() ? "--device cuda: no CUDA device"
                                          : "--device cuda: this build has no CUDA backend");
    /* auto falls back to the CPU */
    snprintf(cmd, sizeof cmd,
             "%s train --device auto --data %s --limit 8 --eval-limit 8 --batch 8 --epochs 1 "
             "--threads 1 --out %s/auto 2>&1",
             test_bin(), test_data_dir(), test_tmpdir());
    CHECK_INT_EQ(test_run(cmd, log, sizeof log), 0);
    CHECK_STR_CONTAINS(log, "kernels");
}
