/* cifar10.h - the CIFAR-10 data set: find, download, verify, load, split.
 *
 * Images are kept as uint8, HWC-interleaved (32 x 32 x 3, R G B per pixel),
 * converted from the files' planar layout at load time: 60,000 images take
 * 184 MB. Float conversion happens per batch, never for the whole set. */
#ifndef AUGPROBE_CIFAR10_H
#define AUGPROBE_CIFAR10_H

#include <stdint.h>

#include "common.h"

enum {
    CIFAR_H = 32,
    CIFAR_W = 32,
    CIFAR_C = 3,
    CIFAR_PIXELS = CIFAR_H * CIFAR_W * CIFAR_C, /* 3072 bytes per image */
    CIFAR_RECORD = 1 + CIFAR_PIXELS,            /* label byte + planar RGB */
    CIFAR_CLASSES = 10,
    CIFAR_BATCH_RECORDS = 10000,
    CIFAR_TRAIN_ALL = 50000,
    CIFAR_TEST = 10000,
    CIFAR_VAL = 10000, /* held out of the 50,000 by the seeded split */
};

/* A view of n images: images[i*CIFAR_PIXELS ...] (HWC), labels[i] in 0..9. */
typedef struct ImageSet {
    int n;
    const uint8_t *images;
    const uint8_t *labels;
} ImageSet;

typedef struct Cifar10 {
    uint8_t *train_images; /* 50,000 (after cifar10_split: train then val) */
    uint8_t *train_labels;
    uint8_t *test_images;  /* 10,000 */
    uint8_t *test_labels;
    char class_names[CIFAR_CLASSES][32];
    char source[1024];     /* the directory or archive it was read from */
    int verified;          /* 1: the official archive, its md5 matched */
    char note[256];        /* one line: why it is verified or not */
    /* Set by cifar10_split (train/val) and cifar10_load (test). */
    ImageSet train, val, test;
} Cifar10;

/* Loads CIFAR-10 from `path`: a directory with data_batch_1..5.bin,
 * test_batch.bin and batches.meta.txt, or the official cifar-10-binary.tar.gz.
 * path == NULL: use data/ (a directory or data/cifar-10-binary.tar.gz), and
 * when neither exists and allow_download, download the official archive to
 * data/cifar-10-binary.tar.gz (libcurl, progress bar on a terminal unless
 * quiet, md5-checked, temp file renamed when complete).
 * Checks sizes, record counts and labels; one clear error naming the file.
 * A directory is an "unverified copy" (only the archive's official md5 is
 * known); when it holds an MD5SUMS file, each file must match it.
 * AUGPROBE_CIFAR_URL / AUGPROBE_CIFAR_MD5 override the download's URL and
 * expected md5 (mirrors, tests); the result is verified only for the
 * official md5. Decoding runs on `threads` (>= 1) OpenMP threads; the result
 * does not depend on the count. On failure *d is left empty (free to
 * cifar10_free). */
int cifar10_load(Cifar10 *d, const char *path, int allow_download, int quiet, int threads,
                 Err *e);

/* Splits the 50,000 training images into 40,000 train and 10,000 val by a
 * seeded shuffle, rearranging train_images in place (train first). The same
 * on every machine and thread count. Sets d->train and d->val. Call it once
 * after cifar10_load (which sets d->train to all 50,000 and d->val empty). */
void cifar10_split(Cifar10 *d, uint64_t seed);

void cifar10_free(Cifar10 *d);

/* Converts n uint8 HWC images to float in [0, 1] (x / 255). */
void cifar10_to_float(float *out, const uint8_t *images, long n);

#endif
