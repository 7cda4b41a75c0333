#!/usr/bin/env python3
"""torch_peer.py - the PyTorch peer of `make bench`: the seed's CNN (same
layers, NHWC flatten order irrelevant for speed), Adam, softmax cross-entropy,
timed on the same machine and thread count as augprobe.

Prints machine-readable lines `name: value`:
  train_img_per_s_b32, train_img_per_s_b128, infer_img_per_s_b256,
  probe_head_epoch_s (one epoch of the RankNet head on cached 2048-d features);
with --resnet instead: resnet18_train_img_per_s_b128, resnet18_infer_img_per_s_b256
(torchvision's resnet18, CIFAR variant: 3x3 stem, no max-pool, 10 classes;
Adam; inference up to the global average pool, as augprobe's row).
Usage: bench/torch_peer.py --threads N [--reps R] [--quick] [--resnet]
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
except ImportError:
    print("skip: torch not installed (Debian python3-torch)")
    sys.exit(3)


def seed_cnn():
    layers = []
    cin = 3
    for cout in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
                       nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Dropout(0.2), nn.Linear(2048, 1024), nn.ReLU(),
               nn.Dropout(0.2), nn.Linear(1024, 10)]
    return nn.Sequential(*layers)


DEV = "cpu"  # --device cuda: the GPU rows (tools/gpu_check.sh)


def sync():
    if DEV != "cpu":
        torch.cuda.synchronize()


def time_train(model, batch, steps, reps, warm=3):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    lossf = nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, 32, 32, device=DEV)
    y = torch.randint(0, 10, (batch,), device=DEV)
    model.train()
    for _ in range(warm):  # warm-up
        opt.zero_grad(); lossf(model(x), y).backward(); opt.step()
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad(); lossf(model(x), y).backward(); opt.step()
        sync()
        rates.append(batch * steps / (time.perf_counter() - t))
    return statistics.median(rates)


def time_infer(model, batch, steps, reps):
    x = torch.rand(batch, 3, 32, 32, device=DEV)
    model.eval()
    rates = []
    with torch.no_grad():
        model(x)
        for _ in range(reps):
            t = time.perf_counter()
            for _ in range(steps):
                model(x)
            sync()
            rates.append(batch * steps / (time.perf_counter() - t))
    return statistics.median(rates)


def time_probe_epoch(pairs, reps):
    head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2048, 1024), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(1024, 1))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
    fa = torch.rand(pairs, 2048)
    fb = torch.rand(pairs, 2048)
    y = torch.sign(torch.randn(pairs))
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        for i in range(0, pairs, 32):
            a, b, s = fa[i:i + 32], fb[i:i + 32], y[i:i + 32]
            d = (head(a) - head(b)).squeeze(1)
            loss = torch.nn.functional.softplus(-s * d).mean()
            opt.zero_grad(); loss.backward(); opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def resnet_rows(threads):
    try:
        import torchvision
    except ImportError:
        print("skip: torchvision not installed (Debian python3-torchvision)")
        sys.exit(3)
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = nn.Identity()
    # one round: a warm-up step, then 2 timed steps (as augprobe's row)
    print(f"resnet18_train_img_per_s_b128: {time_train(m, 128, 2, 1, warm=1):.1f}", flush=True)
    m.fc = nn.Identity()  # features: up to the average pool
    print(f"resnet18_infer_img_per_s_b256: {time_infer(m, 256, 1, 1):.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pairs", type=int, default=40000)
    ap.add_argument("--no-probe", action="store_true", help="skip the probe-head epoch")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (fp32, TF32 off)")
    ap.add_argument("--resnet", action="store_true", help="only the ResNet-18 rows")
    a = ap.parse_args()
    global DEV
    DEV = a.device
    if DEV != "cpu":
        if not torch.cuda.is_available():
            print(f"skip: torch {torch.__version__} has no CUDA device")
            sys.exit(0)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.resnet:
        resnet_rows(a.threads)
        return
    steps = 10 if a.quick else 30
    m = seed_cnn().to(DEV)
    if DEV != "cpu":
        steps *= 20  # GPU steps are short: time enough of them
    print(f"torch_version: {torch.__version__}")
    print(f"train_img_per_s_b32: {time_train(m, 32, steps, a.reps):.1f}", flush=True)
    print(f"train_img_per_s_b128: {time_train(m, 128, max(3, steps // 4), a.reps):.1f}", flush=True)
    print(f"infer_img_per_s_b256: {time_infer(m, 256, max(3, steps // 3), a.reps):.1f}", flush=True)
    if DEV == "cpu" and not a.no_probe:
        print(f"probe_head_epoch_s: {time_probe_epoch(a.pairs, max(1, a.reps - 2)):.3f}",
              flush=True)


if __name__ == "__main__":
    main()
