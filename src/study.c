/* study.c - the experiment grid (see study.h): which cells are done, the
 * networks they need (trained, resumed or reused), one feature pass per
 * (seed, network, family) and split for every tap, the heads, and the cell
 * files. report.c writes the report from the finished grid. */
#define _XOPEN_SOURCE 700
#include "study.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "json_util.h"
#include "net.h"
#include "report_html.h"
#include "probe.h"
#include "preview.h"
#include "study_grid.h"
#include "study_sched.h"
#include "train.h"

const char *const STUDY_NET_NAMES[STUDY_NETS] = {"aug", "noaug", "random", "pixels", "stats"};
const AugKind STUDY_FAMILY_KINDS[STUDY_FAMILIES] = {
    AUG_ZOOM, AUG_ASPECT, AUG_BRIGHTNESS, AUG_CONTRAST, AUG_SATURATION, AUG_HUE, AUG_BLUR};
static const char *const FAMILY_NAMES[STUDY_FAMILIES] = {
    "zoom", "aspect", "brightness", "contrast", "saturation", "hue", "blur"};
const char *const STUDY_TAP_NAMES[STUDY_TAPS] = {"block1_pool", "block2_pool", "block3_pool",
                                                 "flatten", "dense1"};
const char *const STUDY_MODE_NAMES[STUDY_MODES] = {"cross", "same"};
const char *const STUDY_HEAD_NAMES[STUDY_HEADS] = {"linear", "mlp"};
static const ProbePairMode MODE_KINDS[STUDY_MODES] = {PROBE_PAIRS_CROSS, PROBE_PAIRS_SAME};
static const ProbeHeadKind HEAD_KINDS[STUDY_HEADS] = {PROBE_HEAD_LINEAR, PROBE_HEAD_MLP};

const ProbePool STUDY_TAP_POOLS[STUDY_TAPS] = {PROBE_POOL_AVG, PROBE_POOL_AVG, PROBE_POOL_AVG,
                                               PROBE_POOL_FLATTEN, PROBE_POOL_FLATTEN};
#define TAP_POOLS STUDY_TAP_POOLS

/* The trunk's batch for feature extraction (probe_features_compute uses
 * the net's max_batch). */
enum { TRUNK_BATCH = 128 };
/* Feature caches of one split, all taps together: 10,000 images x 7 levels
 * x 3,296 floats = 923 MB at full size (pixels: 3,072 floats, 860 MB). */
static const size_t MAX_FEATURE_BYTES = (size_t)2 << 30;

const char *const *study_family_names(void) { return FAMILY_NAMES; }

int study_is_floor(int net) { return net == STUDY_NET_PIXELS || net == STUDY_NET_STATS; }

int study_levels(int fam, float *levels) {
    return aug_ladder_levels(STUDY_FAMILY_KINDS[fam], levels);
}

const char *study_cell_layer(int net, int tap) {
    return study_is_floor(net) ? STUDY_NET_NAMES[net] : STUDY_TAP_NAMES[tap];
}

static void config_common(StudyConfig *c) {
    memset(c, 0, sizeof *c);
    c->out_dir = "runs/study";
    c->split_seed = 1;
    c->threads = 1;
    snprintf(c->device, sizeof c->device, "cpu");
    c->net_mask = (1u << STUDY_NETS) - 1;
    c->family_mask = (1u << STUDY_FAMILIES) - 1;
    c->tap_mask = (1u << STUDY_TAPS) - 1;
    c->mode_mask = (1u << STUDY_MODES) - 1;
    c->boot = STATS_BOOT;
}

/* Sized by measurement on this project's 2-core machines (batch 32, Adam
 * 1e-3, all 40,000 training images, 1,000 test images, seed 1): at a
 * constant rate aug reached 0.594 test accuracy after 6 epochs and 0.653-0.660
 * after 8, too slow for the 20-minute budget; annealed by a cosine schedule
 * it reaches 0.621 after 5 (0.650 after 6) and noaug 0.798 after 5. An
 * epoch takes 71-81 s on an AMD EPYC (AVX2), about 50 s on a Zen 4, 92 s on
 * an Intel Xeon; a linear head costs well under a second per cell, so the
 * probe's share is the feature passes (7 levels x 2,000 images per network
 * and family). */
