/* badinput_util.h - helpers shared by the bad-input matrix tests: run the
 * CLI, check its one-line error, build damaged copies of the data set. */
#ifndef AUGPROBE_BADINPUT_UTIL_H
#define AUGPROBE_BADINPUT_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/cifar10.h"
#include "../src/common.h"
#include "test.h"

#define OUT_CAP 16384
#define BATCH_BYTES ((size_t)CIFAR_BATCH_RECORDS * CIFAR_RECORD)

static const char *const BATCH_FILES[] = {"data_batch_1.bin", "data_batch_2.bin",
                                          "data_batch_3.bin", "data_batch_4.bin",
                                          "data_batch_5.bin", "test_batch.bin"};

/* Runs "BIN ARGS" (ARGS printf-formatted) and returns its exit code. */
__attribute__((format(printf, 3, 4))) static inline int cli(char *out, size_t cap, const char *fmt,
                                                     ...) {
    char args[3072], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s", test_bin(), args);
    return test_run(cmd, out, cap);
}

static inline int not_landed(const char *out) { return strstr(out, "not implemented yet") != NULL; }
#define SKIP_IF_NOT_LANDED(out)                                                        \
    do {                                                                               \
        if (not_landed(out)) SKIP("command not landed yet (prints 'not implemented yet')"); \
    } while (0)

/* The first line of out, copied into line. */
static inline const char *first_line(const char *out, char *line, size_t cap) {
    size_t n = strcspn(out, "\n");
    if (n >= cap) n = cap - 1;
    memcpy(line, out, n);
    line[n] = 0;
    return line;
}

/* The error is on the first line, starts with "augprobe CMD: " and names
 * both `where` and `what` (either may be NULL). */
static inline void check_error_line(const char *out, const char *cmd, const char *where,
                             const char *what) {
    char line[2048], prefix[64];
    first_line(out, line, sizeof line);
    snprintf(prefix, sizeof prefix, "augprobe %s: ", cmd);
    if (strncmp(line, prefix, strlen(prefix)))
        test_fail(__FILE__, __LINE__, "first line does not start with '%s': %s", prefix, line);
    if (where) CHECK_STR_CONTAINS(line, where);
    if (what) CHECK_STR_CONTAINS(line, what);
}

static inline char *abs_data_dir(void) {
    const char *d = test_data_dir();
    if (!d) return NULL;
    return realpath(d, NULL);
}

static inline int write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static inline uint8_t *read_bytes(const char *path, size_t *n) {
    uint8_t *p;
    Err e;
    if (file_read_all(path, &p, n, &e)) return NULL;
    return p;
}

/* A data directory in a fresh tmpdir: symlinks to the offline copy's files
 * except `skip` (NULL: none); returns the directory (static per call). */
static inline const char *make_data_dir(const char *skip, int with_md5sums) {
    static char dir[1024];
    char *src = abs_data_dir();
    if (!src) return NULL;
    snprintf(dir, sizeof dir, "%s/data", test_tmpdir());
    if (mkdir(dir, 0777)) {
        free(src);
        return NULL;
    }
    const char *extra[] = {"batches.meta.txt", with_md5sums ? "MD5SUMS" : NULL};
    for (int i = 0; i < 8; i++) {
        const char *name = i < 6 ? BATCH_FILES[i] : extra[i - 6];
        if (!name || (skip && !strcmp(name, skip))) continue;
        char from[2048], to[2048];
        snprintf(from, sizeof from, "%s/%s", src, name);
        snprintf(to, sizeof to, "%s/%s", dir, name);
        if (symlink(from, to)) {
            free(src);
            return NULL;
        }
    }
    free(src);
    return dir;
}

/* Replaces dir/name by a regular file of the real file's first `len` bytes
 * (zero-padded past its end), with `edit` applied at byte `at` (< len). */
static inline int replace_batch(const char *dir, const char *name, size_t len, long at, uint8_t value) {
    char *src = abs_data_dir();
    char from[2048], to[2048];
    snprintf(from, sizeof from, "%s/%s", src, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    free(src);
    size_t n;
    uint8_t *real = read_bytes(from, &n);
    if (!real) return -1;
    uint8_t *buf = xcalloc(len ? len : 1, 1);
    memcpy(buf, real, len < n ? len : n);
    if (at >= 0 && (size_t)at < len) buf[at] = value;
    remove(to);
    int rc = write_bytes(to, buf, len);
    free(buf);
    free(real);
    return rc;
}


#endif
