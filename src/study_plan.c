/* study_plan.c - `augprobe study --plan`: the study's task graph, its cost
 * and its simulated time on N ranks (see study.h), without training. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "net.h"
#include "study.h"
#include "study_grid.h"
#include "study_sched.h"

/* Unit costs in seconds at 1 thread, measured with seed_cnn on this
 * project's shared 2-core VM (AVX-512 kernels; load average about 5 from
 * other users, so a free machine is faster) from the timings.json,
 * history.csv and cells of a small study (--train-limit 1000 --epochs 1
 * --probe-limit 200 --passes 2 --probe-epochs 5, 1 thread): a training
 * image-epoch 5.3 ms, an inference image 1.6 ms, the rest below. Another
 * network's training and inference images cost these times its forward
 * multiply-accumulates over seed_cnn's (net_forward_macs); the heads' costs
 * follow its taps' dimensions. More threads are assumed to divide the
 * compute parts evenly (optimistic). An earlier run of the same network in
 * --out with the same --threads replaces them by its own measured task
 * times. */
typedef struct Units {
    double train_img;   /* one training image-epoch: forward, backward, Adam (batch 32) */
    double train_epoch; /* per epoch: checkpoint, history, curves.png */
    double fwd_img;     /* one image through the trunk in inference (eval, features) */
    double floor_img;   /* one (image, level) of a floor's input (augment, statistics) */
    double pair_epoch;  /* one pair-epoch of a linear head per 64 input values */
    double mlp_value;   /* one pair-epoch of the MLP head per input value */
    double cell;        /* per cell: bootstrap, threshold fit, file */
    double task;        /* per task: load the trunk, start up */
    double fixed;       /* per run: data load, report, figures */
    const char *source;
} Units;

#define MEASURED_TRAIN 5.3e-3
#define MEASURED_FWD 1.6e-3
static const Units MEASURED = {
    .train_img = MEASURED_TRAIN,
    .train_epoch = 1.5,
    .fwd_img = MEASURED_FWD,
    .floor_img = 1.4e-5,
    .pair_epoch = 2.0e-6,
    .mlp_value = 2.0e-7,
    .cell = 0.12,
    .task = 0.05,
    .fixed = 4.0,
    .source = "constants measured on the project's shared 2-core machine at 1 thread, compute "
              "scaled as 1/threads",
};

/* Loading and splitting CIFAR-10 (measured here: about 1.5 s). */
#define DATA_LOAD_SECONDS 1.5

static int n_of(int limit, int all) { return limit > 0 && limit < all ? limit : all; }

/* The parts of a task's cost: training, trunk passes, heads, cells. */
typedef struct Work {
    double train, epochs, fwd, floor, pairs, mlp, cells, tasks;
} Work;

