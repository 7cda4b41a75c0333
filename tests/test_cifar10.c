/* test_cifar10.c - the CIFAR-10 data layer and `augprobe data`: the offline
 * copy (counts, HWC conversion against the raw bytes), a synthetic data set
 * whose pixels encode each image's index (directory == tar.gz, the split is
 * a seeded partition), every kind of bad data, and the download's failure
 * and success paths (no network needed: refused port, file:// URLs, a
 * one-shot local HTTP server). */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/cifar10.h"
#include "../src/rng.h"
#include "test.h"

static const char *const NAMES[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                      "dog",      "frog",       "horse", "ship", "truck"};
static const char *const FILES[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                     "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
static const size_t BATCH_BYTES = (size_t)CIFAR_BATCH_RECORDS * CIFAR_RECORD;

/* ---- a synthetic data set: image g (0..49,999 train, 50,000.. test) has
 * label synth_label(g) and its index in the first three red bytes ---- */

static uint8_t synth_label(int g) { return (uint8_t)((g * 7 + g / 11) % 10); }
static uint8_t synth_pixel(int g, int c, int p) {
    if (c == 0 && p < 3) return (uint8_t)(g >> (8 * (2 - p)));
    return (uint8_t)(p * 5 + c * 17 + (p >> 5));
}
/* The index an HWC image carries (red channel of pixels 0, 1, 2). */
static int synth_index(const uint8_t *img) { return img[0] << 16 | img[3] << 8 | img[6]; }

/* The bytes of synthetic batch file f (0..5), in the official layout. */
static uint8_t *synth_batch(int f) {
    uint8_t *buf = malloc(BATCH_BYTES);
    if (!buf) return NULL;
    uint8_t rec[CIFAR_RECORD];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 1024; p++) rec[1 + c * 1024 + p] = synth_pixel(0, c, p);
    for (int r = 0; r < CIFAR_BATCH_RECORDS; r++) {
        int g = f * CIFAR_BATCH_RECORDS + r;
        uint8_t *o = buf + (size_t)r * CIFAR_RECORD;
        memcpy(o, rec, CIFAR_RECORD);
        o[0] = synth_label(g);
        for (int p = 0; p < 3; p++) o[1 + p] = synth_pixel(g, 0, p);
    }
    return buf;
}

static char *meta_text(int n_names) {
    static char buf[256];
    buf[0] = 0;
    for (int k = 0; k < n_names; k++) {
        strcat(buf, NAMES[k]);
        strcat(buf, "\n");
    }
    strcat(buf, "\n");
    return buf;
}

static int write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* A synthetic tar.gz: members under cifar-10-batches-bin/ in the order
 * batches.meta.txt, data_batch_1..5.bin, test_batch.bin; only the first
 * n_members of them; member `shorten` (0..5) written 3,073 bytes short
 * (-1: none). */
static int write_targz(const char *path, int n_members, int shorten) {
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_ustar(a);
    archive_write_set_filter_option(a, "gzip", "compression-level", "1");
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) return -1;
    int rc = 0;
    for (int m = 0; m < n_members && rc == 0; m++) {
        int i = (m + 6) % 7; /* meta first */
        uint8_t *data = i < 6 ? synth_batch(i) : (uint8_t *)meta_text(10);
        size_t len = i < 6 ? BATCH_BYTES : strlen((char *)data);
        if (i == shorten) len -= CIFAR_RECORD;
        char name[128];
        snprintf(name, sizeof name, "cifar-10-batches-bin/%s", i < 6 ? FILES[i] : "batches.meta.txt");
        struct archive_entry *ent = archive_entry_new();
        archive_entry_set_pathname(ent, name);
        archive_entry_set_size(ent, (la_int64_t)len);
        archive_entry_set_filetype(ent, AE_IFREG);
        archive_entry_set_perm(ent, 0644);
        if (archive_write_header(a, ent) != ARCHIVE_OK ||
            archive_write_data(a, data, len) != (la_ssize_t)len)
            rc = -1;
        archive_entry_free(ent);
        if (i < 6) free(data);
    }
    if (archive_write_close(a) != ARCHIVE_OK) rc = -1;
    archive_write_free(a);
    return rc;
}