enum { QUICK_EPOCHS = 5, QUICK_TRAIN_LIMIT = 0 };
void study_config_quick(StudyConfig *c) {
    config_common(c);
    snprintf(c->profile, sizeof c->profile, "quick");
    c->epochs = QUICK_EPOCHS;
    c->lr_cosine = 1;
    c->train_limit = QUICK_TRAIN_LIMIT;
    c->eval_limit = 1000;
    c->passes = 2;
    c->probe_epochs = 15;
    c->probe_limit = 1000;
    c->seeds = 1;
    c->mlp_all = 0;
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
    c->mlp_all = 1;
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

/* ---- cells ---- */

Cell *grid_cell(const Grid *g, int seed, int net, int fam, int mode, int tap, int head) {
    size_t i = (size_t)(seed - 1);
    i = i * STUDY_NETS + (size_t)net;
    i = i * STUDY_FAMILIES + (size_t)fam;
    i = i * STUDY_MODES + (size_t)mode;
    i = i * STUDY_TAPS + (size_t)tap;
    i = i * STUDY_HEADS + (size_t)head;
    return &g->cells[i];
}

int study_has_notebook(const Grid *g) {
    const StudyConfig *c = g->c;
    return (c->net_mask >> STUDY_NET_AUG & 1) && (c->family_mask & 1) && (c->tap_mask >> 3 & 1) &&
           (c->mode_mask >> STUDY_MODE_SAME & 1);
}

static void cell_free(Cell *x) {
    free(x->outcome);
    memset(x, 0, sizeof *x);
}

/* What one probe task is: where its features come from and how it is
 * probed. The notebook's cell has its own levels and file name. */
typedef struct Task {
    int net, fam, mode, tap, head;
    int notebook;
    Cell *cell;
} Task;

static int task_levels(const Task *t, float *levels) {
    return t->notebook ? aug_default_levels(AUG_ZOOM, levels) : study_levels(t->fam, levels);
}

/* Everything a cell's number depends on; a cell stored with other settings
 * is recomputed. The untrained control and the floors do not depend on
 * training. */
static void cell_settings(const StudyConfig *c, const Task *t, char *buf, size_t len) {
    float levels[PROBE_MAX_LEVELS];
    int n = task_levels(t, levels);
    size_t used = 0;
    if (study_is_floor(t->net))
        used = (size_t)snprintf(buf, len, "floor");
    else if (t->net == STUDY_NET_RANDOM)
        used = (size_t)snprintf(buf, len, "untrained");
    else
        used = (size_t)snprintf(buf, len, "epochs=%d%s train_limit=%d eval_limit=%d aug=%s",
                                c->epochs, c->lr_cosine ? " lr_schedule=cosine" : "",
                                c->train_limit, c->eval_limit,
                                t->net == STUDY_NET_AUG ? TRAIN_DEFAULT_AUG : "none");
    used += (size_t)snprintf(buf + used, len - used,
                             " split_seed=%llu passes=%d probe_epochs=%d probe_limit=%d "
                             "batch=32 boot=%d head=%s%s levels=",
                             (unsigned long long)c->split_seed, c->passes, c->probe_epochs,
                             c->probe_limit, c->boot, STUDY_HEAD_NAMES[t->head],
                             t->head == STUDY_HEAD_LINEAR ? " lr=0.01 l2=0.001" : "");
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%g", i ? "," : "", (double)levels[i]);
}

static char *cell_path(const StudyConfig *c, int seed, const Task *t) {
    char name[160];
    snprintf(name, sizeof name, "cells/seed%d-%s-%s-%s-%s-%s.json", seed, STUDY_NET_NAMES[t->net],
             t->notebook ? "zoom_notebook" : FAMILY_NAMES[t->fam], STUDY_MODE_NAMES[t->mode],
             study_cell_layer(t->net, t->tap), STUDY_HEAD_NAMES[t->head]);
    return path_join(c->out_dir, name);
}

static cJSON *count_json(ProbeCount k) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(k.correct));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(k.total));
    return a;
}

/* The test pairs' outcomes as hex, one bit per pair (pair 8i+j is bit j of
 * byte i). */
static char *outcome_hex(const uint8_t *o, int n) {
    int bytes = (n + 7) / 8;
    char *s = xmalloc((size_t)bytes * 2 + 1);
    for (int i = 0; i < bytes; i++) {
        unsigned v = 0;
        for (int j = 0; j < 8 && 8 * i + j < n; j++) v |= (unsigned)(o[8 * i + j] == 1) << j;
        snprintf(s + 2 * i, 3, "%02x", v);
    }
    s[2 * bytes] = 0;
    return s;
}

static int outcome_unhex(const char *s, int n, uint8_t **out) {
    int bytes = (n + 7) / 8;
    if (n < 0 || strlen(s) != (size_t)bytes * 2) return -1;
    uint8_t *o = xcalloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; i < bytes; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) {
            free(o);
            return -1;
        }
        for (int j = 0; j < 8 && 8 * i + j < n; j++) o[8 * i + j] = (uint8_t)(v >> j & 1);
    }
    *out = o;
    return 0;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

/* The cell's JSON (without its outcome and settings: results.json shares it). */
static cJSON *cell_json(const Cell *x, int seed, const Task *t);

cJSON *study_cell_json(const Cell *x, int seed, int net, int fam, int mode, int tap, int head,
                       int notebook) {
    Task t = {net, fam, mode, tap, head, notebook, (Cell *)x};
    return cell_json(x, seed, &t);
}

