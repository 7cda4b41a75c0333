/* study.h - the paper's question over a whole grid, in one call, with the
 * controls that make its answer mean something (see ../shared/docs/PROBING.md):
 *
 *   networks   aug (trained with the seed's augmentation), noaug (trained
 *              without), random (untrained: the control), and two floors
 *              that need no network: pixels (the image itself, 3,072 values)
 *              and stats (8 hand statistics, probe.h)
 * x families   zoom aspect brightness contrast saturation hue blur, each at
 *              its ladder of levels (augment.h); blur is zoom's control
 * x pair modes cross (a and b from different images: the primary answer)
 *              and same (the notebook's two copies of one image)
 * x taps       the nodes the network declares with tap=LABEL (arch.h), at
 *              most STUDY_TAPS, a spatial one averaged over space; seed_cnn's:
 *              block1_pool block2_pool block3_pool (averaged), flatten,
 *              dense1; the floors have one input each
 * x heads      linear (every cell: the primary probe) and mlp (the
 *              notebook's; every cell with --full)
 * x seeds      1..N
 *
 * plus the notebook's own cell (seed 1, aug, zoom at its levels 0.5..0.9,
 * same pairs, the tap labelled flatten, mlp and linear), and per (seed,
 * trained or untrained network, family, mode) the taps' importance: a
 * linear probe on all selected taps' features together and one without
 * each tap (importance.h). Every probe of one (seed, family,
 * mode) uses the same test pairs, so comparisons are paired; report.c turns
 * the cells into intervals, paired differences, findings and the report.
 *
 * Layout of the output directory:
 *   seed<s>/aug/, seed<s>/noaug/   training runs (train.h): reused when
 *                                  complete, resumed from their checkpoint
 *                                  when not
 *   cells/seed<s>-<net>-<family>-<mode>-<tap>-<head>.json
 *                                  one finished probe each (atomic), with
 *                                  the outcome of every test pair; a rerun
 *                                  skips every cell whose settings match
 *   cells/seed<s>-<net>-<family>-<mode>-importance-linear.json
 *                                  the importance probes of one mode
 *   report.md, results.json, results.csv, preview.png, depth.png,
 *   importance.png
 *   timings.json                   each task's seconds and rank (study --plan)
 *
 * The work is a task list (study_sched.h): the trainings, then one probe
 * group per (seed, network, family), run in one process or shared by MPI
 * ranks (study_mpi.c); the report is made from the cell files either way.
 *
 * Taps (seed_cnn): the unpooled block3_pool output is exactly `flatten`,
 * and the unpooled early blocks (8192 and 4096 values per image) would need
 * 1.6 GB of features per split at full size, hence the averages. */
#ifndef AUGPROBE_STUDY_H
#define AUGPROBE_STUDY_H

#include <stdint.h>

#include "augment.h"
#include "cifar10.h"
#include "common.h"
#include "kinds.h"
#include "probe.h"

enum {
    STUDY_NETS = 5,
    STUDY_FAMILIES = 7,
    STUDY_TAPS = 7, /* at most this many taps (a probe group's cells fit a 32-bit mask) */
    STUDY_MODES = 2,
    STUDY_HEADS = 2,
    STUDY_MAX_SEEDS = 16,
};
enum { STUDY_NET_AUG, STUDY_NET_NOAUG, STUDY_NET_RANDOM, STUDY_NET_PIXELS, STUDY_NET_STATS };
enum { STUDY_MODE_CROSS, STUDY_MODE_SAME }; /* cross first: the primary answer */
enum { STUDY_HEAD_LINEAR, STUDY_HEAD_MLP };

/* Names in grid order: networks "aug" "noaug" "random" "pixels" "stats";
 * families zoom aspect brightness contrast saturation hue blur; modes
 * cross same; heads linear mlp. Taps come from the network (StudyTap). */
extern const char *const STUDY_NET_NAMES[STUDY_NETS];
extern const AugKind STUDY_FAMILY_KINDS[STUDY_FAMILIES];
extern const char *const STUDY_MODE_NAMES[STUDY_MODES];
extern const char *const STUDY_HEAD_NAMES[STUDY_HEADS];

/* One tap of the study's network: a node declared with tap=LABEL. */
typedef struct StudyTap {
    char label[NODE_NAME_MAX]; /* names it everywhere: cells, tables, figures */
    char node[NODE_NAME_MAX];  /* the node whose output it reads */
    ProbePool pool;            /* avg for a spatial node (h*w > 1), else flatten */
    int dim;                   /* values per image */
    int same_as;               /* the tap whose values these are (a gap node on another
                                  tap's node: its average over space), else -1 */
} StudyTap;

