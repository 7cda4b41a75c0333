/* common.c - error messages, checked allocation, atomic file writes. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int err_set(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        /* Messages quote names from files and flags (a tensor name, an aug
         * spec); a control byte in one must not break the one-line message. */
        for (char *p = e->msg; *p; p++)
            if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) *p = '?';
    }
    return -1;
}

static void oom(size_t n) {
    fprintf(stderr, "augprobe: out of memory (%zu bytes)\n", n);
    exit(EXIT_FAIL);
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

/* Buffers of 4 MB and more (weights, gradients, moments, activations,
 * scratch) are 2 MB aligned and asked for transparent huge pages: the
 * training step streams ~100 MB, and with 4 KB pages its TLB misses cost
 * time (the kernel's THP mode here is "madvise": nothing is huge unasked). */
#define HUGE_FROM ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

float *xalloc_floats(size_t count) {
    size_t bytes = (count ? count : 1) * sizeof(float);
    size_t align = bytes >= HUGE_FROM ? HUGE_PAGE : 64;
    bytes = (bytes + align - 1) & ~(align - 1);
    float *p = aligned_alloc(align, bytes);
    if (!p) oom(bytes);
#ifdef MADV_HUGEPAGE
    if (align == HUGE_PAGE) madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    memset(p, 0, bytes);
    return p;
}

static const char *file_kind(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

int file_open_regular(const char *path, uint64_t max_bytes, const char *what, uint64_t *size,
                      Err *e) {
    /* O_NONBLOCK: opening a FIFO without a writer must not wait for one. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int r = err_set(e, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, "%s: is %s, not a regular file%s%s", path, file_kind(st.st_mode),
                       what ? " holding " : "", what ? what : "");
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return err_set(e, "%s: %lld bytes, larger than %s can be (%" PRIu64 " bytes at most)",
                       path, (long long)st.st_size, what ? what : "a file of ours", max_bytes);
    }
    /* Back to blocking reads (a regular file never blocks anyway). */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (size) *size = (uint64_t)st.st_size;
    return fd;
}

int file_read_max(const char *path, uint64_t max_bytes, const char *what, uint8_t **out,
                  size_t *len, Err *e) {
    *out = NULL;
    *len = 0;
    uint64_t size;
    int fd = file_open_regular(path, max_bytes, what, &size, e);
    if (fd < 0) return -1;
    /* The size is known, but the file may grow while it is read: never read
     * more than max_bytes + 1 (the +1 tells that it grew past the bound). */
    size_t cap = (size_t)size + 1, n = 0;
    uint8_t *buf = xmalloc(cap + 1);
    int rc = 0;
    for (;;) {
        if (n == cap) {
            if (cap > max_bytes) break;
            cap = cap * 2 > max_bytes + 1 ? (size_t)max_bytes + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            rc = err_set(e, "%s: read error: %s", path, strerror(errno));
            break;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (rc == 0 && n > max_bytes)
        rc = err_set(e, "%s: grew past %" PRIu64 " bytes while being read", path, max_bytes);
    if (rc) {
        free(buf);
        return -1;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int file_read_all(const char *path, uint8_t **out, size_t *len, Err *e) {
    return file_read_max(path, FILE_READ_DEFAULT_MAX, NULL, out, len, e);
}

/* Test hook (AUGPROBE_TEST_SLOW_WRITES=MS): every atomic write pauses MS
 * milliseconds with its temp file just created, and again with it complete
 * but not yet renamed, so tests/test_chaos.c can land a SIGKILL there. */
static void slow_write_pause(void) {
    const char *s = getenv("AUGPROBE_TEST_SLOW_WRITES");
    if (!s || !*s) return;
    long ms = strtol(s, NULL, 10);
    if (ms <= 0 || ms > 10000) return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Removes path's own stale temp files (path.tmp.PID whose PID is gone): a
 * killed writer of this very file left them; the next writer of it cleans
 * up, with or without a directory lock (export -o, preview -o, the
 * download). */
static void clean_stale_temps_of(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    char *dir = slash ? xstrdup(path) : xstrdup(".");
    if (slash) dir[slash == path ? 1 : (size_t)(slash - path)] = 0;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        long pid;
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, base, blen) || strncmp(de->d_name + blen, TEMP_MARK,
                                                            strlen(TEMP_MARK)))
                continue;
            if (!temp_file_pid(de->d_name, &pid) || pid == (long)getpid()) continue;
            if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to tell */
            char *p = path_join(dir, de->d_name);
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) remove(p);
            free(p);
        }
        closedir(d);
    }
    free(dir);
}

int atomic_open(AtomicFile *af, const char *path, Err *e) {
    clean_stale_temps_of(path);
    af->path = xstrdup(path);
    size_t n = strlen(path) + 32;
    af->tmp_path = xmalloc(n);
    snprintf(af->tmp_path, n, "%s" TEMP_MARK "%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        int r = err_set(e, "%s: cannot write: %s", af->tmp_path, strerror(errno));
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return r;
    }
    slow_write_pause();
    return 0;
}

void atomic_abort(AtomicFile *af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) remove(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    af->f = NULL;
    af->path = af->tmp_path = NULL;
}

/* fsyncs the directory holding path, so that a rename survives a power cut. */
static void sync_parent_dir(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) slash[1] = 0;
    else *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse fsync on a directory */
        close(fd);
    }
    free(dir);
}

