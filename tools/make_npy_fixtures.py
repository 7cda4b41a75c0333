#!/usr/bin/python3
"""Makes tests/fixtures/npy/*.npy with numpy.save: the arrays that
tests/test_npy.c writes with src/npy.c, which must come out byte for byte
the same. Needs Debian's python3-numpy (run as /usr/bin/python3
tools/make_npy_fixtures.py); the files are committed, so `make test` needs
no Python."""
import os
import numpy as np

out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "npy")
os.makedirs(out, exist_ok=True)
# the same values as tests/test_npy.c: f32 k * 0.25 - 1, i64 (k * 7) % 10
np.save(os.path.join(out, "f32_2x3.npy"), (np.arange(6, dtype=np.float32) * 0.25 - 1).reshape(2, 3))
np.save(os.path.join(out, "f32_2x3x4.npy"), (np.arange(24, dtype=np.float32) * 0.25 - 1).reshape(2, 3, 4))
np.save(os.path.join(out, "f32_0x7.npy"), np.zeros((0, 7), dtype=np.float32))
np.save(os.path.join(out, "i64_5.npy"), (np.arange(5, dtype=np.int64) * 7) % 10)
np.save(os.path.join(out, "i64_1000.npy"), (np.arange(1000, dtype=np.int64) * 7) % 10)
print("numpy", np.__version__, "->", os.path.normpath(out))
