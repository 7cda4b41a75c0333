/* test_resources.c - resource bounds up front: the memory estimate matches
 * what net_create allocates, and a configuration over the machine's limit
 * (here: ulimit -v) is refused before the data is even looked at, with the
 * estimate and the limit in the message, exit 1. */
#define _GNU_SOURCE
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/arch.h"
#include "../src/cifar10.h"
#include "../src/net.h"
#include "../src/resources.h"
#include "badinput_util.h"

/* The seed CNN's estimate as resources.c made it before net_memory_bytes:
 * the input copies, every output but flatten's, dropout masks, two gradient
 * buffers (BN's saved batch statistics left out). */
static uint64_t seed_floats_before(const Net *n, int B) {
    uint64_t in = (uint64_t)n->in_h * n->in_w * n->in_c, max_act = in, per = 2 * in;
    for (int i = 0; i < n->n_layers; i++) {
        uint64_t act = net_layer_size(n, i);
        if (n->layers[i].spec.kind != LAYER_FLATTEN) per += act;
        if (n->layers[i].spec.kind == LAYER_DROPOUT) per += act;
        if (act > max_act) max_act = act;
    }
    per += 2 * max_act;
    return 2 * (uint64_t)n->n_params + n->n_state + per * (uint64_t)B;
}

/* What net_create allocated for n, buffer by buffer from the net's own
 * fields, scaled to batch B. */
static uint64_t allocated_floats(const Net *n, int B) {
    uint64_t in = (uint64_t)n->in_h * n->in_w * n->in_c, max_act = in, scratch = 0;
    /* params, grads, state; input, images_x */
    uint64_t f = 2 * (uint64_t)n->n_params + n->n_state + 2 * in * (uint64_t)B;
    for (int i = 0; i < n->n_layers; i++) {
        const Layer *L = &n->layers[i];
        uint64_t act = net_layer_size(n, i);
        if (!kind_def(L->spec.kind)->alias) f += act * (uint64_t)B;
        if (L->aux) f += L->aux_fixed + L->aux_per_example * (uint64_t)B;
        if (act > max_act) max_act = act;
        if (L->scratch > scratch) scratch = L->scratch;
    }
    f += (uint64_t)n->n_gbuf * max_act * (uint64_t)B;
    if (n->col) f += 2 * scratch * (uint64_t)B; /* col, dcol */
    return f;
}

static uint64_t estimate(const char *name, int B, int with_adam) {
    Arch a;
    Err e;
    uint64_t bytes = 0;
    if (arch_load(&a, name, &e) ||
        net_memory_bytes(&a, CIFAR_H, CIFAR_W, CIFAR_C, B, with_adam, &bytes, &e))
        test_fail(__FILE__, __LINE__, "%s: %s", name, e.msg);
    arch_free(&a);
    return bytes;
}

TEST(resources_estimate_matches_net_create) {
    static const char *nets[] = {"seed_cnn", "resnet18"};
    for (int k = 0; k < 2; k++) {
        Err e;
        Net *n = net_create_text(nets[k], arch_builtin(nets[k]), CIFAR_H, CIFAR_W, CIFAR_C, 3, 1,
                                 &e);
        REQUIRE(n);
        for (int B = 1; B <= 4096; B *= 8) {
            CHECK_INT_EQ(estimate(nets[k], B, 0), allocated_floats(n, B) * 4);
            CHECK_INT_EQ(estimate(nets[k], B, 1) - estimate(nets[k], B, 0),
                         (uint64_t)n->n_params * 2 * 4); /* Adam's m and v */
            /* the seed CNN: the old estimate plus BN's saved mean and invstd
             * (2 x 448 channels), which it left out */
            if (k == 0)
                CHECK_INT_EQ(estimate(nets[k], B, 0), (seed_floats_before(n, B) + 896) * 4);
        }
        if (k == 0) {
            /* 2,397,226 parameters (896 of them BN moving statistics); batch
             * 4096 needs ~5 GB */
            CHECK_INT_EQ(n->n_params + n->n_state, 2397226);
            CHECK(estimate("seed_cnn", 4096, 1) > ((uint64_t)4 << 30));
        } else {
            /* ResNet-18: 11,173,962 parameters and 9,600 BN statistics, and
             * activations at 32x32x64 through layer1: ~7x the seed CNN at batch 128 */
            CHECK_INT_EQ(n->n_params, 11173962);
            printf("    batch 128 with Adam: seed_cnn %.0f MB, resnet18 %.0f MB\n",
                   estimate("seed_cnn", 128, 1) / 1048576.0,
                   estimate("resnet18", 128, 1) / 1048576.0);
            CHECK(estimate("resnet18", 128, 1) > 5 * estimate("seed_cnn", 128, 1));
        }
        net_free(n);
    }
    /* shape errors are net_create's */
    Arch a;
    Err e;
    uint64_t bytes = 1;
    REQUIRE(arch_parse(&a, "odd", "odd.net", "c conv filters=4 kernel=3\np maxpool\n", &e) == 0);
    CHECK_INT_EQ(net_memory_bytes(&a, 31, 31, 3, 8, 0, &bytes, &e), -1);
    CHECK_STR_CONTAINS(e.msg, "odd.net:2: node p: max-pool input 31x31 is not even");
    CHECK_INT_EQ(net_memory_bytes(&a, 32, 32, 3, 0, 0, &bytes, &e), -1);
    arch_free(&a);
    MemLimit m;
    mem_limit(&m);
    CHECK(m.bytes > ((uint64_t)64 << 20) && m.bytes < UINT64_MAX); /* at least physical memory */
    CHECK(m.what[0]);
}

