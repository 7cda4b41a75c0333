/* test_resources.c - resource bounds up front: the memory estimate matches
 * what net_create allocates, and a configuration over the machine's limit
 * (here: ulimit -v) is refused before the data is even looked at, with the
 * estimate and the limit in the message, exit 1. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/arch.h"
#include "../src/cifar10.h"
#include "../src/net.h"
#include "../src/resources.h"
#include "badinput_util.h"

/* What net_create allocates for the seed CNN at batch B, from the net. */
static uint64_t allocated_floats(const Net *n, int B) {
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

TEST(resources_estimate_matches_net_create) {
    Err e;
    Net *n = net_create_text("seed_cnn", arch_builtin("seed_cnn"), CIFAR_H, CIFAR_W, CIFAR_C, 3,
                             1, &e);
    REQUIRE(n);
    for (int B = 1; B <= 4096; B *= 8) {
        CHECK_INT_EQ(mem_seed_net_bytes(B, 0), allocated_floats(n, B) * 4);
        CHECK_INT_EQ(mem_seed_net_bytes(B, 1) - mem_seed_net_bytes(B, 0),
                     (uint64_t)n->n_params * 2 * 4); /* Adam's m and v */
    }
    /* 2,397,226 parameters (896 of them BN moving statistics); batch 4096
     * needs ~5 GB */
    CHECK_INT_EQ(n->n_params + n->n_state, 2397226);
    CHECK(mem_seed_net_bytes(4096, 1) > ((uint64_t)4 << 30));
    net_free(n);
    MemLimit m;
    mem_limit(&m);
    CHECK(m.bytes > ((uint64_t)64 << 20) && m.bytes < UINT64_MAX); /* at least physical memory */
    CHECK(m.what[0]);
}

/* Under `ulimit -v KB`, CMD ARGS must be refused up front: exit 1, the flag,
 * the estimate, the limit (and where it comes from). */
static void expect_refused(const char *cmd, const char *args, const char *flag) {
    char line[2048], out[OUT_CAP], full[4096];
    snprintf(full, sizeof full, "ulimit -v 2500000 && exec %s %s %s", test_bin(), cmd, args);
    int rc = test_run(full, out, sizeof out);
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
    /* and a batch that fits runs as before under the same limit */
    if (!test_data_dir()) return;
    char out[OUT_CAP], full[4096];
    snprintf(full, sizeof full,
             "ulimit -v 2500000 && exec %s train --batch 64 --limit 8 --eval-limit 8 --epochs 1 "
             "--threads 1 --data %s --out %s/small --quiet",
             test_bin(), test_data_dir(), t);
    CHECK_INT_EQ(test_run(full, out, sizeof out), 0);
}