static cJSON *cell_json(const Cell *x, int seed, const Task *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "network", STUDY_NET_NAMES[t->net]);
    cJSON_AddStringToObject(o, "augmentation", t->notebook ? "zoom_notebook" : FAMILY_NAMES[t->fam]);
    cJSON_AddStringToObject(o, "pairs", STUDY_MODE_NAMES[t->mode]);
    cJSON_AddStringToObject(o, "layer", study_cell_layer(t->net, t->tap));
    cJSON_AddStringToObject(o, "pool", !study_is_floor(t->net) && TAP_POOLS[t->tap] == PROBE_POOL_AVG
                                           ? "avg"
                                           : "flatten");
    cJSON_AddStringToObject(o, "head", STUDY_HEAD_NAMES[t->head]);
    cJSON_AddNumberToObject(o, "dim", x->dim);
    cJSON_AddNumberToObject(o, "accuracy", x->accuracy);
    cJSON *ci = cJSON_AddArrayToObject(o, "accuracy_ci95");
    cJSON_AddItemToArray(ci, num_or_null(x->acc_lo));
    cJSON_AddItemToArray(ci, num_or_null(x->acc_hi));
    cJSON *th = cJSON_AddObjectToObject(o, "threshold75");
    cJSON_AddItemToObject(th, "value", num_or_null(x->threshold));
    cJSON_AddStringToObject(th, "where", x->thr_where == PSY_BELOW   ? "below"
                                         : x->thr_where == PSY_ABOVE ? "above"
                                                                     : "inside");
    cJSON *tci = cJSON_AddArrayToObject(th, "ci95");
    cJSON_AddItemToArray(tci, num_or_null(x->thr_lo));
    cJSON_AddItemToArray(tci, num_or_null(x->thr_hi));
    cJSON_AddItemToObject(th, "beta", num_or_null(x->thr_beta));
    cJSON_AddItemToObject(o, "a_more", count_json(x->a_more));
    cJSON_AddItemToObject(o, "b_more", count_json(x->b_more));
    cJSON_AddNumberToObject(o, "pairs_train", x->pairs_train);
    cJSON_AddNumberToObject(o, "ties_train", x->ties_train);
    cJSON_AddNumberToObject(o, "pairs_test", x->pairs_test);
    cJSON_AddNumberToObject(o, "ties_test", x->ties_test);
    cJSON_AddNumberToObject(o, "train_loss", x->train_loss);
    cJSON_AddNumberToObject(o, "train_accuracy", x->train_accuracy);
    cJSON *g = cJSON_AddArrayToObject(o, "by_gap");
    for (int i = 0; i < x->n_gaps; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%g", (double)x->gap[i]); /* 0.05f as 0.05 */
        cJSON *row = cJSON_CreateArray();
        cJSON_AddItemToArray(row, cJSON_CreateNumber(strtod(buf, NULL)));
        cJSON_AddItemToArray(row, cJSON_CreateNumber(x->by_gap[i].correct));
        cJSON_AddItemToArray(row, cJSON_CreateNumber(x->by_gap[i].total));
        cJSON_AddItemToArray(g, row);
    }
    cJSON_AddNumberToObject(o, "head_seconds", x->head_seconds);
    cJSON_AddNumberToObject(o, "features_seconds", x->features_seconds);
    return o;
}

static int write_cell(const StudyConfig *c, int seed, const Task *t, Err *e) {
    cJSON *o = cell_json(t->cell, seed, t);
    char *hex = outcome_hex(t->cell->outcome, t->cell->pairs_test);
    cJSON_AddStringToObject(o, "outcome", hex);
    free(hex);
    char settings[512];
    cell_settings(c, t, settings, sizeof settings);
    cJSON_AddStringToObject(o, "settings", settings);
    char *path = cell_path(c, seed, t);
    int rc = json_write_file(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

static int get_pair(const cJSON *a, double *x, double *y) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2) return -1;
    const cJSON *c0 = cJSON_GetArrayItem(a, 0), *c1 = cJSON_GetArrayItem(a, 1);
    *x = cJSON_IsNumber(c0) ? c0->valuedouble : NAN;
    *y = cJSON_IsNumber(c1) ? c1->valuedouble : NAN;
    return (cJSON_IsNumber(c0) || cJSON_IsNull(c0)) && (cJSON_IsNumber(c1) || cJSON_IsNull(c1))
               ? 0
               : -1;
}

static int get_count(const cJSON *o, const char *key, ProbeCount *k) {
    double a, b;
    if (get_pair(cJSON_GetObjectItemCaseSensitive(o, key), &a, &b) || !isfinite(a) || !isfinite(b))
        return -1;
    k->correct = (int)a;
    k->total = (int)b;
    return 0;
}

/* Reads a finished cell. Returns 1 when it is there with the current
 * settings, 0 when absent, 2 when stale (other settings or unreadable). */
