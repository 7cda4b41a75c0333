/* test_badinput.c - the bad-input matrix, at the command line: broken data
 * files and archives, a full disk while checkpointing, SIGINT/SIGTERM during
 * training, a diverging run, and bad flags (checkpoint rows are in
 * test_badinput_ckpt.c). Each row runs ./augprobe and asserts one clear
 * error line (what and where), the documented exit code (1 runtime, 2
 * usage, 130 interrupted) and that no good file was lost. Rows whose command
 * prints "not implemented yet" SKIP. */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badinput_util.h"

/* ---- data: empty, truncated, oversized, record count, labels, archives ----
 * (tests/test_cifar10.c already covers, at library level: a missing file or
 * directory, a wrong size, a label above 9, bad class names, an MD5SUMS
 * mismatch, small synthetic truncated/corrupt archives, missing members.
 * Note: libarchive does not check the gzip CRC, so damage to pixel bytes of
 * an archive is caught only by its md5, which makes it an unverified copy.) */

#define NEED_DATA()                                                                   \
    do {                                                                              \
        if (!test_data_dir()) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)"); \
    } while (0)

TEST(badinput_data_empty_file) {
    NEED_DATA();
    const char *dir = make_data_dir(NULL, 0);
    REQUIRE(dir);
    REQUIRE(replace_batch(dir, "test_batch.bin", 0, -1, 0) == 0);
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "data --data %s --quiet", dir);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "data", "test_batch.bin", NULL);
}

TEST(badinput_data_truncated_file) {
    NEED_DATA();
    const char *dir = make_data_dir(NULL, 0);
    REQUIRE(dir);
    REQUIRE(replace_batch(dir, "data_batch_2.bin", BATCH_BYTES - 1000, -1, 0) == 0);
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "data --data %s --quiet", dir);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "data", "data_batch_2.bin", NULL);
}

TEST(badinput_data_oversized_file) {
    NEED_DATA();
    const char *dir = make_data_dir(NULL, 0);
    REQUIRE(dir);
    REQUIRE(replace_batch(dir, "data_batch_5.bin", BATCH_BYTES + 1, -1, 0) == 0);
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "data --data %s --quiet", dir);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "data", "data_batch_5.bin", NULL);
}

TEST(badinput_data_wrong_record_count) {
    NEED_DATA();
    const char *dir = make_data_dir(NULL, 0);
    REQUIRE(dir);
    /* whole records, one short: the size is a multiple of the record size */
    REQUIRE(replace_batch(dir, "data_batch_3.bin", BATCH_BYTES - CIFAR_RECORD, -1, 0) == 0);
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "data --data %s --quiet", dir);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "data", "data_batch_3.bin", "30726927 bytes");
}

TEST(badinput_data_label_out_of_range) {
    NEED_DATA();
    const char *dir = make_data_dir(NULL, 0);
    REQUIRE(dir);
    REQUIRE(replace_batch(dir, "test_batch.bin", BATCH_BYTES, 1234L * CIFAR_RECORD, 10) == 0);
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "data --data %s --quiet", dir);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "data", "test_batch.bin", "label");
    char line[2048];
    first_line(out, line, sizeof line);
    CHECK(strstr(line, "1234") || strstr(line, "1235")); /* names the record */
}

/* An archive of the offline copy's directory in the official layout, piped
 * through gzip -1 and cut to `keep` bytes (0: whole). */
static const char *make_archive(size_t keep) {
    static char path[1200];
    char *src = abs_data_dir();
    if (!src) return NULL;
    const char *tmp = test_tmpdir();
    char cmd[4096], out[4096];
    /* the official layout: cifar-10-batches-bin/ inside the archive */
    char cut[64] = "";
    if (keep) snprintf(cut, sizeof cut, "| head -c %zu", keep);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/stage && ln -s %s %s/stage/cifar-10-batches-bin && "
             "{ tar -chf - -C %s/stage cifar-10-batches-bin 2>/dev/null | gzip -1 %s > "
             "%s/cifar-10-binary.tar.gz; }",
             tmp, src, tmp, tmp, cut, tmp);
    free(src);
    if (test_run(cmd, out, sizeof out) != 0) return NULL;
    snprintf(path, sizeof path, "%s/cifar-10-binary.tar.gz", tmp);
    return path;
}

TEST(badinput_data_truncated_archive) {
    NEED_DATA();
    const char *path = make_archive(20u << 20); /* 20 MB: inside the fourth member */
    REQUIRE(path);
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "data --data %s --quiet", path);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "data", "cifar-10-binary.tar.gz", "truncated");
}

/* ---- training: disk full, interruption, divergence ---- */

/* Common flags of a tiny training run: one step of 8 images per epoch
 * (seconds per epoch under ASan as it is). */
