/* report.c - the study's answer from its finished cells: pooled accuracies
 * with bootstrap intervals, paired differences (tap - pixels, trained -
 * random, aug - noaug, aug - stats), the three literature predictions, a findings
 * paragraph that states only what the intervals support, and the files:
 * report.md, results.json, results.csv, depth.png. */
#define _XOPEN_SOURCE 700
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_util.h"
#include "kernels/kernels.h"
#include "plot.h"
#include "stats.h"
#include "study_grid.h"
#include "train.h"

#define FAM(f) STUDY_FAMILY_NAME(f)

/* ---- a growing string ---- */

typedef struct Str {
    char *s;
    size_t len, cap;
} Str;

static void str_printf(Str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void str_printf(Str *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) return;
    if (b->len + (size_t)need + 1 > b->cap) {
        b->cap = (b->len + (size_t)need + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

/* ---- bootstrap replicates of every linear cell ---- */

/* Replicate accuracies of the linear cells, [seed-1][net][fam][mode][tap] x
 * B; a cell that is absent has none (present[] 0). The draws of one (seed,
 * family, mode) are shared by every network and tap: differences are
 * paired. */
typedef struct Boot {
    int B;
    double *rep;
    uint8_t *present;
} Boot;

static size_t boot_index(int seed, int net, int fam, int mode, int tap) {
    size_t i = (size_t)(seed - 1);
    i = i * STUDY_NETS + (size_t)net;
    i = i * STUDY_FAMILIES + (size_t)fam;
    i = i * STUDY_MODES + (size_t)mode;
    return i * STUDY_TAPS + (size_t)tap;
}

static const double *boot_rep(const Boot *b, int seed, int net, int fam, int mode, int tap) {
    size_t i = boot_index(seed, net, fam, mode, tap);
    return b->present[i] ? b->rep + i * (size_t)b->B : NULL;
}

static void boot_make(const Grid *g, Boot *b) {
    const StudyConfig *c = g->c;
    size_t n = boot_index(c->seeds + 1, 0, 0, 0, 0);
    b->B = c->boot;
    b->rep = xmalloc(sizeof(double) * n * (size_t)b->B);
    b->present = xcalloc(n, 1);
    for (int s = 1; s <= c->seeds; s++)
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int mi = 0; mi < g->n_modes; mi++) {
                int fam = g->fams[fi], mode = g->modes[mi];
                AugKind kind = STUDY_FAMILY_KINDS[fam];
                ProbePairMode pm = mode == STUDY_MODE_CROSS ? PROBE_PAIRS_CROSS : PROBE_PAIRS_SAME;
                float levels[PROBE_MAX_LEVELS];
                int n_levels = study_levels(fam, levels);
                ProbePairs pairs;
                probe_pairs_make(&pairs, g->n_test, c->passes, levels, n_levels, (uint64_t)s,
                                 PROBE_SPLIT_TEST, pm, c->threads);
                int *gap_of = xmalloc(sizeof(int) * (size_t)(pairs.n > 0 ? pairs.n : 1));
                for (int k = 0; k < pairs.n; k++) gap_of[k] = pairs.target[k] == 0 ? -1 : 0;
                int *draws = stats_boot_draws((uint64_t)s, probe_boot_group(kind, pm), g->n_test,
                                              b->B, c->threads);
                for (int ni = 0; ni < g->n_nets; ni++) {
                    int net = g->nets[ni];
                    int n_taps = study_is_floor(net) ? 1 : g->n_taps;
                    for (int ti = 0; ti < n_taps; ti++) {
                        int tap = study_is_floor(net) ? 0 : g->taps[ti];
                        const Cell *x = grid_cell(g, s, net, fam, mode, tap, STUDY_HEAD_LINEAR);
                        if (!x->have || x->pairs_test != pairs.n || !x->outcome) continue;
                        Outcomes o;
                        outcomes_make(&o, g->n_test, 1, pairs.n, pairs.image, gap_of, x->outcome);
                        size_t i = boot_index(s, net, fam, mode, tap);
                        stats_boot_accuracy(&o, draws, b->B, b->rep + i * (size_t)b->B,
                                            c->threads);
                        b->present[i] = 1;
                        outcomes_free(&o);
                    }
                }
                free(draws);
                free(gap_of);
                probe_pairs_free(&pairs);
            }
}

static void boot_free(Boot *b) {
    free(b->rep);
    free(b->present);
}

/* ---- pooled estimates and paired differences ---- */

/* One quantity over the seeds: the point (mean over seeds), the seeds'
 * sample sd (NaN with one), and a 95% interval from the replicates (each
 * the mean over seeds of that replicate). n = 0: absent. */
typedef struct Est {
    int n;
    double value, sd, lo, hi;
} Est;

/* A linear cell's position, or a difference a - b of two. */
typedef struct Ref {
    int net, fam, mode, tap;
} Ref;

static Ref ref(int net, int fam, int mode, int tap) {
    return (Ref){net, fam, mode, study_is_floor(net) ? 0 : tap};
}

/* Estimate of a (b.net < 0: alone) or of a - b, paired per seed. */
static Est estimate(const Grid *g, const Boot *bt, Ref a, Ref b) {
    const int B = bt->B, seeds = g->c->seeds;
    Est est = {0, NAN, NAN, NAN, NAN};
    double *pool = xcalloc((size_t)B, sizeof(double));
    double vals[STUDY_MAX_SEEDS];
    for (int s = 1; s <= seeds; s++) {
        const Cell *xa = grid_cell(g, s, a.net, a.fam, a.mode, a.tap, STUDY_HEAD_LINEAR);
        const double *ra = boot_rep(bt, s, a.net, a.fam, a.mode, a.tap);
        if (!xa->have || !ra) continue;
        double v = xa->accuracy;
        const double *rb = NULL;
        if (b.net >= 0) {
            const Cell *xb = grid_cell(g, s, b.net, b.fam, b.mode, b.tap, STUDY_HEAD_LINEAR);
            rb = boot_rep(bt, s, b.net, b.fam, b.mode, b.tap);
            if (!xb->have || !rb) continue;
            v -= xb->accuracy;
        }
        vals[est.n++] = v;
        for (int r = 0; r < B; r++) pool[r] += ra[r] - (rb ? rb[r] : 0);
    }
    if (est.n) {
        double sum = 0, ss = 0;
        for (int i = 0; i < est.n; i++) sum += vals[i];
        est.value = sum / est.n;
        for (int i = 0; i < est.n; i++) ss += (vals[i] - est.value) * (vals[i] - est.value);
        est.sd = est.n >= 2 ? sqrt(ss / (est.n - 1)) : NAN;
        for (int r = 0; r < B; r++) pool[r] /= est.n;
        stats_interval95(pool, B, &est.lo, &est.hi);
    }
    free(pool);
    return est;
}

static Ref none(void) { return (Ref){-1, 0, 0, 0}; }

/* Real: the interval excludes 0. */
static int real_diff(const Est *d) { return d->n && (d->lo > 0 || d->hi < 0); }

/* The paired comparisons the report makes, per (mode, family, tap). */
/* aug - stats: whether a layer holds more than the image statistics that
 * already rank some families well (PROBING.md) */
enum { CMP_AUG_PIXELS, CMP_NOAUG_PIXELS, CMP_RANDOM_PIXELS, CMP_AUG_RANDOM, CMP_NOAUG_RANDOM,
       CMP_AUG_NOAUG, CMP_AUG_STATS, CMP_KINDS };
static const int CMP_A[CMP_KINDS] = {STUDY_NET_AUG,    STUDY_NET_NOAUG,  STUDY_NET_RANDOM,
                                     STUDY_NET_AUG,    STUDY_NET_NOAUG,  STUDY_NET_AUG,
                                     STUDY_NET_AUG};
static const int CMP_B[CMP_KINDS] = {STUDY_NET_PIXELS, STUDY_NET_PIXELS, STUDY_NET_PIXELS,
                                     STUDY_NET_RANDOM, STUDY_NET_RANDOM, STUDY_NET_NOAUG,
                                     STUDY_NET_STATS};

typedef struct Diffs {
    Est d[STUDY_MODES][STUDY_FAMILIES][STUDY_TAPS][CMP_KINDS];
    int made, real; /* comparisons with both sides present; those whose interval excludes 0 */
} Diffs;

static void diffs_make(const Grid *g, const Boot *bt, Diffs *D) {
    memset(D, 0, sizeof *D);
    for (int mi = 0; mi < g->n_modes; mi++)
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int ti = 0; ti < g->n_taps; ti++)
                for (int k = 0; k < CMP_KINDS; k++) {
                    int m = g->modes[mi], f = g->fams[fi], t = g->taps[ti];
                    Est *d = &D->d[m][f][t][k];
                    *d = estimate(g, bt, ref(CMP_A[k], f, m, t), ref(CMP_B[k], f, m, t));
                    if (!d->n) continue;
                    D->made++;
                    D->real += real_diff(d);
                }
}

/* ---- the three predictions from the literature ---- */

typedef struct Prediction {
    const char *claim, *source;
    char statistic[768];
    int checked;      /* 0: the grid lacks what it needs */
    double value, lo, hi;
    const char *verdict; /* "supported", "not supported", "inconclusive", "not checked" */
} Prediction;

/* Mean over `items` of sign * accuracy, per replicate and pooled over
 * seeds: a linear combination of linear cells, with its interval. */
typedef struct Term {
    Ref r;
    double w;
} Term;

static int combine(const Grid *g, const Boot *bt, const Term *t, int n, double *value,
                   double *lo, double *hi) {
    const int B = bt->B;
    double *pool = xcalloc((size_t)B, sizeof(double));
    double v = 0;
    int seeds_used = 0;
    for (int s = 1; s <= g->c->seeds; s++) {
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = grid_cell(g, s, t[i].r.net, t[i].r.fam, t[i].r.mode, t[i].r.tap,
                           STUDY_HEAD_LINEAR)->have &&
                 boot_rep(bt, s, t[i].r.net, t[i].r.fam, t[i].r.mode, t[i].r.tap);
        if (!ok) continue;
        seeds_used++;
        for (int i = 0; i < n; i++) {
            const Cell *x = grid_cell(g, s, t[i].r.net, t[i].r.fam, t[i].r.mode, t[i].r.tap,
                                      STUDY_HEAD_LINEAR);
            const double *r = boot_rep(bt, s, t[i].r.net, t[i].r.fam, t[i].r.mode, t[i].r.tap);
            v += t[i].w * x->accuracy;
            for (int k = 0; k < B; k++) pool[k] += t[i].w * r[k];
        }
    }
    if (seeds_used) {
        *value = v / seeds_used;
        for (int k = 0; k < B; k++) pool[k] /= seeds_used;
        stats_interval95(pool, B, lo, hi);
    }
    free(pool);
    return seeds_used ? 0 : -1;
}

static int selected(unsigned mask, int i) { return mask >> i & 1; }

/* A per-replicate statistic that is not linear (absolute values, maxima):
 * evaluated on every replicate from the per-seed replicate means. */
typedef double (*StatFn)(const double *acc, const void *ctx); /* acc: indexed like Ref list */

static int nonlinear(const Grid *g, const Boot *bt, const Ref *refs, int n, StatFn fn,
                     const void *ctx, double *value, double *lo, double *hi) {
    const int B = bt->B;
    double *acc = xmalloc(sizeof(double) * (size_t)n), *rep = xmalloc(sizeof(double) * (size_t)B);
    double *mean_rep = xcalloc((size_t)n * B, sizeof(double));
    int used = 0;
    for (int i = 0; i < n; i++) acc[i] = 0;
    for (int s = 1; s <= g->c->seeds; s++) {
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = boot_rep(bt, s, refs[i].net, refs[i].fam, refs[i].mode, refs[i].tap) != NULL;
        if (!ok) continue;
        used++;
        for (int i = 0; i < n; i++) {
            acc[i] += grid_cell(g, s, refs[i].net, refs[i].fam, refs[i].mode, refs[i].tap,
                                STUDY_HEAD_LINEAR)->accuracy;
            const double *r = boot_rep(bt, s, refs[i].net, refs[i].fam, refs[i].mode, refs[i].tap);
            for (int k = 0; k < B; k++) mean_rep[(size_t)k * n + i] += r[k];
        }
    }
    int rc = -1;
    if (used) {
        for (int i = 0; i < n; i++) acc[i] /= used;
        for (size_t k = 0; k < (size_t)n * B; k++) mean_rep[k] /= used;
        *value = fn(acc, ctx);
        for (int k = 0; k < B; k++) rep[k] = fn(mean_rep + (size_t)k * n, ctx);
        stats_interval95(rep, B, lo, hi);
        rc = 0;
    }
    free(acc);
    free(rep);
    free(mean_rep);
    return rc;
}

/* P2: mean |trained - random| - mean |aug - noaug| over cells; acc holds
 * per cell (aug, noaug, random) triples. */
static double stat_invariance(const double *acc, const void *ctx) {
    int cells = *(const int *)ctx;
    double tr = 0, an = 0;
    for (int i = 0; i < cells; i++) {
        const double *a = acc + 3 * i;
        tr += fabs((a[0] + a[1]) / 2 - a[2]);
        an += fabs(a[0] - a[1]);
    }
    return (tr - an) / cells;
}

/* P3: per trained network (k taps each: the first, the middle ones, the
 * last; seed_cnn: block1, block2, block3, dense1), max(middle) - max(ends),
 * averaged. ctx: {nets, k}. */
static double stat_middle(const double *acc, const void *ctx) {
    const int nets = ((const int *)ctx)[0], k = ((const int *)ctx)[1];
    double sum = 0;
    for (int i = 0; i < nets; i++) {
        const double *a = acc + k * i;
        double mid = a[1];
        for (int j = 2; j < k - 1; j++) mid = fmax(mid, a[j]);
        sum += mid - fmax(a[0], a[k - 1]);
    }
    return sum / nets;
}

static void verdict(Prediction *p) {
    if (!p->checked)
        p->verdict = "not checked";
    else if (p->lo > 0)
        p->verdict = "supported";
    else if (p->hi < 0)
        p->verdict = "not supported";
    else
        p->verdict = "inconclusive";
}

/* The taps the predictions compare: the network's first and last taps
 * (the shallowest and deepest) and its spatial taps in between (middle
 * depth; seed_cnn: block2_pool, block3_pool, not flatten, which is
 * block3_pool unpooled). */
static int middle_taps(const StudyConfig *c, int *mid) {
    int n = 0;
    for (int t = 1; t < c->n_taps - 1; t++)
        if (c->taps[t].pool == PROBE_POOL_AVG) mid[n++] = t;
    return n;
}

static void predictions_make(const Grid *g, const Boot *bt, Prediction P[3]) {
    const StudyConfig *c = g->c;
    const int M = STUDY_MODE_CROSS, B1 = 0, D1 = c->n_taps - 1;
    const char *first = c->taps[B1].label, *last = c->taps[D1].label;
    int have_cross = selected(c->mode_mask, M);
    int have_trained = selected(c->net_mask, STUDY_NET_AUG) && selected(c->net_mask, STUDY_NET_NOAUG);
    int have_ends = D1 > B1 && selected(c->tap_mask, B1) && selected(c->tap_mask, D1);
    memset(P, 0, 3 * sizeof *P);
    /* P1 */
    P[0].claim = "colour augmentations (brightness, saturation) are decoded best in early layers";
    P[0].source = "Yan & Huang, Fig. 1b";
    snprintf(P[0].statistic, sizeof P[0].statistic,
             "accuracy at %s minus at %s, mean over brightness and saturation and the two "
             "trained networks (cross pairs, linear probe)",
             first, last);
    if (have_cross && have_trained && have_ends && selected(c->family_mask, 2) &&
        selected(c->family_mask, 4)) {
        Term t[8];
        int n = 0, fams[2] = {2, 4}, nets[2] = {STUDY_NET_AUG, STUDY_NET_NOAUG};
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                t[n++] = (Term){ref(nets[j], fams[i], M, B1), 0.25};
                t[n++] = (Term){ref(nets[j], fams[i], M, D1), -0.25};
            }
        P[0].checked = combine(g, bt, t, n, &P[0].value, &P[0].lo, &P[0].hi) == 0;
    }
    verdict(&P[0]);
    /* P2 */
    P[1].claim = "training data more than augmentation makes features invariant: |aug - noaug| is "
                 "smaller than |trained - random|";
    P[1].source = "Bouchacourt, Ibrahim & Morcos, NeurIPS 2021";
    snprintf(P[1].statistic, sizeof P[1].statistic, "%s",
             "mean |(aug + noaug)/2 - random| minus mean |aug - noaug| over every family "
             "and tap (cross pairs, linear probe)");
    if (have_cross && have_trained && selected(c->net_mask, STUDY_NET_RANDOM)) {
        Ref refs[3 * STUDY_FAMILIES * STUDY_TAPS];
        int cells = 0;
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int ti = 0; ti < g->n_taps; ti++) {
                int f = g->fams[fi], t = g->taps[ti];
                refs[3 * cells] = ref(STUDY_NET_AUG, f, M, t);
                refs[3 * cells + 1] = ref(STUDY_NET_NOAUG, f, M, t);
                refs[3 * cells + 2] = ref(STUDY_NET_RANDOM, f, M, t);
                cells++;
            }
        P[1].checked = cells && nonlinear(g, bt, refs, 3 * cells, stat_invariance, &cells,
                                          &P[1].value, &P[1].lo, &P[1].hi) == 0;
    }
    verdict(&P[1]);
    /* P3 */
    int mid[STUDY_TAPS], n_mid = middle_taps(c, mid), all_mid = n_mid > 0;
    Str mids = {0};
    for (int i = 0; i < n_mid; i++) {
        str_printf(&mids, "%s%s", i ? ", " : "", c->taps[mid[i]].label);
        all_mid &= selected(c->tap_mask, mid[i]);
    }
    P[2].claim = "scale (zoom) is decoded best at middle depth";
    P[2].source = "Graziani et al. 2021";
    snprintf(P[2].statistic, sizeof P[2].statistic,
             "best of %s minus best of %s, %s, for zoom, mean over the two trained networks "
             "(cross pairs, linear probe)",
             n_mid ? mids.s : "(no spatial tap between the first and the last)", first, last);
    free(mids.s);
    if (have_cross && have_trained && selected(c->family_mask, 0) && have_ends && all_mid) {
        Ref refs[2 * STUDY_TAPS];
        int k = 0, which[2] = {STUDY_NET_AUG, STUDY_NET_NOAUG};
        for (int i = 0; i < 2; i++) {
            refs[k++] = ref(which[i], 0, M, B1);
            for (int j = 0; j < n_mid; j++) refs[k++] = ref(which[i], 0, M, mid[j]);
            refs[k++] = ref(which[i], 0, M, D1);
        }
        int ctx[2] = {2, n_mid + 2};
        P[2].checked = nonlinear(g, bt, refs, k, stat_middle, ctx, &P[2].value, &P[2].lo,
                                 &P[2].hi) == 0;
    }
    verdict(&P[2]);
}

