/* test_cmd_augment.c - `augprobe export` and `augprobe preview` end to end:
 * help, usage errors, byte-exact export of unaugmented images, flips as
 * exact permutations, seeded determinism, and the preview grid's pixels. */
#include <cairo/cairo.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cifar10.h"
#include "../src/plot.h"
#include "test.h"

static char out[1 << 16];

static int run(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", test_bin(), args);
    return test_run(cmd, out, sizeof out);
}

static uint8_t *read_file(const char *path, size_t *len) {
    uint8_t *data;
    Err e;
    return file_read_all(path, &data, len, &e) ? NULL : data;
}

TEST(cmd_export_preview_help_and_usage_errors) {
    CHECK_INT_EQ(run("export --help"), 0);
    CHECK_STR_CONTAINS(out, "Usage: augprobe export");
    CHECK_INT_EQ(run("preview --help"), 0);
    CHECK_STR_CONTAINS(out, "Usage: augprobe preview");
    static const struct {
        const char *args, *want;
    } bad[] = {
        {"export --split test -o x.bin", "--aug is required"},
        {"export --aug none -o x.bin", "--split is required"},
        {"export --aug none --split test", "-o is required"},
        {"export --aug sharpen --split test -o x.bin", "unknown augmentation 'sharpen'"},
        {"export --aug zoom=0.9:0.5 --split test -o x.bin", "low > high"},
        {"export --aug none --split tests -o x.bin", "--split: 'tests' is not train, val or test"},
        {"export --aug none --split test --limit 0 -o x.bin", "--limit: 0 is out of range"},
        {"export --aug none --split test -o x.bin extra", "unexpected argument 'extra'"},
        {"export --bogus", "unknown flag '--bogus'"},
        {"preview --aug hflip,hflip", "hflip given twice"},
        {"preview --scale 0", "--scale: 0 is out of range"},
        {"preview --aug", "--aug needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run(bad[i].args);
        if (rc != 2) test_fail(__FILE__, __LINE__, "'%s': exit %d, want 2", bad[i].args, rc);
        CHECK_STR_CONTAINS(out, bad[i].want);
        CHECK_STR_CONTAINS(out, "Usage: augprobe");
    }
    CHECK(!path_exists("x.bin"));
    /* an unwritable output fails at once (exit 1), naming the file */
    CHECK_INT_EQ(run("export --aug none --split test -o /nonexistent-dir/x.bin"), 1);
    CHECK_STR_CONTAINS(out, "augprobe export: /nonexistent-dir/x.bin");
}

TEST(cmd_export_none_reproduces_the_test_batch_bytes) {
    const char *data = test_data_dir();
    if (!data) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char path[1024], args[2048], batch[1024];
    snprintf(path, sizeof path, "%s/none.bin", test_tmpdir());
    snprintf(args, sizeof args, "export --data %s --aug none --split test --limit 300 -o %s --quiet",
             data, path);
    REQUIRE(run(args) == 0);
    size_t n_got, n_want;
    uint8_t *got = read_file(path, &n_got);
    snprintf(batch, sizeof batch, "%s/test_batch.bin", data);
    uint8_t *want = read_file(batch, &n_want);
    REQUIRE(got && want);
    CHECK_INT_EQ(n_got, 300 * CIFAR_RECORD);
    CHECK(n_want >= n_got && memcmp(got, want, n_got) == 0);
    /* hflip=1 and vflip=1: exact mirror images, same labels */
    char path2[1024];
    snprintf(path2, sizeof path2, "%s/flip.bin", test_tmpdir());
    snprintf(args, sizeof args,
             "export --data %s --aug hflip=1,vflip=1 --split test --limit 20 -o %s --quiet", data,
             path2);
    REQUIRE(run(args) == 0);
    size_t n_flip;
    uint8_t *flip = read_file(path2, &n_flip);
    REQUIRE(flip && n_flip == 20 * CIFAR_RECORD);
    int ok = 1;
    for (int i = 0; i < 20; i++) {
        const uint8_t *a = flip + (size_t)i * CIFAR_RECORD, *b = want + (size_t)i * CIFAR_RECORD;
        ok &= a[0] == b[0];
        for (int k = 0; k < 3; k++)
            for (int r = 0; r < 32; r++)
                for (int c = 0; c < 32; c++)
                    ok &= a[1 + k * 1024 + r * 32 + c] == b[1 + k * 1024 + (31 - r) * 32 + 31 - c];
    }
    CHECK(ok);
    free(got), free(want), free(flip);
}

TEST(cmd_export_is_seeded_and_zoom_changes_pixels) {
    const char *data = test_data_dir();
    if (!data) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char p[3][1024], args[2048];
    const char *seeds[3] = {"3", "3", "4"};
    uint8_t *f[3];
    size_t n[3];
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s/z%d.bin", test_tmpdir(), i);
        snprintf(args, sizeof args,
                 "export --data %s --aug zoom=0.5:1.0 --split test --limit 16 --seed %s "
                 "--threads %d -o %s --quiet",
                 data, seeds[i], 1 + i % 2, p[i]);
        REQUIRE(run(args) == 0);
        f[i] = read_file(p[i], &n[i]);
        REQUIRE(f[i] && n[i] == 16 * CIFAR_RECORD);
    }
    CHECK(memcmp(f[0], f[1], n[0]) == 0); /* same seed, 1 vs 2 threads */
    CHECK(memcmp(f[0], f[2], n[0]) != 0); /* other seed */
    /* labels are the test batch's; every image's pixels were changed */
    char batch[1024];
    snprintf(batch, sizeof batch, "%s/test_batch.bin", data);
    size_t nv;
    uint8_t *v = read_file(batch, &nv);
    REQUIRE(v && nv >= n[0]);
    int labels_same = 1, changed = 0;
    for (int i = 0; i < 16; i++) {
        labels_same &= f[0][(size_t)i * CIFAR_RECORD] == v[(size_t)i * CIFAR_RECORD] &&
                       f[2][(size_t)i * CIFAR_RECORD] == v[(size_t)i * CIFAR_RECORD];
        changed += memcmp(f[0] + (size_t)i * CIFAR_RECORD + 1, v + (size_t)i * CIFAR_RECORD + 1,
                          CIFAR_PIXELS) != 0;
    }
    CHECK(labels_same);
    CHECK_INT_EQ(changed, 16);
    for (int i = 0; i < 3; i++) free(f[i]);
    free(v);
}