static int md5_of_file(const char *path, char out[33]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(ctx, buf, n);
    fclose(f);
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < len; i++) sprintf(out + 2 * i, "%02x", md[i]);
    return 0;
}

/* The synthetic directory and archive, made once per test run (test state,
 * not library state). */
static struct {
    char dir[512], targz[512];
} synth;

static const char *synth_dir(void) {
    if (synth.dir[0]) return synth.dir;
    const char *t = test_tmpdir();
    char dir[512];
    snprintf(dir, sizeof dir, "%s", t);
    for (int i = 0; i < 6; i++) {
        uint8_t *b = synth_batch(i);
        int rc = b ? write_file(dir, FILES[i], b, BATCH_BYTES) : -1;
        free(b);
        if (rc) return NULL;
    }
    const char *meta = meta_text(10);
    if (write_file(dir, "batches.meta.txt", meta, strlen(meta))) return NULL;
    snprintf(synth.dir, sizeof synth.dir, "%s", dir);
    return synth.dir;
}

static const char *synth_targz(void) {
    if (synth.targz[0]) return synth.targz;
    char path[512];
    snprintf(path, sizeof path, "%s/cifar-10-binary.tar.gz", test_tmpdir());
    if (write_targz(path, 7, -1)) return NULL;
    snprintf(synth.targz, sizeof synth.targz, "%s", path);
    return synth.targz;
}

/* A fresh directory linking to the synthetic files, except `except` (a file
 * name, or NULL), which the caller then writes broken. */
static const char *linked_copy(const char *except) {
    const char *src = synth_dir();
    if (!src) return NULL;
    const char *dst = test_tmpdir();
    const char *all[7] = {FILES[0], FILES[1], FILES[2], FILES[3], FILES[4], FILES[5],
                          "batches.meta.txt"};
    for (int i = 0; i < 7; i++) {
        if (except && !strcmp(all[i], except)) continue;
        char from[1024], to[1024];
        snprintf(from, sizeof from, "%s/%s", src, all[i]);
        snprintf(to, sizeof to, "%s/%s", dst, all[i]);
        if (symlink(from, to)) return NULL;
    }
    return dst;
}

/* Loads path and expects failure with a message containing want1 and want2;
 * checks nothing is left allocated. */
static void expect_load_error(const char *path, const char *want1, const char *want2) {
    Cifar10 d;
    Err e = {{0}};
    int rc = cifar10_load(&d, path, 0, 1, 2, &e);
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_CONTAINS(e.msg, want1);
    if (want2) CHECK_STR_CONTAINS(e.msg, want2);
    CHECK(strchr(e.msg, '\n') == NULL);
    CHECK(d.train_images == NULL && d.test_images == NULL && d.train.n == 0);
    if (rc == 0) cifar10_free(&d);
}

