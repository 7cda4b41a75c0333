/* test_resize.c - inputs other than 32x32 (resize.h): the bilinear resize
 * and the ImageNet normalisation against PyTorch (fixture made by
 * tools/make_resize_fixture.py), the probe's features of a trunk with a
 * larger input against resizing by hand, and `probe --input-size
 * --normalize` end to end. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/augment.h"
#include "../src/common.h"
#include "../src/net.h"
#include "../src/probe.h"
#include "../src/resize.h"
#include "test.h"

static char out[1 << 16];

TEST(resize_bilinear_and_normalize_match_pytorch) {
    enum { H = 8, W = 6 };
    float img[H * W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) img[(y * W + x) * 3 + c] = (float)((7 * y + 3 * x + 11 * c) % 17) / 16.0f;
    size_t n = 0;
    float *want = test_load_floats("resize/resize.bin", &n);
    REQUIRE(want);
    REQUIRE(n == 13 * 10 * 3 + 5 * 4 * 3 + 13 * 10 * 3);
    float up[13 * 10 * 3], down[5 * 4 * 3];
    resize_bilinear(img, H, W, 3, up, 13, 10);
    resize_bilinear(img, H, W, 3, down, 5, 4);
    CHECK_ARRAY_NEAR(up, want, 13 * 10 * 3, 1e-6, 1e-6);
    CHECK_ARRAY_NEAR(down, want + 390, 5 * 4 * 3, 1e-6, 1e-6);
    resize_normalize(up, 13 * 10, RESIZE_IMAGENET_MEAN, RESIZE_IMAGENET_STD);
    CHECK_ARRAY_NEAR(up, want + 450, 13 * 10 * 3, 1e-5, 1e-5);
    /* the same size is the identity */
    float same[H * W * 3];
    resize_bilinear(img, H, W, 3, same, H, W);
    CHECK(memcmp(same, img, sizeof img) == 0);
    free(want);
}

TEST(probe_features_of_a_larger_input_are_the_resized_images) {
    /* a trunk that is only a global average pool of its 48x48 input: its
     * features are the per-channel means of the resized, normalised images */
    enum { N = 5, S = 48 };
    Err e;
    Net *trunk = net_create_text("g", "g gap\n", S, S, 3, 4, 1, &e);
    REQUIRE(trunk);
    uint8_t *img = xmalloc((size_t)N * 3072);
    for (int i = 0; i < N * 3072; i++) img[i] = (uint8_t)((i * 37 + i / 97) & 255);
    ImageSet set = {N, img, NULL};
    const float levels[2] = {0.0f, 0.2f};
    ProbeTap tap = {"g", PROBE_POOL_FLATTEN};
    ProbeFeatures f;
    REQUIRE(probe_features_compute_norm(trunk, &set, N, AUG_BRIGHTNESS, levels, 2, &tap, 1,
                                        (size_t)1 << 30, PROBE_NORM_IMAGENET, &f, NULL, &e) == 0);
    CHECK_INT_EQ(f.dim, 3);
    float x32[3072], big[S * S * 3];
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < N; i++) {
            AugParams p;
            aug_params_level(AUG_BRIGHTNESS, levels[l], &p);
            aug_apply_batch(&p, &set, &i, 1, x32, 1);
            resize_bilinear(x32, 32, 32, 3, big, S, S);
            resize_normalize(big, S * S, RESIZE_IMAGENET_MEAN, RESIZE_IMAGENET_STD);
            for (int c = 0; c < 3; c++) {
                double m = 0;
                for (int k = 0; k < S * S; k++) m += big[k * 3 + c];
                CHECK_NEAR(f.x[((size_t)l * N + i) * 3 + c], m / (S * S), 1e-4);
            }
        }
    /* brightness moves the normalised means up by level / sd (less where
     * pixels clip at 1) */
    double shift = f.x[(size_t)1 * N * 3 + 0] - f.x[0];
    CHECK(shift > 0.5 && shift <= 0.2 / 0.229 + 1e-4);
    probe_features_free(&f);
    /* a trunk that is not square RGB is refused */
    Net *odd = net_create_text("g", "g gap\n", 40, 48, 3, 4, 1, &e);
    REQUIRE(odd);
    CHECK(probe_features_compute(odd, &set, N, AUG_BRIGHTNESS, levels, 2, &tap, 1, (size_t)1 << 30,
                                 &f, NULL, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "must take square RGB images");
    net_free(odd);
    net_free(trunk);
    free(img);
}

TEST(probe_input_size_and_normalize_end_to_end) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s probe --input-size 4 --model random", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "--input-size");
    snprintf(cmd, sizeof cmd, "%s probe --normalize caffe --model random", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "--normalize: 'caffe' is not none or imagenet");
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", test_tmpdir());
    char *net = path_join(tmp, "small64.net");
    FILE *fp = fopen(net, "w");
    REQUIRE(fp);
    fputs("c conv filters=4 kernel=3 stride=2 relu tap=conv\ng gap tap=pooled\nd dense units=10\n",
          fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd,
             "%s probe --data %s --model random --arch %s --input-size 64 --normalize imagenet "
             "--layer conv --aug brightness --limit 30 --passes 1 --epochs 2 --head linear "
             "--out %s/p64 --quiet",
             test_bin(), test_data_dir(), net, tmp);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    char *p = path_join(tmp, "p64/probe.json");
    uint8_t *text = NULL;
    size_t len;
    REQUIRE(file_read_all(p, &text, &len, NULL) == 0);
    cJSON *o = cJSON_Parse((const char *)text);
    REQUIRE(o);
    CHECK_INT_EQ(cJSON_GetObjectItem(o, "input_size")->valueint, 64);
    CHECK(!strcmp(cJSON_GetObjectItem(o, "normalize")->valuestring, "imagenet"));
    CHECK(!strcmp(cJSON_GetObjectItem(o, "layer")->valuestring, "c"));
    CHECK(!strcmp(cJSON_GetObjectItem(o, "pool")->valuestring, "avg"));
    CHECK_INT_EQ(cJSON_GetObjectItem(o, "feature_dim")->valueint, 4);
    cJSON_Delete(o);
    free(text);
    free(p);
    free(net);
}
