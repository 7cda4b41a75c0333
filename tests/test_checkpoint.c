/* test_checkpoint.c - safetensors checkpoints (checkpoint.h): exact
 * round trip (params, BN stats, Adam, RNG, metadata), PyTorch layouts in the
 * file, one clear error line for each kind of bad file (and the net left
 * untouched), and interop: PyTorch's logits from our file
 * (tools/check_interop.py) equal ours. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/checkpoint.h"
#include "../src/layers.h"
#include "golden.h"
#include "test.h"

static const char SMALL[] = "c1 conv filters=5 kernel=3 relu\n"
                           "bn1 batchnorm\n"
                           "c2 conv filters=3 kernel=1\n"
                           "pool maxpool\n"
                           "flatten flatten\n"
                           "drop dropout rate=0.25\n"
                           "d1 dense units=7 relu\n"
                           "out dense units=4\n";
enum { SB = 3, SH = 4, SW = 6, SC = 2 };

static Net *small_net(void) {
    Err e;
    Net *net = net_create_text("small", SMALL, SH, SW, SC, SB, 1, &e);
    if (net) net_init(net, 3);
    return net;
}

/* A few training steps so that params, BN stats, moments and rng are all
 * non-trivial. */
static void small_train(Net *net, Adam *opt, Rng *rng) {
    float x[SB * SH * SW * SC], dl[SB * 4];
    uint8_t y[SB] = {0, 2, 3};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < SB * SH * SW * SC; i++) x[i] = rng_float(rng);
        net_zero_grads(net);
        const float *logits = net_forward(net, x, SB, 1, rng, -1);
        softmax_xent(dl, NULL, logits, y, SB, 4);
        net_backward(net, dl, SB);
        adam_step(opt, net->params, net->grads);
    }
}

static char *tmp_path(const char *name) { return path_join(test_tmpdir(), name); }

