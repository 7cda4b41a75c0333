#!/usr/bin/python3
"""make_floor_fixture.py - an independent NumPy/SciPy computation of the
`pixels` floor, for tests/test_stats.c (floor_pixels_matches_numpy).

The probe: brightness at the study's ladder (0, .01, .02, .05, .1, .2, .4;
x + delta, clipped to [0, 1]), cross-image pairs (4 passes; for each pass and
image two levels uniform over the ladder and a partner image uniform among
the others; ties left out), a linear RankNet scorer on the raw 3,072 pixel
values standardised with the training images' mean and sd, loss = mean
log(1 + exp(-y (s_a - s_b))) + 1e-3 / 2 |v|^2, minimised to convergence with
L-BFGS. Training images: test_batch.bin images 0..499; test images
500..999. The pairs are drawn with NumPy's own generator (not augprobe's),
so the C test compares accuracies within augprobe's 95% interval, not pair
by pair.

Writes tests/fixtures/floor/pixels_brightness_cross.txt: "accuracy N".
Run: /usr/bin/python3 tools/make_floor_fixture.py [DATA_DIR]
"""
import os
import sys

import numpy as np
from scipy import optimize

DATA = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/cifar10-q75"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "floor")
LEVELS = np.array([0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4], dtype=np.float32)
L2 = 1e-3

raw = np.fromfile(os.path.join(DATA, "test_batch.bin"), dtype=np.uint8).reshape(10000, 3073)
# CHW planes -> HWC floats in [0, 1], as augprobe
imgs = raw[:1000, 1:].reshape(1000, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0
imgs = imgs.reshape(1000, -1)


def cache(x):  # [level][image][3072]
    return np.stack([np.clip(x + d, 0.0, 1.0) for d in LEVELS])


def pairs(n, rng, passes=4):
    a = rng.integers(0, len(LEVELS), size=(passes, n)).ravel()
    b = rng.integers(0, len(LEVELS), size=(passes, n)).ravel()
    i = np.tile(np.arange(n), passes)
    j = rng.integers(0, n - 1, size=passes * n)
    j = np.where(j >= i, j + 1, j)
    y = np.sign(LEVELS[a] - LEVELS[b])
    keep = y != 0
    return a[keep], i[keep], b[keep], j[keep], y[keep]


rng = np.random.default_rng(2026)
train, test = cache(imgs[:500]), cache(imgs[500:])
flat = train.reshape(-1, train.shape[-1]).astype(np.float64)
mean, sd = flat.mean(0), flat.std(0)
inv = np.where(sd > 1e-12, 1.0 / np.where(sd > 0, sd, 1), 0.0)
a, i, b, j, y = pairs(500, rng)
dz = (train[a, i].astype(np.float64) - train[b, j]) * inv


def loss(v):
    d = dz @ v
    m = -y * d
    f = np.mean(np.logaddexp(0, m)) + L2 / 2 * v @ v
    g = dz.T @ (-y / (1 + np.exp(-m))) / len(y) + L2 * v
    return f, g


res = optimize.minimize(loss, np.zeros(dz.shape[1]), jac=True, method="L-BFGS-B",
                        options={"maxiter": 2000})
w = res.x * inv
a, i, b, j, y = pairs(500, rng)
d = test[a, i].astype(np.float64) @ w - test[b, j].astype(np.float64) @ w
acc = float(np.mean(np.where(y > 0, d > 0, d < 0)))
os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "pixels_brightness_cross.txt"), "w") as f:
    f.write("%.6f %d\n" % (acc, len(y)))
print("pixels floor, brightness, cross pairs: accuracy %.4f on %d pairs (L-BFGS: %s)"
      % (acc, len(y), res.message))