static int read_cell(const StudyConfig *c, int seed, const Task *t) {
    Cell *x = t->cell;
    char *path = cell_path(c, seed, t);
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
    cell_settings(c, t, settings, sizeof settings);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "settings");
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(o, "threshold75");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(th, "where");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "by_gap");
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(o, "outcome");
    cell_free(x);
    int bad = !o || !cJSON_IsString(s) || strcmp(s->valuestring, settings) != 0 ||
              json_get_int(o, "dim", &x->dim) ||
              json_get_number_or_null(o, "accuracy", &x->accuracy) ||
              get_pair(cJSON_GetObjectItemCaseSensitive(o, "accuracy_ci95"), &x->acc_lo,
                       &x->acc_hi) ||
              !cJSON_IsObject(th) || json_get_number_or_null(th, "value", &x->threshold) ||
              json_get_number_or_null(th, "beta", &x->thr_beta) ||
              get_pair(cJSON_GetObjectItemCaseSensitive(th, "ci95"), &x->thr_lo, &x->thr_hi) ||
              !cJSON_IsString(w) || get_count(o, "a_more", &x->a_more) ||
              get_count(o, "b_more", &x->b_more) ||
              json_get_int(o, "pairs_train", &x->pairs_train) ||
              json_get_int(o, "ties_train", &x->ties_train) ||
              json_get_int(o, "pairs_test", &x->pairs_test) ||
              json_get_int(o, "ties_test", &x->ties_test) ||
              json_get_number_or_null(o, "train_loss", &x->train_loss) ||
              json_get_number_or_null(o, "train_accuracy", &x->train_accuracy) ||
              json_get_number_or_null(o, "head_seconds", &x->head_seconds) ||
              json_get_number_or_null(o, "features_seconds", &x->features_seconds) ||
              !cJSON_IsArray(g) ||
              cJSON_GetArraySize(g) > PROBE_MAX_GAPS || !cJSON_IsString(hex) ||
              outcome_unhex(hex->valuestring, x->pairs_test, &x->outcome);
    if (!bad) {
        x->thr_where = !strcmp(w->valuestring, "below")   ? PSY_BELOW
                       : !strcmp(w->valuestring, "above") ? PSY_ABOVE
                                                          : PSY_INSIDE;
        const cJSON *it;
        cJSON_ArrayForEach(it, g) {
            const cJSON *a = cJSON_GetArrayItem(it, 0), *b = cJSON_GetArrayItem(it, 1),
                        *d = cJSON_GetArrayItem(it, 2);
            if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !cJSON_IsNumber(d)) {
                bad = 1;
                break;
            }
            x->gap[x->n_gaps] = (float)a->valuedouble;
            x->by_gap[x->n_gaps].correct = b->valueint;
            x->by_gap[x->n_gaps++].total = d->valueint;
        }
    }
    cJSON_Delete(o);
    if (bad) {
        cell_free(x);
        return 2;
    }
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
    tc->lr_cosine = c->lr_cosine;
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
                           : stored.lr_cosine != tc.lr_cosine     ? "learning-rate schedule"
                           : done > tc.epochs                     ? "--epochs"
                           : tc.lr_cosine && stored.epochs != tc.epochs ? "--epochs (cosine schedule)"
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

/* The trunk of network `net` for seed s: the trained model (trained by its
 * training task, which ran before), or the untrained control net_init(s). */
static Net *load_trunk(const StudyConfig *c, int seed, int net, Err *e) {
    Net *n;
    if (net == STUDY_NET_RANDOM) {
        n = train_net_create(TRUNK_BATCH, c->threads, "", e);
        if (n) net_init(n, (uint64_t)seed);
    } else {
        char *dir = net_dir(c, seed, net);
        char *model = path_join(dir, "model.safetensors");
        n = train_load_model(model, TRUNK_BATCH, c->threads, "", NULL, e);
        free(model);
        free(dir);
    }
    if (n && net_place(n, c->device, NULL, e)) {
        net_free(n);
        return NULL;
    }
    return n;
}

/* ---- probing ---- */

static void probe_config(const StudyConfig *c, int seed, const Task *t, ProbeConfig *pc) {
    probe_config_defaults(pc);
    probe_config_family(pc, t->notebook ? AUG_ZOOM : STUDY_FAMILY_KINDS[t->fam]);
    pc->n_levels = task_levels(t, pc->levels);
    pc->passes = c->passes;
    pc->epochs = c->probe_epochs;
    pc->seed = (uint64_t)seed;
    pc->split_seed = c->split_seed;
    pc->threads = c->threads;
    snprintf(pc->device, sizeof pc->device, "%s", c->device);
    pc->limit = c->probe_limit;
    pc->max_feature_bytes = MAX_FEATURE_BYTES;
    pc->quiet = 1;
    pc->pairs = MODE_KINDS[t->mode];
    pc->head = HEAD_KINDS[t->head];
    pc->boot = c->boot;
    snprintf(pc->layer, sizeof pc->layer, "%s", study_cell_layer(t->net, t->tap));
    pc->pool = study_is_floor(t->net) ? PROBE_POOL_FLATTEN : TAP_POOLS[t->tap];
}

/* Features of one split for the distinct taps of tasks[0..n) (all of one
 * network and family): one pass through the trunk, or the floor's input.
 * feats[k] belongs to tap slot tap_of[k]; *n_feats of them. */
static int group_features(const StudyConfig *c, Net *trunk, const ImageSet *set, int n_images,
                          const Task *tasks, int n, ProbeFeatures *feats, int *tap_of,
                          int *n_feats, Err *e) {
    float levels[PROBE_MAX_LEVELS];
    int n_levels = task_levels(&tasks[0], levels);
    AugKind kind = tasks[0].notebook ? AUG_ZOOM : STUDY_FAMILY_KINDS[tasks[0].fam];
    *n_feats = 0;
    if (!trunk) {
        tap_of[0] = 0;
        *n_feats = 1;
        ProbeInput in = tasks[0].net == STUDY_NET_STATS ? PROBE_INPUT_STATS : PROBE_INPUT_PIXELS;
        return probe_features_input(in, set, n_images, kind, levels, n_levels, MAX_FEATURE_BYTES,
                                    feats, e);
    }
    ProbeTap taps[STUDY_TAPS];
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int k = 0; k < *n_feats; k++) seen |= tap_of[k] == tasks[i].tap;
        if (seen) continue;
        tap_of[*n_feats] = tasks[i].tap;
        taps[*n_feats] = (ProbeTap){STUDY_TAP_NAMES[tasks[i].tap], TAP_POOLS[tasks[i].tap]};
        (*n_feats)++;
    }
    (void)c;
    return probe_features_compute(trunk, set, n_images, kind, levels, n_levels, taps, *n_feats,
                                  MAX_FEATURE_BYTES, feats, NULL, e);
}

