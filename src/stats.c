/* stats.c - psychometric fit and bootstrap over test images (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "rng.h"

static const double Z75 = 0.67448975019608171; /* Phi^-1(0.75) */

double stats_norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

double stats_psy_p(double gap, double alpha, double beta) {
    if (!(gap > 0)) return 0.5;
    return stats_norm_cdf(Z75 * pow(gap / alpha, beta));
}

/* Binomial log-likelihood of the counts under (alpha = exp(u), beta), from
 * lg[g] = log(gap[g]): (gap/alpha)^beta = exp(beta (lg - u)), which spares
 * the fit's thousands of evaluations a pow each. */
static double loglik(const double *lg, const int *k, const int *n, int m, double u,
                     double beta) {
    double ll = 0;
    for (int g = 0; g < m; g++) {
        if (n[g] <= 0) continue;
        double p = stats_norm_cdf(Z75 * exp(beta * (lg[g] - u)));
        if (p < 1e-12) p = 1e-12;
        if (p > 1 - 1e-12) p = 1 - 1e-12;
        ll += k[g] * log(p) + (n[g] - k[g]) * log1p(-p);
    }
    return ll;
}

PsyWhere stats_psy_fit(const double *gap, const int *correct, const int *total, int n,
                       double *alpha, double *beta) {
    static const double BETAS[] = {0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0};
    enum { SCAN = 32, GOLDEN = 28 }; /* log alpha to ~1e-5 of the search range */
    int any = 0;
    for (int g = 0; g < n; g++) any |= total[g] > 0;
    if (!any || n < 1) {
        *alpha = NAN;
        *beta = NAN;
        return PSY_ABOVE;
    }
    double lo = log(gap[0] / 30.0), hi = log(gap[n - 1] * 30.0);
    double lg_fixed[128], *lg = n <= 128 ? lg_fixed : xmalloc(sizeof(double) * (size_t)n);
    for (int g = 0; g < n; g++) lg[g] = gap[g] > 0 ? log(gap[g]) : -INFINITY;
    double best_ll = -INFINITY, best_u = hi, best_b = 1.0;
    for (size_t bi = 0; bi < sizeof BETAS / sizeof *BETAS; bi++) {
        double b = BETAS[bi], step = (hi - lo) / (SCAN - 1);
        int arg = 0;
        double top = -INFINITY;
        for (int i = 0; i < SCAN; i++) {
            double ll = loglik(lg, correct, total, n, lo + i * step, b);
            if (ll > top) top = ll, arg = i;
        }
        /* golden section inside the scan's bracket around its best point */
        double a = lo + (arg > 0 ? arg - 1 : 0) * step;
        double c = lo + (arg < SCAN - 1 ? arg + 1 : SCAN - 1) * step;
        const double r = 0.6180339887498949;
        double x1 = c - r * (c - a), x2 = a + r * (c - a);
        double f1 = loglik(lg, correct, total, n, x1, b), f2 = loglik(lg, correct, total, n, x2, b);
        for (int it = 0; it < GOLDEN; it++) {
            if (f1 > f2) {
                c = x2, x2 = x1, f2 = f1;
                x1 = c - r * (c - a);
                f1 = loglik(lg, correct, total, n, x1, b);
            } else {
                a = x1, x1 = x2, f1 = f2;
                x2 = a + r * (c - a);
                f2 = loglik(lg, correct, total, n, x2, b);
            }
        }
        double u = f1 > f2 ? x1 : x2, fu = f1 > f2 ? f1 : f2;
        if (top > fu) u = lo + arg * step, fu = top;
        if (fu > best_ll) best_ll = fu, best_u = u, best_b = b;
    }
    if (lg != lg_fixed) free(lg);
    *alpha = exp(best_u);
    *beta = best_b;
    if (*alpha < gap[0]) return PSY_BELOW;
    if (*alpha > gap[n - 1]) return PSY_ABOVE;
    return PSY_INSIDE;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void stats_interval95(const double *v, int n, double *lo, double *hi) {
    double *s = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) s[m++] = v[i];
    if (m == 0) {
        *lo = *hi = NAN;
        free(s);
        return;
    }
    qsort(s, (size_t)m, sizeof *s, cmp_double);
    /* linear interpolation between order statistics (numpy's default) */
    double q[2] = {0.025, 0.975}, out[2];
    for (int j = 0; j < 2; j++) {
        double pos = q[j] * (m - 1);
        int i = (int)floor(pos);
        double f = pos - i;
        out[j] = i + 1 < m ? s[i] + f * (s[i + 1] - s[i]) : s[i];
    }
    *lo = out[0];
    *hi = out[1];
    free(s);
}

