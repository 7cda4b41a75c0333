/* test_chaos.c - kill -9 at any moment loses nothing finished. A small
 * training run and a small study are each killed with SIGKILL at random
 * moments and resumed each time (train: --resume once a checkpoint exists;
 * study: the same command again), through the CLI only. Half the kills are
 * aimed at writes: with AUGPROBE_TEST_SLOW_WRITES=MS every atomic write
 * pauses with its temp file just created and again complete but not yet
 * renamed, and the kill lands a random 0..2*MS ms after a temp file of the
 * target (a checkpoint, the model, history.csv, run.json; a study's cells,
 * results.json, report.md, its network's checkpoint) appears. When a run
 * finishes before its kill, its outputs are compared with an uninterrupted
 * run's (bytes: model.safetensors, checkpoint.safetensors, history.csv less
 * its seconds column; a study's results.json less its timings and its
 * computed/reused counts, and its network's model), no temp file may be left,
 * and the next round starts from an empty directory.
 *
 * AUGPROBE_CHAOS_KILLS=N (default 20; 6 under ASan, for time) kills per
 * scenario, AUGPROBE_CHAOS_SEED=S (default 1) the moments: a soak run is
 * e.g. AUGPROBE_CHAOS_KILLS=500 AUGPROBE_CHAOS_SEED=$RANDOM make test T=chaos. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "badinput_util.h"

#define SLOW_WRITE_MS 40
#define RUN_TIMEOUT_S 300 /* one run of these takes seconds; beyond this it hangs */

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state;
static double rnd01(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Starts argv (test_bin() first) with output to log; slow_ms > 0 sets
 * AUGPROBE_TEST_SLOW_WRITES. */
static pid_t spawn(char *const argv[], const char *log, int slow_ms) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    char ms[16];
    snprintf(ms, sizeof ms, "%d", slow_ms);
    if (slow_ms > 0) setenv("AUGPROBE_TEST_SLOW_WRITES", ms, 1);
    else unsetenv("AUGPROBE_TEST_SLOW_WRITES");
    execv(argv[0], argv);
    _exit(127);
}

/* Waits for pid (killing it after RUN_TIMEOUT_S): its exit code, or
 * 128 + signal. */
