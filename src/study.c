/* study.c - the whole experiment grid (networks x augmentations x taps x
 * seeds) with reuse and resumption, and its report: report.md, results.json,
 * preview.png, depth.png. See study.h for the layout and the taps. */
#define _XOPEN_SOURCE 700
#include "study.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "net.h"
#include "plot.h"
#include "report_html.h"
#include "preview.h"
#include "probe.h"
#include "train.h"

const char *const STUDY_NET_NAMES[STUDY_NETS] = {"aug", "noaug", "random"};
const AugKind STUDY_FAMILY_KINDS[STUDY_FAMILIES] = {AUG_ZOOM,     AUG_ASPECT,     AUG_BRIGHTNESS,
                                                    AUG_CONTRAST, AUG_SATURATION, AUG_HUE};
static const char *const FAMILY_NAMES[STUDY_FAMILIES] = {"zoom",     "aspect",     "brightness",
                                                         "contrast", "saturation", "hue"};
const char *const STUDY_TAP_NAMES[STUDY_TAPS] = {"block1_pool", "block2_pool", "block3_pool",
                                                 "flatten", "dense1"};
static const ProbePool TAP_POOLS[STUDY_TAPS] = {PROBE_POOL_AVG, PROBE_POOL_AVG, PROBE_POOL_AVG,
                                                PROBE_POOL_FLATTEN, PROBE_POOL_FLATTEN};
static const int TAP_DIMS[STUDY_TAPS] = {32, 64, 128, 2048, 1024};

/* The trunk's batch for feature extraction (probe_features_compute uses
 * the net's max_batch). */
enum { TRUNK_BATCH = 128 };
/* Feature caches of one split, all taps together: 10,000 images x 5 levels
 * x 3,296 floats = 659 MB at full size. */
static const size_t MAX_FEATURE_BYTES = (size_t)2 << 30;

const char *const *study_family_names(void) { return FAMILY_NAMES; }

static void config_common(StudyConfig *c) {
    memset(c, 0, sizeof *c);
    c->out_dir = "runs/study";
    c->split_seed = 1;
    c->threads = 1;
    snprintf(c->device, sizeof c->device, "cpu");
    c->net_mask = (1u << STUDY_NETS) - 1;
    c->family_mask = (1u << STUDY_FAMILIES) - 1;
    c->tap_mask = (1u << STUDY_TAPS) - 1;
}

/* Sized by measurement (single-thread CPU time on this project's 2-core
 * AMD EPYC machine, before the Winograd kernels): a training image costs
 * 3.8 ms, an evaluation image 0.4 ms, a probed (image, level) 1.1 ms, a probe
 * pair-epoch for all five taps 1.0 ms. So: training 2 x 4 x (10,000 x 3.8 +
 * 2,000 x 0.4) ms = 310 s, features 18 x 10 x 1,000 x 1.1 ms = 198 s, heads
 * 18 x 1,640 pairs x 15 epochs x 1.0 ms = 443 s: about 950 CPU-seconds. The
 * whole quick study then measured 830 CPU-seconds (user + system, 2 threads,
 * OMP_WAIT_POLICY=passive): about 7 to 8 minutes on 2 free cores. */
void study_config_quick(StudyConfig *c) {
    config_common(c);
    snprintf(c->profile, sizeof c->profile, "quick");
    c->epochs = 4;
    c->train_limit = 10000;
    c->eval_limit = 1000;
    c->passes = 2;
    c->probe_epochs = 15;
    c->probe_limit = 1000;
    c->seeds = 1;
}

void study_config_full(StudyConfig *c) {
    config_common(c);
    snprintf(c->profile, sizeof c->profile, "full");
    c->epochs = 50;
    c->train_limit = 0;
    c->eval_limit = 0;
    c->passes = 4;
    c->probe_epochs = 50;
    c->probe_limit = 0;
    c->seeds = 3;
}

int study_parse_mask(const char *flag, const char *text, const char *const *names, int n,
                     unsigned *mask, Err *e) {
    unsigned m = 0;
    if (!strcmp(text, "all")) {
        *mask = (1u << n) - 1;
        return 0;
    }
    const char *p = text;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int found = -1;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == len && !strncmp(p, names[i], len)) found = i;
        if (found < 0) {
            char list[256] = "";
            for (int i = 0; i < n; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? " " : "",
                         names[i]);
            return err_set(e, "%s: '%.*s' is not one of: %s (or all)", flag, (int)len, p, list);
        }
        m |= 1u << found;
        if (!end) break;
        p = end + 1;
    }
    *mask = m;
    return 0;
}

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

/* ---- cells ---- */

typedef struct Cell {
    int have;
    int dim;
    double accuracy, train_loss, train_accuracy;
    ProbeCount a_more, b_more;
    int pairs_train, ties_train, pairs_test, ties_test;
    int n_gaps;
    float gap[PROBE_MAX_GAPS];
    double accuracy_by_gap[PROBE_MAX_GAPS];
    double head_seconds, features_seconds;
} Cell;

/* Everything a cell's number depends on; a cell stored with other settings
 * is recomputed. The untrained control does not depend on training. */
static void cell_settings(const StudyConfig *c, int net, int fam, char *buf, size_t len) {
    float levels[PROBE_MAX_LEVELS];
    int n = aug_default_levels(STUDY_FAMILY_KINDS[fam], levels);
    size_t used = 0;
    if (net == STUDY_NET_RANDOM)
        used = (size_t)snprintf(buf, len, "untrained");
    else
        used = (size_t)snprintf(buf, len, "epochs=%d train_limit=%d eval_limit=%d aug=%s",
                                c->epochs, c->train_limit, c->eval_limit,
                                net == STUDY_NET_AUG ? TRAIN_DEFAULT_AUG : "none");
    used += (size_t)snprintf(buf + used, len - used,
                             " split_seed=%llu passes=%d probe_epochs=%d probe_limit=%d "
                             "batch=32 levels=",
                             (unsigned long long)c->split_seed, c->passes, c->probe_epochs,
                             c->probe_limit);
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%g", i ? "," : "", (double)levels[i]);
}

static char *cell_path(const StudyConfig *c, int seed, int net, int fam, int tap) {
    char name[128];
    snprintf(name, sizeof name, "cells/seed%d-%s-%s-%s.json", seed, STUDY_NET_NAMES[net],
             FAMILY_NAMES[fam], STUDY_TAP_NAMES[tap]);
    return path_join(c->out_dir, name);
}

static cJSON *count_json(ProbeCount k) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(k.correct));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(k.total));
    return a;
}

