/* test_mpi.c - the study's task graph and its executors (study_sched.h):
 * list scheduling by hand, the GPU choice per local rank, `study --plan`;
 * and, where mpirun and an MPI build are present, a tiny grid on 3 ranks
 * byte-identical to one process, a rank killed mid-run (the job fails, the
 * rerun completes with the same bytes), and the plan against a measured run. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common.h"
#include "../src/study_sched.h"
#include "test.h"

static char out[1 << 17];

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return test_run(cmd, out, sizeof out);
}

TEST(mpi_sched_next_ready_waits_for_the_training) {
    SchedTask t[3] = {{SCHED_TRAIN, 1, 0, -1, -1, 0, 0},
                      {SCHED_PROBE, 1, 0, 0, 0, 1, 0},
                      {SCHED_PROBE, 1, 2, 0, -1, 1, 0}};
    signed char st[3] = {0, 0, 0};
    CHECK_INT_EQ(sched_next_ready(t, 3, st), 0);
    st[0] = 1; /* training running: the group that needs it waits, the other goes */
    CHECK_INT_EQ(sched_next_ready(t, 3, st), 2);
    st[2] = 1;
    CHECK_INT_EQ(sched_next_ready(t, 3, st), -1);
    st[0] = 2;
    CHECK_INT_EQ(sched_next_ready(t, 3, st), 1);
}

TEST(mpi_sched_simulate_list_scheduling_by_hand) {
    /* a training (10 s) with three groups (2 s each) after it, and two free
     * groups (5 s each) */
    SchedTask t[6] = {{SCHED_TRAIN, 1, 0, -1, -1, 0, 10}, {SCHED_PROBE, 1, 0, 0, 0, 1, 2},
                      {SCHED_PROBE, 1, 0, 1, 0, 1, 2},    {SCHED_PROBE, 1, 0, 2, 0, 1, 2},
                      {SCHED_PROBE, 1, 3, 0, -1, 1, 5},   {SCHED_PROBE, 1, 3, 1, -1, 1, 5}};
    double total, critical;
    CHECK_NEAR(sched_simulate(t, 6, 1, &total, &critical), 26, 1e-9);
    CHECK_NEAR(total, 26, 1e-9);
    CHECK_NEAR(critical, 12, 1e-9);
    /* rank 0 trains 0-10; rank 1 runs the free groups 0-5, 5-10; then the
     * three groups on two ranks: 10-12, 12-14 */
    CHECK_NEAR(sched_simulate(t, 6, 2, &total, &critical), 14, 1e-9);
    CHECK_NEAR(sched_simulate(t, 6, 8, &total, &critical), 12, 1e-9); /* the critical path */
    CHECK_NEAR(sched_simulate(t, 0, 4, &total, &critical), 0, 0);
}

TEST(mpi_local_rank_and_gpu_choice) {
    CHECK_INT_EQ(study_local_rank("3", "5", NULL, 7), 3);
    CHECK_INT_EQ(study_local_rank(NULL, "5", "6", 7), 5);
    CHECK_INT_EQ(study_local_rank("", "x", "6", 7), 6);
    CHECK_INT_EQ(study_local_rank(NULL, NULL, NULL, 7), 7);
    CHECK_INT_EQ(study_local_rank("-1", NULL, NULL, -1), 0);
    char g[16];
    CHECK(study_gpu_choice(3, NULL, 8, g, sizeof g) == 0 && !strcmp(g, "3"));
    CHECK(study_gpu_choice(9, NULL, 8, g, sizeof g) == 0 && !strcmp(g, "1")); /* 2 ranks per GPU */
    CHECK(study_gpu_choice(2, NULL, 0, g, sizeof g) == 0 && !strcmp(g, "2")); /* count unknown */
    CHECK(study_gpu_choice(1, "4,5,6", 8, g, sizeof g) == 0 && !strcmp(g, "5"));
    CHECK(study_gpu_choice(4, "4,5,6", 8, g, sizeof g) == 0 && !strcmp(g, "5"));
    CHECK(study_gpu_choice(0, "GPU-a1b2", 8, g, sizeof g) == 0 && !strcmp(g, "GPU-a1b2"));
    CHECK(study_gpu_choice(0, "GPU-a1b2c3d4e5f6a7b8", 8, g, 8) == -1);
}

