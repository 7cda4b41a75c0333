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

#define PROBE_MAX_LEVELS 16
#define PROBE_MAX_GAPS (PROBE_MAX_LEVELS * (PROBE_MAX_LEVELS - 1) / 2)
#define PROBE_LAYER_NAME 64
#define PROBE_MAX_TAPS 64 /* taps served by one probe_features_compute */

/* How a spatial tap (h*w > 1) becomes a vector. */
typedef enum ProbePool {
    PROBE_POOL_FLATTEN, /* all h*w*c values, Keras Flatten order (default) */
    PROBE_POOL_AVG,     /* mean over space: c values */
} ProbePool;

/* Which split a set of pairs is drawn for (part of the pair streams). */
typedef enum ProbeSplit { PROBE_SPLIT_TRAIN = 0, PROBE_SPLIT_TEST = 1 } ProbeSplit;

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
    int threads;                   /* 1 */
    char device[16];               /* the head's: net_place(), "cpu" */
    int limit;                     /* first N images of val and of test; 0 = all */
    size_t max_feature_bytes;      /* refuse a split's feature cache above this (1.5 GiB) */
    int quiet;                     /* no per-epoch progress on stderr */
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
} ProbeResult;

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
    int *image;       /* image index in the split */
    uint8_t *la, *lb; /* level indices */
    float *target;    /* sign(level_a - level_b): -1, 0 or +1 */
    int ties;         /* pairs with target 0 */
} ProbePairs;

/* Pair (pass p, image i) draws its two levels from
 * rng_stream(seed, rng_mix(RNG_TAG_PROBE, rng_mix(split, p * 2^32 + i))), so
 * the pairs of the first N images do not depend on the split's size or on
 * the thread count. */
void probe_pairs_make(ProbePairs *p, int n_images, int passes, const float *levels,
                      int n_levels, uint64_t seed, ProbeSplit split);
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
 * deepest tap; out[t] receives tap t. Fails (nothing allocated) when a tap's
 * layer is unknown or the caches would exceed max_bytes in total (the message
 * says how much is needed and suggests --pool avg or --limit).
 * *forward_images (may be NULL) gets the number of images run. */
int probe_features_compute(Net *trunk, const ImageSet *set, int n, AugKind family,
                           const float *levels, int n_levels, const ProbeTap *taps,
                           int n_taps, size_t max_bytes, ProbeFeatures *out,
                           long *forward_images, Err *e);
void probe_features_free(ProbeFeatures *f);

/* ---- head ---- */

/* Trains a fresh RankNet head on the training pairs (features of the
 * validation split) for c->epochs epochs and returns it; fills
 * r->pairs_train, ties_train, train_loss, train_accuracy, feature_dim. */
Net *probe_head_train(const ProbeConfig *c, const ProbeFeatures *train, ProbeResult *r,
                      Err *e);
/* Evaluates a head on the test pairs (features of the test split): fills
 * r's test fields (pairs_test .. accuracy_by_gap). */
int probe_head_eval(const ProbeConfig *c, Net *head, const ProbeFeatures *test,
                    ProbeResult *r, Err *e);
/* probe_head_train + probe_head_eval on caches built elsewhere (e.g. one
 * cache per tap from a single probe_features_compute). Zeroes r first. */
int probe_fit_eval(const ProbeConfig *c, const ProbeFeatures *train,
                   const ProbeFeatures *test, ProbeResult *r, Err *e);

/* The whole probe of one tap on a trunk: val features, head, test features
 * (computed one split at a time to bound memory), result. data must be
 * split (cifar10_split). */
int probe_run(const ProbeConfig *c, Net *trunk, const Cifar10 *data, ProbeResult *r, Err *e);

/* ---- output ---- */

/* The notebook's two lines, ties and the accuracy. */
void probe_print(FILE *f, const ProbeConfig *c, const ProbeResult *r);
/* probe.json (atomic): augmentation, layer, pool, levels, pairs_train,
 * pairs_test, ties_test, accuracy, a_more [correct, total], b_more,
 * accuracy_by_gap {"gap": accuracy}, seconds, plus model, seed, split_seed,
 * epochs, passes, batch, limit, more_aug_is, ties_train, train_loss,
 * train_accuracy, feature_dim. */
int probe_write_json(const char *path, const ProbeConfig *c, const ProbeResult *r,
                     const char *model, Err *e);

#endif