/* Heap bytes in use (malloc's arenas and its mmap'd blocks), or 0 when the
 * C library cannot tell. */
static uint64_t heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
#else
    return 0;
#endif
}

TEST(resources_estimate_within_25_percent_of_what_malloc_counts) {
    /* ASan's allocator is not glibc's: mallinfo2 does not see it */
    if (getenv("AUGPROBE_ASAN")) SKIP("mallinfo2 does not count ASan's allocations");
    static const struct {
        const char *name;
        int batch;
    } cases[] = {{"seed_cnn", 32}, {"resnet18", 8}, {"resnet18", 1}};
    for (int k = 0; k < 3; k++) {
        Err e;
        uint64_t before = heap_in_use();
        Net *n = net_create_text(cases[k].name, arch_builtin(cases[k].name), CIFAR_H, CIFAR_W,
                                 CIFAR_C, cases[k].batch, 1, &e);
        REQUIRE(n);
        uint64_t after = heap_in_use();
        net_free(n);
        if (after <= before) SKIP("mallinfo2 reports no heap growth (not glibc's malloc?)");
        double got = (double)(after - before), want = (double)estimate(cases[k].name,
                                                                        cases[k].batch, 0);
        printf("    %s at batch %d: net_create took %.1f MB, estimated %.1f MB\n", cases[k].name,
               cases[k].batch, got / 1048576.0, want / 1048576.0);
        CHECK(fabs(want - got) <= 0.25 * got);
    }
}

/* Under `ulimit -v KB`, CMD ARGS must be refused up front: exit 1, the flag,
 * the estimate, the limit (and where it comes from). */
static char out_last[OUT_CAP]; /* expect_refused's and expect_passed's output */

static void expect_refused(const char *cmd, const char *args, const char *flag) {
    char line[2048], full[4096];
    char *out = out_last;
    snprintf(full, sizeof full, "ulimit -v 2500000 && exec %s %s %s", test_bin(), cmd, args);
    int rc = test_run(full, out, OUT_CAP);
    printf("    %s %s: exit %d: %s\n", cmd, flag, rc, first_line(out, line, sizeof line));
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, cmd, flag, "needs about");
    CHECK_STR_CONTAINS(line, "of memory (");
    /* 2.4 GB (ulimit -v), unless the machine allows even less */
    CHECK_STR_CONTAINS(line, " this machine allows (");
    MemLimit m;
    mem_limit(&m);
    if (m.bytes > ((uint64_t)2500000 << 10))
        CHECK_STR_CONTAINS(line, "more than the 2.4 GB this machine allows (ulimit -v)");
    CHECK(!strstr(out, "/nonexistent")); /* refused before the data or model was looked at */
}

/* Under the same limit, CMD ARGS passes the memory check: it fails later,
 * on the data or model at /nonexistent, exit 1. */
static void expect_passed(const char *cmd, const char *args) {
    char line[2048], full[4096];
    snprintf(full, sizeof full, "ulimit -v 2500000 && exec %s %s %s", test_bin(), cmd, args);
    int rc = test_run(full, out_last, OUT_CAP);
    printf("    %s %s: exit %d: %s\n", cmd, args, rc, first_line(out_last, line, sizeof line));
    CHECK_INT_EQ(rc, 1);
    CHECK(!strstr(out_last, "needs about"));
    CHECK_STR_CONTAINS(out_last, "/nonexistent");
}