TEST(cmd_preview_grid_shows_the_exported_images) {
    const char *data = test_data_dir();
    if (!data) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    char png[1024], bin[1024], args[2048];
    snprintf(png, sizeof png, "%s/grid.png", test_tmpdir());
    snprintf(bin, sizeof bin, "%s/first.bin", test_tmpdir());
    /* The preview of image i is export --split train's image i (same stream). */
    snprintf(args, sizeof args, "preview --data %s --aug zoom=0.6,hflip --seed 5 -o %s --quiet",
             data, png);
    REQUIRE(run(args) == 0);
    snprintf(args, sizeof args,
             "export --data %s --aug zoom=0.6,hflip --seed 5 --split train --limit 25 -o %s "
             "--quiet",
             data, bin);
    REQUIRE(run(args) == 0);
    size_t nb;
    uint8_t *img = read_file(bin, &nb);
    REQUIRE(img && nb == 25 * CIFAR_RECORD);
    cairo_surface_t *s = cairo_image_surface_create_from_png(png);
    REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
    int pad = PLOT_GRID_PAD, cw = 32 * 4, ch = 32 * 4 + PLOT_GRID_CAPTION;
    CHECK_INT_EQ(cairo_image_surface_get_width(s), 5 * (cw + pad) + pad);
    CHECK_INT_EQ(cairo_image_surface_get_height(s), 5 * (ch + pad) + pad);
    const uint8_t *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), ok = 1;
    for (int k = 0; k < 25; k += 6)
        for (int r = 0; r < 32; r += 5)
            for (int c = 0; c < 32; c += 3) {
                int x = pad + (k % 5) * (cw + pad) + 4 * c + 2;
                int y = pad + (k / 5) * (ch + pad) + 4 * r + 2;
                uint32_t v = *(const uint32_t *)(d + (size_t)y * stride + 4 * x);
                const uint8_t *rec = img + (size_t)k * CIFAR_RECORD + 1;
                uint32_t want = (uint32_t)rec[r * 32 + c] << 16 |
                                (uint32_t)rec[1024 + r * 32 + c] << 8 | rec[2048 + r * 32 + c];
                ok &= (v & 0xffffff) == want;
            }
    CHECK(ok);
    cairo_surface_destroy(s);
    free(img);
}
