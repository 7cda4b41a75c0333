/* test_dirlock.c - one writer per output directory: train, probe and study
 * refuse a directory another process holds (one line naming it and the
 * holder's PID, exit 1); a lock left by a dead process (kill -9) never
 * blocks; a process may hold its own lock twice; locking cleans the temp
 * files a killed writer left, and only those. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/dirlock.h"
#include "badinput_util.h"

/* A child process that locks dir and waits; returns its PID once it holds
 * the lock (or -1). */
static pid_t child_holding(const char *dir) {
    int p[2];
    if (pipe(p)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(p[0]);
        Err e;
        char ok = dir_lock(dir, &e) >= 0 ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(p[1]);
    char got = 0;
    ssize_t n = read(p[0], &got, 1);
    close(p[0]);
    if (n != 1 || got != 'y') {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

TEST(dirlock_same_process_twice_and_release) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/run/sub", test_tmpdir());
    Err e;
    int a = dir_lock(dir, &e); /* creates the directory too */
    REQUIRE(a >= 0);
    CHECK(path_is_dir(dir));
    int b = dir_lock(dir, &e); /* the same process: counted, not refused */
    CHECK_INT_EQ(b, a);
    char lockf[1200];
    snprintf(lockf, sizeof lockf, "%s/" DIRLOCK_FILE, dir);
    size_t n;
    uint8_t *text = read_bytes(lockf, &n);
    REQUIRE(text);
    CHECK_INT_EQ(atol((char *)text), getpid()); /* the holder's PID is recorded */
    free(text);
    dir_unlock(b);
    /* still held once: another process is refused */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(dir_lock(dir, &e) >= 0 ? 0 : 3);
    int st;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    dir_unlock(a);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(dir_lock(dir, &e) >= 0 ? 0 : 3);
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* released: free for others */
}

/* The CLI refuses a held directory: exit 1, one line naming it and the PID. */
static void expect_busy(const char *cmd, const char *args, const char *dir, pid_t holder) {
    char out[OUT_CAP], pidtext[32];
    int rc = cli(out, sizeof out, "%s %s", cmd, args);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, cmd, dir, "in use by another augprobe");
    snprintf(pidtext, sizeof pidtext, "(pid %ld)", (long)holder);
    char line[2048];
    CHECK_STR_CONTAINS(first_line(out, line, sizeof line), pidtext);
}

TEST(dirlock_cli_refuses_held_directory_then_dead_holder_never_blocks) {
    const char *data = test_data_dir();
    if (!data) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)");
    char dir[1100], args[3000];
    snprintf(dir, sizeof dir, "%s/run", test_tmpdir());
    pid_t holder = child_holding(dir);
    REQUIRE(holder > 0);
    snprintf(args, sizeof args,
             "--data %s --limit 8 --eval-limit 8 --batch 8 --epochs 1 --threads 1 --quiet --out %s",
             data, dir);
    expect_busy("train", args, dir, holder);
    snprintf(args, sizeof args,
             "--data %s --model random --limit 8 --epochs 1 --threads 1 --quiet --out %s", data,
             dir);
    expect_busy("probe", args, dir, holder);
    snprintf(args, sizeof args,
             "--data %s --epochs 1 --train-limit 8 --eval-limit 8 --probe-limit 8 --passes 1 "
             "--probe-epochs 1 --networks random --families zoom --taps dense1 --threads 1 "
             "--quiet --out %s",
             data, dir);
    expect_busy("study", args, dir, holder);
    CHECK_INT_EQ(test_count_temp_files(dir, 1), 0); /* the refused wrote nothing */
    /* the holder dies by SIGKILL: its lock goes with it */
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    char out[OUT_CAP];
    snprintf(args, sizeof args,
             "--data %s --limit 8 --eval-limit 8 --batch 8 --epochs 1 --threads 1 --quiet --out %s",
             data, dir);
    int rc = cli(out, sizeof out, "train %s", args);
    CHECK_INT_EQ(rc, 0);
    char model[1200];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    CHECK(path_exists(model));
}

/* Two `augprobe train --out X` at once: the second is refused naming the
 * first's PID, the first finishes undisturbed. */
