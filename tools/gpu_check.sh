#!/bin/bash
# gpu_check.sh - the one prepared run for a machine with an NVIDIA GPU
# (issue #10): builds the CUDA backend, runs the GPU tests (golden vs
# PyTorch at 1e-3, augmentation and features vs the CPU), the benchmark's
# GPU rows, the PyTorch peer on the GPU, and, where the full build and the
# data are there, timed training and probing on the GPU. Everything lands in
# OUTDIR (see below). Sized to finish in about 6 minutes.
#
#   tools/gpu_check.sh OUTDIR            (the device tool: tools/gpu_check.sh "$OUT")
#
# The GPU machine's image may lack our I/O libraries' -dev packages (curl,
# archive, cJSON, cairo): then only `make gpu-core` (the engine, its tests
# and the benchmark, no I/O libraries) is built, and the training rows are
# skipped with that reason. Data: $AUGPROBE_DATA, else gpudata/ (carry it:
# data_batch_1.bin, test_batch.bin, batches.meta.txt; the other four training
# batches are made as copies of batch 1, so accuracy there is not CIFAR-10's),
# else ../shared/data/cifar10-q75.
#
# OUTDIR gets two files (the device tool brings back at most 8): summary.txt
# and details.tar.gz (every step's full output, the run directories).
set -u
OUT=${1:?usage: tools/gpu_check.sh OUTDIR}
mkdir -p "$OUT"
W=$(mktemp -d)
trap 'tar czf "$OUT/details.tar.gz" -C "$W" . 2>/dev/null; rm -rf "$W"' EXIT
J=$(nproc)
S="$OUT/summary.txt"
: >"$S"
say() { echo "$*" | tee -a "$S"; }
step() { # step NAME TIMEOUT CMD...: runs CMD into W/NAME.txt, notes status and time
    local name=$1 limit=$2 t0 rc
    shift 2
    t0=$(date +%s.%N)
    timeout "$limit" "$@" >"$W/$name.txt" 2>&1
    rc=$?
    say "$(printf '%-14s exit %-3s %6.1f s   %s' "$name" "$rc" "$(echo "$(date +%s.%N) - $t0" | bc)" "$*")"
    return $rc
}

say "== gpu_check $(date -u +%FT%TZ) on $(hostname)"
nvidia-smi -L 2>&1 | tee -a "$S"
NVCC=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })
say "nvcc: ${NVCC:-none} $(${NVCC:-true} --version 2>/dev/null | tail -1)"

FULL=0
if pkg-config --exists libcurl libarchive libcjson cairo libcrypto 2>/dev/null; then FULL=1; fi
say "full build: $([ $FULL = 1 ] && echo yes || echo "no ($(for p in libcurl libarchive libcjson cairo libcrypto; do pkg-config --exists $p 2>/dev/null || printf '%s ' $p; done)missing: engine only)")"

step build-core 240 make -j"$J" CUDA=1 gpu-core || { say "gpu-core build failed: see build-core.txt in details.tar.gz"; exit 1; }
[ $FULL = 1 ] && step build-full 240 make -j"$J" CUDA=1 all build/tests/run_tests

# Correctness: the golden comparison with PyTorch and the device-vs-CPU cases.
AUGPROBE_TEST_VERBOSE=1 step tests-cuda 120 build/core/run_tests cuda
grep -E "passed|FAIL|skipped:|cuda vs PyTorch" "$W/tests-cuda.txt" | tee -a "$S"
step tests-core 240 build/core/run_tests
tail -1 "$W/tests-core.txt" | tee -a "$S"

# Speed: augprobe's CPU and GPU rows, then PyTorch on the GPU.
step bench 240 build/core/bench --quick --no-peer
grep -E "^gpu|^train_img|^infer_img|^GPU|50 epochs" "$W/bench.txt" | tee -a "$S"
PY=$(command -v python3)
step torch-gpu 150 env PYTHONUNBUFFERED=1 "$PY" bench/torch_peer.py --threads "$J" --quick --device cuda
sed 's/^/pytorch cuda /' "$W/torch-gpu.txt" | tee -a "$S"

# The pipeline on the GPU: needs the full build and data.
DATA=${AUGPROBE_DATA:-}
if [ -z "$DATA" ] && [ -f gpudata/data_batch_1.bin ]; then
    DATA=$W/data
    mkdir -p "$DATA"
    for f in data_batch_1.bin test_batch.bin batches.meta.txt; do ln -sf "$PWD/gpudata/$f" "$DATA/$f"; done
    for i in 2 3 4 5; do ln -sf "$PWD/gpudata/data_batch_1.bin" "$DATA/data_batch_$i.bin"; done
    say "data: gpudata/ (batches 2-5 are copies of batch 1)"
fi
[ -z "$DATA" ] && [ -d ../shared/data/cifar10-q75 ] && DATA=../shared/data/cifar10-q75
if [ $FULL = 1 ] && [ -n "$DATA" ]; then
    step train-gpu 180 ./augprobe train --device cuda --data "$DATA" --epochs 3 --out "$W/train"
    grep -E "^epoch|device" "$W/train-gpu.txt" | tee -a "$S"
    step probe-gpu 120 ./augprobe probe --device cuda --data "$DATA" --model "$W/train/model.safetensors" --limit 2000 --epochs 10 --out "$W/probe"
    grep -E "accuracy" "$W/probe-gpu.txt" | tee -a "$S"
    rm -f "$W/train/checkpoint.safetensors" "$W/train/model.safetensors" # too big to bring back
else
    say "pipeline rows skipped: $([ $FULL = 1 ] && echo "no data" || echo "no full build")"
fi
say "== done"
