/* augment.h - image augmentations with Keras semantics, their spec grammar,
 * and their random parameters.
 *
 * A spec is a comma-separated list of items, e.g. "hflip,vflip,zoom=0.5:1.0"
 * or "zoom=0.7" or "brightness=-0.2:0.2": NAME (flips: probability 0.5),
 * NAME=P for flips (probability), NAME=V (fixed) or NAME=LO:HI (drawn per
 * image, uniform). Each name at most once; "" or "none" is no augmentation.
 * Images are float HWC in [0, 1].
 *
 * Geometry is Keras's (keras-preprocessing apply_affine_transform with the
 * scipy backend): output pixel o = (row, col) samples the input at
 *     c + R(theta) * (Z * (o - c) + t),   c = (h/2 - 0.5, w/2 - 0.5),
 *     Z = diag(zx, zy), t = (tx * h, ty * w) pixels,
 *     R = [[cos, -sin], [sin, cos]] (rows first),
 * bilinear (order 1), fill 'nearest' (edge pixels repeat). As in Keras, zx
 * scales ROWS (the first image axis) and zy the columns; tx shifts rows
 * (Keras's height shift) and ty columns. Signs: z < 1 zooms in; tx > 0 moves
 * the content up, ty > 0 moves it left; theta > 0 rotates the content
 * clockwise as displayed (row 0 at the top).
 *
 * Colour ops follow tf.image (float images), in this order: adjust_brightness
 * (x + delta), adjust_contrast ((x - mean) * f + mean, mean per channel over
 * the image), adjust_saturation (HSV s' = clamp(s * f, 0, 1)), adjust_hue
 * (HSV h' = (h + delta) mod 1), HSV as tf.image.rgb_to_hsv/hsv_to_rgb. Unlike
 * tf, every colour op is followed by a clip to [0, 1].
 *
 * Blur (after the geometry, before colour) is scipy.ndimage.gaussian_filter
 * with sigma (s, s, 0), truncate 3, mode 'nearest': a separable kernel of
 * radius floor(3 s + 0.5), weights exp(-x^2 / 2 s^2) normalised to sum 1,
 * edge pixels repeated. It is the control for zoom: bilinear zoom-in blurs,
 * so a probe could rank zoom by sharpness alone.
 *
 * Valid values (aug_valid_range): flips 0..1 (probability), zoom and aspect
 * 0.1..10, brightness -1..1, contrast 0..10, saturation 0..10, hue -1..1
 * (turns), rotation -360..360 (degrees), translation -1..1 (fraction), blur
 * 0..4 (sigma, pixels).
 *
 * Probe levels (aug_default_levels, ascending values; the probe draws pairs
 * of them and asks which image was changed more):
 *     zoom         0.5 0.6 0.7 0.8 0.9     (the notebook's; lower = more)
 *     aspect       0.6 0.7 0.8 0.9 1.0     (zx = s, zy = 1/s; lower = more)
 *     brightness   0 0.1 0.2 0.3 0.4       (delta; higher = more)
 *     contrast     0.2 0.4 0.6 0.8 1.0     (factor; lower = more)
 *     saturation   0 0.25 0.5 0.75 1.0     (factor; lower = more)
 *     hue          0 0.1 0.2 0.3 0.4       (turns; higher = more)
 *     rotation     0 10 20 30 40           (degrees; higher = more)
 *     translation  0 0.05 0.1 0.15 0.2     (tx = ty; higher = more)
 *     hflip, vflip 0 1                     (flipped or not)
 *     blur         0 0.5 1 1.5 2           (sigma; higher = more)
 * These are `augprobe probe`'s defaults (zoom's are the notebook's).
 *
 * Study ladders (aug_ladder_levels): the study asks how small a change a
 * layer still ranks, so each family gets a finer ladder from the identity
 * out to the range above, with small first steps: the pairs' gaps |a - b|
 * then run from the smallest step to the whole range, and the 75%
 * threshold (stats.h) lands inside the ladder for most taps. The first
 * steps are small enough that the pixel floor, on cross-image pairs, is
 * well below 1 there (brightness 0.01 is 2.6 grey levels; CIFAR images'
 * mean brightness varies by about 0.2 between images):
 *     zoom         1 0.95 0.9 0.8 0.7 0.6 0.5
 *     aspect       1 0.95 0.9 0.85 0.8 0.7 0.6
 *     brightness   0 0.01 0.02 0.05 0.1 0.2 0.4
 *     contrast     1 0.95 0.9 0.8 0.6 0.4 0.2
 *     saturation   1 0.95 0.9 0.75 0.5 0.25 0
 *     hue          0 0.01 0.02 0.05 0.1 0.2 0.4
 *     blur         0 0.25 0.5 0.75 1 1.5 2
 * (listed from the identity out; aug_ladder_levels returns them ascending).
 * Other families: their default levels. */
