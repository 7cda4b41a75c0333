/* test_badinput_ckpt.c - the bad-input matrix's checkpoint rows: damaged
 * safetensors files given to `augprobe eval --model BAD` (header length,
 * JSON, offsets, dtype, shape, another architecture, NaN/Inf weights, a
 * missing tensor, truncation). Each must exit 1 with one line naming the
 * file (and the tensor, where one is at fault). Also the diverging-run row,
 * which edits a checkpoint's stored learning rate. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/checkpoint.h"
#include "../src/net.h"
#include "badinput_util.h"

/* ---- checkpoints, at `augprobe eval --model BAD` ---- */

/* A valid seed-CNN model file made with the library (no training). */
static char *make_model(const char *dir) {
    Err e;
    Net *net = net_create_text("seed_cnn", arch_builtin("seed_cnn"), CIFAR_H, CIFAR_W, CIFAR_C, 2, 1, &e);
    if (!net) return NULL;
    net_init(net, 3);
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "%s", net->arch);
    meta.epoch = 1;
    meta.seed = 3;
    char *path = path_join(dir, "good.safetensors");
    int rc = checkpoint_save(path, net, NULL, NULL, &meta, &e);
    net_free(net);
    if (rc) {
        test_fail(__FILE__, __LINE__, "checkpoint_save: %s", e.msg);
        free(path);
        return NULL;
    }
    return path;
}

/* A parsed safetensors file: header JSON and the data section. */
typedef struct St {
    cJSON *hdr;
    uint8_t *data;
    size_t data_len;
} St;

static int st_read(const char *path, St *s) {
    size_t n;
    uint8_t *b = read_bytes(path, &n);
    if (!b || n < 8) return free(b), -1;
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
    if (hl > n - 8) return free(b), -1;
    s->hdr = cJSON_ParseWithLength((const char *)b + 8, hl);
    s->data_len = n - 8 - hl;
    s->data = xmalloc(s->data_len + 1);
    memcpy(s->data, b + 8 + hl, s->data_len);
    free(b);
    return s->hdr ? 0 : -1;
}

/* Writes header text (NULL: s->hdr printed) and the data section. */
static int st_write(const char *path, const St *s, const char *header) {
    char *text = header ? xstrdup(header) : cJSON_PrintUnformatted(s->hdr);
    size_t hl = strlen(text);
    FILE *f = fopen(path, "wb");
    if (!f) return free(text), -1;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(text, 1, hl, f);
    fwrite(s->data, 1, s->data_len, f);
    free(text);
    return fclose(f) == 0 ? 0 : -1;
}

static void st_free(St *s) {
    cJSON_Delete(s->hdr);
    free(s->data);
}

/* The first tensor entry of the header (not __metadata__). */
static cJSON *st_first_tensor(St *s) {
    for (cJSON *t = s->hdr->child; t; t = t->next)
        if (strcmp(t->string, "__metadata__")) return t;
    return NULL;
}

/* Runs eval on the model file; checks exit 1 and the error names the file
 * (and `what`, when not NULL). */
static void expect_eval_rejects(const char *model, const char *what) {
    char out[OUT_CAP], data[1200] = "";
    if (test_data_dir()) snprintf(data, sizeof data, "--data %s", test_data_dir());
    int rc = cli(out, sizeof out, "eval --model %s %s --limit 16 --quiet --threads 1", model, data);
    if (not_landed(out)) {
        test_skip("eval not landed yet (prints 'not implemented yet')");
        return;
    }
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "eval", model, what);
}

/* Sets up a tmpdir, a good model and its parsed form. */
#define CKPT_SETUP(dir, good, st)                                                   \
    const char *dir = test_tmpdir();                                                \
    char *good = make_model(dir);                                                   \
    REQUIRE(good);                                                                  \
    St st;                                                                          \
    REQUIRE(st_read(good, &st) == 0)

TEST(badinput_checkpoint_missing_file) {
    char path[1200];
    snprintf(path, sizeof path, "%s/absent.safetensors", test_tmpdir());
    expect_eval_rejects(path, NULL);
}

TEST(badinput_checkpoint_shorter_than_header_length) {
    char path[1200];
    snprintf(path, sizeof path, "%s/short.safetensors", test_tmpdir());
    REQUIRE(write_bytes(path, "\x10\x00\x00", 3) == 0);
    expect_eval_rejects(path, NULL);
}

