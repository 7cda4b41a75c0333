/* stats.h - the statistics of a probe's answer: the psychometric fit that
 * turns accuracy-by-gap into a threshold, and the bootstrap over test images
 * that gives every accuracy, threshold and paired difference its 95%
 * interval.
 *
 * Psychometric model (two-alternative, chance 0.5): the probability that a
 * pair whose levels differ by `gap` is ranked right is
 *     P(gap) = Phi(z75 * (gap / alpha)^beta),   z75 = Phi^-1(0.75) = 0.6745,
 * so P(alpha) = 0.75: alpha is the 75% threshold. With beta = 1 this is the
 * Thurstone observer: a score equal to the level plus Gaussian noise of sd
 * sigma on each image gives P = Phi(gap / (sigma sqrt 2)), i.e.
 * alpha = 0.954 sigma (the known-answer test). Fitted by maximum binomial
 * likelihood: beta on a fixed grid, log alpha by a scan and golden-section
 * refinement, both deterministic. A threshold is reported only inside the
 * ladder's gaps: a fit below the smallest gap is "below the ladder", above
 * the largest "above the ladder", never an extrapolated number.
 *
 * Bootstrap: pairs of one test image are correlated (same image, and in
 * cross mode its partner), so replicates resample test IMAGES with
 * replacement, each carrying all its pairs. The draws depend only on
 * (seed, family, pair mode, image count, replicate), so every network and tap
 * probed on the same pairs gets the same resamples: differences between them
 * are paired. Intervals are the 2.5% and 97.5% percentiles. */
#ifndef AUGPROBE_STATS_H
#define AUGPROBE_STATS_H

#include <stdint.h>

enum { STATS_BOOT = 1000 }; /* bootstrap replicates */

/* Standard normal CDF. */
double stats_norm_cdf(double x);

/* Where a fitted threshold lies relative to the ladder's gaps. */
typedef enum PsyWhere { PSY_INSIDE = 0, PSY_BELOW = -1, PSY_ABOVE = 1 } PsyWhere;

/* P(gap) of the model above. */
double stats_psy_p(double gap, double alpha, double beta);

/* Maximum-likelihood fit of (alpha, beta) to counts correct[g] of total[g]
 * at gap[g] > 0 (n gaps, ascending). alpha is searched in
 * [gap[0] / 30, gap[n-1] * 30]; the return value says where it lies
 * relative to [gap[0], gap[n-1]]. Gaps with total 0 are ignored; with no
 * data at all alpha is NaN and the result PSY_ABOVE. */
PsyWhere stats_psy_fit(const double *gap, const int *correct, const int *total, int n,
                       double *alpha, double *beta);

/* Percentiles 2.5% and 97.5% of v[0..n) (NaNs ignored; v is not changed).
 * NaN, NaN when no finite value. */
void stats_interval95(const double *v, int n, double *lo, double *hi);

/* Bootstrap draws: B replicates of n image indices in [0, n), from
 * rng_stream(seed, rng_mix(RNG_TAG_BOOT, rng_mix(group, r))), on `threads`
 * (>= 1) OpenMP threads; the draws do not depend on it. The caller frees. */
int *stats_boot_draws(uint64_t seed, uint64_t group, int n, int B, int threads);

/* Per-image outcome counts of one probe on its test pairs: for each image
 * (the pair's first image) and gap index, pairs ranked right and pairs
 * counted (ties are not counted). */
typedef struct Outcomes {
    int n_images, n_gaps;
    uint16_t *right, *count; /* [image][gap] */
} Outcomes;

/* Builds the table from n_pairs pairs: image[k], gap index gap_of[k] (-1 for
 * a tie: skipped) and outcome[k] (1 right, 0 wrong). */
void outcomes_make(Outcomes *o, int n_images, int n_gaps, int n_pairs, const int *image,
                   const int *gap_of, const uint8_t *outcome);
void outcomes_free(Outcomes *o);
/* Accuracy over all gaps of the original sample. */
double outcomes_accuracy(const Outcomes *o);

/* Replicate r's accuracy (over all non-tie pairs of the drawn images) into
 * acc[r], for B replicates of draws [B][n_images]. Parallel over replicates
 * on `threads` (>= 1) threads; the result does not depend on the count. */
void stats_boot_accuracy(const Outcomes *o, const int *draws, int B, double *acc, int threads);
/* Replicate r's fitted threshold alpha into alpha[r]: the raw fit (inside
 * the search range, possibly outside the ladder; the caller reports
 * percentiles outside the ladder as "below"/"above"). gap[n_gaps].
 * Parallel over replicates on `threads` (>= 1) threads, as above. */
void stats_boot_threshold(const Outcomes *o, const double *gap, const int *draws, int B,
                          double *alpha, int threads);

#endif