static const char *abs_bin(void) {
    static char buf[512];
    char *p = realpath(test_bin(), NULL);
    snprintf(buf, sizeof buf, "%s", p ? p : test_bin());
    free(p);
    return buf;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The synthetic set as cifar10_load would return it (HWC), built in memory:
 * the split tests need no files. */
static int synth_in_memory(Cifar10 *d) {
    memset(d, 0, sizeof *d);
    d->train_images = malloc((size_t)50000 * CIFAR_PIXELS);
    d->train_labels = malloc(50000);
    d->test_images = malloc((size_t)10000 * CIFAR_PIXELS);
    d->test_labels = malloc(10000);
    if (!d->train_images || !d->train_labels || !d->test_images || !d->test_labels) return -1;
    uint8_t tmpl[CIFAR_PIXELS];
    for (int p = 0; p < 1024; p++)
        for (int c = 0; c < 3; c++) tmpl[p * 3 + c] = synth_pixel(0, c, p);
    for (int g = 0; g < 60000; g++) {
        uint8_t *img = g < 50000 ? d->train_images + (size_t)g * CIFAR_PIXELS
                                 : d->test_images + (size_t)(g - 50000) * CIFAR_PIXELS;
        memcpy(img, tmpl, CIFAR_PIXELS);
        for (int p = 0; p < 3; p++) img[p * 3] = synth_pixel(g, 0, p);
        if (g < 50000)
            d->train_labels[g] = synth_label(g);
        else
            d->test_labels[g - 50000] = synth_label(g);
    }
    d->train = (ImageSet){50000, d->train_images, d->train_labels};
    d->test = (ImageSet){10000, d->test_images, d->test_labels};
    return 0;
}

/* ---- the offline copy ---- */

TEST(cifar10_offline_copy_counts_and_hwc_layout) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("offline CIFAR-10 copy not found (../shared/data/cifar10-q75)");
    Cifar10 d;
    Err e = {{0}};
    double t0 = now_seconds();
    int rc = cifar10_load(&d, dir, 0, 1, 2, &e);
    double secs = now_seconds() - t0;
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    printf("    loaded 60,000 images in %.2f s\n", secs);
    CHECK_INT_EQ(d.train.n, 50000);
    CHECK_INT_EQ(d.test.n, 10000);
    CHECK_INT_EQ(d.val.n, 0);
    CHECK_INT_EQ(d.verified, 0);
    CHECK_STR_CONTAINS(d.note, "MD5SUMS");
    for (int k = 0; k < 10; k++) CHECK(!strcmp(d.class_names[k], NAMES[k]));
    const int want_b1[10] = {1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981};
    int b1[10] = {0}, test[10] = {0};
    for (int i = 0; i < 10000; i++) b1[d.train_labels[i]]++;
    for (int i = 0; i < 10000; i++) test[d.test_labels[i]]++;
    for (int k = 0; k < 10; k++) {
        CHECK_INT_EQ(b1[k], want_b1[k]);
        CHECK_INT_EQ(test[k], 1000);
    }
    /* HWC against the raw planar bytes: records 0 and 9999 of batch 1,
     * record 0 of batch 2, record 0 of the test batch. */
    const struct { const char *file; int rec; const uint8_t *img; const uint8_t *lab; } cases[] = {
        {"data_batch_1.bin", 0, d.train_images, d.train_labels},
        {"data_batch_1.bin", 9999, d.train_images + 9999L * CIFAR_PIXELS, d.train_labels + 9999},
        {"data_batch_2.bin", 0, d.train_images + 10000L * CIFAR_PIXELS, d.train_labels + 10000},
        {"test_batch.bin", 0, d.test_images, d.test_labels},
    };
    for (int c = 0; c < 4; c++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, cases[c].file);
        FILE *f = fopen(path, "rb");
        REQUIRE(f);
        uint8_t raw[CIFAR_RECORD];
        fseek(f, (long)cases[c].rec * CIFAR_RECORD, SEEK_SET);
        size_t got = fread(raw, 1, CIFAR_RECORD, f);
        fclose(f);
        REQUIRE(got == CIFAR_RECORD);
        CHECK_INT_EQ(*cases[c].lab, raw[0]);
        int bad = 0;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int ch = 0; ch < 3; ch++)
                    bad += cases[c].img[(y * 32 + x) * 3 + ch] != raw[1 + ch * 1024 + y * 32 + x];
        CHECK_INT_EQ(bad, 0);
        if (c == 0) { /* the first pixel, spelled out */
            CHECK_INT_EQ(cases[c].img[0], raw[1]);
            CHECK_INT_EQ(cases[c].img[1], raw[1 + 1024]);
            CHECK_INT_EQ(cases[c].img[2], raw[1 + 2048]);
            CHECK_INT_EQ(cases[c].img[3], raw[2]);
        }
    }
    /* to_float of the first image: x / 255 of the raw bytes. */
    float f0[CIFAR_PIXELS];
    cifar10_to_float(f0, d.train_images, 1);
    CHECK_NEAR(f0[0], d.train_images[0] / 255.0, 1e-7);
    CHECK_NEAR(f0[CIFAR_PIXELS - 1], d.train_images[CIFAR_PIXELS - 1] / 255.0, 1e-7);
    cifar10_free(&d);
}

