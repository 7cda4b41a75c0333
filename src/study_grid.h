/* study_grid.h - the study's cells and grid, shared by study.c (which fills
 * them) and report.c (which turns them into the report). Internal to the
 * study. */
#ifndef AUGPROBE_STUDY_GRID_H
#define AUGPROBE_STUDY_GRID_H

#include <stdint.h>

#include "importance.h"
#include "probe.h"
#include "study.h"

/* One finished probe. */
typedef struct Cell {
    int have;
    int dim;                       /* features per image */
    double accuracy, acc_lo, acc_hi;
    double threshold, thr_lo, thr_hi, thr_beta;
    PsyWhere thr_where;
    double train_loss, train_accuracy;
    ProbeCount a_more, b_more;
    int pairs_train, ties_train, pairs_test, ties_test;
    int n_gaps;
    float gap[PROBE_MAX_GAPS];
    ProbeCount by_gap[PROBE_MAX_GAPS];
    double head_seconds, features_seconds;
    uint8_t *outcome;              /* [pairs_test]: 1 ranked right (owned) */
} Cell;

/* The importance probes of one (seed, network, family, mode) (importance.h):
 * linear heads on the selected taps together and without each of them, in
 * grid tap order. */
typedef struct ImpCell {
    int have;
    ImportanceFit f;
    double head_seconds, features_seconds; /* its heads; its share of the group's passes */
} ImpCell;

typedef struct Grid {
    const StudyConfig *c;
    Cell *cells;                   /* [seed-1][net][family][mode][tap][head] */
    ImpCell *imp;                  /* [seed-1][net][family][mode] (trained and random nets) */
    Cell notebook[STUDY_HEADS];    /* seed 1, aug, zoom at 0.5..0.9, same, flatten */
    int nets[STUDY_NETS], n_nets;  /* selected, in grid order */
    int fams[STUDY_FAMILIES], n_fams;
    int taps[STUDY_TAPS], n_taps;
    int imp_taps[STUDY_TAPS], n_imp; /* the selected taps the importance probes take: all
                                        but those the same as another selected one */
    int modes[STUDY_MODES], n_modes;
    int n_val, n_test;             /* images probed per split */
} Grid;

Cell *grid_cell(const Grid *g, int seed, int net, int fam, int mode, int tap, int head);
ImpCell *grid_imp(const Grid *g, int seed, int net, int fam, int mode);
/* Whether the grid has importance probes: 2 or more importance taps. */
int study_has_importance(const Grid *g);
/* The selected taps the importance probes take, in order, into taps: all
 * but one that is the same as another selected tap (StudyTap.same_as).
 * Returns how many. */
int study_importance_taps(const StudyConfig *c, int *taps);
/* The tap slot labelled "flatten" (the notebook's tap), or -1. */
int study_notebook_tap(const StudyConfig *c);
/* pixels and stats: no network, one input (stored at tap slot 0). */
int study_is_floor(int net);
/* Whether the grid has the notebook's cell (aug, zoom, flatten, same mode). */
int study_has_notebook(const Grid *g);
/* The ladder of family `fam` (aug_ladder_levels). */
int study_levels(int fam, float *levels);
/* The layer a cell's features come from: a tap label, or "pixels"/"stats". */
const char *study_cell_layer(const StudyConfig *c, int net, int tap);
/* The family names (study_family_names()). */
#define STUDY_FAMILY_NAME(f) (study_family_names()[f])

/* A cell as JSON (no outcome, no settings), for results.json. */
struct cJSON;
struct cJSON *study_cell_json(const StudyConfig *c, const Cell *x, int seed, int net, int fam,
                              int mode, int tap, int head, int notebook);

/* report.c: aggregates, intervals, paired differences, importance shares,
 * findings; writes report.md, results.json, results.csv, depth.png and
 * importance.png (preview.png is written by the caller first). */
typedef struct StudyClock {
    double wall0, cpu0; /* study_run's start: now_seconds(), process CPU seconds */
} StudyClock;
double study_cpu_seconds(void);
int study_report(const Grid *g, const Cifar10 *data, const StudyStats *st, StudyClock clock,
                 Err *e);

#endif
