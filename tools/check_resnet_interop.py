#!/usr/bin/python3
"""check_resnet_interop.py - augprobe's resnet18 checkpoint loads back into
torchvision and gives the same outputs.

Reads MODEL (an augprobe `train --arch resnet18` model.safetensors) with a
plain-Python safetensors reader, loads its tensors into torchvision's
resnet18 (CIFAR variant, tools/golden_common.py) with load_state_dict:
every key must match, except BN's num_batches_tracked counters, which
augprobe does not keep (PyTorch then sets them to 0; optim.* tensors, if
any, are skipped). Then runs
`augprobe features --layer fc --split test --limit N` on the same model and
torchvision (eval mode, float32) on the first N test images of DATA, and
prints the largest logit difference and both accuracies.

Usage: /usr/bin/python3 tools/check_resnet_interop.py MODEL [--data DIR] [--limit N]
       [--bin ./augprobe]"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import build_torch_resnet18, read_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--data", default="../shared/data/cifar10-q75")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--bin", default="./augprobe")
    a = ap.parse_args()
    tensors, meta = read_safetensors(a.model)
    assert meta.get("arch") == "resnet18", f"{a.model}: arch {meta.get('arch')!r}, not resnet18"
    sd = {k: torch.from_numpy(v.copy()) for k, v in tensors.items() if not k.startswith("optim.")}
    model = build_torch_resnet18("resnet18")
    res = model.load_state_dict(sd, strict=False)
    missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
    assert not missing and not res.unexpected_keys, (missing, res.unexpected_keys)
    print(f"{a.model}: {len(sd)} tensors loaded into torchvision resnet18 "
          f"({len(res.missing_keys)} missing keys, none unexpected)")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "fc.npy")
        subprocess.run([a.bin, "features", "--data", a.data, "--model", a.model, "--layer", "fc",
                        "--split", "test", "--limit", str(a.limit), "-o", out, "--quiet"],
                       check=True)
        ours = np.load(out)
        labels = np.load(os.path.join(tmp, "fc.labels.npy"))
    raw = np.fromfile(os.path.join(a.data, "test_batch.bin"), np.uint8).reshape(-1, 3073)[:a.limit]
    assert (raw[:, 0] == labels).all(), "the test images are not augprobe's"
    x = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    model.eval()
    with torch.no_grad():
        theirs = torch.cat([model(x[i:i + 250]) for i in range(0, len(x), 250)]).numpy()
    diff = np.abs(ours - theirs).max()
    acc_o = (ours.argmax(1) == labels).mean()
    acc_t = (theirs.argmax(1) == labels).mean()
    agree = (ours.argmax(1) == theirs.argmax(1)).mean()
    print(f"{len(labels)} test images: max |logit difference| {diff:.3g} "
          f"(largest |logit| {np.abs(theirs).max():.3g}); accuracy augprobe {acc_o:.4f}, "
          f"torchvision {acc_t:.4f}; same prediction on {agree:.4f}")
    ok = diff < 1e-3 * max(1.0, np.abs(theirs).max()) and acc_o == acc_t
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
