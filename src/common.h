/* common.h - error reporting, checked allocation and atomic file I/O shared
 * by every module. Nothing here keeps global state. */
#ifndef AUGPROBE_COMMON_H
#define AUGPROBE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus /* the CUDA backend (C++) includes it */
extern "C" {
#endif

#define AUGPROBE_VERSION "0.1.0"

/* Exit codes of the program, documented in the README. */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,     /* runtime error: bad data, I/O, diverged run */
    EXIT_USAGE = 2,    /* bad command line */
    EXIT_INTERRUPTED = 130 /* SIGINT/SIGTERM: stopped at a clean point */
};

/* An error message carried back to the caller. Functions that can fail take
 * an Err * and return -1 (or NULL) after filling it; the message is one line
 * that names the file or flag and what is wrong. */
typedef struct Err {
    char msg[512];
} Err;

/* Formats the message into e (if e is not NULL) and returns -1. */
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checked allocation: on failure prints "augprobe: out of memory (N bytes)"
 * and exits 1. Used where running out of memory cannot be recovered from. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* 64-byte aligned, zeroed; free with free(). */
float *xalloc_floats(size_t count);

/* Every read is bounded: a file we read must be a regular file (a device,
 * a FIFO or a directory is refused with one line, before anything is read:
 * /dev/zero would never end) no larger than what its format can be.
 *
 * Opens path for reading if it is a regular file of at most max_bytes;
 * returns the descriptor (and its size), or -1 with one line in e. `what`
 * names the format for the messages ("a CIFAR-10 batch"; NULL: generic).
 * The open does not block on a FIFO. */
int file_open_regular(const char *path, uint64_t max_bytes, const char *what, uint64_t *size,
                      Err *e);
/* Reads a whole regular file of at most max_bytes (checked before reading,
 * and again while reading, in case it grows). *out is NUL-terminated (not
 * counted in *len). */
int file_read_max(const char *path, uint64_t max_bytes, const char *what, uint8_t **out,
                  size_t *len, Err *e);
/* file_read_max with FILE_READ_DEFAULT_MAX: for small text and JSON files
 * (configs, history, cells, MD5SUMS). */
#define FILE_READ_DEFAULT_MAX ((uint64_t)64 << 20)
int file_read_all(const char *path, uint8_t **out, size_t *len, Err *e);
/* Writes data to path + ".tmp.PID", fsyncs it, renames it over path and
 * fsyncs the directory, so a crash, a kill -9, a power cut or a full disk
 * never leaves a half-written file in place of a good one. */
int file_write_atomic(const char *path, const void *data, size_t len, Err *e);
/* The temp-file mark: NAME.tmp.PID is the temp file of NAME, written by PID. */
#define TEMP_MARK ".tmp."
/* Same, for writers that stream: open a temp file, write, then commit. */
typedef struct AtomicFile {
    FILE *f;
    char *path;
    char *tmp_path;
} AtomicFile;
int atomic_open(AtomicFile *af, const char *path, Err *e);
/* Checks every write that went to af->f, fsyncs, renames. Closes either way. */
int atomic_commit(AtomicFile *af, Err *e);
void atomic_abort(AtomicFile *af);
/* 1 (and *pid) if name is a temp file of ours (NAME.tmp.PID), else 0. */
int temp_file_pid(const char *name, long *pid);
/* Removes the temp files (NAME.tmp.PID, regular files) in dir and its
 * subdirectories down to `depth` levels (links not followed) whose writer
 * PID is no longer alive: left by a kill -9, a crash or a power cut. Counts
 * them in *removed. Call it only on a directory this process has locked. */
int temp_files_clean(const char *dir, int depth, int *removed);

/* mkdir -p; succeeds when the directory already exists. */
int mkdir_p(const char *path, Err *e);
/* Joins dir and name with one '/', into a new string. */
char *path_join(const char *dir, const char *name);
int path_exists(const char *path);
int path_is_dir(const char *path);

double now_seconds(void); /* monotonic clock */

/* Shortest round-trip floats (for JSON, specs and tables; the JSON helpers
 * are in json_util.h, which the engine-only build cannot link).
 * float_text: the "%.*g" text with the fewest significant digits (1..9)
 * that strtof reads back to v's exact bits ("0.1", "1e-45", "-0",
 * "3.4028235e+38"); plain: prefer a text without an exponent when one of
 * at most 9 digits exists ("20", not "2e+01"). NaN and infinities: "nan",
 * "inf", "-inf". Returns buf (len >= 16 always suffices). */
char *float_text(char *buf, size_t len, float v, int plain);
/* The double nearest float_text(v)'s decimal: what a JSON writer should
 * print for a float (0.6f -> 0.6, not 0.60000002384185791). */
double float_tidy(float v);

#ifdef __cplusplus
}
#endif

#endif
