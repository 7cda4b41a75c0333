#!/usr/bin/python3
"""make_resnet_golden.py - the torchvision oracle for tests/test_resnet.c's
golden tests of the built-in ResNets, and the PyTorch-written state_dict of
its interop test.

Golden (both variants): torchvision's resnet18 in float64 (train mode: BN on
batch statistics, updating the running ones), every tensor set by name from
golden_common.golden_named_tensor (tests/golden.c computes the same values),
one forward and backward on golden batch 0 of 2 images, softmax
cross-entropy. Writes tests/fixtures/resnet/<variant>.golden.safetensors
(F32) with
  logits [2][classes], loss [1]
  grad.<tensor>          the gradient of every parameter
  state.<tensor>         every BN running_mean / running_var after the step
in PyTorch's layouts (OIHW, [out][in]). Tensors of more than 16384 floats
(GOLDEN_SAMPLE_ABOVE) keep 1024 entries at golden_hash(golden_name_tag(KEY),
j) % n (KEY: "grad.<tensor>" or "state.<tensor>") plus their sum and sum of
|x|. resnet18 runs at 32x32, resnet18-imagenet at 128x128: its last stage is
then 4x4, so its BN normalises over 32 values as resnet18's does (at 64x64
it is 2x2, 8 values, and float32 against float64 differs by up to 4e-4 in
conv1's gradient, over the 1e-4 tolerance; 224 is 3x slower and no better).

Interop (resnet18, the CIFAR variant): a torchvision resnet18 (its
random initialisation replaced by the golden values by name, so the test
can regenerate the 45 MB of data instead of committing it) saved as
safetensors by hand in the format of the `safetensors` package (no
metadata; BN's num_batches_tracked as I64 tensors), to --full PATH when
given; the fixture keeps its header (resnet18_torch.header: the length
prefix and the JSON, as PyTorch's side wrote them) and the model's float64
eval-mode logits on golden batch 5 of 4 images (resnet18_torch_logits.f32).

Usage: /usr/bin/python3 tools/make_resnet_golden.py [--full PATH]"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import (build_torch_resnet18, golden_batch_sized, golden_hash,  # noqa: E402
                           golden_name_tag, set_named_weights, write_safetensors)

SAMPLE_ABOVE, N_SAMPLES = 16384, 1024
OUT = "tests/fixtures/resnet"
VARIANTS = [("resnet18", 32, 10), ("resnet18-imagenet", 128, 1000)]


def keep(key, a):
    """a whole, or its samples plus sum and sum of |x| (float64 sums)."""
    a = np.ascontiguousarray(a, dtype=np.float64).ravel()
    if a.size <= SAMPLE_ABOVE:
        return a.astype(np.float32)
    idx = (golden_hash(golden_name_tag(key), N_SAMPLES) % np.uint64(a.size)).astype(np.int64)
    return np.concatenate([a[idx], [a.sum(), np.abs(a).sum()]]).astype(np.float32)


def golden(variant, size, classes):
    torch.manual_seed(0)
    model = build_torch_resnet18(variant)
    set_named_weights(model)
    model = model.double().train()
    x, y = golden_batch_sized(0, 2, size, size, 3, classes)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).double()
    logits = model(xt)
    loss = F.cross_entropy(logits, torch.from_numpy(y))
    loss.backward()
    out = {"logits": logits.detach().numpy().astype(np.float32),
           "loss": np.array([loss.item()], np.float32)}
    for name, p in model.named_parameters():
        out["grad." + name] = keep("grad." + name, p.grad.numpy())
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            out["state." + name] = keep("state." + name, b.numpy())
    path = os.path.join(OUT, f"{variant}.golden.safetensors")
    write_safetensors(path, out)
    print(f"{variant} ({size}x{size}, batch 2): loss {loss.item():.6f}, "
          f"{len(out)} tensors, {os.path.getsize(path)} bytes -> {path}")


def interop(full):
    torch.manual_seed(0)
    model = build_torch_resnet18("resnet18")
    set_named_weights(model)
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    full = full or "/tmp/resnet18_torch.safetensors"
    prefix = write_safetensors(full, sd)
    with open(os.path.join(OUT, "resnet18_torch.header"), "wb") as f:
        f.write(prefix)
    model = model.double().eval()
    x, _ = golden_batch_sized(5, 4, 32, 32, 3, 10)
    with torch.no_grad():
        logits = model(torch.from_numpy(x).permute(0, 3, 1, 2).double())
    logits.numpy().astype("<f4").tofile(os.path.join(OUT, "resnet18_torch_logits.f32"))
    print(f"interop: {len(sd)} tensors ({os.path.getsize(full)} bytes) -> {full}; header "
          f"{len(prefix)} bytes and logits [4][10] -> {OUT}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", help="where to write the whole state_dict file")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    for v in VARIANTS:
        golden(*v)
    interop(args.full)


if __name__ == "__main__":
    main()