TEST(mpi_plan_table_and_usage) {
    CHECK_INT_EQ(run("%s study --plan --full --threads 2", test_bin()), 0);
    CHECK_STR_CONTAINS(out, "6 trainings");
    CHECK_STR_CONTAINS(out, "critical path:");
    for (int r = 0; r < 4; r++) {
        static const char *rows[] = {"\n       1 ", "\n       8 ", "\n      64 ", "\n     512 "};
        CHECK_STR_CONTAINS(out, rows[r]);
    }
    /* the 8-rank makespan is at least the critical path and at most the 1-rank one */
    double m1 = 0, m8 = 0, crit = 0;
    const char *p = strstr(out, "critical path: ");
    REQUIRE(p && sscanf(p, "critical path: %lf", &crit) == 1);
    p = strstr(out, "\n       1 ");
    REQUIRE(p && sscanf(p, "%*d %lf", &m1) == 1);
    p = strstr(out, "\n       8 ");
    REQUIRE(p && sscanf(p, "%*d %lf", &m8) == 1);
    CHECK(m8 >= crit && m8 < m1);
    CHECK_INT_EQ(run("%s study --plan --quick --ranks 64", test_bin()), 0);
    CHECK_STR_CONTAINS(out, "\n      64 ");
    CHECK(!strstr(out, "\n     512 "));
    CHECK_INT_EQ(run("%s study --ranks 4", test_bin()), 2);
    CHECK_STR_CONTAINS(out, "--ranks goes with --plan");
    CHECK_INT_EQ(run("%s study --plan --ranks 0", test_bin()), 2);
}

/* The plan's "training image-epoch X ms, inference image Y ms" from out. */
static int unit_costs(double *train_ms, double *fwd_ms) {
    const char *p = strstr(out, "training image-epoch ");
    return p && sscanf(p, "training image-epoch %lf ms, inference image %lf ms", train_ms,
                       fwd_ms) == 2;
}

/* Forward multiply-accumulates of one 32x32x3 image (conv K*K*Cin*Cout*Ho*Wo,
 * dense In*Out). seed_cnn: 3*3*3*32*32*32 = 884,736; 3*3*32*32*32*32 =
 * 9,437,184; 3*3*32*64*16*16 = 4,718,592; 3*3*64*64*16*16 = 9,437,184;
 * 3*3*64*128*8*8 = 4,718,592; 3*3*128*128*8*8 = 9,437,184; dense 2048*1024 =
 * 2,097,152 and 1024*10 = 10,240: 40,740,864 in all. ResNet-18 for CIFAR
 * (torchvision's with a 3x3 stem and no max-pool): about 555.4 million. */
#define SEED_CNN_MACS 40740864.0
#define RESNET18_MACS 555.4e6

TEST(mpi_plan_scales_compute_by_the_networks_multiply_accumulates) {
    /* an empty --out: the constants (no earlier run's timings.json) */
    const char *dir = test_tmpdir();
    double ts, fs, tr, fr;
    REQUIRE(run("%s study --plan --quick --ranks 1 --out %s", test_bin(), dir) == 0);
    REQUIRE(unit_costs(&ts, &fs));
    CHECK_STR_CONTAINS(out, "seed_cnn: 40.7 M multiply-accumulates per image forward, 1.00x");
    REQUIRE(run("%s study --plan --quick --arch resnet18 --ranks 1 --out %s", test_bin(),
                dir) == 0);
    REQUIRE(unit_costs(&tr, &fr));
    CHECK_STR_CONTAINS(out, "resnet18: 555.4 M multiply-accumulates per image forward, 13.63x "
                            "seed_cnn's 40.7 M");
    const double ratio = RESNET18_MACS / SEED_CNN_MACS;
    fprintf(stderr, "  training image %.3g -> %.3g ms, inference image %.3g -> %.3g ms (x%.2f)\n",
            ts, tr, fs, fr, ratio);
    CHECK_NEAR(tr / ts / ratio, 1, 0.01);
    CHECK_NEAR(fr / fs / ratio, 1, 0.01);
}