TEST(cifar10_cli_offline_copy_is_unverified_copy) {
    const char *dir = test_data_dir();
    if (!dir) SKIP("offline CIFAR-10 copy not found (../shared/data/cifar10-q75)");
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "%s data --data '%s'", test_bin(), dir);
    int rc = test_run(cmd, out, sizeof out);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_CONTAINS(out, "unverified copy");
    CHECK_STR_CONTAINS(out, "train 40,000 / val 10,000 / test 10,000");
    CHECK_STR_CONTAINS(out, "airplane");
    CHECK_STR_CONTAINS(out, "truck");
    CHECK_STR_CONTAINS(out, "total            40000   10000   10000");
    CHECK(strstr(out, "(directory)") != NULL);
}

/* ---- synthetic data: layout, archive, split ---- */

TEST(cifar10_synthetic_dir_loads_every_pixel) {
    const char *dir = synth_dir();
    REQUIRE(dir);
    Cifar10 d;
    Err e = {{0}};
    int rc = cifar10_load(&d, dir, 0, 1, 2, &e);
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    CHECK_INT_EQ(d.verified, 0);
    CHECK_STR_CONTAINS(d.note, "without MD5SUMS");
    CHECK(!strcmp(d.class_names[9], "truck"));
    Cifar10 want;
    REQUIRE(synth_in_memory(&want) == 0);
    /* The in-memory oracle itself follows synth_pixel in HWC order. */
    long bad_oracle = 0;
    for (int g = 0; g < 60000; g += 997) {
        const uint8_t *img = g < 50000 ? want.train_images + (size_t)g * CIFAR_PIXELS
                                       : want.test_images + (size_t)(g - 50000) * CIFAR_PIXELS;
        for (int p = 0; p < 1024; p++)
            for (int c = 0; c < 3; c++) bad_oracle += img[p * 3 + c] != synth_pixel(g, c, p);
    }
    CHECK_INT_EQ(bad_oracle, 0);
    CHECK(memcmp(d.train_images, want.train_images, (size_t)50000 * CIFAR_PIXELS) == 0);
    CHECK(memcmp(d.test_images, want.test_images, (size_t)10000 * CIFAR_PIXELS) == 0);
    CHECK(memcmp(d.train_labels, want.train_labels, 50000) == 0);
    CHECK(memcmp(d.test_labels, want.test_labels, 10000) == 0);
    cifar10_free(&want);
    cifar10_free(&d);
}

TEST(cifar10_targz_equals_directory) {
    const char *dir = synth_dir(), *tgz = synth_targz();
    REQUIRE(dir && tgz);
    Cifar10 a, b;
    Err e = {{0}};
    REQUIRE(cifar10_load(&a, dir, 0, 1, 2, &e) == 0);
    int rc = cifar10_load(&b, tgz, 0, 1, 2, &e);
    if (rc) printf("    %s\n", e.msg);
    if (rc) cifar10_free(&a);
    REQUIRE(rc == 0);
    CHECK(memcmp(a.train_images, b.train_images, (size_t)50000 * CIFAR_PIXELS) == 0);
    CHECK(memcmp(a.test_images, b.test_images, (size_t)10000 * CIFAR_PIXELS) == 0);
    CHECK(memcmp(a.train_labels, b.train_labels, 50000) == 0);
    CHECK(memcmp(a.test_labels, b.test_labels, 10000) == 0);
    CHECK(memcmp(a.class_names, b.class_names, sizeof a.class_names) == 0);
    CHECK(!strcmp(b.source, tgz));
    CHECK_INT_EQ(b.verified, 0); /* not the official archive md5 */
    CHECK_STR_CONTAINS(b.note, "is not the official c32a1d4ab5d03f1284b67883e8d87530");
    cifar10_free(&a);
    cifar10_free(&b);
    /* A directory holding the archive resolves to it. */
    char parent[512];
    snprintf(parent, sizeof parent, "%s", tgz);
    *strrchr(parent, '/') = 0;
    REQUIRE(cifar10_load(&b, parent, 0, 1, 2, &e) == 0);
    CHECK(!strcmp(b.source, tgz));
    cifar10_free(&b);
}

