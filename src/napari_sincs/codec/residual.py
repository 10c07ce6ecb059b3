"""Image residuals that bound the error of every voxel (and make E = 0 lossless).

After the networks are coded, the encoder decodes each group exactly as any decoder will (the
exact evaluator makes that prediction the same on every machine) and stores, per group, the
residual that brings every voxel within `max_error` of the original:

* integer dtypes: r = x - x̂ quantised into bins of 2⌊E⌋+1, so x̂ + q(2⌊E⌋+1) is within ⌊E⌋;
* float32, E > 0: bins of 2E in float64, the sum rounded to float32, and any voxel that rounding
  pushes past E stored exactly as an exception;
* float32, E = 0: the difference of the two values' bit patterns in a monotone integer order,
  so the reconstruction is bit-identical (signed zeros and every finite value included).

One blob per group (zstd of the integers in the narrowest type, then the exceptions), so a region
decodes only the residuals of the groups it meets.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import zstandard

from .entropy import decompress_bounded
from .errors import CorruptFileError

ZSTD_LEVEL = 19
_HEADER = struct.Struct("<BQQ")
_WIDTHS = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 4: np.dtype("<i4"), 8: np.dtype("<i8")}
_BITS_LOSSLESS = 2
_BINNED = 1


def _ordered(values: np.ndarray) -> np.ndarray:
    """float32 bit patterns as int64 in the same order as the floats (-0.0 just below +0.0)."""
    bits = values.astype(np.float32).view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)


def _from_ordered(ordered: np.ndarray) -> np.ndarray:
    bits = np.where(ordered < 0, (-(ordered + 1)) | -0x80000000, ordered)
    return bits.astype(np.int32).view(np.float32)


def integer_bin(max_error: float) -> int:
    """Width of a residual bin for integer data: 2⌊E⌋ + 1 (1 means lossless)."""
    return 2 * math.floor(max_error) + 1


def _narrowest(values: np.ndarray) -> np.dtype:
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in _WIDTHS.values():
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    raise OverflowError("residual exceeds 64 bits")


def apply(
    predicted: np.ndarray, codes: np.ndarray, dtype: np.dtype, max_error: float
) -> np.ndarray:
    """Reconstruction from a prediction and residual codes (no exceptions applied)."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        total = predicted.astype(np.int64) + codes * integer_bin(max_error)
        return np.clip(total, info.min, info.max).astype(dtype)
    if max_error == 0:
        return _from_ordered(_ordered(predicted) + codes)
    return (predicted.astype(np.float64) + codes * (2.0 * max_error)).astype(np.float32)


def encode(original: np.ndarray, predicted: np.ndarray, max_error: float) -> bytes:
    """The residual blob of one group (both arrays in the file's dtype, same shape)."""
    dtype = original.dtype
    if dtype.kind in "iu":
        step = integer_bin(max_error)
        difference = original.astype(np.int64) - predicted.astype(np.int64)
        codes = np.floor_divide(difference + step // 2, step)
        mode = _BINNED
    elif max_error == 0:
        codes = _ordered(original) - _ordered(predicted)
        mode = _BITS_LOSSLESS
    else:
        codes = np.rint(
            (original.astype(np.float64) - predicted.astype(np.float64)) / (2 * max_error)
        )
        codes = codes.astype(np.int64)
        mode = _BINNED
    rebuilt = apply(predicted, codes, dtype, max_error)
    error = np.abs(rebuilt.astype(np.float64) - original.astype(np.float64))
    exceptions = np.flatnonzero(error.reshape(-1) > max_error)
    width = _narrowest(codes)
    payload = b"".join(
        [
            _HEADER.pack(mode, codes.size, exceptions.size),
            bytes([width.itemsize]),
            codes.astype(width).tobytes(),
            exceptions.astype("<u8").tobytes(),
            original.reshape(-1)[exceptions].astype(dtype.newbyteorder("<")).tobytes(),
        ]
    )
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(payload)


class GroupResidual:
    """A decoded residual blob: codes for every voxel of a group, plus exact exceptions."""

    def __init__(self, blob: bytes, shape: tuple[int, ...], dtype: np.dtype, max_error: float):
        size = math.prod(shape)
        limit = _HEADER.size + 1 + 8 * size + (8 + dtype.itemsize) * size
        payload = decompress_bounded(blob, limit, "a residual blob")
        if len(payload) < _HEADER.size + 1:
            raise CorruptFileError("a residual blob is shorter than its header.")
        mode, count, n_exceptions = _HEADER.unpack_from(payload)
        width = payload[_HEADER.size]
        expected_mode = _BITS_LOSSLESS if dtype.kind == "f" and max_error == 0 else _BINNED
        if count != size or width not in _WIDTHS or mode != expected_mode or n_exceptions > size:
            raise CorruptFileError("a residual blob does not match its group.")
        offset = _HEADER.size + 1
        end = offset + width * count + (8 + dtype.itemsize) * n_exceptions
        if len(payload) != end:
            raise CorruptFileError("a residual blob has the wrong length.")
        self.codes = np.frombuffer(payload, _WIDTHS[width], count, offset).astype(np.int64)
        self.codes = self.codes.reshape(shape)
        offset += width * count
        self.exception_index = np.frombuffer(payload, "<u8", n_exceptions, offset).astype(np.int64)
        offset += 8 * n_exceptions
        little = dtype.newbyteorder("<")
        self.exception_value = np.frombuffer(payload, little, n_exceptions, offset).astype(dtype)
        if n_exceptions and (self.exception_index.max() >= size):
            raise CorruptFileError("a residual blob names a voxel outside its group.")
        self.shape = shape
        self.dtype = dtype
        self.max_error = max_error

    def apply(self, predicted: np.ndarray, index: tuple[np.ndarray, ...]) -> np.ndarray:
        """Correct a prediction of the voxels at `index` (np.ix_ over the group's axes)."""
        rebuilt = apply(predicted, self.codes[index], self.dtype, self.max_error)
        if self.exception_index.size:
            grid = np.ravel_multi_index(np.broadcast_arrays(*index), self.shape)
            where = np.isin(grid, self.exception_index)
            if where.any():
                lookup = dict(zip(self.exception_index.tolist(), self.exception_value.tolist()))
                rebuilt[where] = [lookup[i] for i in grid[where].tolist()]
        return rebuilt
