/* probe.h - the RankNet probe: does a frozen network's layer encode how much
 * an image was augmented?
 *
 * Pipeline (the seed notebook's, with its bugs fixed):
 *  1. Pairs: `passes` passes over a split; for each (pass, image) two levels
 *     a, b drawn uniformly from the family's levels; target sign(a - b).
 *     Training pairs come from the validation split, test pairs from the test
 *     split (the notebook never built them). Ties (a == b) are counted but
 *     take no part in the loss or the accuracy.
 *  2. Features: each (image, level) goes through the frozen trunk ONCE
 *     (inference mode: BN moving statistics, no dropout) and is cached as
 *     [level][image][dim]; pairs index into the cache. One forward pass can
 *     fill several taps (layers) at once.
 *  3. Head: the built-in ranknet_head network (arch.h: Dropout 0.2, Dense 1024 ReLU, Dropout 0.2,
 *     Dense 1) shared by both images; d = score(a) - score(b); ranknet_loss;
 *     Adam (Keras defaults); `batch` pairs per step, run as one batch of 2B
 *     (a rows then b rows; the head has no BN, so that is exact).
 *  4. Result on the test pairs: the notebook's "a has more aug" and "b has
 *     more aug" counts, the non-tie accuracy, and the accuracy per level gap
 *     |a - b|. "a has more aug" means a's level is further from the
 *     identity: for zoom (and aspect, contrast, saturation, whose levels lie
 *     below the identity 1) that is level_a < level_b, i.e. target < 0,
 *     exactly the notebook's count; for brightness, hue, rotation,
 *     translation and flips (levels above the identity 0) it is target > 0.
 *
 * Beyond the notebook (all chosen by ProbeConfig; the defaults are the
 * notebook's design):
 *  - pairs: `same` (the notebook: two copies of one image) or `cross` (a and
 *    b from different images: image content becomes noise the probe must see
 *    through, so a feature that merely follows mean intensity no longer
 *    ranks brightness perfectly);
 *  - head: `mlp` (the notebook's) or `linear`: s = w . z on features z
 *    standardised with the training split's mean and sd, L2-regularised,
 *    the same RankNet loss, Adam; selective and cheap (Hewitt & Liang 2019);
 *  - inputs: a network's tap, or the floors that need no network: `pixels`
 *    (the augmented 32x32x3 image, 3,072 values) and `stats` (8 hand
 *    statistics, probe_stats_features);
 *  - statistics on the test pairs (stats.h): a 95% bootstrap interval over
 *    test images for the accuracy, and the 75% threshold gap with its
 *    interval, from a psychometric fit of accuracy against the level gap.
 *
 * Every random draw comes from rng_stream(seed, rng_mix(RNG_TAG_PROBE, ...)),
 * one stream per (split, pass, image) for pairs and per (epoch) / (step) for
 * the head, so results do not depend on the thread count. */
#ifndef AUGPROBE_PROBE_H
#define AUGPROBE_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "augment.h"
#include "cifar10.h"
#include "common.h"
#include "net.h"
#include "stats.h"

#define PROBE_MAX_LEVELS 16
#define PROBE_MAX_GAPS (PROBE_MAX_LEVELS * (PROBE_MAX_LEVELS - 1) / 2)
#define PROBE_LAYER_NAME 64
#define PROBE_MAX_TAPS 64 /* taps served by one probe_features_compute */

/* Pixels as the trunk takes them: [0, 1] (the seed's), or normalised with
 * ImageNet's mean and sd (torchvision's pre-trained weights; resize.h). */
typedef enum ProbeNorm { PROBE_NORM_NONE = 0, PROBE_NORM_IMAGENET = 1 } ProbeNorm;
/* The largest trunk input side (--input-size). */
enum { PROBE_MAX_INPUT = 512 };

/* How a spatial tap (h*w > 1) becomes a vector. */
typedef enum ProbePool {
    PROBE_POOL_FLATTEN, /* all h*w*c values, Keras Flatten order (default) */
    PROBE_POOL_AVG,     /* mean over space: c values */
} ProbePool;

/* Which split a set of pairs is drawn for (part of the pair streams). */
typedef enum ProbeSplit { PROBE_SPLIT_TRAIN = 0, PROBE_SPLIT_TEST = 1 } ProbeSplit;

/* Whose features a pair compares (see the top of this file). */
typedef enum ProbePairMode { PROBE_PAIRS_SAME = 0, PROBE_PAIRS_CROSS = 1 } ProbePairMode;
typedef enum ProbeHeadKind { PROBE_HEAD_MLP = 0, PROBE_HEAD_LINEAR = 1 } ProbeHeadKind;

