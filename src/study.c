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
#include "resources.h"
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
const char *const STUDY_MODE_NAMES[STUDY_MODES] = {"cross", "same"};
const char *const STUDY_HEAD_NAMES[STUDY_HEADS] = {"linear", "mlp"};
static const ProbePairMode MODE_KINDS[STUDY_MODES] = {PROBE_PAIRS_CROSS, PROBE_PAIRS_SAME};
static const ProbeHeadKind HEAD_KINDS[STUDY_HEADS] = {PROBE_HEAD_LINEAR, PROBE_HEAD_MLP};


/* The trunk's batch for feature extraction (probe_features_compute uses
 * the net's max_batch). */
enum { TRUNK_BATCH = 128 };
/* The notebook's training batch (train_config_default's). */
enum { TRAIN_BATCH = 32 };
/* Feature caches of one split, all taps together: 10,000 images x 7 levels
 * x 3,296 floats = 923 MB at full size (pixels: 3,072 floats, 860 MB). */
static const size_t MAX_FEATURE_BYTES = (size_t)2 << 30;

const char *const *study_family_names(void) { return FAMILY_NAMES; }

int study_is_floor(int net) { return net == STUDY_NET_PIXELS || net == STUDY_NET_STATS; }

int study_levels(int fam, float *levels) {
    return aug_ladder_levels(STUDY_FAMILY_KINDS[fam], levels);
}

const char *study_cell_layer(const StudyConfig *c, int net, int tap) {
    return study_is_floor(net) ? STUDY_NET_NAMES[net] : c->taps[tap].label;
}

int study_notebook_tap(const StudyConfig *c) {
    for (int t = 0; t < c->n_taps; t++)
        if (!strcmp(c->taps[t].label, "flatten")) return t;
    return -1;
}

void study_tap_labels(const StudyConfig *c, const char **labels) {
    for (int t = 0; t < c->n_taps; t++) labels[t] = c->taps[t].label;
}

/* Training settings of the networks other than seed_cnn (whose are the
 * profiles'). resnet18's are provisional until its own recipe is measured. */
static const struct {
    const char *arch;
    int quick, full, batch;
} RECIPES[] = {
    {"resnet18", 2, 30, 128},
};

int study_arch_recipe(const char *arch_name, int *epochs_quick, int *epochs_full, int *batch) {
    for (size_t i = 0; i < sizeof RECIPES / sizeof RECIPES[0]; i++)
        if (!strcmp(arch_name, RECIPES[i].arch)) {
            *epochs_quick = RECIPES[i].quick;
            *epochs_full = RECIPES[i].full;
            *batch = RECIPES[i].batch;
            return 1;
        }
    return 0;
}

int study_config_arch(StudyConfig *c, const char *arch, Err *e) {
    Arch a;
    int rc = arch_load(&a, arch, e);
    if (rc) return rc;
    Net *net = net_create(&a, CIFAR_H, CIFAR_W, CIFAR_C, 1, 1, e);
    if (!net) {
        arch_free(&a);
        return -1;
    }
    StudyTap taps[STUDY_TAPS];
    memset(taps, 0, sizeof taps);
    int n = 0;
    for (int i = 0; i < net->n_layers && rc == 0; i++) {
        const Layer *l = &net->layers[i];
        if (!l->spec.tap[0]) continue;
        if (n == STUDY_TAPS) {
            rc = err_set(e, "%s: declares %d taps; the study takes at most %d (tap=LABEL)",
                         a.source, arch_n_taps(&a), STUDY_TAPS);
            break;
        }
        StudyTap *t = &taps[n++];
        snprintf(t->label, sizeof t->label, "%s", l->spec.tap);
        snprintf(t->node, sizeof t->node, "%s", l->spec.name);
        t->pool = l->h * l->w > 1 ? PROBE_POOL_AVG : PROBE_POOL_FLATTEN;
        t->dim = (int)probe_tap_dim(net, i, t->pool);
        t->same_as = -1;
        /* a global average pool of a tapped node is that tap, averaged */
        for (int k = 0; k < n - 1 && l->spec.kind == LAYER_GAP; k++)
            if (!strcmp(l->spec.in[0], taps[k].node) && taps[k].pool == PROBE_POOL_AVG)
                t->same_as = k;
    }
    if (rc == 0 && n == 0)
        rc = err_set(e, "%s: declares no taps: mark the layers to probe with tap=LABEL",
                     a.source);
    if (rc == 0 && net_output_size(net) != CIFAR_CLASSES)
        rc = err_set(e, "%s: network '%s' has %zu outputs; the study trains a CIFAR-10 "
                        "classifier (%d)",
                     a.source, a.name, net_output_size(net), CIFAR_CLASSES);
    if (rc == 0) {
        memcpy(c->taps, taps, sizeof taps);
        c->n_taps = n;
        c->tap_mask = (1u << n) - 1;
        snprintf(c->arch, sizeof c->arch, "%s", arch);
        snprintf(c->arch_name, sizeof c->arch_name, "%s", a.name);
        int quick, full, batch;
        c->train_batch = TRAIN_BATCH; /* and the profile's epochs, unless the table says */
        if (study_arch_recipe(a.name, &quick, &full, &batch)) {
            c->train_batch = batch;
            c->epochs = !strcmp(c->profile, "full") ? full : quick;
        }
    }
    net_free(net);
    arch_free(&a);
    return rc;
}

