/* test_fuzz_regressions.c - inputs that crashed or tripped a check in the
 * libFuzzer harnesses (fuzz/), kept as regression tests: each names the
 * harness and what it found. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/checkpoint.h"
#include "../src/cifar10.h"
#include "../src/common.h"
#include "../src/net.h"
#include "test.h"

/* fuzz_cifar_batch (parse_meta): a batches.meta.txt line of NULs followed by
 * text was accepted as an empty class name. It must be rejected, naming the
 * file and the line. */
TEST(fuzz_regress_meta_nul_bytes_in_class_name) {
    static const char meta[] = "airplane\r\n\nautomobile\r\n\nbird\r\n\ncat\r\n\ndeer\r\n\n"
                               "dog\r\n\nfrog\r\n\n\0\0\0\0\0\0\0Q?hip\r\n\ntruc\v\r\n1";
    const char *dir = test_tmpdir();
    char *path = path_join(dir, "batches.meta.txt");
    Err e;
    REQUIRE(file_write_atomic(path, meta, sizeof meta - 1, &e) == 0);
    Cifar10 d;
    memset(&d, 0, sizeof d);
    int rc = cifar10_load(&d, dir, 0, 1, 2, &e);
    CHECK(rc != 0);
    if (rc) {
        CHECK_STR_CONTAINS(e.msg, "batches.meta.txt: line of class name 8 has control byte 0x00");
    }
    cifar10_free(&d);
    free(path);
}

/* The same check for a terminal escape in a class name. */
TEST(fuzz_regress_meta_control_byte_in_class_name) {
    static const char meta[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\n"
                               "tru\033[2Jck\n";
    const char *dir = test_tmpdir();
    char *path = path_join(dir, "batches.meta.txt");
    Err e;
    REQUIRE(file_write_atomic(path, meta, sizeof meta - 1, &e) == 0);
    Cifar10 d;
    memset(&d, 0, sizeof d);
    int rc = cifar10_load(&d, dir, 0, 1, 2, &e);
    CHECK(rc != 0);
    if (rc) {
        CHECK_STR_CONTAINS(e.msg, "batches.meta.txt: line of class name 10 has control byte 0x1b");
    }
    cifar10_free(&d);
    free(path);
}

/* fuzz_safetensors (checkpoint_load): a header whose tensor name holds a raw
 * newline gave a two-line error ("tensor conv.b\xab...\ntype: entry is not an
 * object"). err_set now replaces control bytes, so every message stays one
 * line; this checks it at the loader and at err_set itself. */
TEST(fuzz_regress_checkpoint_error_with_newline_in_name_is_one_line) {
    Err e;
    Net *net = net_create_text("fuzz_tiny", "logits dense units=3\n", 1, 1, 2, 1, 1, &e);
    REQUIRE(net);
    /* JSON allows "\n" in a key; cJSON also takes a raw one */
    static const char hdr[] = "{\"logits.w\\neight\": 5, \"x\ny\": {}}";
    char *path = path_join(test_tmpdir(), "nl.safetensors");
    uint8_t buf[64 + sizeof hdr];
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    REQUIRE(file_write_atomic(path, buf, 8 + n, &e) == 0);
    CheckpointMeta meta;
    Err le = {{0}};
    CHECK(checkpoint_load(path, net, NULL, NULL, &meta, &le) != 0);
    CHECK(le.msg[0] != 0);
    CHECK(strchr(le.msg, '\n') == NULL);
    CHECK_STR_CONTAINS(le.msg, "nl.safetensors: tensor logits.w?eight");
    net_free(net);
    free(path);
    Err d;
    err_set(&d, "%s: bad\r\nname\x7f\tend", "f");
    CHECK_STR_CONTAINS(d.msg, "f: bad??name?\tend");
}