static Work task_work(const StudyConfig *c, const SchedTask *t, const int *fams, int n_train,
                      int n_val, int n_test) {
    Work w = {0};
    w.tasks = 1;
    if (t->kind == SCHED_TRAIN) {
        int ev = n_of(c->eval_limit, n_val) + n_of(c->eval_limit, n_test);
        /* the per-epoch evaluation, in training image-epochs (inference costs
         * about fwd_img / train_img of a training image) */
        w.train = (double)c->epochs * (n_of(c->train_limit, n_train) +
                                       ev * (MEASURED_FWD / MEASURED_TRAIN));
        w.epochs = c->epochs;
        return w;
    }
    float levels[PROBE_MAX_LEVELS];
    int n_levels = t->slot == STUDY_FAMILIES ? aug_default_levels(AUG_ZOOM, levels)
                                              : study_levels(fams[t->slot], levels);
    int nv = n_of(c->probe_limit, n_val), nt = n_of(c->probe_limit, n_test);
    double imgs = (double)(nv + nt) * n_levels;
    if (study_is_floor(t->net))
        w.floor = imgs;
    else
        w.fwd = imgs;
    /* the group's cells in group order: mode x tap x head, then the importance
     * probes per mode (study.c) */
    int heads = t->slot == STUDY_FAMILIES ? STUDY_HEADS : c->mlp_all ? STUDY_HEADS : 1;
    int taps[STUDY_TAPS], n_taps = 0;
    for (int i = 0; i < STUDY_TAPS; i++)
        if (c->tap_mask >> i & 1) taps[n_taps++] = i;
    int sum_dim = 0;
    for (int ti = 0; ti < n_taps; ti++) sum_dim += c->taps[taps[ti]].dim;
    int importance = n_taps >= 2 && !study_is_floor(t->net) && t->slot != STUDY_FAMILIES;
    if (t->slot == STUDY_FAMILIES) taps[0] = study_notebook_tap(c), n_taps = 1;
    if (study_is_floor(t->net)) n_taps = 1;
    int bit = 0;
    int n_modes = t->slot == STUDY_FAMILIES ? 1 : __builtin_popcount(c->mode_mask);
    for (int m = 0; m < n_modes; m++)
        for (int ti = 0; ti < n_taps; ti++)
            for (int h = 0; h < heads; h++, bit++) {
                if (!(t->mask >> bit & 1)) continue;
                int dim = t->net == STUDY_NET_PIXELS ? 3072
                          : t->net == STUDY_NET_STATS ? 8
                                                      : c->taps[taps[ti]].dim;
                double pe = (double)c->passes * nv * c->probe_epochs + (double)c->passes * nt;
                if (h == STUDY_HEAD_MLP)
                    w.mlp += pe * (dim + 1024.0);
                else
                    w.pairs += pe * dim / 64.0;
                w.cells += 1;
            }
    for (int m = 0; importance && m < n_modes; m++, bit++) {
        if (!(t->mask >> bit & 1)) continue;
        /* 1 + taps linear heads on all the taps' features */
        double pe = (double)c->passes * nv * c->probe_epochs + (double)c->passes * nt;
        w.pairs += (1.0 + n_taps) * pe * sum_dim / 64.0;
        w.cells += 1;
    }
    return w;
}

static double work_cost(const Work *w, const Units *u) {
    return w->train * u->train_img + w->epochs * u->train_epoch + w->fwd * u->fwd_img + w->floor * u->floor_img +
           w->pairs * u->pair_epoch + w->mlp * u->mlp_value + w->cells * u->cell +
           w->tasks * u->task;
}

/* An earlier run's DIR/timings.json of the same network (its "arch"; none:
 * seed_cnn): scales the constants so the same tasks cost what they cost
 * then (one factor for trainings, one for probe groups, and the run's fixed
 * part). Returns 1 when used. */
