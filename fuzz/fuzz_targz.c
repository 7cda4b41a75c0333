/* fuzz_targz.c - libFuzzer harness for the CIFAR-10 archive reader: the
 * input is written as DIR/cifar-10-binary.tar.gz and given to cifar10_load
 * (no download). Whatever the bytes, the loader must fail with a one-line
 * error (the seeds are far too small to be a whole data set), must not
 * allocate what a forged header claims before checking it (libFuzzer's
 * -rss_limit_mb catches that), and must leave *d free-able. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/cifar10.h"

/* Harness state: the temp directory and archive path. */
static char dir[64], path[128];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz_targz.%d", (int)getpid());
    mkdir(dir, 0777);
    snprintf(path, sizeof path, "%s/cifar-10-binary.tar.gz", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
    Cifar10 d;
    memset(&d, 0, sizeof d);
    Err e = {{0}};
    int rc = cifar10_load(&d, path, 0, 1, 1, &e);
    if (rc == 0) {
        /* only a complete, well-formed data set may load */
        if (d.train.n != CIFAR_TRAIN_ALL || d.test.n != CIFAR_TEST) abort();
        for (int i = 0; i < d.test.n; i++)
            if (d.test_labels[i] >= CIFAR_CLASSES) abort();
    } else if (!e.msg[0] || strchr(e.msg, '\n')) {
        abort();
    }
    cifar10_free(&d);
    remove(path);
    return 0;
}