/* DIR/timings.json of a one-training run (arch: its "arch", NULL: none). */
static void write_timings(const char *dir, const char *arch) {
    char *path = path_join(dir, "timings.json");
    FILE *f = fopen(path, "w");
    free(path);
    REQUIRE(f);
    char key[64] = "";
    if (arch) snprintf(key, sizeof key, "\"arch\": \"%s\", ", arch);
    fprintf(f, "{%s\"ranks\": 1, \"threads\": 1, \"study_wall_seconds\": 700, "
               "\"data_seconds\": 1.5, \"work\": {\"epochs\": 1, \"train_limit\": 1000, "
               "\"eval_limit\": 100, \"passes\": 1, \"probe_epochs\": 1, \"probe_limit\": 100, "
               "\"mlp_all\": 0}, \"tasks\": [{\"kind\": \"train\", \"seed\": 1, "
               "\"network\": \"aug\", \"rank\": 0, \"seconds\": 600}]}\n",
            key);
    REQUIRE(fclose(f) == 0);
}

/* `study --plan --quick` of arch for 1 rank at 1 thread (the file's) with --out dir. */
static int plan_1(const char *arch, const char *dir) {
    return run("%s study --plan --quick --arch %s --ranks 1 --threads 1 --out %s", test_bin(),
               arch, dir);
}

TEST(mpi_plan_takes_an_earlier_runs_timings_only_for_its_network) {
    const char *dir = test_tmpdir();
    double t0, f0, t, f;
    REQUIRE(plan_1("resnet18", dir) == 0);
    REQUIRE(unit_costs(&t0, &f0)); /* the constants, scaled (--out still empty) */
    /* a file without "arch" (written before it was recorded) is seed_cnn's */
    write_timings(dir, NULL);
    REQUIRE(plan_1("seed_cnn", dir) == 0);
    CHECK_STR_CONTAINS(out, "scaled to the task times of the earlier run");
    REQUIRE(plan_1("resnet18", dir) == 0);
    CHECK(!strstr(out, "scaled to the task times"));
    REQUIRE(unit_costs(&t, &f));
    CHECK(t == t0 && f == f0);
    write_timings(dir, "seed_cnn");
    REQUIRE(plan_1("resnet18", dir) == 0);
    CHECK(!strstr(out, "scaled to the task times"));
    /* a resnet18 run's times are resnet18's plan's, and not seed_cnn's */
    write_timings(dir, "resnet18");
    REQUIRE(plan_1("resnet18", dir) == 0);
    CHECK_STR_CONTAINS(out, "scaled to the task times of the earlier run");
    REQUIRE(unit_costs(&t, &f));
    CHECK(t != t0);
    REQUIRE(plan_1("seed_cnn", dir) == 0);
    CHECK(!strstr(out, "scaled to the task times"));
}

/* ---- end to end under mpirun ---- */

#define TINY "--train-limit 64 --epochs 1 --eval-limit 16 --probe-limit 8 --passes 1 " \
             "--probe-epochs 1 --bootstrap 100 --threads 1 --networks aug,random,pixels "  \
             "--families brightness,blur --taps block1_pool,dense1 --quiet"
/* Open MPI's mpirun needs these to run more ranks than cores, and as root
 * (CI); MPICH's takes neither flag and needs neither. */
