/* test_npy.c - the .npy writer: byte for byte what numpy 1.24's numpy.save
 * writes for the same arrays (fixtures made by tools/make_npy_fixtures.py),
 * the labels file name, and a write into a missing directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common.h"
#include "../src/npy.h"
#include "test.h"

/* Writes the array with npy_save and compares the file with the fixture. */
static void same_as_numpy(const char *fixture, NpyType t, const void *data, const size_t *shape,
                          int ndim) {
    char path[1024];
    snprintf(path, sizeof path, "%s/x.npy", test_tmpdir());
    Err e = {{0}};
    if (npy_save(path, t, data, shape, ndim, &e)) {
        test_fail(__FILE__, __LINE__, "npy_save: %s", e.msg);
        return;
    }
    uint8_t *got = NULL, *want = NULL;
    size_t ng = 0, nw = 0;
    if (file_read_all(path, &got, &ng, &e) || file_read_all(test_fixture(fixture), &want, &nw, &e)) {
        test_fail(__FILE__, __LINE__, "%s", e.msg);
    } else {
        CHECK_INT_EQ(ng, nw);
        size_t first = 0;
        while (first < ng && first < nw && got[first] == want[first]) first++;
        if (first < ng || first < nw)
            test_fail(__FILE__, __LINE__, "%s: first difference at byte %zu", fixture, first);
        /* the data starts at a multiple of 64 */
        CHECK_INT_EQ((10 + (got[8] | got[9] << 8)) % 64, 0);
    }
    free(got);
    free(want);
}

TEST(npy_matches_numpy_save_byte_for_byte) {
    float f[24];
    for (int k = 0; k < 24; k++) f[k] = k * 0.25f - 1;
    int64_t l[1000];
    for (int k = 0; k < 1000; k++) l[k] = (k * 7) % 10;
    size_t s23[2] = {2, 3}, s234[3] = {2, 3, 4}, s07[2] = {0, 7}, s5 = 5, s1000 = 1000;
    same_as_numpy("npy/f32_2x3.npy", NPY_F32, f, s23, 2);
    same_as_numpy("npy/f32_2x3x4.npy", NPY_F32, f, s234, 3);
    same_as_numpy("npy/f32_0x7.npy", NPY_F32, f, s07, 2);
    same_as_numpy("npy/i64_5.npy", NPY_I64, l, &s5, 1);
    same_as_numpy("npy/i64_1000.npy", NPY_I64, l, &s1000, 1);
    /* uint8 labels widen to the same int64 file */
    uint8_t u[1000];
    for (int k = 0; k < 1000; k++) u[k] = (uint8_t)l[k];
    char path[1024];
    snprintf(path, sizeof path, "%s/l.npy", test_tmpdir());
    Err e = {{0}};
    REQUIRE(npy_save_labels(path, u, 1000, &e) == 0);
    uint8_t *got = NULL, *want = NULL;
    size_t ng = 0, nw = 0;
    REQUIRE(file_read_all(path, &got, &ng, &e) == 0);
    REQUIRE(file_read_all(test_fixture("npy/i64_1000.npy"), &want, &nw, &e) == 0);
    CHECK(ng == nw && !memcmp(got, want, ng));
    free(got);
    free(want);
}

TEST(npy_labels_path_and_missing_directory) {
    char *p = npy_labels_path("out/feats.npy");
    CHECK(!strcmp(p, "out/feats.labels.npy"));
    free(p);
    p = npy_labels_path("feats");
    CHECK(!strcmp(p, "feats.labels.npy"));
    free(p);
    char path[1024];
    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", test_tmpdir());
    float v = 1;
    size_t s = 1;
    Err e = {{0}};
    CHECK_INT_EQ(npy_save(path, NPY_F32, &v, &s, 1, &e), -1);
    CHECK_STR_CONTAINS(e.msg, "No such file or directory");
}
