/* rng.c - xoshiro256** with splitmix64 seeding (Blackman & Vigna). */
#include "rng.h"

uint64_t rng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t rng_mix(uint64_t a, uint64_t b) {
    uint64_t x = a;
    uint64_t h = rng_splitmix64(&x);
    x = h ^ (b * 0xD1B54A32D192ED03ull);
    return rng_splitmix64(&x);
}

Rng rng_stream(uint64_t seed, uint64_t stream) {
    Rng r;
    uint64_t x = rng_mix(seed, stream);
    for (int i = 0; i < 4; i++) r.s[i] = rng_splitmix64(&x);
    if (!(r.s[0] | r.s[1] | r.s[2] | r.s[3])) r.s[0] = 1; /* never all zero */
    return r;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float rng_float(Rng *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float rng_uniform(Rng *r, float lo, float hi) { return lo + (hi - lo) * rng_float(r); }

uint64_t rng_below(Rng *r, uint64_t n) {
    /* Rejection sampling on the top of the range keeps it unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_u64(r);
    while (x >= limit);
    return x % n;
}

void rng_shuffle(Rng *r, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