static int units_from_timings(const StudyConfig *c, SchedTask *all, int n, const int *fams,
                              int n_train, int n_val, int n_test, Units *u) {
    char *path = path_join(c->out_dir, "timings.json");
    uint8_t *text = NULL;
    size_t len;
    int ok = path_exists(path) && file_read_all(path, &text, &len, NULL) == 0;
    free(path);
    if (!ok) return 0;
    cJSON *o = cJSON_Parse((const char *)text);
    free(text);
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(o, "tasks");
    const cJSON *thr = cJSON_GetObjectItemCaseSensitive(o, "threads");
    const cJSON *wall = cJSON_GetObjectItemCaseSensitive(o, "study_wall_seconds");
    const cJSON *rk = cJSON_GetObjectItemCaseSensitive(o, "ranks");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(o, "data_seconds");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(o, "arch");
    /* a file from before timings.json named its network is seed_cnn's */
    const char *then_arch = cJSON_IsString(ar) ? ar->valuestring : "seed_cnn";
    /* that run's own knobs: its tasks' work is estimated with them */
    StudyConfig then = *c;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "work");
    int have_work = cJSON_IsObject(w);
    struct {
        const char *key;
        int *field;
    } knobs[] = {{"epochs", &then.epochs},         {"train_limit", &then.train_limit},
                 {"eval_limit", &then.eval_limit}, {"passes", &then.passes},
                 {"probe_epochs", &then.probe_epochs}, {"probe_limit", &then.probe_limit},
                 {"mlp_all", &then.mlp_all}};
    for (size_t i = 0; have_work && i < sizeof knobs / sizeof knobs[0]; i++)
        if (json_get_int(w, knobs[i].key, knobs[i].field)) have_work = 0;
    if (strcmp(then_arch, c->arch_name) || !cJSON_IsArray(tasks) || !cJSON_IsNumber(thr) ||
        thr->valueint != c->threads || !cJSON_IsNumber(rk) || rk->valueint != 1 ||
        !cJSON_IsNumber(wall) || !have_work) {
        /* another network, another thread count, a multi-rank run, or a
         * file that does not say what its tasks did: keep the constants */
        cJSON_Delete(o);
        return 0;
    }
    double meas[2] = {0, 0}, est[2] = {0, 0}, sum = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, tasks) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(it, "kind");
        const cJSON *secs = cJSON_GetObjectItemCaseSensitive(it, "seconds");
        const cJSON *seed = cJSON_GetObjectItemCaseSensitive(it, "seed");
        const cJSON *net = cJSON_GetObjectItemCaseSensitive(it, "network");
        const cJSON *slot = cJSON_GetObjectItemCaseSensitive(it, "slot");
        const cJSON *mask = cJSON_GetObjectItemCaseSensitive(it, "mask");
        if (!cJSON_IsString(kind) || !cJSON_IsNumber(secs) || !cJSON_IsNumber(seed) ||
            !cJSON_IsString(net))
            continue;
        int is_train = !strcmp(kind->valuestring, "train");
        SchedTask t = {is_train ? SCHED_TRAIN : SCHED_PROBE, seed->valueint, -1,
                       cJSON_IsNumber(slot) ? slot->valueint : -1, -1,
                       cJSON_IsNumber(mask) ? (unsigned)mask->valuedouble : 0, 0};
        for (int i = 0; i < STUDY_NETS; i++)
            if (!strcmp(net->valuestring, STUDY_NET_NAMES[i])) t.net = i;
        if (t.net < 0 || (!is_train && (t.slot < 0 || t.slot > STUDY_FAMILIES))) continue;
        if (!is_train && t.slot < STUDY_FAMILIES && !(c->family_mask >> fams[t.slot] & 1))
            continue;
        Work tw = task_work(&then, &t, fams, n_train, n_val, n_test);
        meas[!is_train] += secs->valuedouble;
        est[!is_train] += work_cost(&tw, u);
        sum += secs->valuedouble;
    }
    double wall_s = wall->valuedouble;
    double data = cJSON_IsNumber(ds) && ds->valuedouble > 0 ? ds->valuedouble : DATA_LOAD_SECONDS;
    cJSON_Delete(o);
    (void)all;
    (void)n;
    if (est[0] <= 0 && est[1] <= 0) return 0;
    double f_train = est[0] > 0 ? meas[0] / est[0] : 1, f_probe = est[1] > 0 ? meas[1] / est[1] : 1;
    if (est[0] <= 0) f_train = f_probe;
    if (est[1] <= 0) f_probe = f_train;
    u->train_img *= f_train;
    u->train_epoch *= f_train;
    u->fwd_img *= f_probe;
    u->floor_img *= f_probe;
    u->pair_epoch *= f_probe;
    u->mlp_value *= f_probe;
    u->cell *= f_probe;
    u->task *= f_probe;
    /* the run's fixed part: its wall time less its tasks (the report, the
     * figures), plus loading the data (timed by cmd_study) */
    u->fixed = fmax(0.0, wall_s - sum) + data;
    u->source = "scaled to the task times of the earlier run in --out (timings.json)";
    return 1;
}

/* Forward multiply-accumulates per CIFAR-10 image of the network spec
 * names (a built-in name or a file). 0, or -1 with e set. */
static int arch_macs(const char *spec, uint64_t *macs, Err *e) {
    Arch a;
    int rc = arch_load(&a, spec, e) ? -1
             : net_forward_macs(&a, CIFAR_H, CIFAR_W, CIFAR_C, macs, e);
    arch_free(&a);
    return rc;
}