static cJSON *cell_json(const Cell *x, int seed, int net, int fam, int tap) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "network", STUDY_NET_NAMES[net]);
    cJSON_AddStringToObject(o, "augmentation", FAMILY_NAMES[fam]);
    cJSON_AddStringToObject(o, "layer", STUDY_TAP_NAMES[tap]);
    cJSON_AddStringToObject(o, "pool", TAP_POOLS[tap] == PROBE_POOL_AVG ? "avg" : "flatten");
    cJSON_AddNumberToObject(o, "dim", x->dim);
    cJSON_AddNumberToObject(o, "accuracy", x->accuracy);
    cJSON_AddItemToObject(o, "a_more", count_json(x->a_more));
    cJSON_AddItemToObject(o, "b_more", count_json(x->b_more));
    cJSON_AddNumberToObject(o, "pairs_train", x->pairs_train);
    cJSON_AddNumberToObject(o, "ties_train", x->ties_train);
    cJSON_AddNumberToObject(o, "pairs_test", x->pairs_test);
    cJSON_AddNumberToObject(o, "ties_test", x->ties_test);
    cJSON_AddNumberToObject(o, "train_loss", x->train_loss);
    cJSON_AddNumberToObject(o, "train_accuracy", x->train_accuracy);
    cJSON *g = cJSON_AddObjectToObject(o, "accuracy_by_gap");
    for (int i = 0; i < x->n_gaps; i++) {
        char key[32];
        snprintf(key, sizeof key, "%g", (double)x->gap[i]);
        cJSON_AddNumberToObject(g, key, x->accuracy_by_gap[i]);
    }
    cJSON_AddNumberToObject(o, "head_seconds", x->head_seconds);
    cJSON_AddNumberToObject(o, "features_seconds", x->features_seconds);
    return o;
}

/* Writes a cJSON document atomically, ending with a newline. */
static int write_json(const char *path, const cJSON *o, Err *e) {
    char *text = cJSON_Print(o);
    if (!text) return err_set(e, "%s: cannot format JSON (out of memory)", path);
    size_t len = strlen(text);
    char *file = xmalloc(len + 2);
    memcpy(file, text, len);
    file[len] = '\n';
    file[len + 1] = 0;
    int rc = file_write_atomic(path, file, len + 1, e);
    free(file);
    cJSON_free(text);
    return rc;
}

static int write_cell(const StudyConfig *c, const Cell *x, int seed, int net, int fam, int tap,
                      Err *e) {
    cJSON *o = cell_json(x, seed, net, fam, tap);
    char settings[512];
    cell_settings(c, net, fam, settings, sizeof settings);
    cJSON_AddStringToObject(o, "settings", settings);
    char *path = cell_path(c, seed, net, fam, tap);
    int rc = write_json(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

static int get_num(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return -1;
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *key, int *out) {
    double d;
    if (get_num(o, key, &d)) return -1;
    *out = (int)d;
    return 0;
}

static int get_count(const cJSON *o, const char *key, ProbeCount *k) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2) return -1;
    const cJSON *c0 = cJSON_GetArrayItem(a, 0), *c1 = cJSON_GetArrayItem(a, 1);
    if (!cJSON_IsNumber(c0) || !cJSON_IsNumber(c1)) return -1;
    k->correct = c0->valueint;
    k->total = c1->valueint;
    return 0;
}

/* Reads a finished cell. Returns 1 when it is there with the current
 * settings, 0 when absent, 2 when stale (other settings or unreadable). */
static int read_cell(const StudyConfig *c, Cell *x, int seed, int net, int fam, int tap) {
    char *path = cell_path(c, seed, net, fam, tap);
    uint8_t *text = NULL;
    size_t len;
    int found = path_exists(path);
    int ok = found && file_read_all(path, &text, &len, NULL) == 0;
    free(path);
    if (!found) return 0;
    if (!ok) return 2;
    cJSON *o = cJSON_Parse((const char *)text);
    free(text);
    char settings[512];
    cell_settings(c, net, fam, settings, sizeof settings);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "settings");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "accuracy_by_gap");
    memset(x, 0, sizeof *x);
    int bad = !o || !cJSON_IsString(s) || strcmp(s->valuestring, settings) != 0 ||
              get_int(o, "dim", &x->dim) || get_num(o, "accuracy", &x->accuracy) ||
              get_count(o, "a_more", &x->a_more) || get_count(o, "b_more", &x->b_more) ||
              get_int(o, "pairs_train", &x->pairs_train) ||
              get_int(o, "ties_train", &x->ties_train) ||
              get_int(o, "pairs_test", &x->pairs_test) ||
              get_int(o, "ties_test", &x->ties_test) ||
              get_num(o, "train_loss", &x->train_loss) ||
              get_num(o, "train_accuracy", &x->train_accuracy) ||
              get_num(o, "head_seconds", &x->head_seconds) ||
              get_num(o, "features_seconds", &x->features_seconds) || !cJSON_IsObject(g);
    if (!bad) {
        const cJSON *it;
        cJSON_ArrayForEach(it, g) {
            if (x->n_gaps >= PROBE_MAX_GAPS || !cJSON_IsNumber(it)) break;
            x->gap[x->n_gaps] = strtof(it->string, NULL);
            x->accuracy_by_gap[x->n_gaps++] = it->valuedouble;
        }
    }
    cJSON_Delete(o);
    if (bad) return 2;
    x->have = 1;
    return 1;
}

/* ---- networks ---- */

static char *net_dir(const StudyConfig *c, int seed, int net) {
    char name[64];
    snprintf(name, sizeof name, "seed%d/%s", seed, STUDY_NET_NAMES[net]);
    return path_join(c->out_dir, name);
}

static void train_config(const StudyConfig *c, int seed, int net, const char *dir,
                         TrainConfig *tc) {
    train_config_default(tc);
    tc->epochs = c->epochs;
    snprintf(tc->aug, sizeof tc->aug, "%s", net == STUDY_NET_AUG ? TRAIN_DEFAULT_AUG : "");
    tc->limit = c->train_limit;
    tc->eval_limit = c->eval_limit;
    tc->seed = (uint64_t)seed;
    tc->split_seed = c->split_seed;
    tc->threads = c->threads;
    snprintf(tc->device, sizeof tc->device, "%s", c->device);
    tc->out_dir = dir;
    tc->quiet = c->quiet;
}

static int same_aug(const char *a, const char *b) {
    AugSpec sa, sb;
    char ta[256] = "?a", tb[256] = "?b";
    if (aug_parse(&sa, a, NULL) == 0) aug_format(&sa, ta, sizeof ta);
    if (aug_parse(&sb, b, NULL) == 0) aug_format(&sb, tb, sizeof tb);
    return strcmp(ta, tb) == 0;
}

/* Makes sure seed<s>/<net> holds a network trained as c asks: reused when
 * complete, resumed from its checkpoint when not, trained otherwise. A run
 * made with other settings is an error (it may have cost hours). */