TEST(checkpoint_round_trip_is_bit_exact) {
    Net *a = small_net(), *b = small_net();
    REQUIRE(a && b);
    Adam oa, ob;
    adam_init(&oa, a->n_params);
    adam_init(&ob, b->n_params);
    oa.lr = 5e-4f;
    Rng ra = rng_stream(1, 1), rb = rng_stream(2, 2);
    small_train(a, &oa, &ra);
    CheckpointMeta m = {0}, got;
    snprintf(m.arch, sizeof m.arch, "small");
    m.epoch = 7;
    m.seed = 18446744073709551615ull;
    snprintf(m.extra, sizeof m.extra, "{\"lr\": 0.0005, \"note\": \"quote \\\" and \\\\\"}");
    char *path = tmp_path("ck.safetensors");
    Err e;
    REQUIRE(checkpoint_save(path, a, &oa, &ra, &m, &e) == 0);
    {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = 0;
        CHECK_INT_EQ(test_count_temp_files(dir, 1), 0); /* the temp file was renamed */
    }
    int rc = checkpoint_load(path, b, &ob, &rb, &got, &e);
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    CHECK(!memcmp(a->params, b->params, a->n_params * 4));
    CHECK(!memcmp(a->state, b->state, a->n_state * 4));
    CHECK(!memcmp(oa.m, ob.m, a->n_params * 4));
    CHECK(!memcmp(oa.v, ob.v, a->n_params * 4));
    CHECK_INT_EQ(ob.t, 3);
    CHECK(ob.lr == oa.lr && ob.beta1 == oa.beta1 && ob.beta2 == oa.beta2 && ob.eps == oa.eps);
    CHECK(!memcmp(&ra, &rb, sizeof ra));
    CHECK_STR_CONTAINS(got.arch, "small");
    CHECK_INT_EQ(got.epoch, 7);
    CHECK(got.seed == m.seed);
    CHECK(!strcmp(got.extra, m.extra));
    /* the state was non-trivial: BN stats moved, moments non-zero */
    CHECK(a->state[a->layers[1].state_off] != 0);
    /* a model-only file loads without opt/rng, and refuses to give them */
    char *p2 = tmp_path("model.safetensors");
    REQUIRE(checkpoint_save(p2, a, NULL, NULL, NULL, &e) == 0);
    Net *c = small_net();
    REQUIRE(c);
    CHECK(checkpoint_load(p2, c, NULL, NULL, NULL, &e) == 0);
    CHECK(!memcmp(a->params, c->params, a->n_params * 4));
    CHECK(checkpoint_load(p2, c, &ob, NULL, NULL, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "no optimiser state");
    CHECK(checkpoint_load(p2, c, NULL, &rb, NULL, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "no valid RNG state");
    adam_free(&oa), adam_free(&ob);
    net_free(a), net_free(b), net_free(c);
    free(path), free(p2);
}

TEST(checkpoint_save_reports_unwritable_path) {
    Net *a = small_net();
    REQUIRE(a);
    char *path = tmp_path("no/such/dir/ck.safetensors");
    Err e;
    CHECK(checkpoint_save(path, a, NULL, NULL, NULL, &e) == -1);
    CHECK_STR_CONTAINS(e.msg, "no/such/dir");
    CHECK(!strchr(e.msg, '\n'));
    net_free(a);
    free(path);
}

/* ---- the file's layout ---- */

typedef struct {
    uint8_t *file;
    size_t len;
    uint64_t hlen;
    cJSON *root;
} StFile;

static int st_read(const char *path, StFile *f) {
    Err e;
    if (file_read_all(path, &f->file, &f->len, &e)) return -1;
    f->hlen = 0;
    for (int i = 0; i < 8; i++) f->hlen |= (uint64_t)f->file[i] << (8 * i);
    f->root = cJSON_ParseWithLength((char *)f->file + 8, f->hlen);
    return f->root ? 0 : -1;
}

static void st_free(StFile *f) {
    cJSON_Delete(f->root);
    free(f->file);
}

/* Pointer to tensor `name`'s floats in the file. */
static const float *st_data(const StFile *f, const char *name) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(f->root, name);
    if (!t) return NULL;
    size_t b = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(t, "data_offsets"), 0)->valuedouble;
    return (const float *)(f->file + 8 + f->hlen + b);
}

/* Writes f with header `root` (re-serialised, padded) and the original data. */
static void st_write(const char *path, const StFile *f, const cJSON *root) {
    char *json = cJSON_PrintUnformatted(root);
    size_t hl = strlen(json), padded = (hl + 7) / 8 * 8;
    FILE *o = fopen(path, "wb");
    uint8_t lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(lb, 1, 8, o);
    fwrite(json, 1, hl, o);
    for (size_t i = hl; i < padded; i++) fputc(' ', o);
    fwrite(f->file + 8 + f->hlen, 1, f->len - 8 - f->hlen, o);
    fclose(o);
    free(json);
}

