/* train.c - the classifier's training loop (the notebook's model.fit with
 * Keras semantics), evaluation, and the run directory: checkpoints after
 * every epoch, exact resumption, history.csv, curves.png, run.json. */
#define _XOPEN_SOURCE 700
#include "train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "augment.h"
#include "dirlock.h"
#include "json_util.h"
#include "layers.h"
#include "optim.h"
#include "plot.h"

/* The one piece of global mutable state in the library: a stop request. A
 * signal handler can only communicate through a volatile sig_atomic_t with
 * static storage, so SIGINT/SIGTERM set it and train_run polls it after
 * every step, stopping at a clean point. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

void train_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART; /* file writes in progress complete normally */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void train_request_stop(void) { stop_requested = 1; }
void train_clear_stop(void) { stop_requested = 0; }
int train_stop_requested(void) { return stop_requested != 0; }

void train_config_default(TrainConfig *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 50;
    cfg->batch = 32;
    cfg->eval_batch = 128;
    snprintf(cfg->aug, sizeof cfg->aug, "%s", TRAIN_DEFAULT_AUG);
    cfg->lr = 1e-3f;
    cfg->seed = 1;
    cfg->split_seed = 1;
    cfg->out_dir = "runs/train";
    snprintf(cfg->device, sizeof cfg->device, "cpu");
}

/* ---- networks ---- */

/* The classifier of arch with the named kernels ("" / NULL / "auto": fastest). */
static Net *classifier_create(const Arch *a, int max_batch, int threads, const char *kernels,
                              Err *e) {
    const Kernels *k = NULL;
    if (kernels && *kernels && strcmp(kernels, "auto") != 0) {
        k = kernels_by_name(kernels);
        if (!k) {
            err_set(e, "--kernels: '%s' is unknown or not supported on this processor "
                       "(compiled: %s)", kernels, kernels_compiled());
            return NULL;
        }
    }
    Net *net = net_create(a, CIFAR_H, CIFAR_W, CIFAR_C, max_batch, threads > 0 ? threads : 1, e);
    if (net && net_output_size(net) != CIFAR_CLASSES) {
        err_set(e, "%s: network '%s' has %zu outputs; a CIFAR-10 classifier needs %d",
                net->arch_source, net->arch, net_output_size(net), CIFAR_CLASSES);
        net_free(net);
        return NULL;
    }
    if (net && k) net_set_kernels(net, k);
    return net;
}

Net *train_net_create(int max_batch, int threads, const char *kernels, Err *e) {
    return train_net_create_arch("seed_cnn", max_batch, threads, kernels, e);
}

Net *train_net_create_arch(const char *arch, int max_batch, int threads, const char *kernels,
                           Err *e) {
    Arch a;
    if (arch_load(&a, arch, e)) return NULL;
    Net *net = classifier_create(&a, max_batch, threads, kernels, e);
    arch_free(&a);
    return net;
}

int train_model_arch(const char *path, const char *arch, Arch *a, Err *e) {
    if (arch) return arch_load(a, arch, e) ? -1 : 0;
    /* if its header cannot be read, checkpoint_load will say precisely what
     * is wrong with it */
    Err ignored;
    if (path && checkpoint_read_arch(path, a, &ignored) == 0) return 0;
    return arch_load(a, "seed_cnn", e) ? -1 : 0;
}

Net *train_model_net(const char *path, int max_batch, int threads, const char *kernels,
                     Err *e) {
    Arch a;
    if (train_model_arch(path, NULL, &a, e)) return NULL;
    Net *net = classifier_create(&a, max_batch, threads, kernels, e);
    arch_free(&a);
    return net;
}

Net *train_load_model(const char *path, int max_batch, int threads, const char *kernels,
                      CheckpointMeta *meta, Err *e) {
    return train_load_model_arch(path, NULL, max_batch, threads, kernels, meta, e);
}

Net *train_load_model_arch(const char *path, const char *arch, int max_batch, int threads,
                           const char *kernels, CheckpointMeta *meta, Err *e) {
    Arch a;
    if (train_model_arch(path, arch, &a, e)) return NULL;
    Net *net = classifier_create(&a, max_batch, threads, kernels, e);
    arch_free(&a);
    if (!net) return NULL;
    CheckpointMeta m;
    memset(&m, 0, sizeof m);
    if (checkpoint_load(path, net, NULL, NULL, &m, e)) {
        net_free(net);
        return NULL;
    }
    if (meta) *meta = m;
    return net;
}

/* ---- evaluation ---- */

