/* study_mpi.c - the study over MPI (see study_sched.h): a dynamic queue of
 * the study's tasks shared by N ranks, every rank computing.
 *
 * Rank 0's main thread is the coordinator: it answers the other ranks'
 * requests (MPI point-to-point, polled with MPI_Iprobe so it sleeps between
 * them) and feeds a compute thread of its own through a mutex, so rank 0
 * computes too while only its main thread calls MPI (MPI_THREAD_FUNNELED).
 * Ranks 1..N-1 send "done with task k (rc)" and receive the next task index
 * or -1 (quit); they wait with MPI_Test and short sleeps, not spinning.
 * Only the standard MPI API is used (Open MPI and MPICH alike).
 *
 * Built with -DAUGPROBE_MPI by mpicc where the Makefile finds one; without
 * it the same file provides stubs: a study then runs in one process, and a
 * launch by mpirun is refused (N copies would all run the whole grid). */
#define _POSIX_C_SOURCE 200809L
#include "study_sched.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study.h"
#include "train.h"

/* ---- pure helpers (always built) ---- */

static int parse_rank(const char *s) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 1 << 20) return -1;
    return (int)v;
}

int study_local_rank(const char *ompi, const char *slurm, const char *mpich, int shm_rank) {
    const char *src[3] = {ompi, slurm, mpich};
    for (int i = 0; i < 3; i++) {
        int v = parse_rank(src[i]);
        if (v >= 0) return v;
    }
    return shm_rank >= 0 ? shm_rank : 0;
}

int study_gpu_choice(int local_rank, const char *visible, int n_gpus, char *out, size_t cap) {
    if (local_rank < 0) local_rank = 0;
    int w;
    if (visible && *visible) {
        int count = 1;
        for (const char *p = visible; *p; p++) count += *p == ',';
        int want = local_rank % count;
        const char *p = visible;
        for (int i = 0; i < want; i++) p = strchr(p, ',') + 1;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len + 1 > cap) return -1;
        memcpy(out, p, len);
        out[len] = 0;
        return 0;
    }
    w = snprintf(out, cap, "%d", n_gpus > 0 ? local_rank % n_gpus : local_rank);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* The launcher's world size from its environment (Open MPI, MPICH/Hydra,
 * PMIx, Slurm's PMI); 0 when not launched by one. */
static int launcher_size(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
                                 "SLURM_STEP_NUM_TASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        int v = parse_rank(getenv(vars[i]));
        if (v > 0) return v;
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 1 : 0;
}

#ifndef AUGPROBE_MPI

int study_mpi_built(void) { return 0; }
int study_mpi_begin(const char *device, Err *e) {
    (void)device;
    int n = launcher_size();
    if (n > 1)
        return err_set(e, "launched as %d MPI ranks, but this augprobe was built without MPI "
                          "(install libopenmpi-dev or MPICH and rebuild; `augprobe info` says)",
                       n);
    return 0;
}
void study_mpi_end(void) {}
void study_mpi_abort(int code) { (void)code; }
int study_mpi_active(void) { return 0; }
int study_mpi_rank(void) { return 0; }
int study_mpi_size(void) { return 1; }
int sched_mpi(SchedRun *r, Err *e) {
    (void)r;
    return err_set(e, "built without MPI");
}

#else

#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

static int g_active, g_rank, g_size = 1;

int study_mpi_built(void) { return 1; }
int study_mpi_active(void) { return g_active; }
int study_mpi_rank(void) { return g_rank; }
int study_mpi_size(void) { return g_size; }

/* GPUs the NVIDIA driver shows on this node (one directory each). */
static int count_gpus(void) {
    DIR *d = opendir("/proc/driver/nvidia/gpus");
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

int study_mpi_begin(const char *device, Err *e) {
    if (!launcher_size()) return 0;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return err_set(e, "MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED) {
        MPI_Finalize();
        return err_set(e, "the MPI library does not support threads (MPI_THREAD_FUNNELED)");
    }
    g_active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    int want = launcher_size();
    if (g_size == 1 && want > 1) {
        /* e.g. srun without the site's PMI: N singletons would each run the grid */
        MPI_Finalize();
        g_active = 0;
        return err_set(e, "started as %d tasks but MPI sees 1 rank (with Slurm try srun "
                          "--mpi=pmix or --mpi=pmi2)", want);
    }
    if (!strcmp(device, "cuda") || !strcmp(device, "auto")) {
        MPI_Comm node;
        int shm_rank = -1;
        if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
            MPI_SUCCESS) {
            MPI_Comm_rank(node, &shm_rank);
            MPI_Comm_free(&node);
        }
        int local = study_local_rank(getenv("OMPI_COMM_WORLD_LOCAL_RANK"), getenv("SLURM_LOCALID"),
                                     getenv("MPI_LOCALRANKID"), shm_rank);
        char gpu[64];
        if (study_gpu_choice(local, getenv("CUDA_VISIBLE_DEVICES"), count_gpus(), gpu,
                             sizeof gpu) == 0)
            setenv("CUDA_VISIBLE_DEVICES", gpu, 1); /* before CUDA is first touched */
    }
    return 0;
}