static int ensure_trained(const StudyConfig *c, const Cifar10 *data, int seed, int net,
                          StudyStats *st, Err *e) {
    char *dir = net_dir(c, seed, net);
    TrainConfig tc;
    train_config(c, seed, net, dir, &tc);
    char *ckpt = path_join(dir, "checkpoint.safetensors");
    char *model = path_join(dir, "model.safetensors");
    int rc = 0;
    if (path_exists(ckpt)) {
        TrainConfig stored = tc;
        int done = 0;
        if (train_read_checkpoint_config(dir, &stored, &done, e)) {
            rc = -1;
            goto out;
        }
        const char *what = !same_aug(stored.aug, tc.aug)         ? "augmentation"
                           : stored.limit != tc.limit             ? "--train-limit"
                           : stored.eval_limit != tc.eval_limit   ? "--eval-limit"
                           : stored.seed != tc.seed               ? "seed"
                           : stored.split_seed != tc.split_seed   ? "split seed (--seed)"
                           : stored.batch != tc.batch             ? "batch"
                           : done > tc.epochs                     ? "--epochs"
                                                                  : NULL;
        if (what) {
            rc = err_set(e, "%s: a network trained with another %s is there; use another --out "
                            "or remove it", dir, what);
            goto out;
        }
        if (done == tc.epochs && path_exists(model)) {
            st->nets_reused++;
            if (!c->quiet) printf("study: reusing %s (%d epochs)\n", dir, done);
            goto out;
        }
        tc.resume = 1;
        st->nets_resumed++;
        if (!c->quiet) printf("study: resuming %s after epoch %d of %d\n", dir, done, tc.epochs);
    } else {
        st->nets_trained++;
        if (!c->quiet) printf("study: training %s\n", dir);
    }
    fflush(stdout);
    rc = train_run(&tc, data, NULL, e);
    if (rc == TRAIN_STOPPED) rc = STUDY_STOPPED;
out:
    free(ckpt);
    free(model);
    free(dir);
    return rc;
}

/* The trunk of network `net` for seed s: the trained model, or the
 * untrained control net_init(s). */
static Net *obtain_net(const StudyConfig *c, const Cifar10 *data, int seed, int net,
                       StudyStats *st, int *stopped, Err *e) {
    *stopped = 0;
    if (net == STUDY_NET_RANDOM) {
        Net *n = train_net_create(TRUNK_BATCH, c->threads, "", e);
        if (n) net_init(n, (uint64_t)seed);
        if (n && net_place(n, c->device, NULL, e)) {
            net_free(n);
            return NULL;
        }
        return n;
    }
    int rc = ensure_trained(c, data, seed, net, st, e);
    if (rc == STUDY_STOPPED) *stopped = 1;
    if (rc) return NULL;
    char *dir = net_dir(c, seed, net);
    char *model = path_join(dir, "model.safetensors");
    Net *n = train_load_model(model, TRUNK_BATCH, c->threads, "", NULL, e);
    free(model);
    free(dir);
    if (n && net_place(n, c->device, NULL, e)) {
        net_free(n);
        return NULL;
    }
    return n;
}

/* Probes every tap of `todo` for (seed, net, family): one feature pass per
 * split for all of them, then one head per tap. Writes each cell. */
static int probe_group(const StudyConfig *c, const Cifar10 *data, Net *trunk, int seed, int net,
                       int fam, const int *todo, int n_todo, Cell *cells, Err *e) {
    ProbeConfig pc;
    probe_config_defaults(&pc);
    probe_config_family(&pc, STUDY_FAMILY_KINDS[fam]);
    pc.passes = c->passes;
    pc.epochs = c->probe_epochs;
    pc.seed = (uint64_t)seed;
    pc.threads = c->threads;
    snprintf(pc.device, sizeof pc.device, "%s", c->device);
    pc.limit = c->probe_limit;
    pc.max_feature_bytes = MAX_FEATURE_BYTES;
    pc.quiet = 1;
    int n_val = c->probe_limit > 0 && c->probe_limit < data->val.n ? c->probe_limit : data->val.n;
    int n_test =
        c->probe_limit > 0 && c->probe_limit < data->test.n ? c->probe_limit : data->test.n;
    ProbeTap taps[STUDY_TAPS];
    ProbeFeatures feats[STUDY_TAPS];
    ProbeResult res[STUDY_TAPS];
    Net *heads[STUDY_TAPS] = {0};
    double head_secs[STUDY_TAPS] = {0};
    for (int i = 0; i < n_todo; i++) {
        taps[i].layer = STUDY_TAP_NAMES[todo[i]];
        taps[i].pool = TAP_POOLS[todo[i]];
        memset(&res[i], 0, sizeof res[i]);
    }
    int rc = -1;
    double t0 = now_seconds();
    if (probe_features_compute(trunk, &data->val, n_val, pc.family, pc.levels, pc.n_levels, taps,
                               n_todo, MAX_FEATURE_BYTES, feats, NULL, e))
        return -1;
    double feat_secs = now_seconds() - t0;
    int trained = 0;
    for (int i = 0; i < n_todo; i++, trained++) {
        double h0 = now_seconds();
        snprintf(pc.layer, sizeof pc.layer, "%s", taps[i].layer);
        pc.pool = taps[i].pool;
        heads[i] = probe_head_train(&pc, &feats[i], &res[i], e);
        head_secs[i] = now_seconds() - h0;
        if (!heads[i]) break;
    }
    for (int i = 0; i < n_todo; i++) probe_features_free(&feats[i]);
    if (trained < n_todo) goto out;
    t0 = now_seconds();
    if (probe_features_compute(trunk, &data->test, n_test, pc.family, pc.levels, pc.n_levels,
                               taps, n_todo, MAX_FEATURE_BYTES, feats, NULL, e))
        goto out;
    feat_secs += now_seconds() - t0;
    rc = 0;
    for (int i = 0; i < n_todo && rc == 0; i++) {
        double h0 = now_seconds();
        snprintf(pc.layer, sizeof pc.layer, "%s", taps[i].layer);
        pc.pool = taps[i].pool;
        rc = probe_head_eval(&pc, heads[i], &feats[i], &res[i], e);
        head_secs[i] += now_seconds() - h0;
    }
    for (int i = 0; i < n_todo; i++) probe_features_free(&feats[i]);
    for (int i = 0; i < n_todo && rc == 0; i++) {
        const ProbeResult *r = &res[i];
        Cell *x = &cells[todo[i]];
        memset(x, 0, sizeof *x);
        x->have = 1;
        x->dim = r->feature_dim;
        x->accuracy = r->accuracy;
        x->train_loss = r->train_loss;
        x->train_accuracy = r->train_accuracy;
        x->a_more = r->a_more;
        x->b_more = r->b_more;
        x->pairs_train = r->pairs_train;
        x->ties_train = r->ties_train;
        x->pairs_test = r->pairs_test;
        x->ties_test = r->ties_test;
        x->n_gaps = r->n_gaps;
        for (int g = 0; g < r->n_gaps; g++) {
            x->gap[g] = r->gap[g];
            x->accuracy_by_gap[g] = r->accuracy_by_gap[g];
        }
        x->head_seconds = head_secs[i];
        x->features_seconds = feat_secs / n_todo; /* the shared pass, split evenly */
        rc = write_cell(c, x, seed, net, fam, todo[i], e);
    }
out:
    for (int i = 0; i < n_todo; i++) net_free(heads[i]);
    return rc;
}

/* ---- aggregation ---- */

typedef struct Agg {
    int n;            /* seeds with a result */
    double mean, sd;  /* sd: sample standard deviation (NaN when n < 2) */
    double values[STUDY_MAX_SEEDS];
} Agg;

typedef struct Grid {
    const StudyConfig *c;
    Cell *cells; /* [seed-1][net][fam][tap] */
    Agg agg[STUDY_NETS][STUDY_FAMILIES][STUDY_TAPS];
    int taps[STUDY_TAPS], n_taps; /* selected, in depth order */
    int fams[STUDY_FAMILIES], n_fams;
    int nets[STUDY_NETS], n_nets;
} Grid;

