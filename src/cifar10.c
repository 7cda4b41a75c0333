/* cifar10.c - CIFAR-10 from a directory of the official binary batches or
 * from the official cifar-10-binary.tar.gz (read with libarchive, downloaded
 * with libcurl when no copy is found), md5s with OpenSSL, and the seeded
 * train/val split. Records are converted from planar RGB to HWC uint8 once,
 * at load time. */
#define _POSIX_C_SOURCE 200809L
#include "cifar10.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rng.h"

#define CIFAR_URL "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
#define CIFAR_ARCHIVE_MD5 "c32a1d4ab5d03f1284b67883e8d87530"
#define ARCHIVE_NAME "cifar-10-binary.tar.gz"
#define ARCHIVE_SUBDIR "cifar-10-batches-bin"
#define DEFAULT_DIR "data"
#define META_FILE "batches.meta.txt"
#define HINT_LOCAL                                                                         \
    "get " ARCHIVE_NAME " another way and point --data (or AUGPROBE_DATA) at it or at its " \
    "extracted " ARCHIVE_SUBDIR " directory"

/* The files of the data set: five training batches, the test batch, and the
 * class names (index N_BATCHES). */
enum { N_BATCHES = 6, N_FILES = 7, META = 6 };
static const char *const FILE_NAMES[N_FILES] = {
    "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
    "data_batch_5.bin", "test_batch.bin",   META_FILE};
static const size_t BATCH_BYTES = (size_t)CIFAR_BATCH_RECORDS * CIFAR_RECORD;
enum { META_MAX_BYTES = 1 << 16 };
/* Bounds on what we read (every read is bounded, see common.h): the official
 * archive is 170 MB and its tar 185 MB; an MD5SUMS lists seven files. */
#define ARCHIVE_MAX_BYTES ((uint64_t)512 << 20)
#define ARCHIVE_MAX_EXPANDED ((uint64_t)256 << 20)
#define MD5SUMS_MAX_BYTES ((uint64_t)64 << 10)

/* ---- md5 ---- */

static void hex_digest(const unsigned char *md, char out[33]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[32] = 0;
}

static int md5_buf(const void *data, size_t len, char out[33], const char *what, Err *e) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16)
        return err_set(e, "%s: cannot compute md5 (OpenSSL)", what);
    hex_digest(md, out);
    return 0;
}

static int md5_file(const char *path, char out[33], Err *e) {
    int fd = file_open_regular(path, ARCHIVE_MAX_BYTES, "a CIFAR-10 archive", NULL, e);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    size_t cap = 1 << 20;
    unsigned char *buf = xmalloc(cap);
    size_t got;
    while (ok && (got = fread(buf, 1, cap, f)) > 0) ok = EVP_DigestUpdate(ctx, buf, got);
    int read_bad = ferror(f);
    int read_errno = errno;
    fclose(f);
    free(buf);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (ok && !read_bad) ok = EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 16;
    EVP_MD_CTX_free(ctx);
    if (read_bad) return err_set(e, "%s: read error: %s", path, strerror(read_errno));
    if (!ok) return err_set(e, "%s: cannot compute md5 (OpenSSL)", path);
    hex_digest(md, out);
    return 0;
}

/* ---- records ---- */

static void planar_to_hwc(uint8_t *dst, const uint8_t *planes) {
    const uint8_t *r = planes, *g = planes + 1024, *b = planes + 2048;
    for (int p = 0; p < CIFAR_H * CIFAR_W; p++) {
        dst[3 * p] = r[p];
        dst[3 * p + 1] = g[p];
        dst[3 * p + 2] = b[p];
    }
}

/* Checks one batch file's bytes (size, labels) and converts its 10,000
 * records into images (HWC) and labels, on `threads` (>= 1) OpenMP threads.
 * `what` names the file in errors. */
