"""golden_common.py - what tools/make_golden.py and tools/check_interop.py
share: the deterministic "golden" weights and batches (the same formula as
tests/golden.c, bit for bit in float32), and the seed CNN in PyTorch with our
layer names, so that state_dict keys equal our checkpoint tensor names."""
import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
GOLDEN = 0x9E3779B97F4A7C15


def golden_hash(tag, n):
    """splitmix64's finaliser of tag*GOLDEN + i for i in [0, n): uint64[n]."""
    with np.errstate(over="ignore"):
        z = np.uint64((tag * GOLDEN) & 0xFFFFFFFFFFFFFFFF) + np.arange(n, dtype=np.uint64)
        z = z + np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def golden_unit(tag, n):
    """Uniform in [-1, 1) with 24 bits: exact in float32."""
    k = (golden_hash(tag, n) >> np.uint64(40)).astype(np.int64) - 8388608
    return (k.astype(np.float32) / np.float32(8388608.0)).astype(np.float32)


# Seed CNN: (kind, name, units) as src/net.c's net_arch_seed_cnn.
SEED_CNN = [
    ("conv", "block1_conv1", 32), ("bn", "block1_bn1", 0), ("conv", "block1_conv2", 32),
    ("bn", "block1_bn2", 0), ("pool", "block1_pool", 0),
    ("conv", "block2_conv1", 64), ("bn", "block2_bn1", 0), ("conv", "block2_conv2", 64),
    ("bn", "block2_bn2", 0), ("pool", "block2_pool", 0),
    ("conv", "block3_conv1", 128), ("bn", "block3_bn1", 0), ("conv", "block3_conv2", 128),
    ("bn", "block3_bn2", 0), ("pool", "block3_pool", 0),
    ("flatten", "flatten", 0), ("dropout", "dropout1", 0), ("dense", "dense1", 1024),
    ("dropout", "dropout2", 0), ("dense", "logits", 10),
]


def golden_tensors():
    """OUR layouts (HWIO conv, [in][out] dense), float32, in layer order:
    list of (layer_index, layer_name, kind, {"kernel","bias"} or
    {"gamma","beta","moving_mean","moving_var"})."""
    out = []
    h, w, c = 32, 32, 3
    for li, (kind, name, units) in enumerate(SEED_CNN):
        tag = 100 + 4 * li
        if kind == "conv":
            lim = np.float32(math.sqrt(6.0 / (9 * c + 9 * units)))
            k = (golden_unit(tag, 9 * c * units) * lim).reshape(3, 3, c, units)
            b = golden_unit(tag + 1, units) * np.float32(0.1)
            out.append((li, name, kind, {"kernel": k, "bias": b}))
            c = units
        elif kind == "bn":
            out.append((li, name, kind, {
                "gamma": np.float32(1.0) + np.float32(0.25) * golden_unit(tag, c),
                "beta": np.float32(0.1) * golden_unit(tag + 1, c),
                "moving_mean": np.float32(0.1) * golden_unit(tag + 2, c),
                "moving_var": np.float32(1.0) + np.float32(0.5) * golden_unit(tag + 3, c),
            }))
        elif kind == "pool":
            h, w = h // 2, w // 2
        elif kind == "flatten":
            c, h, w = h * w * c, 1, 1
        elif kind == "dense":
            lim = np.float32(math.sqrt(6.0 / (c + units)))
            k = (golden_unit(tag, c * units) * lim).reshape(c, units)
            b = golden_unit(tag + 1, units) * np.float32(0.1)
            out.append((li, name, kind, {"kernel": k, "bias": b}))
            c = units
    return out


def golden_batch(step, B=32):
    """Images [B][32][32][3] = (hash % 256) / 255 and labels hash % 10."""
    k = (golden_hash(1000 + step, B * 32 * 32 * 3) % np.uint64(256)).astype(np.float32)
    x = (k / np.float32(255.0)).astype(np.float32).reshape(B, 32, 32, 3)
    y = (golden_hash(2000 + step, B) % np.uint64(10)).astype(np.int64)
    return x, y