TEST(cifar10_split_is_a_seeded_partition) {
    Cifar10 a, c;
    REQUIRE(synth_in_memory(&a) == 0);
    REQUIRE(synth_in_memory(&c) == 0);
    cifar10_split(&a, 1);
    cifar10_split(&c, 2);
    CHECK_INT_EQ(a.train.n, 40000);
    CHECK_INT_EQ(a.val.n, 10000);
    CHECK(a.train.images == a.train_images);
    CHECK(a.val.images == a.train_images + (size_t)40000 * CIFAR_PIXELS);
    CHECK(a.val.labels == a.train_labels + 40000);
    CHECK_INT_EQ(a.test.n, 10000);
    /* Every original image exactly once, each still with its label and
     * untouched pixels. */
    char *seen = calloc(50000, 1);
    REQUIRE(seen);
    long dup = 0, out_of_range = 0, bad_label = 0, bad_px = 0, moved = 0;
    for (int i = 0; i < 50000; i++) {
        const uint8_t *img = a.train_images + (size_t)i * CIFAR_PIXELS;
        int g = synth_index(img);
        if (g < 0 || g >= 50000) {
            out_of_range++;
            continue;
        }
        dup += seen[g]++;
        moved += g != i;
        bad_label += a.train_labels[i] != synth_label(g);
        bad_px += img[CIFAR_PIXELS - 1] != synth_pixel(g, 2, 1023);
    }
    free(seen);
    CHECK_INT_EQ(out_of_range, 0);
    CHECK_INT_EQ(dup, 0);
    CHECK_INT_EQ(bad_label, 0);
    CHECK_INT_EQ(bad_px, 0);
    CHECK(moved > 49000); /* a shuffle, not the identity */
    /* Another seed: another split. */
    long same = 0;
    for (int i = 0; i < 50000; i++)
        same += synth_index(a.train_images + (size_t)i * CIFAR_PIXELS) ==
                synth_index(c.train_images + (size_t)i * CIFAR_PIXELS);
    CHECK(same < 100);
    /* The split is the documented one, so the same on every run and machine:
     * image i is index perm[i] of a rng_stream(seed, RNG_TAG_SPLIT) shuffle
     * of 0..49,999 (val = the last 10,000). */
    int *perm = malloc(50000 * sizeof *perm);
    REQUIRE(perm);
    for (int i = 0; i < 50000; i++) perm[i] = i;
    Rng r = rng_stream(1, RNG_TAG_SPLIT);
    rng_shuffle(&r, perm, 50000);
    long off = 0;
    for (int i = 0; i < 50000; i++)
        off += synth_index(a.train_images + (size_t)i * CIFAR_PIXELS) != perm[i];
    CHECK_INT_EQ(off, 0);
    free(perm);
    cifar10_free(&a);
    cifar10_free(&c);
}

TEST(cifar10_to_float_is_x_over_255) {
    uint8_t img[CIFAR_PIXELS * 2];
    for (int i = 0; i < CIFAR_PIXELS * 2; i++) img[i] = (uint8_t)(i * 7);
    float *out = malloc(sizeof(float) * CIFAR_PIXELS * 2);
    REQUIRE(out);
    cifar10_to_float(out, img, 2);
    long bad = 0;
    for (int i = 0; i < CIFAR_PIXELS * 2; i++) bad += out[i] != (float)img[i] / 255.0f;
    CHECK_INT_EQ(bad, 0);
    img[0] = 255;
    img[1] = 0;
    cifar10_to_float(out, img, 1);
    CHECK(out[0] == 1.0f);
    CHECK(out[1] == 0.0f);
    free(out);
}

/* ---- bad data ---- */

TEST(cifar10_rejects_missing_batch_file) {
    const char *d = linked_copy("data_batch_3.bin");
    REQUIRE(d);
    expect_load_error(d, "data_batch_3.bin: missing", NULL);
}

TEST(cifar10_rejects_batch_file_of_wrong_size) {
    const char *d = linked_copy("data_batch_3.bin");
    REQUIRE(d);
    uint8_t *b = synth_batch(2);
    REQUIRE(b);
    int rc = write_file(d, "data_batch_3.bin", b, BATCH_BYTES - 100);
    free(b);
    REQUIRE(rc == 0);
    expect_load_error(d, "data_batch_3.bin: 30729900 bytes, expected 30730000",
                      "10,000 records of 3,073 bytes");
}