TEST(badinput_checkpoint_header_length_past_end) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    size_t n;
    uint8_t *b = read_bytes(good, &n);
    REQUIRE(b);
    uint64_t hl = (uint64_t)n; /* one header length past the whole file */
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(hl >> (8 * i));
    REQUIRE(write_bytes(bad, b, n) == 0);
    free(b);
    expect_eval_rejects(bad, "header");
    /* and a length near 2^64 (overflow when added to 8) */
    b = read_bytes(good, &n);
    REQUIRE(b);
    memset(b, 0xff, 8);
    REQUIRE(write_bytes(bad, b, n) == 0);
    free(b);
    expect_eval_rejects(bad, "header");
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_bad_json) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    REQUIRE(st_write(bad, &st, "{\"block1_conv1.weight\": {\"dtype\": \"F32\", ") == 0);
    expect_eval_rejects(bad, "JSON");
    REQUIRE(st_write(bad, &st, "[1, 2, 3]") == 0); /* JSON, but not an object */
    expect_eval_rejects(bad, NULL);
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_offsets_outside_file) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    /* the last tensor's end pushed 4 bytes past the data section: find the
     * entry with the largest end offset */
    cJSON *last = NULL;
    double last_end = -1;
    for (cJSON *t = st.hdr->child; t; t = t->next) {
        cJSON *o = cJSON_GetObjectItem(t, "data_offsets");
        if (!o || cJSON_GetArraySize(o) != 2) continue;
        double end = cJSON_GetArrayItem(o, 1)->valuedouble;
        if (end > last_end) last_end = end, last = t;
    }
    REQUIRE(last);
    cJSON *o = cJSON_GetObjectItem(last, "data_offsets");
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(cJSON_GetArrayItem(o, 0)->valuedouble + 4));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(last_end + 4));
    REQUIRE(st_write(bad, &st, NULL) == 0);
    expect_eval_rejects(bad, last->string);
    /* and an end before its begin */
    cJSON_ReplaceItemInArray(o, 0, cJSON_CreateNumber(last_end));
    cJSON_ReplaceItemInArray(o, 1, cJSON_CreateNumber(last_end - 8));
    REQUIRE(st_write(bad, &st, NULL) == 0);
    expect_eval_rejects(bad, last->string);
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_truncated_file) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    size_t n;
    uint8_t *b = read_bytes(good, &n);
    REQUIRE(b && n > 1000);
    REQUIRE(write_bytes(bad, b, n - 1000) == 0);
    free(b);
    expect_eval_rejects(bad, NULL);
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_wrong_dtype) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    cJSON *t = st_first_tensor(&st);
    REQUIRE(t);
    cJSON_ReplaceItemInObject(t, "dtype", cJSON_CreateString("F16"));
    REQUIRE(st_write(bad, &st, NULL) == 0);
    expect_eval_rejects(bad, t->string);
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_wrong_shape) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    cJSON *t = st_first_tensor(&st);
    REQUIRE(t);
    cJSON *shape = cJSON_GetObjectItem(t, "shape");
    REQUIRE(shape && cJSON_GetArraySize(shape) >= 2);
    /* same element count, dimensions swapped: only the shape check can tell */
    int n = cJSON_GetArraySize(shape);
    double a = cJSON_GetArrayItem(shape, 0)->valuedouble;
    double b = cJSON_GetArrayItem(shape, n - 1)->valuedouble;
    if (a == b) b = a + 1; /* then change the count instead */
    cJSON_ReplaceItemInArray(shape, 0, cJSON_CreateNumber(b));
    cJSON_ReplaceItemInArray(shape, n - 1, cJSON_CreateNumber(a));
    REQUIRE(st_write(bad, &st, NULL) == 0);
    expect_eval_rejects(bad, t->string);
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_other_architecture) {
    /* a genuine RankNet head checkpoint given where the seed CNN is expected */
    const char *dir = test_tmpdir();
    Err e;
    Net *net = net_create_text("ranknet_head", arch_builtin("ranknet_head"), 1, 1, 2048, 2, 1, &e);
    REQUIRE(net);
    net_init(net, 1);
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "%s", net->arch);
    char *path = path_join(dir, "head.safetensors");
    int rc = checkpoint_save(path, net, NULL, NULL, &meta, &e);
    net_free(net);
    REQUIRE(rc == 0);
    expect_eval_rejects(path, "ranknet_head");
    free(path);
}