int eval_split(Net *net, const ImageSet *set, float *loss, float *acc,
               int confusion[CIFAR_CLASSES][CIFAR_CLASSES]) {
    int cm[CIFAR_CLASSES][CIFAR_CLASSES];
    memset(cm, 0, sizeof cm);
    int bmax = net->max_batch;
    /* plain images (identity parameters), through the device when there is one */
    AugParams *ident = xmalloc(sizeof(AugParams) * (size_t)bmax);
    int *idx = xmalloc(sizeof(int) * (size_t)bmax);
    for (int b = 0; b < bmax; b++) aug_params_identity(&ident[b]);
    double loss_sum = 0;
    long correct = 0;
    Err e;
    if (net_attach_images(net, set->images, set->n, &e)) {
        err_set(&net->err, "%s", e.msg);
        free(ident), free(idx);
        return -1;
    }
    for (int i = 0; i < set->n; i += bmax) {
        int B = set->n - i < bmax ? set->n - i : bmax;
        for (int b = 0; b < B; b++) idx[b] = i + b;
        const float *logits = net_forward_images(net, set->images, idx, ident, B, 0, NULL, -1);
        if (!logits) { /* a device error (net_error) */
            free(ident), free(idx);
            return -1;
        }
        const uint8_t *lab = set->labels + i;
        loss_sum += (double)softmax_xent(NULL, NULL, logits, lab, B, CIFAR_CLASSES) * B;
        for (int b = 0; b < B; b++) {
            const float *row = logits + (size_t)b * CIFAR_CLASSES;
            int best = 0;
            for (int c = 1; c < CIFAR_CLASSES; c++)
                if (row[c] > row[best]) best = c;
            cm[lab[b]][best]++;
            correct += best == lab[b];
        }
    }
    free(ident), free(idx);
    *loss = set->n ? (float)(loss_sum / set->n) : NAN;
    *acc = set->n ? (float)correct / (float)set->n : NAN;
    if (confusion) memcpy(confusion, cm, sizeof cm);
    return 0;
}

/* A config's network, by name ("" is the default). */
static const char *arch_or_seed(const TrainConfig *c) { return arch_or_default(c->arch); }

/* ---- the config as JSON (checkpoint meta.extra, run.json) ---- */

static cJSON *config_to_cjson(const TrainConfig *cfg, const char *kernels_used) {
    char seed[32], split_seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->seed);
    snprintf(split_seed, sizeof split_seed, "%llu", (unsigned long long)cfg->split_seed);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epochs", cfg->epochs);
    cJSON_AddNumberToObject(o, "batch", cfg->batch);
    cJSON_AddNumberToObject(o, "eval_batch", cfg->eval_batch);
    cJSON_AddStringToObject(o, "aug", cfg->aug);
    cJSON_AddNumberToObject(o, "limit", cfg->limit);
    cJSON_AddNumberToObject(o, "eval_limit", cfg->eval_limit);
    /* the float's shortest round-tripping decimal: 0.001, not 0.0010000000474974513 */
    cJSON_AddNumberToObject(o, "lr", float_tidy(cfg->lr));
    /* only when annealed: constant-rate runs keep the files they always had */
    if (cfg->lr_cosine) cJSON_AddStringToObject(o, "lr_schedule", "cosine");
    /* as strings: JSON numbers lose integers above 2^53 */
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddStringToObject(o, "split_seed", split_seed);
    cJSON_AddNumberToObject(o, "threads", cfg->threads);
    cJSON_AddStringToObject(o, "kernels", kernels_used);
    cJSON_AddStringToObject(o, "device", cfg->device);
    cJSON_AddStringToObject(o, "arch", arch_or_seed(cfg));
    return o;
}

/* Parses the config stored in a checkpoint's meta.extra into cfg (out_dir,
 * resume and quiet untouched). */
static int config_from_json(const char *text, const char *path, TrainConfig *cfg, Err *e) {
    cJSON *o = cJSON_Parse(text);
    if (!o) return err_set(e, "%s: the stored training config is not valid JSON", path);
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(o, "lr");
    int bad = json_get_int(o, "epochs", &cfg->epochs) || json_get_int(o, "batch", &cfg->batch) ||
              json_get_int(o, "eval_batch", &cfg->eval_batch) ||
              json_get_string(o, "aug", cfg->aug, sizeof cfg->aug) ||
              json_get_int(o, "limit", &cfg->limit) ||
              json_get_int(o, "eval_limit", &cfg->eval_limit) || !cJSON_IsNumber(lr) ||
              json_get_u64_string(o, "seed", &cfg->seed) ||
              json_get_u64_string(o, "split_seed", &cfg->split_seed) ||
              json_get_int(o, "threads", &cfg->threads) ||
              json_get_string(o, "kernels", cfg->kernels, sizeof cfg->kernels);
    if (!bad) cfg->lr = (float)lr->valuedouble;
    /* absent: the constant rate (also every checkpoint made before schedules) */
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(o, "lr_schedule");
    cfg->lr_cosine = 0;
    if (sched && !(cJSON_IsString(sched) && (!strcmp(sched->valuestring, "cosine") ||
                                             !strcmp(sched->valuestring, "constant"))))
        bad = 1;
    else if (sched)
        cfg->lr_cosine = !strcmp(sched->valuestring, "cosine");
    /* absent in checkpoints made before --device existed: those ran on the CPU */
    if (json_get_string(o, "device", cfg->device, sizeof cfg->device))
        snprintf(cfg->device, sizeof cfg->device, "cpu");
    /* absent in checkpoints made before --arch existed: the seed CNN */
    if (json_get_string(o, "arch", cfg->arch, sizeof cfg->arch))
        snprintf(cfg->arch, sizeof cfg->arch, "seed_cnn");
    cJSON_Delete(o);
    if (bad) return err_set(e, "%s: the stored training config is incomplete", path);
    return 0;
}

int train_run_complete(const char *dir, int epochs) {
    char *path = path_join(dir, "run.json");
    uint8_t *text = NULL;
    size_t len;
    int complete = 0;
    if (path_exists(path) && file_read_all(path, &text, &len, NULL) == 0) {
        cJSON *o = cJSON_ParseWithLength((const char *)text, len);
        char status[32];
        int done;
        complete = o && json_get_string(o, "status", status, sizeof status) == 0 &&
                   !strcmp(status, "complete") && json_get_int(o, "epochs_done", &done) == 0 &&
                   done == epochs;
        cJSON_Delete(o);
    }
    free(text);
    free(path);
    return complete;
}