static const char *mpirun(void) {
    static char cmd[256];
    if (!cmd[0]) {
        int ompi = test_run("mpirun --version 2>&1 | grep -q 'Open MPI'", out, sizeof out) == 0;
        snprintf(cmd, sizeof cmd, "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                                  "mpirun%s",
                 ompi ? " --allow-run-as-root --oversubscribe" : "");
    }
    return cmd;
}

/* Why the MPI tests cannot run here, or NULL. */
static const char *mpi_missing(void) {
    if (!test_data_dir()) return "no offline CIFAR-10 (../shared/data/cifar10-q75)";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s info", test_bin());
    if (test_run(cmd, out, sizeof out) != 0) return "augprobe info failed";
    if (!strstr(out, "mpi:       yes")) return "augprobe was built without MPI (no mpicc, or MPI=0)";
    if (test_run("command -v mpirun", out, sizeof out) != 0) return "no mpirun on PATH";
    return NULL;
}

static const char *const TIMING_KEYS[] = {"wall_seconds", "cpu_seconds", "probe_seconds_recorded",
                                          "training_seconds_recorded", "head_seconds",
                                          "features_seconds", "training_seconds",
                                          "rank_busy_seconds", "ranks"};

/* "stats": what this invocation computed or reused (a rerun reuses). */
static int g_drop_stats;