static Cell *grid_cell(const Grid *g, int seed, int net, int fam, int tap) {
    return &g->cells[(((size_t)(seed - 1) * STUDY_NETS + net) * STUDY_FAMILIES + fam) *
                         STUDY_TAPS + tap];
}

static void aggregate(Grid *g) {
    for (int n = 0; n < STUDY_NETS; n++)
        for (int f = 0; f < STUDY_FAMILIES; f++)
            for (int t = 0; t < STUDY_TAPS; t++) {
                Agg *a = &g->agg[n][f][t];
                memset(a, 0, sizeof *a);
                double sum = 0;
                for (int s = 1; s <= g->c->seeds; s++) {
                    const Cell *x = grid_cell(g, s, n, f, t);
                    if (!x->have) continue;
                    a->values[a->n++] = x->accuracy;
                    sum += x->accuracy;
                }
                a->mean = a->n ? sum / a->n : NAN;
                double ss = 0;
                for (int i = 0; i < a->n; i++) ss += (a->values[i] - a->mean) * (a->values[i] - a->mean);
                a->sd = a->n >= 2 ? sqrt(ss / (a->n - 1)) : NAN;
            }
}

/* ---- findings, generated from the numbers ---- */

typedef struct NetSummary {
    int present;
    double mean;                 /* over the selected (family, tap) cells */
    int n;
    int best_tap[STUDY_FAMILIES];
    double first_mean, last_mean; /* over families, at the first and last tap */
    int falls;                    /* families whose last tap < first tap */
    int beats_control, compared;  /* cells above the untrained control */
    double diff_control;          /* mean - control mean */
} NetSummary;

static void summarise(const Grid *g, NetSummary *ns) {
    memset(ns, 0, sizeof(NetSummary) * STUDY_NETS);
    for (int ni = 0; ni < g->n_nets; ni++) {
        int n = g->nets[ni];
        NetSummary *s = &ns[n];
        double sum = 0, first = 0, last = 0;
        int nf = 0;
        for (int fi = 0; fi < g->n_fams; fi++) {
            int f = g->fams[fi], best = -1;
            for (int ti = 0; ti < g->n_taps; ti++) {
                int t = g->taps[ti];
                const Agg *a = &g->agg[n][f][t];
                if (!a->n) continue;
                sum += a->mean;
                s->n++;
                if (best < 0 || a->mean > g->agg[n][f][best].mean) best = t;
            }
            s->best_tap[f] = best;
            const Agg *a0 = &g->agg[n][f][g->taps[0]], *a1 = &g->agg[n][f][g->taps[g->n_taps - 1]];
            if (a0->n && a1->n) {
                first += a0->mean;
                last += a1->mean;
                nf++;
                s->falls += a1->mean < a0->mean;
            }
        }
        s->present = s->n > 0;
        s->mean = s->n ? sum / s->n : NAN;
        s->first_mean = nf ? first / nf : NAN;
        s->last_mean = nf ? last / nf : NAN;
    }
    const NetSummary *ctl = &ns[STUDY_NET_RANDOM];
    for (int n = 0; n < STUDY_NET_RANDOM; n++) {
        NetSummary *s = &ns[n];
        if (!s->present || !ctl->present) continue;
        s->diff_control = s->mean - ctl->mean;
        for (int f = 0; f < STUDY_FAMILIES; f++)
            for (int t = 0; t < STUDY_TAPS; t++) {
                const Agg *a = &g->agg[n][f][t], *b = &g->agg[STUDY_NET_RANDOM][f][t];
                if (!a->n || !b->n) continue;
                s->compared++;
                s->beats_control += a->mean > b->mean;
            }
    }
}

static void write_findings(const Grid *g, const NetSummary *ns, Str *out) {
    const StudyConfig *c = g->c;
    str_printf(out, "Chance is 0.500 (the probe guesses which of two images was augmented more). ");
    str_printf(out, "**Best tap per augmentation** (highest mean accuracy): ");
    for (int ni = 0; ni < g->n_nets; ni++) {
        int n = g->nets[ni];
        if (!ns[n].present) continue;
        str_printf(out, "%s`%s`: ", ni ? "; " : "", STUDY_NET_NAMES[n]);
        int k = 0;
        for (int fi = 0; fi < g->n_fams; fi++) {
            int f = g->fams[fi], t = ns[n].best_tap[f];
            if (t < 0) continue;
            str_printf(out, "%s%s at %s (%.3f)", k++ ? ", " : "", FAMILY_NAMES[f],
                       STUDY_TAP_NAMES[t], g->agg[n][f][t].mean);
        }
    }
    str_printf(out, ". ");
    const NetSummary *ctl = &ns[STUDY_NET_RANDOM];
    if (ctl->present && (ns[STUDY_NET_AUG].present || ns[STUDY_NET_NOAUG].present)) {
        str_printf(out, "**Trained against untrained**: averaged over the %d augmentation x tap "
                        "cells, the probe scores ", ctl->n);
        int k = 0;
        for (int n = 0; n < STUDY_NET_RANDOM; n++)
            if (ns[n].present)
                str_printf(out, "%s%.3f on `%s`", k++ ? " and " : "", ns[n].mean,
                           STUDY_NET_NAMES[n]);
        str_printf(out, " against %.3f on the untrained control (", ctl->mean);
        k = 0;
        for (int n = 0; n < STUDY_NET_RANDOM; n++)
            if (ns[n].present)
                str_printf(out, "%s%+.3f for `%s`, above it in %d of %d cells", k++ ? "; " : "",
                           ns[n].diff_control, STUDY_NET_NAMES[n], ns[n].beats_control,
                           ns[n].compared);
        str_printf(out, "). ");
    }
    if (g->n_taps >= 2) {
        const char *first = STUDY_TAP_NAMES[g->taps[0]],
                   *last = STUDY_TAP_NAMES[g->taps[g->n_taps - 1]];
        str_printf(out, "**Depth**: from %s to %s the mean over augmentations goes ", first, last);
        int k = 0;
        for (int ni = 0; ni < g->n_nets; ni++) {
            int n = g->nets[ni];
            if (!ns[n].present || isnan(ns[n].first_mean)) continue;
            str_printf(out, "%s%.3f -> %.3f on `%s` (lower at %s for %d of %d augmentations)",
                       k++ ? ", " : "", ns[n].first_mean, ns[n].last_mean, STUDY_NET_NAMES[n],
                       last, ns[n].falls, g->n_fams);
        }
        Str fades = {0}, holds = {0};
        for (int ni = 0; ni < g->n_nets; ni++) {
            int n = g->nets[ni];
            if (!ns[n].present || isnan(ns[n].first_mean)) continue;
            Str *to = ns[n].last_mean < ns[n].first_mean ? &fades : &holds;
            str_printf(to, "%s`%s`", to->len ? ", " : "", STUDY_NET_NAMES[n]);
        }
        str_printf(out, ": on average the signal %s%s%s%s%s. ",
                   fades.len ? "fades with depth on " : "", fades.len ? fades.s : "",
                   fades.len && holds.len ? " and " : "",
                   holds.len ? "does not fade on " : "", holds.len ? holds.s : "");
        free(fades.s);
        free(holds.s);
    }
    if (c->seeds == 1)
        str_printf(out, "Single seed, no spread: differences of a few hundredths may be noise.");
    else
        str_printf(out, "Means over %d seeds; the table gives each spread.", c->seeds);
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

static double cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return NAN;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
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
    if (net == STUDY_NET_RANDOM) return;
    char *dir = net_dir(c, seed, net);
    char *path = path_join(dir, "run.json"), *curves = path_join(dir, "curves.png");
    r->curves = path_exists(curves);
    uint8_t *text;
    size_t len;
    if (path_exists(path) && file_read_all(path, &text, &len, NULL) == 0) {
        cJSON *o = cJSON_Parse((const char *)text);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
        const cJSON *fin = cJSON_GetObjectItemCaseSensitive(o, "final");
        if (o && cJSON_IsString(st) && cJSON_IsObject(fin) &&
            get_int(o, "epochs_done", &r->epochs_done) == 0 &&
            get_num(fin, "train_acc", &r->train_acc) == 0 &&
            get_num(fin, "val_acc", &r->val_acc) == 0 &&
            get_num(fin, "test_acc", &r->test_acc) == 0) {
            get_num(o, "epoch_seconds_total", &r->seconds);
            snprintf(r->status, sizeof r->status, "%s", st->valuestring);
            r->present = 1;
        }
        cJSON_Delete(o);
        free(text);
    }
    free(path);
    free(curves);
    free(dir);
}