static void config_common(StudyConfig *c) {
    memset(c, 0, sizeof *c);
    c->out_dir = "runs/study";
    c->split_seed = 1;
    c->threads = 1;
    snprintf(c->device, sizeof c->device, "cpu");
    c->net_mask = (1u << STUDY_NETS) - 1;
    c->family_mask = (1u << STUDY_FAMILIES) - 1;
    c->mode_mask = (1u << STUDY_MODES) - 1; /* taps: study_config_arch */
    c->boot = STATS_BOOT;
}

/* The profiles' network: seed_cnn, built in (it cannot fail). */
static void config_seed_cnn(StudyConfig *c) {
    Err e;
    if (study_config_arch(c, "seed_cnn", &e)) {
        fprintf(stderr, "augprobe: %s\n", e.msg);
        abort();
    }
}

/* Sized by measurement on this project's 2-core machines (batch 32, Adam
 * 1e-3, all 40,000 training images, 1,000 test images, seed 1): at a
 * constant rate aug reached 0.594 test accuracy after 6 epochs and 0.653-0.660
 * after 8, too slow for the 20-minute budget; annealed by a cosine schedule
 * it reaches 0.621 after 5 (0.650 after 6) and noaug 0.798 after 5; the
 * profile's 4 reach 0.612 (noaug 0.773) and the whole `make run` took
 * 16 min 48 s on free AVX2 cores (3 epochs: 0.588, under the 0.60 aimed at). An
 * epoch takes 71-81 s on an AMD EPYC (AVX2), about 50 s on a Zen 4, 92 s on
 * an Intel Xeon; a linear head costs well under a second per cell, so the
 * probe's share is the feature passes (7 levels x 2,000 images per network
 * and family). */
enum { QUICK_EPOCHS = 4, QUICK_TRAIN_LIMIT = 0 };
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
    config_seed_cnn(c);
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
    config_seed_cnn(c);
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

ImpCell *grid_imp(const Grid *g, int seed, int net, int fam, int mode) {
    size_t i = (size_t)(seed - 1);
    i = i * STUDY_NETS + (size_t)net;
    i = i * STUDY_FAMILIES + (size_t)fam;
    return &g->imp[i * STUDY_MODES + (size_t)mode];
}

int study_has_notebook(const Grid *g) {
    const StudyConfig *c = g->c;
    int t = study_notebook_tap(c);
    return (c->net_mask >> STUDY_NET_AUG & 1) && (c->family_mask & 1) && t >= 0 &&
           (c->tap_mask >> t & 1) && (c->mode_mask >> STUDY_MODE_SAME & 1);
}

int study_has_importance(const Grid *g) { return g->n_imp >= 2; }

int study_importance_taps(const StudyConfig *c, int *taps) {
    int n = 0;
    for (int t = 0; t < c->n_taps; t++) {
        int same = c->taps[t].same_as;
        if ((c->tap_mask >> t & 1) && !(same >= 0 && (c->tap_mask >> same & 1))) taps[n++] = t;
    }
    return n;
}

static void cell_free(Cell *x) {
    free(x->outcome);
    memset(x, 0, sizeof *x);
}

static void imp_free(ImpCell *x) {
    importance_fit_free(&x->f);
    memset(x, 0, sizeof *x);
}

/* What one probe task is: where its features come from and how it is
 * probed. The notebook's cell has its own levels and file name; an
 * importance task (imp) probes every selected tap at once. */