int train_read_checkpoint_config(const char *dir, TrainConfig *cfg, int *epochs_done, Err *e) {
    char *path = path_join(dir, "checkpoint.safetensors");
    int rc = -1;
    if (!path_exists(path)) {
        err_set(e, "%s: no checkpoint to resume from", path);
        goto done;
    }
    /* Loading validates the whole file, not only its header. */
    Net *net = train_model_net(path, 1, 1, "reference", e);
    if (!net) goto done;
    Adam opt;
    adam_init(&opt, net->n_params);
    Rng rng;
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    if (checkpoint_load(path, net, &opt, &rng, &meta, e) == 0 &&
        config_from_json(meta.extra, path, cfg, e) == 0) {
        *epochs_done = meta.epoch;
        rc = 0;
    }
    adam_free(&opt);
    net_free(net);
done:
    free(path);
    return rc;
}

static int same_aug_text(const char *a, const char *b) {
    AugSpec sa, sb;
    char ta[256] = "", tb[256] = "";
    if (aug_parse(&sa, a, NULL) == 0) aug_format(&sa, ta, sizeof ta);
    if (aug_parse(&sb, b, NULL) == 0) aug_format(&sb, tb, sizeof tb);
    return strcmp(ta, tb) == 0;
}


unsigned train_config_diff(const TrainConfig *want, const TrainConfig *got, int epochs_done,
                           unsigned which) {
    const unsigned differs[] = {
        TRAIN_CFG_AUG * !same_aug_text(want->aug, got->aug),
        TRAIN_CFG_BATCH * (want->batch != got->batch),
        TRAIN_CFG_EVAL_BATCH * (want->eval_batch != got->eval_batch),
        TRAIN_CFG_LIMIT * (want->limit != got->limit),
        TRAIN_CFG_EVAL_LIMIT * (want->eval_limit != got->eval_limit),
        TRAIN_CFG_LR * (want->lr != got->lr),
        TRAIN_CFG_LR_SCHEDULE * (want->lr_cosine != got->lr_cosine),
        TRAIN_CFG_SEED * (want->seed != got->seed),
        TRAIN_CFG_SPLIT_SEED * (want->split_seed != got->split_seed),
        TRAIN_CFG_ARCH * (strcmp(arch_or_seed(want), arch_or_seed(got)) != 0),
        /* the annealed rate depends on the run's length: a cosine run keeps it
         * (the checkpoint's schedule: a resume may leave --lr-schedule unset) */
        TRAIN_CFG_EPOCHS * (want->epochs < epochs_done ||
                            (got->lr_cosine && want->epochs != got->epochs)),
    };
    for (size_t i = 0; i < sizeof differs / sizeof differs[0]; i++)
        if (differs[i] & which) return differs[i];
    return 0;
}

int train_config_check(const TrainConfig *want, const TrainConfig *got, int epochs_done,
                       unsigned which, const char *path, Err *e) {
    switch (train_config_diff(want, got, epochs_done, which)) {
    case 0: return 0;
    case TRAIN_CFG_AUG:
        return err_set(e, "--aug '%s' conflicts with the checkpoint's '%s' (%s)",
                       want->aug[0] ? want->aug : "none", got->aug[0] ? got->aug : "none",
                       path);
    case TRAIN_CFG_BATCH:
        return err_set(e, "--batch %d conflicts with the checkpoint's %d (%s)", want->batch,
                       got->batch, path);
    case TRAIN_CFG_EVAL_BATCH:
        return err_set(e, "eval batch %d conflicts with the checkpoint's %d (%s)",
                       want->eval_batch, got->eval_batch, path);
    case TRAIN_CFG_LIMIT:
        return err_set(e, "--limit %d conflicts with the checkpoint's %d (%s)", want->limit,
                       got->limit, path);
    case TRAIN_CFG_EVAL_LIMIT:
        return err_set(e, "--eval-limit %d conflicts with the checkpoint's %d (%s)",
                       want->eval_limit, got->eval_limit, path);
    case TRAIN_CFG_LR:
        return err_set(e, "--lr %g conflicts with the checkpoint's %g (%s)", (double)want->lr,
                       (double)got->lr, path);
    case TRAIN_CFG_LR_SCHEDULE:
        return err_set(e, "--lr-schedule %s conflicts with the checkpoint's %s (%s)",
                       train_lr_schedule_name(want->lr_cosine),
                       train_lr_schedule_name(got->lr_cosine), path);
    case TRAIN_CFG_SEED:
        return err_set(e, "--seed %llu conflicts with the checkpoint's %llu (%s)",
                       (unsigned long long)want->seed, (unsigned long long)got->seed, path);
    case TRAIN_CFG_SPLIT_SEED:
        return err_set(e, "split seed %llu conflicts with the checkpoint's %llu (%s)",
                       (unsigned long long)want->split_seed,
                       (unsigned long long)got->split_seed, path);
    case TRAIN_CFG_ARCH:
        return err_set(e, "--arch %s conflicts with the checkpoint's %s (%s)",
                       arch_or_seed(want), arch_or_seed(got), path);
    default: /* TRAIN_CFG_EPOCHS */
        if (want->epochs < epochs_done)
            return err_set(e, "--epochs %d is less than the %d epochs already done (%s)",
                           want->epochs, epochs_done, path);
        return err_set(e, "--epochs %d conflicts with the checkpoint's %d: its cosine "
                          "learning-rate schedule spans %d epochs (%s)",
                       want->epochs, got->epochs, got->epochs, path);
    }
}

