/* test_augment.c - augmentations against keras-preprocessing/scipy (geometry)
 * and tf.image formulas (colour), on fixtures made by
 * tools/make_augment_fixtures.py; hand-computed pixels; spec grammar; the
 * random draws; thread-count independence of aug_batch. Pixels are compared
 * as floats in [0, 1]. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/augment.h"
#include "../src/cifar10.h"
#include "test.h"

enum { NPIX = 32 * 32 * 3 };

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN wins */
    }
    return m;
}

static uint8_t *load_inputs(void) {
    uint8_t *data;
    size_t len;
    Err e;
    if (file_read_all(test_fixture("augment/input4.u8"), &data, &len, &e)) return NULL;
    if (len != 4 * NPIX) {
        free(data);
        return NULL;
    }
    return data;
}

TEST(aug_geometry_matches_keras_scipy) {
    size_t np_, no;
    uint8_t *in = load_inputs();
    float *params = test_load_floats("augment/geom_params.f32", &np_);
    float *want = test_load_floats("augment/geom_out.f32", &no);
    REQUIRE(in && params && want);
    int cases = (int)(np_ / 5);
    REQUIRE(cases >= 8 && no == (size_t)cases * 4 * NPIX);
    float out[NPIX], worst = 0;
    for (int k = 0; k < cases; k++) {
        AugParams p;
        aug_params_identity(&p);
        p.rotation = params[k * 5 + 0];
        p.tx = params[k * 5 + 1];
        p.ty = params[k * 5 + 2];
        p.zx = params[k * 5 + 3];
        p.zy = params[k * 5 + 4];
        for (int i = 0; i < 4; i++) {
            aug_apply(&p, in + (size_t)i * NPIX, out, 32, 32);
            const float *w = want + ((size_t)k * 4 + i) * NPIX;
            CHECK_ARRAY_NEAR(out, w, NPIX, 0, 1e-4);
            float d = max_abs_diff(out, w, NPIX);
            if (d > worst) worst = d;
        }
    }
    if (getenv("AUG_VERBOSE")) printf("  geometry: max |C - scipy| = %.3g\n", (double)worst);
    free(in), free(params), free(want);
}

TEST(aug_colour_matches_tf_formulas) {
    size_t np_, no;
    uint8_t *in = load_inputs();
    float *params = test_load_floats("augment/colour_params.f32", &np_);
    float *want = test_load_floats("augment/colour_out.f32", &no);
    REQUIRE(in && params && want);
    int cases = (int)(np_ / 4);
    REQUIRE(cases >= 9 && no == (size_t)cases * 4 * NPIX);
    float out[NPIX], worst = 0;
    for (int k = 0; k < cases; k++) {
        AugParams p;
        aug_params_identity(&p);
        p.brightness = params[k * 4 + 0];
        p.contrast = params[k * 4 + 1];
        p.saturation = params[k * 4 + 2];
        p.hue = params[k * 4 + 3];
        for (int i = 0; i < 4; i++) {
            aug_apply(&p, in + (size_t)i * NPIX, out, 32, 32);
            const float *w = want + ((size_t)k * 4 + i) * NPIX;
            CHECK_ARRAY_NEAR(out, w, NPIX, 0, 1e-4);
            float d = max_abs_diff(out, w, NPIX);
            if (d > worst) worst = d;
        }
    }
    if (getenv("AUG_VERBOSE")) printf("  colour: max |C - numpy tf| = %.3g\n", (double)worst);
    free(in), free(params), free(want);
}

TEST(aug_blur_matches_scipy_gaussian_filter) {
    size_t np_, no;
    uint8_t *in = load_inputs();
    float *params = test_load_floats("augment/blur_params.f32", &np_);
    float *want = test_load_floats("augment/blur_out.f32", &no);
    REQUIRE(in && params && want);
    int cases = (int)np_;
    REQUIRE(cases >= 4 && no == (size_t)cases * 4 * NPIX);
    float out[NPIX], worst = 0;
    for (int k = 0; k < cases; k++) {
        AugParams p;
        aug_params_level(AUG_BLUR, params[k], &p);
        CHECK_NEAR(p.blur, params[k], 0);
        for (int i = 0; i < 4; i++) {
            aug_apply(&p, in + (size_t)i * NPIX, out, 32, 32);
            const float *w = want + ((size_t)k * 4 + i) * NPIX;
            CHECK_ARRAY_NEAR(out, w, NPIX, 0, 2e-6);
            float d = max_abs_diff(out, w, NPIX);
            if (d > worst) worst = d;
        }
    }
    /* the spec grammar knows it, and sigma 0 is the identity */
    AugSpec spec;
    Err e = {{0}};
    CHECK(aug_parse(&spec, "blur=0:2", &e) == 0);
    CHECK(aug_parse(&spec, "blur=5", &e) < 0);
    AugParams id;
    aug_params_level(AUG_BLUR, 0.0f, &id);
    aug_apply(&id, in, out, 32, 32);
    for (int j = 0; j < NPIX; j++) CHECK_NEAR(out[j], in[j] / 255.0f, 0);
    if (getenv("AUG_VERBOSE")) printf("  blur: max |C - scipy| = %.3g\n", (double)worst);
    free(in), free(params), free(want);
}

