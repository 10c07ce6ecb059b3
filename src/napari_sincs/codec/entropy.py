"""Entropy coding of quantised chains into self-contained zstandard blobs.

A blob holds one chain: a small fixed header, the per-tensor steps, then for each parameter tensor
its integers (residuals against the previous group, or whole weights) for every group of the
chain, in the narrowest integer width that holds them (so a few wide biases do not widen the
rest): one byte as two's complement, wider as zigzag codes split into byte planes.
"""

from __future__ import annotations

import struct

import numpy as np
import zstandard

from .errors import CorruptFileError
from .quantize import QuantisedChain, from_residuals, tensor_bounds, to_residuals

ZSTD_LEVEL = 19
# zstd cannot expand data by much more than this (runs of zeros reach about 32 000), so a blob
# never justifies allocating more than this many times its own size.
MAX_EXPANSION = 40_000
_HEADER = struct.Struct("<IIIB")
_KINDS = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 4: np.dtype("<i4"), 8: np.dtype("<i8")}


def _zigzag_planes(values: np.ndarray, width: int) -> bytes:
    """Integers wider than a byte as zigzag codes split into byte planes (low byte first): small
    magnitudes leave the high planes almost constant, which zstd then codes nearly for free."""
    codes = (values.astype(np.int64) << 1) ^ (values.astype(np.int64) >> 63)
    codes = codes.view(np.uint64)
    return b"".join(
        ((codes >> np.uint64(8 * b)) & np.uint64(0xFF)).astype(np.uint8).tobytes()
        for b in range(width)
    )


def _from_zigzag_planes(data: bytes, width: int, count: int) -> np.ndarray:
    planes = np.frombuffer(data, np.uint8, width * count).reshape(width, count).astype(np.uint64)
    codes = np.zeros(count, dtype=np.uint64)
    for b in range(width):
        codes |= planes[b] << np.uint64(8 * b)
    return ((codes >> np.uint64(1)).astype(np.int64)) ^ -((codes & np.uint64(1)).astype(np.int64))


def _narrowest(values: np.ndarray) -> np.dtype:
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in _KINDS.values():
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    raise OverflowError("quantised weights exceed 64 bits")


def decompress_bounded(blob: bytes, limit: int, what: str) -> bytes:
    """zstd-decompress at most `limit` bytes, and never more than the blob could hold."""
    cap = min(limit, MAX_EXPANSION * len(blob) + 65536)
    try:
        return zstandard.ZstdDecompressor().decompress(blob, max_output_size=cap)
    except zstandard.ZstdError as exc:
        raise CorruptFileError(f"{what} does not decompress ({exc}).") from exc


def encode_chain(
    chain: QuantisedChain,
    shapes: list[tuple[int, ...]],
    residual: bool,
    level: int = ZSTD_LEVEL,
) -> bytes:
    """Serialise and zstd-compress one chain; each tensor in its own narrowest integer type."""
    stream = to_residuals(chain.integers) if residual else chain.integers
    groups, params = stream.shape
    parts = [
        _HEADER.pack(groups, params, len(chain.steps), int(residual)),
        chain.steps.astype("<f4").tobytes(),
    ]
    for lo, hi in tensor_bounds(shapes):
        values = stream[:, lo:hi]
        width = _narrowest(values).itemsize
        body = values.astype(np.int8).tobytes() if width == 1 else _zigzag_planes(values, width)
        parts += [bytes([width]), body]
    payload = b"".join(parts)
    return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(payload)


def decode_chain(blob: bytes, groups: int, shapes: list[tuple[int, ...]]) -> QuantisedChain:
    """Inverse of `encode_chain`, checking every size against what the header promised."""
    bounds = tensor_bounds(shapes)
    params = bounds[-1][1] if bounds else 0
    tensors = len(shapes)
    limit = _HEADER.size + 4 * tensors + tensors + 8 * groups * params
    payload = decompress_bounded(blob, limit, "a weight blob")
    if len(payload) < _HEADER.size:
        raise CorruptFileError("a weight blob is shorter than its own header.")
    n_groups, n_params, n_tensors, residual = _HEADER.unpack_from(payload)
    if (n_groups, n_params, n_tensors) != (groups, params, tensors):
        raise CorruptFileError(
            f"a weight blob holds {n_groups}×{n_params} weights in {n_tensors} tensors where the "
            f"header promises {groups}×{params} in {tensors}."
        )
    offset = _HEADER.size
    steps = np.frombuffer(payload, "<f4", tensors, offset).astype(np.float32)
    if not np.all(np.isfinite(steps)):
        raise CorruptFileError("a weight blob has a non-finite quantisation step.")
    offset += 4 * tensors
    stream = np.empty((groups, params), dtype=np.int64)
    for lo, hi in bounds:
        width = payload[offset] if offset < len(payload) else 0
        count = groups * (hi - lo)
        if width not in _KINDS or offset + 1 + width * count > len(payload):
            raise CorruptFileError("a weight blob ends early or names an unknown integer type.")
        body = payload[offset + 1 : offset + 1 + width * count]
        if width == 1:
            values = np.frombuffer(body, np.int8, count).astype(np.int64)
        else:
            values = _from_zigzag_planes(body, width, count)
        stream[:, lo:hi] = values.reshape(groups, hi - lo)
        offset += 1 + width * count
    if offset != len(payload):
        raise CorruptFileError(f"a weight blob has {len(payload) - offset} bytes too many.")
    integers = from_residuals(stream) if residual else stream
    return QuantisedChain(steps, integers)