static int decode_batch(const char *what, const uint8_t *buf, size_t len, uint8_t *images,
                        uint8_t *labels, int threads, Err *e) {
    if (len != BATCH_BYTES)
        return err_set(e, "%s: %zu bytes, expected %zu (10,000 records of 3,073 bytes)", what,
                       len, BATCH_BYTES);
    for (int r = 0; r < CIFAR_BATCH_RECORDS; r++) {
        uint8_t label = buf[(size_t)r * CIFAR_RECORD];
        if (label >= CIFAR_CLASSES)
            return err_set(e, "%s: record %d has label %d (labels are 0..9)", what, r, label);
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int r = 0; r < CIFAR_BATCH_RECORDS; r++) {
        const uint8_t *rec = buf + (size_t)r * CIFAR_RECORD;
        labels[r] = rec[0];
        planar_to_hwc(images + (size_t)r * CIFAR_PIXELS, rec + 1);
    }
    return 0;
}

/* Where batch i goes: 0..4 into the training set, 5 is the test set. */
static void batch_dest(Cifar10 *d, int i, uint8_t **images, uint8_t **labels) {
    if (i < 5) {
        *images = d->train_images + (size_t)i * CIFAR_BATCH_RECORDS * CIFAR_PIXELS;
        *labels = d->train_labels + (size_t)i * CIFAR_BATCH_RECORDS;
    } else {
        *images = d->test_images;
        *labels = d->test_labels;
    }
}

/* batches.meta.txt: the 10 class names, one per line (blank lines ignored). */
static int parse_meta(const char *what, const uint8_t *buf, size_t len,
                      char names[CIFAR_CLASSES][32], Err *e) {
    int count = 0;
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && buf[i] != '\n') i++;
        size_t end = i++;
        while (end > start && (buf[end - 1] == '\r' || buf[end - 1] == ' ' || buf[end - 1] == '\t'))
            end--;
        while (start < end && (buf[start] == ' ' || buf[start] == '\t')) start++;
        if (end == start) continue;
        /* a NUL would silently shorten the name; other control bytes would
         * reach the terminal when names are printed */
        for (size_t k = start; k < end; k++)
            if (buf[k] < 0x20 && buf[k] != '\t')
                return err_set(e, "%s: line of class name %d has control byte 0x%02x", what,
                               count + 1, buf[k]);
        if (count < CIFAR_CLASSES) {
            if (end - start > 31)
                return err_set(e, "%s: class name %d is longer than 31 characters", what,
                               count + 1);
            memcpy(names[count], buf + start, end - start);
            names[count][end - start] = 0;
        }
        count++;
    }
    if (count != CIFAR_CLASSES)
        return err_set(e, "%s: %d class names, expected 10 (one per line)", what, count);
    return 0;
}

static void alloc_sets(Cifar10 *d) {
    d->train_images = xmalloc((size_t)CIFAR_TRAIN_ALL * CIFAR_PIXELS);
    d->train_labels = xmalloc(CIFAR_TRAIN_ALL);
    d->test_images = xmalloc((size_t)CIFAR_TEST * CIFAR_PIXELS);
    d->test_labels = xmalloc(CIFAR_TEST);
}

/* ---- a directory of batch files ---- */

/* Reads DIR/MD5SUMS ("md5  name" lines, as md5sum writes) into sums[i] for
 * our files. Returns 1 if the file exists, 0 if not, -1 on error. */