/* A 1 x 2 image: pure red and pure blue. */
static void two_pixels(const AugParams *p, float out[6]) {
    static const uint8_t in[6] = {255, 0, 0, 0, 0, 255};
    aug_apply(p, in, out, 1, 2);
}

TEST(aug_colour_hand_computed_pixels) {
    AugParams p;
    float o[6];
    /* brightness: x + delta, clipped */
    static const uint8_t grey[6] = {102, 102, 102, 230, 230, 230};
    aug_params_identity(&p);
    p.brightness = 0.25f;
    aug_apply(&p, grey, o, 1, 2);
    CHECK_NEAR(o[0], 0.4 + 0.25, 1e-6);
    CHECK_NEAR(o[3], 1.0, 0); /* 0.902 + 0.25 clipped */
    /* contrast 0.5: R mean 0.5 -> 0.75 and 0.25; B mean 0.5 -> 0.25, 0.75; G stays 0 */
    aug_params_identity(&p);
    p.contrast = 0.5f;
    two_pixels(&p, o);
    CHECK_NEAR(o[0], 0.75, 1e-6);
    CHECK_NEAR(o[3], 0.25, 1e-6);
    CHECK_NEAR(o[1], 0.0, 1e-6);
    CHECK_NEAR(o[2], 0.25, 1e-6);
    CHECK_NEAR(o[5], 0.75, 1e-6);
    /* saturation 0.5: red (h 0, s 1, v 1) -> s 0.5 -> (1, 0.5, 0.5) */
    aug_params_identity(&p);
    p.saturation = 0.5f;
    two_pixels(&p, o);
    CHECK_NEAR(o[0], 1.0, 1e-6);
    CHECK_NEAR(o[1], 0.5, 1e-6);
    CHECK_NEAR(o[2], 0.5, 1e-6);
    CHECK_NEAR(o[3], 0.5, 1e-6); /* blue -> (0.5, 0.5, 1) */
    CHECK_NEAR(o[5], 1.0, 1e-6);
    /* hue: red + 1/3 turn = green; blue (h 2/3) + 1/3 = red (wraps) */
    aug_params_identity(&p);
    p.hue = 1.0f / 3.0f;
    two_pixels(&p, o);
    CHECK_NEAR(o[0], 0.0, 1e-6);
    CHECK_NEAR(o[1], 1.0, 1e-6);
    CHECK_NEAR(o[2], 0.0, 1e-6);
    CHECK_NEAR(o[3], 1.0, 1e-5);
    CHECK_NEAR(o[4], 0.0, 1e-5);
    CHECK_NEAR(o[5], 0.0, 1e-5);
    /* hue -0.5 = +0.5: red -> cyan */
    p.hue = -0.5f;
    two_pixels(&p, o);
    CHECK_NEAR(o[0], 0.0, 1e-6);
    CHECK_NEAR(o[1], 1.0, 1e-6);
    CHECK_NEAR(o[2], 1.0, 1e-6);
}

