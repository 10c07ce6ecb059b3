"""Image residuals that bound the error of every voxel (and make E = 0 lossless).

After the networks are coded, the encoder decodes each group exactly as any decoder will (the
exact evaluator makes that prediction the same on every machine) and stores, per group, the
residual that brings every voxel within `max_error` of the original:

* integer dtypes: r = x - x̂ quantised into bins of 2⌊E⌋+1, so x̂ + q(2⌊E⌋+1) is within ⌊E⌋;
* float32, E > 0: bins of 2E in float64, the sum rounded to float32, and any voxel that rounding
  pushes past E stored exactly as an exception;
* float32, E = 0: the difference of the two values' bit patterns in a monotone integer order,
  so the reconstruction is bit-identical (signed zeros and every finite value included);
* integer dtypes, E = 0, when the group uses at most half the values between its minimum and
  maximum (data rescaled from fewer bits, e.g. 12-bit counts stretched to 16 bits): the residual
  is taken between positions in the group's sorted table of values (its palette, stored in the
  blob), where the prediction is replaced by the nearest palette entry. The codes are then
  smaller by the palette's spacing, and the reconstruction is still exact.

When storing a group's values themselves (zstd of their byte planes) is smaller than any
residual, as for flat noisy background the networks cannot predict, the blob holds them
verbatim, so a residual never costs more than compressing the raw data.

The codes are zigzag-mapped into the narrowest unsigned type and stored as byte planes
(packing.py). One blob per group, so a region decodes only the residuals
of the groups it meets.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from ..errors import CorruptFileError
from .packing import (
    UNSIGNED,
    compress,
    decompress_bounded,
    join_planes,
    narrowest_unsigned,
    split_planes,
    unzigzag,
    zigzag,
)

_HEADER = struct.Struct("<BQQ")
_BITS_LOSSLESS = 2
_BINNED = 1
_PALETTE = 3
_VERBATIM = 4
_PALETTE_SIZE = struct.Struct("<Q")


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


def _byte_planes(codes: np.ndarray) -> tuple[np.dtype, bytes]:
    """(width, bytes): zigzag codes in the narrowest unsigned type, as byte planes."""
    unsigned = zigzag(codes.reshape(-1))
    width = narrowest_unsigned(unsigned)
    return width, split_planes(unsigned.astype(width))


def _uses_palette(original: np.ndarray, max_error: float) -> np.ndarray | None:
    """The group's sorted distinct values when a palette pays (lossless integers only)."""
    if original.dtype.kind not in "iu" or max_error != 0 or original.size == 0:
        return None
    palette = np.unique(original)
    span = int(palette[-1]) - int(palette[0]) + 1
    return palette if 2 * palette.size <= span else None


