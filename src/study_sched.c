/* study_sched.c - the serial executor of the study's task list and the
 * list-scheduling simulation behind `study --plan` (see study_sched.h). */
#include "study_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "study.h"
#include "train.h"

int sched_next_ready(const SchedTask *t, int n, const signed char *state) {
    for (int i = 0; i < n; i++)
        if (state[i] == 0 && (t[i].dep < 0 || state[t[i].dep] == 2)) return i;
    return -1;
}

static void run_outputs(SchedRun *r, int ranks) {
    r->ranks = ranks;
    r->rank_busy = xcalloc((size_t)ranks, sizeof(double));
    r->task_seconds = xcalloc((size_t)(r->n > 0 ? r->n : 1), sizeof(double));
    r->task_rank = xcalloc((size_t)(r->n > 0 ? r->n : 1), sizeof(int));
    for (int i = 0; i < r->n; i++) {
        r->task_seconds[i] = NAN;
        r->task_rank[i] = -1;
    }
}

int sched_serial(SchedRun *r, Err *e) {
    run_outputs(r, 1);
    signed char *state = xcalloc((size_t)(r->n > 0 ? r->n : 1), 1);
    int rc = 0;
    for (;;) {
        int k = sched_next_ready(r->tasks, r->n, state);
        if (k < 0) break;
        double t0 = now_seconds();
        rc = r->run(r->ctx, &r->tasks[k], e);
        r->task_seconds[k] = now_seconds() - t0;
        r->task_rank[k] = 0;
        r->rank_busy[0] += r->task_seconds[k];
        state[k] = 2;
        if (rc == 0 && train_stop_requested()) rc = STUDY_STOPPED;
        if (rc) break;
    }
    free(state);
    return rc;
}

void sched_run_free(SchedRun *r) {
    free(r->rank_busy);
    free(r->task_seconds);
    free(r->task_rank);
    r->rank_busy = r->task_seconds = NULL;
    r->task_rank = NULL;
}

double sched_simulate(const SchedTask *t, int n, int ranks, double *total, double *critical) {
    *total = 0;
    *critical = 0;
    for (int i = 0; i < n; i++) {
        *total += t[i].cost;
        double chain = t[i].cost + (t[i].dep >= 0 ? t[t[i].dep].cost : 0);
        if (chain > *critical) *critical = chain;
    }
    if (n == 0 || ranks < 1) return 0;
    signed char *state = xcalloc((size_t)n, 1);
    double *end = xmalloc((size_t)n * sizeof(double));
    double *free_at = xcalloc((size_t)ranks, sizeof(double)); /* when each rank is next idle */
    int *doing = xmalloc((size_t)ranks * sizeof(int));
    for (int i = 0; i < ranks; i++) doing[i] = -1;
    double now = 0, makespan = 0;
    int left = n;
    while (left > 0) {
        /* finish what ends by now */
        for (int q = 0; q < ranks; q++)
            if (doing[q] >= 0 && free_at[q] <= now) {
                state[doing[q]] = 2;
                doing[q] = -1;
                left--;
            }
        /* idle ranks (lowest first) take the first ready task */
        for (int q = 0; q < ranks; q++) {
            if (doing[q] >= 0) continue;
            int k = sched_next_ready(t, n, state);
            if (k < 0) break;
            state[k] = 1;
            doing[q] = k;
            free_at[q] = now + t[k].cost;
            end[k] = free_at[q];
            if (end[k] > makespan) makespan = end[k];
        }
        /* advance to the next finish */
        double next = INFINITY;
        for (int q = 0; q < ranks; q++)
            if (doing[q] >= 0 && free_at[q] < next) next = free_at[q];
        if (next == INFINITY) break; /* nothing running, nothing ready: done */
        now = next;
    }
    free(state);
    free(end);
    free(free_at);
    free(doing);
    return makespan;
}