static int read_md5sums(const char *dir, char sums[N_FILES][33], Err *e) {
    for (int i = 0; i < N_FILES; i++) sums[i][0] = 0;
    char *path = path_join(dir, "MD5SUMS");
    if (!path_exists(path)) {
        free(path);
        return 0;
    }
    uint8_t *buf;
    size_t len;
    if (file_read_max(path, MD5SUMS_MAX_BYTES, "an MD5SUMS list", &buf, &len, e)) {
        free(path);
        return -1;
    }
    int rc = 1, lineno = 0;
    for (char *save = NULL, *line = strtok_r((char *)buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        if (!n) continue;
        int hexok = n > 34 && strspn(line, "0123456789abcdefABCDEF") == 32 && line[32] == ' ';
        if (!hexok) {
            rc = err_set(e, "%s: line %d is not 'md5  filename'", path, lineno);
            break;
        }
        const char *name = line + 33;
        if (*name == ' ' || *name == '*') name++;
        for (int i = 0; i < N_FILES; i++)
            if (!strcmp(name, FILE_NAMES[i])) {
                for (int k = 0; k < 32; k++)
                    sums[i][k] = (char)(line[k] >= 'A' && line[k] <= 'F' ? line[k] + 32 : line[k]);
                sums[i][32] = 0;
            }
    }
    free(buf);
    free(path);
    return rc;
}

/* Reads DIR/FILE_NAMES[i] whole; checks it against want_md5 when given. */
static int read_dir_file(const char *dir, int i, const char *want_md5, uint8_t **buf,
                         size_t *len, Err *e) {
    *buf = NULL;
    char *path = path_join(dir, FILE_NAMES[i]);
    struct stat st;
    int rc = 0;
    if (stat(path, &st) != 0)
        rc = errno == ENOENT ? err_set(e, "%s: missing", path)
                             : err_set(e, "%s: cannot access: %s", path, strerror(errno));
    else
        rc = file_read_max(path, i == META ? META_MAX_BYTES : BATCH_BYTES,
                           i == META ? "10 class names" : "a CIFAR-10 batch", buf, len, e);
    if (rc == 0 && want_md5 && want_md5[0]) {
        char got[33];
        rc = md5_buf(*buf, *len, got, path, e);
        if (rc == 0 && strcmp(got, want_md5))
            rc = err_set(e, "%s: md5 %s does not match MD5SUMS (%s): the file is damaged", path,
                         got, want_md5);
    }
    if (rc && *buf) {
        free(*buf);
        *buf = NULL;
    }
    free(path);
    return rc;
}

static int load_dir(Cifar10 *d, const char *dir, int threads, Err *e) {
    char sums[N_FILES][33];
    int have_sums = read_md5sums(dir, sums, e);
    if (have_sums < 0) return -1;
    uint8_t *meta;
    size_t meta_len;
    if (read_dir_file(dir, META, sums[META], &meta, &meta_len, e)) return -1;
    char *meta_path = path_join(dir, META_FILE);
    int rc = parse_meta(meta_path, meta, meta_len, d->class_names, e);
    free(meta_path);
    free(meta);
    if (rc) return -1;

    /* Sizes first, so a missing or short file is reported before 184 MB
     * are read. */
    for (int i = 0; i < N_BATCHES; i++) {
        char *path = path_join(dir, FILE_NAMES[i]);
        struct stat st;
        int rc = 0, fd = -1;
        uint64_t size = 0;
        if (stat(path, &st) != 0)
            rc = errno == ENOENT ? err_set(e, "%s: missing", path)
                                 : err_set(e, "%s: cannot access: %s", path, strerror(errno));
        else if ((fd = file_open_regular(path, UINT64_MAX, "a CIFAR-10 batch", &size, e)) < 0)
            rc = -1; /* a device, a FIFO, a directory: refused without reading it */
        else if (size != BATCH_BYTES)
            rc = err_set(e, "%s: %llu bytes, expected %zu (10,000 records of 3,073 bytes)", path,
                         (unsigned long long)size, BATCH_BYTES);
        if (fd >= 0) close(fd);
        free(path);
        if (rc) return -1;
    }
    alloc_sets(d);
    /* One file per thread; the conversion inside runs serially then. The
     * error reported is that of the first bad file, whatever the threads. */
    Err errs[N_BATCHES];
    int bad[N_BATCHES];
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int i = 0; i < N_BATCHES; i++) {
        uint8_t *buf, *images, *labels;
        size_t len;
        bad[i] = read_dir_file(dir, i, sums[i], &buf, &len, &errs[i]);
        if (!bad[i]) {
            char *path = path_join(dir, FILE_NAMES[i]);
            batch_dest(d, i, &images, &labels);
            bad[i] = decode_batch(path, buf, len, images, labels, 1, &errs[i]);
            free(path);
            free(buf);
        }
    }
    for (int i = 0; i < N_BATCHES; i++)
        if (bad[i]) {
            *e = errs[i];
            return -1;
        }
    d->verified = 0;
    if (have_sums)
        snprintf(d->note, sizeof d->note,
                 "a directory: its files match its own MD5SUMS, but official md5s are "
                 "known only for the archive " ARCHIVE_NAME);
    else
        snprintf(d->note, sizeof d->note,
                 "a directory without MD5SUMS: it cannot be checked against the official "
                 "archive md5");
    return 0;
}

