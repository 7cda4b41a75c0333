/* test.h - the small test framework: TEST() registers a test, CHECK*
 * assert on values and record failures, SKIP() skips with a reason. The
 * runner (tests/test_main.c) ends with "N passed, N failed, N skipped". */
#ifndef AUGPROBE_TEST_H
#define AUGPROBE_TEST_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

void test_register(const char *name, void (*fn)(void), const char *file);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *reason);
int test_failed_now(void); /* the current test has failed */

#define TEST(fn)                                                                  \
    static void fn(void);                                                        \
    __attribute__((constructor)) static void test_reg_##fn(void) {               \
        test_register(#fn, fn, __FILE__);                                        \
    }                                                                            \
    static void fn(void)

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);          \
    } while (0)

/* Like CHECK, but returns from the test on failure (for preconditions). */
#define REQUIRE(cond)                                                            \
    do {                                                                         \
        if (!(cond)) {                                                           \
            test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                 \
            return;                                                              \
        }                                                                        \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                       \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        if (a_ != b_)                                                            \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                    \
    do {                                                                         \
        double a_ = (double)(a), b_ = (double)(b);                               \
        if (!(fabs(a_ - b_) <= (tol)))                                           \
            test_fail(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, \
                      (double)(tol));                                            \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                          \
    do {                                                                         \
        const char *h_ = (hay), *n_ = (needle);                                  \
        if (!h_ || !strstr(h_, n_))                                              \
            test_fail(__FILE__, __LINE__, "'%s' not found in: %s", n_, h_ ? h_ : "(null)"); \
    } while (0)

/* Element-wise |got - want| <= atol + rtol*|want|; reports the worst element. */
#define CHECK_ARRAY_NEAR(got, want, n, rtol, atol)                               \
    test_check_array(__FILE__, __LINE__, #got, got, want, n, rtol, atol)
int test_check_array(const char *file, int line, const char *what, const float *got,
                     const float *want, size_t n, double rtol, double atol);

#define SKIP(reason)                                                             \
    do {                                                                         \
        test_skip(reason);                                                       \
        return;                                                                  \
    } while (0)

/* The offline CIFAR-10 copy (../shared/data/cifar10-q75 or
 * $AUGPROBE_TEST_DATA), or NULL when absent (tests then SKIP). */
const char *test_data_dir(void);
/* A fresh empty directory for this test, removed at exit. */
const char *test_tmpdir(void);
/* Path of a fixture in tests/fixtures/. Returned buffer is static per call. */
const char *test_fixture(const char *name);
/* Reads a raw little-endian float32 fixture; returns count or -1. */
float *test_load_floats(const char *name, size_t *count);

/* Runs a shell command line, captures stdout+stderr (up to cap bytes) and
 * returns its exit status (or -1). Used for CLI tests of ./augprobe. */
int test_run(const char *cmdline, char *out, size_t cap);
/* The program under test: $AUGPROBE_BIN (set by make test), else ./augprobe. */
const char *test_bin(void);
/* How many temp files (names with ".tmp": NAME.tmp.PID, or a legacy
 * NAME.tmp) are in dir and its subdirectories (0 when dir is absent). Their
 * names go to stdout when `report` is set. */
int test_count_temp_files(const char *dir, int report);

#endif
