/* preview.h - the notebook's check of its augmentation as a PNG: the first
 * 25 training images of the split, augmented, captioned, in a 5x5 grid.
 * Implemented in cmd_augment.c; used by `augprobe preview` and `study`. */
#ifndef AUGPROBE_PREVIEW_H
#define AUGPROBE_PREVIEW_H

#include <stdint.h>

#include "augment.h"
#include "cifar10.h"
#include "common.h"

/* Draws d->train's first 25 images (fewer when the split is smaller), each
 * augmented by spec with parameters drawn from seed (the same images as
 * `augprobe preview --seed seed`) on `threads` (>= 1) OpenMP threads,
 * enlarged `scale` times. Sets *n_drawn (may be NULL). Returns 0, or -1
 * with e set. */
int augment_preview_png(const char *path, const Cifar10 *d, const AugSpec *spec, uint64_t seed,
                        int scale, int threads, int *n_drawn, Err *e);

#endif