uint64_t train_split_seed(const CheckpointMeta *meta, uint64_t fallback) {
    uint64_t seed = fallback;
    cJSON *o = meta->extra[0] ? cJSON_Parse(meta->extra) : NULL;
    if (o && json_get_u64_string(o, "split_seed", &seed)) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "split_seed");
        if (cJSON_IsNumber(s) && s->valuedouble >= 0) seed = (uint64_t)s->valuedouble;
    }
    cJSON_Delete(o);
    return seed;
}

const char *train_lr_schedule_name(int lr_cosine) { return lr_cosine ? "cosine" : "constant"; }

float train_lr_at(const TrainConfig *cfg, int64_t step, int64_t steps) {
    if (!cfg->lr_cosine || steps < 1) return cfg->lr;
    double frac = (double)step / (double)steps;
    if (frac > 1) frac = 1;
    return (float)(cfg->lr * 0.5 * (1.0 + cos(M_PI * frac)));
}

/* ---- history.csv, curves.png, run.json ---- */

static const char HISTORY_HEADER[] =
    "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds\n";

static int write_history(const char *dir, const TrainEpoch *h, int n, Err *e) {
    char *path = path_join(dir, "history.csv");
    AtomicFile af;
    int rc = atomic_open(&af, path, e);
    if (rc == 0) {
        fputs(HISTORY_HEADER, af.f);
        for (int i = 0; i < n; i++)
            fprintf(af.f, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.3f\n", h[i].epoch,
                    h[i].train_loss, h[i].train_acc, h[i].val_loss, h[i].val_acc,
                    h[i].test_loss, h[i].test_acc, h[i].seconds);
        rc = atomic_commit(&af, e);
    }
    free(path);
    return rc;
}

/* Reads the first n rows back (resume); rows after them belong to an epoch
 * whose checkpoint was never written and are dropped. */
static int read_history(const char *dir, TrainEpoch *h, int n, Err *e) {
    char *path = path_join(dir, "history.csv");
    uint8_t *buf;
    size_t len;
    int rc = file_read_all(path, &buf, &len, e);
    if (rc) {
        free(path);
        return rc;
    }
    char *line = (char *)buf, *next;
    int row = -1; /* the header is row -1 */
    for (; line && *line && row < n; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (row < 0) {
            if (strncmp(line, HISTORY_HEADER, strlen(HISTORY_HEADER) - 1) != 0) break;
            row++;
            continue;
        }
        TrainEpoch *t = &h[row];
        if (sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &t->epoch, &t->train_loss,
                   &t->train_acc, &t->val_loss, &t->val_acc, &t->test_loss, &t->test_acc,
                   &t->seconds) != 8 ||
            t->epoch != row + 1)
            break;
        row++;
    }
    free(buf);
    if (row < n) rc = err_set(e, "%s: has %d epoch rows, the checkpoint needs %d", path,
                              row < 0 ? 0 : row, n);
    free(path);
    return rc;
}

static int write_curves(const char *dir, const TrainEpoch *h, int n, Err *e) {
    double *x = xmalloc(sizeof(double) * (size_t)(n ? n : 1) * 7);
    double *col[6];
    for (int j = 0; j < 6; j++) col[j] = x + (size_t)n * (j + 1);
    for (int i = 0; i < n; i++) {
        x[i] = h[i].epoch;
        col[0][i] = h[i].train_loss;
        col[1][i] = h[i].val_loss;
        col[2][i] = h[i].test_loss;
        col[3][i] = h[i].train_acc;
        col[4][i] = h[i].val_acc;
        col[5][i] = h[i].test_acc;
    }
    PlotSeries loss[3] = {{.label = "train", .x = x, .y = col[0], .n = n},
                          {.label = "val", .x = x, .y = col[1], .n = n},
                          {.label = "test", .x = x, .y = col[2], .n = n}};
    PlotSeries acc[3] = {{.label = "train", .x = x, .y = col[3], .n = n},
                         {.label = "val", .x = x, .y = col[4], .n = n},
                         {.label = "test", .x = x, .y = col[5], .n = n}};
    PlotPanel panels[2] = {
        {.title = "Loss", .xlabel = "epoch", .ylabel = "cross-entropy loss", .series = loss,
         .n_series = 3},
        {.title = "Accuracy", .xlabel = "epoch", .ylabel = "accuracy", .series = acc,
         .n_series = 3},
    };
    char *path = path_join(dir, "curves.png");
    int rc = plot_panels_png(path, panels, 2, e);
    free(path);
    free(x);
    return rc;
}

static cJSON *epoch_to_cjson(const TrainEpoch *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", t->epoch);
    cJSON_AddNumberToObject(o, "train_loss", t->train_loss);
    cJSON_AddNumberToObject(o, "train_acc", t->train_acc);
    cJSON_AddNumberToObject(o, "val_loss", t->val_loss);
    cJSON_AddNumberToObject(o, "val_acc", t->val_acc);
    cJSON_AddNumberToObject(o, "test_loss", t->test_loss);
    cJSON_AddNumberToObject(o, "test_acc", t->test_acc);
    cJSON_AddNumberToObject(o, "seconds", t->seconds);
    return o;
}

