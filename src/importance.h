/* importance.h - how much each of several taps adds to a linear probe on
 * all of them together: the relative importance of blocks in Yan & Huang's
 * Fig. 1b.
 *
 * One linear RankNet head (probe.h's: each feature standardised with the
 * training split's mean and sd, so each tap is standardised separately) on
 * the concatenation of the taps' features ("all"), and one head per tap on
 * the concatenation without that tap (the same head with the tap's columns
 * left out: ProbeConfig.drop). Tap t's importance is the accuracy lost
 * without it, loss_t = acc_all - acc_without_t; its share is
 * max(loss_t, 0) / sum_k max(loss_k, 0). A negative loss (the tap's
 * features only added noise) counts as 0 in the shares; the loss itself is
 * reported as it is. Shares are undefined (NaN) when no tap loses anything.
 * Two taps that carry the same information both lose about 0: the shares
 * measure what a tap adds beyond the others, not what it holds.
 *
 * Intervals: every head is evaluated on the same test pairs, and the
 * bootstrap resamples the same test images for all of them (stats.h), so
 * the losses are paired differences; a share's interval is the percentile
 * interval of the shares computed on each replicate. */
#ifndef AUGPROBE_IMPORTANCE_H
#define AUGPROBE_IMPORTANCE_H

#include <stdint.h>

#include "common.h"
#include "probe.h"

#define IMPORTANCE_MAX_TAPS 16

/* The heads of one set of taps: [0] on all taps, [1 + t] without tap t. */
typedef struct ImportanceHeads {
    int n_taps, dim; /* dim: the concatenation's */
    int dims[IMPORTANCE_MAX_TAPS];
    ProbeHead head[1 + IMPORTANCE_MAX_TAPS];
} ImportanceHeads;

/* What the heads did on the test pairs. */
typedef struct ImportanceFit {
    int n_taps, dim, pairs_test;
    double acc_all, acc_without[IMPORTANCE_MAX_TAPS];
    uint8_t *outcome; /* [(1 + n_taps) * pairs_test]: all, then without each tap; 1 ranked
                         right (owned: importance_fit_free) */
} ImportanceFit;

/* Trains the 1 + n heads (c->head must be linear) on the training caches
 * taps[0..n) (one per tap: the same images and levels), concatenated in
 * that order. 0, or -1 with e set (nothing left allocated). */
int importance_train(const ProbeConfig *c, const ProbeFeatures *taps, int n, ImportanceHeads *h,
                     Err *e);
/* Evaluates them on the test caches taps[0..n) into *f (zeroed first). */
int importance_eval(const ProbeConfig *c, ImportanceHeads *h, const ProbeFeatures *taps, int n,
                    ImportanceFit *f, Err *e);
void importance_heads_free(ImportanceHeads *h);
void importance_fit_free(ImportanceFit *f);

/* Losses and shares from accuracies: loss[t] = all - without[t]; share[t]
 * = max(loss[t], 0) / sum of those (NaN when the sum is 0). Returns the
 * number of negative losses (clipped to 0 in the shares). */
int importance_shares(int n, double all, const double *without, double *loss, double *share);

/* Bootstrap replicates of the accuracies of a fit: rep_all[B] and
 * rep_without[t * B + r], from the test pairs (n_images, passes, levels,
 * seed, mode: as the probe drew them) and the draws of stats.h for
 * (seed, family, mode), the same draws as every probe on those pairs.
 * Computed on `threads` (>= 1) OpenMP threads; the result does not depend
 * on the count. */
void importance_boot(const ImportanceFit *f, int n_images, int passes, const float *levels,
                     int n_levels, uint64_t seed, AugKind family, ProbePairMode mode, int B,
                     int threads, double *rep_all, double *rep_without);

/* 95% intervals of the losses and shares over B replicates (rep_all[B],
 * rep_without[t * B + r]): on each replicate the losses and shares as
 * importance_shares, then percentiles (replicates with undefined shares
 * are left out of the share's interval). */
void importance_intervals(int n, int B, const double *rep_all, const double *rep_without,
                          double *loss_lo, double *loss_hi, double *share_lo, double *share_hi);

#endif