/* The linear head's fixed settings: Adam learning rate and the L2 weight
 * (lambda / 2 |w|^2 added to the mean pair loss). */
#define PROBE_LINEAR_LR 0.01f
#define PROBE_LINEAR_L2 1e-3f
/* Values per image of the `stats` floor (probe_stats_features). */
enum { PROBE_STATS_DIM = 8 };

const char *probe_pair_mode_name(ProbePairMode m); /* "same", "cross" */
const char *probe_head_name(ProbeHeadKind h);      /* "mlp", "linear" */

typedef struct ProbeConfig {
    AugKind family;                /* AUG_ZOOM */
    int n_levels;                  /* aug_default_levels(family) */
    float levels[PROBE_MAX_LEVELS];
    char layer[PROBE_LAYER_NAME];  /* tapped layer, "flatten" */
    ProbePool pool;                /* PROBE_POOL_FLATTEN */
    int passes;                    /* 4 passes over each split */
    int epochs;                    /* 50 */
    int batch;                     /* 32 pairs per step */
    uint64_t seed;                 /* 1 */
    uint64_t split_seed;           /* 1: the data's train/val split (only recorded) */
    int threads;                   /* 1: OpenMP threads of the head and of the probe's
                                      own loops, >= 1 (a trunk's: its kctx.threads) */
    char device[16];               /* the head's: net_place(), "cpu" */
    ProbePairMode pairs;           /* PROBE_PAIRS_SAME (the notebook's) */
    ProbeHeadKind head;            /* PROBE_HEAD_MLP (the notebook's) */
    int boot;                      /* bootstrap replicates of the test statistics (STATS_BOOT) */
    int limit;                     /* first N images of val and of test; 0 = all */
    size_t max_feature_bytes;      /* refuse a split's feature cache above this (1.5 GiB) */
    int quiet;                     /* no per-epoch progress on stderr */
    const char *keep_features;     /* NULL, or a directory: probe_run keeps each split's
                                      feature cache there as .npy (features_keep) */
    ProbeNorm normalize;           /* PROBE_NORM_NONE */
    int input_size;                /* the trunk's input side, recorded in probe.json (0 or
                                      32: the data's; the images are resized to the trunk's
                                      own input: probe_features_compute_norm) */
    const uint8_t *drop;           /* NULL, or [dim]: the linear head leaves out feature j
                                      when drop[j] (its weight stays 0: the same head as
                                      on the other features alone); the mlp ignores it */
} ProbeConfig;

typedef struct ProbeCount {
    int correct, total;
} ProbeCount;

typedef struct ProbeResult {
    int pairs_train, ties_train;   /* all pairs built; ties among them */
    int pairs_test, ties_test;
    double accuracy;               /* test, over non-tie pairs */
    int more_is_lower;             /* 1: a lower level is more augmentation (zoom) */
    ProbeCount a_more;             /* test pairs where a has more aug (zoom: target < 0) */
    ProbeCount b_more;             /* test pairs where b has more aug (zoom: target > 0) */
    int n_gaps;                    /* distinct |level_a - level_b| > 0, ascending */
    float gap[PROBE_MAX_GAPS];
    ProbeCount by_gap[PROBE_MAX_GAPS];
    double accuracy_by_gap[PROBE_MAX_GAPS];
    double train_loss;             /* mean RankNet loss of the last epoch */
    double train_accuracy;         /* non-tie accuracy on the training pairs (inference) */
    int feature_dim;               /* floats per (image, level) fed to the head */
    long forward_images;           /* images pushed through the trunk (n * levels per split) */
    double seconds;                /* wall time of the whole probe */
    /* statistics over test images (stats.h), filled by probe_head_eval */
    double acc_lo, acc_hi;         /* 95% bootstrap interval of accuracy */
    double threshold;              /* fitted 75% threshold gap (alpha) */
    double thr_lo, thr_hi;         /* its 95% bootstrap interval (raw fits) */
    double thr_beta;               /* fitted slope */
    PsyWhere thr_where;            /* inside, below or above the ladder's gaps */
    uint8_t *outcome;              /* [pairs_test]: 1 ranked right, 0 wrong or tie;
                                      owned: probe_result_free */
} ProbeResult;

void probe_result_free(ProbeResult *r);

/* Defaults above for the zoom probe on "flatten". */
void probe_config_defaults(ProbeConfig *c);
/* Sets the family and its default levels. */
void probe_config_family(ProbeConfig *c, AugKind family);
/* Parses "a,b,c" into levels: each a number inside aug_valid_range(family),
 * at least two distinct values, at most PROBE_MAX_LEVELS. One clear error. */
