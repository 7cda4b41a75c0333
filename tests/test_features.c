/* test_features.c - `augprobe features` and `augprobe probe
 * --keep-features`: the .npy files' headers and values (labels from the
 * data files themselves, avg = mean over space of flatten, the probe's kept
 * cache = features at that level), the errors, and atomic rewrites.
 * tools/check_npy.py checks the same files with numpy.load. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/common.h"
#include "test.h"

/* A .npy file read back: its header text and its data. */
typedef struct Npy {
    char header[256];
    uint8_t *raw;
    const uint8_t *data;
    size_t bytes; /* of data */
} Npy;

static int npy_load(const char *path, Npy *n) {
    memset(n, 0, sizeof *n);
    size_t len = 0;
    Err e = {{0}};
    if (file_read_all(path, &n->raw, &len, &e)) {
        test_fail(__FILE__, __LINE__, "%s", e.msg);
        return -1;
    }
    if (len < 10 || memcmp(n->raw, "\x93NUMPY\x01\x00", 8)) {
        test_fail(__FILE__, __LINE__, "%s: not a .npy 1.0 file", path);
        return -1;
    }
    size_t hl = n->raw[8] | (size_t)n->raw[9] << 8;
    if (10 + hl > len || hl >= sizeof n->header) {
        test_fail(__FILE__, __LINE__, "%s: bad header length", path);
        return -1;
    }
    memcpy(n->header, n->raw + 10, hl);
    n->data = n->raw + 10 + hl;
    n->bytes = len - 10 - hl;
    return 0;
}

static const char *data_or_skip(void) { return test_data_dir(); }

TEST(features_npy_values_labels_and_pooling) {
    const char *data = data_or_skip();
    if (!data) SKIP("no CIFAR-10 copy (../shared/data/cifar10-q75)");
    const char *dir = test_tmpdir();
    char cmd[2048], out[4096], path[1024];
    enum { N = 64 };
    snprintf(cmd, sizeof cmd,
             "%s features --data %s --model random --threads 1 --layer block3_pool --split test "
             "--limit %d -o %s/flat.npy && "
             "%s features --data %s --model random --threads 1 --quiet --layer block3_pool "
             "--pool avg --split test --limit %d -o %s/avg.npy",
             test_bin(), data, N, dir, test_bin(), data, N, dir);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    CHECK_STR_CONTAINS(out, "float32 [64, 2048] (flatten of block3_pool, random; aug none; test split)");
    Npy f, a, l;
    snprintf(path, sizeof path, "%s/flat.npy", dir);
    REQUIRE(npy_load(path, &f) == 0);
    snprintf(path, sizeof path, "%s/avg.npy", dir);
    REQUIRE(npy_load(path, &a) == 0);
    snprintf(path, sizeof path, "%s/flat.labels.npy", dir);
    REQUIRE(npy_load(path, &l) == 0);
    CHECK_STR_CONTAINS(f.header, "{'descr': '<f4', 'fortran_order': False, 'shape': (64, 2048), }");
    CHECK_STR_CONTAINS(a.header, "'shape': (64, 128), }");
    CHECK_STR_CONTAINS(l.header, "{'descr': '<i8', 'fortran_order': False, 'shape': (64,), }");
    REQUIRE(f.bytes == (size_t)N * 2048 * 4 && a.bytes == (size_t)N * 128 * 4 && l.bytes == N * 8);
    /* labels: the first byte of each test_batch.bin record */
    snprintf(path, sizeof path, "%s/test_batch.bin", data);
    FILE *tb = fopen(path, "rb");
    REQUIRE(tb);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        uint8_t rec[3073];
        REQUIRE(fread(rec, 1, sizeof rec, tb) == sizeof rec);
        int64_t got;
        memcpy(&got, l.data + 8 * (size_t)i, 8);
        bad += got != rec[0];
    }
    fclose(tb);
    CHECK_INT_EQ(bad, 0);
    /* avg is the mean over the 4x4 positions of the HWC flatten features */
    const float *fx = (const float *)f.data, *ax = (const float *)a.data;
    double worst = 0, norm = 0;
    for (int i = 0; i < N; i++)
        for (int c = 0; c < 128; c++) {
            double m = 0;
            for (int s = 0; s < 16; s++) m += fx[(size_t)i * 2048 + s * 128 + c];
            m /= 16;
            worst = fmax(worst, fabs(m - ax[i * 128 + c]));
            norm = fmax(norm, fabs(m));
        }
    CHECK(worst <= 1e-5 * (1 + norm));
    CHECK(norm > 0); /* not all zero */
    free(f.raw), free(a.raw), free(l.raw);
}