typedef struct Task {
    int net, fam, mode, tap, head;
    int notebook;
    Cell *cell;
    ImpCell *imp; /* an importance task's (tap -1, head linear); else NULL */
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
    /* another network than seed_cnn (whose cells predate --arch) says which */
    if (!study_is_floor(t->net) && strcmp(c->arch_name, "seed_cnn") && used < len)
        used += (size_t)snprintf(buf + used, len - used, " arch=%s batch=%d", c->arch_name,
                                 c->train_batch);
    int imp_taps[STUDY_TAPS], n_imp = t->imp ? study_importance_taps(c, imp_taps) : 0;
    for (int i = 0; i < n_imp && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : " taps=",
                                 c->taps[imp_taps[i]].label);
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
    char name[200];
    snprintf(name, sizeof name, "cells/seed%d-%s-%s-%s-%s-%s.json", seed, STUDY_NET_NAMES[t->net],
             t->notebook ? "zoom_notebook" : FAMILY_NAMES[t->fam], STUDY_MODE_NAMES[t->mode],
             t->imp ? "importance" : study_cell_layer(c, t->net, t->tap),
             STUDY_HEAD_NAMES[t->head]);
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
static cJSON *cell_json(const StudyConfig *c, const Cell *x, int seed, const Task *t);

cJSON *study_cell_json(const StudyConfig *c, const Cell *x, int seed, int net, int fam, int mode,
                       int tap, int head, int notebook) {
    Task t = {net, fam, mode, tap, head, notebook, (Cell *)x, NULL};
    return cell_json(c, x, seed, &t);
}

static cJSON *cell_json(const StudyConfig *c, const Cell *x, int seed, const Task *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "network", STUDY_NET_NAMES[t->net]);
    cJSON_AddStringToObject(o, "augmentation", t->notebook ? "zoom_notebook" : FAMILY_NAMES[t->fam]);
    cJSON_AddStringToObject(o, "pairs", STUDY_MODE_NAMES[t->mode]);
    cJSON_AddStringToObject(o, "layer", study_cell_layer(c, t->net, t->tap));
    cJSON_AddStringToObject(o, "pool",
                            !study_is_floor(t->net) && c->taps[t->tap].pool == PROBE_POOL_AVG
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

/* An importance cell's JSON (the outcomes of all its heads in one hex). */
static cJSON *imp_json(const StudyConfig *c, const ImpCell *x, int seed, const Task *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "network", STUDY_NET_NAMES[t->net]);
    cJSON_AddStringToObject(o, "augmentation", FAMILY_NAMES[t->fam]);
    cJSON_AddStringToObject(o, "pairs", STUDY_MODE_NAMES[t->mode]);
    cJSON_AddStringToObject(o, "head", "linear");
    cJSON *taps = cJSON_AddArrayToObject(o, "taps");
    int imp_taps[STUDY_TAPS], n_imp = study_importance_taps(c, imp_taps);
    for (int i = 0; i < n_imp; i++)
        cJSON_AddItemToArray(taps, cJSON_CreateString(c->taps[imp_taps[i]].label));
    cJSON_AddNumberToObject(o, "dim", x->f.dim);
    cJSON_AddNumberToObject(o, "pairs_test", x->f.pairs_test);
    cJSON_AddNumberToObject(o, "accuracy_all", x->f.acc_all);
    cJSON *w = cJSON_AddArrayToObject(o, "accuracy_without");
    for (int i = 0; i < x->f.n_taps; i++)
        cJSON_AddItemToArray(w, cJSON_CreateNumber(x->f.acc_without[i]));
    cJSON_AddNumberToObject(o, "head_seconds", x->head_seconds);
    cJSON_AddNumberToObject(o, "features_seconds", x->features_seconds);
    return o;
}

static int write_imp(const StudyConfig *c, int seed, const Task *t, Err *e) {
    const ImpCell *x = t->imp;
    cJSON *o = imp_json(c, x, seed, t);
    char *hex = outcome_hex(x->f.outcome, (1 + x->f.n_taps) * x->f.pairs_test);
    cJSON_AddStringToObject(o, "outcome", hex);
    free(hex);
    char settings[1024];
    cell_settings(c, t, settings, sizeof settings);
    cJSON_AddStringToObject(o, "settings", settings);
    char *path = cell_path(c, seed, t);
    int rc = json_write_file(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

static int write_cell(const StudyConfig *c, int seed, const Task *t, Err *e) {
    if (t->imp) return write_imp(c, seed, t, e);
    cJSON *o = cell_json(c, t->cell, seed, t);
    char *hex = outcome_hex(t->cell->outcome, t->cell->pairs_test);
    cJSON_AddStringToObject(o, "outcome", hex);
    free(hex);
    char settings[1024];
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

/* Opens task t's cell file. Returns 1 with *out its JSON when it is there
 * and was made with the current settings (the caller deletes *out), 0 when
 * absent, 2 when stale (unreadable, not JSON or other settings). */
static int open_cell(const StudyConfig *c, int seed, const Task *t, cJSON **out) {
    *out = NULL;
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
    char settings[1024];
    cell_settings(c, t, settings, sizeof settings);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "settings");
    if (!o || !cJSON_IsString(s) || strcmp(s->valuestring, settings) != 0) {
        cJSON_Delete(o);
        return 2;
    }
    *out = o;
    return 1;
}

/* Reads a finished importance cell: as read_cell. */
static int read_imp(const StudyConfig *c, int seed, const Task *t) {
    ImpCell *x = t->imp;
    cJSON *o;
    int r = open_cell(c, seed, t, &o);
    if (r != 1) return r;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "accuracy_without");
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(o, "outcome");
    imp_free(x);
    int n = cJSON_GetArraySize(w);
    int bad = !cJSON_IsArray(w) || n < 2 || n > STUDY_TAPS || json_get_int(o, "dim", &x->f.dim) ||
              json_get_int(o, "pairs_test", &x->f.pairs_test) || x->f.pairs_test < 0 ||
              x->f.pairs_test > (1 << 24) ||
              json_get_number_or_null(o, "accuracy_all", &x->f.acc_all) ||
              json_get_number_or_null(o, "head_seconds", &x->head_seconds) ||
              json_get_number_or_null(o, "features_seconds", &x->features_seconds) ||
              !cJSON_IsString(hex) ||
              outcome_unhex(hex->valuestring, (1 + n) * x->f.pairs_test, &x->f.outcome);
    if (!bad) {
        x->f.n_taps = n;
        for (int i = 0; i < n && !bad; i++) {
            const cJSON *v = cJSON_GetArrayItem(w, i);
            bad = !cJSON_IsNumber(v);
            if (!bad) x->f.acc_without[i] = v->valuedouble;
        }
    }
    cJSON_Delete(o);
    if (bad) {
        imp_free(x);
        return 2;
    }
    x->have = 1;
    return 1;
}

/* Reads a finished cell. Returns 1 when it is there with the current
 * settings, 0 when absent, 2 when stale (other settings or unreadable). */
static int read_cell(const StudyConfig *c, int seed, const Task *t) {
    if (t->imp) return read_imp(c, seed, t);
    Cell *x = t->cell;
    cJSON *o;
    int r = open_cell(c, seed, t, &o);
    if (r != 1) return r;
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(o, "threshold75");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(th, "where");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "by_gap");
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(o, "outcome");
    cell_free(x);
    int bad = json_get_int(o, "dim", &x->dim) ||
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
    tc->batch = c->train_batch;
    /* seed_cnn stays "" (the default), as the study's runs always recorded it */
    if (strcmp(c->arch_name, "seed_cnn")) snprintf(tc->arch, sizeof tc->arch, "%s", c->arch);
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
        const char *what;
        switch (train_config_diff(&tc, &stored, done, TRAIN_CFG_ALL)) {
        case 0: what = NULL; break;
        case TRAIN_CFG_AUG: what = "augmentation"; break;
        case TRAIN_CFG_LIMIT: what = "--train-limit"; break;
        case TRAIN_CFG_EVAL_LIMIT: what = "--eval-limit"; break;
        case TRAIN_CFG_SEED: what = "seed"; break;
        case TRAIN_CFG_SPLIT_SEED: what = "split seed (--seed)"; break;
        case TRAIN_CFG_BATCH: what = "batch"; break;
        case TRAIN_CFG_ARCH: what = "network (--arch)"; break;
        case TRAIN_CFG_LR_SCHEDULE: what = "learning-rate schedule"; break;
        case TRAIN_CFG_EPOCHS:
            what = done > tc.epochs ? "--epochs" : "--epochs (cosine schedule)";
            break;
        default: what = "training setting (learning rate or evaluation batch)"; break;
        }
        if (what) {
            rc = err_set(e, "%s: a network trained with another %s is there; use another --out "
                            "or remove it", dir, what);
            goto out;
        }
        /* a kill after the last checkpoint but before the run's last
         * run.json: the resume below only completes run.json */
        if (done == tc.epochs && path_exists(model) && train_run_complete(dir, done)) {
            st->nets_reused++;
            if (!c->quiet) printf("study: reusing %s (%d epochs)\n", dir, done);
            goto out;
        }
        tc.resume = 1;
        st->nets_resumed++;
        if (!c->quiet && done == tc.epochs)
            printf("study: completing %s (trained; its run.json was not final)\n", dir);
        else if (!c->quiet)
            printf("study: resuming %s after epoch %d of %d\n", dir, done, tc.epochs);
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
        n = train_net_create_arch(c->arch, TRUNK_BATCH, c->threads, "", e);
        if (n) net_init(n, (uint64_t)seed);
    } else {
        char *dir = net_dir(c, seed, net);
        char *model = path_join(dir, "model.safetensors");
        n = train_load_model_arch(model, c->arch, TRUNK_BATCH, c->threads, "", NULL, e);
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
    int floor = study_is_floor(t->net) || t->imp;
    snprintf(pc->layer, sizeof pc->layer, "%s",
             t->imp ? "importance" : floor ? STUDY_NET_NAMES[t->net] : c->taps[t->tap].node);
    pc->pool = floor ? PROBE_POOL_FLATTEN : c->taps[t->tap].pool;
}

/* Features of one split for the distinct taps of tasks[0..n) (all of one
 * network and family; every selected tap when one is an importance task):
 * one pass through the trunk, or the floor's input. feats[k] belongs to tap
 * slot tap_of[k]; *n_feats of them. */
static int group_features(const Grid *g, Net *trunk, const ImageSet *set, int n_images,
                          const Task *tasks, int n, ProbeFeatures *feats, int *tap_of,
                          int *n_feats, Err *e) {
    const StudyConfig *c = g->c;
    float levels[PROBE_MAX_LEVELS];
    int n_levels = task_levels(&tasks[0], levels);
    AugKind kind = tasks[0].notebook ? AUG_ZOOM : STUDY_FAMILY_KINDS[tasks[0].fam];
    *n_feats = 0;
    if (!trunk) {
        tap_of[0] = 0;
        *n_feats = 1;
        ProbeInput in = tasks[0].net == STUDY_NET_STATS ? PROBE_INPUT_STATS : PROBE_INPUT_PIXELS;
        return probe_features_input(in, set, n_images, kind, levels, n_levels, MAX_FEATURE_BYTES,
                                    c->threads, feats, e);
    }
    int want[STUDY_TAPS] = {0};
    for (int i = 0; i < n; i++) {
        if (tasks[i].imp)
            for (int ti = 0; ti < g->n_imp; ti++) want[g->imp_taps[ti]] = 1;
        else
            want[tasks[i].tap] = 1;
    }
    ProbeTap taps[STUDY_TAPS];
    for (int t = 0; t < c->n_taps; t++) {
        if (!want[t]) continue;
        tap_of[*n_feats] = t;
        taps[*n_feats] = (ProbeTap){c->taps[t].node, c->taps[t].pool};
        (*n_feats)++;
    }
    return probe_features_compute(trunk, set, n_images, kind, levels, n_levels, taps, *n_feats,
                                  MAX_FEATURE_BYTES, feats, NULL, e);
}

static const ProbeFeatures *feature_of(const ProbeFeatures *feats, const int *tap_of, int n,
                                       int tap) {
    for (int k = 0; k < n; k++)
        if (tap_of[k] == tap) return &feats[k];
    return &feats[0]; /* floors: one input */
}

/* The importance taps' caches in grid order, for an importance task. */
static void grid_order(const Grid *g, const ProbeFeatures *feats, const int *tap_of, int n_feats,
                       ProbeFeatures *out) {
    for (int ti = 0; ti < g->n_imp; ti++)
        out[ti] = *feature_of(feats, tap_of, n_feats, g->imp_taps[ti]);
}

/* The cell of a finished per-tap probe. */
static void cell_from_result(Cell *x, ProbeResult *r, double head_secs, double feat_secs) {
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
    x->head_seconds = head_secs;
    x->features_seconds = feat_secs;
    x->outcome = r->outcome;
    r->outcome = NULL;
}

/* Probes tasks[0..n) (one network and family, trunk NULL for a floor): one
 * feature pass per split for all of them, a head per task trained on the
 * validation features (freed before the test features are made, to bound
 * memory), evaluated on the test features; writes each cell. An importance
 * task trains its 1 + taps linear heads on the taps' caches side by side
 * (a copy: while it trains, the group's features take twice their size). */
static int probe_group(const StudyConfig *c, const Cifar10 *data, Net *trunk, int seed,
                       Task *tasks, int n, const Grid *g, Err *e) {
    enum { MAX_TASKS = STUDY_MODES * STUDY_TAPS * STUDY_HEADS + STUDY_MODES };
    ProbeFeatures feats[STUDY_TAPS], ordered[STUDY_TAPS];
    int tap_of[STUDY_TAPS], n_feats = 0;
    ProbeHead heads[MAX_TASKS];
    ImportanceHeads *iheads = xcalloc(MAX_TASKS, sizeof *iheads);
    ProbeResult res[MAX_TASKS];
    ImportanceFit fits[MAX_TASKS];
    double secs[MAX_TASKS];
    memset(heads, 0, sizeof heads);
    memset(res, 0, sizeof res);
    memset(fits, 0, sizeof fits);
    double t0 = now_seconds();
    if (group_features(g, trunk, &data->val, g->n_val, tasks, n, feats, tap_of, &n_feats, e)) {
        free(iheads);
        return -1;
    }
    double feat_secs = now_seconds() - t0;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        ProbeConfig pc;
        probe_config(c, seed, &tasks[i], &pc);
        double h0 = now_seconds();
        if (tasks[i].imp) {
            grid_order(g, feats, tap_of, n_feats, ordered);
            rc = importance_train(&pc, ordered, g->n_imp, &iheads[i], e);
        } else {
            rc = probe_head_train(&pc, feature_of(feats, tap_of, n_feats, tasks[i].tap),
                                  &heads[i], &res[i], e);
        }
        secs[i] = now_seconds() - h0;
    }
    for (int k = 0; k < n_feats; k++) probe_features_free(&feats[k]);
    if (rc == 0) {
        t0 = now_seconds();
        rc = group_features(g, trunk, &data->test, g->n_test, tasks, n, feats, tap_of, &n_feats, e);
        feat_secs += now_seconds() - t0;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        ProbeConfig pc;
        probe_config(c, seed, &tasks[i], &pc);
        double h0 = now_seconds();
        if (tasks[i].imp) {
            grid_order(g, feats, tap_of, n_feats, ordered);
            rc = importance_eval(&pc, &iheads[i], ordered, g->n_imp, &fits[i], e);
        } else {
            rc = probe_head_eval(&pc, &heads[i], feature_of(feats, tap_of, n_feats, tasks[i].tap),
                                 &res[i], e);
        }
        secs[i] += now_seconds() - h0;
    }
    for (int k = 0; k < n_feats; k++) probe_features_free(&feats[k]); /* zeroed: a no-op */
    for (int i = 0; i < n && rc == 0; i++) {
        if (tasks[i].imp) {
            ImpCell *x = tasks[i].imp;
            imp_free(x);
            x->have = 1;
            x->f = fits[i];
            memset(&fits[i], 0, sizeof fits[i]);
            x->head_seconds = secs[i];
            x->features_seconds = feat_secs / n;
        } else {
            /* the shared passes split evenly */
            cell_from_result(tasks[i].cell, &res[i], secs[i], feat_secs / n);
        }
        rc = write_cell(c, seed, &tasks[i], e);
    }
    for (int i = 0; i < n; i++) {
        probe_head_free(&heads[i]);
        probe_result_free(&res[i]);
        importance_heads_free(&iheads[i]);
        importance_fit_free(&fits[i]);
    }
    free(iheads);
    return rc;
}

