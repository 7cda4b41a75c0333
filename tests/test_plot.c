/* test_plot.c - PNG figures: they exist, are PNGs of the documented size,
 * show the drawn images' exact colours and the series' colours, and bad
 * arguments or paths give one clear error. */
#include <cairo/cairo.h> /* full path: builds without pkg-config flags (check-asan) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/plot.h"
#include "test.h"

/* fontconfig (loaded by cairo for text) keeps its configuration for the life
 * of the process; tell LeakSanitizer (under make check-asan) that this is not
 * our leak. The one definition of this hook in the test binary. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static int has_png_signature(const char *path) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *data;
    size_t len;
    Err e;
    if (file_read_all(path, &data, &len, &e)) return 0;
    int ok = len > 8 && !memcmp(data, sig, 8);
    free(data);
    return ok;
}

/* 0xRRGGBB at (x, y) of a PNG, or -1. */
static long pixel_at(cairo_surface_t *s, int x, int y) {
    if (x < 0 || y < 0 || x >= cairo_image_surface_get_width(s) ||
        y >= cairo_image_surface_get_height(s))
        return -1;
    const uint8_t *d = cairo_image_surface_get_data(s);
    uint32_t v = *(const uint32_t *)(d + (size_t)y * cairo_image_surface_get_stride(s) + 4 * x);
    return (long)(v & 0xffffff);
}

static long count_colour(cairo_surface_t *s, uint32_t rgb) {
    long n = 0;
    for (int y = 0; y < cairo_image_surface_get_height(s); y++)
        for (int x = 0; x < cairo_image_surface_get_width(s); x++) n += pixel_at(s, x, y) == rgb;
    return n;
}

/* Pixels with every channel below 64: axes, ticks, text (antialiased). */
static long count_dark(cairo_surface_t *s) {
    long n = 0;
    for (int y = 0; y < cairo_image_surface_get_height(s); y++)
        for (int x = 0; x < cairo_image_surface_get_width(s); x++) {
            long v = pixel_at(s, x, y);
            n += (v >> 16 & 255) < 64 && (v >> 8 & 255) < 64 && (v & 255) < 64;
        }
    return n;
}

TEST(plot_panels_png_has_size_axes_and_series_colours) {
    char path[1024];
    snprintf(path, sizeof path, "%s/curves.png", test_tmpdir());
    double x[20], y1[20], y2[20];
    for (int i = 0; i < 20; i++) {
        x[i] = i + 1;
        y1[i] = 1.0 - exp(-i / 5.0);
        y2[i] = i == 7 ? NAN : 0.5 + 0.01 * i; /* a gap */
    }
    PlotSeries s1[2] = {{.label = "train", .x = x, .y = y1, .n = 20},
                        {.label = "val", .x = x, .y = y2, .n = 20}};
    static const char *const layers[] = {"conv1", "conv2", "pool1", "flatten"};
    double acc[4] = {0.9, 0.85, 0.8, 0.7};
    PlotSeries s2[1] = {{.label = "zoom", .y = acc, .n = 4}};
    PlotPanel panels[2] = {
        {.title = "Accuracy", .xlabel = "epoch", .ylabel = "accuracy", .series = s1,
         .n_series = 2},
        {.title = "Probe accuracy by layer", .xlabel = "layer", .ylabel = "pairs ranked right",
         .series = s2, .n_series = 1, .xtick_labels = layers, .n_xticks = 4},
    };
    Err e = {{0}};
    REQUIRE(plot_panels_png(path, panels, 2, &e) == 0);
    CHECK(path_exists(path));
    CHECK(has_png_signature(path));
    {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = 0;
        CHECK_INT_EQ(test_count_temp_files(dir, 1), 0); /* the temp file was renamed */
    }
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
    CHECK_INT_EQ(cairo_image_surface_get_width(s), 2 * PLOT_PANEL_W);
    CHECK_INT_EQ(cairo_image_surface_get_height(s), PLOT_PANEL_H);
    CHECK_INT_EQ(pixel_at(s, 2, 2), 0xffffff); /* white background */
    /* Series drawn in tab10 order: blue, orange (both in panel 1), blue again
     * in panel 2 (markers of radius 3 give solid pixels). */
    long blue_left = 0, blue_right = 0;
    for (int yy = 0; yy < PLOT_PANEL_H; yy++)
        for (int xx = 0; xx < 2 * PLOT_PANEL_W; xx++)
            if (pixel_at(s, xx, yy) == 0x1f77b4) *(xx < PLOT_PANEL_W ? &blue_left : &blue_right) += 1;
    CHECK(blue_left > 100);
    CHECK(blue_right > 20);
    CHECK(count_colour(s, 0xff7f0e) > 100);
    CHECK(count_dark(s) > 1000); /* axes, ticks, text */
    cairo_surface_destroy(s);
}