static const ProbeFeatures *feature_of(const ProbeFeatures *feats, const int *tap_of, int n,
                                       int tap) {
    for (int k = 0; k < n; k++)
        if (tap_of[k] == tap) return &feats[k];
    return &feats[0]; /* floors: one input */
}

/* Probes tasks[0..n) (one network and family, trunk NULL for a floor): one
 * feature pass per split for all of them, a head per task trained on the
 * validation features (freed before the test features are made, to bound
 * memory), evaluated on the test features; writes each cell. */
static int probe_group(const StudyConfig *c, const Cifar10 *data, Net *trunk, int seed,
                       Task *tasks, int n, const Grid *g, Err *e) {
    enum { MAX_TASKS = STUDY_MODES * STUDY_TAPS * STUDY_HEADS };
    ProbeFeatures feats[STUDY_TAPS];
    int tap_of[STUDY_TAPS], n_feats = 0;
    ProbeHead heads[MAX_TASKS];
    ProbeResult res[MAX_TASKS];
    double secs[MAX_TASKS];
    memset(heads, 0, sizeof heads);
    memset(res, 0, sizeof res);
    double t0 = now_seconds();
    if (group_features(c, trunk, &data->val, g->n_val, tasks, n, feats, tap_of, &n_feats, e))
        return -1;
    double feat_secs = now_seconds() - t0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        ProbeConfig pc;
        probe_config(c, seed, &tasks[i], &pc);
        double h0 = now_seconds();
        rc = probe_head_train(&pc, feature_of(feats, tap_of, n_feats, tasks[i].tap), &heads[i],
                              &res[i], e);
        secs[i] = now_seconds() - h0;
    }
    for (int k = 0; k < n_feats; k++) probe_features_free(&feats[k]);
    if (rc == 0) {
        t0 = now_seconds();
        rc = group_features(c, trunk, &data->test, g->n_test, tasks, n, feats, tap_of, &n_feats, e);
        feat_secs += now_seconds() - t0;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        ProbeConfig pc;
        probe_config(c, seed, &tasks[i], &pc);
        double h0 = now_seconds();
        rc = probe_head_eval(&pc, &heads[i], feature_of(feats, tap_of, n_feats, tasks[i].tap),
                             &res[i], e);
        secs[i] += now_seconds() - h0;
    }
    for (int k = 0; k < n_feats; k++) probe_features_free(&feats[k]); /* zeroed: a no-op */
    for (int i = 0; i < n && rc == 0; i++) {
        const ProbeResult *r = &res[i];
        Cell *x = tasks[i].cell;
        cell_free(x);
        x->have = 1;
        x->dim = r->feature_dim;
        x->accuracy = r->accuracy;
        x->acc_lo = r->acc_lo;
        x->acc_hi = r->acc_hi;
        x->threshold = r->threshold;
        x->thr_lo = r->thr_lo;
        x->thr_hi = r->thr_hi;
        x->thr_beta = r->thr_beta;
        x->thr_where = r->thr_where;
        x->train_loss = r->train_loss;
        x->train_accuracy = r->train_accuracy;
        x->a_more = r->a_more;
        x->b_more = r->b_more;
        x->pairs_train = r->pairs_train;
        x->ties_train = r->ties_train;
        x->pairs_test = r->pairs_test;
        x->ties_test = r->ties_test;
        x->n_gaps = r->n_gaps;
        for (int k = 0; k < r->n_gaps; k++) {
            x->gap[k] = r->gap[k];
            x->by_gap[k] = r->by_gap[k];
        }
        x->head_seconds = secs[i];
        x->features_seconds = feat_secs / n; /* the shared passes, split evenly */
        x->outcome = r->outcome;
        res[i].outcome = NULL;
        rc = write_cell(c, seed, &tasks[i], e);
    }
    for (int i = 0; i < n; i++) {
        probe_head_free(&heads[i]);
        probe_result_free(&res[i]);
    }
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
    if (c->probe_limit == 1)
        return err_set(e, "--probe-limit: 1 image cannot make cross pairs (use 2 or more)");
    if (data->val.n < 2 || data->test.n < 2)
        return err_set(e, "the data has fewer than 2 validation or test images (was it split?)");
    if (c->boot < 50) return err_set(e, "--bootstrap: %d replicates (at least 50)", c->boot);
    if (!c->net_mask || !c->family_mask || !c->tap_mask || !c->mode_mask)
        return err_set(e, "the grid is empty (--networks, --families, --taps, --pairs)");
    return 0;
}

