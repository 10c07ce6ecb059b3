"""Integer packing shared by weight and residual blobs: zigzag codes as byte planes, and
bounded zstd.

Signed integers are zigzag-mapped (0, -1, 1, -2, ... to 0, 1, 2, 3, ...) into the narrowest
unsigned type and stored as byte planes (all low bytes, then the next): small magnitudes leave
the high planes almost constant, which zstd codes nearly for free, far better than interleaved
two's-complement bytes.
"""

from __future__ import annotations

import numpy as np
import zstandard

from .. import presets
from ..errors import CorruptFileError

# zstd cannot expand data by much more than this (runs of zeros reach about 32 000), so a blob
# never justifies allocating more than this many times its own size.
MAX_EXPANSION = 40_000
UNSIGNED = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4"), 8: np.dtype("<u8")}


def zigzag(codes: np.ndarray) -> np.ndarray:
    values = codes.astype(np.int64)
    return ((values << 1) ^ (values >> 63)).astype(np.uint64)


def unzigzag(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.uint64)
    return ((values >> np.uint64(1)).astype(np.int64)) ^ -((values & np.uint64(1)).astype(np.int64))


def split_planes(unsigned: np.ndarray) -> bytes:
    """An unsigned little-endian array as byte planes: every low byte, then the next, ..."""
    planes = unsigned.reshape(-1).view(np.uint8).reshape(-1, unsigned.itemsize).T
    return np.ascontiguousarray(planes).tobytes()


def join_planes(payload: bytes, width: np.dtype, count: int, offset: int = 0) -> np.ndarray:
    """Inverse of `split_planes`: `count` values of `width` starting at `offset`."""
    planes = np.frombuffer(payload, np.uint8, width.itemsize * count, offset)
    return np.ascontiguousarray(planes.reshape(width.itemsize, count).T).view(width).reshape(-1)


def zigzag_planes(codes: np.ndarray, width: int) -> bytes:
    """Signed integers as zigzag codes of `width` bytes, split into byte planes."""
    return split_planes(zigzag(codes.reshape(-1)).astype(UNSIGNED[width]))


def narrowest_unsigned(unsigned: np.ndarray) -> np.dtype:
    top = int(unsigned.max()) if unsigned.size else 0
    return next(d for d in UNSIGNED.values() if top <= np.iinfo(d).max)


def compress(payload: bytes) -> bytes:
    """One zstd frame at the level everything written uses, with its content size."""
    return zstandard.ZstdCompressor(level=presets.ZSTD_LEVEL, write_content_size=True).compress(
        payload
    )


def decompress_bounded(blob: bytes, limit: int, what: str) -> bytes:
    """zstd-decompress at most `limit` bytes, and never more than the blob could hold."""
    cap = min(limit, MAX_EXPANSION * len(blob) + 65536)
    try:
        return zstandard.ZstdDecompressor().decompress(blob, max_output_size=cap)
    except zstandard.ZstdError as exc:
        raise CorruptFileError(f"{what} does not decompress ({exc}).") from exc