int probe_parse_levels(AugKind family, const char *text, float *levels, int *n_levels, Err *e);

/* 1 when a lower level of family means a stronger augmentation: the
 * levels' mean lies below the family's identity (1 for zoom, aspect,
 * contrast, saturation; 0 for the others). */
int probe_more_is_lower(AugKind family, const float *levels, int n_levels);

/* ---- pairs ---- */

typedef struct ProbePairs {
    int n;            /* passes * n_images, ordered (pass, image) */
    int *image;       /* image index in the split: a's image */
    int *image_b;     /* b's image: == image (same) or another image (cross) */
    uint8_t *la, *lb; /* level indices */
    float *target;    /* sign(level_a - level_b): -1, 0 or +1 */
    int ties;         /* pairs with target 0 */
} ProbePairs;

/* Pair (pass p, image i) draws its two levels from
 * rng_stream(seed, rng_mix(RNG_TAG_PROBE, rng_mix(split, p * 2^32 + i))), so
 * the pairs of the first N images do not depend on the split's size or on
 * the thread count (`threads` >= 1 OpenMP threads). In cross mode the same
 * stream then draws b's image, uniform among the other n_images - 1 (so the
 * levels are those of same mode; n_images >= 2). */
void probe_pairs_make(ProbePairs *p, int n_images, int passes, const float *levels,
                      int n_levels, uint64_t seed, ProbeSplit split, ProbePairMode mode,
                      int threads);
void probe_pairs_free(ProbePairs *p);

/* ---- feature cache ---- */

typedef struct ProbeTap {
    const char *layer; /* layer name in the trunk */
    ProbePool pool;
} ProbeTap;

typedef struct ProbeFeatures {
    char layer[PROBE_LAYER_NAME];
    ProbePool pool;
    int n_images, n_levels, dim;
    float *x; /* [level][image][dim], 64-byte aligned */
} ProbeFeatures;

/* Index of the trunk's layer named layer, or -1 with a message that lists
 * the layer names. */
int probe_find_tap(const Net *trunk, const char *layer, Err *e);
/* Floats per example that a tap of layer `layer_index` yields with `pool`. */
size_t probe_tap_dim(const Net *trunk, int layer_index, ProbePool pool);

/* Features of the first n images of set at each level of family, for n_taps
 * taps at once: each (image, level) is augmented (aug_params_level +
 * aug_apply) and run through the trunk once, in inference mode, up to the
 * deepest tap; out[t] receives tap t. Every parallel loop runs on the
 * trunk's kctx.threads. Fails (nothing allocated) when a tap's
 * layer is unknown or the caches would exceed max_bytes in total (the message
 * says how much is needed and suggests --pool avg or --limit).
 * *forward_images (may be NULL) gets the number of images run. */
int probe_features_compute(Net *trunk, const ImageSet *set, int n, AugKind family,
                           const float *levels, int n_levels, const ProbeTap *taps,
                           int n_taps, size_t max_bytes, ProbeFeatures *out,
                           long *forward_images, Err *e);
/* The same for a trunk of any square RGB input (8 to PROBE_MAX_INPUT): the
 * augmented 32x32 images are resized bilinearly to it (resize.h), and
 * normalised as norm says. probe_features_compute is this with
 * PROBE_NORM_NONE. */
int probe_features_compute_norm(Net *trunk, const ImageSet *set, int n, AugKind family,
                                const float *levels, int n_levels, const ProbeTap *taps,
                                int n_taps, size_t max_bytes, ProbeNorm norm, ProbeFeatures *out,
                                long *forward_images, Err *e);
void probe_features_free(ProbeFeatures *f);
/* A batch of layer ly's output act (nb examples of h*w*c, HWC) as the tap's
 * vectors in dst: flatten copies them ([nb][h*w*c]), avg averages over
 * space ([nb][c]) on `threads` (>= 1) OpenMP threads. */
void probe_tap_vectors(const Layer *ly, const float *act, int nb, ProbePool pool, float *dst,
                       int threads);

/* The floors' inputs, which need no network. */
typedef enum ProbeInput {
    PROBE_INPUT_PIXELS, /* the augmented image, HWC floats in [0,1]: 3,072 values */
    PROBE_INPUT_STATS,  /* probe_stats_features: 8 values */
} ProbeInput;