/* ---- the run ---- */

int study_memory_check(const StudyConfig *c, Err *e) {
    int trains = c->net_mask & (1u << STUDY_NET_AUG | 1u << STUDY_NET_NOAUG);
    int trunks = trains || c->net_mask & 1u << STUDY_NET_RANDOM;
    Arch a;
    if (arch_load(&a, c->arch, e)) return -1;
    TrainConfig tc;
    train_config_default(&tc);
    int train_batch = c->train_batch > tc.eval_batch ? c->train_batch : tc.eval_batch;
    uint64_t train_net = 0, trunk = 0;
    int rc = 0;
    if (trains)
        rc = net_memory_bytes(&a, CIFAR_H, CIFAR_W, CIFAR_C, train_batch, 1, &train_net, e);
    if (rc == 0 && trunks)
        rc = net_memory_bytes(&a, CIFAR_H, CIFAR_W, CIFAR_C, TRUNK_BATCH, 0, &trunk, e);
    char name[sizeof a.name];
    snprintf(name, sizeof name, "%s", a.name);
    arch_free(&a);
    if (rc) return -1;
    /* one group's caches of the larger split, at the most levels of a
     * selected family (or the notebook's cell): a network's selected taps,
     * twice while an importance task copies them, or a floor's one input */
    int n_val = c->probe_limit > 0 && c->probe_limit < CIFAR_VAL ? c->probe_limit : CIFAR_VAL;
    int n_test = c->probe_limit > 0 && c->probe_limit < CIFAR_TEST ? c->probe_limit : CIFAR_TEST;
    int n_images = n_val > n_test ? n_val : n_test;
    float levels[PROBE_MAX_LEVELS];
    int most = aug_default_levels(AUG_ZOOM, levels);
    for (int f = 0; f < STUDY_FAMILIES; f++)
        if (c->family_mask >> f & 1 && study_levels(f, levels) > most)
            most = study_levels(f, levels);
    double per_value = (double)n_images * most * sizeof(float), dims = 0, floor_dims = 0;
    for (int t = 0; trunks && t < c->n_taps; t++)
        if (c->tap_mask >> t & 1) dims += c->taps[t].dim;
    if (c->net_mask & 1u << STUDY_NET_PIXELS) floor_dims = CIFAR_PIXELS;
    if (c->net_mask & 1u << STUDY_NET_STATS && floor_dims < PROBE_STATS_DIM)
        floor_dims = PROBE_STATS_DIM;
    double widest = dims > floor_dims ? dims : floor_dims;
    if (widest * per_value > (double)MAX_FEATURE_BYTES)
        return err_set(e,
                       "--probe-limit %d: one split's feature caches need %.0f MB (%d images x "
                       "%d levels x %.0f values), over the study's %.0f MB: use a smaller "
                       "--probe-limit or fewer --taps",
                       c->probe_limit, widest * per_value / 1048576.0, n_images, most, widest,
                       (double)MAX_FEATURE_BYTES / 1048576.0);
    int imp_taps[STUDY_TAPS];
    double copies = study_importance_taps(c, imp_taps) >= 2 ? 2 : 1;
    double caches = copies * dims > floor_dims ? copies * dims * per_value : floor_dims * per_value;
    /* the trunk is kept while floors are probed; run_task frees it to train */
    uint64_t probing = trunk + (uint64_t)caches;
    uint64_t data = (uint64_t)(CIFAR_TRAIN_ALL + CIFAR_TEST) * CIFAR_RECORD;
    uint64_t need = (train_net > probing ? train_net : probing) + data;
    char flag[80], tn[32], tk[32], fc[32], dt[32], breakdown[256];
    snprintf(flag, sizeof flag, "--arch %s", name);
    mem_format(tn, sizeof tn, train_net);
    mem_format(tk, sizeof tk, trunk);
    mem_format(fc, sizeof fc, (uint64_t)caches);
    mem_format(dt, sizeof dt, data);
    snprintf(breakdown, sizeof breakdown,
             "the larger of training at batch %d with Adam: %s and probing (trunk at batch "
             "%d: %s, feature caches of %d images: %s), CIFAR-10: %s",
             train_batch, tn, TRUNK_BATCH, tk, n_images, fc, dt);
    return mem_check(need, flag, breakdown, e);
}

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
    if (c->n_taps < 1 || c->n_taps > STUDY_TAPS || c->tap_mask >> c->n_taps)
        return err_set(e, "the network's taps are not set (study_config_arch)");
    return 0;
}

