/* augment.c - the augmentations (Keras geometry, tf.image colour ops), their
 * spec grammar and their per-image random parameters. See augment.h for the
 * exact formulas and conventions. */
#include "augment.h"

#include "cifar10.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KIND_NAMES[AUG_KINDS] = {
    "hflip", "vflip",      "zoom", "aspect",   "brightness",
    "contrast", "saturation", "hue", "rotation", "translation", "blur",
};

const char *aug_kind_name(AugKind kind) {
    return (unsigned)kind < AUG_KINDS ? KIND_NAMES[kind] : "?";
}

int aug_kind_from_name(const char *name) {
    for (int k = 0; k < AUG_KINDS; k++)
        if (!strcmp(name, KIND_NAMES[k])) return k;
    return -1;
}

static int is_flip(AugKind k) { return k == AUG_HFLIP || k == AUG_VFLIP; }

void aug_valid_range(AugKind kind, float *lo, float *hi) {
    switch (kind) {
    case AUG_HFLIP:
    case AUG_VFLIP: *lo = 0.0f, *hi = 1.0f; break;
    case AUG_ZOOM:
    case AUG_ASPECT: *lo = 0.1f, *hi = 10.0f; break;
    case AUG_BRIGHTNESS: *lo = -1.0f, *hi = 1.0f; break;
    case AUG_CONTRAST:
    case AUG_SATURATION: *lo = 0.0f, *hi = 10.0f; break;
    case AUG_HUE: *lo = -1.0f, *hi = 1.0f; break;
    case AUG_ROTATION: *lo = -360.0f, *hi = 360.0f; break;
    case AUG_TRANSLATION: *lo = -1.0f, *hi = 1.0f; break;
    case AUG_BLUR: *lo = 0.0f, *hi = 4.0f; break;
    default: *lo = *hi = 0.0f; break;
    }
}

/* A family's levels: n of them, ascending (augment.h lists them and why). */
typedef struct Levels {
    int n;
    float v[7];
} Levels;

/* `augprobe probe`'s defaults (zoom: the notebook's), indexed by AugKind. */
static const Levels DEFAULT_LEVELS[AUG_KINDS] = {
    [AUG_HFLIP] = {2, {0.0f, 1.0f}},
    [AUG_VFLIP] = {2, {0.0f, 1.0f}},
    [AUG_ZOOM] = {5, {0.5f, 0.6f, 0.7f, 0.8f, 0.9f}},
    [AUG_ASPECT] = {5, {0.6f, 0.7f, 0.8f, 0.9f, 1.0f}},
    [AUG_BRIGHTNESS] = {5, {0.0f, 0.1f, 0.2f, 0.3f, 0.4f}},
    [AUG_CONTRAST] = {5, {0.2f, 0.4f, 0.6f, 0.8f, 1.0f}},
    [AUG_SATURATION] = {5, {0.0f, 0.25f, 0.5f, 0.75f, 1.0f}},
    [AUG_HUE] = {5, {0.0f, 0.1f, 0.2f, 0.3f, 0.4f}},
    [AUG_ROTATION] = {5, {0.0f, 10.0f, 20.0f, 30.0f, 40.0f}},
    [AUG_TRANSLATION] = {5, {0.0f, 0.05f, 0.1f, 0.15f, 0.2f}},
    [AUG_BLUR] = {5, {0.0f, 0.5f, 1.0f, 1.5f, 2.0f}},
};

/* The study's finer ladders; n 0: the family's defaults. */
static const Levels LADDER_LEVELS[AUG_KINDS] = {
    [AUG_ZOOM] = {7, {0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 0.95f, 1.0f}},
    [AUG_ASPECT] = {7, {0.6f, 0.7f, 0.8f, 0.85f, 0.9f, 0.95f, 1.0f}},
    [AUG_BRIGHTNESS] = {7, {0.0f, 0.01f, 0.02f, 0.05f, 0.1f, 0.2f, 0.4f}},
    [AUG_CONTRAST] = {7, {0.2f, 0.4f, 0.6f, 0.8f, 0.9f, 0.95f, 1.0f}},
    [AUG_SATURATION] = {7, {0.0f, 0.25f, 0.5f, 0.75f, 0.9f, 0.95f, 1.0f}},
    [AUG_HUE] = {7, {0.0f, 0.01f, 0.02f, 0.05f, 0.1f, 0.2f, 0.4f}},
    [AUG_BLUR] = {7, {0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.5f, 2.0f}},
};

