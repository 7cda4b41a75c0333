/* augment_math.h - the per-pixel arithmetic of the augmentations (augment.h
 * has the formulas): bilinear taps with 'nearest' fill, tf.image's HSV
 * conversions, the clip. Shared, as the same source, by the CPU path
 * (src/augment.c) and the GPU path (src/device/gpu_ops.h, compiled by nvcc too), so
 * the GPU augments exactly as the tested CPU code does. Self-contained C that
 * is also valid CUDA C++. */
#ifndef AUGPROBE_AUGMENT_MATH_H
#define AUGPROBE_AUGMENT_MATH_H

#include <math.h>

#ifdef __CUDACC__
#define AUG_HD __host__ __device__ static inline
#else
#define AUG_HD static inline
#endif

/* The drawn parameters of one image; identity when made by aug_params_identity. */
typedef struct AugParams {
    int hflip, vflip;
    float zx, zy;       /* zoom of rows, of columns; 1 = identity */
    float brightness;   /* 0 */
    float contrast;     /* 1 */
    float saturation;   /* 1 */
    float hue;          /* 0 */
    float rotation;     /* degrees, 0 */
    float tx, ty;       /* shift of rows (fraction of height), of columns
                           (fraction of width); 0 */
    float blur;         /* Gaussian blur sigma in pixels, 0 (CPU only: no device op) */
} AugParams;

/* One axis of a bilinear sample: indices i0, i1 and the weight of i1. */
typedef struct AugTap {
    int i0, i1;
    float w1;
} AugTap;

/* Coordinate x (pixels) on an axis of n pixels, clamped to the edge:
 * scipy's mode='nearest'. */
AUG_HD AugTap aug_make_tap(double x, int n) {
    AugTap t;
    if (!(x > 0)) x = 0; /* also catches NaN */
    if (x > n - 1) x = n - 1;
    int i = (int)x; /* floor: x >= 0 */
    if (i >= n - 1) {
        t.i0 = t.i1 = n - 1;
        t.w1 = 0.0f;
    } else {
        t.i0 = i;
        t.i1 = i + 1;
        t.w1 = (float)(x - i);
    }
    return t;
}

/* The affine map of output pixel (r, c) to the input coordinates (*sr, *sc):
 * input = centre + R(theta) (Z (o - centre) + t), as augment.h says. The
 * separable form without rotation gives the same doubles (the rotation
 * terms are exact zeros). */
AUG_HD void aug_source(const AugParams *p, int h, int w, int r, int c, double *sr, double *sc) {
    const double pi = 3.14159265358979323846;
    double cr = h / 2.0 - 0.5, cc = w / 2.0 - 0.5;
    double tr = (double)p->tx * h, tc = (double)p->ty * w;
    double zx = p->zx, zy = p->zy;
    double dr = r - cr, dc = c - cc;
    if (p->rotation == 0.0f) {
        *sr = cr + zx * dr + tr;
        *sc = cc + zy * dc + tc;
        return;
    }
    double th = (double)p->rotation * (pi / 180.0);
    double cs = cos(th), sn = sin(th);
    double a00 = cs * zx, a01 = -sn * zy, a10 = sn * zx, a11 = cs * zy;
    double b0 = cs * tr - sn * tc, b1 = sn * tr + cs * tc;
    *sr = cr + a00 * dr + a01 * dc + b0;
    *sc = cc + a10 * dr + a11 * dc + b1;
}

/* Bilinear blend of the four taps' values (one channel). */
AUG_HD float aug_blend(float p00, float p01, float p10, float p11, float wr, float wc) {
    float top = (1.0f - wc) * p00 + wc * p01;
    float bot = (1.0f - wc) * p10 + wc * p11;
    return (1.0f - wr) * top + wr * bot;
}

AUG_HD int aug_is_identity_geometry(const AugParams *p) {
    return p->zx == 1.0f && p->zy == 1.0f && p->rotation == 0.0f && p->tx == 0.0f &&
           p->ty == 0.0f;
}

AUG_HD float aug_clip01(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }

/* tf.image.rgb_to_hsv (the CPU kernel): h, s, v in [0, 1]. */
AUG_HD void aug_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v) {
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b));
    float range = mx - mn;
    *v = mx;
    *s = mx > 0.0f ? range / mx : 0.0f;
    if (range <= 0.0f) {
        *h = 0.0f;
        return;
    }
    float norm = (1.0f / range) * (1.0f / 6.0f);
    float hh;
    if (r == mx)
        hh = norm * (g - b);
    else if (g == mx)
        hh = norm * (b - r) + 2.0f / 6.0f;
    else
        hh = norm * (r - g) + 4.0f / 6.0f;
    if (hh < 0.0f) hh += 1.0f;
    *h = hh;
}

/* tf.image.hsv_to_rgb (the CPU kernel's closed form). */
AUG_HD void aug_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b) {
    float dh = h * 6.0f;
    float dr = aug_clip01(fabsf(dh - 3.0f) - 1.0f);
    float dg = aug_clip01(2.0f - fabsf(dh - 2.0f));
    float db = aug_clip01(2.0f - fabsf(dh - 4.0f));
    float one_s = 1.0f - s;
    *r = (one_s + s * dr) * v;
    *g = (one_s + s * dg) * v;
    *b = (one_s + s * db) * v;
}

/* Saturation and hue of one pixel in place (contrast and brightness are
 * done by the caller: contrast needs the image's mean). */
AUG_HD void aug_pixel_hsv(const AugParams *p, float *px) {
    float h, s, v;
    if (p->saturation != 1.0f) {
        aug_rgb_to_hsv(px[0], px[1], px[2], &h, &s, &v);
        s = aug_clip01(s * p->saturation);
        aug_hsv_to_rgb(h, s, v, &px[0], &px[1], &px[2]);
        for (int k = 0; k < 3; k++) px[k] = aug_clip01(px[k]);
    }
    if (p->hue != 0.0f) {
        float dh = p->hue - floorf(p->hue); /* into [0, 1) */
        aug_rgb_to_hsv(px[0], px[1], px[2], &h, &s, &v);
        h += dh;
        if (h >= 1.0f) h -= 1.0f;
        aug_hsv_to_rgb(h, s, v, &px[0], &px[1], &px[2]);
        for (int k = 0; k < 3; k++) px[k] = aug_clip01(px[k]);
    }
}

#endif