TEST(cifar10_rejects_label_above_9) {
    const char *d = linked_copy("data_batch_4.bin");
    REQUIRE(d);
    uint8_t *b = synth_batch(3);
    REQUIRE(b);
    b[(size_t)1234 * CIFAR_RECORD] = 12;
    int rc = write_file(d, "data_batch_4.bin", b, BATCH_BYTES);
    free(b);
    REQUIRE(rc == 0);
    expect_load_error(d, "data_batch_4.bin: record 1234 has label 12", NULL);
}

TEST(cifar10_rejects_bad_class_names) {
    const char *d = linked_copy("batches.meta.txt");
    REQUIRE(d);
    expect_load_error(d, "batches.meta.txt: missing", NULL);
    const char *seven = meta_text(7);
    REQUIRE(write_file(d, "batches.meta.txt", seven, strlen(seven)) == 0);
    expect_load_error(d, "batches.meta.txt: 7 class names, expected 10", NULL);
}

TEST(cifar10_rejects_file_not_matching_its_md5sums) {
    const char *d = linked_copy(NULL);
    REQUIRE(d);
    const char *sums = "0123456789abcdef0123456789abcdef  data_batch_2.bin\n";
    REQUIRE(write_file(d, "MD5SUMS", sums, strlen(sums)) == 0);
    expect_load_error(d, "data_batch_2.bin: md5 ", "does not match MD5SUMS");
}

TEST(cifar10_rejects_unreadable_paths) {
    expect_load_error("/nonexistent/cifar", "/nonexistent/cifar: cannot access", NULL);
    expect_load_error(test_tmpdir(), "no CIFAR-10 here", NULL);
    const char *d = linked_copy("data_batch_5.bin");
    REQUIRE(d);
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/data_batch_5.bin", d);
    REQUIRE(mkdir(sub, 0755) == 0);
    expect_load_error(d, "data_batch_5.bin: is a directory, not a regular file", NULL);
}

TEST(cifar10_rejects_truncated_and_corrupt_archives) {
    const char *tgz = synth_targz();
    REQUIRE(tgz);
    uint8_t *buf = NULL;
    size_t len = 0;
    Err e;
    REQUIRE(file_read_all(tgz, &buf, &len, &e) == 0);
    const char *t = test_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/truncated.tar.gz", t);
    REQUIRE(file_write_atomic(path, buf, len / 2, &e) == 0);
    expect_load_error(path, "truncated.tar.gz", "corrupt or truncated archive");
    /* Flip bytes in the middle of the compressed stream: libarchive does not
     * check the gzip CRC, so which check fires depends on what the damaged
     * deflate stream decodes to (here: a label out of range); it must fail
     * with the archive named either way. */
    for (size_t i = len / 2; i < len / 2 + 64; i++) buf[i] ^= 0x5a;
    snprintf(path, sizeof path, "%s/corrupt.tar.gz", t);
    REQUIRE(file_write_atomic(path, buf, len, &e) == 0);
    expect_load_error(path, "corrupt.tar.gz: ", NULL);
    /* Damage the gzip header. */
    buf[0] ^= 0xff;
    snprintf(path, sizeof path, "%s/bad-header.tar.gz", t);
    REQUIRE(file_write_atomic(path, buf, len, &e) == 0);
    expect_load_error(path, "bad-header.tar.gz: ", "archive");
    free(buf);
    snprintf(path, sizeof path, "%s/not-an-archive.tar.gz", t);
    REQUIRE(file_write_atomic(path, "hello\n", 6, &e) == 0);
    expect_load_error(path, "not-an-archive.tar.gz", "archive");
}

TEST(cifar10_rejects_archive_with_missing_or_short_member) {
    const char *t = test_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/meta-only.tar.gz", t);
    REQUIRE(write_targz(path, 1, -1) == 0);
    expect_load_error(path, "meta-only.tar.gz: no cifar-10-batches-bin/data_batch_1.bin in the archive", NULL);
    snprintf(path, sizeof path, "%s/short.tar.gz", t);
    REQUIRE(write_targz(path, 3, 1) == 0);
    expect_load_error(path, "cifar-10-batches-bin/data_batch_2.bin: 30726927 bytes, expected 30730000",
                      NULL);
}