/* ---- text helpers ---- */

static void fmt_est(const Est *x, char *buf, size_t len) {
    if (!x->n)
        snprintf(buf, len, "-");
    else if (x->n == 1)
        snprintf(buf, len, "%.3f [%.3f, %.3f]", x->value, x->lo, x->hi);
    else
        snprintf(buf, len, "%.3f ± %.3f [%.3f, %.3f]", x->value, x->sd, x->lo, x->hi);
}

static void fmt_diff(const Est *x, char *buf, size_t len) {
    if (!x->n) {
        snprintf(buf, len, "-");
        return;
    }
    int real = real_diff(x);
    snprintf(buf, len, "%s%+.3f [%+.3f, %+.3f]%s", real ? "**" : "", x->value, x->lo, x->hi,
             real ? "**" : "");
}

/* The cell's threshold as text, from its seed-1 ... seeds values joined. */
static void fmt_thresholds(const Grid *g, int net, int fam, int mode, int tap, char *buf,
                           size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int s = 1; s <= g->c->seeds && used + 1 < len; s++) {
        const Cell *x = grid_cell(g, s, net, fam, mode, tap, STUDY_HEAD_LINEAR);
        if (!x->have) continue;
        ProbeResult r;
        memset(&r, 0, sizeof r);
        r.n_gaps = x->n_gaps;
        for (int k = 0; k < x->n_gaps; k++) r.gap[k] = x->gap[k];
        r.threshold = x->threshold;
        r.thr_lo = x->thr_lo;
        r.thr_hi = x->thr_hi;
        r.thr_where = x->thr_where;
        char t[128];
        probe_threshold_text(&r, t, sizeof t);
        int w = snprintf(buf + used, len - used, "%s%s", used ? " / " : "", t);
        if (w > 0) used += (size_t)w;
    }
    if (!buf[0]) snprintf(buf, len, "-");
}

/* ---- setup facts ---- */

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *p = strchr(line, ':');
        if (!p) continue;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        snprintf(buf, len, "%s", p);
        buf[strcspn(buf, "\n")] = 0;
        break;
    }
    fclose(f);
}

/* What a trained network's run.json says (zeros when absent). */
typedef struct NetRun {
    int present, epochs_done;
    double train_acc, val_acc, test_acc, seconds;
    char status[32];
    int curves; /* curves.png exists */
} NetRun;