/* The `stats` floor of one augmented 32x32x3 image (HWC floats): per-channel
 * mean (R, G, B), per-channel standard deviation, mean HSV saturation
 * (max - min) / max, and high-frequency energy: the mean squared difference
 * of horizontally and vertically adjacent values. out[PROBE_STATS_DIM]. */
void probe_stats_features(const float *img, int h, int w, float *out);

/* Like probe_features_compute, for a floor: out gets layer "pixels" or
 * "stats", pool flatten. Computed on `threads` (>= 1) OpenMP threads; the
 * result does not depend on the count. */
int probe_features_input(ProbeInput input, const ImageSet *set, int n, AugKind family,
                         const float *levels, int n_levels, size_t max_bytes, int threads,
                         ProbeFeatures *out, Err *e);

/* ---- head ---- */

/* A trained head of either kind. */
typedef struct ProbeHead {
    ProbeHeadKind kind;
    int dim;  /* features per image */
    Net *mlp; /* PROBE_HEAD_MLP: net_arch_ranknet_head */
    float *w; /* PROBE_HEAD_LINEAR: [dim], score = w . x (the standardisation
                 folded in: w_j = v_j / sd_j; the mean cancels in a difference) */
} ProbeHead;

/* Trains a fresh head of kind c->head on the training pairs (c->pairs, from
 * the validation split's features) for c->epochs epochs into *h; fills
 * r->pairs_train, ties_train, train_loss, train_accuracy, feature_dim. */
int probe_head_train(const ProbeConfig *c, const ProbeFeatures *train, ProbeHead *h,
                     ProbeResult *r, Err *e);
void probe_head_free(ProbeHead *h);
/* Evaluates a head on the test pairs (features of the test split): fills
 * r's test fields (pairs_test .. accuracy_by_gap, the intervals, the
 * threshold and the outcome of every pair). */
int probe_head_eval(const ProbeConfig *c, ProbeHead *h, const ProbeFeatures *test,
                    ProbeResult *r, Err *e);

/* The bootstrap group of a probe's test pairs: every probe with the same
 * family and pair mode (and seed, and test images) resamples the same test
 * images, so differences between networks and taps are paired. */
uint64_t probe_boot_group(AugKind family, ProbePairMode mode);
/* Each test pair's gap index among r's gaps (-1 for a tie), for a table of
 * Outcomes; gap_of[pairs->n]. */
void probe_pair_gaps(const ProbeResult *r, const ProbePairs *pairs, const float *levels,
                     int *gap_of);
/* probe_head_train + probe_head_eval on caches built elsewhere (e.g. one
 * cache per tap from a single probe_features_compute). Zeroes r first. */
int probe_fit_eval(const ProbeConfig *c, const ProbeFeatures *train,
                   const ProbeFeatures *test, ProbeResult *r, Err *e);

/* The whole probe of one tap on a trunk: val features, head, test features
 * (computed one split at a time to bound memory), result. data must be
 * split (cifar10_split). */
int probe_run(const ProbeConfig *c, Net *trunk, const Cifar10 *data, ProbeResult *r, Err *e);

/* ---- output ---- */

/* The notebook's two lines, ties, the accuracy, then the accuracy's
 * interval and the threshold. */
void probe_print(FILE *f, const ProbeConfig *c, const ProbeResult *r);
/* probe.json (atomic): augmentation, layer, pool, levels, pairs_train,
 * pairs_test, ties_test, accuracy, a_more [correct, total], b_more,
 * accuracy_by_gap {"gap": accuracy}, seconds, plus model, seed, split_seed,
 * epochs, passes, batch, limit, more_aug_is, ties_train, train_loss,
 * train_accuracy, feature_dim, pairs, head, accuracy_ci95, threshold75
 * {value, ci95, where, beta}; and probe.csv beside it (one header line, one
 * row per level gap: gap, correct, total, accuracy). */
int probe_write_json(const char *path, const ProbeConfig *c, const ProbeResult *r,
                     const char *model, Err *e);

/* "0.052 [0.041, 0.066]", "below the ladder (<0.01) [<0.01, 0.012]" or
 * "above the ladder (>0.4) [...]": interval ends outside the ladder's gaps
 * are shown as <smallest or >largest gap, never extrapolated. */
void probe_threshold_text(const ProbeResult *r, char *buf, size_t len);
/* JSON of r's threshold: {value, where, ci95: [lo, hi], beta}; of an
 * interval: [lo, hi] (null for a non-finite end). */
struct cJSON;
struct cJSON *probe_threshold_json(const ProbeResult *r);
struct cJSON *probe_interval_json(double lo, double hi);

#endif