int atomic_commit(AtomicFile *af, Err *e) {
    int rc = 0;
    errno = 0;
    if (ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0)
        rc = err_set(e, "%s: write failed: %s", af->path, strerror(errno ? errno : EIO));
    if (fclose(af->f) != 0 && rc == 0)
        rc = err_set(e, "%s: write failed: %s", af->path, strerror(errno));
    af->f = NULL;
    if (rc == 0) slow_write_pause();
    if (rc == 0 && rename(af->tmp_path, af->path) != 0)
        rc = err_set(e, "%s: cannot rename temporary file: %s", af->path, strerror(errno));
    if (rc != 0) remove(af->tmp_path);
    else sync_parent_dir(af->path);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return rc;
}

int file_write_atomic(const char *path, const void *data, size_t len, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e)) return -1;
    if (len && fwrite(data, 1, len, af.f) != len) {
        int r = err_set(e, "%s: write failed: %s", path, strerror(errno));
        atomic_abort(&af);
        return r;
    }
    return atomic_commit(&af, e);
}

int temp_file_pid(const char *name, long *pid) {
    const char *m = strstr(name, TEMP_MARK);
    if (!m || m == name) return 0;
    const char *d = m + strlen(TEMP_MARK);
    /* the last occurrence: a name may contain the mark itself */
    for (const char *n = strstr(d, TEMP_MARK); n; n = strstr(n + 1, TEMP_MARK))
        d = n + strlen(TEMP_MARK);
    if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 9) return 0;
    long p = strtol(d, NULL, 10);
    if (p <= 0) return 0;
    if (pid) *pid = p;
    return 1;
}

int temp_files_clean(const char *dir, int depth, int *removed) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, "..")) continue;
        char *p = path_join(dir, nm);
        struct stat st;
        long pid;
        if (lstat(p, &st) == 0) { /* lstat: never follow a link out of the directory */
            if (S_ISDIR(st.st_mode) && depth > 0) {
                temp_files_clean(p, depth - 1, removed);
            } else if (S_ISREG(st.st_mode) && temp_file_pid(nm, &pid) && pid != (long)getpid() &&
                       kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
                /* its writer is dead: a kill, a crash or a power cut cut it short */
                if (remove(p) == 0 && removed) (*removed)++;
            }
        }
        free(p);
    }
    closedir(d);
    return 0;
}

int mkdir_p(const char *path, Err *e) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int r = err_set(e, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return r;
        }
        *s = '/';
    }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        int r = err_set(e, "%s: cannot create directory: %s", p, strerror(errno));
        free(p);
        return r;
    }
    free(p);
    if (!path_is_dir(path)) return err_set(e, "%s: exists and is not a directory", path);
    return 0;
}

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = xmalloc(a + b + 2);
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- shortest round-trip floats ---- */

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* The prec-digit decimal nearest v that strtof reads back to v, as "%.*g"
 * text, or 0. The correctly rounded one is nearest; where it fails (at a
 * power of two the gap below v is half the gap above) a neighbour may not
 * (2^-96 = 1.2621775e-29 in 8 digits, where rounding gives 1.2621774e-29). */
static int text_at(char *buf, size_t len, float v, int prec) {
    char e[48];
    snprintf(e, sizeof e, "%.*e", prec - 1, (double)v);
    double base = strtod(e, NULL), step = pow(10.0, atoi(strchr(e, 'e') + 1) - (prec - 1));
    double cand[3] = {base, base - step, base + step}, best = 0;
    int found = 0;
    for (int k = 0; k < 3; k++) {
        char t[48];
        snprintf(t, sizeof t, "%.*g", prec, cand[k]);
        if (!same_bits(strtof(t, NULL), v)) continue;
        double dist = fabs(strtod(t, NULL) - (double)v);
        if (!found || dist < best) snprintf(buf, len, "%s", t), best = dist, found = 1;
        if (k == 0) break; /* the nearest: no neighbour is nearer */
    }
    return found;
}

char *float_text(char *buf, size_t len, float v, int plain) {
    if (!len) return buf;
    if (v != v || v - v != 0.0f) { /* NaN, or an infinity */
        snprintf(buf, len, "%s", v != v ? "nan" : v > 0 ? "inf" : "-inf");
        return buf;
    }
    for (int pass = plain ? 0 : 1; pass < 2; pass++)
        for (int prec = 1; prec <= 9; prec++)
            if (text_at(buf, len, v, prec) && (pass || !strchr(buf, 'e'))) return buf;
    return buf; /* not reached: 9 digits always round-trip a float */
}

double float_tidy(float v) {
    char buf[32];
    return strtod(float_text(buf, sizeof buf, v, 0), NULL);
}