/* ---- the command ---- */

TEST(cifar10_cli_bad_batch_is_one_line_exit_1) {
    const char *d = linked_copy("data_batch_3.bin");
    REQUIRE(d);
    uint8_t *b = synth_batch(2);
    REQUIRE(b);
    int wrc = write_file(d, "data_batch_3.bin", b, BATCH_BYTES / 2);
    free(b);
    REQUIRE(wrc == 0);
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "%s data --data '%s'", test_bin(), d);
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_INT_EQ(count_lines(out), 1);
    CHECK(strncmp(out, "augprobe data: ", 15) == 0);
    CHECK_STR_CONTAINS(out, "/data_batch_3.bin: 15365000 bytes, expected 30730000");
}

TEST(cifar10_cli_usage) {
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "%s data --help", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK_STR_CONTAINS(out, "--no-download");
    CHECK_STR_CONTAINS(out, "--data");
    snprintf(cmd, sizeof cmd, "%s data --bogus", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "augprobe data: unknown flag '--bogus'");
    snprintf(cmd, sizeof cmd, "%s data extra", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
    CHECK_STR_CONTAINS(out, "unexpected argument 'extra'");
    snprintf(cmd, sizeof cmd, "%s data --seed -3", test_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 2);
}

TEST(cifar10_cli_class_counts_follow_the_split) {
    const char *dir = synth_dir();
    REQUIRE(dir);
    char cmd[2048], out1[8192];
    snprintf(cmd, sizeof cmd, "%s data --quiet --data '%s' --seed 1", test_bin(), dir);
    CHECK_INT_EQ(test_run(cmd, out1, sizeof out1), 0);
    /* The train and val columns of seed 1 equal the class counts of the last 10,000
     * indices of the documented shuffle. */
    int *perm = malloc(50000 * sizeof *perm);
    REQUIRE(perm);
    for (int i = 0; i < 50000; i++) perm[i] = i;
    Rng r = rng_stream(1, RNG_TAG_SPLIT);
    rng_shuffle(&r, perm, 50000);
    long val[10] = {0}, train[10] = {0}, test[10] = {0};
    for (int i = 0; i < 50000; i++) (i < 40000 ? train : val)[synth_label(perm[i])]++;
    for (int i = 0; i < 10000; i++) test[synth_label(50000 + i)]++;
    free(perm);
    for (int k = 0; k < 10; k++) {
        char line[128];
        snprintf(line, sizeof line, "%-3d %-14s %7ld %7ld %7ld\n", k, NAMES[k], train[k], val[k],
                 test[k]);
        CHECK_STR_CONTAINS(out1, line);
    }
    CHECK_STR_CONTAINS(out1, "unverified copy");
}

TEST(cifar10_cli_no_data_and_no_download) {
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && env -u AUGPROBE_DATA '%s' data --no-download",
             test_tmpdir(), abs_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "no CIFAR-10 found");
    CHECK_STR_CONTAINS(out, "--data (or AUGPROBE_DATA)");
}

/* A proxy in the environment would change what a local URL answers. */
#define NO_PROXY_ENV "-u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u all_proxy -u ALL_PROXY"

/* Runs `augprobe data` in a fresh directory (no data/) downloading from url;
 * returns the exit code, output in out, the directory in cwd. */
static int run_download(const char *url, const char *md5, char *cwd, size_t cwd_cap, char *out,
                        size_t cap) {
    snprintf(cwd, cwd_cap, "%s", test_tmpdir());
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env -u AUGPROBE_DATA " NO_PROXY_ENV " AUGPROBE_CIFAR_URL='%s' %s%s '%s' data",
             cwd, url,
             md5 ? "AUGPROBE_CIFAR_MD5=" : "", md5 ? md5 : "", abs_bin());
    return test_run(cmd, out, cap);
}

static int exists_in(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return path_exists(p);
}

