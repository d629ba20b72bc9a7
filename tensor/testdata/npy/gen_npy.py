#!/usr/bin/python3
"""Writes the small .npy files that tensor/npy_test.go reads, with NumPy.

Run from the repository root: /usr/bin/python3 tensor/testdata/npy/gen_npy.py
The output is deterministic. The test also checks the values, so a change
here needs one there.
"""
import os
import numpy as np

d = os.path.dirname(os.path.abspath(__file__))
arrays = {
    "f32_2x3": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
    "f64_3": np.array([1.5, -2.25, 1e-3], dtype=np.float64),
    "f16_4": np.array([1, -0.5, 65504, 6e-8], dtype=np.float16),
    "i64_2x2": np.array([[1, -2], [2**31 - 1, -(2**31)]], dtype=np.int64),
    "i64_overflow": np.array([0, 2**31], dtype=np.int64),
    "i32_3": np.array([7, -7, 0], dtype=np.int32),
    "u8_3": np.array([0, 128, 255], dtype=np.uint8),
    "bool_3": np.array([True, False, True]),
    "scalar": np.array(3.5, dtype=np.float32),
    "empty_0x4": np.zeros((0, 4), dtype=np.float32),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    "bigendian": np.arange(3, dtype=">f4"),
    "complex": np.array([1 + 2j], dtype=np.complex64),
}
for name, a in arrays.items():
    np.save(os.path.join(d, name + ".npy"), a)