static void train_flags(char *buf, size_t cap, const char *out_dir) {
    snprintf(buf, cap,
             "--data %s --limit 8 --eval-limit 8 --batch 8 --threads 1 --quiet --out %s",
             test_data_dir(), out_dir);
}

/* The tensor bytes of two safetensors files (after the header) are equal. */
static int same_tensor_bytes(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *pa = read_bytes(a, &na), *pb = read_bytes(b, &nb);
    int eq = 0;
    if (pa && pb && na >= 8 && nb >= 8) {
        uint64_t ha = 0, hb = 0;
        for (int i = 0; i < 8; i++) ha |= (uint64_t)pa[i] << (8 * i), hb |= (uint64_t)pb[i] << (8 * i);
        if (ha <= na - 8 && hb <= nb - 8 && na - 8 - ha == nb - 8 - hb)
            eq = !memcmp(pa + 8 + ha, pb + 8 + hb, na - 8 - ha);
    }
    free(pa);
    free(pb);
    return eq;
}

static int files_equal(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *pa = read_bytes(a, &na), *pb = read_bytes(b, &nb);
    int eq = pa && pb && na == nb && !memcmp(pa, pb, na);
    free(pa);
    free(pb);
    return eq;
}

static int copy_file(const char *from, const char *to) {
    size_t n;
    uint8_t *p = read_bytes(from, &n);
    if (!p) return -1;
    int rc = write_bytes(to, p, n);
    free(p);
    return rc;
}

TEST(badinput_train_disk_full_keeps_checkpoint) {
    NEED_DATA();
    const char *tmp = test_tmpdir();
    char run[1200], flags[3000], out[OUT_CAP];
    snprintf(run, sizeof run, "%s/run", tmp);
    train_flags(flags, sizeof flags, run);
    int rc = cli(out, sizeof out, "train %s --epochs 1", flags);
    SKIP_IF_NOT_LANDED(out);
    REQUIRE(rc == 0);
    char ckpt[1300], model[1300], keep_ckpt[1300], keep_model[1300];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run);
    snprintf(model, sizeof model, "%s/model.safetensors", run);
    snprintf(keep_ckpt, sizeof keep_ckpt, "%s/ckpt.copy", tmp);
    snprintf(keep_model, sizeof keep_model, "%s/model.copy", tmp);
    REQUIRE(copy_file(ckpt, keep_ckpt) == 0 && copy_file(model, keep_model) == 0);
    /* A file-size limit of 1 MB (far below a 4.6 MB model) in a subshell: with
     * SIGXFSZ ignored, writes past it fail with EFBIG, as on a full disk. */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "trap '' XFSZ; ulimit -f 2048; exec %s train %s --epochs 2 --resume",
             test_bin(), flags);
    rc = test_run(cmd, out, sizeof out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "train", "safetensors", NULL);
    CHECK(files_equal(ckpt, keep_ckpt)); /* the previous checkpoint, bytes unchanged */
    CHECK(files_equal(model, keep_model));
    CHECK_INT_EQ(test_count_temp_files(run, 1), 0); /* no half-written temp file left behind */
    /* and the run still resumes once there is room */
    rc = cli(out, sizeof out, "train %s --epochs 2 --resume", flags);
    CHECK_INT_EQ(rc, 0);
}

/* Starts a long run in the background, waits for its first checkpoint,
 * sends sig, and returns the run's exit code (out: its output). */
static int train_and_signal(const char *run, const char *sig, char *out, size_t cap) {
    char flags[3000], cmd[8192];
    train_flags(flags, sizeof flags, run);
    snprintf(cmd, sizeof cmd,
             "%s train %s --epochs 1000 > %s.log 2>&1 & pid=$!; "
             "i=0; while [ ! -f %s/checkpoint.safetensors ] && [ $i -lt 2400 ]; do "
             "sleep 0.05; i=$((i+1)); kill -0 $pid 2>/dev/null || break; done; "
             "kill -%s $pid; wait $pid; rc=$?; cat %s.log; exit $rc",
             test_bin(), flags, run, run, sig, run);
    return test_run(cmd, out, cap);
}

static int count_lines_of(const char *path) {
    size_t n;
    uint8_t *p = read_bytes(path, &n);
    int lines = 0;
    for (size_t i = 0; p && i < n; i++) lines += p[i] == '\n';
    free(p);
    return lines;
}