static void read_run(const StudyConfig *c, int seed, int net, NetRun *r) {
    memset(r, 0, sizeof *r);
    if (net != STUDY_NET_AUG && net != STUDY_NET_NOAUG) return;
    char name[64];
    snprintf(name, sizeof name, "seed%d/%s/run.json", seed, STUDY_NET_NAMES[net]);
    char *path = path_join(c->out_dir, name);
    snprintf(name, sizeof name, "seed%d/%s/curves.png", seed, STUDY_NET_NAMES[net]);
    char *curves = path_join(c->out_dir, name);
    r->curves = path_exists(curves);
    uint8_t *text;
    size_t len;
    if (path_exists(path) && file_read_all(path, &text, &len, NULL) == 0) {
        cJSON *o = cJSON_Parse((const char *)text);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
        const cJSON *fin = cJSON_GetObjectItemCaseSensitive(o, "final");
        double ep;
        if (o && cJSON_IsString(st) && cJSON_IsObject(fin) &&
            json_get_number(o, "epochs_done", &ep) == 0 &&
            json_get_number(fin, "train_acc", &r->train_acc) == 0 &&
            json_get_number(fin, "val_acc", &r->val_acc) == 0 &&
            json_get_number(fin, "test_acc", &r->test_acc) == 0) {
            r->epochs_done = (int)ep;
            json_get_number(o, "epoch_seconds_total", &r->seconds);
            snprintf(r->status, sizeof r->status, "%s", st->valuestring);
            r->present = 1;
        }
        cJSON_Delete(o);
        free(text);
    }
    free(path);
    free(curves);
}

typedef struct Setup {
    char cpu[256];
    long cores;
    const char *kernels, *compiled, *device;
    int threads, n_train;
    char eval_what[64];
    double wall, cpu_secs;
    double probe_secs, train_secs; /* recorded in the cells and runs, all invocations */
} Setup;

/* ---- the whole analysis ---- */

/* The taps' importance for one (network, family, mode), over the seeds
 * (importance.h): point values from the seeds' mean accuracies, intervals
 * from the seeds' mean replicates. Taps in grid order. */
typedef struct Imp {
    int seeds;    /* seeds with the cell (0: absent) */
    double acc_all, acc_lo, acc_hi;
    double loss[STUDY_TAPS], loss_lo[STUDY_TAPS], loss_hi[STUDY_TAPS];
    double share[STUDY_TAPS], share_lo[STUDY_TAPS], share_hi[STUDY_TAPS];
    int negative; /* losses below 0 (clipped to 0 in the shares) */
} Imp;

typedef struct Analysis {
    Boot boot;
    Est acc[STUDY_NETS][STUDY_FAMILIES][STUDY_MODES][STUDY_TAPS]; /* floors at tap 0 */
    Imp imp[STUDY_NETS][STUDY_FAMILIES][STUDY_MODES];
    Diffs diffs;
    Prediction pred[3];
    int nb_have;       /* the notebook's cells (mlp, linear) are both there */
    double nb_diff, nb_lo, nb_hi; /* mlp - linear on the notebook's pairs */
    Str findings;
} Analysis;

/* MLP - linear on the notebook's cell: same pairs, paired bootstrap. */
static void notebook_diff(const Grid *g, Analysis *A) {
    const Cell *m = &g->notebook[STUDY_HEAD_MLP], *l = &g->notebook[STUDY_HEAD_LINEAR];
    A->nb_have = m->have && l->have && m->pairs_test == l->pairs_test && m->outcome && l->outcome;
    if (!A->nb_have) return;
    float levels[PROBE_MAX_LEVELS];
    int n_levels = aug_default_levels(AUG_ZOOM, levels);
    ProbePairs pairs;
    probe_pairs_make(&pairs, g->n_test, g->c->passes, levels, n_levels, 1, PROBE_SPLIT_TEST,
                     PROBE_PAIRS_SAME, g->c->threads);
    int *gap_of = xmalloc(sizeof(int) * (size_t)(pairs.n > 0 ? pairs.n : 1));
    for (int k = 0; k < pairs.n; k++) gap_of[k] = pairs.target[k] == 0 ? -1 : 0;
    const int B = g->c->boot;
    int *draws = stats_boot_draws(1, probe_boot_group(AUG_ZOOM, PROBE_PAIRS_SAME), g->n_test, B,
                                  g->c->threads);
    double *rm = xmalloc(sizeof(double) * (size_t)B), *rl = xmalloc(sizeof(double) * (size_t)B);
    Outcomes om, ol;
    outcomes_make(&om, g->n_test, 1, pairs.n, pairs.image, gap_of, m->outcome);
    outcomes_make(&ol, g->n_test, 1, pairs.n, pairs.image, gap_of, l->outcome);
    stats_boot_accuracy(&om, draws, B, rm, g->c->threads);
    stats_boot_accuracy(&ol, draws, B, rl, g->c->threads);
    for (int r = 0; r < B; r++) rm[r] -= rl[r];
    A->nb_diff = m->accuracy - l->accuracy;
    stats_interval95(rm, B, &A->nb_lo, &A->nb_hi);
    outcomes_free(&om);
    outcomes_free(&ol);
    free(rm);
    free(rl);
    free(draws);
    free(gap_of);
    probe_pairs_free(&pairs);
}

static void analyse_findings(const Grid *g, Analysis *A);

static void importance_make(const Grid *g, Analysis *A) {
    const StudyConfig *c = g->c;
    const int B = c->boot, T = g->n_imp;
    if (!study_has_importance(g)) return;
    double *rep_all = xmalloc(sizeof(double) * (size_t)B);
    double *rep_wo = xmalloc(sizeof(double) * (size_t)B * T);
    double *sum_all = xmalloc(sizeof(double) * (size_t)B);
    double *sum_wo = xmalloc(sizeof(double) * (size_t)B * T);
    for (int ni = 0; ni < g->n_nets; ni++)
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int mi = 0; mi < g->n_modes; mi++) {
                int n = g->nets[ni], f = g->fams[fi], m = g->modes[mi];
                if (study_is_floor(n)) continue;
                Imp *x = &A->imp[n][f][m];
                float levels[PROBE_MAX_LEVELS];
                int n_levels = study_levels(f, levels);
                ProbePairMode pm = m == STUDY_MODE_CROSS ? PROBE_PAIRS_CROSS : PROBE_PAIRS_SAME;
                double all = 0, without[STUDY_TAPS] = {0};
                memset(sum_all, 0, sizeof(double) * (size_t)B);
                memset(sum_wo, 0, sizeof(double) * (size_t)B * T);
                for (int s = 1; s <= c->seeds; s++) {
                    const ImpCell *ic = grid_imp(g, s, n, f, m);
                    if (!ic->have || ic->f.n_taps != T) continue;
                    x->seeds++;
                    importance_boot(&ic->f, g->n_test, c->passes, levels, n_levels, (uint64_t)s,
                                    STUDY_FAMILY_KINDS[f], pm, B, c->threads, rep_all, rep_wo);
                    all += ic->f.acc_all;
                    for (int t = 0; t < T; t++) without[t] += ic->f.acc_without[t];
                    for (int r = 0; r < B; r++) sum_all[r] += rep_all[r];
                    for (size_t k = 0; k < (size_t)B * T; k++) sum_wo[k] += rep_wo[k];
                }
                if (!x->seeds) continue;
                all /= x->seeds;
                for (int t = 0; t < T; t++) without[t] /= x->seeds;
                for (int r = 0; r < B; r++) sum_all[r] /= x->seeds;
                for (size_t k = 0; k < (size_t)B * T; k++) sum_wo[k] /= x->seeds;
                x->acc_all = all;
                stats_interval95(sum_all, B, &x->acc_lo, &x->acc_hi);
                x->negative = importance_shares(T, all, without, x->loss, x->share);
                importance_intervals(T, B, sum_all, sum_wo, x->loss_lo, x->loss_hi, x->share_lo,
                                     x->share_hi);
            }
    free(rep_all);
    free(rep_wo);
    free(sum_all);
    free(sum_wo);
}

static void analyse(const Grid *g, Analysis *A) {
    memset(A, 0, sizeof *A);
    boot_make(g, &A->boot);
    for (int ni = 0; ni < g->n_nets; ni++)
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int mi = 0; mi < g->n_modes; mi++) {
                int n = g->nets[ni], f = g->fams[fi], m = g->modes[mi];
                int n_taps = study_is_floor(n) ? 1 : g->n_taps;
                for (int ti = 0; ti < n_taps; ti++) {
                    int t = study_is_floor(n) ? 0 : g->taps[ti];
                    A->acc[n][f][m][t] = estimate(g, &A->boot, ref(n, f, m, t), none());
                }
            }
    diffs_make(g, &A->boot, &A->diffs);
    predictions_make(g, &A->boot, A->pred);
    importance_make(g, A);
    notebook_diff(g, A);
    analyse_findings(g, A);
}

static void analysis_free(Analysis *A) {
    boot_free(&A->boot);
    free(A->findings.s);
}

static const Est *acc_of(const Analysis *A, int net, int fam, int mode, int tap) {
    return &A->acc[net][fam][mode][study_is_floor(net) ? 0 : tap];
}