/* ---- the report ---- */

typedef struct Setup {
    char cpu[256];
    long cores;
    const char *kernels, *compiled, *device;
    int threads;
    int n_val, n_test, n_train;
    char eval_what[64];
    double wall, cpu_secs;
    double probe_secs, train_secs; /* recorded in the cells and runs, all invocations */
} Setup;

static void fmt_agg(const Agg *a, char *buf, size_t len) {
    if (!a->n)
        snprintf(buf, len, "-");
    else if (a->n == 1)
        snprintf(buf, len, "%.3f", a->mean);
    else
        snprintf(buf, len, "%.3f ± %.3f", a->mean, a->sd);
}

static int draw_depth(const Grid *g, const char *path, Err *e) {
    PlotPanel panels[STUDY_NETS];
    PlotSeries series[STUDY_NETS][STUDY_FAMILIES];
    double xs[STUDY_TAPS], ys[STUDY_NETS][STUDY_FAMILIES][STUDY_TAPS];
    const char *ticks[STUDY_TAPS];
    char titles[STUDY_NETS][64];
    for (int ti = 0; ti < g->n_taps; ti++) {
        xs[ti] = ti;
        ticks[ti] = STUDY_TAP_NAMES[g->taps[ti]];
    }
    for (int ni = 0; ni < g->n_nets; ni++) {
        int n = g->nets[ni];
        for (int fi = 0; fi < g->n_fams; fi++) {
            int f = g->fams[fi];
            for (int ti = 0; ti < g->n_taps; ti++) ys[ni][fi][ti] = g->agg[n][f][g->taps[ti]].mean;
            series[ni][fi] = (PlotSeries){FAMILY_NAMES[f], xs, ys[ni][fi], g->n_taps};
        }
        snprintf(titles[ni], sizeof titles[ni], "network: %s", STUDY_NET_NAMES[n]);
        panels[ni] = (PlotPanel){titles[ni], "tap (shallow to deep)", "probe test accuracy",
                                 series[ni], g->n_fams, ticks, g->n_taps};
    }
    return plot_panels_png(path, panels, g->n_nets, e);
}

