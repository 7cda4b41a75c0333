/* study_sched.h - the study as a task graph, and who runs it. Internal to
 * the study (study.c builds the tasks, report.c reads the ranks' times).
 *
 * Tasks: the trainings first (one per trained network the grid still needs),
 * then one probe group per (seed, network, family) with unfinished cells; a
 * group of a trained network depends on that network's training. Every
 * executor takes the first *ready* task in list order (list scheduling):
 *
 *   sched_serial   one process, the tasks in order (what a study always did)
 *   sched_mpi      (study_mpi.c) N ranks: rank 0's main thread hands out
 *                  tasks over MPI while a thread of its own computes too;
 *                  ranks 1..N-1 ask for a task, run it, report, ask again
 *   sched_simulate the same rule over estimated costs (`study --plan`)
 *
 * A task computes its cells exactly as in a serial run (same seeds, same
 * --threads), so the files do not depend on which rank made them. */
#ifndef AUGPROBE_STUDY_SCHED_H
#define AUGPROBE_STUDY_SCHED_H

#include <stddef.h>

#include "common.h"

enum { SCHED_TRAIN, SCHED_PROBE };

typedef struct SchedTask {
    int kind;      /* SCHED_TRAIN or SCHED_PROBE */
    int seed, net; /* seed 1..N, STUDY_NET_* */
    int slot;      /* probe: index into the grid's selected families, or STUDY_FAMILIES
                      for the notebook's cells */
    int dep;       /* index of the training this waits for; -1 none */
    unsigned mask; /* probe: which of the group's cells to compute (bit i = i-th of group order) */
    double cost;   /* estimated seconds (the plan only) */
} SchedTask;

/* What an executor runs: run(ctx, task) returns 0, STUDY_STOPPED, or -1
 * with e set. */
typedef struct SchedRun {
    SchedTask *tasks;  /* [n], malloc'd (on MPI ranks > 0 by sched_mpi); the caller frees it */
    int n;
    int (*run)(void *ctx, const SchedTask *t, Err *e);
    void *ctx;
    int *counters;     /* [n_counters] summed over ranks onto rank 0 at the end */
    int n_counters;
    /* out (rank 0): */
    int ranks;
    double *rank_busy;    /* [ranks]: seconds each rank spent in tasks (malloc'd) */
    double *task_seconds; /* [n]: each task's seconds, NAN if not run (malloc'd) */
    int *task_rank;       /* [n]: the rank that ran it, -1 if none (malloc'd) */
} SchedRun;

/* The first task that is pending (state 0) and whose training is done
 * (state 2); -1 when none. state: 0 pending, 1 running, 2 done. */
int sched_next_ready(const SchedTask *t, int n, const signed char *state);

/* One process, list order. Stops after a task returns non-zero or when a
 * stop was requested (train_stop_requested). */
int sched_serial(SchedRun *r, Err *e);

/* List scheduling of t[0..n) (costs in t[i].cost) on `ranks` ranks: the
 * makespan; *total = the sum of the costs, *critical = the longest chain
 * (a training plus its longest group). */
double sched_simulate(const SchedTask *t, int n, int ranks, double *total, double *critical);

void sched_run_free(SchedRun *r);

/* study.c: the whole grid's task list as on a fresh --out (every cell
 * missing), for the plan; fams[slot] = the family of probe slot `slot`.
 * Returns the number of tasks (*out malloc'd), -1 for an empty grid. */
struct StudyConfig;
int study_task_graph(const struct StudyConfig *c, SchedTask **out, int *fams);

/* ---- study_mpi.c ---- */

/* Whether this binary has MPI support compiled in. */
int study_mpi_built(void);
/* Called once by `study` before the data is loaded: under an MPI launcher
 * (mpirun, mpiexec, srun: found by its environment) initialises MPI and,
 * for device cuda/auto, chooses this rank's GPU (CUDA_VISIBLE_DEVICES).
 * Outside a launcher does nothing. -1 with e set when launched by mpirun
 * but built without MPI, or MPI fails. */
int study_mpi_begin(const char *device, Err *e);
void study_mpi_end(void);
/* Ends every rank (MPI_Abort) when MPI is active; returns otherwise. */
void study_mpi_abort(int code);
int study_mpi_active(void); /* MPI initialised by study_mpi_begin, 1+ ranks */
int study_mpi_rank(void);   /* 0 when not active */
int study_mpi_size(void);   /* 1 when not active */
/* The MPI executor (active only). All ranks call it; rank 0 with the
 * tasks. Returns the common outcome on every rank: 0, STUDY_STOPPED, -1. */
int sched_mpi(SchedRun *r, Err *e);

/* Pure helpers for the GPU choice (tested without MPI or GPU). The local
 * rank: the first valid of OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID,
 * MPI_LOCALRANKID (MPICH's Hydra), else shm_rank (MPI_Comm_split_type
 * shared), else 0. */
int study_local_rank(const char *ompi, const char *slurm, const char *mpich, int shm_rank);
/* The CUDA_VISIBLE_DEVICES value for a rank: entry local % count of an
 * existing list `visible`, else local % n_gpus (n_gpus > 0), else local.
 * Returns 0, or -1 if out is too small. */
int study_gpu_choice(int local_rank, const char *visible, int n_gpus, char *out, size_t cap);

#endif
