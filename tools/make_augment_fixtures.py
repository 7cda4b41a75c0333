#!/usr/bin/python3
"""make_augment_fixtures.py - reference outputs for tests/test_augment.c.

Geometry: keras-preprocessing's apply_affine_transform (scipy backend,
keras-preprocessing 1.1.x), reproduced below line for line, run on the first
4 images of the CIFAR-10 test batch. Colour: numpy versions of the tf.image
CPU kernels (rgb_to_hsv, hsv_to_rgb, adjust_brightness/contrast/saturation/
hue), each followed by a clip to [0, 1] as augprobe documents.

Writes tests/fixtures/augment/:
  input4.u8        4 images, uint8 HWC (32x32x3), the test batch's first 4
  geom_params.f32  per case: theta_deg, tx_frac, ty_frac, zx, zy
  geom_out.f32     per case, per image: 32x32x3 float32 in [0, 1]
  colour_params.f32 per case: brightness, contrast, saturation, hue
  colour_out.f32   per case, per image: 32x32x3 float32 in [0, 1]

Run: /usr/bin/python3 tools/make_augment_fixtures.py [DATA_DIR]
"""
import os
import sys

import numpy as np
from scipy import ndimage

DATA = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/cifar10-q75"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "augment")


# ---- keras-preprocessing 1.1.x, affine_transformations.py (scipy path) ----
def transform_matrix_offset_center(matrix, x, y):
    o_x = float(x) / 2 - 0.5
    o_y = float(y) / 2 - 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    transform_matrix = np.dot(np.dot(offset_matrix, matrix), reset_matrix)
    return transform_matrix


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1,
                           row_axis=0, col_axis=1, channel_axis=2,
                           fill_mode='nearest', cval=0., order=1):
    transform_matrix = None
    if theta != 0:
        theta = np.deg2rad(theta)
        rotation_matrix = np.array([[np.cos(theta), -np.sin(theta), 0],
                                    [np.sin(theta), np.cos(theta), 0],
                                    [0, 0, 1]])
        transform_matrix = rotation_matrix
    if tx != 0 or ty != 0:
        shift_matrix = np.array([[1, 0, tx],
                                 [0, 1, ty],
                                 [0, 0, 1]])
        if transform_matrix is None:
            transform_matrix = shift_matrix
        else:
            transform_matrix = np.dot(transform_matrix, shift_matrix)
    if shear != 0:
        shear = np.deg2rad(shear)
        shear_matrix = np.array([[1, -np.sin(shear), 0],
                                 [0, np.cos(shear), 0],
                                 [0, 0, 1]])
        if transform_matrix is None:
            transform_matrix = shear_matrix
        else:
            transform_matrix = np.dot(transform_matrix, shear_matrix)
    if zx != 1 or zy != 1:
        zoom_matrix = np.array([[zx, 0, 0],
                                [0, zy, 0],
                                [0, 0, 1]])
        if transform_matrix is None:
            transform_matrix = zoom_matrix
        else:
            transform_matrix = np.dot(transform_matrix, zoom_matrix)
    if transform_matrix is not None:
        h, w = x.shape[row_axis], x.shape[col_axis]
        transform_matrix = transform_matrix_offset_center(transform_matrix, h, w)
        x = np.rollaxis(x, channel_axis, 0)
        final_affine_matrix = transform_matrix[:2, :2]
        final_offset = transform_matrix[:2, 2]
        channel_images = [ndimage.affine_transform(
            x_channel, final_affine_matrix, final_offset,
            order=order, mode=fill_mode, cval=cval) for x_channel in x]
        x = np.stack(channel_images, axis=0)
        x = np.rollaxis(x, 0, channel_axis + 1)
    return x