TEST(checkpoint_file_uses_pytorch_layouts_and_names) {
    Net *a = small_net();
    REQUIRE(a);
    char *path = tmp_path("ck.safetensors");
    Err e;
    REQUIRE(checkpoint_save(path, a, NULL, NULL, NULL, &e) == 0);
    StFile f;
    REQUIRE(st_read(path, &f) == 0);
    CHECK(f.hlen % 8 == 0);
    cJSON *md = cJSON_GetObjectItem(f.root, "__metadata__");
    REQUIRE(md);
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(md, "arch")->valuestring, "small");
    CHECK_STR_CONTAINS(cJSON_GetObjectItem(md, "format_version")->valuestring, "1");
    /* conv c1: ours HWIO [3][3][2][5], file OIHW [5][2][3][3] */
    const float *w = st_data(&f, "c1.weight");
    REQUIRE(w);
    cJSON *sh = cJSON_GetObjectItem(cJSON_GetObjectItem(f.root, "c1.weight"), "shape");
    CHECK_INT_EQ(cJSON_GetArraySize(sh), 4);
    CHECK_INT_EQ(cJSON_GetArrayItem(sh, 0)->valueint, 5);
    CHECK_INT_EQ(cJSON_GetArrayItem(sh, 1)->valueint, 2);
    const float *ours = a->params + a->layers[0].param_off;
    int mism = 0;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++)
            for (int i = 0; i < 2; i++)
                for (int o = 0; o < 5; o++)
                    mism += w[((o * 2 + i) * 3 + y) * 3 + x] != ours[((y * 3 + x) * 2 + i) * 5 + o];
    CHECK_INT_EQ(mism, 0);
    /* dense d1: ours [In=2*3*3][7], file [7][18] */
    int d1 = net_find_layer(a, "d1");
    const float *dw = st_data(&f, "d1.weight"), *od = a->params + a->layers[d1].param_off;
    REQUIRE(dw);
    mism = 0;
    for (int i = 0; i < 18; i++)
        for (int o = 0; o < 7; o++) mism += dw[o * 18 + i] != od[i * 7 + o];
    CHECK_INT_EQ(mism, 0);
    CHECK(st_data(&f, "bn1.weight") && st_data(&f, "bn1.bias") && st_data(&f, "bn1.running_mean") &&
          st_data(&f, "bn1.running_var"));
    CHECK(st_data(&f, "bn1.running_var")[0] == 1.0f);
    st_free(&f);
    net_free(a);
    free(path);
}

/* ---- bad files ---- */

/* Loads `path` into a fresh small net (with opt and rng) and checks that it
 * fails with one line naming the file and containing `want`, and that the
 * net was left untouched. */
static void expect_reject(const char *path, const char *want) {
    Net *net = small_net();
    if (!net) return;
    float *before = malloc(net->n_params * 4);
    memcpy(before, net->params, net->n_params * 4);
    Adam opt;
    adam_init(&opt, net->n_params);
    Rng rng = rng_stream(0, 0);
    Err e;
    e.msg[0] = 0;
    int rc = checkpoint_load(path, net, &opt, &rng, NULL, &e);
    CHECK_INT_EQ(rc, -1);
    CHECK_STR_CONTAINS(e.msg, want);
    CHECK_STR_CONTAINS(e.msg, path);
    CHECK(!strchr(e.msg, '\n'));
    CHECK(!memcmp(before, net->params, net->n_params * 4));
    CHECK_INT_EQ(opt.t, 0);
    if (getenv("AUGPROBE_TEST_VERBOSE")) printf("    rejected: %s\n", e.msg);
    adam_free(&opt);
    free(before);
    net_free(net);
}

/* A valid full checkpoint of the small net, read back for mutation. */
static char *good_file(StFile *f) {
    Net *a = small_net();
    Adam opt;
    adam_init(&opt, a->n_params);
    Rng rng = rng_stream(4, 4);
    small_train(a, &opt, &rng);
    char *path = tmp_path("good.safetensors");
    Err e;
    if (checkpoint_save(path, a, &opt, &rng, NULL, &e)) test_fail(__FILE__, __LINE__, "%s", e.msg);
    adam_free(&opt);
    net_free(a);
    if (st_read(path, f)) test_fail(__FILE__, __LINE__, "cannot re-read %s", path);
    return path;
}

static void set_offsets(cJSON *root, const char *name, double b, double e) {
    cJSON *t = cJSON_GetObjectItem(root, name);
    double o[2] = {b, e};
    cJSON_ReplaceItemInObject(t, "data_offsets", cJSON_CreateDoubleArray(o, 2));
}

static double offset_of(cJSON *root, const char *name, int which) {
    return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, name), "data_offsets"),
                              which)
        ->valuedouble;
}