/* The findings paragraph: only what the intervals support. */
static void analyse_findings(const Grid *g, Analysis *A) {
    const StudyConfig *c = g->c;
    Str *out = &A->findings;
    const int M = selected(c->mode_mask, STUDY_MODE_CROSS) ? STUDY_MODE_CROSS : STUDY_MODE_SAME;
    str_printf(out, "Chance is 0.5. The primary answer uses %s pairs and the linear probe; "
                    "intervals are 95%% bootstrap intervals over test images, and a difference "
                    "counts only when its interval excludes 0. ",
               STUDY_MODE_NAMES[M]);
    /* floors */
    for (int fl = STUDY_NET_PIXELS; fl <= STUDY_NET_STATS; fl++) {
        if (!selected(c->net_mask, fl)) continue;
        double lo = INFINITY, hi = -INFINITY;
        int flo = -1, fhi = -1, at_ceiling = 0;
        for (int fi = 0; fi < g->n_fams; fi++) {
            const Est *e = acc_of(A, fl, g->fams[fi], M, 0);
            if (!e->n) continue;
            if (e->value < lo) lo = e->value, flo = g->fams[fi];
            if (e->value > hi) hi = e->value, fhi = g->fams[fi];
            at_ceiling += e->value >= 0.99;
        }
        if (flo < 0) continue;
        str_printf(out, "**The %s floor** ranges from %.3f (%s) to %.3f (%s)%s. ",
                   STUDY_NET_NAMES[fl], lo, FAM(flo), hi, FAM(fhi),
                   at_ceiling ? ", and sits at the ceiling (>= 0.99) for some families, where "
                                "no tap can show more"
                              : ", below the ceiling for every family");
    }
    /* per family: where aug encodes beyond both pixels and random */
    if (selected(c->net_mask, STUDY_NET_AUG) && selected(c->net_mask, STUDY_NET_PIXELS) &&
        selected(c->net_mask, STUDY_NET_RANDOM)) {
        str_printf(out, "**Encoded beyond pixels and the untrained network** (`aug`, both "
                        "differences real): ");
        int any_family = 0;
        for (int fi = 0; fi < g->n_fams; fi++) {
            int f = g->fams[fi], k = 0;
            Str taps = {0};
            for (int ti = 0; ti < g->n_taps; ti++) {
                int t = g->taps[ti];
                const Est *dp = &A->diffs.d[M][f][t][CMP_AUG_PIXELS];
                const Est *dr = &A->diffs.d[M][f][t][CMP_AUG_RANDOM];
                if (!(real_diff(dp) && dp->value > 0 && real_diff(dr) && dr->value > 0)) continue;
                str_printf(&taps, "%s%s (%+.3f over pixels, %+.3f over random)", k++ ? ", " : "",
                           c->taps[t].label, dp->value, dr->value);
            }
            if (k) {
                str_printf(out, "%s%s at %s", any_family ? "; " : "", FAM(f), taps.s);
                any_family = 1;
            }
            free(taps.s);
        }
        if (!any_family) str_printf(out, "no family at any tap");
        str_printf(out, ". ");
        /* below the pixel floor */
        int below = 0;
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int ti = 0; ti < g->n_taps; ti++) {
                const Est *d = &A->diffs.d[M][g->fams[fi]][g->taps[ti]][CMP_AUG_PIXELS];
                below += real_diff(d) && d->value < 0;
            }
        if (below)
            str_printf(out, "In %d family x tap cells `aug` decodes *less* than the pixels do "
                            "(the network discards the change there). ",
                       below);
    }
    /* trained vs untrained, aug vs noaug, aug vs the stats floor: counts of
     * real differences */
    const int kinds[4] = {CMP_AUG_RANDOM, CMP_NOAUG_RANDOM, CMP_AUG_NOAUG, CMP_AUG_STATS};
    for (int i = 0; i < 4; i++) {
        int k = kinds[i], up = 0, down = 0, n = 0;
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int ti = 0; ti < g->n_taps; ti++) {
                const Est *d = &A->diffs.d[M][g->fams[fi]][g->taps[ti]][k];
                if (!d->n) continue;
                n++;
                up += real_diff(d) && d->value > 0;
                down += real_diff(d) && d->value < 0;
            }
        if (!n) continue;
        str_printf(out, "**%s - %s**: higher in %d, lower in %d, no real difference in %d of %d "
                        "family x tap cells",
                   STUDY_NET_NAMES[CMP_A[k]], STUDY_NET_NAMES[CMP_B[k]], up, down, n - up - down,
                   n);
        if (k == CMP_AUG_STATS) { /* the families no layer decodes beyond the statistics */
            int none = 0;
            for (int fi = 0; fi < g->n_fams; fi++) {
                int f = g->fams[fi], any = 0, have = 0;
                for (int ti = 0; ti < g->n_taps; ti++) {
                    const Est *d = &A->diffs.d[M][f][g->taps[ti]][k];
                    have += d->n > 0;
                    any += real_diff(d) && d->value > 0;
                }
                if (have && !any)
                    str_printf(out, "%s%s", none++ ? ", " : "; no tap is above it for ", FAM(f));
            }
        }
        str_printf(out, ". ");
    }
    /* predictions */
    str_printf(out, "**Predictions from the literature**: ");
    for (int i = 0; i < 3; i++) {
        const Prediction *p = &A->pred[i];
        str_printf(out, "(%d) %s (%s): **%s**", i + 1, p->claim, p->source, p->verdict);
        if (p->checked) str_printf(out, " (%+.3f [%+.3f, %+.3f])", p->value, p->lo, p->hi);
        str_printf(out, "%s", i < 2 ? "; " : ". ");
    }
    if (study_has_importance(g) && selected(c->net_mask, STUDY_NET_AUG)) {
        str_printf(out, "**Most important tap** (`aug`: the largest share of the accuracy a "
                        "linear probe on all taps loses when one is left out): ");
        int k = 0;
        for (int fi = 0; fi < g->n_fams; fi++) {
            const Imp *x = &A->imp[STUDY_NET_AUG][g->fams[fi]][M];
            if (!x->seeds) continue;
            int best = -1;
            for (int ti = 0; ti < g->n_imp; ti++)
                if (isfinite(x->share[ti]) && (best < 0 || x->share[ti] > x->share[best])) best = ti;
            if (best < 0)
                str_printf(out, "%s%s none (no tap loses accuracy)", k++ ? "; " : "",
                           FAM(g->fams[fi]));
            else
                str_printf(out, "%s%s %s %.3f [%.3f, %.3f]", k++ ? "; " : "", FAM(g->fams[fi]),
                           c->taps[g->imp_taps[best]].label, x->share[best], x->share_lo[best],
                           x->share_hi[best]);
        }
        str_printf(out, ". ");
    }
    if (A->nb_have)
        str_printf(out, "**MLP - linear** on the notebook's cell (same pairs, zoom 0.5..0.9, "
                        "flatten): %+.3f [%+.3f, %+.3f]%s. ",
                   A->nb_diff, A->nb_lo, A->nb_hi,
                   A->nb_lo > 0 || A->nb_hi < 0 ? " (real)" : " (no real difference)");
    str_printf(out, "This report made %d paired comparisons; %d have an interval that excludes "
                    "0, where about %.0f would by chance alone if nothing differed (5%%, no "
                    "correction for multiple comparisons). ",
               A->diffs.made, A->diffs.real, 0.05 * A->diffs.made);
    if (c->seeds == 1)
        str_printf(out, "One seed: the intervals cover the test images' sampling, not "
                        "retraining or probe initialisation.");
    else
        str_printf(out, "Over %d seeds: point values are means over seeds, intervals pool the "
                        "seeds' bootstrap replicates.",
                   c->seeds);
    str_printf(out, " Decodable does not mean used: these say what a linear read-out can recover "
                    "from a layer, not what the network relies on.");
}

/* ---- depth.png ---- */

static int draw_depth(const Grid *g, const Analysis *A, const char *path, Err *e) {
    const StudyConfig *c = g->c;
    const int M = selected(c->mode_mask, STUDY_MODE_CROSS) ? STUDY_MODE_CROSS : STUDY_MODE_SAME;
    enum { NS = 3 };
    static const int NETS[NS] = {STUDY_NET_AUG, STUDY_NET_NOAUG, STUDY_NET_RANDOM};
    PlotPanel panels[STUDY_FAMILIES];
    PlotSeries series[STUDY_FAMILIES][NS];
    PlotBand bands[STUDY_FAMILIES][2];
    double xs[STUDY_TAPS], y[STUDY_FAMILIES][NS][STUDY_TAPS], lo[STUDY_FAMILIES][NS][STUDY_TAPS],
        hi[STUDY_FAMILIES][NS][STUDY_TAPS];
    const char *ticks[STUDY_TAPS];
    char titles[STUDY_FAMILIES][64];
    double ymin = 0.4;
    for (int ti = 0; ti < g->n_taps; ti++) {
        xs[ti] = ti;
        ticks[ti] = c->taps[g->taps[ti]].label;
    }
    for (int fi = 0; fi < g->n_fams; fi++) {
        int f = g->fams[fi], ns = 0, nb = 0;
        for (int k = 0; k < NS; k++) {
            if (!selected(c->net_mask, NETS[k])) continue;
            for (int ti = 0; ti < g->n_taps; ti++) {
                const Est *x = acc_of(A, NETS[k], f, M, g->taps[ti]);
                y[fi][ns][ti] = x->n ? x->value : NAN;
                lo[fi][ns][ti] = x->n ? x->lo : NAN;
                hi[fi][ns][ti] = x->n ? x->hi : NAN;
                if (x->n && x->lo < ymin) ymin = floor(x->lo * 10) / 10;
            }
            series[fi][ns] = (PlotSeries){STUDY_NET_NAMES[NETS[k]], xs, y[fi][ns], g->n_taps,
                                          lo[fi][ns], hi[fi][ns]};
            ns++;
        }
        for (int fl = STUDY_NET_PIXELS; fl <= STUDY_NET_STATS; fl++) {
            const Est *x = acc_of(A, fl, f, M, 0);
            if (!selected(c->net_mask, fl) || !x->n) continue;
            bands[fi][nb++] = (PlotBand){fl == STUDY_NET_PIXELS ? "pixels floor" : "stats floor",
                                         x->value, x->lo, x->hi};
            if (x->lo < ymin) ymin = floor(x->lo * 10) / 10;
        }
        snprintf(titles[fi], sizeof titles[fi], "%s (%s pairs)", FAM(f), STUDY_MODE_NAMES[M]);
        panels[fi] = (PlotPanel){titles[fi], "tap (shallow to deep)", "probe test accuracy",
                                 series[fi], ns, ticks, g->n_taps, bands[fi], nb, 0, 1};
    }
    for (int fi = 0; fi < g->n_fams; fi++) panels[fi].ymin = ymin;
    return plot_grid_png(path, panels, g->n_fams, g->n_fams < 4 ? g->n_fams : 4, e);
}

/* ---- importance.png ---- */

/* One panel per network (aug, noaug, random): each tap's share, one series
 * per family, with interval bars (primary pair mode). */
static int draw_importance(const Grid *g, const Analysis *A, const char *path, Err *e) {
    const StudyConfig *c = g->c;
    const int M = selected(c->mode_mask, STUDY_MODE_CROSS) ? STUDY_MODE_CROSS : STUDY_MODE_SAME;
    enum { NS = 3 };
    static const int NETS[NS] = {STUDY_NET_AUG, STUDY_NET_NOAUG, STUDY_NET_RANDOM};
    PlotPanel panels[NS];
    PlotSeries series[NS][STUDY_FAMILIES];
    double xs[STUDY_TAPS], y[NS][STUDY_FAMILIES][STUDY_TAPS], lo[NS][STUDY_FAMILIES][STUDY_TAPS],
        hi[NS][STUDY_FAMILIES][STUDY_TAPS];
    const char *ticks[STUDY_TAPS];
    char titles[NS][96];
    int np = 0;
    for (int ti = 0; ti < g->n_imp; ti++) {
        xs[ti] = ti;
        ticks[ti] = c->taps[g->imp_taps[ti]].label;
    }
    for (int k = 0; k < NS; k++) {
        if (!selected(c->net_mask, NETS[k])) continue;
        for (int fi = 0; fi < g->n_fams; fi++) {
            const Imp *x = &A->imp[NETS[k]][g->fams[fi]][M];
            for (int ti = 0; ti < g->n_imp; ti++) {
                y[np][fi][ti] = x->seeds ? x->share[ti] : NAN;
                lo[np][fi][ti] = x->seeds ? x->share_lo[ti] : NAN;
                hi[np][fi][ti] = x->seeds ? x->share_hi[ti] : NAN;
            }
            series[np][fi] = (PlotSeries){FAM(g->fams[fi]), xs, y[np][fi], g->n_imp, lo[np][fi],
                                          hi[np][fi]};
        }
        snprintf(titles[np], sizeof titles[np], "%s (%s pairs)", STUDY_NET_NAMES[NETS[k]],
                 STUDY_MODE_NAMES[M]);
        panels[np] = (PlotPanel){titles[np], "tap (shallow to deep)",
                                 "share of the accuracy lost without it", series[np], g->n_fams,
                                 ticks, g->n_imp, NULL, 0, 0, 1};
        np++;
    }
    if (!np) return 0;
    return plot_grid_png(path, panels, np, np, e);
}