TEST(aug_identity_is_exact_copy) {
    uint8_t *in = load_inputs();
    REQUIRE(in);
    float out[NPIX];
    AugParams p;
    aug_params_identity(&p);
    aug_apply(&p, in, out, 32, 32);
    int same = 1;
    for (int i = 0; i < NPIX; i++) same &= out[i] == in[i] / 255.0f;
    CHECK(same);
    /* Every family's neutral level is the identity too. */
    static const struct {
        AugKind k;
        float level;
    } neutral[] = {{AUG_ZOOM, 1}, {AUG_ASPECT, 1}, {AUG_BRIGHTNESS, 0}, {AUG_CONTRAST, 1},
                   {AUG_SATURATION, 1}, {AUG_HUE, 0}, {AUG_ROTATION, 0}, {AUG_TRANSLATION, 0},
                   {AUG_HFLIP, 0}};
    for (size_t j = 0; j < sizeof neutral / sizeof neutral[0]; j++) {
        aug_params_level(neutral[j].k, neutral[j].level, &p);
        aug_apply(&p, in + NPIX, out, 32, 32);
        int eq = 1;
        for (int i = 0; i < NPIX; i++) eq &= out[i] == in[NPIX + i] / 255.0f;
        if (!eq) test_fail(__FILE__, __LINE__, "%s at neutral level is not a copy",
                           aug_kind_name(neutral[j].k));
    }
    /* The sampling path with a negligible shift is a copy to float precision. */
    aug_params_identity(&p);
    p.tx = 1e-9f;
    aug_apply(&p, in, out, 32, 32);
    for (int i = 0; i < NPIX; i++) same &= fabsf(out[i] - in[i] / 255.0f) < 1e-6f;
    CHECK(same);
    free(in);
}

TEST(aug_rotation_90_is_a_permutation) {
    uint8_t *in = load_inputs();
    REQUIRE(in);
    float out[NPIX];
    AugParams p;
    aug_params_level(AUG_ROTATION, 90, &p);
    aug_apply(&p, in, out, 32, 32);
    /* input = c + R(o - c): row_in = 31 - col, col_in = row */
    float worst = 0;
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 32; c++)
            for (int k = 0; k < 3; k++) {
                float want = in[((31 - c) * 32 + r) * 3 + k] / 255.0f;
                float d = fabsf(out[(r * 32 + c) * 3 + k] - want);
                if (d > worst) worst = d;
            }
    CHECK(worst < 1e-5f);
    free(in);
}

TEST(aug_flips_mirror_after_the_affine) {
    uint8_t *in = load_inputs();
    REQUIRE(in);
    float base[NPIX], out[NPIX];
    AugParams p;
    aug_params_identity(&p);
    p.zx = 0.6f, p.zy = 0.9f;
    aug_apply(&p, in, base, 32, 32);
    p.hflip = 1;
    aug_apply(&p, in, out, 32, 32);
    int ok = 1;
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 32; c++)
            for (int k = 0; k < 3; k++) ok &= out[(r * 32 + c) * 3 + k] == base[(r * 32 + 31 - c) * 3 + k];
    CHECK(ok);
    p.hflip = 0, p.vflip = 1;
    aug_apply(&p, in, out, 32, 32);
    ok = 1;
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 32; c++)
            for (int k = 0; k < 3; k++) ok &= out[(r * 32 + c) * 3 + k] == base[((31 - r) * 32 + c) * 3 + k];
    CHECK(ok);
    p.hflip = 1;
    aug_apply(&p, in, out, 32, 32);
    ok = 1;
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 32; c++)
            for (int k = 0; k < 3; k++)
                ok &= out[(r * 32 + c) * 3 + k] == base[((31 - r) * 32 + 31 - c) * 3 + k];
    CHECK(ok);
    free(in);
}

static int same_spec(const AugSpec *a, const AugSpec *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->items[i].kind != b->items[i].kind || a->items[i].lo != b->items[i].lo ||
            a->items[i].hi != b->items[i].hi)
            return 0;
    return 1;
}

