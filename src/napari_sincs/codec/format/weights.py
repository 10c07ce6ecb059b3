"""Weight blobs: quantised chains entropy-coded into self-contained zstandard frames.

A blob holds one chain: a small fixed header, the per-tensor steps, then for each parameter tensor
its integers (residuals against the previous group, or whole weights) for every group of the
chain, in the narrowest integer width that holds them (so a few wide biases do not widen the
rest): one byte as two's complement, wider as zigzag codes split into byte planes
(packing.py).
"""

from __future__ import annotations

import struct

import numpy as np
import zstandard

from .. import presets
from ..errors import CorruptFileError
from .packing import UNSIGNED, decompress_bounded, join_planes, unzigzag, zigzag_planes
from .quantize import QuantisedChain, from_residuals, tensor_bounds, to_residuals

_HEADER = struct.Struct("<IIIB")
_KINDS = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 4: np.dtype("<i4"), 8: np.dtype("<i8")}


def _narrowest(values: np.ndarray) -> np.dtype:
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for dtype in _KINDS.values():
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    raise OverflowError("quantised weights exceed 64 bits")


def encode_chain(
    chain: QuantisedChain,
    shapes: list[tuple[int, ...]],
    residual: bool,
    level: int = presets.ZSTD_LEVEL,
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
        body = values.astype(np.int8).tobytes() if width == 1 else zigzag_planes(values, width)
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
            values = unzigzag(join_planes(body, UNSIGNED[width], count))
        stream[:, lo:hi] = values.reshape(groups, hi - lo)
        offset += 1 + width * count
    if offset != len(payload):
        raise CorruptFileError(f"a weight blob has {len(payload) - offset} bytes too many.")
    integers = from_residuals(stream) if residual else stream
    return QuantisedChain(steps, integers)