/* ---- report.md ---- */

static const char *tap_label(const StudyConfig *c, int t, char *buf, size_t len) {
    snprintf(buf, len, "%s (%s%d)", c->taps[t].label,
             c->taps[t].pool == PROBE_POOL_AVG ? "avg, " : "", c->taps[t].dim);
    return buf;
}

static void family_tables(FILE *f, const Grid *g, const Analysis *A, int fam) {
    const StudyConfig *c = g->c;
    float lv[PROBE_MAX_LEVELS];
    int n = study_levels(fam, lv);
    fprintf(f, "### %s\n\nLevels ", FAM(fam));
    for (int i = 0; i < n; i++) fprintf(f, "%s%g", i ? ", " : "", (double)lv[i]);
    fprintf(f, " (identity %g).\n\n", (double)aug_identity_level(STUDY_FAMILY_KINDS[fam]));
    for (int mi = 0; mi < g->n_modes; mi++) {
        int m = g->modes[mi];
        fprintf(f, "**%s pairs** (%s). Each cell: accuracy [95%% interval]; θ = the 75%% "
                   "threshold gap [interval].\n\n",
                STUDY_MODE_NAMES[m],
                m == STUDY_MODE_CROSS ? "a and b are different images: the primary answer"
                                      : "two copies of one image: the notebook's design");
        fprintf(f, "| tap |");
        for (int ni = 0; ni < g->n_nets; ni++) fprintf(f, " %s |", STUDY_NET_NAMES[g->nets[ni]]);
        fprintf(f, "\n|---|");
        for (int ni = 0; ni < g->n_nets; ni++) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int ti = 0; ti < g->n_taps; ti++) {
            int t = g->taps[ti];
            char lab[96];
            fprintf(f, "| %s |", tap_label(c, t, lab, sizeof lab));
            for (int ni = 0; ni < g->n_nets; ni++) {
                int net = g->nets[ni];
                char a[96], th[320];
                fmt_est(acc_of(A, net, fam, m, t), a, sizeof a);
                fmt_thresholds(g, net, fam, m, study_is_floor(net) ? 0 : t, th, sizeof th);
                fprintf(f, " %s<br>θ %s |", a, th);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
        if (m != STUDY_MODE_CROSS && selected(c->mode_mask, STUDY_MODE_CROSS)) continue;
        fprintf(f, "Paired differences of accuracy (%s pairs; **bold**: the interval excludes "
                   "0):\n\n| tap |",
                STUDY_MODE_NAMES[m]);
        for (int k = 0; k < CMP_KINDS; k++)
            fprintf(f, " %s − %s |", STUDY_NET_NAMES[CMP_A[k]], STUDY_NET_NAMES[CMP_B[k]]);
        fprintf(f, "\n|---|");
        for (int k = 0; k < CMP_KINDS; k++) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int ti = 0; ti < g->n_taps; ti++) {
            int t = g->taps[ti];
            fprintf(f, "| %s |", c->taps[t].label);
            for (int k = 0; k < CMP_KINDS; k++) {
                char d[96];
                fmt_diff(&A->diffs.d[m][fam][t][k], d, sizeof d);
                fprintf(f, " %s |", d);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    }
}

static void zoom_blur_table(FILE *f, const Grid *g, const Analysis *A) {
    const StudyConfig *c = g->c;
    const int Z = 0, BL = 6, M = selected(c->mode_mask, STUDY_MODE_CROSS) ? STUDY_MODE_CROSS
                                                                          : STUDY_MODE_SAME;
    if (!selected(c->family_mask, Z) || !selected(c->family_mask, BL)) return;
    fprintf(f, "### zoom beside its blur control\n\nBilinear zoom-in blurs the image, so a "
               "probe might rank zoom by sharpness alone. Side by side (%s pairs, linear "
               "probe): a tap that ranks zoom finely (small θ) but blur coarsely reads more than "
               "blur. The two ladders differ, so compare the patterns across taps and "
               "networks, not the raw numbers.\n\n| network | tap | zoom | blur |\n|---|---|---|---|\n",
            STUDY_MODE_NAMES[M]);
    for (int ni = 0; ni < g->n_nets; ni++) {
        int net = g->nets[ni];
        int n_taps = study_is_floor(net) ? 1 : g->n_taps;
        for (int ti = 0; ti < n_taps; ti++) {
            int t = study_is_floor(net) ? 0 : g->taps[ti];
            char az[96], ab[96], tz[320], tb[320];
            fmt_est(acc_of(A, net, Z, M, t), az, sizeof az);
            fmt_est(acc_of(A, net, BL, M, t), ab, sizeof ab);
            fmt_thresholds(g, net, Z, M, t, tz, sizeof tz);
            fmt_thresholds(g, net, BL, M, t, tb, sizeof tb);
            fprintf(f, "| %s | %s | %s; θ %s | %s; θ %s |\n", STUDY_NET_NAMES[net],
                    study_cell_layer(c, net, t), az, tz, ab, tb);
        }
    }
    fprintf(f, "\n");
}

/* The taps' importance (importance.h), per network, in the primary pair
 * mode; results.json has both modes. */
static void importance_tables(FILE *f, const Grid *g, const Analysis *A) {
    const StudyConfig *c = g->c;
    const int M = selected(c->mode_mask, STUDY_MODE_CROSS) ? STUDY_MODE_CROSS : STUDY_MODE_SAME;
    fprintf(f, "## Relative importance of the taps\n\n");
    if (!study_has_importance(g)) {
        fprintf(f, "Not in this grid (it needs 2 or more taps).\n\n");
        return;
    }
    fprintf(f, "As in Yan & Huang's Fig. 1b: one linear probe on all %d taps' features together "
               "(each feature standardised, so each tap separately), and one without each tap. "
               "A tap's importance is the accuracy lost without it (Δ); its share is Δ over the "
               "sum of the taps' Δ, with negative Δ (the tap only added noise) counted as 0 in "
               "the shares. Two taps that carry the same information both lose about 0: a "
               "share says what a tap adds beyond the others, not what it holds. Each cell: "
               "share [95%% interval]; Δ [interval], paired (every probe sees the same test "
               "pairs and the bootstrap resamples the same images); %s pairs.\n\n",
            g->n_imp, STUDY_MODE_NAMES[M]);
    for (int ti = 0; ti < g->n_taps; ti++) {
        int t = g->taps[ti], same = c->taps[t].same_as;
        if (same >= 0 && selected(c->tap_mask, same))
            fprintf(f, "`%s` is `%s` averaged over space, the same values: left out of these "
                       "probes (with both in, each would lose nothing without the other).\n\n",
                    c->taps[t].label, c->taps[same].label);
    }
    for (int ni = 0; ni < g->n_nets; ni++) {
        int net = g->nets[ni], negative = 0, any = 0;
        if (study_is_floor(net)) continue;
        for (int fi = 0; fi < g->n_fams; fi++) any |= A->imp[net][g->fams[fi]][M].seeds > 0;
        if (!any) continue;
        fprintf(f, "**%s**\n\n| tap |", STUDY_NET_NAMES[net]);
        for (int fi = 0; fi < g->n_fams; fi++) fprintf(f, " %s |", FAM(g->fams[fi]));
        fprintf(f, "\n|---|");
        for (int fi = 0; fi < g->n_fams; fi++) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int ti = 0; ti < g->n_imp; ti++) {
            fprintf(f, "| %s |", c->taps[g->imp_taps[ti]].label);
            for (int fi = 0; fi < g->n_fams; fi++) {
                const Imp *x = &A->imp[net][g->fams[fi]][M];
                if (!x->seeds) {
                    fprintf(f, " - |");
                    continue;
                }
                if (isfinite(x->share[ti]))
                    fprintf(f, " %.3f [%.3f, %.3f]", x->share[ti], x->share_lo[ti],
                            x->share_hi[ti]);
                else
                    fprintf(f, " undefined");
                fprintf(f, "<br>Δ %+.3f [%+.3f, %+.3f] |", x->loss[ti], x->loss_lo[ti],
                        x->loss_hi[ti]);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "| all taps (accuracy) |");
        for (int fi = 0; fi < g->n_fams; fi++) {
            const Imp *x = &A->imp[net][g->fams[fi]][M];
            negative += x->negative;
            if (x->seeds)
                fprintf(f, " %.3f [%.3f, %.3f] |", x->acc_all, x->acc_lo, x->acc_hi);
            else
                fprintf(f, " - |");
        }
        fprintf(f, "\n\n");
        if (negative)
            fprintf(f, "%d negative Δ clipped to 0 in the shares of `%s`.\n\n", negative,
                    STUDY_NET_NAMES[net]);
    }
    fprintf(f, "![relative importance of the taps](importance.png)\n\n");
}

static int write_report(const Grid *g, const Analysis *A, const Setup *su, const Cifar10 *data,
                        const StudyStats *st, Err *e) {
    const StudyConfig *c = g->c;
    char *path = path_join(c->out_dir, "report.md");
    AtomicFile af;
    if (atomic_open(&af, path, e)) {
        free(path);
        return -1;
    }
    free(path);
    FILE *f = af.f;
    int full_grid = g->n_nets == STUDY_NETS && g->n_fams == STUDY_FAMILIES &&
                    g->n_taps == c->n_taps && g->n_modes == STUDY_MODES;
    fprintf(f, "# Do CNNs encode data augmentations? (augprobe study)\n\n");
    fprintf(f, "For each augmentation and layer: can a linear read-out of the frozen layer tell "
               "which of two images was augmented more, beyond what the raw pixels and an "
               "untrained network already give? Read the **cross** tables first: there a and "
               "b are different images, so image content is noise the probe must see through. "
               "θ, the level gap at which the probe reaches 75%% correct, keeps working where "
               "accuracy saturates: smaller θ means the layer encodes the change more finely.\n\n");
    fprintf(f, "## Findings\n\n%s\n\n", A->findings.s);

    fprintf(f, "## Setup\n\n");
    fprintf(f, "- Data: %s (%s: %s); split seed %llu: %d train / %d val / %d test images\n",
            data->source, data->verified ? "verified" : "unverified", data->note,
            (unsigned long long)c->split_seed, data->train.n, data->val.n, data->test.n);
    fprintf(f, "- Profile: %s%s%s%s; grid: %d networks x %d augmentations x %d pair modes x "
               "%d taps x %d seed%s = %d cells with the notebook's%s\n",
            c->profile, c->overrides[0] ? " (overrides: " : "", c->overrides,
            c->overrides[0] ? ")" : "", g->n_nets, g->n_fams, g->n_modes, g->n_taps, c->seeds,
            c->seeds == 1 ? "" : "s", st->cells_total,
            full_grid ? "" : " (a PARTIAL grid: restricted by --networks/--families/--taps/--pairs)");
    if (strcmp(c->arch_name, "seed_cnn"))
        fprintf(f, "- Network: %s (`--arch %s`), trained with its recipe (`augprobe train "
                   "--arch %s`) at batch %d\n",
                c->arch_name, c->arch, c->arch, c->train_batch);
    fprintf(f, "- Networks: `aug` trained with %s, `noaug` trained without augmentation "
               "(training: %d epoch%s on %d images, batch %d, Adam lr 0.001%s, per-epoch "
               "evaluation on %s); `random` untrained (net_init(seed)); floors without a "
               "network: `pixels` (the augmented 32x32x3 image, 3,072 values) and `stats` (8 "
               "values: per-channel mean and standard deviation of R, G, B, mean HSV "
               "saturation, and high-frequency energy = mean squared difference of adjacent "
               "pixels). The floors are the same in every row of a table.\n",
            TRAIN_DEFAULT_AUG, c->epochs, c->epochs == 1 ? "" : "s", su->n_train, c->train_batch,
            c->lr_cosine ? " annealed to 0 over the run by a cosine schedule" : " throughout",
            su->eval_what);
    fprintf(f, "- Probe: linear RankNet probe on every cell (score w . z, z standardised with "
               "the training split's mean and sd, loss log(1 + exp(-y (s_a - s_b))) + %g/2 |w|^2, "
               "Adam lr %g, batch 32, %d epoch%s)%s; %d pass%s over the first %d validation "
               "images (training pairs) and the first %d test images (test pairs); ties (a == "
               "b) excluded. Every network and tap of one family and pair mode sees the same "
               "test pairs.\n",
            (double)PROBE_LINEAR_L2, (double)PROBE_LINEAR_LR, c->probe_epochs,
            c->probe_epochs == 1 ? "" : "s",
            c->mlp_all ? "; the notebook's MLP head (Dropout 0.2, Dense 1024 ReLU, Dropout 0.2, "
                         "Dense 1) on every cell too"
                       : "; the notebook's MLP head on the notebook's cell",
            c->passes, c->passes == 1 ? "" : "es", g->n_val, g->n_test);
    fprintf(f, "- Statistics: 95%% intervals are percentile intervals of %d bootstrap "
               "replicates that resample test images with replacement (each with all its "
               "pairs; a cross pair belongs to its first image); a difference's replicates "
               "resample the same images for both sides (paired). θ comes from a maximum-"
               "likelihood fit of P(correct | gap) = Φ(0.674 (gap/θ)^β) to the accuracy at "
               "each level gap; a θ outside the ladder's gaps is reported as below or above "
               "it, never extrapolated.\n",
            c->boot);
    fprintf(f, "- Ladders (src/augment.h): small first steps from the identity out to the "
               "old range, so that the floors stay below the ceiling at the smallest gap and "
               "θ lands inside the ladder; blur is the control for zoom (bilinear zoom-in "
               "blurs)\n");
    if (!strcmp(c->arch_name, "seed_cnn")) {
        fprintf(f, "- Taps: block1_pool, block2_pool, block3_pool averaged over space (32, 64, "
                   "128 values: the unpooled block3_pool output is exactly `flatten`); `flatten` "
                   "(2048, the notebook's tap); `dense1` (1024)\n");
    } else {
        fprintf(f, "- Taps (the nodes %s marks with tap=LABEL):", c->arch);
        for (int t = 0; t < c->n_taps; t++)
            fprintf(f, "%s `%s` (node %s, %s%d values)", t ? "," : "", c->taps[t].label,
                    c->taps[t].node, c->taps[t].pool == PROBE_POOL_AVG ? "averaged over space, " : "",
                    c->taps[t].dim);
        fprintf(f, "\n");
    }
    fprintf(f, "- Seeds: 1..%d (training, random initialisation, pairs and probe)\n", c->seeds);
    fprintf(f, "- Program: augprobe %s, kernels %s (compiled: %s), %d threads, --device %s\n",
            AUGPROBE_VERSION, su->kernels, su->compiled, su->threads, su->device);
    fprintf(f, "- Machine: %s, %ld cores\n", su->cpu, su->cores);
    fprintf(f, "- Time: %.1f s wall, %.1f s CPU (user + system of all threads; this "
               "invocation: %d cells computed, %d reused, %d recomputed as stale; networks %d "
               "trained, %d resumed, %d reused)\n",
            su->wall, su->cpu_secs, st->cells_computed, st->cells_reused, st->cells_stale,
            st->nets_trained, st->nets_resumed, st->nets_reused);
    fprintf(f, "- Ranks: %d process%s (%s), each with %d thread%s; busy (in tasks):", st->ranks,
            st->ranks == 1 ? "" : "es", st->ranks > 1 ? "MPI" : "no MPI", su->threads,
            su->threads == 1 ? "" : "s");
    if (st->rank_busy && st->ranks <= 16)
        for (int i = 0; i < st->ranks; i++)
            fprintf(f, "%s rank %d %.1f s", i ? "," : "", i, st->rank_busy[i]);
    else
        fprintf(f, " %.1f s in all, %.1f to %.1f s per rank", st->busy_sum, st->busy_min,
                st->busy_max);
    fprintf(f, "\n");
    fprintf(f, "- Recorded over all invocations (wall): %.1f s probing the cells, %.1f s "
               "training the networks\n\n",
            su->probe_secs, su->train_secs);

    fprintf(f, "## The notebook's result\n\n");
    const Cell *nb = &g->notebook[STUDY_HEAD_MLP];
    if (nb->have) {
        fprintf(f, "Zoom at `flatten` on the `aug` network, seed 1, the notebook's design (levels "
                   "0.5..0.9, two copies of one image, MLP head):\n\n```\n");
        fprintf(f, "where a has more aug :  %d  /  %d\n", nb->a_more.correct, nb->a_more.total);
        fprintf(f, "where b has more aug :  %d  /  %d\n", nb->b_more.correct, nb->b_more.total);
        fprintf(f, "```\n\nAccuracy %.3f [%.3f, %.3f] over %d non-tie test pairs (%d of %d pairs "
                   "were ties, a == b, and are left out, unlike the notebook).",
                nb->accuracy, nb->acc_lo, nb->acc_hi, nb->a_more.total + nb->b_more.total,
                nb->ties_test, nb->pairs_test);
        const Cell *lin = &g->notebook[STUDY_HEAD_LINEAR];
        if (lin->have)
            fprintf(f, " The linear probe on the same pairs: %.3f [%.3f, %.3f]; MLP − linear "
                       "%+.3f [%+.3f, %+.3f].",
                    lin->accuracy, lin->acc_lo, lin->acc_hi, A->nb_diff, A->nb_lo, A->nb_hi);
        fprintf(f, " Same-image pairs are ranked by any feature that follows the change, so "
                   "this number alone says little; the tables below give the controls.\n\n");
    } else {
        fprintf(f, "Not in this grid (it needs network aug, augmentation zoom, tap flatten, "
                   "same pairs).\n\n");
    }

    fprintf(f, "## Per augmentation\n\n");
    for (int fi = 0; fi < g->n_fams; fi++) family_tables(f, g, A, g->fams[fi]);
    zoom_blur_table(f, g, A);
    importance_tables(f, g, A);

    fprintf(f, "## Predictions from the literature\n\n| # | prediction | source | statistic | "
               "value [95%% interval] | verdict |\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < 3; i++) {
        const Prediction *p = &A->pred[i];
        char v[96] = "-";
        if (p->checked) snprintf(v, sizeof v, "%+.3f [%+.3f, %+.3f]", p->value, p->lo, p->hi);
        fprintf(f, "| %d | %s | %s | %s | %s | %s |\n", i + 1, p->claim, p->source, p->statistic,
                v, p->verdict);
    }
    fprintf(f, "\nSupported: the interval lies above 0; not supported: below 0; inconclusive: "
               "it contains 0.\n\n");

    fprintf(f, "## Figures\n\n");
    fprintf(f, "The first 25 training images with the seed's augmentation (%s):\n\n"
               "![augmentation preview](preview.png)\n\n",
            TRAIN_DEFAULT_AUG);
    fprintf(f, "Probe accuracy against depth, one panel per augmentation (%s pairs, linear "
               "probe), with 95%% interval bars; the floors are bands (interval shaded, value "
               "dashed); one y axis for all panels:\n\n![accuracy against depth](depth.png)\n\n",
            selected(c->mode_mask, STUDY_MODE_CROSS) ? "cross" : "same");
    fprintf(f, "Training curves:\n\n");
    int any_curves = 0;
    for (int s = 1; s <= c->seeds; s++)
        for (int n = STUDY_NET_AUG; n <= STUDY_NET_NOAUG; n++) {
            if (!selected(c->net_mask, n)) continue;
            NetRun r;
            read_run(c, s, n, &r);
            if (!r.curves) continue;
            fprintf(f, "- `%s`, seed %d: ![training curves %s seed %d](seed%d/%s/curves.png)\n",
                    STUDY_NET_NAMES[n], s, STUDY_NET_NAMES[n], s, s, STUDY_NET_NAMES[n]);
            any_curves = 1;
        }
    if (!any_curves) fprintf(f, "- none (no trained network in this grid)\n");

    fprintf(f, "\n## Networks\n\n");
    fprintf(f, "| seed | network | status | epochs | train acc | val acc | test acc | training s |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|\n");
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g->n_nets; ni++) {
            int n = g->nets[ni];
            if (study_is_floor(n)) continue;
            if (n == STUDY_NET_RANDOM) {
                fprintf(f, "| %d | random | untrained | 0 | - | - | - | 0 |\n", s);
                continue;
            }
            NetRun r;
            read_run(c, s, n, &r);
            if (!r.present) {
                fprintf(f, "| %d | %s | not trained (its cells were reused) | - | - | - | - | - |\n",
                        s, STUDY_NET_NAMES[n]);
                continue;
            }
            fprintf(f, "| %d | %s | %s | %d | %.3f | %.3f | %.3f | %.0f |\n", s,
                    STUDY_NET_NAMES[n], r.status, r.epochs_done, r.train_acc, r.val_acc,
                    r.test_acc, r.seconds);
        }
    fprintf(f, "\nEvery number above is in results.json (and one row per cell in "
               "results.csv); each probe's details (pairs, ties, accuracy by level gap, the "
               "outcome of every test pair, timings) are in cells/.\n");
    return atomic_commit(&af, e);
}

/* ---- results.json and results.csv ---- */

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *est_json(const Est *x) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seeds", x->n);
    cJSON_AddItemToObject(o, "value", num_or_null(x->value));
    cJSON_AddItemToObject(o, "sd", num_or_null(x->sd));
    cJSON *ci = cJSON_AddArrayToObject(o, "ci95");
    cJSON_AddItemToArray(ci, num_or_null(x->lo));
    cJSON_AddItemToArray(ci, num_or_null(x->hi));
    return o;
}