TEST(checkpoint_rejects_bad_header_length_and_json) {
    StFile f;
    char *good = good_file(&f);
    REQUIRE(f.root);
    char *p = tmp_path("bad.safetensors");
    /* header length larger than the file */
    uint8_t *copy = malloc(f.len);
    memcpy(copy, f.file, f.len);
    uint64_t big = f.len;
    for (int i = 0; i < 8; i++) copy[i] = (uint8_t)(big >> (8 * i));
    FILE *o = fopen(p, "wb");
    fwrite(copy, 1, f.len, o), fclose(o);
    expect_reject(p, "larger than the file");
    /* absurd (2^63) */
    for (int i = 0; i < 8; i++) copy[i] = i == 7 ? 0x80 : 0;
    o = fopen(p, "wb"), fwrite(copy, 1, f.len, o), fclose(o);
    expect_reject(p, "header length 9223372036854775808 is absurd");
    /* too short for the length field */
    o = fopen(p, "wb"), fwrite(copy, 1, 5, o), fclose(o);
    expect_reject(p, "too short");
    /* bad JSON */
    const char *bad = "{\"a\": [1, 2";
    memset(copy + 8, ' ', f.hlen);
    memcpy(copy + 8, bad, strlen(bad));
    for (int i = 0; i < 8; i++) copy[i] = (uint8_t)(f.hlen >> (8 * i));
    o = fopen(p, "wb"), fwrite(copy, 1, f.len, o), fclose(o);
    expect_reject(p, "not a JSON object");
    /* missing file */
    expect_reject("/nonexistent/ck.safetensors", "cannot open");
    free(copy), free(p), free(good);
    st_free(&f);
}

TEST(checkpoint_rejects_bad_entries) {
    StFile f;
    char *good = good_file(&f);
    REQUIRE(f.root);
    char *p = tmp_path("bad.safetensors");
    cJSON *r;
    /* unknown dtype */
    r = cJSON_Duplicate(f.root, 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "c2.bias"), "dtype", cJSON_CreateString("F16"));
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "dtype F16 not supported");
    /* a shape that does not match the net (same element count) */
    r = cJSON_Duplicate(f.root, 1);
    int sh[4] = {2, 5, 3, 3};
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "c1.weight"), "shape", cJSON_CreateIntArray(sh, 4));
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "shape [2, 5, 3, 3] does not match the network's [5, 2, 3, 3]");
    /* shape and byte count disagree */
    r = cJSON_Duplicate(f.root, 1);
    int sh3[1] = {6};
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "c2.bias"), "shape", cJSON_CreateIntArray(sh3, 1));
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "bytes for 6 floats");
    /* offsets outside the file */
    r = cJSON_Duplicate(f.root, 1);
    double data_len = (double)(f.len - 8 - f.hlen);
    set_offsets(r, "out.bias", data_len, data_len + 16);
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "outside the file");
    /* overlapping */
    r = cJSON_Duplicate(f.root, 1);
    double b = offset_of(r, "c1.bias", 0);
    set_offsets(r, "out.bias", b, b + 16);
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "overlap");
    /* misordered (end before begin) */
    r = cJSON_Duplicate(f.root, 1);
    set_offsets(r, "out.bias", b + 16, b);
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "end before they begin");
    /* negative / fractional offsets */
    r = cJSON_Duplicate(f.root, 1);
    set_offsets(r, "out.bias", -16, 0);
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "not byte offsets");
    /* a missing tensor (and a missing Adam moment) */
    r = cJSON_Duplicate(f.root, 1);
    cJSON_DeleteItemFromObject(r, "d1.bias");
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "missing tensor d1.bias");
    r = cJSON_Duplicate(f.root, 1);
    cJSON_DeleteItemFromObject(r, "optim.v.bn1.weight");
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "missing tensor optim.v.bn1.weight");
    /* another architecture */
    r = cJSON_Duplicate(f.root, 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "arch",
                              cJSON_CreateString("seed_cnn"));
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "architecture 'seed_cnn', expected 'small'");
    /* no metadata / a future format */
    r = cJSON_Duplicate(f.root, 1);
    cJSON_DeleteItemFromObject(r, "__metadata__");
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "no __metadata__");
    r = cJSON_Duplicate(f.root, 1);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(r, "__metadata__"), "format_version",
                              cJSON_CreateString("99"));
    st_write(p, &f, r), cJSON_Delete(r);
    expect_reject(p, "format_version 99 not supported");
    free(p), free(good);
    st_free(&f);
}

