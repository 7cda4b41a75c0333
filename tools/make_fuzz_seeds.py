#!/usr/bin/python3
"""make_fuzz_seeds.py - writes the small seed corpora of fuzz/corpus/fuzz_targz
and fuzz/corpus/fuzz_cifar_batch (truncated CIFAR batches and archives: the
real files are 30 MB). Deterministic; run from the repository root."""
import gzip
import io
import os
import random
import tarfile

REC = 1 + 3072
rng = random.Random(1)


def records(n, bad_label_at=None):
    out = bytearray()
    for i in range(n):
        label = 10 if i == bad_label_at else i % 10
        out.append(label)
        out += bytes(rng.randrange(256) for _ in range(3072))
    return bytes(out)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def targz(members, compress=True):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


META = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
NAMES = ["data_batch_%d.bin" % i for i in range(1, 6)] + ["test_batch.bin"]

d = "fuzz/corpus/fuzz_targz/"
base = [("cifar-10-batches-bin/batches.meta.txt", META)]
base += [("cifar-10-batches-bin/" + n, records(1)) for n in NAMES]
write(d + "one_record_each.tar.gz", targz(base))
write(d + "missing_test_batch.tar.gz", targz(base[:-1]))
write(d + "not_gzipped.tar", targz(base[:3], compress=False))
whole = targz(base)
write(d + "truncated.tar.gz", whole[: len(whole) // 2])
write(d + "gzip_not_tar.gz", gzip.compress(b"hello, this is not a tar archive\n" * 20, mtime=0))
write(d + "wrong_dir.tar.gz", targz([("other/" + n, records(1)) for n in NAMES[:2]]))
write(d + "bad_label.tar.gz", targz(base[:1] + [("cifar-10-batches-bin/data_batch_1.bin",
                                                    records(2, bad_label_at=1))]))

# fuzz_cifar_batch: byte 0 picks the parser (see fuzz/fuzz_cifar_batch.c)
d = "fuzz/corpus/fuzz_cifar_batch/"
for old in os.listdir(d) if os.path.isdir(d) else []:
    os.remove(d + old)
write(d + "raw_half_record", b"\x00" + records(1)[: REC // 2])
write(d + "raw_one_record_plus_byte", b"\x00" + records(1) + b"\x00")
write(d + "scan_three_records", b"\x01" + records(3))
write(d + "scan_label_10", b"\x02" + records(2, bad_label_at=1))
write(d + "scan_empty", b"\x03")
write(d + "meta_ok", b"\x04" + META)
write(d + "meta_crlf_blank", b"\x04" + META.replace(b"\n", b"\r\n\n"))
write(d + "meta_seven", b"\x04" + b"\n".join(META.split(b"\n")[:7]))
write(d + "meta_long_name", b"\x04" + b"x" * 40 + b"\n" + META)
write(d + "md5sums_ok", b"\x06" + b"".join(
    b"0123456789abcdef0123456789ABCDEF  " + n.encode() + b"\n" for n in NAMES))
write(d + "md5sums_star", b"\x06" + b"0123456789abcdef0123456789abcdef *test_batch.bin\r\n")
write(d + "md5sums_bad", b"\x06" + b"xyz  data_batch_1.bin\n")
write(d + "member_name", b"\x07./cifar-10-batches-bin/data_batch_3.bin")

# fuzz_safetensors: near-valid variants of the two valid seeds that the
# harness writes itself (FUZZ_GEN_SEEDS=fuzz/corpus/fuzz_safetensors
# build/fuzz/fuzz/fuzz_safetensors), when they are there.
import json
import struct

d = "fuzz/corpus/fuzz_safetensors/"
if os.path.exists(d + "full"):
    b = open(d + "full", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    body = b[8 + n:]

    def st(h, data=body):
        t = json.dumps(h, separators=(",", ":")).encode()
        return struct.pack("<Q", len(t)) + t + data

    write(d + "near_truncated", b[:-10])
    write(d + "near_hlen_plus_one", struct.pack("<Q", n + 1) + b[8:])
    first = next(k for k in hdr if k != "__metadata__")
    h = json.loads(json.dumps(hdr)); h[first]["dtype"] = "F16"; write(d + "near_f16", st(h))
    h = json.loads(json.dumps(hdr)); h[first]["shape"] = h[first]["shape"][::-1] + [1]
    write(d + "near_shape", st(h))
    beg = hdr[first]["data_offsets"][0]
    write(d + "near_nan", st(hdr, body[:beg] + struct.pack("<f", float("nan")) + body[beg + 4:]))
    h = json.loads(json.dumps(hdr)); h["__metadata__"]["arch"] = "seed_cnn"; write(d + "near_arch", st(h))
    h = {k: v for k, v in hdr.items() if not k.startswith("optim.")}; write(d + "near_no_optim", st(h))