static int write_results(const Grid *g, const Analysis *A, const Setup *su, const Cifar10 *data,
                         const StudyStats *st, Err *e) {
    const StudyConfig *c = g->c;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "program", "augprobe");
    cJSON_AddStringToObject(o, "version", AUGPROBE_VERSION);
    cJSON_AddStringToObject(o, "command", "study");
    cJSON_AddStringToObject(o, "profile", c->profile);
    cJSON_AddStringToObject(o, "overrides", c->overrides);
    cJSON *cf = cJSON_AddObjectToObject(o, "config");
    cJSON_AddStringToObject(cf, "arch", c->arch_name);
    cJSON_AddNumberToObject(cf, "epochs", c->epochs);
    cJSON_AddStringToObject(cf, "lr_schedule", train_lr_schedule_name(c->lr_cosine));
    cJSON_AddNumberToObject(cf, "train_limit", c->train_limit);
    cJSON_AddNumberToObject(cf, "eval_limit", c->eval_limit);
    cJSON_AddNumberToObject(cf, "passes", c->passes);
    cJSON_AddNumberToObject(cf, "probe_epochs", c->probe_epochs);
    cJSON_AddNumberToObject(cf, "probe_limit", c->probe_limit);
    cJSON_AddNumberToObject(cf, "seeds", c->seeds);
    cJSON_AddBoolToObject(cf, "mlp_all", c->mlp_all);
    cJSON_AddNumberToObject(cf, "split_seed", (double)c->split_seed);
    cJSON_AddStringToObject(cf, "train_aug", TRAIN_DEFAULT_AUG);
    cJSON_AddNumberToObject(cf, "train_batch", c->train_batch);
    cJSON_AddNumberToObject(cf, "train_lr", 0.001);
    cJSON_AddNumberToObject(cf, "probe_batch", 32);
    cJSON_AddNumberToObject(cf, "linear_lr", (double)PROBE_LINEAR_LR);
    cJSON_AddNumberToObject(cf, "linear_l2", (double)PROBE_LINEAR_L2);
    cJSON_AddNumberToObject(cf, "bootstrap_replicates", c->boot);
    cJSON *lv = cJSON_AddObjectToObject(cf, "levels");
    for (int i = 0; i < g->n_fams; i++) {
        float levels[PROBE_MAX_LEVELS];
        int n = study_levels(g->fams[i], levels);
        cJSON *arr = cJSON_AddArrayToObject(lv, FAM(g->fams[i]));
        for (int j = 0; j < n; j++) {
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(float_tidy(levels[j]))); /* 0.6f as 0.6 */
        }
    }
    cJSON *a = cJSON_AddArrayToObject(cf, "networks");
    for (int i = 0; i < g->n_nets; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(STUDY_NET_NAMES[g->nets[i]]));
    a = cJSON_AddArrayToObject(cf, "augmentations");
    for (int i = 0; i < g->n_fams; i++) cJSON_AddItemToArray(a, cJSON_CreateString(FAM(g->fams[i])));
    a = cJSON_AddArrayToObject(cf, "pairs");
    for (int i = 0; i < g->n_modes; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(STUDY_MODE_NAMES[g->modes[i]]));
    a = cJSON_AddArrayToObject(cf, "taps");
    for (int i = 0; i < g->n_taps; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(c->taps[g->taps[i]].label));
    cJSON_AddStringToObject(cf, "stats_floor", "mean R, G, B; sd R, G, B; mean HSV saturation; "
                                               "mean squared difference of adjacent pixels");

    cJSON *sj = cJSON_AddObjectToObject(o, "setup");
    cJSON_AddStringToObject(sj, "data_source", data->source);
    cJSON_AddBoolToObject(sj, "data_verified", data->verified);
    cJSON_AddStringToObject(sj, "data_note", data->note);
    cJSON_AddNumberToObject(sj, "train_images", su->n_train);
    cJSON_AddNumberToObject(sj, "val_images_probed", g->n_val);
    cJSON_AddNumberToObject(sj, "test_images_probed", g->n_test);
    cJSON_AddStringToObject(sj, "kernels", su->kernels);
    cJSON_AddStringToObject(sj, "device", su->device);
    cJSON_AddStringToObject(sj, "kernels_compiled", su->compiled);
    cJSON_AddNumberToObject(sj, "threads", su->threads);
    cJSON_AddStringToObject(sj, "cpu", su->cpu);
    cJSON_AddNumberToObject(sj, "cores", (double)su->cores);
    cJSON_AddNumberToObject(sj, "wall_seconds", su->wall);
    cJSON_AddNumberToObject(sj, "cpu_seconds", su->cpu_secs);
    cJSON_AddNumberToObject(sj, "probe_seconds_recorded", su->probe_secs);
    cJSON_AddNumberToObject(sj, "training_seconds_recorded", su->train_secs);
    cJSON_AddNumberToObject(sj, "ranks", st->ranks);
    cJSON *busy = cJSON_AddArrayToObject(sj, "rank_busy_seconds");
    for (int i = 0; st->rank_busy && i < st->ranks; i++)
        cJSON_AddItemToArray(busy, cJSON_CreateNumber(st->rank_busy[i]));
    cJSON *stj = cJSON_AddObjectToObject(o, "stats");
    cJSON_AddNumberToObject(stj, "cells_total", st->cells_total);
    cJSON_AddNumberToObject(stj, "cells_computed", st->cells_computed);
    cJSON_AddNumberToObject(stj, "cells_reused", st->cells_reused);
    cJSON_AddNumberToObject(stj, "cells_stale", st->cells_stale);
    cJSON_AddNumberToObject(stj, "nets_trained", st->nets_trained);
    cJSON_AddNumberToObject(stj, "nets_resumed", st->nets_resumed);
    cJSON_AddNumberToObject(stj, "nets_reused", st->nets_reused);

    cJSON *nets = cJSON_AddArrayToObject(o, "networks");
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g->n_nets; ni++) {
            int n = g->nets[ni];
            cJSON *nj = cJSON_CreateObject();
            cJSON_AddNumberToObject(nj, "seed", s);
            cJSON_AddStringToObject(nj, "network", STUDY_NET_NAMES[n]);
            NetRun r;
            read_run(c, s, n, &r);
            if (n == STUDY_NET_RANDOM) {
                cJSON_AddStringToObject(nj, "status", "untrained");
            } else if (study_is_floor(n)) {
                cJSON_AddStringToObject(nj, "status", "floor (no network)");
            } else if (r.present) {
                char dir[64];
                snprintf(dir, sizeof dir, "seed%d/%s", s, STUDY_NET_NAMES[n]);
                cJSON_AddStringToObject(nj, "status", r.status);
                cJSON_AddStringToObject(nj, "dir", dir);
                cJSON_AddNumberToObject(nj, "epochs_done", r.epochs_done);
                cJSON_AddNumberToObject(nj, "train_acc", r.train_acc);
                cJSON_AddNumberToObject(nj, "val_acc", r.val_acc);
                cJSON_AddNumberToObject(nj, "test_acc", r.test_acc);
                cJSON_AddNumberToObject(nj, "training_seconds", r.seconds);
                cJSON_AddBoolToObject(nj, "curves_png", r.curves);
            } else {
                cJSON_AddStringToObject(nj, "status", "absent");
            }
            cJSON_AddItemToArray(nets, nj);
        }

    /* the pooled table, the differences, every cell */
    cJSON *table = cJSON_AddArrayToObject(o, "table");
    cJSON *diffs = cJSON_AddArrayToObject(o, "differences");
    cJSON *cells = cJSON_AddArrayToObject(o, "cells");
    for (int mi = 0; mi < g->n_modes; mi++)
        for (int fi = 0; fi < g->n_fams; fi++) {
            int m = g->modes[mi], fm = g->fams[fi];
            for (int ni = 0; ni < g->n_nets; ni++) {
                int n = g->nets[ni], n_taps = study_is_floor(n) ? 1 : g->n_taps;
                for (int ti = 0; ti < n_taps; ti++) {
                    int t = study_is_floor(n) ? 0 : g->taps[ti];
                    cJSON *r = cJSON_CreateObject();
                    cJSON_AddStringToObject(r, "network", STUDY_NET_NAMES[n]);
                    cJSON_AddStringToObject(r, "augmentation", FAM(fm));
                    cJSON_AddStringToObject(r, "pairs", STUDY_MODE_NAMES[m]);
                    cJSON_AddStringToObject(r, "layer", study_cell_layer(c, n, t));
                    cJSON_AddStringToObject(r, "head", "linear");
                    cJSON_AddItemToObject(r, "accuracy", est_json(acc_of(A, n, fm, m, t)));
                    char th[320];
                    fmt_thresholds(g, n, fm, m, t, th, sizeof th);
                    cJSON_AddStringToObject(r, "threshold75_text", th);
                    cJSON_AddItemToArray(table, r);
                    for (int s = 1; s <= c->seeds; s++)
                        for (int h = 0; h < STUDY_HEADS; h++) {
                            const Cell *x = grid_cell(g, s, n, fm, m, t, h);
                            if (x->have)
                                cJSON_AddItemToArray(cells,
                                                     study_cell_json(c, x, s, n, fm, m, t, h, 0));
                        }
                }
            }
            for (int ti = 0; ti < g->n_taps; ti++)
                for (int k = 0; k < CMP_KINDS; k++) {
                    int t = g->taps[ti];
                    const Est *d = &A->diffs.d[m][fm][t][k];
                    if (!d->n) continue;
                    cJSON *r = cJSON_CreateObject();
                    char what[64];
                    snprintf(what, sizeof what, "%s - %s", STUDY_NET_NAMES[CMP_A[k]],
                             STUDY_NET_NAMES[CMP_B[k]]);
                    cJSON_AddStringToObject(r, "difference", what);
                    cJSON_AddStringToObject(r, "augmentation", FAM(fm));
                    cJSON_AddStringToObject(r, "pairs", STUDY_MODE_NAMES[m]);
                    cJSON_AddStringToObject(r, "layer", c->taps[t].label);
                    cJSON_AddItemToObject(r, "accuracy", est_json(d));
                    cJSON_AddBoolToObject(r, "real", real_diff(d));
                    cJSON_AddItemToArray(diffs, r);
                }
        }
    for (int h = 0; h < STUDY_HEADS; h++)
        if (g->notebook[h].have)
            cJSON_AddItemToArray(cells, study_cell_json(c, &g->notebook[h], 1, STUDY_NET_AUG, 0,
                                                        STUDY_MODE_SAME, study_notebook_tap(c), h,
                                                        1));
    cJSON *cmp = cJSON_AddObjectToObject(o, "comparisons");
    cJSON_AddNumberToObject(cmp, "made", A->diffs.made);
    cJSON_AddNumberToObject(cmp, "real", A->diffs.real);
    cJSON_AddNumberToObject(cmp, "expected_by_chance", 0.05 * A->diffs.made);

    cJSON *pj = cJSON_AddArrayToObject(o, "predictions");
    for (int i = 0; i < 3; i++) {
        const Prediction *p = &A->pred[i];
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "claim", p->claim);
        cJSON_AddStringToObject(r, "source", p->source);
        cJSON_AddStringToObject(r, "statistic", p->statistic);
        cJSON_AddItemToObject(r, "value", num_or_null(p->checked ? p->value : NAN));
        cJSON *ci = cJSON_AddArrayToObject(r, "ci95");
        cJSON_AddItemToArray(ci, num_or_null(p->checked ? p->lo : NAN));
        cJSON_AddItemToArray(ci, num_or_null(p->checked ? p->hi : NAN));
        cJSON_AddStringToObject(r, "verdict", p->verdict);
        cJSON_AddItemToArray(pj, r);
    }

    cJSON *nb = cJSON_AddObjectToObject(o, "notebook");
    const Cell *x = &g->notebook[STUDY_HEAD_MLP];
    if (x->have) {
        cJSON_AddStringToObject(nb, "cell", "seed 1, aug, zoom 0.5..0.9, same pairs, flatten, mlp");
        cJSON *am = cJSON_AddArrayToObject(nb, "a_more");
        cJSON_AddItemToArray(am, cJSON_CreateNumber(x->a_more.correct));
        cJSON_AddItemToArray(am, cJSON_CreateNumber(x->a_more.total));
        cJSON *bm = cJSON_AddArrayToObject(nb, "b_more");
        cJSON_AddItemToArray(bm, cJSON_CreateNumber(x->b_more.correct));
        cJSON_AddItemToArray(bm, cJSON_CreateNumber(x->b_more.total));
        cJSON_AddNumberToObject(nb, "accuracy", x->accuracy);
        cJSON_AddNumberToObject(nb, "pairs_test", x->pairs_test);
        cJSON_AddNumberToObject(nb, "ties_test", x->ties_test);
        cJSON_AddNumberToObject(nb, "non_tie_pairs", x->a_more.total + x->b_more.total);
        if (A->nb_have) {
            cJSON *d = cJSON_AddObjectToObject(nb, "mlp_minus_linear");
            cJSON_AddNumberToObject(d, "value", A->nb_diff);
            cJSON *ci = cJSON_AddArrayToObject(d, "ci95");
            cJSON_AddItemToArray(ci, num_or_null(A->nb_lo));
            cJSON_AddItemToArray(ci, num_or_null(A->nb_hi));
        }
    }
    cJSON *ij = cJSON_AddArrayToObject(o, "importance");
    for (int mi = 0; mi < g->n_modes; mi++)
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int ni = 0; ni < g->n_nets; ni++) {
                int n = g->nets[ni], fm = g->fams[fi], m = g->modes[mi];
                const Imp *x = &A->imp[n][fm][m];
                if (study_is_floor(n) || !x->seeds) continue;
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "network", STUDY_NET_NAMES[n]);
                cJSON_AddStringToObject(r, "augmentation", FAM(fm));
                cJSON_AddStringToObject(r, "pairs", STUDY_MODE_NAMES[m]);
                cJSON_AddNumberToObject(r, "seeds", x->seeds);
                cJSON *aa = cJSON_AddObjectToObject(r, "accuracy_all");
                cJSON_AddItemToObject(aa, "value", num_or_null(x->acc_all));
                cJSON *ci = cJSON_AddArrayToObject(aa, "ci95");
                cJSON_AddItemToArray(ci, num_or_null(x->acc_lo));
                cJSON_AddItemToArray(ci, num_or_null(x->acc_hi));
                cJSON_AddNumberToObject(r, "negative_losses_clipped", x->negative);
                cJSON *tj = cJSON_AddArrayToObject(r, "taps");
                for (int ti = 0; ti < g->n_imp; ti++) {
                    cJSON *t = cJSON_CreateObject();
                    cJSON_AddStringToObject(t, "layer", c->taps[g->imp_taps[ti]].label);
                    cJSON *l = cJSON_AddObjectToObject(t, "loss");
                    cJSON_AddItemToObject(l, "value", num_or_null(x->loss[ti]));
                    ci = cJSON_AddArrayToObject(l, "ci95");
                    cJSON_AddItemToArray(ci, num_or_null(x->loss_lo[ti]));
                    cJSON_AddItemToArray(ci, num_or_null(x->loss_hi[ti]));
                    cJSON *sh = cJSON_AddObjectToObject(t, "share");
                    cJSON_AddItemToObject(sh, "value", num_or_null(x->share[ti]));
                    ci = cJSON_AddArrayToObject(sh, "ci95");
                    cJSON_AddItemToArray(ci, num_or_null(x->share_lo[ti]));
                    cJSON_AddItemToArray(ci, num_or_null(x->share_hi[ti]));
                    cJSON_AddItemToArray(tj, t);
                }
                cJSON_AddItemToArray(ij, r);
            }
    cJSON *fj = cJSON_AddObjectToObject(o, "findings");
    cJSON_AddStringToObject(fj, "text", A->findings.s ? A->findings.s : "");
    cJSON_AddNumberToObject(fj, "chance", 0.5);
    cJSON *fig = cJSON_AddObjectToObject(o, "figures");
    cJSON_AddStringToObject(fig, "preview", "preview.png");
    cJSON_AddStringToObject(fig, "depth", "depth.png");
    if (study_has_importance(g)) cJSON_AddStringToObject(fig, "importance", "importance.png");

    char *path = path_join(c->out_dir, "results.json");
    int rc = json_write_file(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

/* results.csv: one row per cell (tidy: one header line, no index column). */
static int write_csv(const Grid *g, Err *e) {
    const StudyConfig *c = g->c;
    Str s = {0};
    str_printf(&s, "seed,network,augmentation,pairs,layer,head,dim,accuracy,accuracy_lo,"
                   "accuracy_hi,threshold75,threshold75_lo,threshold75_hi,threshold75_where,"
                   "pairs_train,ties_train,pairs_test,ties_test,non_tie_test_pairs\n");
    for (int s1 = 1; s1 <= c->seeds; s1++)
        for (int mi = 0; mi < g->n_modes; mi++)
            for (int fi = 0; fi < g->n_fams; fi++)
                for (int ni = 0; ni < g->n_nets; ni++) {
                    int n = g->nets[ni], m = g->modes[mi], fm = g->fams[fi];
                    int n_taps = study_is_floor(n) ? 1 : g->n_taps;
                    for (int ti = 0; ti < n_taps; ti++)
                        for (int h = 0; h < STUDY_HEADS; h++) {
                            int t = study_is_floor(n) ? 0 : g->taps[ti];
                            const Cell *x = grid_cell(g, s1, n, fm, m, t, h);
                            if (!x->have) continue;
                            str_printf(&s, "%d,%s,%s,%s,%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%s,"
                                           "%d,%d,%d,%d,%d\n",
                                       s1, STUDY_NET_NAMES[n], FAM(fm), STUDY_MODE_NAMES[m],
                                       study_cell_layer(c, n, t), STUDY_HEAD_NAMES[h], x->dim,
                                       x->accuracy, x->acc_lo, x->acc_hi, x->threshold, x->thr_lo,
                                       x->thr_hi,
                                       x->thr_where == PSY_BELOW   ? "below"
                                       : x->thr_where == PSY_ABOVE ? "above"
                                                                   : "inside",
                                       x->pairs_train, x->ties_train, x->pairs_test, x->ties_test,
                                       x->a_more.total + x->b_more.total);
                        }
                }
    for (int h = 0; h < STUDY_HEADS; h++) {
        const Cell *x = &g->notebook[h];
        if (!x->have) continue;
        str_printf(&s, "1,aug,zoom_notebook,same,flatten,%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%s,"
                       "%d,%d,%d,%d,%d\n",
                   STUDY_HEAD_NAMES[h], x->dim, x->accuracy, x->acc_lo, x->acc_hi, x->threshold,
                   x->thr_lo, x->thr_hi,
                   x->thr_where == PSY_BELOW   ? "below"
                   : x->thr_where == PSY_ABOVE ? "above"
                                               : "inside",
                   x->pairs_train, x->ties_train, x->pairs_test, x->ties_test,
                   x->a_more.total + x->b_more.total);
    }
    char *path = path_join(c->out_dir, "results.csv");
    int rc = file_write_atomic(path, s.s, s.len, e);
    free(path);
    free(s.s);
    return rc;
}

int study_report(const Grid *g, const Cifar10 *data, const StudyStats *st, StudyClock clock,
                 Err *e) {
    const StudyConfig *c = g->c;
    Analysis *A = xcalloc(1, sizeof *A);
    analyse(g, A);
    Setup su;
    memset(&su, 0, sizeof su);
    cpu_model(su.cpu, sizeof su.cpu);
    su.cores = sysconf(_SC_NPROCESSORS_ONLN);
    su.kernels = kernels_cpu_best()->name;
    su.compiled = kernels_compiled();
    su.device = c->device;
    su.threads = c->threads;
    su.n_train = c->train_limit ? c->train_limit : data->train.n;
    if (c->eval_limit)
        snprintf(su.eval_what, sizeof su.eval_what, "the first %d val and test images",
                 c->eval_limit);
    else
        snprintf(su.eval_what, sizeof su.eval_what, "every val and test image");
    size_t n_cells = (size_t)c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES * STUDY_TAPS *
                     STUDY_HEADS;
    for (size_t i = 0; i < n_cells; i++)
        if (g->cells[i].have) su.probe_secs += g->cells[i].head_seconds + g->cells[i].features_seconds;
    for (int h = 0; h < STUDY_HEADS; h++)
        if (g->notebook[h].have)
            su.probe_secs += g->notebook[h].head_seconds + g->notebook[h].features_seconds;
    for (size_t i = 0; i < (size_t)c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES; i++)
        if (g->imp[i].have) su.probe_secs += g->imp[i].head_seconds + g->imp[i].features_seconds;
    for (int s = 1; s <= c->seeds; s++)
        for (int n = STUDY_NET_AUG; n <= STUDY_NET_NOAUG; n++) {
            if (!selected(c->net_mask, n)) continue;
            NetRun r;
            read_run(c, s, n, &r);
            su.train_secs += r.seconds;
        }
    char *depth = path_join(c->out_dir, "depth.png");
    int rc = draw_depth(g, A, depth, e);
    free(depth);
    if (rc == 0 && study_has_importance(g)) {
        char *imp = path_join(c->out_dir, "importance.png");
        rc = draw_importance(g, A, imp, e);
        free(imp);
    }
    su.wall = now_seconds() - clock.wall0;
    su.cpu_secs = study_cpu_seconds() - clock.cpu0;
    if (rc == 0) rc = write_results(g, A, &su, data, st, e);
    if (rc == 0) rc = write_csv(g, e);
    if (rc == 0) rc = write_report(g, A, &su, data, st, e);
    if (rc == 0 && !c->quiet) {
        printf("study: wrote %s/report.md, results.json, results.csv (%.1f s wall, %.1f s CPU)\n",
               c->out_dir, su.wall, su.cpu_secs);
        printf("%s\n", A->findings.s);
    }
    analysis_free(A);
    free(A);
    return rc;
}