/* ---- the official archive ---- */

/* Which of our files an archive member is: "cifar-10-batches-bin/NAME" (or
 * NAME at the top), optionally after "./". -1 for anything else. */
static int member_index(const char *name) {
    if (!strncmp(name, "./", 2)) name += 2;
    size_t n = strlen(ARCHIVE_SUBDIR);
    if (!strncmp(name, ARCHIVE_SUBDIR "/", n + 1)) name += n + 1;
    for (int i = 0; i < N_FILES; i++)
        if (!strcmp(name, FILE_NAMES[i])) return i;
    return -1;
}

/* Reads the current member's data into buf (at most cap bytes; *got > cap-1
 * means the member is larger than cap-1). */
static int read_member(struct archive *a, const char *what, uint8_t *buf, size_t cap,
                       size_t *got, Err *e) {
    *got = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf + *got, cap - *got);
        if (n < 0)
            return err_set(e, "%s: corrupt or truncated archive: %s", what,
                           archive_error_string(a) ? archive_error_string(a) : "read error");
        if (n == 0) return 0;
        *got += (size_t)n;
        if (*got == cap) return 0; /* larger than expected: the caller says so */
    }
}

static int load_archive(Cifar10 *d, const char *path, int threads, Err *e) {
    char md5[33];
    if (md5_file(path, md5, e)) return -1;
    struct archive *a = archive_read_new();
    if (!a) return err_set(e, "%s: cannot start libarchive", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    int rc = 0;
    if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
        rc = err_set(e, "%s: cannot open as a tar.gz archive: %s", path, archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    /* Buffers are allocated at the first member of ours, so that a file that
     * is no CIFAR-10 archive fails without touching 214 MB (which also keeps
     * fuzz/fuzz_targz.c fast under the sanitizers). */
    int found[N_FILES] = {0};
    uint64_t declared = 0; /* the members' sizes so far: bounds the decompression */
    uint8_t *buf = NULL;
    char what[1200];
    struct archive_entry *ent;
    for (;;) {
        int r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            rc = err_set(e, "%s: corrupt or truncated archive: %s", path, archive_error_string(a));
            break;
        }
        if (archive_entry_size_is_set(ent) && archive_entry_size(ent) > 0)
            declared += (uint64_t)archive_entry_size(ent);
        if (declared > ARCHIVE_MAX_EXPANDED) {
            rc = err_set(e, "%s: its members hold over %" PRIu64 " MB, more than a CIFAR-10 "
                         "archive (185 MB): refused before decompressing them", path,
                         ARCHIVE_MAX_EXPANDED >> 20);
            break;
        }
        const char *name = archive_entry_pathname(ent);
        int i = name && archive_entry_filetype(ent) == AE_IFREG ? member_index(name) : -1;
        if (i < 0) continue; /* readme.html, the directory entry: skipped by the next header */
        snprintf(what, sizeof what, "%s: %s", path, name);
        if (found[i]) {
            rc = err_set(e, "%s: appears twice in the archive", what);
            break;
        }
        found[i] = 1;
        size_t cap = i == META ? META_MAX_BYTES : BATCH_BYTES + 1, got;
        if (i != META && archive_entry_size_is_set(ent) &&
            (size_t)archive_entry_size(ent) != BATCH_BYTES) {
            rc = err_set(e, "%s: %lld bytes, expected %zu (10,000 records of 3,073 bytes)", what,
                         (long long)archive_entry_size(ent), BATCH_BYTES);
            break;
        }
        if (!buf) buf = xmalloc(BATCH_BYTES + 1);
        if (read_member(a, what, buf, cap, &got, e)) {
            rc = -1;
            break;
        }
        if (i == META) {
            rc = got >= cap ? err_set(e, "%s: too large for 10 class names", what)
                            : parse_meta(what, buf, got, d->class_names, e);
        } else {
            uint8_t *images, *labels;
            if (!d->train_images) alloc_sets(d);
            batch_dest(d, i, &images, &labels);
            rc = decode_batch(what, buf, got, images, labels, threads, e);
        }
        if (rc) break;
    }
    for (int i = 0; rc == 0 && i < N_FILES; i++)
        if (!found[i])
            rc = err_set(e, "%s: no %s/%s in the archive", path, ARCHIVE_SUBDIR, FILE_NAMES[i]);
    free(buf);
    archive_read_free(a);
    if (rc) return -1;
    d->verified = !strcmp(md5, CIFAR_ARCHIVE_MD5);
    if (d->verified)
        snprintf(d->note, sizeof d->note, "official archive md5 %s", md5);
    else
        snprintf(d->note, sizeof d->note, "archive md5 %s is not the official %s", md5,
                 CIFAR_ARCHIVE_MD5);
    return 0;
}

/* ---- download ---- */

typedef struct Download {
    FILE *f;
    EVP_MD_CTX *md5;
    size_t bytes;
    int write_errno; /* set when a write to the temp file failed */
    int bar;         /* draw a progress bar (stderr is a terminal, not quiet) */
    int drawn_finish; /* the 100% bar is drawn */
    double t0, last_draw;
} Download;

static size_t download_write(char *ptr, size_t size, size_t nmemb, void *user) {
    Download *dl = user;
    size_t n = size * nmemb;
    if (fwrite(ptr, 1, n, dl->f) != n) {
        dl->write_errno = errno ? errno : EIO;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (!EVP_DigestUpdate(dl->md5, ptr, n)) {
        dl->write_errno = EIO;
        return 0;
    }
    dl->bytes += n;
    return n;
}

static void draw_bar(double now_b, double total_b, double secs) {
    const int width = 30;
    double frac = total_b > 0 ? now_b / total_b : 0;
    if (frac > 1) frac = 1;
    char bar[64];
    int fill = (int)(frac * width);
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double mb = 1e-6;
    fprintf(stderr, "\r  %s [%s] %3.0f%%  %6.1f / %.1f MB  %5.1f MB/s ", ARCHIVE_NAME, bar,
            100 * frac, now_b * mb, total_b * mb, secs > 0 ? now_b * mb / secs : 0.0);
}

static int download_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult,
                             curl_off_t ulnow) {
    (void)ult;
    (void)ulnow;
    Download *dl = user;
    double now = now_seconds();
    int finished = dltotal > 0 && dlnow == dltotal;
    if (finished && dl->drawn_finish) return 0;
    if (now - dl->last_draw >= 0.1 || finished) {
        dl->last_draw = now;
        dl->drawn_finish = finished;
        draw_bar((double)dlnow, (double)dltotal, now - dl->t0);
    }
    return 0;
}

/* Says why curl failed, in words a user can act on. */
static void describe_curl_error(CURLcode res, CURL *c, const Download *dl, const char *tmp,
                                const char *errbuf, char *out, size_t cap) {
    long status = 0;
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        snprintf(out, cap, "cannot resolve the host name (no network or DNS?)");
        break;
    case CURLE_COULDNT_CONNECT:
        snprintf(out, cap, "cannot connect (no network, or the server is down?)");
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, cap, "timed out (no network, or too slow?)");
        break;
    case CURLE_HTTP_RETURNED_ERROR:
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        snprintf(out, cap, "the server answered HTTP %ld", status);
        break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
        snprintf(out, cap, "the connection broke after %zu bytes", dl->bytes);
        break;
    case CURLE_WRITE_ERROR:
        if (dl->write_errno) {
            snprintf(out, cap, "cannot write %s: %s", tmp, strerror(dl->write_errno));
            break;
        }
        /* fall through */
    default:
        snprintf(out, cap, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
    }
}