typedef struct RunInfo {
    const TrainConfig *cfg;
    const Cifar10 *data;
    const Net *net;
    int n_train, n_val, n_test;
    const TrainEpoch *history;
    int n_history;
    const char *status; /* "running", "complete", "interrupted", "failed" */
    double wall_seconds;
} RunInfo;

static int write_run_json(const RunInfo *ri, Err *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "program", "augprobe");
    cJSON_AddStringToObject(o, "version", AUGPROBE_VERSION);
    cJSON_AddStringToObject(o, "command", "train");
    cJSON_AddStringToObject(o, "status", ri->status);
    cJSON_AddItemToObject(o, "config", config_to_cjson(ri->cfg, ri->net->k->name));
    cJSON_AddStringToObject(o, "arch", ri->net->arch);
    cJSON_AddNumberToObject(o, "params", (double)ri->net->n_params);
    cJSON_AddNumberToObject(o, "threads", ri->net->kctx.threads);
    cJSON_AddStringToObject(o, "kernels", ri->net->k->name);
    char where[160];
    net_describe_device(ri->net, where, sizeof where);
    cJSON_AddStringToObject(o, "device", where);
    cJSON *d = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(d, "source", ri->data->source);
    cJSON_AddBoolToObject(d, "verified", ri->data->verified);
    cJSON_AddNumberToObject(d, "train", ri->n_train);
    cJSON_AddNumberToObject(d, "val", ri->n_val);
    cJSON_AddNumberToObject(d, "test", ri->n_test);
    cJSON_AddNumberToObject(o, "epochs_done", ri->n_history);
    double train_seconds = 0;
    for (int i = 0; i < ri->n_history; i++) train_seconds += ri->history[i].seconds;
    cJSON_AddNumberToObject(o, "epoch_seconds_total", train_seconds);
    cJSON_AddNumberToObject(o, "wall_seconds", ri->wall_seconds);
    if (ri->n_history)
        cJSON_AddItemToObject(o, "final", epoch_to_cjson(&ri->history[ri->n_history - 1]));
    else
        cJSON_AddNullToObject(o, "final");
    char *path = path_join(ri->cfg->out_dir, "run.json");
    int rc = json_write_file(path, o, e);
    free(path);
    cJSON_Delete(o);
    return rc;
}

int train_check_out_dir(const char *dir, Err *e) {
    if (!dir || !*dir) return err_set(e, "--out: empty directory name");
    if (mkdir_p(dir, e)) return -1;
    char *probe = path_join(dir, ".augprobe-write-test");
    FILE *f = fopen(probe, "wb");
    int rc = 0;
    if (!f || fclose(f) != 0)
        rc = err_set(e, "%s: directory is not writable: %s", dir, strerror(errno));
    else
        remove(probe);
    free(probe);
    return rc;
}

/* ---- progress: the one place that writes the live line ---- */

typedef struct Progress {
    int on;           /* a terminal, not --quiet */
    int live;         /* a \r line is showing */
    double last_draw; /* when it was last drawn */
} Progress;

static void fmt_duration(char *buf, size_t len, double s) {
    if (!(s >= 0) || s > 359999) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* After step `step` of `steps`: at most every 0.1 s, and at the last. */
static void progress_step(Progress *p, int epoch, int epochs, int step, int steps, long seen,
                          double t0, double loss_sum, long correct) {
    double now = now_seconds();
    if (!p->on || (now - p->last_draw < 0.1 && step != steps)) return;
    p->last_draw = now;
    double el = now - t0;
    double rate = el > 0 ? seen / el : 0;
    double eta = step > 0 ? el / step * (steps - step) : 0;
    char etas[32];
    fmt_duration(etas, sizeof etas, eta);
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int fill = steps ? (int)((long)WIDTH * step / steps) : 0;
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    bar[WIDTH] = 0;
    printf("\r\033[KEpoch %d/%d [%s] %d/%d  %.0f img/s  loss %.4f  acc %.4f  ETA %s", epoch,
           epochs, bar, step, steps, rate, seen ? loss_sum / seen : 0.0,
           seen ? (double)correct / seen : 0.0, etas);
    fflush(stdout);
    p->live = 1;
}

static void progress_note(Progress *p, const char *what, int epoch, int epochs) {
    if (!p->on) return;
    printf("\r\033[KEpoch %d/%d %s...", epoch, epochs, what);
    fflush(stdout);
    p->live = 1;
}

/* Ends the live line (before an error, a stop, or a plain line). */
static void progress_break(Progress *p) {
    if (p->live) printf("\r\033[K");
    p->live = 0;
}

/* ---- the training loop ---- */

static int all_finite(const float *x, size_t n) {
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= isfinite(x[i]) != 0;
    return ok;
}

static void fill_result(TrainResult *res, const TrainEpoch *hist, int n, double wall,
                        int interrupted, const char *kernels) {
    if (!res) return;
    memset(res, 0, sizeof *res);
    res->epochs_done = n;
    res->n_history = n;
    res->history = xmalloc(sizeof(TrainEpoch) * (size_t)(n ? n : 1));
    if (n) memcpy(res->history, hist, sizeof(TrainEpoch) * (size_t)n);
    if (n) res->final = hist[n - 1];
    res->wall_seconds = wall;
    res->interrupted = interrupted;
    snprintf(res->kernels, sizeof res->kernels, "%s", kernels);
}

void train_result_free(TrainResult *res) {
    if (!res) return;
    free(res->history);
    res->history = NULL;
    res->n_history = 0;
}

static int save_checkpoints(const TrainConfig *cfg, const Net *net, const Adam *opt,
                            int epochs_done, Err *e) {
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "%s", net->arch);
    meta.epoch = epochs_done;
    meta.seed = cfg->seed;
    cJSON *c = config_to_cjson(cfg, net->k->name);
    char *text = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    if (strlen(text) >= sizeof meta.extra) {
        cJSON_free(text);
        return err_set(e, "training config too long to store in a checkpoint");
    }
    snprintf(meta.extra, sizeof meta.extra, "%s", text);
    cJSON_free(text);
    /* The next epoch's order stream: stored so a resume can check it continues
     * the same sequence (all randomness is derived from seed and counters). */
    Rng next = rng_stream(cfg->seed, rng_mix(RNG_TAG_SHUFFLE, (uint64_t)epochs_done));
    char *model = path_join(cfg->out_dir, "model.safetensors");
    char *ckpt = path_join(cfg->out_dir, "checkpoint.safetensors");
    int rc = checkpoint_save(model, net, NULL, NULL, &meta, e);
    if (rc == 0) rc = checkpoint_save(ckpt, net, opt, &next, &meta, e);
    free(model);
    free(ckpt);
    return rc;
}

