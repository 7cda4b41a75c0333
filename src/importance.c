/* importance.c - the taps' importance in a probe on all of them (see
 * importance.h). */
#include "importance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The taps' caches side by side: [level][image][dim_0 + dim_1 + ...],
 * copied on `threads` threads. */
static int concat(const ProbeFeatures *taps, int n, int threads, ProbeFeatures *out, Err *e) {
    memset(out, 0, sizeof *out);
    if (n < 2 || n > IMPORTANCE_MAX_TAPS)
        return err_set(e, "importance: %d taps (2..%d)", n, IMPORTANCE_MAX_TAPS);
    size_t dim = 0;
    for (int t = 0; t < n; t++) {
        if (!taps[t].x || taps[t].dim <= 0 || taps[t].n_images != taps[0].n_images ||
            taps[t].n_levels != taps[0].n_levels)
            return err_set(e, "importance: tap %d's cache does not match the others", t);
        dim += (size_t)taps[t].dim;
    }
    if (dim > (size_t)1 << 30) return err_set(e, "importance: %zu features together", dim);
    const size_t rows = (size_t)taps[0].n_levels * taps[0].n_images;
    out->x = xalloc_floats(rows * dim);
    snprintf(out->layer, sizeof out->layer, "all taps");
    out->pool = PROBE_POOL_FLATTEN;
    out->n_images = taps[0].n_images;
    out->n_levels = taps[0].n_levels;
    out->dim = (int)dim;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *dst = out->x + r * dim;
        for (int t = 0; t < n; t++) {
            memcpy(dst, taps[t].x + r * (size_t)taps[t].dim, sizeof(float) * (size_t)taps[t].dim);
            dst += taps[t].dim;
        }
    }
    return 0;
}

void importance_heads_free(ImportanceHeads *h) {
    for (int k = 0; k <= IMPORTANCE_MAX_TAPS; k++) probe_head_free(&h->head[k]);
    memset(h, 0, sizeof *h);
}

void importance_fit_free(ImportanceFit *f) {
    free(f->outcome);
    memset(f, 0, sizeof *f);
}

int importance_train(const ProbeConfig *c, const ProbeFeatures *taps, int n, ImportanceHeads *h,
                     Err *e) {
    memset(h, 0, sizeof *h);
    if (c->head != PROBE_HEAD_LINEAR) return err_set(e, "importance: needs the linear head");
    ProbeFeatures all;
    if (concat(taps, n, c->threads, &all, e)) return -1;
    h->n_taps = n;
    h->dim = all.dim;
    for (int t = 0; t < n; t++) h->dims[t] = taps[t].dim;
    uint8_t *drop = xmalloc((size_t)all.dim);
    ProbeConfig cc = *c;
    int rc = 0;
    for (int k = 0, off = 0; k <= n && rc == 0; k++) {
        if (k > 0) { /* without tap k - 1: its columns left out */
            memset(drop, 0, (size_t)all.dim);
            memset(drop + off, 1, (size_t)taps[k - 1].dim);
            off += taps[k - 1].dim;
        }
        cc.drop = k ? drop : NULL;
        ProbeResult r;
        memset(&r, 0, sizeof r);
        rc = probe_head_train(&cc, &all, &h->head[k], &r, e);
        probe_result_free(&r);
    }
    free(drop);
    probe_features_free(&all);
    if (rc) importance_heads_free(h);
    return rc;
}

