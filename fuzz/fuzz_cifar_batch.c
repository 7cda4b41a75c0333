/* fuzz_cifar_batch.c - libFuzzer harness for the CIFAR-10 batch-file checks.
 *
 * The loader only decodes files of exactly 10,000 records (30,730,000
 * bytes, checked by stat before anything is read), and fuzzing 180 MB data
 * sets is hopeless, so this harness includes src/cifar10.c to reach its
 * static parsers directly (the Makefile links it without cifar10.o):
 *   byte 0 % 8 == 0: decode_batch on the raw bytes (the size check);
 *         1, 2, 3: the bytes as a batch's first records, padded to 10,000
 *                  records whose first label after the input's is 255 (the
 *                  rest 0): the label scan must stop at the first bad one;
 *            4, 5: parse_meta (batches.meta.txt);
 *            6, 7: read_md5sums (an MD5SUMS file) and member_index.
 * The planar -> HWC conversion of a whole valid batch does not depend on the
 * bytes and takes over a second under the sanitizers: it runs once, at start. */
#define _POSIX_C_SOURCE 200809L
#include "../src/cifar10.c"

#include <stdio.h>
#include <sys/stat.h>

/* Harness state: one padded batch and the decoded output, reused. */
static uint8_t *padded, *images, *labels;
static char dir[64], sums_path[128];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    padded = xcalloc(BATCH_BYTES, 1);
    images = xmalloc((size_t)CIFAR_BATCH_RECORDS * CIFAR_PIXELS);
    labels = xmalloc(CIFAR_BATCH_RECORDS);
    snprintf(dir, sizeof dir, "/tmp/fuzz_cifar_batch.%d", (int)getpid());
    mkdir(dir, 0777);
    snprintf(sums_path, sizeof sums_path, "%s/MD5SUMS", dir);
    for (size_t i = 0; i < BATCH_BYTES; i++) padded[i] = (uint8_t)(i % 251 % 10);
    Err e;
    if (decode_batch("init.bin", padded, BATCH_BYTES, images, labels, 1, &e)) abort();
    memset(padded, 0, BATCH_BYTES);
    return 0;
}

static void check_msg(const Err *e) {
    if (!e->msg[0] || strchr(e->msg, '\n')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 8;
    data++, size--;
    Err e = {{0}};
    switch (mode) {
    case 0:
        if (decode_batch("fuzz.bin", data, size, images, labels, 1, &e) == 0) {
            if (size != BATCH_BYTES) abort();
        } else {
            check_msg(&e);
        }
        break;
    case 1:
    case 2:
    case 3: {
        size_t n = size < BATCH_BYTES ? size : BATCH_BYTES;
        memcpy(padded, data, n);
        size_t stop = (n + CIFAR_RECORD - 1) / CIFAR_RECORD * CIFAR_RECORD;
        if (stop < BATCH_BYTES) padded[stop] = 255;
        int bad_at = -1; /* the first record whose label is out of range */
        for (size_t r = 0; r < CIFAR_BATCH_RECORDS; r++)
            if (padded[r * CIFAR_RECORD] >= CIFAR_CLASSES) {
                bad_at = (int)r;
                break;
            }
        int rc = decode_batch("fuzz.bin", padded, BATCH_BYTES, images, labels, 1, &e);
        if ((rc != 0) != (bad_at >= 0)) abort();
        if (rc) {
            char want[64];
            snprintf(want, sizeof want, "record %d has label", bad_at);
            check_msg(&e);
            if (!strstr(e.msg, want)) abort();
        } else {
            /* spot-check the conversion of the first record's first pixel */
            if (images[0] != padded[1] || images[1] != padded[1 + 1024] ||
                images[2] != padded[1 + 2048] || labels[0] != padded[0])
                abort();
        }
        memset(padded, 0, n);
        if (stop < BATCH_BYTES) padded[stop] = 0;
        break;
    }
    case 4:
    case 5: {
        char names[CIFAR_CLASSES][32];
        if (parse_meta("batches.meta.txt", data, size, names, &e) == 0) {
            for (int i = 0; i < CIFAR_CLASSES; i++)
                if (!names[i][0] || strlen(names[i]) > 31) abort();
        } else {
            check_msg(&e);
        }
        break;
    }
    default: {
        FILE *f = fopen(sums_path, "wb");
        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) abort();
        char sums[N_FILES][33];
        int rc = read_md5sums(dir, sums, &e);
        if (rc < 0)
            check_msg(&e);
        else
            for (int i = 0; i < N_FILES; i++)
                if (sums[i][0] && strlen(sums[i]) != 32) abort();
        char name[256];
        size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
        memcpy(name, data, n);
        name[n] = 0;
        int i = member_index(name);
        if (i < -1 || i >= N_FILES) abort();
        break;
    }
    }
    return 0;
}
