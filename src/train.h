/* train.h - training the classifier (the notebook's recipe) and evaluating
 * it: the epoch loop with Keras semantics, per-epoch metrics and history,
 * checkpoints after every epoch, exact resumption, and the files of a run
 * directory (model.safetensors, checkpoint.safetensors, history.csv,
 * curves.png, run.json). Used by `augprobe train`/`eval` and by `study`.
 *
 * A step (train.c, train_step) is: the next batch's indices and
 * augmentation parameters, net_forward_images (augments and runs forward,
 * on the CPU or the device), softmax_xent, net_update (zero grads,
 * backward, Adam). train_run opens the run (train_open: checks, network,
 * resume, placement), runs each epoch (train_epoch) and ends it
 * (end_of_epoch: evaluation, checks, files).
 *
 * Randomness, all from cfg->seed, independent of the thread count:
 *   init:     net_init(net, seed)
 *   order:    rng_stream(seed, rng_mix(RNG_TAG_SHUFFLE, epoch))
 *   augment:  aug_draw_batch(..., seed, rng_mix(RNG_TAG_AUGMENT, epoch), ...)
 *   dropout:  rng_stream(seed, rng_mix(RNG_TAG_DROPOUT, global_step))
 * (epoch counts from 0, global_step is Adam's step count before the step). */
#ifndef AUGPROBE_TRAIN_H
#define AUGPROBE_TRAIN_H

#include <stdint.h>

#include "checkpoint.h"
#include "cifar10.h"
#include "common.h"
#include "net.h"

#define TRAIN_DEFAULT_AUG "hflip,vflip,zoom=0.5:1.0"

typedef struct TrainConfig {
    int epochs;          /* total epochs to reach (resume: may extend); default 50 */
    int batch;           /* default 32 */
    int eval_batch;      /* batch of val/test evaluation; default 128 */
    char aug[256];       /* augmentation spec (augment.h); "" = none */
    int limit;           /* train on the first `limit` of data->train; 0 = all */
    int eval_limit;      /* evaluate on the first `eval_limit` of val/test; 0 = all */
    float lr;            /* Adam learning rate; default 1e-3 (Keras) */
    int lr_cosine;       /* 0: lr throughout (the notebook); 1: lr annealed to 0 over
                            the run's steps (train_lr_at) */
    uint64_t seed;       /* init, order, augmentation, dropout */
    uint64_t split_seed; /* the seed data was split with (recorded, for eval) */
    int threads;         /* OpenMP threads; <= 0: OpenMP's current maximum */
    char kernels[32];    /* kernels_by_name(); "" or "auto" = fastest */
    char device[16];     /* net_place(): "cpu" (default), "cuda", "auto", "emulated" */
    char arch[256];      /* --arch: a built-in network or a network file; "" = seed_cnn */
    const char *out_dir; /* the run directory (created) */
    int resume;          /* continue from out_dir/checkpoint.safetensors */
    int quiet;           /* no progress and no per-epoch lines */
} TrainConfig;

/* One row of history.csv. Losses are means over examples; accuracies in [0,1]. */
typedef struct TrainEpoch {
    int epoch; /* 1-based, as Keras prints it */
    double train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, seconds;
} TrainEpoch;

typedef struct TrainResult {
    int epochs_done;      /* epochs completed and checkpointed */
    int n_history;        /* == epochs_done */
    TrainEpoch *history;  /* n_history rows (free with train_result_free) */
    TrainEpoch final;     /* the last row (zeros when none) */
    double wall_seconds;  /* this invocation's wall time */
    int interrupted;      /* stopped by train_request_stop / SIGINT / SIGTERM */
    char kernels[32];     /* kernels actually used */
    char device[160];     /* where it ran: "cpu (avx512)", "cuda: NVIDIA H200 ..." */
} TrainResult;

/* Return value of train_run when it stopped early on request. */
enum { TRAIN_STOPPED = 1 };

/* Defaults: the seed's recipe (50 epochs, batch 32, TRAIN_DEFAULT_AUG,
 * lr 1e-3, seed 1, out_dir "runs/train"). */
void train_config_default(TrainConfig *cfg);

/* Trains cfg->arch (default seed_cnn) on data->train (split already made by the
 * caller), evaluating on data->val and data->test after every epoch, and
 * writes the run directory. Returns 0 when all epochs are done,
 * TRAIN_STOPPED when a stop was requested (the last completed epoch's
 * checkpoint is kept; res->interrupted = 1), or -1 with e set (bad config,
 * I/O error, non-finite loss: the last good checkpoint is kept). With
 * cfg->resume, the checkpoint's config must match cfg except for epochs
 * (>= epochs done), threads, kernels and quiet; the result is then
 * bit-identical to an uninterrupted run (same threads and kernels).
 * res may be NULL. */
int train_run(const TrainConfig *cfg, const Cifar10 *data, TrainResult *res, Err *e);
void train_result_free(TrainResult *res);