/* One run: what train_open sets up and every epoch uses. */
typedef struct Run {
    TrainConfig cfg;
    AugSpec spec;
    ImageSet train, val, test; /* train limited to cfg.limit, val/test to cfg.eval_limit */
    int steps;                 /* per epoch; Keras keeps the partial last batch */
    int start_epoch;           /* 0, or the epochs a resumed checkpoint had done */
    Net *net;
    Adam opt;
    TrainEpoch *hist;          /* [cfg.epochs] */
    RunInfo ri;
    char *ckpt_path;
    int *order;                /* [train.n]: this epoch's shuffled image indices */
    AugParams *aug;            /* [cfg.batch]: this step's augmentation */
    float *dlogits;            /* [cfg.batch][10] */
    uint8_t *labels;           /* [cfg.batch] */
    Progress progress;
    double wall0, epoch_t0;    /* when the run and this epoch started */
    int lock;                  /* dir_lock's handle on cfg.out_dir, or -1 */
} Run;

/* The flags, before anything is allocated. */
static int check_config(TrainConfig *cfg, const Cifar10 *data, AugSpec *spec, Err *e) {
    if (cfg->epochs < 1) return err_set(e, "--epochs: %d must be at least 1", cfg->epochs);
    if (cfg->batch < 1) return err_set(e, "--batch: %d must be at least 1", cfg->batch);
    if (cfg->eval_batch < 1) cfg->eval_batch = 128;
    if (!(cfg->lr > 0) || !isfinite(cfg->lr))
        return err_set(e, "--lr: %g must be a positive number", (double)cfg->lr);
    if (cfg->limit < 0 || cfg->limit > data->train.n)
        return err_set(e, "--limit: %d is out of range [0, %d]", cfg->limit, data->train.n);
    if (cfg->eval_limit < 0) return err_set(e, "--eval-limit: %d is negative", cfg->eval_limit);
    if (data->train.n < 1) return err_set(e, "no training images (was the data split?)");
    Err ae;
    if (aug_parse(spec, cfg->aug, &ae)) return err_set(e, "--aug: %s", ae.msg);
    return train_check_out_dir(cfg->out_dir, e);
}

/* --resume: the checkpoint's weights, moments and history, after checking
 * that it is this run's. */
static int resume_from_checkpoint(Run *r, Err *e) {
    TrainConfig stored = r->cfg;
    Rng rng;
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    if (!path_exists(r->ckpt_path))
        return err_set(e, "%s: no checkpoint to resume from", r->ckpt_path);
    if (checkpoint_load(r->ckpt_path, r->net, &r->opt, &rng, &meta, e) ||
        config_from_json(meta.extra, r->ckpt_path, &stored, e) ||
        train_config_check(&r->cfg, &stored, meta.epoch, TRAIN_CFG_ALL, r->ckpt_path, e))
        return -1;
    Rng want = rng_stream(r->cfg.seed, rng_mix(RNG_TAG_SHUFFLE, (uint64_t)meta.epoch));
    if (memcmp(&want, &rng, sizeof rng) != 0)
        return err_set(e, "%s: stored random state does not match seed and epoch", r->ckpt_path);
    r->opt.lr = r->cfg.lr;
    if (meta.epoch > 0 && read_history(r->cfg.out_dir, r->hist, meta.epoch, e)) return -1;
    r->start_epoch = meta.epoch;
    return 0;
}

static void run_close(Run *r) {
    free(r->labels);
    free(r->dlogits);
    free(r->aug);
    free(r->order);
    free(r->ckpt_path);
    free(r->hist);
    adam_free(&r->opt);
    net_free(r->net);
    dir_unlock(r->lock);
}

/* Opening: the config checked, the network built, initialised or resumed,
 * and placed (CPU or device) with the images attached. */