TEST(dirlock_two_trains_at_once) {
    const char *data = test_data_dir();
    if (!data) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)");
    const char *t = test_tmpdir();
    char dir[1100], cmd[4096], out[OUT_CAP];
    snprintf(dir, sizeof dir, "%s/run", t);
    /* the first: started in the background; the second starts once the
     * first's PID is in the lock file (it locks before loading the data) */
    snprintf(cmd, sizeof cmd,
             "%s train --data %s --limit 16 --eval-limit 8 --batch 8 --epochs 2 --threads 1 "
             "--quiet --out %s > %s/first.log 2>&1 & first=$!; "
             "i=0; while [ \"$(cat %s/" DIRLOCK_FILE " 2>/dev/null)\" != \"$first\" ] && "
             "[ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; "
             "echo \"first=$first\"; "
             "%s train --data %s --limit 16 --eval-limit 8 --batch 8 --epochs 3 --lr 0.01 "
             "--threads 1 --quiet --out %s; echo \"second=$?\"; "
             "wait $first; echo \"firstrc=$?\"",
             test_bin(), data, dir, t, dir, test_bin(), data, dir);
    int rc = test_run(cmd, out, sizeof out);
    CHECK_INT_EQ(rc, 0);
    const char *f = strstr(out, "first=");
    REQUIRE(f);
    long first = atol(f + 6);
    char want[1300];
    snprintf(want, sizeof want, "augprobe train: --out: %s: in use by another augprobe (pid %ld)",
             dir, first);
    CHECK_STR_CONTAINS(out, want);
    CHECK_STR_CONTAINS(out, "second=1");
    CHECK_STR_CONTAINS(out, "firstrc=0");
    /* the checkpoint is the first's: 2 epochs, its settings */
    char hist[1200];
    snprintf(hist, sizeof hist, "%s/history.csv", dir);
    size_t n;
    uint8_t *h = read_bytes(hist, &n);
    REQUIRE(h);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += h[i] == '\n';
    free(h);
    CHECK_INT_EQ(lines, 3); /* header + 2 epochs */
}

/* Locking removes temp files whose writer is dead, in the directory and two
 * levels below; never a live writer's, a non-temp file, or beyond a link. */
TEST(dirlock_cleans_stale_temp_files_only) {
    const char *t = test_tmpdir();
    char dir[1100], p[1400], outside[1100];
    snprintf(dir, sizeof dir, "%s/run", t);
    snprintf(outside, sizeof outside, "%s/outside", t);
    pid_t dead = fork(); /* a PID that has exited (reaped) */
    REQUIRE(dead >= 0);
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    REQUIRE(mkdir(dir, 0777) == 0 && mkdir(outside, 0777) == 0);
    snprintf(p, sizeof p, "%s/cells", dir);
    REQUIRE(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/seed1", dir);
    REQUIRE(mkdir(p, 0777) == 0);
    snprintf(p, sizeof p, "%s/seed1/aug", dir);
    REQUIRE(mkdir(p, 0777) == 0);
    const char *stale[] = {"history.csv", "cells/seed1-aug-zoom-flatten.json",
                           "seed1/aug/checkpoint.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s.tmp.%ld", dir, stale[i], (long)dead);
        REQUIRE(write_bytes(p, "partial", 7) == 0);
    }
    const char *keep[] = {"live.json", "notes.tmp", "a.tmp.12x"};
    snprintf(p, sizeof p, "%s/%s.tmp.%ld", dir, keep[0], (long)getpid()); /* alive: us */
    REQUIRE(write_bytes(p, "x", 1) == 0);
    for (int i = 1; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, keep[i]);
        REQUIRE(write_bytes(p, "x", 1) == 0);
    }
    snprintf(p, sizeof p, "%s/x.tmp.%ld", outside, (long)dead); /* behind a link: untouched */
    REQUIRE(write_bytes(p, "x", 1) == 0);
    snprintf(p, sizeof p, "%s/link", dir);
    REQUIRE(symlink(outside, p) == 0);
    CHECK_INT_EQ(test_count_temp_files(dir, 0), 6);
    Err e;
    int h = dir_lock(dir, &e);
    REQUIRE(h >= 0);
    CHECK_INT_EQ(test_count_temp_files(dir, 1), 3); /* the live one, notes.tmp, a.tmp.12x */
    snprintf(p, sizeof p, "%s/%s.tmp.%ld", dir, keep[0], (long)getpid());
    CHECK(path_exists(p));
    snprintf(p, sizeof p, "%s/a.tmp.12x", dir);
    CHECK(path_exists(p));
    snprintf(p, sizeof p, "%s/x.tmp.%ld", outside, (long)dead);
    CHECK(path_exists(p));
    dir_unlock(h);
}

/* Without any lock (export -o, preview -o, the download), the next writer
 * of a file removes that file's stale temp files, and only those. */
TEST(atomic_write_cleans_its_own_stale_temps) {
    const char *t = test_tmpdir();
    pid_t dead = fork();
    REQUIRE(dead >= 0);
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char p[1200], target[1100];
    snprintf(target, sizeof target, "%s/aug.bin", t);
    snprintf(p, sizeof p, "%s.tmp.%ld", target, (long)dead);
    REQUIRE(write_bytes(p, "partial", 7) == 0);
    snprintf(p, sizeof p, "%s/other.bin.tmp.%ld", t, (long)dead); /* another file's */
    REQUIRE(write_bytes(p, "partial", 7) == 0);
    Err e;
    REQUIRE(file_write_atomic(target, "whole", 5, &e) == 0);
    CHECK_INT_EQ(test_count_temp_files(t, 1), 1); /* only other.bin's is left */
    CHECK(path_exists(p));
    size_t n;
    uint8_t *got = read_bytes(target, &n);
    CHECK(got && n == 5 && !memcmp(got, "whole", 5));
    free(got);
}