/* The fields of a config that define a run (what a resume must not change). */
enum {
    TRAIN_CFG_AUG = 1 << 0,
    TRAIN_CFG_BATCH = 1 << 1,
    TRAIN_CFG_EVAL_BATCH = 1 << 2,
    TRAIN_CFG_LIMIT = 1 << 3,
    TRAIN_CFG_EVAL_LIMIT = 1 << 4,
    TRAIN_CFG_LR = 1 << 5,
    TRAIN_CFG_SEED = 1 << 6,
    TRAIN_CFG_SPLIT_SEED = 1 << 7,
    TRAIN_CFG_ARCH = 1 << 8,
    TRAIN_CFG_LR_SCHEDULE = 1 << 9,
    TRAIN_CFG_EPOCHS = 1 << 10, /* may grow, not shrink; not at all when cosine */
    TRAIN_CFG_ALL = (1 << 11) - 1,
};
/* The one check of a config against a checkpoint's (got, epochs_done of
 * its epochs done): the first of the fields in `which` where want and got
 * differ, as one line naming the flag, both values and path ("--batch 64
 * conflicts with the checkpoint's 32 (DIR/checkpoint.safetensors)"). Epochs
 * differ when want->epochs < epochs_done, or, when got's schedule is cosine
 * (whose rate depends on the run's length), when want->epochs != got->epochs.
 * 0 when they agree. */
int train_config_check(const TrainConfig *want, const TrainConfig *got, int epochs_done,
                       unsigned which, const char *path, Err *e);
/* The rule train_config_check words: the first TRAIN_CFG_* field of
 * `which` where want and got differ (in the order aug, batch, eval batch,
 * limit, eval limit, lr, schedule, seed, split seed, arch, epochs), 0 when
 * none does; for callers that name the fields by their own flags (study). */
unsigned train_config_diff(const TrainConfig *want, const TrainConfig *got, int epochs_done,
                           unsigned which);
/* The learning rate of the step after `step` steps of a run of `steps`:
 * cfg->lr, or with cfg->lr_cosine lr * (1 + cos(pi * step / steps)) / 2
 * (SGDR's cosine annealing without restarts, from lr at the first step
 * towards 0 at the last). A function of the step count alone, so a resumed
 * run continues the same curve. */
float train_lr_at(const TrainConfig *cfg, int64_t step, int64_t steps);
/* "cosine" or "constant" (--lr-schedule). */
const char *train_lr_schedule_name(int lr_cosine);
/* The split seed a model was trained with, from its stored config (the
 * one reader of it); fallback when the file records none. */
uint64_t train_split_seed(const CheckpointMeta *meta, uint64_t fallback);

/* The output-directory check: creates dir, and fails early, with one
 * clear line, when it cannot be created or written. */
int train_check_out_dir(const char *dir, Err *e);

/* 1 when dir/run.json says the run is complete after `epochs` epochs: its
 * last write happened. A kill between the last checkpoint and that write
 * leaves a checkpoint that is done but a run.json that says "running"
 * (and, before the epoch's own run.json, the previous epoch's figures);
 * `train --resume` then only rewrites run.json. */
int train_run_complete(const char *dir, int epochs);

/* Reads the config and the number of completed epochs stored in
 * dir/checkpoint.safetensors (for --resume: fill in flags not given).
 * out_dir, resume and quiet are left as they are in cfg. */
int train_read_checkpoint_config(const char *dir, TrainConfig *cfg, int *epochs_done, Err *e);

/* Creates the seed CNN for batches up to max_batch with the named kernels
 * ("" / NULL / "auto": fastest). */
Net *train_net_create(int max_batch, int threads, const char *kernels, Err *e);
/* The same for arch: a built-in name or a network file (arch.h; NULL or ""
 * the default, arch_or_default), on CIFAR-10's 32x32x3 images; its output
 * must have 10 values. */
Net *train_net_create_arch(const char *arch, int max_batch, int threads, const char *kernels,
                           Err *e);
/* The network a model file goes into: arch's (a built-in name or a
 * network file) when arch is not NULL, else the one path records
 * (checkpoint_read_arch), else (path NULL or a header that cannot be read,
 * so that loading it names the problem) the seed CNN. 0, or -1 with e set
 * (arch_load's error). */
int train_model_arch(const char *path, const char *arch, Arch *a, Err *e);
/* The network a model or checkpoint file records (checkpoint_read_arch;
 * the seed CNN for path NULL or a file whose header cannot be read, so
 * that loading it names the problem), with its parameters still zero. */
Net *train_model_net(const char *path, int max_batch, int threads, const char *kernels,
                     Err *e);
/* Creates the network a model or checkpoint file records and loads the file into it; meta
 * (may be NULL) receives its metadata (extra: the training config JSON). */
Net *train_load_model(const char *path, int max_batch, int threads, const char *kernels,
                      CheckpointMeta *meta, Err *e);

/* The same with the network arch (NULL: the one the file records). */
Net *train_load_model_arch(const char *path, const char *arch, int max_batch, int threads,
                           const char *kernels, CheckpointMeta *meta, Err *e);

/* Evaluates net in inference mode on every image of set, in batches of
 * net->max_batch: mean softmax cross-entropy, accuracy, and (confusion may
 * be NULL) the confusion matrix [true][predicted], overwritten. Returns 0
 * (-1 only if the net cannot run a batch, which net_create rules out). */
int eval_split(Net *net, const ImageSet *set, float *loss, float *acc,
               int confusion[CIFAR_CLASSES][CIFAR_CLASSES]);

/* Stop requests: the SIGINT/SIGTERM handlers installed by
 * train_catch_signals() set a flag that train_run checks after every step
 * (the one piece of global state, see train.c). */
void train_catch_signals(void);
void train_request_stop(void);
void train_clear_stop(void);
int train_stop_requested(void);

#endif