static int wait_done(pid_t pid, double t0) {
    int st;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (mono() - t0 > RUN_TIMEOUT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep(1000);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* 1 if pid has exited (reaped; its code in *rc), else 0. */
static int reaped(pid_t pid, int *rc) {
    int st;
    if (waitpid(pid, &st, WNOHANG) != pid) return 0;
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 1;
}

/* Finds a temp file of pid (NAME.tmp.PID) under dir whose path contains
 * target (NULL: any); its path relative to dir goes to found. */
static int find_temp(const char *dir, const char *rel, const char *target, pid_t pid,
                     char *found, size_t cap) {
    char path[2048];
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *de;
    int hit = 0;
    const char *p;
    while (!hit && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        if (de->d_type == DT_DIR) {
            hit = find_temp(dir, sub, target, pid, found, cap);
        } else if ((!target || strstr(sub, target)) && (p = strstr(de->d_name, ".tmp.")) &&
                   atol(p + 5) == (long)pid) {
            snprintf(found, cap, "%s", sub);
            hit = 1;
        }
    }
    closedir(d);
    return hit;
}

typedef struct Scenario {
    const char *name;
    int train_resume; /* train: add --resume once a checkpoint exists */
    const char *const *targets;
    int n_targets;
    /* outputs of dir equal to ref's; why: what differs */
    int (*same)(const char *dir, const char *ref, char *why, size_t cap);
} Scenario;

/* argv: BIN words... --out dir [--resume] */
static void build_argv(char **argv, char *buf, size_t cap, const char *words, const char *dir,
                       int resume) {
    snprintf(buf, cap, "%s", words);
    int k = 0;
    argv[k++] = (char *)test_bin();
    for (char *s = strtok(buf, " "); s && k < 60; s = strtok(NULL, " ")) argv[k++] = s;
    argv[k++] = "--out";
    argv[k++] = (char *)dir;
    if (resume) argv[k++] = "--resume";
    argv[k] = NULL;
}

static void rm_rf(const char *dir) {
    char cmd[2200], out[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    test_run(cmd, out, sizeof out);
}

static void run_chaos(const Scenario *sc, const char *words) {
    const char *t = test_tmpdir();
    char ref[1100], dir[1100], log[1100], buf[4096], *argv[64];
    snprintf(ref, sizeof ref, "%s/reference", t);
    snprintf(dir, sizeof dir, "%s/chaos", t);
    snprintf(log, sizeof log, "%s/chaos.log", t);
    int kills = getenv("AUGPROBE_ASAN") ? 6 : 20;
    if (getenv("AUGPROBE_CHAOS_KILLS")) kills = atoi(getenv("AUGPROBE_CHAOS_KILLS"));
    rng_state = getenv("AUGPROBE_CHAOS_SEED") ? strtoull(getenv("AUGPROBE_CHAOS_SEED"), NULL, 10)
                                              : 1;
    rng_state = rng_state * 1000003u + (uint64_t)strlen(sc->name);

    /* the uninterrupted reference, and how long a whole run takes */
    build_argv(argv, buf, sizeof buf, words, ref, 0);
    double t0 = mono();
    int rc = wait_done(spawn(argv, log, 0), t0);
    double t_ref = mono() - t0;
    REQUIRE(rc == 0);
    printf("    %s: reference run %.2f s; %d kills (seed %s)\n", sc->name, t_ref, kills,
           getenv("AUGPROBE_CHAOS_SEED") ? getenv("AUGPROBE_CHAOS_SEED") : "1");

    /* the random moments are drawn over a whole run's duration: the
     * reference's, or a faster whole run's since (the machine is shared) */
    double t_est = t_ref;
    int landed_in_write = 0, rounds = 0, runs = 0, kill_no = 0;
    for (;;) {
        int resume = 0;
        if (sc->train_resume) {
            char ck[1200];
            snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
            resume = path_exists(ck);
        }
        build_argv(argv, buf, sizeof buf, words, dir, resume);
        int aim_write = kill_no < kills && kill_no % 2 == 1;
        const char *target = aim_write ? sc->targets[(kill_no / 2) % sc->n_targets] : NULL;
        int fresh = !path_exists(dir);
        double start = mono();
        pid_t pid = spawn(argv, log, aim_write ? SLOW_WRITE_MS : 0);
        REQUIRE(pid > 0);
        runs++;
        double when = -1;
        int exited = 0; /* reaped already, rc set */
        char hit[1024] = "";
        if (kill_no < kills) {
            if (aim_write) {
                /* poll for the target's temp file, then kill a little later */
                while (!find_temp(dir, "", target, pid, hit, sizeof hit)) {
                    if ((exited = reaped(pid, &rc))) break; /* done without that write */
                    if (mono() - start > RUN_TIMEOUT_S) break;
                    usleep(500);
                }
                if (!exited) usleep((useconds_t)(rnd01() * 2 * SLOW_WRITE_MS * 1000));
            } else {
                double delay = rnd01() * t_est;
                while (mono() - start < delay && !(exited = reaped(pid, &rc))) usleep(500);
            }
            if (!exited && !(exited = reaped(pid, &rc)) && kill(pid, SIGKILL) == 0)
                when = mono() - start;
        }
        if (!exited) rc = wait_done(pid, start);
        if (rc == 128 + SIGKILL) {
            /* the killed process's own temp file (an older one, left by an
             * earlier kill, may still be there if this run died before it
             * locked the directory and cleaned up) */
            char left[1024] = "";
            int in_write = find_temp(dir, "", NULL, pid, left, sizeof left);
            landed_in_write += in_write;
            kill_no++;
            printf("    kill %2d at %5.2f s (%s%s)%s%s\n", kill_no, when,
                   aim_write ? "aimed at a write of " : "random", aim_write ? target : "",
                   in_write ? ", in a write: left " : ", no write in flight",
                   in_write ? left : "");
            continue;
        }
        if (rc != 0) {
            test_fail(__FILE__, __LINE__, "%s: a run exited %d (log %s)", sc->name, rc, log);
            return;
        }
        /* a finished run: it must equal the reference, and leave no temp */
        if (fresh && !aim_write && mono() - start < t_est) t_est = mono() - start;
        rounds++;
        char why[512] = "";
        if (!sc->same(dir, ref, why, sizeof why)) {
            /* keep both directories for a post-mortem: the test's own tmp
             * is removed at exit */
            char keep[2400];
            snprintf(keep, sizeof keep,
                     "cp -a '%s' /tmp/augprobe-chaos-%d-round%d && "
                     "cp -a '%s' /tmp/augprobe-chaos-%d-reference",
                     dir, (int)getpid(), rounds, ref, (int)getpid());
            int kept = system(keep) == 0;
            test_fail(__FILE__, __LINE__,
                      "%s: round %d differs from the uninterrupted run: %s (kept in "
                      "/tmp/augprobe-chaos-%d-round%d: %s)",
                      sc->name, rounds, why, (int)getpid(), rounds, kept ? "yes" : "no");
        }
        CHECK_INT_EQ(test_count_temp_files(dir, 1), 0);
        printf("    round %d complete after %d kills in all: outputs identical to the reference%s\n",
               rounds, kill_no, why[0] ? " (NOT: see above)" : ", no temp file left");
        if (kill_no >= kills) break;
        rm_rf(dir); /* the next round starts afresh */
    }
    printf("    %s: %d kills (%d in a write, temp file left behind and cleaned on resume), "
           "%d runs, %d rounds, all identical to the reference\n",
           sc->name, kill_no, landed_in_write, runs, rounds);
    CHECK(landed_in_write >= kills / 4); /* the aimed kills do land in writes */
}

/* ---- comparisons ---- */

static int bytes_equal(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *pa = read_bytes(a, &na), *pb = read_bytes(b, &nb);
    int eq = pa && pb && na == nb && !memcmp(pa, pb, na);
    free(pa);
    free(pb);
    return eq;
}

static int same_file(const char *dir, const char *ref, const char *name, char *why, size_t cap) {
    char a[1300], b[1300];
    snprintf(a, sizeof a, "%s/%s", dir, name);
    snprintf(b, sizeof b, "%s/%s", ref, name);
    if (bytes_equal(a, b)) return 1;
    snprintf(why, cap, "%s differs", name);
    return 0;
}

/* history.csv without its last column (seconds). */
static char *history_sans_seconds(const char *path) {
    size_t n;
    uint8_t *p = read_bytes(path, &n);
    if (!p) return NULL;
    char *out = xmalloc(n + 1), *o = out;
    for (char *line = (char *)p, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *comma = strrchr(line, ',');
        size_t k = comma ? (size_t)(comma - line) : strlen(line);
        memcpy(o, line, k);
        o += k;
        *o++ = '\n';
    }
    *o = 0;
    free(p);
    return out;
}

static int same_train(const char *dir, const char *ref, char *why, size_t cap) {
    if (!same_file(dir, ref, "model.safetensors", why, cap) ||
        !same_file(dir, ref, "checkpoint.safetensors", why, cap))
        return 0;
    char a[1300], b[1300];
    snprintf(a, sizeof a, "%s/history.csv", dir);
    snprintf(b, sizeof b, "%s/history.csv", ref);
    char *ha = history_sans_seconds(a), *hb = history_sans_seconds(b);
    int eq = ha && hb && !strcmp(ha, hb);
    if (!eq) snprintf(why, cap, "history.csv differs (seconds excluded)");
    free(ha);
    free(hb);
    return eq;
}

/* Removes, recursively, every member whose key names a timing ("seconds")
 * and the "stats" object (how many cells were computed or reused, which
 * depends on the kills by design). */
static void strip_timings(cJSON *o) {
    for (cJSON *c = o ? o->child : NULL, *next; c; c = next) {
        next = c->next;
        if (c->string && (strstr(c->string, "seconds") || !strcmp(c->string, "stats"))) {
            cJSON_Delete(cJSON_DetachItemViaPointer(o, c));
            continue;
        }
        strip_timings(c);
    }
}

static char *results_sans_timings(const char *path) {
    size_t n;
    uint8_t *p = read_bytes(path, &n);
    if (!p) return NULL;
    cJSON *o = cJSON_ParseWithLength((const char *)p, n);
    free(p);
    if (!o) return NULL;
    strip_timings(o);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* Writes into path the first place (a JSON path such as
 * .cells[3].acc) where a and b differ, and both values; 1 if they differ. */
static int first_difference(const cJSON *a, const cJSON *b, char *path, size_t cap,
                            size_t used) {
    if (cJSON_Compare(a, b, 1)) return 0;
    if (a && b && a->type == b->type && (cJSON_IsObject(a) || cJSON_IsArray(a))) {
        const cJSON *ca = a->child, *cb = b->child;
        for (int i = 0; ca || cb; i++, ca = ca ? ca->next : NULL, cb = cb ? cb->next : NULL) {
            size_t k = used;
            if (cJSON_IsObject(a))
                k += (size_t)snprintf(path + used, cap - used, ".%s",
                                      ca ? ca->string : cb->string);
            else
                k += (size_t)snprintf(path + used, cap - used, "[%d]", i);
            if (k >= cap) k = cap - 1;
            if (first_difference(ca, cb, path, cap, k)) return 1;
        }
    }
    char *ta = a ? cJSON_PrintUnformatted(a) : NULL, *tb = b ? cJSON_PrintUnformatted(b) : NULL;
    snprintf(path + used, cap - used, ": %.120s vs the reference's %.120s", ta ? ta : "(absent)",
             tb ? tb : "(absent)");
    free(ta);
    free(tb);
    return 1;
}

static int same_study(const char *dir, const char *ref, char *why, size_t cap) {
    if (!same_file(dir, ref, "seed1/aug/model.safetensors", why, cap)) return 0;
    char a[1300], b[1300];
    snprintf(a, sizeof a, "%s/results.json", dir);
    snprintf(b, sizeof b, "%s/results.json", ref);
    char *ra = results_sans_timings(a), *rb = results_sans_timings(b);
    int eq = ra && rb && !strcmp(ra, rb);
    if (!eq) {
        /* say where: the first differing member, with both values */
        cJSON *ja = ra ? cJSON_Parse(ra) : NULL, *jb = rb ? cJSON_Parse(rb) : NULL;
        char where[400] = "";
        first_difference(ja, jb, where, sizeof where, 0);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        snprintf(why, cap, "results.json differs (timings and stats excluded) at %s", where);
    }
    free(ra);
    free(rb);
    return eq;
}

/* The offline copy's files without its MD5SUMS (each start would hash
 * 184 MB): a directory of links, made once per test. */
static const char *fast_data(void) {
    if (!test_data_dir()) return NULL;
    const char *d = make_data_dir(NULL, 0);
    return d;
}

TEST(chaos_train_kill9_resume_identical) {
    const char *data = fast_data();
    if (!data) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)");
    static const char *const targets[] = {"checkpoint.safetensors", "model.safetensors",
                                          "history.csv", "run.json"};
    Scenario sc = {"train", 1, targets, 4, same_train};
    char words[1500];
    snprintf(words, sizeof words,
             "train --data %s --limit 16 --eval-limit 16 --batch 8 --epochs 3 --threads 1 --quiet",
             data);
    run_chaos(&sc, words);
}

TEST(chaos_study_kill9_rerun_identical) {
    const char *data = fast_data();
    if (!data) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)");
    static const char *const targets[] = {"checkpoint.safetensors", "cells/", "results.json",
                                          "report.md"};
    Scenario sc = {"study", 0, targets, 4, same_study};
    char words[1500];
    snprintf(words, sizeof words,
             "study --data %s --threads 1 --quiet --epochs 2 --train-limit 16 --eval-limit 16 "
             "--probe-limit 16 --passes 1 --probe-epochs 2 --families zoom --taps flatten "
             "--networks aug,random",
             data);
    run_chaos(&sc, words);
}