static void poison_first_weight(float value, const char *what) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    cJSON *t = st_first_tensor(&st);
    REQUIRE(t);
    size_t begin = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    REQUIRE(begin + 4 * 7 <= st.data_len);
    memcpy(st.data + begin + 4 * 6, &value, 4); /* element 6 of the first tensor */
    REQUIRE(st_write(bad, &st, NULL) == 0);
    expect_eval_rejects(bad, what);
    st_free(&st);
    free(good);
}

TEST(badinput_checkpoint_nan_weight) { poison_first_weight(NAN, NULL); }
TEST(badinput_checkpoint_inf_weight) { poison_first_weight(-INFINITY, NULL); }

TEST(badinput_checkpoint_missing_tensor) {
    CKPT_SETUP(dir, good, st);
    char bad[1200];
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    cJSON *t = st_first_tensor(&st);
    REQUIRE(t);
    char name[256];
    snprintf(name, sizeof name, "%s", t->string);
    cJSON_DeleteItemFromObject(st.hdr, name);
    REQUIRE(st_write(bad, &st, NULL) == 0);
    expect_eval_rejects(bad, name);
    st_free(&st);
    free(good);
}


/* ---- a diverging run ---- */

/* Sets the learning rate stored in a training checkpoint (its config JSON in
 * __metadata__.extra, and optim.lr), keeping the tensors as they are. */
static int set_checkpoint_lr(const char *path, double lr) {
    St st;
    if (st_read(path, &st)) return -1;
    int rc = -1;
    cJSON *meta = cJSON_GetObjectItem(st.hdr, "__metadata__");
    cJSON *extra = meta ? cJSON_GetObjectItem(meta, "extra") : NULL;
    cJSON *cfg = cJSON_IsString(extra) ? cJSON_Parse(extra->valuestring) : NULL;
    if (cfg && cJSON_GetObjectItem(cfg, "lr")) {
        cJSON_ReplaceItemInObject(cfg, "lr", cJSON_CreateNumber(lr));
        char *text = cJSON_PrintUnformatted(cfg);
        cJSON_ReplaceItemInObject(meta, "extra", cJSON_CreateString(text));
        cJSON_free(text);
        char lrs[32];
        snprintf(lrs, sizeof lrs, "%g", lr);
        if (cJSON_GetObjectItem(meta, "optim.lr"))
            cJSON_ReplaceItemInObject(meta, "optim.lr", cJSON_CreateString(lrs));
        rc = st_write(path, &st, NULL);
    }
    cJSON_Delete(cfg);
    st_free(&st);
    return rc;
}

TEST(badinput_train_divergence_keeps_last_good_checkpoint) {
    if (!test_data_dir()) SKIP("offline CIFAR-10 copy absent (AUGPROBE_TEST_DATA)");
    const char *tmp = test_tmpdir();
    char run[1200], flags[3000], out[OUT_CAP];
    snprintf(run, sizeof run, "%s/run", tmp);
    snprintf(flags, sizeof flags,
             "--data %s --limit 8 --eval-limit 8 --batch 8 --threads 1 --quiet --out %s",
             test_data_dir(), run);
    int rc = cli(out, sizeof out, "train %s --epochs 1", flags);
    SKIP_IF_NOT_LANDED(out);
    REQUIRE(rc == 0);
    /* The good epoch-1 checkpoint, then lr 1e20 from epoch 2 on: one Adam
     * step moves every weight by ~1e20, so the forward pass overflows. */
    char ckpt[1300], keep[1300];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run);
    snprintf(keep, sizeof keep, "%s/ckpt.copy", tmp);
    REQUIRE(set_checkpoint_lr(ckpt, 1e20) == 0);
    size_t n;
    uint8_t *before = read_bytes(ckpt, &n);
    REQUIRE(before);
    rc = cli(out, sizeof out, "train %s --epochs 3 --resume", flags);
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "train", "diverged", "the last good checkpoint (epoch 1) is kept");
    CHECK_STR_CONTAINS(out, "epoch 2");
    size_t m;
    uint8_t *after = read_bytes(ckpt, &m);
    CHECK(after && m == n && !memcmp(before, after, n)); /* kept, bytes unchanged */
    free(before);
    free(after);
    /* and it still loads */
    rc = cli(out, sizeof out, "eval --model %s --data %s --limit 16 --quiet --threads 1", ckpt,
             test_data_dir());
    CHECK_INT_EQ(rc, 0);
}
