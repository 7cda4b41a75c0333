/* feature_export.h - features out to NumPy (npy.h): one layer's features of a
 * split, as `augprobe features` writes them, and the probe's feature caches
 * kept by `augprobe probe --keep-features DIR`. */
/* (Not features.h: glibc has one, and nvcc's -Isrc would find ours first.) */
#ifndef AUGPROBE_FEATURE_EXPORT_H
#define AUGPROBE_FEATURE_EXPORT_H

#include <stdint.h>

#include "augment.h"
#include "cifar10.h"
#include "common.h"
#include "net.h"
#include "probe.h"

/* The stream `augprobe export` draws a split's augmentation from (split 0
 * train, 1 val, 2 test), so `features --aug S --split X` sees the very images
 * `export --aug S --split X` writes with the same seed. */
uint64_t features_aug_stream(int split);

/* The first n images of set through the frozen trunk (inference mode) up to
 * layer layer_index, image i augmented with parameters drawn from spec
 * (NULL or empty: none) by rng_stream(seed, rng_mix(stream, i)), pooled by
 * pool (probe_tap_vectors), streamed to path as float32 [n, dim] and the
 * labels to npy_labels_path(path) as int64 [n]. Both files are written to
 * temporary files and renamed at the end: nothing half-written. *dim_out
 * (may be NULL) gets dim. */
int features_write(Net *trunk, const ImageSet *set, int n, int layer_index, ProbePool pool,
                   const AugSpec *spec, uint64_t seed, uint64_t stream, const char *path,
                   int *dim_out, Err *e);

/* Keeps a probe feature cache in dir: dir/SPLIT.npy float32 [n_levels,
 * n_images, dim] (the cache's own layout: level l of image i is [l][i]),
 * dir/SPLIT.labels.npy int64 [n_images] (labels of the split's first
 * n_images images) and dir/levels.npy float32 [n_levels]. */
int features_keep(const char *dir, const char *split, const ProbeFeatures *f,
                  const uint8_t *labels, const float *levels, Err *e);

#endif