TEST(aug_parse_and_format_round_trip) {
    static const struct {
        const char *text, *canonical;
    } cases[] = {
        {"hflip,vflip,zoom=0.5:1.0", "hflip,vflip,zoom=0.5:1"},
        {"zoom=0.7", "zoom=0.7"},
        {"brightness=-0.2:0.2", "brightness=-0.2:0.2"},
        {"hflip=0.3", "hflip=0.3"},
        {" hflip , zoom = 0.5 : 0.9 ", "hflip,zoom=0.5:0.9"},
        {"none", "none"},
        {"", "none"},
        {"aspect=0.6:1,contrast=0.2,saturation=0:1,hue=-0.1:0.4,rotation=-20:20,translation=0.1",
         "aspect=0.6:1,contrast=0.2,saturation=0:1,hue=-0.1:0.4,rotation=-20:20,translation=0.1"},
        {"zoom=0.123456789", "zoom=0.12345679"}, {"rotation=-360:1e-5", "rotation=-360:1e-05"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        AugSpec a, b;
        Err e = {{0}};
        char buf[512];
        if (aug_parse(&a, cases[i].text, &e)) {
            test_fail(__FILE__, __LINE__, "'%s' rejected: %s", cases[i].text, e.msg);
            continue;
        }
        aug_format(&a, buf, sizeof buf);
        if (strcmp(buf, cases[i].canonical))
            test_fail(__FILE__, __LINE__, "'%s' formats as '%s', want '%s'", cases[i].text, buf,
                      cases[i].canonical);
        CHECK(aug_parse(&b, buf, &e) == 0);
        CHECK(same_spec(&a, &b));
    }
    AugSpec s;
    Err e;
    REQUIRE(aug_parse(&s, "hflip,vflip,zoom=0.5:1.0", &e) == 0);
    CHECK_INT_EQ(s.n, 3);
    CHECK_INT_EQ(s.items[0].kind, AUG_HFLIP);
    CHECK_NEAR(s.items[0].lo, 0.5, 0);
    CHECK_INT_EQ(s.items[2].kind, AUG_ZOOM);
    CHECK_NEAR(s.items[2].lo, 0.5, 0);
    CHECK_NEAR(s.items[2].hi, 1.0, 0);
    for (int k = 0; k < AUG_KINDS; k++) CHECK_INT_EQ(aug_kind_from_name(aug_kind_name(k)), k);
    CHECK_INT_EQ(aug_kind_from_name("sharpen"), -1);
}

TEST(aug_parse_rejects_bad_specs_naming_the_item) {
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"sharpen", "unknown augmentation 'sharpen'"},
        {"hflip,sharpen=2", "item 'sharpen=2'"},
        {"zoom=abc", "'abc' is not a number"},
        {"zoom=0.5:", "'' is not a number"},
        {"zoom=0.5:0.9x", "'0.9x' is not a number"},
        {"zoom=nan", "'nan' is not a number"},
        {"zoom=0.9:0.5", "low > high"},
        {"zoom=20", "within [0.1, 10]"},
        {"zoom=0", "within [0.1, 10]"},
        {"hflip=1.5", "within [0, 1]"},
        {"hue=-2:0", "within [-1, 1]"},
        {"hflip,hflip", "hflip given twice"},
        {"zoom=0.5,vflip,zoom=0.7", "item 'zoom=0.7': zoom given twice"},
        {"zoom", "zoom needs a value"},
        {"hflip=0.3:0.5", "not a range"},
        {"hflip,,vflip", "empty item"},
        {"hflip,", "empty item"},
        {"none,hflip", "'none' cannot be combined"},
        {"hflip,vflip,hflip,vflip,hflip,vflip,hflip,vflip,hflip,vflip,hflip,vflip,hflip,vflip,"
         "hflip,vflip,hflip",
         "too many items (17 > 16)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        AugSpec s;
        Err e = {{0}};
        if (aug_parse(&s, bad[i].text, &e) == 0) {
            test_fail(__FILE__, __LINE__, "'%s' accepted", bad[i].text);
            continue;
        }
        CHECK_STR_CONTAINS(e.msg, bad[i].want);
        CHECK(strchr(e.msg, '\n') == NULL);
        CHECK_INT_EQ(s.n, 0);
    }
}

TEST(aug_draw_follows_keras_distributions) {
    AugSpec s;
    Err e;
    REQUIRE(aug_parse(&s, "hflip=0.3,vflip,zoom=0.5:1.0", &e) == 0);
    int n = 20000, hf = 0, vf = 0, differ = 0;
    double szx = 0, szy = 0, sxy = 0, szx2 = 0;
    float lo = 2, hi = 0;
    for (int i = 0; i < n; i++) {
        Rng r = rng_stream(5, rng_mix(RNG_TAG_AUGMENT, (uint64_t)i));
        AugParams p;
        aug_draw(&s, &r, &p);
        hf += p.hflip, vf += p.vflip;
        differ += p.zx != p.zy;
        szx += p.zx, szy += p.zy, sxy += (double)p.zx * p.zy, szx2 += (double)p.zx * p.zx;
        lo = fminf(lo, fminf(p.zx, p.zy)), hi = fmaxf(hi, fmaxf(p.zx, p.zy));
        CHECK(p.rotation == 0 && p.brightness == 0 && p.contrast == 1);
    }
    CHECK_NEAR(hf / (double)n, 0.3, 0.015);
    CHECK_NEAR(vf / (double)n, 0.5, 0.015);
    CHECK(differ > n - 10); /* zx, zy independent */
    CHECK(lo >= 0.5f && hi < 1.0f);
    CHECK_NEAR(szx / n, 0.75, 0.005);
    CHECK_NEAR(szy / n, 0.75, 0.005);
    double cov = sxy / n - (szx / n) * (szy / n), var = szx2 / n - (szx / n) * (szx / n);
    CHECK_NEAR(cov / var, 0.0, 0.03); /* correlation */
    CHECK_NEAR(var, 0.25 / 12, 0.001);
    /* Fixed values draw nothing random. */
    REQUIRE(aug_parse(&s, "zoom=0.7,aspect=0.8,translation=0.1", &e) == 0);
    Rng r = rng_stream(1, 2);
    AugParams p;
    aug_draw(&s, &r, &p);
    CHECK_NEAR(p.zx, 0.7 * 0.8, 1e-6);
    CHECK_NEAR(p.zy, 0.7 / 0.8, 1e-6);
    CHECK_NEAR(p.tx, 0.1, 1e-7);
    CHECK_NEAR(p.ty, 0.1, 1e-7);
}