# ---- tf.image CPU kernels (colorspace_op.h, adjust_*_op.cc), numpy ----
def rgb_to_hsv(x):
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(-1)
    rng = v - x.min(-1)
    s = np.where(v > 0, rng / np.where(v > 0, v, 1), 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        norm = (1.0 / rng) * (1.0 / 6.0)
        h = np.where(r == v, norm * (g - b),
                     np.where(g == v, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0))
    h = np.where(rng > 0, h, 0)
    h = np.where(h < 0, h + 1, h)
    return h, s, v


def hsv_to_rgb(h, s, v):
    dh = h * 6
    dr = np.clip(np.abs(dh - 3) - 1, 0, 1)
    dg = np.clip(2 - np.abs(dh - 2), 0, 1)
    db = np.clip(2 - np.abs(dh - 4), 0, 1)
    one_s = 1 - s
    return np.stack([(one_s + s * dr) * v, (one_s + s * dg) * v, (one_s + s * db) * v], -1)


def colour(x, brightness, contrast, saturation, hue):
    if brightness != 0:
        x = np.clip(x + brightness, 0, 1)
    if contrast != 1:
        m = x.mean(axis=(0, 1), keepdims=True)
        x = np.clip((x - m) * contrast + m, 0, 1)
    if saturation != 1:
        h, s, v = rgb_to_hsv(x)
        x = np.clip(hsv_to_rgb(h, np.clip(s * saturation, 0, 1), v), 0, 1)
    if hue != 0:
        h, s, v = rgb_to_hsv(x)
        h = np.mod(h + hue, 1.0)
        x = np.clip(hsv_to_rgb(h, s, v), 0, 1)
    return x


def main():
    with open(os.path.join(DATA, "test_batch.bin"), "rb") as f:
        raw = np.frombuffer(f.read(4 * 3073), dtype=np.uint8).reshape(4, 3073)
    imgs = raw[:, 1:].reshape(4, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # HWC
    os.makedirs(OUT, exist_ok=True)
    imgs.tofile(os.path.join(OUT, "input4.u8"))
    x01 = imgs.astype(np.float64) / 255.0

    # theta (deg), tx, ty (fractions of h, w as augprobe's params), zx, zy
    geom = [
        (0, 0, 0, 0.6, 0.9),      # zoom, zx != zy
        (0, 0, 0, 0.5, 1.0),      # notebook range ends
        (0, 0, 0, 1.3, 0.8),      # zoom out on rows: nearest fill
        (0, 0, 0, 0.7, 1 / 0.7),  # aspect 0.7
        (30, 0, 0, 1, 1),         # rotation
        (-75, 0, 0, 1, 1),
        (0, 0.1, -0.2, 1, 1),     # translation
        (20, -0.05, 0.15, 0.8, 0.6),  # all together
    ]
    gout = []
    for th, tx, ty, zx, zy in geom:
        for im in x01:
            gout.append(apply_affine_transform(im, theta=th, tx=tx * 32, ty=ty * 32, zx=zx, zy=zy))
    np.array(geom, dtype=np.float32).tofile(os.path.join(OUT, "geom_params.f32"))
    np.array(gout, dtype=np.float32).tofile(os.path.join(OUT, "geom_out.f32"))

    # Colour: brightness, contrast, saturation, hue
    col = [
        (0.3, 1, 1, 0),
        (-0.25, 1, 1, 0),
        (0, 0.4, 1, 0),
        (0, 1.8, 1, 0),
        (0, 1, 0.0, 0),
        (0, 1, 2.5, 0),
        (0, 1, 1, 0.3),
        (0, 1, 1, -0.45),
        (0.1, 0.7, 1.5, 0.2),
    ]
    cout = []
    for b, c, s, h in col:
        for im in x01:
            # float32 input as augprobe holds it (x / 255 in float)
            cout.append(colour(im.astype(np.float32).astype(np.float64), b, c, s, h))
    np.array(col, dtype=np.float32).tofile(os.path.join(OUT, "colour_params.f32"))
    np.array(cout, dtype=np.float32).tofile(os.path.join(OUT, "colour_out.f32"))

    # Sign conventions stated in augment.h, checked here on a ramp image.
    ramp = np.zeros((32, 32, 1))
    ramp[4, 24, 0] = 1.0  # a dot up and right of the centre
    rot = apply_affine_transform(ramp, theta=30)[..., 0]
    r, c = np.unravel_index(np.argmax(rot), rot.shape)
    # clockwise on screen: the dot moves towards the right/down (angle decreases)
    a0 = np.arctan2(-(4 - 15.5), 24 - 15.5)
    a1 = np.arctan2(-(r - 15.5), c - 15.5)
    assert a1 < a0, "theta > 0 should rotate clockwise on screen"
    sh = apply_affine_transform(ramp, tx=2, ty=3)[..., 0]
    r, c = np.unravel_index(np.argmax(sh), sh.shape)
    assert (r, c) == (2, 21), (r, c)  # tx > 0 moves content up, ty > 0 left
    print("wrote", OUT, "geometry cases", len(geom), "colour cases", len(col))


if __name__ == "__main__":
    main()
