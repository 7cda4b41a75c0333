#!/usr/bin/python3
"""Checks that numpy.load reads what `augprobe features` and `augprobe probe
--keep-features` write, as they are. Needs Debian's python3-numpy:

    /usr/bin/python3 tools/check_npy.py [--bin ./augprobe] [--data DIR]

It runs augprobe on a few images of the offline CIFAR-10 copy (an untrained
network: --model random) and checks, with numpy alone:
  - dtype float32 / int64, shape [N, D] / [N], C order, finite values;
  - the labels are the data's own: the first byte of each test_batch.bin
    record, read here straight from the file;
  - --pool avg is the mean over space of the flatten (HWC) features;
  - the probe's kept cache (DIR/val.npy [levels, N, D]) at level l equals
    `features --aug zoom=<level l> --split val`.
Prints what it loaded and "OK"; exits 1 on the first mismatch."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np


def run(args):
    print("$", " ".join(args))
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="./augprobe")
    ap.add_argument("--data", default="../shared/data/cifar10-q75")
    a = ap.parse_args()
    n = 200
    with tempfile.TemporaryDirectory() as tmp:
        base = [a.bin, "features", "--data", a.data, "--model", "random", "--threads", "1"]
        flat = os.path.join(tmp, "flat.npy")
        avg = os.path.join(tmp, "avg.npy")
        run(base + ["--layer", "block3_pool", "--split", "test", "--limit", str(n), "-o", flat])
        run(base + ["--layer", "block3_pool", "--pool", "avg", "--split", "test",
                    "--limit", str(n), "-o", avg])
        f = np.load(flat)
        fa = np.load(avg)
        lab = np.load(os.path.join(tmp, "flat.labels.npy"))
        print("flat.npy:", f.dtype, f.shape, "C order" if f.flags["C_CONTIGUOUS"] else "F order")
        print("avg.npy: ", fa.dtype, fa.shape)
        print("flat.labels.npy:", lab.dtype, lab.shape, lab[:10])
        check(f.dtype == np.float32 and f.shape == (n, 2048), "flat dtype/shape")
        check(fa.dtype == np.float32 and fa.shape == (n, 128), "avg dtype/shape")
        check(lab.dtype == np.int64 and lab.shape == (n,), "labels dtype/shape")
        check(np.isfinite(f).all() and np.abs(f).max() > 0, "finite, not all zero")
        raw = np.fromfile(os.path.join(a.data, "test_batch.bin"), dtype=np.uint8)
        want = raw.reshape(-1, 3073)[:n, 0].astype(np.int64)
        check((lab == want).all(), "labels equal test_batch.bin's")
        err = np.abs(f.reshape(n, 16, 128).mean(axis=1) - fa).max()
        print("max |mean over space of flatten - avg| =", err)
        check(err < 1e-5, "avg pool")

        keep = os.path.join(tmp, "keep")
        run([a.bin, "probe", "--data", a.data, "--model", "random", "--threads", "1",
             "--quiet", "--layer", "block2_pool", "--pool", "avg", "--levels", "0.5,0.7",
             "--limit", "40", "--epochs", "1", "--passes", "1", "--out", tmp,
             "--keep-features", keep])
        v = np.load(os.path.join(keep, "val.npy"))
        t = np.load(os.path.join(keep, "test.npy"))
        lv = np.load(os.path.join(keep, "levels.npy"))
        vl = np.load(os.path.join(keep, "val.labels.npy"))
        print("keep/val.npy:", v.dtype, v.shape, " test.npy:", t.shape, " levels.npy:", lv,
              " val.labels.npy:", vl.dtype, vl.shape)
        check(v.shape == (2, 40, 64) and t.shape == (2, 40, 64), "kept shapes")
        check(np.allclose(lv, [0.5, 0.7]), "levels")
        z = os.path.join(tmp, "z.npy")
        run(base + ["--layer", "block2_pool", "--pool", "avg", "--aug", "zoom=0.7",
                    "--split", "val", "--limit", "40", "-o", z])
        zf = np.load(z)
        err = np.abs(zf - v[1]).max()
        print("max |features --aug zoom=0.7 - kept val.npy[1]| =", err)
        check(err < 1e-5, "kept cache = features at that level")
        check((np.load(os.path.join(tmp, "z.labels.npy")) == vl).all(), "val labels")
    print("OK")


if __name__ == "__main__":
    main()