int *stats_boot_draws(uint64_t seed, uint64_t group, int n, int B, int threads) {
    int *d = xmalloc(sizeof(int) * (size_t)n * (size_t)B);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int r = 0; r < B; r++) {
        Rng rng = rng_stream(seed, rng_mix(RNG_TAG_BOOT, rng_mix(group, (uint64_t)r)));
        for (int i = 0; i < n; i++) d[(size_t)r * n + i] = (int)rng_below(&rng, (uint64_t)n);
    }
    return d;
}

void outcomes_make(Outcomes *o, int n_images, int n_gaps, int n_pairs, const int *image,
                   const int *gap_of, const uint8_t *outcome) {
    o->n_images = n_images;
    o->n_gaps = n_gaps;
    size_t cells = (size_t)n_images * (n_gaps > 0 ? n_gaps : 1);
    o->right = xcalloc(cells, sizeof(uint16_t));
    o->count = xcalloc(cells, sizeof(uint16_t));
    for (int k = 0; k < n_pairs; k++) {
        if (gap_of[k] < 0) continue;
        size_t at = (size_t)image[k] * n_gaps + gap_of[k];
        o->count[at]++;
        o->right[at] += outcome[k] == 1;
    }
}

void outcomes_free(Outcomes *o) {
    free(o->right);
    free(o->count);
    memset(o, 0, sizeof *o);
}

double outcomes_accuracy(const Outcomes *o) {
    long right = 0, count = 0;
    for (size_t i = 0; i < (size_t)o->n_images * o->n_gaps; i++) {
        right += o->right[i];
        count += o->count[i];
    }
    return count ? (double)right / count : NAN;
}

void stats_boot_accuracy(const Outcomes *o, const int *draws, int B, double *acc, int threads) {
    const int N = o->n_images, G = o->n_gaps;
    /* per-image totals first: a replicate is then N additions */
    int *r1 = xmalloc(sizeof(int) * (size_t)N), *c1 = xmalloc(sizeof(int) * (size_t)N);
    for (int i = 0; i < N; i++) {
        r1[i] = c1[i] = 0;
        for (int g = 0; g < G; g++) {
            r1[i] += o->right[(size_t)i * G + g];
            c1[i] += o->count[(size_t)i * G + g];
        }
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int r = 0; r < B; r++) {
        long right = 0, count = 0;
        const int *d = draws + (size_t)r * N;
        for (int i = 0; i < N; i++) {
            right += r1[d[i]];
            count += c1[d[i]];
        }
        acc[r] = count ? (double)right / count : NAN;
    }
    free(r1);
    free(c1);
}

void stats_boot_threshold(const Outcomes *o, const double *gap, const int *draws, int B,
                          double *alpha, int threads) {
    const int N = o->n_images, G = o->n_gaps;
#pragma omp parallel num_threads(threads)
    {
        int *k = xmalloc(sizeof(int) * (size_t)(G > 0 ? G : 1));
        int *n = xmalloc(sizeof(int) * (size_t)(G > 0 ? G : 1));
#pragma omp for schedule(static)
        for (int r = 0; r < B; r++) {
            memset(k, 0, sizeof(int) * (size_t)G);
            memset(n, 0, sizeof(int) * (size_t)G);
            const int *d = draws + (size_t)r * N;
            for (int i = 0; i < N; i++) {
                const uint16_t *ri = o->right + (size_t)d[i] * G, *ci = o->count + (size_t)d[i] * G;
                for (int g = 0; g < G; g++) k[g] += ri[g], n[g] += ci[g];
            }
            double beta;
            stats_psy_fit(gap, k, n, G, &alpha[r], &beta);
        }
        free(k);
        free(n);
    }
}
