#!/usr/bin/python3
"""make_golden.py - the PyTorch oracle for tests/test_net.c's golden test.

Builds the seed CNN in PyTorch (float64; NHWC flatten order; BN eps 1e-3,
momentum 0.01 = Keras's 0.99; dropout off) with the deterministic golden
weights of tools/golden_common.py (bit-identical to tests/golden.c), runs 3
training steps on 3 golden batches of 32 with Adam implemented by hand in
KERAS's form (eps outside the bias correction; lr 1e-4, see GOLDEN_LR), and
writes to
tests/fixtures/golden/:
  logits.f32, loss.f32           step 1's logits [32][10] and mean loss
  grad.<layer>.<slot>.f32        step 1's gradient of every trainable tensor
  step3.<layer>.<slot>.f32       every trainable tensor and BN moving stat
                                 after 3 steps
in OUR layouts (HWIO conv, [in][out] dense). Tensors of more than 16384
floats are stored as 4096 entries at golden_hash(3000+4*layer+slot) % n plus
their full sum and sum of absolute values (4098 floats); smaller ones whole.
Also prints the numerical margins (closest ReLU input to 0, closest max-pool
near-tie) that a float32 implementation must not straddle.

Usage: /usr/bin/python3 tools/make_golden.py [outdir]"""
import copy
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import (golden_batch, golden_hash, golden_tensors,  # noqa: E402
                           build_torch_seed_cnn, load_ours_into_torch)

SAMPLE_ABOVE, N_SAMPLES = 16384, 4096
# Not Keras's 1e-3: at 1e-3 the loss on these random-label batches goes
# 3.8 -> 8.9 -> 13.1 in three steps and the trajectory becomes chaotic (ReLU
# and max-pool decisions within float32 rounding flip; PyTorch float32 then
# differs from float64 by up to 47% in step-3 gradients). Same formula.
GOLDEN_LR = 1e-4
SLOTS = {"kernel": 0, "bias": 1, "gamma": 0, "beta": 1, "moving_mean": 2, "moving_var": 3}


def to_ours(kind, slot, t):
    a = t.detach().cpu().numpy().astype(np.float64)
    if slot == "kernel" and kind == "conv":
        return a.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if slot == "kernel" and kind == "dense":
        return a.T  # [out][in] -> [in][out]
    return a


def torch_tensor(model, name, slot):
    m = getattr(model, name)
    attr = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
            "moving_mean": "running_mean", "moving_var": "running_var"}[slot]
    return getattr(m, attr)


def write(outdir, fname, li, slot, a):
    a = np.ascontiguousarray(a, dtype=np.float64).ravel()
    if a.size > SAMPLE_ABOVE:
        idx = (golden_hash(3000 + 4 * li + SLOTS[slot], N_SAMPLES) % np.uint64(a.size)).astype(np.int64)
        a = np.concatenate([a[idx], [a.sum(), np.abs(a).sum()]])
    a.astype("<f4").tofile(os.path.join(outdir, fname))


def margins(model, x):
    """Smallest |ReLU input| and smallest non-zero max-pool top-2 gap."""
    relu_min, pool_gap, exact_ties = np.inf, np.inf, 0
    h = x
    model = copy.deepcopy(model)  # BN in training mode updates its moving stats
    for name, m in model.named_children():
        if isinstance(m, torch.nn.ReLU):
            relu_min = min(relu_min, h.abs().min().item())
        if isinstance(m, torch.nn.MaxPool2d):
            N, C, H, W = h.shape
            win = h.reshape(N, C, H // 2, 2, W // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(-1, 4)
            top = win.sort(dim=1, descending=True).values
            gap = top[:, 0] - top[:, 1]
            exact_ties += int((gap == 0).sum())
            pos = gap[gap > 0]
            pool_gap = min(pool_gap, pos.min().item())
        h = m(h)
    return relu_min, pool_gap, exact_ties


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/golden"
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    tensors = golden_tensors()
    model = build_torch_seed_cnn(dropout=0.0).double()
    load_ours_into_torch(model, tensors)
    model.train()
    trainable = [(li, name, kind, slot) for li, name, kind, t in tensors for slot in t
                 if not slot.startswith("moving")]
    lr, b1, b2, eps = GOLDEN_LR, 0.9, 0.999, 1e-7
    m = {k: 0.0 for k in trainable}
    v = {k: 0.0 for k in trainable}
    for step in range(3):
        x, y = golden_batch(step)
        xt = torch.from_numpy(x).permute(0, 3, 1, 2).double()
        with torch.no_grad():
            rmin, gap, ties = margins(model, xt.clone())
        print(f"step {step + 1}: min |relu input| {rmin:.3g}, min pool gap {gap:.3g}, "
              f"exact pool ties {ties}")
        model.zero_grad()
        logits = model(xt)
        loss = F.cross_entropy(logits, torch.from_numpy(y))
        loss.backward()
        if step == 0:
            logits.detach().numpy().astype("<f4").tofile(os.path.join(outdir, "logits.f32"))
            np.array([loss.item()], "<f4").tofile(os.path.join(outdir, "loss.f32"))
            print(f"step 1 loss {loss.item():.6f}")
            for key in trainable:
                li, name, kind, slot = key
                g = to_ours(kind, slot, torch_tensor(model, name, slot).grad)
                write(outdir, f"grad.{name}.{slot}.f32", li, slot, g)
        t = step + 1
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        with torch.no_grad():
            for key in trainable:
                _, name, _, slot = key
                p = torch_tensor(model, name, slot)
                g = p.grad
                m[key] = b1 * m[key] + (1 - b1) * g
                v[key] = b2 * v[key] + (1 - b2) * g * g
                p -= alpha * m[key] / (v[key].sqrt() + eps)
    for li, name, kind, t in tensors:
        for slot in t:
            write(outdir, f"step3.{name}.{slot}.f32", li, slot,
                  to_ours(kind, slot, torch_tensor(model, name, slot)))
    total = sum(os.path.getsize(os.path.join(outdir, f)) for f in os.listdir(outdir))
    print(f"wrote {outdir}: {len(os.listdir(outdir))} files, {total} bytes")


if __name__ == "__main__":
    main()