static int write_report(const Grid *g, const NetSummary *ns, const Setup *su,
                        const Cifar10 *data, const StudyStats *st, const char *findings,
                        Err *e) {
    const StudyConfig *c = g->c;
    char *path = path_join(c->out_dir, "report.md");
    AtomicFile af;
    if (atomic_open(&af, path, e)) {
        free(path);
        return -1;
    }
    free(path);
    FILE *f = af.f;
    int full_grid = g->n_nets == STUDY_NETS && g->n_fams == STUDY_FAMILIES && g->n_taps == STUDY_TAPS;
    fprintf(f, "# Do CNNs encode data augmentations? (augprobe study)\n\n");
    fprintf(f, "## Setup\n\n");
    fprintf(f, "- Data: %s (%s: %s); split seed %llu: %d train / %d val / %d test images\n",
            data->source, data->verified ? "verified" : "unverified", data->note,
            (unsigned long long)c->split_seed, data->train.n, data->val.n, data->test.n);
    fprintf(f, "- Profile: %s%s%s%s; grid: %d networks x %d augmentations x %d taps x %d seed%s "
               "= %d cells%s\n",
            c->profile, c->overrides[0] ? " (overrides: " : "", c->overrides,
            c->overrides[0] ? ")" : "", g->n_nets, g->n_fams, g->n_taps, c->seeds,
            c->seeds == 1 ? "" : "s", st->cells_total,
            full_grid ? "" : " (a PARTIAL grid: restricted by --networks/--families/--taps)");
    fprintf(f, "- Networks: `aug` trained with %s, `noaug` trained without augmentation, "
               "`random` untrained (net_init(seed), the control); training: %d epoch%s on %d "
               "images, batch 32, Adam lr 0.001, per-epoch evaluation on %s\n",
            TRAIN_DEFAULT_AUG, c->epochs, c->epochs == 1 ? "" : "s", su->n_train, su->eval_what);
    fprintf(f, "- Probe: RankNet head (Dropout 0.2, Dense 1024 ReLU, Dropout 0.2, Dense 1), "
               "%d pass%s, %d epoch%s, batch 32; training pairs from the first %d validation "
               "images, test pairs from the first %d test images; ties (a == b) excluded "
               "from the accuracy\n",
            c->passes, c->passes == 1 ? "" : "es", c->probe_epochs, c->probe_epochs == 1 ? "" : "s",
            su->n_val, su->n_test);
    fprintf(f, "- Levels: ");
    for (int fi = 0; fi < g->n_fams; fi++) {
        float lv[PROBE_MAX_LEVELS];
        int n = aug_default_levels(STUDY_FAMILY_KINDS[g->fams[fi]], lv);
        fprintf(f, "%s%s ", fi ? "; " : "", FAMILY_NAMES[g->fams[fi]]);
        for (int i = 0; i < n; i++) fprintf(f, "%s%g", i ? "," : "", (double)lv[i]);
    }
    fprintf(f, "\n- Taps: block1_pool, block2_pool, block3_pool averaged over space (32, 64, 128 "
               "values: the unpooled block3_pool output is exactly `flatten`, and the unpooled "
               "early blocks, 8192 and 4096 values per image, would need 1.6 GB of features per "
               "split); `flatten` (2048, the notebook's tap); `dense1` (1024)\n");
    fprintf(f, "- Seeds: 1..%d (training, random initialisation and probe)\n", c->seeds);
    fprintf(f, "- Program: augprobe %s, kernels %s (compiled: %s), %d threads, --device %s\n",
            AUGPROBE_VERSION, su->kernels, su->compiled, su->threads, su->device);
    fprintf(f, "- Machine: %s, %ld cores\n", su->cpu, su->cores);
    fprintf(f, "- Time: %.1f s wall, %.1f s CPU, user + system of all threads (this invocation: %d cells computed, %d reused, "
               "%d recomputed as stale; networks %d trained, %d resumed, %d reused)\n",
            su->wall, su->cpu_secs, st->cells_computed, st->cells_reused, st->cells_stale,
            st->nets_trained, st->nets_resumed, st->nets_reused);
    fprintf(f, "- Recorded over all invocations (wall): %.1f s probing the cells, %.1f s "
               "training the networks\n\n",
            su->probe_secs, su->train_secs);

    fprintf(f, "## The notebook's result\n\n");
    const Cell *nb = (c->net_mask >> STUDY_NET_AUG & 1) && (c->family_mask & 1) &&
                             (c->tap_mask >> 3 & 1)
                         ? grid_cell(g, 1, STUDY_NET_AUG, 0, 3)
                         : NULL;
    if (nb && nb->have) {
        fprintf(f, "Zoom at `flatten` on the `aug` network, seed 1 (levels 0.5..0.9; a smaller "
                   "factor is a stronger zoom):\n\n```\n");
        fprintf(f, "where a has more aug :  %d  /  %d\n", nb->a_more.correct, nb->a_more.total);
        fprintf(f, "where b has more aug :  %d  /  %d\n", nb->b_more.correct, nb->b_more.total);
        fprintf(f, "```\n\nAccuracy %.3f over %d non-tie test pairs (%d of %d pairs were ties, "
                   "a == b, and are left out, unlike the notebook).\n\n",
                nb->accuracy, nb->a_more.total + nb->b_more.total, nb->ties_test,
                nb->pairs_test);
    } else {
        fprintf(f, "Not in this grid (it needs network aug, augmentation zoom, tap flatten).\n\n");
    }

    fprintf(f, "## Probe accuracy\n\n");
    fprintf(f, "Test accuracy of the RankNet probe (which of two copies of an image was "
               "augmented more), %s.\n\n",
            c->seeds == 1 ? "single seed, no spread"
                          : "mean ± sample standard deviation over the seeds");
    fprintf(f, "| network | augmentation |");
    for (int ti = 0; ti < g->n_taps; ti++) {
        int t = g->taps[ti];
        if (TAP_POOLS[t] == PROBE_POOL_AVG)
            fprintf(f, " %s (avg, %d) |", STUDY_TAP_NAMES[t], TAP_DIMS[t]);
        else
            fprintf(f, " %s (%d) |", STUDY_TAP_NAMES[t], TAP_DIMS[t]);
    }
    fprintf(f, "\n|---|---|");
    for (int ti = 0; ti < g->n_taps; ti++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int ni = 0; ni < g->n_nets; ni++)
        for (int fi = 0; fi < g->n_fams; fi++) {
            int n = g->nets[ni], fm = g->fams[fi];
            fprintf(f, "| %s | %s |", STUDY_NET_NAMES[n], FAMILY_NAMES[fm]);
            for (int ti = 0; ti < g->n_taps; ti++) {
                char buf[64];
                fmt_agg(&g->agg[n][fm][g->taps[ti]], buf, sizeof buf);
                fprintf(f, " %s |", buf);
            }
            fprintf(f, "\n");
        }

    fprintf(f, "\n## Figures\n\n");
    fprintf(f, "The first 25 training images with the seed's augmentation (%s):\n\n"
               "![augmentation preview](preview.png)\n\n",
            TRAIN_DEFAULT_AUG);
    fprintf(f, "Probe accuracy against depth, one line per augmentation, one panel per "
               "network:\n\n![accuracy against depth](depth.png)\n\n");
    fprintf(f, "Training curves:\n\n");
    int any_curves = 0;
    for (int s = 1; s <= c->seeds; s++)
        for (int n = 0; n < STUDY_NET_RANDOM; n++) {
            if (!(c->net_mask >> n & 1)) continue;
            NetRun r;
            read_run(c, s, n, &r);
            if (!r.curves) continue;
            fprintf(f, "- `%s`, seed %d: ![training curves %s seed %d](seed%d/%s/curves.png)\n",
                    STUDY_NET_NAMES[n], s, STUDY_NET_NAMES[n], s, s, STUDY_NET_NAMES[n]);
            any_curves = 1;
        }
    if (!any_curves) fprintf(f, "- none (no trained network in this grid)\n");

    fprintf(f, "\n## Findings\n\n%s\n\n", findings);

    fprintf(f, "## Networks\n\n");
    fprintf(f, "| seed | network | status | epochs | train acc | val acc | test acc | training s |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|\n");
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g->n_nets; ni++) {
            int n = g->nets[ni];
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
    (void)ns;
    fprintf(f, "\nEvery number above is in results.json; each probe's details (pairs, ties, "
               "accuracy by level gap, timings) are in cells/.\n");
    return atomic_commit(&af, e);
}

static cJSON *num_or_null(double v) { return isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v); }

