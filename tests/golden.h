/* golden.h - deterministic "golden" weights and batches for the seed CNN,
 * computed bit-identically by tools/golden_common.py, so that PyTorch
 * fixtures (tools/make_golden.py, tools/check_interop.py) can be checked
 * without committing 9.6 MB of weights. */
#ifndef AUGPROBE_TEST_GOLDEN_H
#define AUGPROBE_TEST_GOLDEN_H

#include <stdint.h>

#include "../src/cifar10.h"
#include "../src/net.h"

/* splitmix64's finaliser of tag * 0x9E3779B97F4A7C15 + i. */
uint64_t golden_hash(uint64_t tag, uint64_t i);
/* Uniform in [-1, 1) with 24 bits (exact in float32). */
float golden_unit(uint64_t tag, uint64_t i);
/* Fills a seed_cnn net: layer l's kernel/gamma use tag 100+4l, bias/beta
 * 100+4l+1, moving mean/var 100+4l+2 / +3 (formulas in golden.c). */
void golden_set_weights(Net *net);
/* Batch `step`: x [B][32][32][3] = (hash % 256) / 255, y = hash % 10. */
void golden_batch(int step, float *x, uint8_t *y, int B);

/* n random uint8 images (labels cycling through the classes) from seed,
 * as an ImageSet; free with golden_images_free. */
ImageSet golden_images(int n, uint64_t seed);
void golden_images_free(ImageSet *s);

/* Number of floats above which fixtures keep only samples. */
#define GOLDEN_SAMPLE_ABOVE 16384
#define GOLDEN_N_SAMPLES 4096

#endif
