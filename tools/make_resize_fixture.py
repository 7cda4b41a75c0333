#!/usr/bin/python3
"""Writes tests/fixtures/resize/resize.bin: PyTorch's bilinear resize
(F.interpolate, mode='bilinear', align_corners=False, antialias=False) of a
fixed 8x6x3 image to 13x10 (up) and 5x4 (down), then the 13x10 one
normalised with ImageNet's mean and sd; raw float32, HWC, in that order.
The input is x[y][x][c] = ((7 y + 3 x + 11 c) mod 17) / 16, so the C test
rebuilds it. Run: /usr/bin/python3 tools/make_resize_fixture.py"""
import os
import numpy as np
import torch
import torch.nn.functional as F

h, w = 8, 6
img = np.zeros((h, w, 3), np.float32)
for y in range(h):
    for x in range(w):
        for c in range(3):
            img[y, x, c] = ((7 * y + 3 * x + 11 * c) % 17) / 16.0
t = torch.from_numpy(img).permute(2, 0, 1)[None]
up = F.interpolate(t, size=(13, 10), mode="bilinear", align_corners=False, antialias=False)
down = F.interpolate(t, size=(5, 4), mode="bilinear", align_corners=False, antialias=False)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
norm = (up - mean) / std
out = [a[0].permute(1, 2, 0).numpy().astype(np.float32).ravel() for a in (up, down, norm)]
os.makedirs("tests/fixtures/resize", exist_ok=True)
np.concatenate(out).tofile("tests/fixtures/resize/resize.bin")
print("wrote tests/fixtures/resize/resize.bin", sum(len(o) for o in out), "floats")
