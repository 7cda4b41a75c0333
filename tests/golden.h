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

/* ---- golden weights by tensor NAME (any network; tools/golden_common.py's
 * named_tensor): tensors are filled in the FILE's (PyTorch's) layout from
 * the tensor's name, so Python and C need not agree on node order. ---- */

/* FNV-1a 64 of name: the hash tag of a tensor. */
uint64_t golden_name_tag(const char *name);
/* The n values of tensor `name` (PyTorch layout, shape[0..ndim)):
 *   *.weight  4-D (conv, OIHW)  u * sqrt(6 / (I*K*K + O*K*K))
 *             2-D (dense)       u * sqrt(6 / (I + O))
 *             1-D (BN gamma)    1 + 0.25 u
 *   *.bias                      0.1 u
 *   *.running_mean              0.1 u
 *   *.running_var               1 + 0.5 u
 * with u = golden_unit(golden_name_tag(name), i), in float32. */
void golden_named_tensor(const char *name, const int64_t *shape, int ndim, float *out);
/* Fills every tensor of net (params and BN statistics) by name, through
 * the kind table's tensor list, converted to our layouts. */
void golden_set_named_weights(Net *net);
/* One NetTensor of node L in OUR layout -> the file's (PyTorch's) layout,
 * or back (to_file 0); the file's shape into shape[] (returns ndim). */
int golden_tensor_shape(const NetTensor *t, int64_t shape[4]);
void golden_convert(const NetTensor *t, float *dst, const float *src, int to_file);
/* Pixels of batch `step` of any size: x[B][H][W][C] (NHWC) =
 * (golden_hash(1100 + step, i) % 256) / 255; labels golden_hash(2100 +
 * step, n) % classes. */
void golden_batch_sized(int step, float *x, int B, int H, int W, int C, int64_t *y, int classes);

/* Number of floats above which fixtures keep only samples. */
#define GOLDEN_SAMPLE_ABOVE 16384
#define GOLDEN_N_SAMPLES 4096

#endif