int importance_eval(const ProbeConfig *c, ImportanceHeads *h, const ProbeFeatures *taps, int n,
                    ImportanceFit *f, Err *e) {
    memset(f, 0, sizeof *f);
    if (n != h->n_taps) return err_set(e, "importance: %d heads' taps, %d test caches", h->n_taps, n);
    for (int t = 0; t < n; t++)
        if (taps[t].dim != h->dims[t])
            return err_set(e, "importance: tap %d has %d features, its head %d", t, taps[t].dim,
                           h->dims[t]);
    ProbeFeatures all;
    if (concat(taps, n, c->threads, &all, e)) return -1;
    ProbeConfig cc = *c;
    cc.boot = 1; /* the intervals come from importance_boot; skip probe_head_eval's */
    int rc = 0;
    f->n_taps = n;
    f->dim = all.dim;
    for (int k = 0; k <= n && rc == 0; k++) {
        ProbeResult r;
        memset(&r, 0, sizeof r);
        rc = probe_head_eval(&cc, &h->head[k], &all, &r, e);
        if (rc == 0) {
            if (k == 0) {
                f->pairs_test = r.pairs_test;
                f->outcome = xcalloc((size_t)(n + 1) * (size_t)(r.pairs_test > 0 ? r.pairs_test : 1), 1);
                f->acc_all = r.accuracy;
            } else {
                f->acc_without[k - 1] = r.accuracy;
            }
            memcpy(f->outcome + (size_t)k * f->pairs_test, r.outcome, (size_t)r.pairs_test);
        }
        probe_result_free(&r);
    }
    probe_features_free(&all);
    if (rc) importance_fit_free(f);
    return rc;
}

int importance_shares(int n, double all, const double *without, double *loss, double *share) {
    double sum = 0;
    int negative = 0;
    for (int t = 0; t < n; t++) {
        loss[t] = all - without[t];
        negative += loss[t] < 0;
        sum += loss[t] > 0 ? loss[t] : 0;
    }
    for (int t = 0; t < n; t++) share[t] = sum > 0 ? (loss[t] > 0 ? loss[t] : 0) / sum : NAN;
    return negative;
}

void importance_boot(const ImportanceFit *f, int n_images, int passes, const float *levels,
                     int n_levels, uint64_t seed, AugKind family, ProbePairMode mode, int B,
                     int threads, double *rep_all, double *rep_without) {
    ProbePairs pairs;
    probe_pairs_make(&pairs, n_images, passes, levels, n_levels, seed, PROBE_SPLIT_TEST, mode,
                     threads);
    int *gap_of = xmalloc(sizeof(int) * (size_t)(pairs.n > 0 ? pairs.n : 1));
    for (int k = 0; k < pairs.n; k++) gap_of[k] = pairs.target[k] == 0 ? -1 : 0;
    int *draws = stats_boot_draws(seed, probe_boot_group(family, mode), n_images, B, threads);
    for (int k = 0; k <= f->n_taps; k++) {
        double *dst = k ? rep_without + (size_t)(k - 1) * B : rep_all;
        if (pairs.n != f->pairs_test) { /* not these pairs: no replicates */
            for (int r = 0; r < B; r++) dst[r] = NAN;
            continue;
        }
        Outcomes o;
        outcomes_make(&o, n_images, 1, pairs.n, pairs.image, gap_of,
                      f->outcome + (size_t)k * f->pairs_test);
        stats_boot_accuracy(&o, draws, B, dst, threads);
        outcomes_free(&o);
    }
    free(draws);
    free(gap_of);
    probe_pairs_free(&pairs);
}

void importance_intervals(int n, int B, const double *rep_all, const double *rep_without,
                          double *loss_lo, double *loss_hi, double *share_lo, double *share_hi) {
    double *loss = xmalloc(sizeof(double) * (size_t)n * B);
    double *share = xmalloc(sizeof(double) * (size_t)n * B);
    double without[IMPORTANCE_MAX_TAPS], l[IMPORTANCE_MAX_TAPS], s[IMPORTANCE_MAX_TAPS];
    for (int r = 0; r < B; r++) {
        for (int t = 0; t < n; t++) without[t] = rep_without[(size_t)t * B + r];
        importance_shares(n, rep_all[r], without, l, s);
        for (int t = 0; t < n; t++) {
            loss[(size_t)t * B + r] = l[t];
            share[(size_t)t * B + r] = s[t];
        }
    }
    for (int t = 0; t < n; t++) {
        stats_interval95(loss + (size_t)t * B, B, &loss_lo[t], &loss_hi[t]);
        stats_interval95(share + (size_t)t * B, B, &share_lo[t], &share_hi[t]);
    }
    free(loss);
    free(share);
}
