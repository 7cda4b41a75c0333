/* test_main.c - the test runner: runs every registered test (or those whose
 * name contains argv[1]) and ends with "N passed, N failed, N skipped". */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "../src/omp_defaults.h"

#define MAX_TESTS 2048

typedef struct {
    const char *name;
    const char *file;
    void (*fn)(void);
} TestCase;

/* Test-runner state: a test binary, not library code. */
static TestCase tests[MAX_TESTS];
static int n_tests;
static int cur_failed, cur_skipped;
static char tmp_root[256];
static char cur_tmp[512];
static int tmp_counter;

void test_register(const char *name, void (*fn)(void), const char *file) {
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(1);
    }
    tests[n_tests++] = (TestCase){name, file, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    cur_failed++;
    if (cur_failed > 10) return; /* keep the log readable */
    fprintf(stdout, "    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

int test_failed_now(void) { return cur_failed > 0; }

void test_skip(const char *reason) {
    cur_skipped = 1;
    fprintf(stdout, "    skipped: %s\n", reason);
}

int test_check_array(const char *file, int line, const char *what, const float *got,
                     const float *want, size_t n, double rtol, double atol) {
    size_t worst = 0, bad = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double tol = atol + rtol * fabs(w);
        double err = fabs(g - w);
        if (!(err <= tol)) {
            bad++;
            double excess = isnan(err) ? INFINITY : err - tol;
            if (excess > worst_excess) {
                worst_excess = excess;
                worst = i;
            }
        }
    }
    if (bad) {
        test_fail(file, line, "%s: %zu of %zu elements off; worst [%zu]: got %.9g want %.9g", what,
                  bad, n, worst, (double)got[worst], (double)want[worst]);
        return 0;
    }
    return 1;
}

const char *test_data_dir(void) {
    /* $AUGPROBE_TEST_DATA, when set, is the only candidate (set it to a
     * missing directory to exercise the skips). */
    const char *env = getenv("AUGPROBE_TEST_DATA");
    const char *dir = env ? env : "../shared/data/cifar10-q75";
    char p[1024];
    snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
    return access(p, R_OK) == 0 ? dir : NULL;
}

const char *test_tmpdir(void) {
    if (!tmp_root[0]) {
        snprintf(tmp_root, sizeof tmp_root, "/tmp/augprobe-test-XXXXXX");
        if (!mkdtemp(tmp_root)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    snprintf(cur_tmp, sizeof cur_tmp, "%s/t%d", tmp_root, ++tmp_counter);
    if (mkdir(cur_tmp, 0777) != 0) {
        perror(cur_tmp);
        exit(1);
    }
    return cur_tmp;
}

const char *test_fixture(const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "tests/fixtures/%s", name);
    return buf;
}

float *test_load_floats(const char *name, size_t *count) {
    const char *path = test_fixture(name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot open fixture %s", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(p);
        test_fail(__FILE__, __LINE__, "cannot read fixture %s", path);
        return NULL;
    }
    fclose(f);
    *count = (size_t)n / sizeof(float);
    return p;
}

int test_run(const char *cmdline, char *out, size_t cap) {
    char full[4096];
    snprintf(full, sizeof full, "(%s) 2>&1", cmdline);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    if (cap) out[0] = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (cap && n + 1 < cap) {
            size_t take = got < cap - 1 - n ? got : cap - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
            out[n] = 0;
        }
    }
    int st = pclose(p);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int test_count_temp_files(const char *dir, int report) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            n += test_count_temp_files(p, report);
        } else if (strstr(de->d_name, ".tmp")) {
            if (report) printf("    temp file left: %s\n", p);
            n++;
        }
    }
    closedir(d);
    return n;
}

static void cleanup(void) {
    if (tmp_root[0] && !getenv("AUGPROBE_KEEP_TMP")) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    }
}

int main(int argc, char **argv) {
    omp_default_wait(argv);
    const char *filter = argc > 1 ? argv[1] : NULL;
    atexit(cleanup);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter) && !strstr(tests[i].file, filter)) continue;
        cur_failed = cur_skipped = 0;
        fprintf(stdout, "  %s (%s)\n", tests[i].name, tests[i].file);
        tests[i].fn();
        if (cur_failed) {
            failed++;
            fprintf(stdout, "FAIL %s\n", tests[i].name);
        } else if (cur_skipped) {
            skipped++;
        } else {
            passed++;
        }
    }
    fprintf(stdout, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

const char *test_bin(void) {
    const char *b = getenv("AUGPROBE_BIN");
    return b && *b ? b : "./augprobe";
}
