/* test_rng.c - the seeded generator: known values, streams, ranges. */
#include <stdint.h>
#include <string.h>

#include "../src/rng.h"
#include "test.h"

TEST(rng_stream_is_reproducible_and_distinct) {
    Rng a = rng_stream(1, 7), b = rng_stream(1, 7), c = rng_stream(1, 8), d = rng_stream(2, 7);
    uint64_t xa = rng_u64(&a), xb = rng_u64(&b), xc = rng_u64(&c), xd = rng_u64(&d);
    CHECK(xa == xb);
    CHECK(xa != xc);
    CHECK(xa != xd);
}

TEST(rng_float_in_unit_interval_with_mean_half) {
    Rng r = rng_stream(42, 0);
    double sum = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        float f = rng_float(&r);
        sum += f;
        if (f < lo) lo = f;
        if (f > hi) hi = f;
    }
    CHECK(lo >= 0.0f);
    CHECK(hi < 1.0f);
    CHECK_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(rng_below_covers_range_uniformly) {
    Rng r = rng_stream(3, 3);
    int counts[5] = {0};
    for (int i = 0; i < 50000; i++) counts[rng_below(&r, 5)]++;
    for (int k = 0; k < 5; k++) CHECK_NEAR(counts[k], 10000, 400);
}

TEST(rng_shuffle_is_a_permutation) {
    int idx[1000], seen[1000];
    for (int i = 0; i < 1000; i++) idx[i] = i;
    Rng r = rng_stream(9, 1);
    rng_shuffle(&r, idx, 1000);
    memset(seen, 0, sizeof seen);
    int moved = 0;
    for (int i = 0; i < 1000; i++) {
        REQUIRE(idx[i] >= 0 && idx[i] < 1000);
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 1000; i++) CHECK_INT_EQ(seen[i], 1);
    CHECK(moved > 900);
}
