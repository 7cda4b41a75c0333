/* common.c - error messages, checked allocation, atomic file writes. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "common.h"

#include <errno.h>
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

int file_read_all(const char *path, uint8_t **out, size_t *len, Err *e) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return err_set(e, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int atomic_open(AtomicFile *af, const char *path, Err *e) {
    af->path = xstrdup(path);
    size_t n = strlen(path) + 16;
    af->tmp_path = xmalloc(n);
    snprintf(af->tmp_path, n, "%s.tmp", path);
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        int r = err_set(e, "%s: cannot write: %s", af->tmp_path, strerror(errno));
        free(af->path);
        free(af->tmp_path);
        af->path = af->tmp_path = NULL;
        return r;
    }
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

int atomic_commit(AtomicFile *af, Err *e) {
    int rc = 0;
    if (ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0)
        rc = err_set(e, "%s: write failed: %s", af->path, strerror(errno ? errno : EIO));
    if (fclose(af->f) != 0 && rc == 0)
        rc = err_set(e, "%s: write failed: %s", af->path, strerror(errno));
    af->f = NULL;
    if (rc == 0 && rename(af->tmp_path, af->path) != 0)
        rc = err_set(e, "%s: cannot rename temporary file: %s", af->path, strerror(errno));
    if (rc != 0) remove(af->tmp_path);
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