TEST(cifar10_download_refused_says_why_and_leaves_nothing) {
    char cwd[512], out[4096];
    CHECK_INT_EQ(run_download("http://127.0.0.1:9/", NULL, cwd, sizeof cwd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "augprobe data: download of http://127.0.0.1:9/ failed: cannot connect");
    CHECK_STR_CONTAINS(out, "point --data (or AUGPROBE_DATA)");
    CHECK(!exists_in(cwd, "data"));
}

TEST(cifar10_download_checksum_mismatch_leaves_nothing) {
    const char *t = test_tmpdir();
    char bad[1024], url[1100], cwd[512], out[4096];
    snprintf(bad, sizeof bad, "%s/bad.tar.gz", t);
    Err e;
    REQUIRE(file_write_atomic(bad, "not the archive", 15, &e) == 0);
    snprintf(url, sizeof url, "file://%s", bad);
    CHECK_INT_EQ(run_download(url, NULL, cwd, sizeof cwd, out, sizeof out), 1);
    CHECK_STR_CONTAINS(out, "checksum mismatch");
    CHECK_STR_CONTAINS(out, "expected c32a1d4ab5d03f1284b67883e8d87530");
    CHECK(!exists_in(cwd, "data/cifar-10-binary.tar.gz"));
    {
        char data_dir[1024];
        snprintf(data_dir, sizeof data_dir, "%s/data", cwd);
        CHECK_INT_EQ(test_count_temp_files(data_dir, 1), 0); /* no temp file left */
    }
    CHECK(!exists_in(cwd, "data"));
}

TEST(cifar10_download_http_error_status) {
    /* A one-shot local HTTP server answering 404. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    REQUIRE(bind(s, (struct sockaddr *)&addr, sizeof addr) == 0);
    REQUIRE(listen(s, 1) == 0);
    REQUIRE(getsockname(s, (struct sockaddr *)&addr, &alen) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(20);
        int c = accept(s, NULL, NULL);
        if (c >= 0) {
            char req[4096];
            ssize_t n = read(c, req, sizeof req);
            (void)n;
            static const char resp[] =
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            ssize_t w = write(c, resp, sizeof resp - 1);
            (void)w;
            close(c);
        }
        _exit(0);
    }
    close(s);
    char url[128], cwd[512], out[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/cifar-10-binary.tar.gz", ntohs(addr.sin_port));
    int rc = run_download(url, NULL, cwd, sizeof cwd, out, sizeof out);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK_INT_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, "the server answered HTTP 404");
    CHECK(!exists_in(cwd, "data"));
}

TEST(cifar10_download_success_then_reuses_archive) {
    const char *tgz = synth_targz();
    REQUIRE(tgz);
    char md5[33], url[1100], cwd[512], out[8192];
    REQUIRE(md5_of_file(tgz, md5) == 0);
    snprintf(url, sizeof url, "file://%s", tgz);
    int rc = run_download(url, md5, cwd, sizeof cwd, out, sizeof out);
    CHECK_INT_EQ(rc, 0);
    CHECK_STR_CONTAINS(out, "downloaded");
    CHECK_STR_CONTAINS(out, "source:   data/cifar-10-binary.tar.gz (archive)");
    CHECK_STR_CONTAINS(out, "unverified copy: archive md5");
    CHECK(exists_in(cwd, "data/cifar-10-binary.tar.gz"));
    {
        char data_dir[1024];
        snprintf(data_dir, sizeof data_dir, "%s/data", cwd);
        CHECK_INT_EQ(test_count_temp_files(data_dir, 1), 0); /* no temp file left */
    }
    char got[33] = {0}, path[1024];
    snprintf(path, sizeof path, "%s/data/cifar-10-binary.tar.gz", cwd);
    REQUIRE(md5_of_file(path, got) == 0);
    CHECK(!strcmp(got, md5));
    /* Second run: the archive in data/ is used, nothing downloaded (the URL
     * would refuse). */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env -u AUGPROBE_DATA " NO_PROXY_ENV
             " AUGPROBE_CIFAR_URL=http://127.0.0.1:9/ '%s' data",
             cwd, abs_bin());
    CHECK_INT_EQ(test_run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "downloading") == NULL);
    CHECK_STR_CONTAINS(out, "train 40,000 / val 10,000 / test 10,000");
}
