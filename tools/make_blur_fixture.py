#!/usr/bin/python3
"""make_blur_fixture.py - reference outputs of the blur augmentation for
tests/test_augment.c: scipy.ndimage.gaussian_filter with sigma (s, s, 0),
truncate 3, mode 'nearest', on the 4 images of tests/fixtures/augment/input4.u8
(scaled to [0, 1]), as src/augment.h documents.

Writes tests/fixtures/augment/blur_params.f32 (the sigmas) and blur_out.f32
(per sigma, per image: 32x32x3 float32).

Run: /usr/bin/python3 tools/make_blur_fixture.py
"""
import os

import numpy as np
from scipy import ndimage

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "augment")
SIGMAS = [0.25, 0.5, 1.0, 2.0, 3.3]

imgs = np.fromfile(os.path.join(DIR, "input4.u8"), dtype=np.uint8).reshape(4, 32, 32, 3)
out = []
for s in SIGMAS:
    for im in imgs:
        x = im.astype(np.float64) / 255.0
        y = ndimage.gaussian_filter(x, sigma=(s, s, 0), mode="nearest", truncate=3.0)
        out.append(y.astype(np.float32))
np.asarray(SIGMAS, dtype=np.float32).tofile(os.path.join(DIR, "blur_params.f32"))
np.asarray(out, dtype=np.float32).tofile(os.path.join(DIR, "blur_out.f32"))
print("wrote", len(SIGMAS), "sigmas x 4 images")