/* The tasks of (seed, net, family): every selected mode x tap x head, the
 * floors at their one input. */
static int group_tasks(const Grid *g, int seed, int net, int fam, Task *out) {
    int n = 0, heads = g->c->mlp_all ? STUDY_HEADS : 1;
    int n_taps = study_is_floor(net) ? 1 : g->n_taps;
    for (int mi = 0; mi < g->n_modes; mi++)
        for (int ti = 0; ti < n_taps; ti++)
            for (int h = 0; h < heads; h++) {
                int tap = study_is_floor(net) ? 0 : g->taps[ti];
                out[n] = (Task){net, fam, g->modes[mi], tap, h, 0,
                                grid_cell(g, seed, net, fam, g->modes[mi], tap, h)};
                n++;
            }
    return n;
}

static int notebook_tasks(Grid *g, Task *out) {
    for (int h = 0; h < STUDY_HEADS; h++)
        out[h] = (Task){STUDY_NET_AUG, 0, STUDY_MODE_SAME, 3, h, 1, &g->notebook[h]};
    return STUDY_HEADS;
}

/* Which of tasks[0..n) are not finished (bit i: tasks[i]); counts what
 * was found. */
static unsigned missing_mask(const StudyConfig *c, int seed, Task *t, int n, StudyStats *st) {
    unsigned m = 0;
    for (int i = 0; i < n; i++) {
        int r = read_cell(c, seed, &t[i]);
        if (r == 1) st->cells_reused++;
        if (r == 2) st->cells_stale++;
        if (r != 1) m |= 1u << i;
    }
    return m;
}

/* The tasks of a probe group: its (seed, network, family) cells, or the
 * notebook's (slot STUDY_FAMILIES). */
static int slot_tasks(Grid *g, int seed, int net, int slot, Task *out) {
    return slot == STUDY_FAMILIES ? notebook_tasks(g, out) : group_tasks(g, seed, net, g->fams[slot], out);
}

static void progress(const StudyConfig *c, int seed, const Task *t, int n, double secs) {
    if (c->quiet) return;
    printf("study: seed %d %s %s:", seed, STUDY_NET_NAMES[t[0].net],
           t[0].notebook ? "zoom (notebook levels)" : FAMILY_NAMES[t[0].fam]);
    for (int i = 0; i < n; i++)
        printf(" %s/%s/%s %.3f", STUDY_MODE_NAMES[t[i].mode], study_cell_layer(t[i].net, t[i].tap),
               STUDY_HEAD_NAMES[t[i].head], t[i].cell->accuracy);
    printf("  (%.1f s)\n", secs);
    fflush(stdout);
}