typedef struct StudyConfig {
    const char *out_dir;  /* default "runs/study" */
    char profile[16];     /* "quick" or "full" */
    char overrides[256];  /* the knobs given on top of the profile, for the report */
    int epochs;           /* training epochs of aug and noaug */
    int lr_cosine;        /* their learning rate annealed (train_lr_at); quick: 1, full: 0 */
    int train_limit;      /* first N of the train split; 0 = all 40,000 */
    int eval_limit;       /* per-epoch val/test evaluation on the first N; 0 = all */
    int passes;           /* probe passes over each split */
    int probe_epochs;     /* epochs of the heads (linear and mlp) */
    int probe_limit;      /* first N images of val and of test probed; 0 = all */
    int seeds;            /* seeds 1..seeds: training, random init, probe */
    int mlp_all;          /* every cell also with the mlp head (--full) */
    int boot;             /* bootstrap replicates (STATS_BOOT; fewer for tests) */
    uint64_t split_seed;  /* the seed the data was split with (recorded) */
    int threads;          /* OpenMP threads (> 0) */
    char device[16];      /* net_place(): "cpu" (default), "cuda", "auto", "emulated" */
    char arch[256];       /* the network trained and probed: a built-in name or a file */
    char arch_name[64];   /* its name ("seed_cnn", or the file's base name) */
    int train_batch;      /* its training batch (study_arch_recipe) */
    StudyTap taps[STUDY_TAPS]; /* its taps, in node order (study_config_arch) */
    int n_taps;
    /* The grid: bit i selects STUDY_NET_NAMES[i] etc., taps[i] for tap_mask
     * (all by default; fewer for tests and quick looks; the report says the
     * grid is partial). */
    unsigned net_mask, family_mask, tap_mask, mode_mask;
    int quiet;            /* no progress lines */
    double data_seconds;  /* the caller's time loading the data (recorded in timings.json) */
} StudyConfig;

/* Profiles. quick: `make run`, trained networks worth probing (>= 0.60 test
 * accuracy) within 20 minutes on 2 cores: 4 epochs with the learning rate
 * cosine-annealed (aug 0.612, noaug 0.773; `make run` 16 min 48 s on 2 free
 * cores of an AMD EPYC Zen 3; 3 epochs gave aug only 0.588, 5 took 24 min
 * there; a constant rate needed 8 epochs);
 * full: the paper's settings (50 epochs at the notebook's constant rate,
 * 4 passes, 50 probe epochs, the mlp head on every cell, 3 seeds, every
 * image). Both select the whole grid. */
void study_config_quick(StudyConfig *c);
void study_config_full(StudyConfig *c);

/* --arch NAME|FILE for the study (after the profile): loads the network,
 * takes its taps (all selected) and its recipe (study_arch_recipe). 0; -1
 * with one line in e for a file with an error, a network with no taps or
 * more than STUDY_TAPS (exit 1); ARCH_NOT_FOUND for a name that is neither
 * built in nor a file (exit 2). The profiles start with seed_cnn. */
int study_config_arch(StudyConfig *c, const char *arch, Err *e);
/* The training settings of a network in study.c's table: epochs of the
 * quick and full profiles and the batch; 1, or 0 when it has no row (then
 * the profile's epochs and the notebook's batch 32, as for seed_cnn). */
int study_arch_recipe(const char *arch_name, int *epochs_quick, int *epochs_full, int *batch);
/* The tap labels of c, for study_parse_mask (--taps). */
void study_tap_labels(const StudyConfig *c, const char **labels);

/* Parses a comma-separated list of names (from `names`, n of them) into a
 * bit mask; "all" selects every one. One clear error naming the flag. */
int study_parse_mask(const char *flag, const char *text, const char *const *names, int n,
                     unsigned *mask, Err *e);
/* The family names, in grid order (for study_parse_mask). */
const char *const *study_family_names(void);

typedef struct StudyStats {
    int cells_total;    /* cells in the grid (the notebook's cells included) */
    int cells_computed; /* probed by this call */
    int cells_reused;   /* found finished in cells/ */
    int cells_stale;    /* found with other settings and recomputed */
    int nets_trained, nets_resumed, nets_reused;
    double wall_seconds, cpu_seconds;
    int ranks;                /* processes that ran the grid (MPI ranks; 1 without MPI) */
    const double *rank_busy;  /* [ranks]: seconds each spent in tasks (valid during study_run) */
    double busy_min, busy_max, busy_sum;
} StudyStats;

/* Return value of study_run when a stop was requested (SIGINT/SIGTERM via
 * train_catch_signals): finished cells and checkpoints are kept; the same
 * call again continues. */
enum { STUDY_STOPPED = 1 };

/* Refuses, before the data is read, a study whose memory need is over what
 * this machine allows (resources.h's one-line message, flag "--arch NAME"),
 * or whose feature caches of one split exceed the study's bound (a line
 * naming --probe-limit and --taps). The need: the data set, a network in
 * training (Adam, at the larger of its training and evaluation batches) or,
 * whichever is larger, the probe trunk with one probe group's caches of the
 * larger split, twice when an importance task copies them. 0 or -1. */
int study_memory_check(const StudyConfig *c, Err *e);

/* Runs the grid on data (already split with c->split_seed) and writes the
 * report. Returns 0, STUDY_STOPPED, or -1 with e set. stats may be NULL. */
int study_run(const StudyConfig *c, const Cifar10 *data, StudyStats *stats, Err *e);

/* `study --plan`: prints the task graph of the grid c selects (as on a
 * fresh --out), the unit costs assumed (from an earlier run's
 * DIR/timings.json when there is one, else constants measured on the
 * project's 2-core machine), the total work, the critical path and the
 * simulated makespan by list scheduling on `ranks` ranks (0: a table for
 * 1, 8, 64, 512). Trains nothing. n_val, n_test, n_train: the split sizes. */
int study_plan(const StudyConfig *c, int n_train, int n_val, int n_test, int ranks, Err *e);

#endif