TEST(features_probe_keep_features_is_the_cache) {
    const char *data = data_or_skip();
    if (!data) SKIP("no CIFAR-10 copy (../shared/data/cifar10-q75)");
    const char *dir = test_tmpdir();
    char cmd[2048], out[4096], path[1024];
    snprintf(cmd, sizeof cmd,
             "%s probe --data %s --model random --threads 1 --quiet --layer block2_pool --pool avg "
             "--levels 0.5,0.7 --limit 40 --epochs 1 --passes 1 --out %s --keep-features %s/keep && "
             "%s features --data %s --model random --threads 1 --quiet --layer block2_pool "
             "--pool avg --aug zoom=0.7 --split val --limit 40 -o %s/z.npy",
             test_bin(), data, dir, dir, test_bin(), data, dir);
    REQUIRE(test_run(cmd, out, sizeof out) == 0);
    Npy v, t, lv, vl, z, zl;
    snprintf(path, sizeof path, "%s/keep/val.npy", dir);
    REQUIRE(npy_load(path, &v) == 0);
    snprintf(path, sizeof path, "%s/keep/test.npy", dir);
    REQUIRE(npy_load(path, &t) == 0);
    snprintf(path, sizeof path, "%s/keep/levels.npy", dir);
    REQUIRE(npy_load(path, &lv) == 0);
    snprintf(path, sizeof path, "%s/keep/val.labels.npy", dir);
    REQUIRE(npy_load(path, &vl) == 0);
    snprintf(path, sizeof path, "%s/z.npy", dir);
    REQUIRE(npy_load(path, &z) == 0);
    snprintf(path, sizeof path, "%s/z.labels.npy", dir);
    REQUIRE(npy_load(path, &zl) == 0);
    CHECK_STR_CONTAINS(v.header, "'shape': (2, 40, 64), }");
    CHECK_STR_CONTAINS(t.header, "'shape': (2, 40, 64), }");
    CHECK_STR_CONTAINS(lv.header, "'shape': (2,), }");
    CHECK_STR_CONTAINS(z.header, "'shape': (40, 64), }");
    REQUIRE(v.bytes == 2 * 40 * 64 * 4 && z.bytes == 40 * 64 * 4 && lv.bytes == 8);
    const float *lvx = (const float *)lv.data;
    CHECK(lvx[0] == 0.5f && lvx[1] == 0.7f);
    /* level 1 (zoom 0.7) of the kept val cache is `features --aug zoom=0.7` */
    CHECK_ARRAY_NEAR((const float *)v.data + 40 * 64, (const float *)z.data, 40 * 64, 1e-5, 1e-6);
    /* and level 0 differs from it (the zoom reaches the features) */
    CHECK(memcmp(v.data, z.data, z.bytes) != 0);
    CHECK(vl.bytes == zl.bytes && !memcmp(vl.data, zl.data, vl.bytes));
    free(v.raw), free(t.raw), free(lv.raw), free(vl.raw), free(z.raw), free(zl.raw);
}

TEST(features_errors_and_atomic_rewrite) {
    const char *data = data_or_skip();
    const char *dir = test_tmpdir();
    char cmd[2048], out[4096], path[1024];
    /* usage errors: exit 2 */
    snprintf(cmd, sizeof cmd, "%s features --layer nope -o %s/x.npy", test_bin(), dir);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "augprobe features: --layer: no layer named 'nope'");
    snprintf(cmd, sizeof cmd, "%s features --split nope", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s features --aug zoom=0.5:2:3", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    /* -o in a missing directory: one line, exit 1, before the data is read */
    snprintf(cmd, sizeof cmd, "%s features --model random --data /nonexistent -o %s/no/x.npy",
             test_bin(), dir);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    snprintf(path, sizeof path, "augprobe features: %s/no/x.npy: directory %s/no does not exist\n",
             dir, dir);
    CHECK(!strcmp(out, path));
    if (!data) SKIP("no CIFAR-10 copy (../shared/data/cifar10-q75)");
    /* a bad model: exit 1, the existing file untouched */
    snprintf(path, sizeof path, "%s/f.npy", dir);
    Err e = {{0}};
    REQUIRE(file_write_atomic(path, "old", 3, &e) == 0);
    snprintf(cmd, sizeof cmd, "%s features --data %s --model %s/missing.safetensors -o %s",
             test_bin(), data, dir, path);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "augprobe features: ");
    uint8_t *got = NULL;
    size_t len = 0;
    REQUIRE(file_read_all(path, &got, &len, &e) == 0);
    CHECK(len == 3 && !memcmp(got, "old", 3));
    free(got);
    /* a good run replaces it; no temporary file is left */
    snprintf(cmd, sizeof cmd, "%s features --data %s --model random --quiet --layer dense1 "
             "--limit 5 -o %s", test_bin(), data, path);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    REQUIRE(file_read_all(path, &got, &len, &e) == 0);
    CHECK_INT_EQ(len, 128 + 5 * 1024 * 4);
    free(got);
    snprintf(path, sizeof path, "%s/f.npy.tmp", dir);
    CHECK(access(path, F_OK) != 0);
}