double study_cpu_seconds(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return NAN;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* ---- the task list and its execution (study_sched.h) ---- */

/* DIR/timings.json: what each task cost and where it ran (for `study
 * --plan` and for the curious; not part of the results). */
static int write_timings(const StudyConfig *c, const SchedRun *r, StudyClock clock, Err *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "ranks", r->ranks);
    cJSON_AddNumberToObject(o, "threads", c->threads);
    /* study_run's wall time, report included (the data load before it is not) */
    cJSON_AddNumberToObject(o, "study_wall_seconds", now_seconds() - clock.wall0);
    cJSON_AddNumberToObject(o, "data_seconds", c->data_seconds);
    cJSON *b = cJSON_AddArrayToObject(o, "rank_busy_seconds");
    for (int i = 0; i < r->ranks; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber(r->rank_busy[i]));
    cJSON *ta = cJSON_AddArrayToObject(o, "tasks");
    for (int i = 0; i < r->n; i++) {
        const SchedTask *t = &r->tasks[i];
        if (r->task_rank[i] < 0) continue;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "kind", t->kind == SCHED_TRAIN ? "train" : "probe");
        cJSON_AddNumberToObject(j, "seed", t->seed);
        cJSON_AddStringToObject(j, "network", STUDY_NET_NAMES[t->net]);
        if (t->kind == SCHED_PROBE) {
            int cells = 0;
            for (unsigned m = t->mask; m; m &= m - 1) cells++;
            cJSON_AddNumberToObject(j, "slot", t->slot);
            cJSON_AddNumberToObject(j, "mask", t->mask);
            cJSON_AddNumberToObject(j, "cells", cells);
        }
        cJSON_AddNumberToObject(j, "rank", r->task_rank[i]);
        cJSON_AddNumberToObject(j, "seconds", r->task_seconds[i]);
        cJSON_AddItemToArray(ta, j);
    }
    char *path = path_join(c->out_dir, "timings.json");
    int rc = json_write_file(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

enum { MAX_GROUP = STUDY_MODES * STUDY_TAPS * STUDY_HEADS };
/* Counters summed over ranks (SchedRun.counters). */
enum { CNT_COMPUTED, CNT_TRAINED, CNT_RESUMED, CNT_REUSED, N_CNT };

typedef struct RunCtx {
    const StudyConfig *c;
    const Cifar10 *data;
    Grid *g;
    int counters[N_CNT];
    Net *trunk; /* the last trunk loaded, kept for the next group of the same network */
    int trunk_seed, trunk_net;
} RunCtx;

static int run_task(void *ctx, const SchedTask *t, Err *e) {
    RunCtx *x = ctx;
    const StudyConfig *c = x->c;
    if (t->kind == SCHED_TRAIN) {
        StudyStats st;
        memset(&st, 0, sizeof st);
        int rc = ensure_trained(c, x->data, t->seed, t->net, &st, e);
        x->counters[CNT_TRAINED] += st.nets_trained;
        x->counters[CNT_RESUMED] += st.nets_resumed;
        x->counters[CNT_REUSED] += st.nets_reused;
        return rc;
    }
    Task all[MAX_GROUP], todo[MAX_GROUP];
    int k = slot_tasks(x->g, t->seed, t->net, t->slot, all), n = 0;
    for (int i = 0; i < k; i++)
        if (t->mask >> i & 1) todo[n++] = all[i];
    if (!n) return 0;
    Net *trunk = NULL;
    if (!study_is_floor(t->net)) {
        if (!x->trunk || x->trunk_seed != t->seed || x->trunk_net != t->net) {
            net_free(x->trunk);
            x->trunk = load_trunk(c, t->seed, t->net, e);
            if (!x->trunk) return -1;
            x->trunk_seed = t->seed;
            x->trunk_net = t->net;
        }
        trunk = x->trunk;
    }
    double t0 = now_seconds();
    if (probe_group(c, x->data, trunk, t->seed, todo, n, x->g, e)) return -1;
    x->counters[CNT_COMPUTED] += n;
    progress(c, t->seed, todo, n, now_seconds() - t0);
    return 0;
}

/* The task list of what the grid still needs: trainings first, then the
 * probe groups (seed, network, family order), each group of a trained
 * network depending on its training. Counts the cells found. */
static int build_tasks(Grid *g, StudyStats *st, int fresh, SchedTask **out) {
    const StudyConfig *c = g->c;
    size_t cap = (size_t)c->seeds * STUDY_NETS * (STUDY_FAMILIES + 1);
    SchedTask *train = xcalloc(cap, sizeof *train), *probe = xcalloc(cap, sizeof *probe);
    int n_train = 0, n_probe = 0;
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g->n_nets; ni++) {
            int net = g->nets[ni], first = n_probe;
            for (int slot = 0; slot <= STUDY_FAMILIES; slot++) {
                if (slot < STUDY_FAMILIES && slot >= g->n_fams) continue;
                if (slot == STUDY_FAMILIES &&
                    !(s == 1 && net == STUDY_NET_AUG && study_has_notebook(g)))
                    continue;
                Task todo[MAX_GROUP];
                int k = slot_tasks(g, s, net, slot, todo);
                st->cells_total += k;
                unsigned mask = fresh ? (1u << k) - 1 : missing_mask(c, s, todo, k, st);
                if (mask) probe[n_probe++] = (SchedTask){SCHED_PROBE, s, net, slot, -1, mask, 0};
            }
            int trained = net == STUDY_NET_AUG || net == STUDY_NET_NOAUG;
            if (trained && n_probe > first) {
                for (int i = first; i < n_probe; i++) probe[i].dep = n_train;
                train[n_train++] = (SchedTask){SCHED_TRAIN, s, net, -1, -1, 0, 0};
            }
        }
    SchedTask *t = xcalloc((size_t)(n_train + n_probe + 1), sizeof *t);
    memcpy(t, train, (size_t)n_train * sizeof *t);
    memcpy(t + n_train, probe, (size_t)n_probe * sizeof *t);
    free(train);
    free(probe);
    *out = t;
    return n_train + n_probe;
}

static void grid_init(Grid *g, const StudyConfig *c, int n_val, int n_test) {
    memset(g, 0, sizeof *g);
    g->c = c;
    size_t n_cells = (size_t)c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES * STUDY_TAPS *
                     STUDY_HEADS;
    g->cells = xcalloc(n_cells, sizeof(Cell));
    for (int i = 0; i < STUDY_NETS; i++)
        if (c->net_mask >> i & 1) g->nets[g->n_nets++] = i;
    for (int i = 0; i < STUDY_FAMILIES; i++)
        if (c->family_mask >> i & 1) g->fams[g->n_fams++] = i;
    for (int i = 0; i < STUDY_TAPS; i++)
        if (c->tap_mask >> i & 1) g->taps[g->n_taps++] = i;
    for (int i = 0; i < STUDY_MODES; i++)
        if (c->mode_mask >> i & 1) g->modes[g->n_modes++] = i;
    g->n_val = c->probe_limit > 0 && c->probe_limit < n_val ? c->probe_limit : n_val;
    g->n_test = c->probe_limit > 0 && c->probe_limit < n_test ? c->probe_limit : n_test;
}

static void grid_free(Grid *g) {
    size_t n_cells = (size_t)g->c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES *
                     STUDY_TAPS * STUDY_HEADS;
    for (size_t i = 0; i < n_cells; i++) cell_free(&g->cells[i]);
    for (int h = 0; h < STUDY_HEADS; h++) cell_free(&g->notebook[h]);
    free(g->cells);
}