static int write_results(const Grid *g, const NetSummary *ns, const Setup *su,
                         const Cifar10 *data, const StudyStats *st, const char *findings,
                         Err *e) {
    const StudyConfig *c = g->c;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "program", "augprobe");
    cJSON_AddStringToObject(o, "version", AUGPROBE_VERSION);
    cJSON_AddStringToObject(o, "command", "study");
    cJSON_AddStringToObject(o, "profile", c->profile);
    cJSON_AddStringToObject(o, "overrides", c->overrides);
    cJSON *cf = cJSON_AddObjectToObject(o, "config");
    cJSON_AddNumberToObject(cf, "epochs", c->epochs);
    cJSON_AddNumberToObject(cf, "train_limit", c->train_limit);
    cJSON_AddNumberToObject(cf, "eval_limit", c->eval_limit);
    cJSON_AddNumberToObject(cf, "passes", c->passes);
    cJSON_AddNumberToObject(cf, "probe_epochs", c->probe_epochs);
    cJSON_AddNumberToObject(cf, "probe_limit", c->probe_limit);
    cJSON_AddNumberToObject(cf, "seeds", c->seeds);
    cJSON_AddNumberToObject(cf, "split_seed", (double)c->split_seed);
    cJSON_AddStringToObject(cf, "train_aug", TRAIN_DEFAULT_AUG);
    cJSON_AddNumberToObject(cf, "train_batch", 32);
    cJSON_AddNumberToObject(cf, "train_lr", 0.001);
    cJSON_AddNumberToObject(cf, "probe_batch", 32);
    cJSON *lv = cJSON_AddObjectToObject(cf, "levels");
    for (int i = 0; i < g->n_fams; i++) {
        float levels[PROBE_MAX_LEVELS];
        int n = aug_default_levels(STUDY_FAMILY_KINDS[g->fams[i]], levels);
        cJSON *arr = cJSON_AddArrayToObject(lv, FAMILY_NAMES[g->fams[i]]);
        for (int j = 0; j < n; j++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%g", (double)levels[j]); /* 0.6f as 0.6 */
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(strtod(buf, NULL)));
        }
    }
    cJSON *a;
    a = cJSON_AddArrayToObject(cf, "networks");
    for (int i = 0; i < g->n_nets; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(STUDY_NET_NAMES[g->nets[i]]));
    a = cJSON_AddArrayToObject(cf, "augmentations");
    for (int i = 0; i < g->n_fams; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(FAMILY_NAMES[g->fams[i]]));
    a = cJSON_AddArrayToObject(cf, "taps");
    for (int i = 0; i < g->n_taps; i++) {
        int t = g->taps[i];
        cJSON *tp = cJSON_CreateObject();
        cJSON_AddStringToObject(tp, "layer", STUDY_TAP_NAMES[t]);
        cJSON_AddStringToObject(tp, "pool", TAP_POOLS[t] == PROBE_POOL_AVG ? "avg" : "flatten");
        cJSON_AddNumberToObject(tp, "dim", TAP_DIMS[t]);
        cJSON_AddItemToArray(a, tp);
    }
    cJSON *sj = cJSON_AddObjectToObject(o, "setup");
    cJSON_AddStringToObject(sj, "data_source", data->source);
    cJSON_AddBoolToObject(sj, "data_verified", data->verified);
    cJSON_AddStringToObject(sj, "data_note", data->note);
    cJSON_AddNumberToObject(sj, "train_images", su->n_train);
    cJSON_AddNumberToObject(sj, "val_images_probed", su->n_val);
    cJSON_AddNumberToObject(sj, "test_images_probed", su->n_test);
    cJSON_AddNumberToObject(sj, "split_train", data->train.n);
    cJSON_AddNumberToObject(sj, "split_val", data->val.n);
    cJSON_AddNumberToObject(sj, "split_test", data->test.n);
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

    cJSON *table = cJSON_AddArrayToObject(o, "table");
    cJSON *cells = cJSON_AddArrayToObject(o, "cells");
    for (int ni = 0; ni < g->n_nets; ni++)
        for (int fi = 0; fi < g->n_fams; fi++)
            for (int ti = 0; ti < g->n_taps; ti++) {
                int n = g->nets[ni], fm = g->fams[fi], t = g->taps[ti];
                const Agg *ag = &g->agg[n][fm][t];
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "network", STUDY_NET_NAMES[n]);
                cJSON_AddStringToObject(r, "augmentation", FAMILY_NAMES[fm]);
                cJSON_AddStringToObject(r, "layer", STUDY_TAP_NAMES[t]);
                cJSON_AddNumberToObject(r, "n", ag->n);
                cJSON_AddItemToObject(r, "mean", num_or_null(ag->mean));
                cJSON_AddItemToObject(r, "sd", num_or_null(ag->sd));
                cJSON *v = cJSON_AddArrayToObject(r, "values");
                for (int i = 0; i < ag->n; i++) cJSON_AddItemToArray(v, cJSON_CreateNumber(ag->values[i]));
                cJSON_AddItemToArray(table, r);
                for (int s = 1; s <= c->seeds; s++) {
                    const Cell *x = grid_cell(g, s, n, fm, t);
                    if (x->have) cJSON_AddItemToArray(cells, cell_json(x, s, n, fm, t));
                }
            }

    cJSON *nb = cJSON_AddObjectToObject(o, "notebook");
    const Cell *x = (c->net_mask & 1) && (c->family_mask & 1) && (c->tap_mask >> 3 & 1)
                        ? grid_cell(g, 1, STUDY_NET_AUG, 0, 3)
                        : NULL;
    if (x && x->have) {
        cJSON_AddStringToObject(nb, "cell", "seed 1, aug, zoom, flatten");
        cJSON_AddItemToObject(nb, "a_more", count_json(x->a_more));
        cJSON_AddItemToObject(nb, "b_more", count_json(x->b_more));
        cJSON_AddNumberToObject(nb, "accuracy", x->accuracy);
        cJSON_AddNumberToObject(nb, "pairs_test", x->pairs_test);
        cJSON_AddNumberToObject(nb, "ties_test", x->ties_test);
        cJSON_AddNumberToObject(nb, "non_tie_pairs", x->a_more.total + x->b_more.total);
    }

    cJSON *fj = cJSON_AddObjectToObject(o, "findings");
    cJSON_AddStringToObject(fj, "text", findings);
    cJSON_AddNumberToObject(fj, "chance", 0.5);
    cJSON *per = cJSON_AddObjectToObject(fj, "networks");
    for (int ni = 0; ni < g->n_nets; ni++) {
        int n = g->nets[ni];
        const NetSummary *s = &ns[n];
        if (!s->present) continue;
        cJSON *pj = cJSON_AddObjectToObject(per, STUDY_NET_NAMES[n]);
        cJSON_AddNumberToObject(pj, "mean_accuracy", s->mean);
        cJSON_AddNumberToObject(pj, "cells", s->n);
        cJSON *best = cJSON_AddObjectToObject(pj, "best_tap");
        for (int fi = 0; fi < g->n_fams; fi++) {
            int fm = g->fams[fi], t = s->best_tap[fm];
            if (t < 0) continue;
            cJSON *bj = cJSON_AddObjectToObject(best, FAMILY_NAMES[fm]);
            cJSON_AddStringToObject(bj, "layer", STUDY_TAP_NAMES[t]);
            cJSON_AddNumberToObject(bj, "accuracy", g->agg[n][fm][t].mean);
        }
        cJSON_AddItemToObject(pj, "first_tap_mean", num_or_null(s->first_mean));
        cJSON_AddItemToObject(pj, "last_tap_mean", num_or_null(s->last_mean));
        cJSON_AddNumberToObject(pj, "families_lower_at_last_tap", s->falls);
        if (n != STUDY_NET_RANDOM && ns[STUDY_NET_RANDOM].present) {
            cJSON_AddNumberToObject(pj, "minus_control", s->diff_control);
            cJSON_AddNumberToObject(pj, "cells_above_control", s->beats_control);
            cJSON_AddNumberToObject(pj, "cells_compared", s->compared);
        }
    }
    cJSON *fig = cJSON_AddObjectToObject(o, "figures");
    cJSON_AddStringToObject(fig, "preview", "preview.png");
    cJSON_AddStringToObject(fig, "depth", "depth.png");

    char *path = path_join(c->out_dir, "results.json");
    int rc = write_json(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

/* ---- the run ---- */

static int check_config(const StudyConfig *c, const Cifar10 *data, Err *e) {
    if (!c->out_dir || !*c->out_dir) return err_set(e, "--out: empty directory name");
    if (c->seeds < 1 || c->seeds > STUDY_MAX_SEEDS)
        return err_set(e, "--seeds: %d is out of range [1, %d]", c->seeds, STUDY_MAX_SEEDS);
    if (c->epochs < 1) return err_set(e, "--epochs: %d must be at least 1", c->epochs);
    if (c->passes < 1) return err_set(e, "--passes: %d must be at least 1", c->passes);
    if (c->probe_epochs < 1)
        return err_set(e, "--probe-epochs: %d must be at least 1", c->probe_epochs);
    if (c->train_limit < 0 || c->train_limit > data->train.n)
        return err_set(e, "--train-limit: %d is out of range [0, %d]", c->train_limit,
                       data->train.n);
    if (c->probe_limit < 0 || c->eval_limit < 0)
        return err_set(e, "--probe-limit and --eval-limit must not be negative");
    if (data->val.n < 1 || data->test.n < 1)
        return err_set(e, "the data has no validation or test images (was it split?)");
    if (!c->net_mask || !c->family_mask || !c->tap_mask)
        return err_set(e, "the grid is empty (--networks, --families, --taps)");
    return 0;
}

int study_run(const StudyConfig *c, const Cifar10 *data, StudyStats *stats, Err *e) {
    double wall0 = now_seconds(), cpu0 = cpu_seconds();
    StudyStats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    if (check_config(c, data, e)) return -1;
    char *cells_dir = path_join(c->out_dir, "cells");
    int mk = mkdir_p(cells_dir, e);
    free(cells_dir);
    if (mk) return -1;

    Grid g;
    memset(&g, 0, sizeof g);
    g.c = c;
    g.cells = xcalloc((size_t)c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_TAPS, sizeof(Cell));
    for (int i = 0; i < STUDY_NETS; i++)
        if (c->net_mask >> i & 1) g.nets[g.n_nets++] = i;
    for (int i = 0; i < STUDY_FAMILIES; i++)
        if (c->family_mask >> i & 1) g.fams[g.n_fams++] = i;
    for (int i = 0; i < STUDY_TAPS; i++)
        if (c->tap_mask >> i & 1) g.taps[g.n_taps++] = i;
    st->cells_total = c->seeds * g.n_nets * g.n_fams * g.n_taps;

    /* What is already done. */
    int groups_todo = 0;
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g.n_nets; ni++)
            for (int fi = 0; fi < g.n_fams; fi++) {
                int missing = 0;
                for (int ti = 0; ti < g.n_taps; ti++) {
                    int r = read_cell(c, grid_cell(&g, s, g.nets[ni], g.fams[fi], g.taps[ti]), s,
                                      g.nets[ni], g.fams[fi], g.taps[ti]);
                    if (r == 1) st->cells_reused++;
                    if (r == 2) st->cells_stale++;
                    missing += r != 1;
                }
                groups_todo += missing > 0;
            }
    if (!c->quiet) {
        printf("study: %d cells (%d seed%s x %d networks x %d augmentations x %d taps): %d done, "
               "%d to compute -> %s\n",
               st->cells_total, c->seeds, c->seeds == 1 ? "" : "s", g.n_nets, g.n_fams, g.n_taps,
               st->cells_reused, st->cells_total - st->cells_reused, c->out_dir);
        fflush(stdout);
    }

    int rc = 0, group = 0;
    for (int s = 1; s <= c->seeds && rc == 0; s++)
        for (int ni = 0; ni < g.n_nets && rc == 0; ni++) {
            int n = g.nets[ni], need = 0;
            for (int fi = 0; fi < g.n_fams; fi++)
                for (int ti = 0; ti < g.n_taps; ti++)
                    need += !grid_cell(&g, s, n, g.fams[fi], g.taps[ti])->have;
            if (!need) continue;
            int stopped = 0;
            Net *trunk = obtain_net(c, data, s, n, st, &stopped, e);
            if (!trunk) {
                rc = stopped ? STUDY_STOPPED : -1;
                break;
            }
            for (int fi = 0; fi < g.n_fams && rc == 0; fi++) {
                int fm = g.fams[fi], todo[STUDY_TAPS], n_todo = 0;
                for (int ti = 0; ti < g.n_taps; ti++)
                    if (!grid_cell(&g, s, n, fm, g.taps[ti])->have) todo[n_todo++] = g.taps[ti];
                if (!n_todo) continue;
                double t0 = now_seconds();
                Cell *row = grid_cell(&g, s, n, fm, 0);
                if (probe_group(c, data, trunk, s, n, fm, todo, n_todo, row, e)) {
                    rc = -1;
                    break;
                }
                st->cells_computed += n_todo;
                group++;
                if (!c->quiet) {
                    printf("study: [%d/%d] seed %d %s %s:", group, groups_todo, s,
                           STUDY_NET_NAMES[n], FAMILY_NAMES[fm]);
                    for (int i = 0; i < n_todo; i++)
                        printf(" %s %.3f", STUDY_TAP_NAMES[todo[i]], row[todo[i]].accuracy);
                    printf("  (%.1f s)\n", now_seconds() - t0);
                    fflush(stdout);
                }
                if (train_stop_requested()) rc = STUDY_STOPPED;
            }
            net_free(trunk);
        }
    if (rc) {
        free(g.cells);
        return rc;
    }

    aggregate(&g);
    NetSummary ns[STUDY_NETS];
    summarise(&g, ns);
    Str findings = {0};
    write_findings(&g, ns, &findings);

    Setup su;
    memset(&su, 0, sizeof su);
    cpu_model(su.cpu, sizeof su.cpu);
    su.cores = sysconf(_SC_NPROCESSORS_ONLN);
    su.kernels = kernels_cpu_best()->name;
    su.compiled = kernels_compiled();
    su.device = c->device;
    su.threads = c->threads;
    su.n_train = c->train_limit ? c->train_limit : data->train.n;
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g.n_nets; ni++) {
            for (int fi = 0; fi < g.n_fams; fi++)
                for (int ti = 0; ti < g.n_taps; ti++) {
                    const Cell *x = grid_cell(&g, s, g.nets[ni], g.fams[fi], g.taps[ti]);
                    su.probe_secs += x->head_seconds + x->features_seconds;
                }
            NetRun r;
            read_run(c, s, g.nets[ni], &r);
            su.train_secs += r.seconds;
        }
    if (c->eval_limit)
        snprintf(su.eval_what, sizeof su.eval_what, "the first %d val and test images",
                 c->eval_limit);
    else
        snprintf(su.eval_what, sizeof su.eval_what, "every val and test image");
    su.n_val = c->probe_limit > 0 && c->probe_limit < data->val.n ? c->probe_limit : data->val.n;
    su.n_test =
        c->probe_limit > 0 && c->probe_limit < data->test.n ? c->probe_limit : data->test.n;

    char *preview = path_join(c->out_dir, "preview.png");
    char *depth = path_join(c->out_dir, "depth.png");
    AugSpec spec;
    rc = aug_parse(&spec, TRAIN_DEFAULT_AUG, e);
    if (rc == 0) rc = augment_preview_png(preview, data, &spec, c->split_seed, 4, NULL, e);
    if (rc == 0) rc = draw_depth(&g, depth, e);
    su.wall = now_seconds() - wall0;
    su.cpu_secs = cpu_seconds() - cpu0;
    st->wall_seconds = su.wall;
    st->cpu_seconds = su.cpu_secs;
    if (rc == 0) rc = write_results(&g, ns, &su, data, st, findings.s, e);
    if (rc == 0) rc = write_report(&g, ns, &su, data, st, findings.s, e);
    if (rc == 0) rc = report_html_dir(c->out_dir, e); /* report.html beside report.md */
    if (rc == 0 && !c->quiet) {
        printf("study: wrote %s/report.md and results.json (%.1f s wall, %.1f s CPU)\n",
               c->out_dir, su.wall, su.cpu_secs);
        printf("%s\n", findings.s);
    }
    free(preview);
    free(depth);
    free(findings.s);
    free(g.cells);
    return rc;
}
