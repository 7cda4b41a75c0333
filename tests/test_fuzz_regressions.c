/* test_fuzz_regressions.c - inputs that crashed or tripped a check in the
 * libFuzzer harnesses (fuzz/), kept as regression tests: each names the
 * harness and what it found. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cifar10.h"
#include "../src/common.h"
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
    int rc = cifar10_load(&d, dir, 0, 1, &e);
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
    int rc = cifar10_load(&d, dir, 0, 1, &e);
    CHECK(rc != 0);
    if (rc) {
        CHECK_STR_CONTAINS(e.msg, "batches.meta.txt: line of class name 10 has control byte 0x1b");
    }
    cifar10_free(&d);
    free(path);
}