TEST(plot_image_grid_places_images_with_exact_colours) {
    char path[1024];
    snprintf(path, sizeof path, "%s/grid.png", test_tmpdir());
    enum { N = 5, H = 4, W = 6, SCALE = 5, COLS = 3 };
    uint8_t img[N * H * W * 3];
    static const uint8_t colours[N][3] = {
        {255, 0, 0}, {0, 128, 0}, {10, 20, 250}, {200, 200, 0}, {1, 2, 3}};
    for (int k = 0; k < N; k++)
        for (int p = 0; p < H * W; p++) memcpy(&img[(k * H * W + p) * 3], colours[k], 3);
    img[(1 * H * W + 0) * 3 + 0] = 77; /* image 1, pixel (0,0): a marker */
    static const char *const caps[N] = {"airplane", "automobile", "bird", NULL, "cat"};
    Err e = {{0}};
    REQUIRE(plot_image_grid_png(path, img, N, COLS, H, W, caps, SCALE, &e) == 0);
    CHECK(has_png_signature(path));
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
    int cw = W * SCALE, ch = H * SCALE, pad = PLOT_GRID_PAD, cap = PLOT_GRID_CAPTION;
    CHECK_INT_EQ(cairo_image_surface_get_width(s), COLS * (cw + pad) + pad);
    CHECK_INT_EQ(cairo_image_surface_get_height(s), 2 * (ch + cap + pad) + pad);
    for (int k = 0; k < N; k++) {
        int x0 = pad + (k % COLS) * (cw + pad), y0 = pad + (k / COLS) * (ch + cap + pad);
        long want = colours[k][0] << 16 | colours[k][1] << 8 | colours[k][2];
        CHECK_INT_EQ(pixel_at(s, x0 + cw / 2, y0 + ch / 2), want);
        CHECK_INT_EQ(pixel_at(s, x0 + cw - 1, y0 + ch - 1), want);
        CHECK_INT_EQ(pixel_at(s, x0 - 1, y0 - 1), 0xffffff); /* padding */
    }
    /* the marker pixel is enlarged to a SCALE x SCALE block */
    int x1 = pad + cw + pad, y1 = pad;
    CHECK_INT_EQ(pixel_at(s, x1, y1), 77L << 16 | 128 << 8);
    CHECK_INT_EQ(pixel_at(s, x1 + SCALE - 1, y1 + SCALE - 1), 77L << 16 | 128 << 8);
    CHECK_INT_EQ(pixel_at(s, x1 + SCALE, y1), 128 << 8);
    /* captions: dark text pixels in the band under image 0, none under image 3 */
    long dark0 = 0, dark3 = 0;
    for (int yy = 0; yy < cap; yy++)
        for (int xx = 0; xx < cw; xx++) {
            long v0 = pixel_at(s, pad + xx, pad + ch + yy);
            long v3 = pixel_at(s, pad + xx, pad + (ch + cap + pad) + ch + yy);
            dark0 += v0 >= 0 && (v0 & 0xff) < 128;
            dark3 += v3 >= 0 && (v3 & 0xff) < 128;
        }
    CHECK(dark0 > 10);
    CHECK_INT_EQ(dark3, 0);
    cairo_surface_destroy(s);
    /* no captions: no band */
    REQUIRE(plot_image_grid_png(path, img, N, COLS, H, W, NULL, 1, &e) == 0);
    s = cairo_image_surface_create_from_png(path);
    REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
    CHECK_INT_EQ(cairo_image_surface_get_height(s), 2 * (H + pad) + pad);
    cairo_surface_destroy(s);
}

TEST(plot_errors_name_the_file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", test_tmpdir());
    uint8_t img[3 * 4] = {0};
    Err e = {{0}};
    CHECK(plot_image_grid_png(path, img, 1, 1, 2, 2, NULL, 2, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "no/such/dir");
    CHECK(!path_exists(path));
    CHECK(plot_image_grid_png("x.png", img, 0, 1, 2, 2, NULL, 2, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "x.png: bad image grid");
    CHECK(plot_image_grid_png("x.png", img, 1, 1, 2, 2, NULL, 20000, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "too large");
    CHECK(plot_panels_png("p.png", NULL, 0, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "p.png: 0 panels");
    PlotPanel bad = {.title = "t", .xlabel = "x", .ylabel = "y", .n_xticks = 3};
    CHECK(plot_panels_png("p.png", &bad, 1, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "n_xticks without labels");
    CHECK(!path_exists("x.png") && !path_exists("p.png"));
}