static int train_open(Run *r, const TrainConfig *cfg_in, const Cifar10 *data, Err *e) {
    memset(r, 0, sizeof *r);
    r->lock = -1;
    r->wall0 = now_seconds();
    r->cfg = *cfg_in;
    TrainConfig *cfg = &r->cfg;
    if (check_config(cfg, data, &r->spec, e)) return -1;
    r->lock = dir_lock(cfg->out_dir, e); /* one writer per directory (a study's networks too) */
    if (r->lock < 0) return -1;
    /* passed to the network (its kernels, Adam, the augmentation), not set
     * globally: every parallel loop of a step names its thread count */
#ifdef _OPENMP
    if (cfg->threads < 1) cfg->threads = omp_get_max_threads();
#else
    if (cfg->threads < 1) cfg->threads = 1;
#endif
    r->train = data->train, r->val = data->val, r->test = data->test;
    if (cfg->limit) r->train.n = cfg->limit;
    if (cfg->eval_limit && r->val.n > cfg->eval_limit) r->val.n = cfg->eval_limit;
    if (cfg->eval_limit && r->test.n > cfg->eval_limit) r->test.n = cfg->eval_limit;
    r->steps = (r->train.n + cfg->batch - 1) / cfg->batch;
    int max_batch = cfg->batch > cfg->eval_batch ? cfg->batch : cfg->eval_batch;
    r->net = train_net_create_arch(cfg->arch, max_batch, cfg->threads, cfg->kernels, e);
    if (!r->net) return -1;
    snprintf(cfg->kernels, sizeof cfg->kernels, "%s", r->net->k->name);
    adam_init(&r->opt, r->net->n_params);
    r->opt.lr = cfg->lr;
    r->hist = xcalloc((size_t)cfg->epochs, sizeof(TrainEpoch));
    r->ckpt_path = path_join(cfg->out_dir, "checkpoint.safetensors");
    r->order = xmalloc(sizeof(int) * (size_t)r->train.n);
    r->aug = xmalloc(sizeof(AugParams) * (size_t)cfg->batch);
    r->dlogits = xalloc_floats((size_t)cfg->batch * CIFAR_CLASSES);
    r->labels = xmalloc((size_t)cfg->batch);
    if (cfg->resume) {
        if (resume_from_checkpoint(r, e)) return -1;
    } else {
        net_init(r->net, cfg->seed);
    }
    /* after init or resume: a device starts from the host's weights and moments */
    if (net_place(r->net, cfg->device, &r->opt, e) ||
        net_attach_images(r->net, r->train.images, r->train.n, e) ||
        net_attach_images(r->net, r->val.images, r->val.n, e) ||
        net_attach_images(r->net, r->test.images, r->test.n, e))
        return -1;
    r->ri = (RunInfo){cfg, data, r->net, r->train.n, r->val.n, r->test.n,
                      r->hist, r->start_epoch, "running", 0};
    if (!cfg->quiet) {
        char where[160];
        net_describe_device(r->net, where, sizeof where);
        printf("train: %d images (val %d, test %d), aug %s, batch %d, epochs %d, seed %llu, "
               "threads %d, %s %s -> %s\n",
               r->train.n, r->val.n, r->test.n, cfg->aug[0] ? cfg->aug : "none", cfg->batch,
               cfg->epochs, (unsigned long long)cfg->seed, r->net->kctx.threads,
               r->net->backend == net_backend_cpu() ? "kernels" : "device",
               r->net->backend == net_backend_cpu() ? r->net->k->name : where, cfg->out_dir);
        if (cfg->resume)
            printf("resuming after epoch %d of %d from %s\n", r->start_epoch, cfg->epochs,
                   r->ckpt_path);
        fflush(stdout);
    }
    r->progress.on = !cfg->quiet && isatty(STDOUT_FILENO);
    return 0;
}

/* One step: the next batch, forward, loss, update (zero grads, backward,
 * Adam). Adds to the epoch's running loss and accuracy. */
static int train_step(Run *r, int epoch, int s, TrainEpoch *t, long *seen, Err *e) {
    const TrainConfig *cfg = &r->cfg;
    int B = r->train.n - s * cfg->batch < cfg->batch ? r->train.n - s * cfg->batch : cfg->batch;
    const int *bidx = r->order + (size_t)s * cfg->batch;
    aug_draw_batch(&r->spec, bidx, B, cfg->seed, rng_mix(RNG_TAG_AUGMENT, (uint64_t)epoch),
                   r->aug);
    for (int b = 0; b < B; b++) r->labels[b] = r->train.labels[bidx[b]];
    Rng drop = rng_stream(cfg->seed, rng_mix(RNG_TAG_DROPOUT, (uint64_t)r->opt.t));
    const float *logits =
        net_forward_images(r->net, r->train.images, bidx, r->aug, B, 1, &drop, -1);
    if (!logits) return err_set(e, "epoch %d step %d: %s", epoch + 1, s + 1, net_error(r->net));
    int corr = 0;
    float loss = softmax_xent(r->dlogits, &corr, logits, r->labels, B, CIFAR_CLASSES);
    if (!isfinite(loss)) {
        if (epoch > 0)
            return err_set(e, "epoch %d step %d: the loss is %s, training diverged; the last "
                              "good checkpoint (epoch %d) is kept in %s",
                           epoch + 1, s + 1, isnan(loss) ? "NaN" : "infinite", epoch,
                           r->ckpt_path);
        return err_set(e, "epoch 1 step %d: the loss is %s, training diverged before the "
                          "first checkpoint", s + 1, isnan(loss) ? "NaN" : "infinite");
    }
    r->opt.lr = train_lr_at(cfg, r->opt.t, (int64_t)cfg->epochs * r->steps);
    if (net_update(r->net, &r->opt, r->dlogits, B))
        return err_set(e, "epoch %d step %d: %s", epoch + 1, s + 1, net_error(r->net));
    t->train_loss += (double)loss * B; /* sums here; train_epoch makes them means */
    t->train_acc += corr;
    *seen += B;
    return 0;
}