class ToNHWC(nn.Module):
    """Keras flattens NHWC in (h, w, c) order; PyTorch's tensors are NCHW."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1)


def build_torch_seed_cnn(dropout=0.2):
    mods = OrderedDict()
    c = 3
    for kind, name, units in SEED_CNN:
        if kind == "conv":
            mods[name] = nn.Conv2d(c, units, 3, padding=1)
            mods[name + "_relu"] = nn.ReLU()
            c = units
        elif kind == "bn":
            mods[name] = nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)
        elif kind == "pool":
            mods[name] = nn.MaxPool2d(2)
        elif kind == "flatten":
            mods["to_nhwc"] = ToNHWC()
            mods[name] = nn.Flatten()
            c = 2048
        elif kind == "dropout":
            mods[name] = nn.Dropout(dropout)
        elif kind == "dense":
            mods[name] = nn.Linear(c, units)
            if name != "logits":
                mods[name + "_relu"] = nn.ReLU()
            c = units
    return nn.Sequential(mods)


def load_ours_into_torch(model, tensors):
    """tensors: golden_tensors()-like list in OUR layouts."""
    sd = model.state_dict()
    for _, name, kind, t in tensors:
        if kind == "conv":
            sd[name + ".weight"] = torch.from_numpy(np.ascontiguousarray(t["kernel"].transpose(3, 2, 0, 1)))
            sd[name + ".bias"] = torch.from_numpy(t["bias"])
        elif kind == "dense":
            sd[name + ".weight"] = torch.from_numpy(np.ascontiguousarray(t["kernel"].T))
            sd[name + ".bias"] = torch.from_numpy(t["bias"])
        elif kind == "bn":
            sd[name + ".weight"] = torch.from_numpy(t["gamma"])
            sd[name + ".bias"] = torch.from_numpy(t["beta"])
            sd[name + ".running_mean"] = torch.from_numpy(t["moving_mean"])
            sd[name + ".running_var"] = torch.from_numpy(t["moving_var"])
    dtype = next(model.parameters()).dtype
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()})


# ---- golden weights by tensor NAME (tests/golden.c's golden_named_tensor) ----

def golden_name_tag(name):
    """FNV-1a 64 of the tensor's name."""
    h = 0xcbf29ce484222325
    for c in name.encode():
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def golden_named_tensor(name, shape):
    """The values of tensor `name` in PyTorch's layout, float32 (formulas in
    tests/golden.h)."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = golden_unit(golden_name_tag(name), n)
    scale, offset = np.float32(0.1), np.float32(0.0)
    if name.endswith(".weight") and len(shape) >= 2:
        rf = shape[2] * shape[3] if len(shape) == 4 else 1
        scale = np.float32(math.sqrt(6.0 / (shape[1] * rf + shape[0] * rf)))
    elif name.endswith(".weight"):
        scale, offset = np.float32(0.25), np.float32(1.0)
    elif name.endswith(".running_var"):
        scale, offset = np.float32(0.5), np.float32(1.0)
    return (offset + scale * u).astype(np.float32).reshape(shape)


def set_named_weights(model):
    """Every float tensor of model's state_dict from golden_named_tensor;
    num_batches_tracked set to 0."""
    sd = model.state_dict()
    new = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            new[k] = torch.zeros_like(v)
        else:
            new[k] = torch.from_numpy(golden_named_tensor(k, tuple(v.shape))).to(v.dtype)
    model.load_state_dict(new)


def golden_batch_sized(step, B, H, W, C, classes):
    """x [B][H][W][C] (NHWC) = (hash(1100+step) % 256) / 255, labels
    hash(2100+step) % classes (tests/golden.c's golden_batch_sized)."""
    k = (golden_hash(1100 + step, B * H * W * C) % np.uint64(256)).astype(np.float32)
    x = (k / np.float32(255.0)).astype(np.float32).reshape(B, H, W, C)
    y = (golden_hash(2100 + step, B) % np.uint64(classes)).astype(np.int64)
    return x, y


def build_torch_resnet18(variant):
    """torchvision's resnet18: "resnet18-imagenet" as it is (1000 classes),
    "resnet18" the CIFAR variant (3x3 stride-1 stem, no max-pool, 10
    classes). The state_dict names are augprobe's built-in networks'."""
    import torchvision
    if variant == "resnet18-imagenet":
        return torchvision.models.resnet18(num_classes=1000)
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    return m


# ---- safetensors by hand (the `safetensors` package is not installed) ----

_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64", np.dtype("<i8"): "I64"}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors format: 8-byte little-endian header length, a JSON
    header {name: {dtype, shape, data_offsets}} (plus __metadata__ when
    given), padded with spaces to 8 bytes, then the raw little-endian data,
    tensors in name order. tensors: name -> numpy array. Returns the header
    bytes (length prefix included)."""
    import json
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"))
        raw = a.tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    prefix = len(h).to_bytes(8, "little") + h
    with open(path, "wb") as f:
        f.write(prefix)
        for b in blobs:
            f.write(b)
    return prefix


def read_safetensors(path):
    """name -> numpy array, and the metadata dict."""
    import json
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    rev = {v: k for k, v in _DTYPES.items()}
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=rev[t["dtype"]]).reshape(t["shape"])
    return out, meta