static void drop_timings(cJSON *o) {
    if (g_drop_stats && cJSON_IsObject(o)) cJSON_DeleteItemFromObjectCaseSensitive(o, "stats");
    for (cJSON *it = o ? o->child : NULL; it; it = it->next) drop_timings(it);
    if (cJSON_IsObject(o))
        for (size_t i = 0; i < sizeof TIMING_KEYS / sizeof TIMING_KEYS[0]; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(o, TIMING_KEYS[i]);
}

static char *slurp(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    uint8_t *data = NULL;
    size_t n;
    int rc = file_read_all(p, &data, &n, NULL);
    free(p);
    return rc ? NULL : (char *)data;
}

/* A JSON file of dir without its timing fields, printed; NULL if absent. */
static char *json_sans_timings(const char *dir, const char *name) {
    char *t = slurp(dir, name);
    cJSON *o = t ? cJSON_Parse(t) : NULL;
    free(t);
    if (!o) return NULL;
    drop_timings(o);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Every cell file, results.json and the networks of a and b agree (timings
 * aside, and with drop_stats this invocation's counts); returns the number
 * of cells compared, -1 on a difference. */
static int same_study(const char *a, const char *b, int drop_stats) {
    g_drop_stats = drop_stats;
    char ca[1200], cb[1200];
    snprintf(ca, sizeof ca, "%s/cells", a);
    DIR *d = opendir(ca);
    if (!d) return -1;
    int n = 0, bad = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(ca, sizeof ca, "cells/%s", de->d_name);
        char *x = json_sans_timings(a, ca), *y = json_sans_timings(b, ca);
        if (!x || !y || strcmp(x, y)) {
            fprintf(stderr, "  differs: %s\n", ca);
            bad = 1;
        }
        free(x);
        free(y);
        n++;
    }
    closedir(d);
    snprintf(cb, sizeof cb, "%s/cells", b);
    d = opendir(cb);
    int nb = 0;
    while (d && (de = readdir(d))) nb += de->d_name[0] != '.';
    if (d) closedir(d);
    if (nb != n) bad = 1;
    char *x = json_sans_timings(a, "results.json"), *y = json_sans_timings(b, "results.json");
    if (!x || !y || strcmp(x, y)) {
        fprintf(stderr, "  differs: results.json\n");
        if (x && y) { /* where, for diagnosis: 100 characters from the first difference */
            size_t i = 0;
            while (x[i] && x[i] == y[i]) i++;
            size_t from = i > 50 ? i - 50 : 0;
            fprintf(stderr, "    %.100s\n    %.100s\n", x + from, y + from);
        }
        bad = 1;
    }
    free(x);
    free(y);
    char *ma = slurp(a, "seed1/aug/model.safetensors"), *mb = slurp(b, "seed1/aug/model.safetensors");
    char *pa = path_join(a, "seed1/aug/model.safetensors");
    uint8_t *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    file_read_all(pa, &da, &la, NULL);
    free(pa);
    pa = path_join(b, "seed1/aug/model.safetensors");
    file_read_all(pa, &db, &lb, NULL);
    free(pa);
    if (!da || !db || la != lb || memcmp(da, db, la)) {
        fprintf(stderr, "  differs: seed1/aug/model.safetensors\n");
        bad = 1;
    }
    free(da);
    free(db);
    free(ma);
    free(mb);
    return bad ? -1 : n;
}

/* The single-process reference, made once. */
static const char *reference(void) {
    static char dir[1024];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s/ref", test_tmpdir());
    if (run("%s study --data %s --out %s " TINY, test_bin(), test_data_dir(), dir) != 0) {
        fprintf(stderr, "%s", out);
        dir[0] = 0;
        return NULL;
    }
    return dir;
}

TEST(mpi_three_ranks_equal_one_process_byte_for_byte) {
    const char *why = mpi_missing();
    if (why) SKIP(why);
    const char *ref = reference();
    REQUIRE(ref);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/np3", test_tmpdir());
    int rc = run("%s -np 3 %s study --data %s --out %s " TINY, mpirun(), test_bin(),
                 test_data_dir(), dir);
    if (rc) fprintf(stderr, "%s", out);
    REQUIRE(rc == 0);
    CHECK_INT_EQ(same_study(ref, dir, 0), 28); /* 20 probes, 8 importance cells */
    /* the report says 3 ranks and each one's busy time; every rank ran a task */
    char *rep = slurp(dir, "report.md");
    REQUIRE(rep);
    CHECK_STR_CONTAINS(rep, "- Ranks: 3 processes (MPI), each with 1 thread; busy (in tasks): rank 0 ");
    free(rep);
    char *tj = slurp(dir, "timings.json");
    cJSON *t = tj ? cJSON_Parse(tj) : NULL;
    free(tj);
    REQUIRE(t);
    CHECK_INT_EQ(cJSON_GetObjectItem(t, "ranks")->valueint, 3);
    const cJSON *busy = cJSON_GetObjectItem(t, "rank_busy_seconds"), *it;
    CHECK_INT_EQ(cJSON_GetArraySize(busy), 3);
    cJSON_ArrayForEach(it, busy) CHECK(it->valuedouble > 0);
    int ran[3] = {0, 0, 0};
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(t, "tasks")) {
        int r = cJSON_GetObjectItem(it, "rank")->valueint;
        if (r >= 0 && r < 3) ran[r]++;
    }
    CHECK(ran[0] && ran[1] && ran[2]);
    CHECK_INT_EQ(ran[0] + ran[1] + ran[2], 7); /* 1 training + 6 groups */
    cJSON_Delete(t);
}

TEST(mpi_killed_rank_fails_the_job_and_the_rerun_completes) {
    const char *why = mpi_missing();
    if (why) SKIP(why);
    const char *ref = reference();
    REQUIRE(ref);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/killed", test_tmpdir());
    /* rank 1 dies (SIGKILL) as it starts its first task */
    int rc = run("AUGPROBE_MPI_KILL=1:1 %s -np 3 %s study --data %s --out %s " TINY, mpirun(),
                 test_bin(), test_data_dir(), dir);
    CHECK(rc != 0);
    char *rep = slurp(dir, "report.md");
    CHECK(rep == NULL); /* the job ended before the report */
    free(rep);
    /* mid-run: the dead rank's group was never computed */
    char cells[1200];
    snprintf(cells, sizeof cells, "%s/cells", dir);
    DIR *d = opendir(cells);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) n += de->d_name[0] != '.';
    if (d) closedir(d);
    CHECK(n < 28);
    rc = run("%s -np 3 %s study --data %s --out %s " TINY, mpirun(), test_bin(), test_data_dir(),
             dir);
    if (rc) fprintf(stderr, "%s", out);
    REQUIRE(rc == 0);
    CHECK_INT_EQ(same_study(ref, dir, 1), 28);
}