void study_mpi_end(void) {
    if (g_active) MPI_Finalize();
    g_active = 0;
}

void study_mpi_abort(int code) {
    if (g_active) MPI_Abort(MPI_COMM_WORLD, code);
}

enum { TAG_REQ = 17, TAG_TASK = 18, FIELDS = 6 };

/* A rank's report of its last task (task -1: the first request). */
typedef struct Req {
    int task, rc;
    double seconds;
    char msg[sizeof(((Err *)0)->msg)];
} Req;

static void nap(void) {
    struct timespec ts = {0, 2000000}; /* 2 ms */
    nanosleep(&ts, NULL);
}

static int bcast_tasks(SchedRun *r) {
    int n = r->n;
    MPI_Bcast(&n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int *buf = xmalloc((size_t)(n > 0 ? n : 1) * FIELDS * sizeof(int));
    if (g_rank == 0)
        for (int i = 0; i < n; i++) {
            const SchedTask *t = &r->tasks[i];
            int *b = buf + (size_t)i * FIELDS;
            b[0] = t->kind, b[1] = t->seed, b[2] = t->net, b[3] = t->slot, b[4] = t->dep;
            b[5] = (int)t->mask;
        }
    MPI_Bcast(buf, n * FIELDS, MPI_INT, 0, MPI_COMM_WORLD);
    if (g_rank != 0) {
        r->n = n;
        r->tasks = xcalloc((size_t)(n > 0 ? n : 1), sizeof(SchedTask));
        for (int i = 0; i < n; i++) {
            const int *b = buf + (size_t)i * FIELDS;
            r->tasks[i] = (SchedTask){b[0], b[1], b[2], b[3], b[4], (unsigned)b[5], 0};
        }
    }
    free(buf);
    return n;
}

/* A test hook: AUGPROBE_MPI_KILL=R:K kills rank R (SIGKILL) as it starts
 * its K-th task, to test that a dead rank ends the job mid-run. */
static void maybe_die(int started) {
    const char *s = getenv("AUGPROBE_MPI_KILL");
    int r, k;
    if (s && sscanf(s, "%d:%d", &r, &k) == 2 && r == g_rank && started >= k) raise(SIGKILL);
}

/* ---- ranks 1..N-1 ---- */

static int worker(SchedRun *r, Err *e) {
    Req q;
    memset(&q, 0, sizeof q);
    q.task = -1;
    int own_rc = 0, started = 0;
    for (;;) {
        MPI_Send(&q, (int)sizeof q, MPI_BYTE, 0, TAG_REQ, MPI_COMM_WORLD);
        int k;
        MPI_Request rq;
        MPI_Irecv(&k, 1, MPI_INT, 0, TAG_TASK, MPI_COMM_WORLD, &rq);
        for (int flag = 0;;) {
            MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
            if (flag) break;
            nap();
        }
        if (k < 0 || k >= r->n) break;
        maybe_die(++started);
        double t0 = now_seconds();
        Err te = {{0}};
        int rc = r->run(r->ctx, &r->tasks[k], &te);
        if (rc == 0 && train_stop_requested()) rc = STUDY_STOPPED;
        q.task = k;
        q.rc = rc;
        q.seconds = now_seconds() - t0;
        snprintf(q.msg, sizeof q.msg, "%s", rc == -1 ? te.msg : "");
        if (rc == -1) {
            own_rc = -1;
            *e = te;
        }
    }
    return own_rc;
}

/* ---- rank 0: the coordinator and its compute thread ---- */

typedef struct Local {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    SchedRun *r;
    int task;     /* assigned, -1 none */
    int quit;
    int has_result, result_task, result_rc;
    double result_seconds;
    Err err;
} Local;

static void *local_main(void *arg) {
    Local *L = arg;
    int started = 0;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        while (L->task < 0 && !L->quit) pthread_cond_wait(&L->cv, &L->mu);
        int k = L->task, quit = L->quit;
        pthread_mutex_unlock(&L->mu);
        if (k < 0 && quit) break;
        maybe_die(++started);
        double t0 = now_seconds();
        Err te = {{0}};
        int rc = L->r->run(L->r->ctx, &L->r->tasks[k], &te);
        if (rc == 0 && train_stop_requested()) rc = STUDY_STOPPED;
        double secs = now_seconds() - t0;
        pthread_mutex_lock(&L->mu);
        L->task = -1;
        L->has_result = 1;
        L->result_task = k;
        L->result_rc = rc;
        L->result_seconds = secs;
        L->err = te;
        pthread_mutex_unlock(&L->mu);
    }
    return NULL;
}

