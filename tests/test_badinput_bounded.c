/* test_badinput_bounded.c - the bad-input matrix's bounded-read rows: inputs
 * that are not regular files (/dev/zero, /dev/urandom, a FIFO, a directory)
 * and a sparse 100 GB file, given as --model (eval, probe), as a --data
 * member (a batch, batches.meta.txt, MD5SUMS) and as --data itself. Each must
 * be refused with one line naming the file and what it is, exit 1, within
 * seconds (before the fix /dev/zero grew to 5.4 GB in 6 s and never ended),
 * and its peak memory must stay within a few MB of a run that fails at once
 * on a missing file (measured with wait4's ru_maxrss). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "badinput_util.h"

/* A run that takes longer than this is a hang (they take well under a
 * second; ASan builds a few). */
#define ROW_TIMEOUT_S 60
/* Refusing may cost this much memory over failing on a missing file. */
#define ROW_EXTRA_KB (4 * 1024)

/* Runs test_bin() with argv (NULL-terminated) directly (no shell, so wait4
 * measures augprobe itself), output captured; kills it after ROW_TIMEOUT_S.
 * Returns the exit code (128+signal if killed), *maxrss_kb its peak RSS. */
static int run_measured(char *const argv[], char *out, size_t cap, long *maxrss_kb,
                        double *secs) {
    int pfd[2];
    if (pipe(pfd)) return -1;
    double t0 = (double)time(NULL);
    struct timespec ts0;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    (void)t0;
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    size_t n = 0;
    out[0] = 0;
    int status = 0, done = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        char buf[4096];
        ssize_t got;
        while ((got = read(pfd[0], buf, sizeof buf)) > 0) {
            size_t take = (size_t)got < cap - 1 - n ? (size_t)got : cap - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
            out[n] = 0;
        }
        if (done) break;
        pid_t w = wait4(pid, &status, WNOHANG, &ru);
        if (w == pid) {
            done = 1; /* one more read for what is left in the pipe */
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec - ts0.tv_sec > ROW_TIMEOUT_S) {
            kill(pid, SIGKILL);
            wait4(pid, &status, 0, &ru);
            done = 1;
            continue;
        }
        usleep(2000);
    }
    close(pfd[0]);
    struct timespec ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    *secs = (double)(ts1.tv_sec - ts0.tv_sec) + 1e-9 * (double)(ts1.tv_nsec - ts0.tv_nsec);
    *maxrss_kb = ru.ru_maxrss;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* argv for: BIN CMD FLAG VALUE [--data DIR] --quiet --threads 1 [more...] */
static int run_row(const char *cmd, const char *flag, const char *value, const char *data,
                   const char *more, char *out, size_t cap, long *rss, double *secs) {
    char *argv[24];
    int k = 0;
    argv[k++] = (char *)test_bin();
    argv[k++] = (char *)cmd;
    argv[k++] = (char *)flag;
    argv[k++] = (char *)value;
    if (data) {
        argv[k++] = "--data";
        argv[k++] = (char *)data;
    }
    argv[k++] = "--quiet";
    argv[k++] = "--threads";
    argv[k++] = "1";
    char extra[256];
    if (more) { /* space-separated extra words */
        snprintf(extra, sizeof extra, "%s", more);
        for (char *s = strtok(extra, " "); s && k < 22; s = strtok(NULL, " ")) argv[k++] = s;
    }
    argv[k] = NULL;
    return run_measured(argv, out, cap, rss, secs);
}

/* The special files of the matrix, made in a fresh tmpdir. */
typedef struct {
    const char *label; /* for messages */
    char path[1024];
    const char *kind; /* what the error line must say */
} Bad;

enum { N_BAD = 5 };

