#!/usr/bin/python3
"""check_interop.py - PyTorch reads OUR checkpoint: makes the fixture
tests/fixtures/golden/interop_logits.f32 that tests/test_checkpoint.c
compares with.

Runs the C test `checkpoint_interop_pytorch_logits_from_our_file` with
AUGPROBE_INTEROP_OUT set, so that it writes the seed CNN with the golden
weights (tests/golden.c) as a safetensors file; reads that file with a
plain-Python safetensors reader; checks that every tensor name matches the
state_dict of tools/golden_common.py's nn.Sequential (only BN's
num_batches_tracked absent) and that every tensor equals the golden weights
transposed to PyTorch's layout bit for bit; then runs PyTorch (float64,
eval mode: BN on the stored moving statistics, no dropout) on golden batch 0
and writes the 32x10 logits.

Usage: make build/tests/run_tests && /usr/bin/python3 tools/check_interop.py"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_common import build_torch_seed_cnn, golden_batch, golden_tensors  # noqa: E402


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        assert t["dtype"] == "F32", (name, t["dtype"])
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"])
    return meta, out


def main():
    fixture = "tests/fixtures/golden/interop_logits.f32"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "golden.safetensors")
        env = dict(os.environ, AUGPROBE_INTEROP_OUT=path)
        subprocess.run(["build/tests/run_tests", "checkpoint_interop"], env=env,
                       stdout=subprocess.DEVNULL)
        meta, tensors = read_safetensors(path)
    print("metadata:", meta)
    assert meta["arch"] == "seed_cnn" and meta["format_version"] == "1"

    model = build_torch_seed_cnn().double()
    keys = set(model.state_dict())
    missing = keys - set(tensors)
    unexpected = set(tensors) - keys
    assert all(k.endswith("num_batches_tracked") for k in missing), missing
    assert not unexpected, unexpected
    # The file's bits are the golden weights in PyTorch layout.
    for _, name, kind, t in golden_tensors():
        if kind in ("conv", "dense"):
            k = t["kernel"].transpose(3, 2, 0, 1) if kind == "conv" else t["kernel"].T
            assert np.array_equal(tensors[name + ".weight"], k), name
            assert np.array_equal(tensors[name + ".bias"], t["bias"]), name
        else:
            for ours, theirs in (("gamma", "weight"), ("beta", "bias"),
                                 ("moving_mean", "running_mean"), ("moving_var", "running_var")):
                assert np.array_equal(tensors[f"{name}.{theirs}"], t[ours]), (name, ours)
    print(f"{len(tensors)} tensors: names and bits match the golden weights")

    sd = {k: torch.from_numpy(v.copy()).double() for k, v in tensors.items()}
    result = model.load_state_dict(sd, strict=False)
    assert not result.unexpected_keys
    model.eval()
    x, _ = golden_batch(0)
    with torch.no_grad():
        logits = model(torch.from_numpy(x).permute(0, 3, 1, 2).double())
    logits.numpy().astype("<f4").tofile(fixture)
    print(f"wrote {fixture}: logits {tuple(logits.shape)}, "
          f"range [{logits.min().item():.4f}, {logits.max().item():.4f}]")


if __name__ == "__main__":
    main()