TEST(resources_refuse_over_the_limit_up_front) {
    /* ASan reserves terabytes of address space: ulimit -v cannot apply */
    if (getenv("AUGPROBE_ASAN")) SKIP("ulimit -v does not mix with ASan's shadow memory");
    const char *t = test_tmpdir();
    char args[2048];
    snprintf(args, sizeof args, "--batch 4096 --data /nonexistent --out %s/run --quiet", t);
    expect_refused("train", args, "--batch 4096");
    expect_refused("eval", "--batch 4096 --model /nonexistent/m.safetensors --data /nonexistent",
                   "--batch 4096");
    snprintf(args, sizeof args,
             "--model random --layer block1_pool --max-memory 100000 --data /nonexistent "
             "--out %s/probe --quiet", t);
    expect_refused("probe", args, "--layer block1_pool with --max-memory 100000");
    /* a batch the seed CNN fits in is refused for ResNet-18, whose estimate
     * is its own (~9 MB an image rather than ~1.3 MB) */
    snprintf(args, sizeof args,
             "--arch resnet18 --batch 512 --data /nonexistent --out %s/r18 --quiet", t);
    expect_refused("train", args, "--batch 512");
    CHECK_STR_CONTAINS(out_last, "(resnet18 and Adam at batch 512: ");
    expect_refused("eval",
                   "--arch resnet18 --batch 512 --model /nonexistent/m.safetensors "
                   "--data /nonexistent",
                   "--batch 512");
    CHECK_STR_CONTAINS(out_last, "(resnet18 at batch 512: ");
    snprintf(args, sizeof args, "--batch 512 --data /nonexistent --out %s/seed --quiet", t);
    expect_passed("train", args);
    expect_passed("eval", "--batch 512 --model /nonexistent/m.safetensors --data /nonexistent");
    /* and a batch that fits runs as before under the same limit */
    if (!test_data_dir()) return;
    char out[OUT_CAP], full[4096];
    snprintf(full, sizeof full,
             "ulimit -v 2500000 && exec %s train --batch 64 --limit 8 --eval-limit 8 --epochs 1 "
             "--threads 1 --data %s --out %s/small --quiet",
             test_bin(), test_data_dir(), t);
    CHECK_INT_EQ(test_run(full, out, sizeof out), 0);
}

/* study checks its whole need before reading anything: ResNet-18's full
 * profile (trunk and 10,000-image caches) is refused under a 1.4 GB limit
 * that its quick profile passes; and a network whose tap would make one
 * split's caches exceed the study's 2 GB bound is refused by --probe-limit,
 * whatever the machine. Nothing is written in either case. */
TEST(resources_study_refused_up_front) {
    const char *t = test_tmpdir();
    char out[OUT_CAP], line[2048], full[4096], dir[1100], arch[1100];
    snprintf(dir, sizeof dir, "%s/study", t);
    if (!getenv("AUGPROBE_ASAN")) { /* ulimit -v does not mix with ASan */
        snprintf(full, sizeof full,
                 "ulimit -v 1500000 && exec %s study --arch resnet18 --full --data /nonexistent "
                 "--out %s --quiet",
                 test_bin(), dir);
        int rc = test_run(full, out, sizeof out);
        printf("    study --arch resnet18 --full: exit %d: %s\n", rc,
               first_line(out, line, sizeof line));
        CHECK_INT_EQ(rc, 1);
        check_error_line(out, "study", "--arch resnet18: needs about", " of memory (");
        CHECK_STR_CONTAINS(line, "feature caches of 10000 images: ");
        CHECK_STR_CONTAINS(line, " this machine allows (");
        CHECK(!strstr(out, "/nonexistent"));
        CHECK(!path_exists(dir));
        snprintf(full, sizeof full,
                 "ulimit -v 1500000 && exec %s study --arch resnet18 --quick --data /nonexistent "
                 "--out %s-passed --quiet",
                 test_bin(), dir);
        rc = test_run(full, out, sizeof out);
        printf("    study --arch resnet18 --quick: exit %d: %s\n", rc,
               first_line(out, line, sizeof line));
        CHECK_INT_EQ(rc, 1);
        CHECK(!strstr(out, "needs about"));
        CHECK_STR_CONTAINS(out, "/nonexistent");
    }
    /* 8,000 values a tap x 10,000 images x 7 levels x 4 bytes = 2.1 GiB */
    snprintf(arch, sizeof arch, "%s/wide.net", t);
    FILE *f = fopen(arch, "w");
    REQUIRE(f);
    fputs("flatten flatten\nwide dense units=8000 relu tap=wide\nlogits dense units=10\n", f);
    REQUIRE(fclose(f) == 0);
    snprintf(full, sizeof full,
             "exec %s study --arch %s --probe-limit 0 --data /nonexistent --out %s --quiet",
             test_bin(), arch, dir);
    int rc = test_run(full, out, sizeof out);
    printf("    study --arch wide.net --probe-limit 0: exit %d: %s\n", rc,
           first_line(out, line, sizeof line));
    CHECK_INT_EQ(rc, 1);
    check_error_line(out, "study", "--probe-limit 0: one split's feature caches need 2136 MB",
                     "(10000 images x 7 levels x 8000 values), over the study's 2048 MB");
    CHECK(!path_exists(dir));
    /* 1,000 images fit */
    snprintf(full, sizeof full,
             "exec %s study --arch %s --probe-limit 1000 --data /nonexistent --out %s-passed "
             "--quiet",
             test_bin(), arch, dir);
    CHECK_INT_EQ(test_run(full, out, sizeof out), 1);
    CHECK(!strstr(out, "feature caches need"));
    CHECK_STR_CONTAINS(out, "/nonexistent");
}