/* Downloads the archive to dest (via dest.tmp, renamed once its md5 is
 * right). */
static int download_archive(const char *dest, int quiet, Err *e) {
    const char *url = getenv("AUGPROBE_CIFAR_URL");
    if (!url || !*url) url = CIFAR_URL;
    const char *want = getenv("AUGPROBE_CIFAR_MD5");
    if (!want || !*want) want = CIFAR_ARCHIVE_MD5;

    char *dir = xstrdup(dest);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        if (mkdir_p(dir, e)) {
            free(dir);
            return -1;
        }
    }
    free(dir);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(e, "download of %s: cannot start libcurl", url);
    AtomicFile af;
    if (atomic_open(&af, dest, e)) {
        curl_global_cleanup();
        return -1;
    }
    Download dl = {.f = af.f, .md5 = EVP_MD_CTX_new(), .t0 = now_seconds()};
    dl.bar = !quiet && isatty(STDERR_FILENO);
    CURL *c = curl_easy_init();
    int rc = 0;
    if (!c || !dl.md5 || !EVP_DigestInit_ex(dl.md5, EVP_md5(), NULL)) {
        rc = err_set(e, "download of %s: cannot start libcurl/OpenSSL", url);
        goto done;
    }
    if (!quiet) fprintf(stderr, "augprobe: downloading %s to %s\n", url, dest);
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &dl);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1000L); /* bytes/s ... */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);    /* ... for a minute */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "augprobe/" AUGPROBE_VERSION);
    if (dl.bar) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, download_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &dl);
    }
    CURLcode res = curl_easy_perform(c);
    if (dl.bar) fputc('\n', stderr);
    if (res != CURLE_OK) {
        char why[256];
        describe_curl_error(res, c, &dl, af.tmp_path, errbuf, why, sizeof why);
        rc = err_set(e, "download of %s failed: %s; " HINT_LOCAL, url, why);
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char got[33];
    if (!EVP_DigestFinal_ex(dl.md5, md, &mdlen) || mdlen != 16) {
        rc = err_set(e, "download of %s: cannot compute md5 (OpenSSL)", url);
        goto done;
    }
    hex_digest(md, got);
    if (strcmp(got, want)) {
        rc = err_set(e,
                     "download of %s failed: checksum mismatch: md5 %s, expected %s (%zu bytes; "
                     "damaged or not the official archive); " HINT_LOCAL,
                     url, got, want, dl.bytes);
        goto done;
    }
done:
    if (c) curl_easy_cleanup(c);
    EVP_MD_CTX_free(dl.md5);
    curl_global_cleanup();
    if (rc) {
        atomic_abort(&af);
        return -1;
    }
    if (atomic_commit(&af, e)) return -1;
    if (!quiet)
        fprintf(stderr, "augprobe: downloaded %.1f MB in %.1f s, md5 %s ok\n", dl.bytes * 1e-6,
                now_seconds() - dl.t0, got);
    return 0;
}

