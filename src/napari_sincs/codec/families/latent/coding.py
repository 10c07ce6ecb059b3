"""A tile's latents as one range-coded blob, with the probabilities of the exact entropy model.

Blob layout (little-endian): u8 L (levels), then for each level from the coarsest to the finest
i16 lo, i16 hi (the level's smallest and largest latent in this tile), then the range coder's
u32 words. The symbols are every level's latents minus lo, coarsest level first, each level's
first checkerboard pass then its second, each pass in C order of the tile's cells; a level with
lo == hi codes no symbol. The coder is constriction's queue range coder (default: 32-bit words,
64-bit state) with `Categorical(perfect=False)` over the probabilities of probability.py.
"""

from __future__ import annotations

import struct

import constriction
import numpy as np
import torch

from ...decode.exact import ExactMlp
from ...errors import CorruptFileError
from .context import coded_contexts, pass_order
from .geometry import LatentGeometry
from .probability import probabilities, quantise_parameters

Q_MAX = 255
"""Latents are integers in [-Q_MAX, Q_MAX] (the exact evaluators' input bound)."""
CHUNK = 1 << 15
_RANGE = struct.Struct("<hh")


class ExactArm:
    """The entropy model's MLP on exact fixed-point grids: (mu, log-scale) per context. A
    context holds integers (latents and 0/1 flags), which lie on every input grid already."""

    def __init__(self, tensors: list[np.ndarray], device: torch.device) -> None:
        self.mlp = ExactMlp(tensors, float(Q_MAX), device, columns=True)
        self.device = device

    def __call__(self, features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(mu, log-scale) of feature-major contexts (context_size, cells)."""
        count = features.shape[1]
        out = np.empty((2, count), dtype=np.float64)
        for start in range(0, count, CHUNK):
            chunk = features[:, start : start + CHUNK].to(self.device, torch.float64)
            h = self.mlp.first(chunk)
            out[:, start : start + CHUNK] = self.mlp.outputs(h).cpu().numpy()
        return out[0], out[1]


def _model() -> constriction.stream.model.Categorical:
    return constriction.stream.model.Categorical(perfect=False)


def encode_tile(
    geometry: LatentGeometry, arm: ExactArm, tile: tuple[int, int, int], latents: list[np.ndarray]
) -> bytes:
    """The blob of one tile; `latents[level]` holds the tile's integer cells at that level."""
    encoder = constriction.stream.queue.RangeEncoder()
    ranges = []
    for level in reversed(range(geometry.levels)):
        values = np.asarray(latents[level], dtype=np.int64)
        lo, hi = int(values.min()), int(values.max())
        if max(-lo, hi) > Q_MAX:
            raise ValueError(f"latents must lie in [-{Q_MAX}, {Q_MAX}]")
        ranges.append(_RANGE.pack(lo, hi))
        if lo == hi:
            continue
        order = np.concatenate(pass_order(geometry.tile_box(tile, level)))
        mu, log_scale = arm(_features(geometry, tile, level, latents, order))
        symbols = (values.reshape(-1)[order] - lo).astype(np.int32)
        mu_steps, scale = quantise_parameters(mu, log_scale, lo, hi)
        encoder.encode(symbols, _model(), probabilities(mu_steps, scale, lo, hi))
    words = encoder.get_compressed().astype("<u4").tobytes()
    return bytes([geometry.levels]) + b"".join(ranges) + words


def decode_tile(
    geometry: LatentGeometry, arm: ExactArm, tile: tuple[int, int, int], blob: bytes
) -> list[np.ndarray]:
    """Inverse of `encode_tile`: the tile's integer cells at every level (finest first)."""
    levels = geometry.levels
    head = 1 + _RANGE.size * levels
    if len(blob) < head or blob[0] != levels or (len(blob) - head) % 4:
        raise CorruptFileError("a latent blob does not match its levels.")
    words = np.frombuffer(blob, "<u4", offset=head).astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    latents: list[np.ndarray | None] = [None] * levels
    for position, level in enumerate(reversed(range(levels))):
        lo, hi = _RANGE.unpack_from(blob, 1 + _RANGE.size * position)
        box = geometry.tile_box(tile, level)
        if lo > hi or max(-lo, hi) > Q_MAX:
            raise CorruptFileError("a latent blob's value range is invalid.")
        values = np.full(box.shape, lo, dtype=np.int64)
        latents[level] = values
        if lo == hi:
            continue
        flat = values.reshape(-1)
        for order in pass_order(box):
            mu, log_scale = arm(_features(geometry, tile, level, latents, order))
            mu_steps, scale = quantise_parameters(mu, log_scale, lo, hi)
            try:
                symbols = decoder.decode(_model(), probabilities(mu_steps, scale, lo, hi))
            except (ValueError, RuntimeError) as exc:
                raise CorruptFileError(f"a latent blob does not decode ({exc}).") from exc
            flat[order] = symbols.astype(np.int64) + lo
    return latents


def _features(
    geometry: LatentGeometry,
    tile: tuple[int, int, int],
    level: int,
    latents: list,
    cells: np.ndarray,
) -> torch.Tensor:
    """Context vectors of some of a tile's cells at a level (its coarser level known)."""
    box = geometry.tile_box(tile, level)
    coarse = coarse_origin = None
    if level + 1 < geometry.levels:
        coarse = latents[level + 1]
        coarse_origin = geometry.tile_box(tile, level + 1).starts
    found = coded_contexts(geometry, level, box, latents[level], coarse, coarse_origin, cells)
    return torch.from_numpy(found)