/* Reads every cell of the grid back from cells/ (other ranks wrote some of
 * them): the report is made from the files, whoever computed them, so a
 * run on N ranks, a run in one process and a rerun report the same bits
 * (cJSON writes doubles to 15 digits when that reads back within an ulp). */
static int reload_cells(Grid *g, Err *e) {
    const StudyConfig *c = g->c;
    for (int s = 1; s <= c->seeds; s++)
        for (int ni = 0; ni < g->n_nets; ni++)
            for (int slot = 0; slot <= STUDY_FAMILIES; slot++) {
                int net = g->nets[ni];
                if (slot < STUDY_FAMILIES && slot >= g->n_fams) continue;
                if (slot == STUDY_FAMILIES &&
                    !(s == 1 && net == STUDY_NET_AUG && study_has_notebook(g)))
                    continue;
                Task todo[MAX_GROUP];
                int k = slot_tasks(g, s, net, slot, todo);
                for (int i = 0; i < k; i++) {
                    if (read_cell(c, s, &todo[i]) != 1) {
                        char *p = cell_path(c, s, &todo[i]);
                        err_set(e, "%s: missing or unreadable after the run (is --out on a "
                                   "filesystem every rank sees?)", p);
                        free(p);
                        return -1;
                    }
                }
            }
    return 0;
}

int study_task_graph(const StudyConfig *c, SchedTask **out, int *fams) {
    if (!c->net_mask || !c->family_mask || !c->tap_mask || !c->mode_mask || c->seeds < 1 ||
        c->seeds > STUDY_MAX_SEEDS)
        return -1;
    Grid g;
    StudyStats st;
    memset(&st, 0, sizeof st);
    grid_init(&g, c, CIFAR_VAL, CIFAR_TEST);
    int n = build_tasks(&g, &st, 1, out);
    memcpy(fams, g.fams, sizeof g.fams);
    grid_free(&g);
    return n;
}

int study_run(const StudyConfig *c, const Cifar10 *data, StudyStats *stats, Err *e) {
    StudyClock clock = {now_seconds(), study_cpu_seconds()};
    StudyStats st_local, *st = stats ? stats : &st_local;
    memset(st, 0, sizeof *st);
    if (check_config(c, data, e)) return -1;
    char *cells_dir = path_join(c->out_dir, "cells");
    int mk = mkdir_p(cells_dir, e);
    free(cells_dir);
    if (mk && study_mpi_active()) {
        /* this rank alone may have failed: end the job rather than leave
         * the others waiting for it */
        fprintf(stderr, "augprobe study: rank %d: %s\n", study_mpi_rank(), e->msg);
        study_mpi_abort(EXIT_FAIL);
    }
    if (mk) return -1;

    Grid g;
    grid_init(&g, c, data->val.n, data->test.n);
    int mpi = study_mpi_active(), rank = study_mpi_rank();
    RunCtx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.c = c;
    ctx.data = data;
    ctx.g = &g;
    SchedRun r;
    memset(&r, 0, sizeof r);
    if (rank == 0) r.n = build_tasks(&g, st, 0, &r.tasks);
    r.run = run_task;
    r.ctx = &ctx;
    r.threads = c->threads;
    r.counters = ctx.counters;
    r.n_counters = N_CNT;
    int rc = mpi ? sched_mpi(&r, e) : sched_serial(&r, e);
    net_free(ctx.trunk);
    st->cells_computed = ctx.counters[CNT_COMPUTED];
    st->nets_trained = ctx.counters[CNT_TRAINED];
    st->nets_resumed = ctx.counters[CNT_RESUMED];
    st->nets_reused = ctx.counters[CNT_REUSED];
    st->ranks = r.ranks;
    st->rank_busy = r.rank_busy;
    st->busy_min = st->busy_max = r.ranks > 0 ? r.rank_busy[0] : 0;
    st->busy_sum = 0;
    for (int i = 0; i < r.ranks; i++) {
        st->busy_sum += r.rank_busy[i];
        if (r.rank_busy[i] < st->busy_min) st->busy_min = r.rank_busy[i];
        if (r.rank_busy[i] > st->busy_max) st->busy_max = r.rank_busy[i];
    }
    if (rank == 0 && rc == 0) rc = reload_cells(&g, e);
    if (rank == 0 && rc == 0) {
        char *preview = path_join(c->out_dir, "preview.png");
        AugSpec spec;
        rc = aug_parse(&spec, TRAIN_DEFAULT_AUG, e);
        if (rc == 0) rc = augment_preview_png(preview, data, &spec, c->split_seed, 4, NULL, e);
        free(preview);
    }
    if (rank == 0 && rc == 0) rc = study_report(&g, data, st, clock, e);
    if (rank == 0 && rc == 0) rc = report_html_dir(c->out_dir, e); /* report.html beside report.md */
    if (rank == 0 && rc != -1) {
        Err te;
        if (write_timings(c, &r, clock, &te) && rc == 0) {
            *e = te;
            rc = -1;
        }
    }
    st->wall_seconds = now_seconds() - clock.wall0;
    st->cpu_seconds = study_cpu_seconds() - clock.cpu0;
    st->rank_busy = NULL;
    sched_run_free(&r);
    free(r.tasks);
    grid_free(&g);
    return rc;
}