static void check_interrupted_then_resumed(const char *sig) {
    NEED_DATA();
    const char *tmp = test_tmpdir();
    char run[1200], out[OUT_CAP], flags[3000];
    snprintf(run, sizeof run, "%s/run", tmp);
    int rc = train_and_signal(run, sig, out, sizeof out);
    SKIP_IF_NOT_LANDED(out);
    /* the handler's own exit 130, not death by the signal (143 for TERM) */
    CHECK_INT_EQ(rc, 130);
    check_error_line(out, "train", "interrupted", "checkpoint.safetensors");
    const char *saved = strstr(out, "interrupted; ");
    int done = saved ? atoi(saved + strlen("interrupted; ")) : 0;
    REQUIRE(done >= 1 && done < 1000); /* stopped at an epoch boundary it saved */
    char ckpt[1300], hist[1300];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run);
    snprintf(hist, sizeof hist, "%s/history.csv", run);
    CHECK(path_exists(ckpt));
    CHECK_INT_EQ(count_lines_of(hist), 1 + done); /* header + one row per saved epoch */
    /* --resume continues it: one more epoch */
    train_flags(flags, sizeof flags, run);
    rc = cli(out, sizeof out, "train %s --epochs %d --resume", flags, done + 1);
    CHECK_INT_EQ(rc, 0);
    CHECK_INT_EQ(count_lines_of(hist), 2 + done);
    /* and ends where an uninterrupted run does (a third run: left to
     * test_train.c's resume tests under ASan, for time) */
    if (getenv("AUGPROBE_ASAN")) return;
    char run2[1200], model[1300], model2[1300];
    snprintf(run2, sizeof run2, "%s/straight", tmp);
    train_flags(flags, sizeof flags, run2);
    rc = cli(out, sizeof out, "train %s --epochs %d", flags, done + 1);
    CHECK_INT_EQ(rc, 0);
    snprintf(model, sizeof model, "%s/model.safetensors", run);
    snprintf(model2, sizeof model2, "%s/model.safetensors", run2);
    CHECK(same_tensor_bytes(model, model2));
}

TEST(badinput_train_sigint_stops_cleanly_and_resumes) {
    if (getenv("AUGPROBE_ASAN")) SKIP("too slow under ASan; the SIGTERM row runs the same path");
    check_interrupted_then_resumed("INT");
}

TEST(badinput_train_sigterm_stops_cleanly_and_resumes) { check_interrupted_then_resumed("TERM"); }

/* ---- flags ---- */

/* A usage error: exit 2, the first line names the flag. */
static void expect_usage_error(const char *cmd, const char *args, const char *flag) {
    char out[OUT_CAP];
    int rc = cli(out, sizeof out, "%s %s", cmd, args);
    if (not_landed(out)) {
        test_skip("command not landed yet (prints 'not implemented yet')");
        return;
    }
    CHECK_INT_EQ(rc, 2);
    check_error_line(out, cmd, flag, NULL);
}

TEST(badinput_flags_epochs_zero_or_negative) {
    expect_usage_error("train", "--epochs 0", "--epochs");
    expect_usage_error("train", "--epochs -3", "--epochs");
    expect_usage_error("train", "--epochs 2x", "--epochs");
}

TEST(badinput_flags_batch_zero) {
    expect_usage_error("train", "--batch 0", "--batch");
    expect_usage_error("eval", "--model x --batch 0", "--batch");
}

TEST(badinput_flags_unknown_augmentation) {
    expect_usage_error("train", "--aug hflip,zom=0.5", "zom");
}

TEST(badinput_flags_augmentation_level_out_of_range) {
    /* zoom's valid range is 0.1..10, hue's -1..1 */
    expect_usage_error("train", "--aug zoom=0.01:1", "zoom");
    expect_usage_error("train", "--aug hue=2", "hue");
}

TEST(badinput_flags_probe_levels_out_of_range) {
    /* zoom's valid range is 0.1..10; a level below it, and a lone level */
    expect_usage_error("probe", "--model m.safetensors --aug zoom --levels 0.05,0.5", "--levels");
    expect_usage_error("probe", "--model m.safetensors --aug zoom --levels 0.5", "--levels");
    expect_usage_error("probe", "--model m.safetensors --aug zom", "--aug");
}

TEST(badinput_flags_global_values) {
    expect_usage_error("train", "--threads 0", "--threads");
    expect_usage_error("train", "--seed -1", "--seed");
    expect_usage_error("train", "--lr nan", "--lr");
    expect_usage_error("train", "--no-such-flag", "--no-such-flag");
}

TEST(badinput_flags_unwritable_out) {
    /* a path under a regular file: not creatable, even for root */
    const char *tmp = test_tmpdir();
    char file[1200], out[OUT_CAP], data[1200] = "";
    snprintf(file, sizeof file, "%s/plainfile", tmp);
    REQUIRE(write_bytes(file, "x", 1) == 0);
    if (test_data_dir()) snprintf(data, sizeof data, "--data %s", test_data_dir());
    int rc = cli(out, sizeof out, "train %s --out %s/run --epochs 1 --limit 32 --quiet", data, file);
    SKIP_IF_NOT_LANDED(out);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "train", "--out", file);
}