/* One epoch's steps, in its shuffled order. 0, TRAIN_STOPPED (a stop was
 * requested: the partial epoch is dropped, a resume redoes it) or -1. */
static int train_epoch(Run *r, int epoch, TrainEpoch *t, Err *e) {
    const TrainConfig *cfg = &r->cfg;
    double t0 = r->epoch_t0 = now_seconds();
    for (int i = 0; i < r->train.n; i++) r->order[i] = i;
    Rng order = rng_stream(cfg->seed, rng_mix(RNG_TAG_SHUFFLE, (uint64_t)epoch));
    rng_shuffle(&order, r->order, r->train.n);
    memset(t, 0, sizeof *t);
    long seen = 0;
    for (int s = 0; s < r->steps; s++) {
        if (train_step(r, epoch, s, t, &seen, e)) return -1;
        progress_step(&r->progress, epoch + 1, cfg->epochs, s + 1, r->steps, seen, t0,
                      t->train_loss, (long)t->train_acc);
        if (train_stop_requested()) return TRAIN_STOPPED;
    }
    t->epoch = epoch + 1;
    t->train_loss /= (double)seen;
    t->train_acc /= (double)seen;
    return 0;
}

/* End of an epoch: evaluation on val and test, the divergence checks, and
 * the run directory's files (history first, checkpoint last: a resume drops
 * history rows beyond the checkpoint's epoch, so a kill between the writes
 * is harmless). */
static int end_of_epoch(Run *r, int epoch, TrainEpoch *t, Err *e) {
    const TrainConfig *cfg = &r->cfg;
    Net *net = r->net;
    progress_note(&r->progress, "evaluating on val and test", epoch + 1, cfg->epochs);
    float vl, va, tl, ta;
    if (eval_split(net, &r->val, &vl, &va, NULL) || eval_split(net, &r->test, &tl, &ta, NULL))
        return err_set(e, "evaluation failed: %s", net_error(net));
    if (net_sync_host(net, &r->opt, e)) return -1; /* the checks and checkpoints read the host copy */
    const char *bad = !isfinite(vl)                           ? "validation loss"
                      : !isfinite(tl)                         ? "test loss"
                      : !all_finite(net->params, net->n_params) ? "weights"
                      : !all_finite(net->state, net->n_state)   ? "BN moving statistics"
                                                                : NULL;
    if (bad && epoch > 0)
        return err_set(e, "epoch %d: the %s became NaN or infinite, training diverged; the last "
                          "good checkpoint (epoch %d) is kept in %s",
                       epoch + 1, bad, epoch, r->ckpt_path);
    if (bad)
        return err_set(e, "epoch 1: the %s became NaN or infinite, training diverged before "
                          "the first checkpoint", bad);
    t->val_loss = vl, t->val_acc = va, t->test_loss = tl, t->test_acc = ta;
    t->seconds = now_seconds() - r->epoch_t0;
    r->ri.n_history = epoch + 1;
    r->ri.wall_seconds = now_seconds() - r->wall0;
    if (write_history(cfg->out_dir, r->hist, epoch + 1, e) ||
        write_curves(cfg->out_dir, r->hist, epoch + 1, e) ||
        save_checkpoints(cfg, net, &r->opt, epoch + 1, e) || write_run_json(&r->ri, e))
        return -1;
    progress_break(&r->progress);
    if (!cfg->quiet) {
        printf("epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  "
               "test loss %.4f acc %.4f  %.1f s\n",
               t->epoch, cfg->epochs, t->train_loss, t->train_acc, t->val_loss, t->val_acc,
               t->test_loss, t->test_acc, t->seconds);
        fflush(stdout);
    }
    return 0;
}

int train_run(const TrainConfig *cfg, const Cifar10 *data, TrainResult *res, Err *e) {
    if (res) memset(res, 0, sizeof *res);
    Run r;
    int rc = train_open(&r, cfg, data, e);
    for (int epoch = r.start_epoch; rc == 0 && epoch < r.cfg.epochs; epoch++) {
        rc = train_epoch(&r, epoch, &r.hist[epoch], e);
        if (rc == 0) rc = end_of_epoch(&r, epoch, &r.hist[epoch], e);
        /* a stop asked for during the last epoch finds the run complete */
        if (rc == 0 && train_stop_requested() && epoch + 1 < r.cfg.epochs) rc = TRAIN_STOPPED;
    }
    progress_break(&r.progress);
    if (rc >= 0) {
        r.ri.status = rc == TRAIN_STOPPED ? "interrupted" : "complete";
        r.ri.wall_seconds = now_seconds() - r.wall0;
        if (write_run_json(&r.ri, e)) rc = -1;
    }
    if (rc >= 0) {
        fill_result(res, r.hist, r.ri.n_history, r.ri.wall_seconds, rc == TRAIN_STOPPED,
                    r.net->k->name);
        if (res) net_describe_device(r.net, res->device, sizeof res->device);
    }
    run_close(&r);
    return rc;
}
