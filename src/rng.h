/* rng.h - the seeded random generator (xoshiro256**, seeded by splitmix64).
 *
 * Every random decision in augprobe comes from an Rng made by
 * rng_stream(seed, stream): one independent stream per (seed, purpose, item),
 * e.g. one per image index and epoch, so results never depend on the thread
 * count or on the order in which threads run. The state is 4 words and is
 * saved in checkpoints for exact resumption. */
#ifndef AUGPROBE_RNG_H
#define AUGPROBE_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

/* Stream ids: combine a purpose tag with indices via rng_mix. */
enum {
    RNG_TAG_INIT = 1,      /* weight initialisation */
    RNG_TAG_SPLIT = 2,     /* train/val split shuffle */
    RNG_TAG_SHUFFLE = 3,   /* epoch order */
    RNG_TAG_AUGMENT = 4,   /* training augmentation, per (epoch, image) */
    RNG_TAG_DROPOUT = 5,   /* dropout masks, per step */
    RNG_TAG_PROBE = 6,     /* probe pair levels and the probe head */
    RNG_TAG_BOOT = 7,      /* bootstrap resamples of test images (stats.h) */
};

uint64_t rng_splitmix64(uint64_t *x);
/* A well-mixed 64-bit hash of (a, b): use it to build stream ids. */
uint64_t rng_mix(uint64_t a, uint64_t b);
Rng rng_stream(uint64_t seed, uint64_t stream);

uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1), 24 random bits: exact in float. */
float rng_float(Rng *r);
/* Uniform in [lo, hi). */
float rng_uniform(Rng *r, float lo, float hi);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(Rng *r, int *idx, int n);

#endif