/* ---- finding the data ---- */

static int dir_has_any_file(const char *dir) {
    for (int i = 0; i < N_FILES; i++) {
        char *p = path_join(dir, FILE_NAMES[i]);
        int yes = path_exists(p);
        free(p);
        if (yes) return 1;
    }
    return 0;
}

/* Decides what `path` is: *out becomes the directory or archive to read. A
 * directory may also hold the archive or the extracted cifar-10-batches-bin/. */
static int resolve_path(const char *path, char **out, int *is_archive, Err *e) {
    struct stat st;
    if (stat(path, &st) != 0) return err_set(e, "%s: cannot access: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        if (access(path, R_OK) != 0)
            return err_set(e, "%s: cannot read: %s", path, strerror(errno));
        *out = xstrdup(path);
        *is_archive = 1;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) return err_set(e, "%s: not a directory or a file", path);
    if (access(path, R_OK | X_OK) != 0)
        return err_set(e, "%s: cannot read: %s", path, strerror(errno));
    if (dir_has_any_file(path)) {
        *out = xstrdup(path);
        *is_archive = 0;
        return 0;
    }
    char *archive = path_join(path, ARCHIVE_NAME);
    if (path_exists(archive)) {
        *out = archive;
        *is_archive = 1;
        return 0;
    }
    free(archive);
    char *sub = path_join(path, ARCHIVE_SUBDIR);
    if (path_is_dir(sub) && dir_has_any_file(sub)) {
        *out = sub;
        *is_archive = 0;
        return 0;
    }
    free(sub);
    return err_set(e,
                   "%s: no CIFAR-10 here: expected data_batch_1..5.bin, test_batch.bin and "
                   "batches.meta.txt, or " ARCHIVE_NAME,
                   path);
}