int study_plan(const StudyConfig *c, int n_train, int n_val, int n_test, int ranks, Err *e) {
    uint64_t macs, seed_macs;
    if (arch_macs(c->arch, &macs, e) || arch_macs("seed_cnn", &seed_macs, e)) return -1;
    const double ratio = (double)macs / (double)seed_macs;
    SchedTask *t = NULL;
    int fams[STUDY_FAMILIES];
    int n = study_task_graph(c, &t, fams);
    if (n < 0) return err_set(e, "the grid is empty (--networks, --families, --taps, --pairs)");
    Units u = MEASURED;
    double scale = 1.0 / (c->threads > 0 ? c->threads : 1);
    u.train_img *= scale * ratio, u.fwd_img *= scale * ratio, u.floor_img *= scale;
    u.pair_epoch *= scale, u.mlp_value *= scale;
    int measured = units_from_timings(c, t, n, fams, n_train, n_val, n_test, &u);
    int n_trainings = 0, n_groups = 0, cells = 0;
    for (int i = 0; i < n; i++) {
        Work w = task_work(c, &t[i], fams, n_train, n_val, n_test);
        t[i].cost = work_cost(&w, &u);
        if (t[i].kind == SCHED_TRAIN)
            n_trainings++;
        else
            n_groups++, cells += (int)w.cells;
    }
    double total, critical;
    sched_simulate(t, n, 1, &total, &critical);
    printf("plan: study --%s%s%s, %d thread%s per rank\n", c->profile, *c->overrides ? " " : "",
           c->overrides, c->threads, c->threads == 1 ? "" : "s");
    printf("task graph: %d tasks: %d training%s, then %d probe groups (%d cells), each group of "
           "a trained network after its training\n",
           n, n_trainings, n_trainings == 1 ? "" : "s", n_groups, cells);
    printf("unit costs (%s; %s: %.1f M multiply-accumulates per image forward, %.2fx "
           "seed_cnn's %.1f M%s):\n",
           u.source, c->arch_name, (double)macs / 1e6, ratio, (double)seed_macs / 1e6,
           measured ? "" : ", the factor on its training and inference images");
    printf("  training image-epoch %.3g ms, inference image %.3g ms, floor image %.3g ms\n",
           u.train_img * 1e3, u.fwd_img * 1e3, u.floor_img * 1e3);
    printf("  linear head pair-epoch per 64 values %.3g us, MLP pair-epoch per value %.3g us\n",
           u.pair_epoch * 1e6, u.mlp_value * 1e6);
    printf("  per training epoch (checkpoint, curves) %.3g s, per cell %.3g s, per task %.3g s, "
           "per run (data, report) %.3g s\n",
           u.train_epoch, u.cell, u.task, u.fixed);
    double longest_train = 0, longest_group = 0;
    for (int i = 0; i < n; i++) {
        double *m = t[i].kind == SCHED_TRAIN ? &longest_train : &longest_group;
        if (t[i].cost > *m) *m = t[i].cost;
    }
    printf("total work: %.1f min (trainings %.1f min each at most, probe groups %.1f min at "
           "most)\n",
           total / 60, longest_train / 60, longest_group / 60);
    printf("critical path: %.1f min (%s)\n", critical / 60,
           n_trainings ? "a training, then its longest probe group" : "the longest probe group");
    static const int TABLE[] = {1, 8, 64, 512};
    int one = ranks > 0;
    printf("%8s %14s %10s %12s\n", "ranks", "makespan_min", "speedup", "efficiency");
    double m1 = sched_simulate(t, n, 1, &total, &critical) + u.fixed;
    for (int i = 0; i < (one ? 1 : 4); i++) {
        int r = one ? ranks : TABLE[i];
        double m = sched_simulate(t, n, r, &total, &critical) + u.fixed;
        printf("%8d %14.2f %10.2f %11.0f%%\n", r, m / 60, m1 / m, 100.0 * m1 / m / r);
    }
    printf("(makespan: list scheduling of the tasks on the ranks, plus the run's fixed part; "
           "ranks beyond the number of ready tasks idle)\n");
    free(t);
    return 0;
}