/* The tasks of (seed, net, family): every selected mode x tap x head, the
 * floors at their one input; then, for a network with 2 or more taps
 * selected, one importance task per mode. */
static int group_tasks(const Grid *g, int seed, int net, int fam, Task *out) {
    int n = 0, heads = g->c->mlp_all ? STUDY_HEADS : 1;
    int n_taps = study_is_floor(net) ? 1 : g->n_taps;
    for (int mi = 0; mi < g->n_modes; mi++)
        for (int ti = 0; ti < n_taps; ti++)
            for (int h = 0; h < heads; h++) {
                int tap = study_is_floor(net) ? 0 : g->taps[ti];
                out[n] = (Task){net, fam, g->modes[mi], tap, h, 0,
                                grid_cell(g, seed, net, fam, g->modes[mi], tap, h), NULL};
                n++;
            }
    if (!study_is_floor(net) && study_has_importance(g))
        for (int mi = 0; mi < g->n_modes; mi++)
            out[n++] = (Task){net, fam, g->modes[mi], -1, STUDY_HEAD_LINEAR, 0, NULL,
                              grid_imp(g, seed, net, fam, g->modes[mi])};
    return n;
}

static int notebook_tasks(Grid *g, Task *out) {
    int tap = study_notebook_tap(g->c);
    for (int h = 0; h < STUDY_HEADS; h++)
        out[h] = (Task){STUDY_NET_AUG, 0, STUDY_MODE_SAME, tap, h, 1, &g->notebook[h], NULL};
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
        if (t[i].imp)
            printf(" %s/all taps/linear %.3f", STUDY_MODE_NAMES[t[i].mode], t[i].imp->f.acc_all);
        else
            printf(" %s/%s/%s %.3f", STUDY_MODE_NAMES[t[i].mode],
                   study_cell_layer(c, t[i].net, t[i].tap), STUDY_HEAD_NAMES[t[i].head],
                   t[i].cell->accuracy);
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
    /* the network the times are of (a plan for another network keeps its constants) */
    cJSON_AddStringToObject(o, "arch", c->arch_name);
    /* study_run's wall time, report included (the data load before it is not) */
    cJSON_AddNumberToObject(o, "study_wall_seconds", now_seconds() - clock.wall0);
    cJSON_AddNumberToObject(o, "data_seconds", c->data_seconds);
    /* the knobs that set the tasks' work: a plan for other knobs scales
     * these tasks' times by their own work, not by its own */
    cJSON *w = cJSON_AddObjectToObject(o, "work");
    cJSON_AddNumberToObject(w, "epochs", c->epochs);
    cJSON_AddNumberToObject(w, "train_limit", c->train_limit);
    cJSON_AddNumberToObject(w, "eval_limit", c->eval_limit);
    cJSON_AddNumberToObject(w, "passes", c->passes);
    cJSON_AddNumberToObject(w, "probe_epochs", c->probe_epochs);
    cJSON_AddNumberToObject(w, "probe_limit", c->probe_limit);
    cJSON_AddNumberToObject(w, "mlp_all", c->mlp_all);
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

enum { MAX_GROUP = STUDY_MODES * STUDY_TAPS * STUDY_HEADS + STUDY_MODES };
_Static_assert(MAX_GROUP <= 32, "a probe group's cells must fit SchedTask.mask");
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
        /* a training's memory and a kept trunk's need not add up */
        net_free(x->trunk);
        x->trunk = NULL;
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
    g->imp = xcalloc((size_t)c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES, sizeof(ImpCell));
    for (int i = 0; i < STUDY_NETS; i++)
        if (c->net_mask >> i & 1) g->nets[g->n_nets++] = i;
    for (int i = 0; i < STUDY_FAMILIES; i++)
        if (c->family_mask >> i & 1) g->fams[g->n_fams++] = i;
    for (int i = 0; i < STUDY_TAPS; i++)
        if (c->tap_mask >> i & 1) g->taps[g->n_taps++] = i;
    for (int i = 0; i < STUDY_MODES; i++)
        if (c->mode_mask >> i & 1) g->modes[g->n_modes++] = i;
    g->n_imp = study_importance_taps(c, g->imp_taps);
    g->n_val = c->probe_limit > 0 && c->probe_limit < n_val ? c->probe_limit : n_val;
    g->n_test = c->probe_limit > 0 && c->probe_limit < n_test ? c->probe_limit : n_test;
}

static void grid_free(Grid *g) {
    size_t n_cells = (size_t)g->c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES *
                     STUDY_TAPS * STUDY_HEADS;
    for (size_t i = 0; i < n_cells; i++) cell_free(&g->cells[i]);
    for (size_t i = 0; i < (size_t)g->c->seeds * STUDY_NETS * STUDY_FAMILIES * STUDY_MODES; i++)
        imp_free(&g->imp[i]);
    for (int h = 0; h < STUDY_HEADS; h++) cell_free(&g->notebook[h]);
    free(g->cells);
    free(g->imp);
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
        if (rc == 0)
            rc = augment_preview_png(preview, data, &spec, c->split_seed, 4, c->threads, NULL, e);
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