static int copy_levels(const Levels *l, float *levels) {
    memcpy(levels, l->v, (size_t)l->n * sizeof *levels);
    return l->n;
}

int aug_default_levels(AugKind kind, float *levels) {
    return (unsigned)kind < AUG_KINDS ? copy_levels(&DEFAULT_LEVELS[kind], levels) : 0;
}

float aug_identity_level(AugKind kind) {
    return kind == AUG_ZOOM || kind == AUG_ASPECT || kind == AUG_CONTRAST ||
                   kind == AUG_SATURATION
               ? 1.0f
               : 0.0f;
}

int aug_ladder_levels(AugKind kind, float *levels) {
    if ((unsigned)kind < AUG_KINDS && LADDER_LEVELS[kind].n)
        return copy_levels(&LADDER_LEVELS[kind], levels);
    return aug_default_levels(kind, levels);
}

/* ---- spec grammar ---- */

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

/* A whole-string finite number, or -1. */
static int parse_number(const char *s, float *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return -1;
    *out = (float)v;
    return 0;
}

/* One item "NAME", "NAME=V" or "NAME=LO:HI" (item is modified). */
static int parse_item(char *item, AugItem *out, const AugSpec *so_far, Err *e) {
    char shown[128];
    snprintf(shown, sizeof shown, "%s", item);
    char *value = strchr(item, '=');
    if (value) *value++ = 0;
    char *name = trim(item);
    int kind = aug_kind_from_name(name);
    if (kind < 0) {
        char known[256] = "";
        for (int k = 0; k < AUG_KINDS; k++) {
            strcat(known, k ? ", " : "");
            strcat(known, KIND_NAMES[k]);
        }
        return err_set(e, "aug spec item '%s': unknown augmentation '%s' (known: %s)", shown,
                       name, known);
    }
    for (int i = 0; i < so_far->n; i++)
        if ((int)so_far->items[i].kind == kind)
            return err_set(e, "aug spec item '%s': %s given twice", shown, name);
    out->kind = (AugKind)kind;
    float vlo, vhi;
    aug_valid_range(out->kind, &vlo, &vhi);
    if (!value) {
        if (!is_flip(out->kind))
            return err_set(e, "aug spec item '%s': %s needs a value (%s=V or %s=LO:HI)", shown,
                           name, name, name);
        out->lo = out->hi = 0.5f;
        return 0;
    }
    char *colon = strchr(value, ':');
    if (colon) {
        if (is_flip(out->kind))
            return err_set(e, "aug spec item '%s': %s takes one probability, not a range", shown,
                           name);
        *colon = 0;
        char *a = trim(value), *b = trim(colon + 1);
        if (parse_number(a, &out->lo))
            return err_set(e, "aug spec item '%s': '%s' is not a number", shown, a);
        if (parse_number(b, &out->hi))
            return err_set(e, "aug spec item '%s': '%s' is not a number", shown, b);
        if (out->lo > out->hi)
            return err_set(e, "aug spec item '%s': range %g:%g has low > high", shown,
                           (double)out->lo, (double)out->hi);
    } else {
        char *a = trim(value);
        if (parse_number(a, &out->lo))
            return err_set(e, "aug spec item '%s': '%s' is not a number", shown, a);
        out->hi = out->lo;
    }
    if (out->lo < vlo || out->hi > vhi)
        return err_set(e, "aug spec item '%s': %s must be within [%g, %g]", shown, name,
                       (double)vlo, (double)vhi);
    return 0;
}