static int make_bads(Bad b[N_BAD]) {
    const char *t = test_tmpdir();
    b[0] = (Bad){"/dev/zero", "/dev/zero", "is a character device, not a regular file"};
    b[1] = (Bad){"/dev/urandom", "/dev/urandom", "is a character device, not a regular file"};
    b[2] = (Bad){"a FIFO", "", "is a FIFO, not a regular file"};
    snprintf(b[2].path, sizeof b[2].path, "%s/fifo", t);
    b[3] = (Bad){"a directory", "", "is a directory, not a regular file"};
    snprintf(b[3].path, sizeof b[3].path, "%s/dir", t);
    b[4] = (Bad){"a sparse 100 GB file", "", "107374182400 bytes, larger than"};
    snprintf(b[4].path, sizeof b[4].path, "%s/sparse100g", t);
    if (mkfifo(b[2].path, 0666) || mkdir(b[3].path, 0777)) return -1;
    int fd = open(b[4].path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return -1;
    int rc = ftruncate(fd, (off_t)100 << 30); /* sparse: no blocks written */
    close(fd);
    return rc;
}

/* The peak RSS of a run that fails at once (a missing --model / member). */
static long baseline_kb(const char *cmd, const char *flag, const char *value, const char *data,
                        const char *more) {
    char out[OUT_CAP];
    long rss = 0;
    double secs;
    int rc = run_row(cmd, flag, value, data, more, out, sizeof out, &rss, &secs);
    if (rc != 1) {
        test_fail(__FILE__, __LINE__, "baseline run did not exit 1 (%d): %s", rc, out);
        return -1;
    }
    return rss;
}

/* One row: exit 1, one line "augprobe CMD: PATH: KIND...", quick, and peak
 * RSS within ROW_EXTRA_KB of the baseline. */
static void check_row(const char *cmd, const char *flag, const char *value, const char *data,
                      const char *more, const char *where, const char *kind, long base_kb,
                      const char *label) {
    char out[OUT_CAP], line[2048];
    long rss = 0;
    double secs = 0;
    int rc = run_row(cmd, flag, value, data, more, out, sizeof out, &rss, &secs);
    printf("    %s %s %s: exit %d, %.2f s, peak RSS %ld KB (baseline %ld KB): %s\n", cmd, flag,
           label, rc, secs, rss, base_kb, first_line(out, line, sizeof line));
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, cmd, where, kind);
    CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* exactly one line */
    CHECK(rss > 0 && rss <= base_kb + ROW_EXTRA_KB);
}

static void model_rows(const char *cmd, const char *more) {
    Bad b[N_BAD];
    REQUIRE(make_bads(b) == 0);
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/missing.safetensors", test_tmpdir());
    const char *data = test_data_dir();
    long base = baseline_kb(cmd, "--model", missing, data, more);
    REQUIRE(base > 0);
    for (int i = 0; i < N_BAD; i++)
        check_row(cmd, "--model", b[i].path, data, more, b[i].path, b[i].kind, base, b[i].label);
}

TEST(badinput_bounded_eval_model) { model_rows("eval", "--limit 8"); }

TEST(badinput_bounded_probe_model) { model_rows("probe", "--limit 8 --epochs 1"); }

/* A data member replaced by each bad file (a symlink to it). */
static void member_rows(const char *member, int with_md5sums) {
    if (!test_data_dir()) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)");
    Bad b[N_BAD];
    REQUIRE(make_bads(b) == 0);
    const char *dir = make_data_dir(member, with_md5sums);
    REQUIRE(dir);
    char ddir[1100], mpath[1200];
    snprintf(ddir, sizeof ddir, "%s", dir); /* make_data_dir's buffer is static */
    snprintf(mpath, sizeof mpath, "%s/%s", ddir, member);
    /* the baseline fails at once on the member: missing (a batch, the class
     * names) or, for MD5SUMS (optional), one bad line */
    if (with_md5sums) REQUIRE(write_bytes(mpath, "garbage\n", 8) == 0);
    long base = baseline_kb("data", "--data", ddir, NULL, NULL);
    REQUIRE(base > 0);
    for (int i = 0; i < N_BAD; i++) {
        remove(mpath);
        REQUIRE(symlink(b[i].path, mpath) == 0);
        /* a batch has one exact size, and says so */
        const char *kind = i == 4 && strstr(member, ".bin") ? "107374182400 bytes, expected 30730000"
                                                              : b[i].kind;
        check_row("data", "--data", ddir, NULL, NULL, mpath, kind, base, b[i].label);
    }
}

TEST(badinput_bounded_data_batch_member) { member_rows("data_batch_1.bin", 0); }
TEST(badinput_bounded_data_meta_member) { member_rows("batches.meta.txt", 0); }
TEST(badinput_bounded_data_md5sums_member) { member_rows("MD5SUMS", 1); }

/* --data itself: the archive path. */
TEST(badinput_bounded_data_path) {
    Bad b[N_BAD];
    REQUIRE(make_bads(b) == 0);
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/missing.tar.gz", test_tmpdir());
    long base = baseline_kb("data", "--data", missing, NULL, NULL);
    REQUIRE(base > 0);
    /* a device or FIFO as --data is neither a directory nor an archive; an
     * empty directory holds no CIFAR-10; the sparse file is too large for an
     * archive (refused before its md5 reads 100 GB) */
    const char *kinds[N_BAD] = {"not a directory or a file", "not a directory or a file",
                                "not a directory or a file", "no CIFAR-10 here",
                                "larger than a CIFAR-10 archive can be"};
    for (int i = 0; i < N_BAD; i++)
        check_row("data", "--data", b[i].path, NULL, NULL, b[i].path, kinds[i], base,
                  b[i].label);
}