def _nearest(palette: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the palette entry nearest to each value (the lower one on a tie)."""
    if palette.size == 1:
        return np.zeros(values.shape, dtype=np.int64)
    upper = np.clip(np.searchsorted(palette, values), 1, palette.size - 1)
    below = values.astype(np.int64) - palette[upper - 1].astype(np.int64)
    above = palette[upper].astype(np.int64) - values.astype(np.int64)
    return np.where(below <= above, upper - 1, upper).astype(np.int64)


def apply(
    predicted: np.ndarray,
    codes: np.ndarray,
    dtype: np.dtype,
    max_error: float,
    palette: np.ndarray | None = None,
) -> np.ndarray:
    """Reconstruction from a prediction and residual codes (no exceptions applied)."""
    if palette is not None:
        index = np.clip(_nearest(palette, predicted) + codes, 0, palette.size - 1)
        return palette[index].astype(dtype)
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
    palette = _uses_palette(original, max_error)
    if palette is not None:
        codes = np.searchsorted(palette, original).astype(np.int64) - _nearest(palette, predicted)
        mode = _PALETTE
    elif dtype.kind in "iu":
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
    rebuilt = apply(predicted, codes, dtype, max_error, palette)
    error = np.abs(rebuilt.astype(np.float64) - original.astype(np.float64))
    exceptions = np.flatnonzero(error.reshape(-1) > max_error)
    width, planes = _byte_planes(codes)
    little = dtype.newbyteorder("<")
    table = (
        b""
        if palette is None
        else _PALETTE_SIZE.pack(palette.size) + palette.astype(little).tobytes()
    )
    payload = b"".join(
        [
            _HEADER.pack(mode, codes.size, exceptions.size),
            bytes([width.itemsize]),
            table,
            planes,
            exceptions.astype("<u8").tobytes(),
            original.reshape(-1)[exceptions].astype(little).tobytes(),
        ]
    )
    return min(compress(payload), compress(_verbatim(original)), key=len)


def _verbatim(original: np.ndarray) -> bytes:
    """The group's values themselves, for groups the prediction does not help (flat noise)."""
    little = original.dtype.newbyteorder("<")
    width = UNSIGNED[little.itemsize]
    values = np.ascontiguousarray(original, dtype=little).view(width)
    header = _HEADER.pack(_VERBATIM, original.size, 0) + bytes([width.itemsize])
    return header + split_planes(values)


class GroupResidual:
    """A decoded residual blob: codes for every voxel of a group, plus exact exceptions."""

    def __init__(self, blob: bytes, shape: tuple[int, ...], dtype: np.dtype, max_error: float):
        size = math.prod(shape)
        table_limit = _PALETTE_SIZE.size + dtype.itemsize * size
        limit = _HEADER.size + 1 + table_limit + 8 * size + (8 + dtype.itemsize) * size
        payload = decompress_bounded(blob, limit, "a residual blob")
        if len(payload) < _HEADER.size + 1:
            raise CorruptFileError("a residual blob is shorter than its header.")
        mode, count, n_exceptions = _HEADER.unpack_from(payload)
        width = payload[_HEADER.size]
        if dtype.kind == "f":
            allowed = {_BITS_LOSSLESS} if max_error == 0 else {_BINNED}
        else:
            allowed = {_BINNED, _PALETTE} if max_error == 0 else {_BINNED}
        verbatim = mode == _VERBATIM and width == dtype.itemsize and n_exceptions == 0
        if (
            count != size
            or width not in UNSIGNED
            or not (mode in allowed or verbatim)
            or n_exceptions > size
        ):
            raise CorruptFileError("a residual blob does not match its group.")
        offset = _HEADER.size + 1
        little = dtype.newbyteorder("<")
        self.shape = shape
        self.dtype = dtype
        self.max_error = max_error
        self.palette = None
        self.verbatim = None
        if verbatim:
            if len(payload) != offset + width * count:
                raise CorruptFileError("a residual blob has the wrong length.")
            values = join_planes(payload, UNSIGNED[width], count, offset)
            self.verbatim = values.view(little).astype(dtype).reshape(shape)
            return
        if mode == _PALETTE:
            self.palette, offset = self._read_palette(payload, offset, little, size)
        end = offset + width * count + (8 + dtype.itemsize) * n_exceptions
        if len(payload) != end:
            raise CorruptFileError("a residual blob has the wrong length.")
        codes = unzigzag(join_planes(payload, UNSIGNED[width], count, offset))
        self.codes = codes.reshape(shape)
        offset += width * count
        self.exception_index = np.frombuffer(payload, "<u8", n_exceptions, offset).astype(np.int64)
        offset += 8 * n_exceptions
        self.exception_value = np.frombuffer(payload, little, n_exceptions, offset).astype(dtype)
        if n_exceptions and (self.exception_index.max() >= size):
            raise CorruptFileError("a residual blob names a voxel outside its group.")

    @staticmethod
    def _read_palette(
        payload: bytes, offset: int, little: np.dtype, size: int
    ) -> tuple[np.ndarray, int]:
        if len(payload) < offset + _PALETTE_SIZE.size:
            raise CorruptFileError("a residual blob is cut inside its palette.")
        (entries,) = _PALETTE_SIZE.unpack_from(payload, offset)
        offset += _PALETTE_SIZE.size
        if not 0 < entries <= size or len(payload) < offset + entries * little.itemsize:
            raise CorruptFileError("a residual blob's palette does not match its group.")
        palette = np.frombuffer(payload, little, entries, offset)
        if entries > 1 and not np.all(palette[1:] > palette[:-1]):
            raise CorruptFileError("a residual blob's palette is not sorted.")
        return palette, offset + entries * little.itemsize

    def apply(self, predicted: np.ndarray, index: tuple[np.ndarray, ...]) -> np.ndarray:
        """Correct a prediction of the voxels at `index` (np.ix_ over the group's axes)."""
        if self.verbatim is not None:
            return self.verbatim[index].copy()
        rebuilt = apply(predicted, self.codes[index], self.dtype, self.max_error, self.palette)
        if self.exception_index.size:
            grid = np.ravel_multi_index(np.broadcast_arrays(*index), self.shape)
            where = np.isin(grid, self.exception_index)
            if where.any():
                lookup = dict(zip(self.exception_index.tolist(), self.exception_value.tolist()))
                rebuilt[where] = [lookup[i] for i in grid[where].tolist()]
        return rebuilt