int aug_parse(AugSpec *spec, const char *text, Err *e) {
    memset(spec, 0, sizeof *spec);
    if (!text) return 0;
    char *copy = xstrdup(text);
    char *s = trim(copy);
    if (!*s || !strcmp(s, "none")) {
        free(copy);
        return 0;
    }
    int items = 1;
    for (const char *p = s; *p; p++) items += *p == ',';
    if (items > AUG_MAX_ITEMS) {
        err_set(e, "aug spec '%s': too many items (%d > %d)", text, items, AUG_MAX_ITEMS);
        free(copy);
        return -1;
    }
    int rc = 0;
    char *item = s;
    while (item) {
        char *comma = strchr(item, ',');
        if (comma) *comma = 0;
        char *t = trim(item);
        if (!*t) {
            rc = err_set(e, "aug spec '%s': empty item", text);
            break;
        }
        if (!strcmp(t, "none")) {
            rc = err_set(e, "aug spec '%s': 'none' cannot be combined with other items", text);
            break;
        }
        if (parse_item(t, &spec->items[spec->n], spec, e)) {
            rc = -1;
            break;
        }
        spec->n++;
        item = comma ? comma + 1 : NULL;
    }
    free(copy);
    if (rc) memset(spec, 0, sizeof *spec);
    return rc;
}