int cifar10_load(Cifar10 *d, const char *path, int allow_download, int quiet, int threads,
                 Err *e) {
    memset(d, 0, sizeof *d);
    char *where = NULL;
    int is_archive = 0;
    if (path) {
        if (resolve_path(path, &where, &is_archive, e)) return -1;
    } else if (path_is_dir(DEFAULT_DIR) &&
               (dir_has_any_file(DEFAULT_DIR) || path_exists(DEFAULT_DIR "/" ARCHIVE_NAME) ||
                path_is_dir(DEFAULT_DIR "/" ARCHIVE_SUBDIR))) {
        if (resolve_path(DEFAULT_DIR, &where, &is_archive, e)) return -1;
    } else if (allow_download) {
        int had_dir = path_exists(DEFAULT_DIR);
        if (download_archive(DEFAULT_DIR "/" ARCHIVE_NAME, quiet, e)) {
            if (!had_dir) rmdir(DEFAULT_DIR); /* leave no trace of a failed download */
            return -1;
        }
        where = xstrdup(DEFAULT_DIR "/" ARCHIVE_NAME);
        is_archive = 1;
    } else {
        return err_set(e,
                       "no CIFAR-10 found: " DEFAULT_DIR "/ has neither the batch files nor " ARCHIVE_NAME
                       ", and downloading is off; point --data (or AUGPROBE_DATA) at a CIFAR-10 "
                       "directory or " ARCHIVE_NAME);
    }
    snprintf(d->source, sizeof d->source, "%s", where);
    int rc = is_archive ? load_archive(d, where, threads, e) : load_dir(d, where, threads, e);
    free(where);
    if (rc) {
        cifar10_free(d);
        return -1;
    }
    d->train = (ImageSet){CIFAR_TRAIN_ALL, d->train_images, d->train_labels};
    d->val = (ImageSet){0, NULL, NULL};
    d->test = (ImageSet){CIFAR_TEST, d->test_images, d->test_labels};
    return 0;
}

/* ---- split, free, float ---- */

void cifar10_split(Cifar10 *d, uint64_t seed) {
    const int n = CIFAR_TRAIN_ALL;
    int *perm = xmalloc((size_t)n * sizeof *perm);
    for (int i = 0; i < n; i++) perm[i] = i;
    Rng r = rng_stream(seed, RNG_TAG_SPLIT);
    rng_shuffle(&r, perm, n);
    /* Image i of the result is image perm[i] of the original: apply the
     * permutation cycle by cycle, so no second 150 MB buffer is needed. */
    uint8_t *images = d->train_images, *labels = d->train_labels;
    uint8_t *done = xcalloc((size_t)n, 1);
    uint8_t tmp[CIFAR_PIXELS];
    for (int start = 0; start < n; start++) {
        if (done[start]) continue;
        memcpy(tmp, images + (size_t)start * CIFAR_PIXELS, CIFAR_PIXELS);
        uint8_t tmp_label = labels[start];
        int j = start;
        for (;;) {
            int k = perm[j];
            done[j] = 1;
            if (k == start) {
                memcpy(images + (size_t)j * CIFAR_PIXELS, tmp, CIFAR_PIXELS);
                labels[j] = tmp_label;
                break;
            }
            memcpy(images + (size_t)j * CIFAR_PIXELS, images + (size_t)k * CIFAR_PIXELS,
                   CIFAR_PIXELS);
            labels[j] = labels[k];
            j = k;
        }
    }
    free(done);
    free(perm);
    const int n_train = CIFAR_TRAIN_ALL - CIFAR_VAL;
    d->train = (ImageSet){n_train, images, labels};
    d->val = (ImageSet){CIFAR_VAL, images + (size_t)n_train * CIFAR_PIXELS, labels + n_train};
}

void cifar10_free(Cifar10 *d) {
    free(d->train_images);
    free(d->train_labels);
    free(d->test_images);
    free(d->test_labels);
    memset(d, 0, sizeof *d);
}

void cifar10_to_float(float *out, const uint8_t *images, long n) {
    float table[256];
    for (int v = 0; v < 256; v++) table[v] = (float)v / 255.0f;
    size_t count = (size_t)n * CIFAR_PIXELS;
    for (size_t i = 0; i < count; i++) out[i] = table[images[i]];
}