static double read_makespan(const char *text, int ranks) {
    char row[32];
    snprintf(row, sizeof row, "\n%8d ", ranks);
    const char *p = strstr(text, row);
    double m = NAN;
    if (!p || sscanf(p, "%*d %lf", &m) != 1) return NAN;
    return m * 60;
}

TEST(mpi_plan_for_one_rank_within_25_percent_of_a_measured_study) {
    if (!test_data_dir()) SKIP("no offline CIFAR-10 (../shared/data/cifar10-q75)");
    if (getenv("AUGPROBE_ASAN"))
        SKIP("too slow under ASan (160 s); the plan's code runs in mpi_plan_table_and_usage");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/planned", test_tmpdir());
    const char *knobs = "--train-limit 320 --epochs 1 --eval-limit 64 --probe-limit 64 --passes 1 "
                        "--probe-epochs 2 --bootstrap 100 --threads 1 --networks aug,random,pixels "
                        "--families brightness,blur --taps block1_pool,dense1 --quiet";
    double t0 = now_seconds();
    int rc = run("%s study --data %s --out %s %s", test_bin(), test_data_dir(), dir, knobs);
    double measured = now_seconds() - t0;
    if (rc) fprintf(stderr, "%s", out);
    REQUIRE(rc == 0);
    /* the plan of the same grid, from that run's task times (timings.json) */
    REQUIRE(run("%s study --plan --ranks 1 --out %s %s", test_bin(), dir, knobs) == 0);
    CHECK_STR_CONTAINS(out, "task graph: 7 tasks: 1 training, then 6 probe groups (28 cells)");
    CHECK_STR_CONTAINS(out, "scaled to the task times of the earlier run");
    double planned = read_makespan(out, 1);
    fprintf(stderr, "  measured %.1f s, planned %.1f s for 1 rank\n", measured, planned);
    CHECK(fabs(planned - measured) <= 0.25 * measured);
    /* on 3 ranks: no more than on one, no less than the critical path */
    REQUIRE(run("%s study --plan --ranks 3 --out %s %s", test_bin(), dir, knobs) == 0);
    double m3 = read_makespan(out, 3);
    CHECK(m3 <= planned + 1e-9);
    /* a plan for 3 epochs from that 1-epoch run: its training task scaled
     * by the run's own work (timings.json's "work"), so on one rank the plan
     * grows by two more epochs of the measured training, not by nothing */
    char *tpath = path_join(dir, "timings.json");
    uint8_t *tt = NULL;
    size_t tlen = 0;
    REQUIRE(file_read_all(tpath, &tt, &tlen, NULL) == 0);
    free(tpath);
    cJSON *tj = cJSON_ParseWithLength((const char *)tt, tlen);
    free(tt);
    double train_s = NAN;
    const cJSON *task;
    cJSON_ArrayForEach(task, cJSON_GetObjectItem(tj, "tasks")) {
        if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(task, "kind")), "train"))
            train_s = cJSON_GetNumberValue(cJSON_GetObjectItem(task, "seconds"));
    }
    const char *arch = cJSON_GetStringValue(cJSON_GetObjectItem(tj, "arch"));
    CHECK(arch && !strcmp(arch, "seed_cnn")); /* the network its times are of */
    cJSON_Delete(tj);
    REQUIRE(isfinite(train_s));
    REQUIRE(run("%s study --plan --ranks 1 --out %s %s --epochs 3", test_bin(), dir, knobs) == 0);
    double p3 = read_makespan(out, 1);
    fprintf(stderr, "  measured training %.1f s; planned %.1f s for 1 epoch, %.1f s for 3\n",
            train_s, planned, p3);
    CHECK(fabs((p3 - planned) - 2 * train_s) <= 0.05 * train_s + 1.5);
}