void aug_format(const AugSpec *spec, char *buf, size_t len) {
    if (!len) return;
    buf[0] = 0;
    if (!spec || spec->n == 0) {
        snprintf(buf, len, "none");
        return;
    }
    size_t used = 0;
    for (int i = 0; i < spec->n && used < len; i++) {
        const AugItem *it = &spec->items[i];
        char a[32], b[32], item[96];
        float_text(a, sizeof a, it->lo, 1);
        float_text(b, sizeof b, it->hi, 1);
        const char *name = aug_kind_name(it->kind);
        if (is_flip(it->kind) && it->lo == 0.5f)
            snprintf(item, sizeof item, "%s", name);
        else if (it->lo == it->hi)
            snprintf(item, sizeof item, "%s=%s", name, a);
        else
            snprintf(item, sizeof item, "%s=%s:%s", name, a, b);
        int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", item);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* ---- parameters ---- */

void aug_params_identity(AugParams *p) {
    memset(p, 0, sizeof *p);
    p->zx = p->zy = 1.0f;
    p->contrast = 1.0f;
    p->saturation = 1.0f;
}

static float draw(const AugItem *it, Rng *rng) {
    return it->lo == it->hi ? it->lo : rng_uniform(rng, it->lo, it->hi);
}

void aug_draw(const AugSpec *spec, Rng *rng, AugParams *p) {
    aug_params_identity(p);
    if (!spec) return;
    for (int i = 0; i < spec->n; i++) {
        const AugItem *it = &spec->items[i];
        switch (it->kind) {
        case AUG_HFLIP: p->hflip = rng_float(rng) < it->lo; break;
        case AUG_VFLIP: p->vflip = rng_float(rng) < it->lo; break;
        case AUG_ZOOM: { /* Keras: zx, zy = np.random.uniform(lo, hi, 2) */
            float zx = draw(it, rng);
            float zy = draw(it, rng);
            p->zx *= zx, p->zy *= zy;
            break;
        }
        case AUG_ASPECT: {
            float s = draw(it, rng);
            p->zx *= s, p->zy /= s;
            break;
        }
        case AUG_BRIGHTNESS: p->brightness = draw(it, rng); break;
        case AUG_CONTRAST: p->contrast = draw(it, rng); break;
        case AUG_SATURATION: p->saturation = draw(it, rng); break;
        case AUG_HUE: p->hue = draw(it, rng); break;
        case AUG_ROTATION: p->rotation = draw(it, rng); break;
        case AUG_TRANSLATION:
            p->tx = draw(it, rng);
            p->ty = draw(it, rng);
            break;
        case AUG_BLUR: p->blur = draw(it, rng); break;
        default: break;
        }
    }
}

void aug_params_level(AugKind kind, float level, AugParams *p) {
    aug_params_identity(p);
    switch (kind) {
    case AUG_HFLIP: p->hflip = level >= 0.5f; break;
    case AUG_VFLIP: p->vflip = level >= 0.5f; break;
    case AUG_ZOOM: p->zx = p->zy = level; break;
    case AUG_ASPECT: p->zx = level, p->zy = 1.0f / level; break;
    case AUG_BRIGHTNESS: p->brightness = level; break;
    case AUG_CONTRAST: p->contrast = level; break;
    case AUG_SATURATION: p->saturation = level; break;
    case AUG_HUE: p->hue = level; break;
    case AUG_ROTATION: p->rotation = level; break;
    case AUG_TRANSLATION: p->tx = p->ty = level; break;
    case AUG_BLUR: p->blur = level; break;
    default: break;
    }
}

/* ---- geometry ---- */

/* Writes the transformed image as floats in [0, 1]. The input is first
 * converted to floats (x / 255) once, so each tap is a plain float load. The
 * per-pixel arithmetic is augment_math.h's, shared with the GPU path. */
static void geometry(const AugParams *p, const uint8_t *in8, float *out, int h, int w) {
    size_t n = (size_t)h * w * 3;
    float *in = xmalloc(sizeof(float) * n + sizeof(AugTap) * (size_t)(h + w));
    AugTap *rows = (AugTap *)(in + n), *cols = rows + h;
    for (size_t i = 0; i < n; i++) in[i] = in8[i] / 255.0f;
    if (p->rotation == 0.0f) {
        /* Separable: the input row depends on the output row only, and the
         * input column on the output column: two small tap tables. */
        double sr, sc;
        for (int r = 0; r < h; r++) {
            aug_source(p, h, w, r, 0, &sr, &sc);
            rows[r] = aug_make_tap(sr, h);
        }
        for (int c = 0; c < w; c++) {
            aug_source(p, h, w, 0, c, &sr, &sc);
            cols[c] = aug_make_tap(sc, w);
        }
        for (int r = 0; r < h; r++) {
            const float *top = in + (size_t)rows[r].i0 * w * 3, *bot = in + (size_t)rows[r].i1 * w * 3;
            float wr = rows[r].w1;
            float *o = out + (size_t)r * w * 3;
            for (int c = 0; c < w; c++) {
                int a = cols[c].i0 * 3, b = cols[c].i1 * 3;
                for (int k = 0; k < 3; k++)
                    o[c * 3 + k] = aug_blend(top[a + k], top[b + k], bot[a + k], bot[b + k], wr,
                                             cols[c].w1);
            }
        }
    } else {
        for (int r = 0; r < h; r++)
            for (int c = 0; c < w; c++) {
                double sr, sc;
                aug_source(p, h, w, r, c, &sr, &sc);
                AugTap tr = aug_make_tap(sr, h), tc = aug_make_tap(sc, w);
                const float *p00 = in + ((size_t)tr.i0 * w + tc.i0) * 3;
                const float *p01 = in + ((size_t)tr.i0 * w + tc.i1) * 3;
                const float *p10 = in + ((size_t)tr.i1 * w + tc.i0) * 3;
                const float *p11 = in + ((size_t)tr.i1 * w + tc.i1) * 3;
                for (int k = 0; k < 3; k++)
                    out[((size_t)r * w + c) * 3 + k] =
                        aug_blend(p00[k], p01[k], p10[k], p11[k], tr.w1, tc.w1);
            }
    }
    free(in);
}

/* ---- colour (tf.image formulas) ---- */

static void colour(const AugParams *p, float *x, int npix) {
    size_t n = (size_t)npix * 3;
    if (p->brightness != 0.0f)
        for (size_t i = 0; i < n; i++) x[i] = aug_clip01(x[i] + p->brightness);
    if (p->contrast != 1.0f) {
        double sum[3] = {0, 0, 0};
        for (int i = 0; i < npix; i++)
            for (int k = 0; k < 3; k++) sum[k] += x[(size_t)i * 3 + k];
        float mean[3];
        for (int k = 0; k < 3; k++) mean[k] = (float)(sum[k] / npix);
        for (int i = 0; i < npix; i++)
            for (int k = 0; k < 3; k++) {
                float *v = &x[(size_t)i * 3 + k];
                *v = aug_clip01((*v - mean[k]) * p->contrast + mean[k]);
            }
    }
    if (p->saturation != 1.0f || p->hue != 0.0f)
        for (int i = 0; i < npix; i++) aug_pixel_hsv(p, &x[(size_t)i * 3]);
}

/* ---- blur (scipy.ndimage.gaussian_filter, sigma (s, s, 0), truncate 3,
 * mode 'nearest'; augment.h) ---- */

/* One pass of the separable kernel k[2 radius + 1] along the rows (axis 0)
 * or the columns (axis 1) of an h x w x 3 image; edge pixels repeat. */
static void blur_axis(const float *src, float *dst, int h, int w, const float *k, int radius,
                      int axis) {
    const int n = axis ? w : h;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++)
            for (int ch = 0; ch < 3; ch++) {
                int at = axis ? c : r;
                float s = 0;
                for (int i = -radius; i <= radius; i++) {
                    int j = at + i < 0 ? 0 : at + i >= n ? n - 1 : at + i;
                    size_t px = axis ? (size_t)r * w + j : (size_t)j * w + c;
                    s += k[i + radius] * src[px * 3 + ch];
                }
                dst[((size_t)r * w + c) * 3 + ch] = s;
            }
}

static void blur(float sigma, float *x, int h, int w) {
    if (!(sigma > 0.0f)) return;
    int radius = (int)(3.0 * sigma + 0.5);
    if (radius < 1) return;
    double wsum = 0;
    float *k = xmalloc(sizeof(float) * (size_t)(2 * radius + 1));
    double *kd = xmalloc(sizeof(double) * (size_t)(2 * radius + 1));
    for (int i = -radius; i <= radius; i++) wsum += kd[i + radius] = exp(-0.5 * i * i / ((double)sigma * sigma));
    for (int i = 0; i <= 2 * radius; i++) k[i] = (float)(kd[i] / wsum);
    float *tmp = xmalloc(sizeof(float) * (size_t)h * w * 3);
    blur_axis(x, tmp, h, w, k, radius, 0); /* rows (along the first axis) */
    blur_axis(tmp, x, h, w, k, radius, 1); /* then columns */
    free(tmp);
    free(k);
    free(kd);
}

/* ---- flips (after the affine, as Keras) ---- */

static void flips(const AugParams *p, float *x, int h, int w) {
    if (p->hflip)
        for (int r = 0; r < h; r++)
            for (int a = 0, b = w - 1; a < b; a++, b--)
                for (int k = 0; k < 3; k++) {
                    float *pa = &x[((size_t)r * w + a) * 3 + k], *pb = &x[((size_t)r * w + b) * 3 + k];
                    float t = *pa;
                    *pa = *pb, *pb = t;
                }
    if (p->vflip)
        for (int a = 0, b = h - 1; a < b; a++, b--)
            for (size_t j = 0; j < (size_t)w * 3; j++) {
                float *pa = &x[(size_t)a * w * 3 + j], *pb = &x[(size_t)b * w * 3 + j];
                float t = *pa;
                *pa = *pb, *pb = t;
            }
}

void aug_apply(const AugParams *p, const uint8_t *in, float *out, int h, int w) {
    size_t n = (size_t)h * w * 3;
    if (aug_is_identity_geometry(p))
        for (size_t i = 0; i < n; i++) out[i] = in[i] / 255.0f;
    else
        geometry(p, in, out, h, w);
    blur(p->blur, out, h, w);
    colour(p, out, h * w);
    flips(p, out, h, w);
}

void aug_draw_batch(const AugSpec *spec, const int *idx, int n, uint64_t seed, uint64_t stream,
                    AugParams *out) {
    int plain = !spec || spec->n == 0;
    for (int i = 0; i < n; i++) {
        if (plain) {
            aug_params_identity(&out[i]);
        } else {
            Rng rng = rng_stream(seed, rng_mix(stream, (uint64_t)idx[i]));
            aug_draw(spec, &rng, &out[i]);
        }
    }
}

void aug_batch(const AugSpec *spec, const ImageSet *set, const int *idx, int n, uint64_t seed,
               uint64_t stream, float *out, int threads) {
    AugParams *p = xmalloc(sizeof(AugParams) * (size_t)(n > 0 ? n : 1));
    aug_draw_batch(spec, idx, n, seed, stream, p);
    aug_apply_batch(p, set, idx, n, out, threads);
    free(p);
}

void aug_apply_batch(const AugParams *params, const ImageSet *set, const int *idx, int n,
                     float *out, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n > 1)
    for (int i = 0; i < n; i++)
        aug_apply(&params[i], set->images + (size_t)idx[i] * CIFAR_PIXELS,
                  out + (size_t)i * CIFAR_PIXELS, CIFAR_H, CIFAR_W);
}