static int coordinator(SchedRun *r, Err *e) {
    int n = r->n, size = g_size;
    signed char *state = xcalloc((size_t)(n > 0 ? n : 1), 1);
    char *idle = xcalloc((size_t)size, 1); /* ranks waiting for a task (0: the local thread) */
    Local L;
    memset(&L, 0, sizeof L);
    L.r = r;
    L.task = -1;
    pthread_mutex_init(&L.mu, NULL);
    pthread_cond_init(&L.cv, NULL);
    pthread_t th;
    int err = pthread_create(&th, NULL, local_main, &L);
    if (err) {
        /* cannot compute here: end the job rather than deadlock */
        fprintf(stderr, "augprobe study: cannot start a thread: %s\n", strerror(err));
        MPI_Abort(MPI_COMM_WORLD, EXIT_FAIL);
    }
    idle[0] = 1;
    int running = 0, done = 0, stopping = 0, rc = 0;
    int asked = 1; /* ranks heard from at least once (the local thread counts) */
    for (;;) {
        /* reports from the other ranks */
        for (;;) {
            int flag = 0;
            MPI_Status stt;
            MPI_Iprobe(MPI_ANY_SOURCE, TAG_REQ, MPI_COMM_WORLD, &flag, &stt);
            if (!flag) break;
            Req q;
            MPI_Recv(&q, (int)sizeof q, MPI_BYTE, stt.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            int src = stt.MPI_SOURCE;
            if (q.task < 0)
                asked++;
            else if (q.task < n) {
                state[q.task] = 2;
                running--;
                done++;
                r->task_seconds[q.task] = q.seconds;
                r->task_rank[q.task] = src;
                r->rank_busy[src] += q.seconds;
                if (q.rc) stopping = 1;
                if (q.rc == -1 && rc != -1) {
                    rc = -1;
                    err_set(e, "rank %d: %s", src, q.msg);
                } else if (q.rc == STUDY_STOPPED && rc == 0)
                    rc = STUDY_STOPPED;
            }
            idle[src] = 1;
        }
        /* the local thread */
        pthread_mutex_lock(&L.mu);
        if (L.has_result) {
            int k = L.result_task;
            L.has_result = 0;
            state[k] = 2;
            running--;
            done++;
            r->task_seconds[k] = L.result_seconds;
            r->task_rank[k] = 0;
            r->rank_busy[0] += L.result_seconds;
            if (L.result_rc) stopping = 1;
            if (L.result_rc == -1 && rc != -1) {
                rc = -1;
                *e = L.err;
            } else if (L.result_rc == STUDY_STOPPED && rc == 0)
                rc = STUDY_STOPPED;
            idle[0] = 1;
        }
        pthread_mutex_unlock(&L.mu);
        if (train_stop_requested() && !stopping) {
            stopping = 1;
            if (rc == 0) rc = STUDY_STOPPED;
        }
        /* hand out ready tasks */
        for (int q = 0; q < size && !stopping; q++) {
            if (!idle[q]) continue;
            int k = sched_next_ready(r->tasks, n, state);
            if (k < 0) break;
            state[k] = 1;
            running++;
            idle[q] = 0;
            if (q == 0) {
                pthread_mutex_lock(&L.mu);
                L.task = k;
                pthread_cond_signal(&L.cv);
                pthread_mutex_unlock(&L.mu);
            } else
                MPI_Send(&k, 1, MPI_INT, q, TAG_TASK, MPI_COMM_WORLD);
        }
        if (running == 0 && asked == size && (stopping || done == n)) break;
        if (running == 0 && asked == size && sched_next_ready(r->tasks, n, state) < 0) break;
        nap();
    }
    int quit = -1;
    for (int q = 1; q < size; q++) MPI_Send(&quit, 1, MPI_INT, q, TAG_TASK, MPI_COMM_WORLD);
    pthread_mutex_lock(&L.mu);
    L.quit = 1;
    pthread_cond_signal(&L.cv);
    pthread_mutex_unlock(&L.mu);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&L.mu);
    pthread_cond_destroy(&L.cv);
    free(state);
    free(idle);
    return rc;
}

int sched_mpi(SchedRun *r, Err *e) {
    bcast_tasks(r);
    r->ranks = g_size;
    r->rank_busy = xcalloc((size_t)g_size, sizeof(double));
    r->task_seconds = xcalloc((size_t)(r->n > 0 ? r->n : 1), sizeof(double));
    r->task_rank = xcalloc((size_t)(r->n > 0 ? r->n : 1), sizeof(int));
    for (int i = 0; i < r->n; i++) {
        r->task_seconds[i] = NAN;
        r->task_rank[i] = -1;
    }
    int rc = g_rank == 0 ? coordinator(r, e) : worker(r, e);
    /* the common outcome: rank 0's (it heard every rank) */
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rc == -1 && g_rank != 0 && !e->msg[0]) err_set(e, "another rank failed");
    if (r->n_counters > 0) {
        int *sum = xcalloc((size_t)r->n_counters, sizeof(int));
        MPI_Reduce(r->counters, sum, r->n_counters, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
        if (g_rank == 0) memcpy(r->counters, sum, (size_t)r->n_counters * sizeof(int));
        free(sum);
    }
    return rc;
}

#endif