TEST(aug_levels_and_level_params) {
    float lv[16];
    CHECK_INT_EQ(aug_default_levels(AUG_ZOOM, lv), 5);
    for (int i = 0; i < 5; i++) CHECK_NEAR(lv[i], 0.5 + 0.1 * i, 1e-6);
    for (int k = 0; k < AUG_KINDS; k++) {
        int n = aug_default_levels(k, lv);
        CHECK(n >= 2 && n <= 16);
        float lo, hi;
        aug_valid_range(k, &lo, &hi);
        for (int i = 0; i < n; i++) {
            CHECK(lv[i] >= lo && lv[i] <= hi);
            if (i) CHECK(lv[i] > lv[i - 1]);
        }
    }
    AugParams p;
    aug_params_level(AUG_ZOOM, 0.7f, &p);
    CHECK(p.zx == 0.7f && p.zy == 0.7f && !p.hflip && !p.vflip);
    aug_params_level(AUG_ASPECT, 0.8f, &p);
    CHECK(p.zx == 0.8f);
    CHECK_NEAR(p.zy, 1.25, 1e-6);
    aug_params_level(AUG_HUE, 0.2f, &p);
    CHECK(p.hue == 0.2f && p.zx == 1.0f && p.saturation == 1.0f);
    aug_params_level(AUG_TRANSLATION, 0.1f, &p);
    CHECK(p.tx == 0.1f && p.ty == 0.1f);
    aug_params_level(AUG_HFLIP, 1, &p);
    CHECK(p.hflip == 1 && p.vflip == 0);
}

TEST(aug_batch_is_independent_of_thread_count) {
    uint8_t *in = load_inputs();
    REQUIRE(in);
    uint8_t labels[4] = {0, 1, 2, 3};
    ImageSet set = {4, in, labels};
    int idx[8] = {3, 1, 0, 2, 2, 1, 3, 0};
    AugSpec s;
    Err e;
    REQUIRE(aug_parse(&s, "hflip,vflip,zoom=0.5:1.0,rotation=-10:10,hue=-0.1:0.1", &e) == 0);
    float *a = xalloc_floats(8 * NPIX), *b = xalloc_floats(8 * NPIX), *c = xalloc_floats(NPIX);
    aug_batch(&s, &set, idx, 8, 7, 99, a, 1);
    aug_batch(&s, &set, idx, 8, 7, 99, b, 2);
    CHECK(memcmp(a, b, sizeof(float) * 8 * NPIX) == 0);
    /* image i is aug_draw on its own stream, then aug_apply */
    for (int i = 0; i < 8; i++) {
        Rng r = rng_stream(7, rng_mix(99, (uint64_t)idx[i]));
        AugParams p;
        aug_draw(&s, &r, &p);
        aug_apply(&p, in + (size_t)idx[i] * NPIX, c, 32, 32);
        CHECK(memcmp(c, a + (size_t)i * NPIX, sizeof(float) * NPIX) == 0);
    }
    /* same index twice in a batch: same augmentation; other stream: different */
    CHECK(memcmp(a + 3 * NPIX, a + 4 * NPIX, sizeof(float) * NPIX) == 0);
    aug_batch(&s, &set, idx, 8, 7, 100, b, 2);
    CHECK(memcmp(a, b, sizeof(float) * NPIX) != 0);
    /* no spec: plain conversion */
    aug_batch(NULL, &set, idx, 2, 7, 99, b, 2);
    int plain = 1;
    for (int i = 0; i < NPIX; i++) plain &= b[i] == in[3 * NPIX + i] / 255.0f;
    CHECK(plain);
    free(a), free(b), free(c), free(in);
}