#ifndef AUGPROBE_AUGMENT_H
#define AUGPROBE_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "augment_math.h"
#include "common.h"
#include "rng.h"

/* A CIFAR-10 split (cifar10.h); only aug_batch and aug_apply_batch take
 * one, so the engine can use the transforms without the dataset. */
typedef struct ImageSet ImageSet;

typedef enum AugKind {
    AUG_HFLIP,
    AUG_VFLIP,
    AUG_ZOOM,        /* Keras zoom_range: factor z < 1 zooms in; zx, zy independent */
    AUG_ASPECT,      /* aspect ratio: zx = s, zy = 1/s */
    AUG_BRIGHTNESS,  /* tf.image.adjust_brightness: x + delta */
    AUG_CONTRAST,    /* tf.image.adjust_contrast: (x - mean) * f + mean */
    AUG_SATURATION,  /* tf.image.adjust_saturation: HSV s * f */
    AUG_HUE,         /* tf.image.adjust_hue: HSV h + delta (turns) */
    AUG_ROTATION,    /* degrees, Keras rotation semantics */
    AUG_TRANSLATION, /* fraction of the size; tx and ty drawn independently */
    AUG_BLUR,        /* Gaussian blur, sigma in pixels (the probe's control for zoom) */
    AUG_KINDS
} AugKind;

typedef struct AugItem {
    AugKind kind;
    float lo, hi; /* range (lo == hi: fixed); flips: probability in lo */
} AugItem;

#define AUG_MAX_ITEMS 16
typedef struct AugSpec {
    int n;
    AugItem items[AUG_MAX_ITEMS];
} AugSpec;

/* AugParams (one image's drawn parameters) is in augment_math.h. */

/* Parses a spec ("" or "none": no augmentation). One clear error. */
int aug_parse(AugSpec *spec, const char *text, Err *e);
/* Canonical text of a spec (round-trips through aug_parse). */
void aug_format(const AugSpec *spec, char *buf, size_t len);

const char *aug_kind_name(AugKind kind);
/* -1 when unknown. */
int aug_kind_from_name(const char *name);

void aug_params_identity(AugParams *p);
/* Draws one image's parameters from the spec. */
void aug_draw(const AugSpec *spec, Rng *rng, AugParams *p);
/* Identity except that `kind` is applied at strength `level` (the probe's
 * pairs; zoom: zx = zy = level; aspect: zx = level, zy = 1/level;
 * translation: tx = ty = level; flips: flipped when level >= 0.5). */
void aug_params_level(AugKind kind, float level, AugParams *p);
/* The probe's default levels of a family (zoom: 0.5,0.6,0.7,0.8,0.9). Returns
 * the count (<= 16). */
int aug_default_levels(AugKind kind, float *levels);
/* The study's finer ladder of a family (above), ascending. Returns the
 * count (<= 16). */
int aug_ladder_levels(AugKind kind, float *levels);
/* The family's identity level: 1 for zoom, aspect, contrast, saturation; 0
 * for the others. */
float aug_identity_level(AugKind kind);
/* Valid range of a family's parameter, for checking user input. */
void aug_valid_range(AugKind kind, float *lo, float *hi);

/* Applies p to one uint8 HWC image of h x w x 3, writing float HWC in [0,1].
 * Geometry first (scipy.ndimage.affine_transform order=1 mode='nearest', as
 * Keras), then colour, then flips (Keras applies flips after the affine). */
void aug_apply(const AugParams *p, const uint8_t *in, float *out, int h, int w);

/* The parameters aug_batch draws for images idx[0..n): out[i] from
 * rng_stream(seed, rng_mix(stream, idx[i])); identity when spec is NULL or
 * empty. */
void aug_draw_batch(const AugSpec *spec, const int *idx, int n, uint64_t seed, uint64_t stream,
                    AugParams *out);

/* out[i] = aug_apply(params[i]) of image idx[i] of set (n x 32 x 32 x 3
 * floats). Parallel on `threads` (>= 1) OpenMP threads; the result does not
 * depend on the count. */
void aug_apply_batch(const AugParams *params, const ImageSet *set, const int *idx, int n,
                     float *out, int threads);

/* Augments images idx[0..n) of set into out (n x 32 x 32 x 3 floats),
 * image i's parameters drawn from rng_stream(seed, rng_mix(stream, idx[i]))
 * so the result is independent of the thread count. spec may be NULL or
 * empty: plain conversion to float. Parallel on `threads` (>= 1) OpenMP
 * threads. */
void aug_batch(const AugSpec *spec, const ImageSet *set, const int *idx, int n, uint64_t seed,
               uint64_t stream, float *out, int threads);

#endif
