/* fuzz_safetensors.c - libFuzzer harness for checkpoint_load on arbitrary
 * bytes (written to a temp file, as the loader reads a path), loaded into a
 * tiny network with every tensor kind (conv, batch norm with moving
 * statistics, dense) plus Adam moments and an Rng state. An accepted file
 * must leave only finite values; a rejected one must leave a one-line error.
 * FUZZ_GEN_SEEDS=DIR: write valid seed checkpoints into DIR and exit. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/checkpoint.h"

static const char TINY[] = "conv conv filters=2 kernel=3 relu\n"
                           "bn batchnorm\n"
                           "pool maxpool\n"
                           "flatten flatten\n"
                           "drop dropout rate=0.2\n"
                           "logits dense units=3\n";

/* Harness state (one network for the whole run). */
static Net *net;
static Adam opt;
static char path[64];

static void gen_seeds(const char *dir) {
    Err e;
    char p[1024];
    CheckpointMeta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "%s", net->arch);
    meta.epoch = 3;
    meta.seed = 7;
    net_init(net, 7);
    Rng r = rng_stream(7, 3);
    snprintf(p, sizeof p, "%s/model", dir);
    if (checkpoint_save(p, net, NULL, NULL, &meta, &e)) fprintf(stderr, "%s\n", e.msg);
    snprintf(meta.extra, sizeof meta.extra, "{\"epochs\":3,\"aug\":\"hflip\"}");
    opt.t = 12;
    snprintf(p, sizeof p, "%s/full", dir);
    if (checkpoint_save(p, net, &opt, &r, &meta, &e)) fprintf(stderr, "%s\n", e.msg);
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    Err e;
    net = net_create_text("fuzz_tiny", TINY, 4, 4, 1, 2, 1, &e);
    if (!net) {
        fprintf(stderr, "net_create: %s\n", e.msg);
        abort();
    }
    adam_init(&opt, net->n_params);
    snprintf(path, sizeof path, "/tmp/fuzz_safetensors.%d", (int)getpid());
    const char *gen = getenv("FUZZ_GEN_SEEDS");
    if (gen) gen_seeds(gen);
    return 0;
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    /* twice: a model-only load, then one that asks for Adam and the Rng */
    for (int want_state = 0; want_state < 2; want_state++) {
        Rng r;
        CheckpointMeta meta;
        Err e = {{0}};
        int rc = checkpoint_load(path, net, want_state ? &opt : NULL, want_state ? &r : NULL,
                                 &meta, &e);
        if (rc != 0) {
            if (!e.msg[0] || strchr(e.msg, '\n')) abort();
            continue;
        }
        if (!all_finite(net->params, net->n_params) || !all_finite(net->state, net->n_state))
            abort();
        if (want_state && (!all_finite(opt.m, opt.n) || !all_finite(opt.v, opt.n))) abort();
        if (strcmp(meta.arch, net->arch)) abort();
        if (!memchr(meta.extra, 0, sizeof meta.extra)) abort();
    }
    remove(path);
    return 0;
}