TEST(checkpoint_rejects_nan_and_inf) {
    StFile f;
    char *good = good_file(&f);
    REQUIRE(f.root);
    char *p = tmp_path("bad.safetensors");
    const float vals[2] = {NAN, -INFINITY};
    const char *names[2] = {"bn1.running_var", "optim.m.d1.weight"};
    for (int k = 0; k < 2; k++) {
        size_t off = 8 + f.hlen + (size_t)offset_of(f.root, names[k], 0) + 4;
        uint8_t *copy = malloc(f.len);
        memcpy(copy, f.file, f.len);
        memcpy(copy + off, &vals[k], 4);
        FILE *o = fopen(p, "wb");
        fwrite(copy, 1, f.len, o), fclose(o);
        char want[128];
        snprintf(want, sizeof want, "tensor %s: value 1 is not finite", names[k]);
        expect_reject(p, want);
        free(copy);
    }
    /* the untouched file loads */
    Net *net = small_net();
    Err e;
    CHECK(checkpoint_load(good, net, NULL, NULL, NULL, &e) == 0);
    net_free(net);
    free(p), free(good);
    st_free(&f);
}

/* ---- interop with PyTorch ---- */

TEST(checkpoint_interop_pytorch_logits_from_our_file) {
    enum { B = 32 };
    Err e;
    Net *a = net_create_text("seed_cnn", arch_builtin("seed_cnn"), 32, 32, 3, B, 2, &e);
    Net *b = net_create_text("seed_cnn", arch_builtin("seed_cnn"), 32, 32, 3, B, 2, &e);
    REQUIRE(a && b);
    golden_set_weights(a);
    char *path = tmp_path("golden.safetensors");
    CheckpointMeta m = {0};
    snprintf(m.arch, sizeof m.arch, "seed_cnn");
    m.seed = 1;
    REQUIRE(checkpoint_save(path, a, NULL, NULL, &m, &e) == 0);
    /* tools/check_interop.py asks for a copy of the file to feed PyTorch */
    const char *out = getenv("AUGPROBE_INTEROP_OUT");
    if (out) REQUIRE(checkpoint_save(out, a, NULL, NULL, &m, &e) == 0);
    int rc = checkpoint_load(path, b, NULL, NULL, NULL, &e);
    if (rc) printf("    %s\n", e.msg);
    REQUIRE(rc == 0);
    float *x = malloc(sizeof(float) * B * 32 * 32 * 3);
    uint8_t y[B];
    golden_batch(0, x, y, B);
    const float *logits = net_forward(b, x, B, 0, NULL, -1);
    size_t cnt;
    float *want = test_load_floats("golden/interop_logits.f32", &cnt);
    if (want) {
        CHECK_INT_EQ(cnt, B * 10);
        if (cnt == B * 10) {
            CHECK_ARRAY_NEAR(logits, want, B * 10, 1e-4, 1e-5);
            double worst = 0;
            for (int i = 0; i < B * 10; i++) worst = fmax(worst, fabs(logits[i] - want[i]));
            if (getenv("AUGPROBE_TEST_VERBOSE"))
                printf("    interop: max |ours - PyTorch(our file)| = %.3g over %d logits\n", worst,
                       B * 10);
        }
    }
    /* loading is exact: the same logits as the net that was saved */
    float *la = malloc(sizeof(float) * B * 10);
    memcpy(la, logits, sizeof(float) * B * 10);
    const float *lo = net_forward(a, x, B, 0, NULL, -1);
    CHECK(!memcmp(la, lo, sizeof(float) * B * 10));
    free(want), free(x), free(la), free(path);
    net_free(a), net_free(b);
}
