"""A tile's latents as a range-coded blob, with the probabilities of the exact entropy model.

Blob layout (little-endian): u8 L (levels), then for each level from the coarsest to the finest
i16 lo, i16 hi (the level's smallest and largest latent in this tile), then the range coder's
u32 words. The symbols are every level's latents minus lo, coarsest level first, each level's
first checkerboard pass then its second, each pass in C order of the tile's cells; a level with
lo == hi codes no symbol. The coder is constriction's queue range coder (default: 32-bit words,
64-bit state) with `Categorical(perfect=False)` over the probabilities of probability.py.

Where the geometry cuts the finest level into slabs along d, the words are several streams, so
that a plane needs the coarse levels and one slab, not the whole tile: after the ranges, the
number of u32 words of each stream as an unsigned LEB128 varint (the coarse levels' stream, then
one per slab), then the streams' words in that order. The coarse stream codes levels L-1 to 1 as
above, each slab's stream the slab's cells of level 0 (both passes, in C order of the slab).
"""

from __future__ import annotations

import struct
import threading

import constriction
import numpy as np
import torch

from ...decode.exact import PRODUCT_COLUMNS, ExactMlp
from ...errors import CorruptFileError
from .context import PassContexts, coded_contexts, pass_order
from .geometry import LatentGeometry
from .probability import probabilities, quantise_parameters

Q_MAX = 255
"""Latents are integers in [-Q_MAX, Q_MAX] (the exact evaluators' input bound)."""
_RANGE = struct.Struct("<hh")


class ExactArm:
    """The entropy model's MLP on exact fixed-point grids: (mu, log-scale) per context. A
    context holds integers (latents and 0/1 flags), which lie on every input grid already."""

    def __init__(self, tensors: list[np.ndarray], device: torch.device) -> None:
        self.mlp = ExactMlp(tensors, float(Q_MAX), device, columns=True)
        self.device = device
        self._first: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, contexts: PassContexts) -> tuple[np.ndarray, np.ndarray]:
        """(mu, log-scale) of every cell of a pass. The constant rows of its contexts are
        folded into the first layer's bias and only the varying rows multiplied, each distinct
        context once: every product and sum is exact, so the outputs are the same bits as the
        whole network's on every cell's whole context."""
        weight, bias = self._first_layer(contexts.constant, contexts.inputs.shape[0])
        features = torch.from_numpy(contexts.inputs)
        count = features.shape[1]
        out = np.empty((2, count), dtype=np.float64)
        for start in range(0, count, PRODUCT_COLUMNS):
            chunk = features[:, start : start + PRODUCT_COLUMNS].to(self.device)
            h = torch.addmm(bias, weight, chunk)
            out[:, start : start + PRODUCT_COLUMNS] = self.mlp.outputs(h).cpu().numpy()
        if contexts.inverse is not None:
            out = out.take(contexts.inverse, axis=1)
        return out[0], out[1]

    def _first_layer(self, constant: tuple[int, ...], rows: int):
        """The first layer's weights of a context's first `rows` rows, and its bias with the
        columns of the `constant` rows added (a few pairs a file: kept)."""
        key = (constant, rows)
        if key not in self._first:
            weight, bias = self.mlp.layers[0]
            folded = bias + weight[:, list(constant)].sum(dim=1, keepdim=True)
            self._first[key] = weight[:, :rows].contiguous(), folded
        return self._first[key]


def _model() -> constriction.stream.model.Categorical:
    return constriction.stream.model.Categorical(perfect=False)


def encode_tile(
    geometry: LatentGeometry, arm: ExactArm, tile: tuple[int, int, int], latents: list[np.ndarray]
) -> bytes:
    """The blob of one tile; `latents[level]` holds the tile's integer cells at that level."""
    latents = [np.asarray(values, dtype=np.int64) for values in latents]
    ranges = {}
    for level, values in enumerate(latents):
        ranges[level] = int(values.min()), int(values.max())
        if max(-ranges[level][0], ranges[level][1]) > Q_MAX:
            raise ValueError(f"latents must lie in [-{Q_MAX}, {Q_MAX}]")
    head = bytes([geometry.levels]) + b"".join(
        _RANGE.pack(*ranges[level]) for level in reversed(range(geometry.levels))
    )
    coder = _Coder(geometry, arm, tile, latents, ranges)
    if not geometry.slabbed:
        encoder = constriction.stream.queue.RangeEncoder()
        for level in reversed(range(geometry.levels)):
            coder.encode(encoder, level, geometry.tile_box(tile, level))
        return head + _words(encoder)
    streams = []
    encoder = constriction.stream.queue.RangeEncoder()
    for level in reversed(range(1, geometry.levels)):
        coder.encode(encoder, level, geometry.tile_box(tile, level))
    streams.append(_words(encoder))
    for box in geometry.slabs(tile):
        encoder = constriction.stream.queue.RangeEncoder()
        coder.encode(encoder, 0, box)
        streams.append(_words(encoder))
    lengths = b"".join(_varint(len(words) // 4) for words in streams)
    return head + lengths + b"".join(streams)


class TileBlob:
    """One tile's blob, parsed: its levels' ranges and where each of its streams lies."""

    def __init__(self, geometry: LatentGeometry, tile: tuple[int, int, int], blob: bytes) -> None:
        levels = geometry.levels
        head = 1 + _RANGE.size * levels
        if len(blob) < head or blob[0] != levels:
            raise CorruptFileError("a latent blob does not match its levels.")
        self.geometry = geometry
        self.tile = tile
        self.blob = blob
        self.ranges = {}
        for position, level in enumerate(reversed(range(levels))):
            lo, hi = _RANGE.unpack_from(blob, 1 + _RANGE.size * position)
            if lo > hi or max(-lo, hi) > Q_MAX:
                raise CorruptFileError("a latent blob's value range is invalid.")
            self.ranges[level] = lo, hi
        if geometry.slabbed:
            words, head = _read_varints(blob, head, 1 + len(geometry.slabs(tile)))
        else:
            words = [(len(blob) - head) // 4]
        self.streams = []
        for length in words:
            self.streams.append((head, head + 4 * length))
            head += 4 * length
        if head != len(blob):
            raise CorruptFileError("a latent blob's length does not match its streams.")

    def coarse(self, arm: ExactArm) -> list[np.ndarray | None]:
        """The tile's integer cells at every level its first stream holds (all levels, or,
        where the finest level is in slabs, every level but the finest: None there)."""
        return CoarseStream(self, arm).upto(0)

    def slab(self, arm: ExactArm, index: int, coarse: list[np.ndarray | None]) -> np.ndarray:
        """The finest level's cells of slab `index`, given the coarse levels."""
        box = self.geometry.slabs(self.tile)[index]
        coder = _Coder(self.geometry, arm, self.tile, coarse, self.ranges)
        return coder.decode(self._decoder(1 + index), 0, box)

    def _decoder(self, stream: int):
        start, stop = self.streams[stream]
        words = np.frombuffer(self.blob[start:stop], "<u4").astype(np.uint32)
        return constriction.stream.queue.RangeDecoder(words)


class CoarseStream:
    """A tile's first stream, decoded level by level, coarsest first, only as far as asked: a
    region that reads a neighbouring tile only through the coarse levels' interpolation (a
    plane near a z tile border) then pays for those levels, not for the finest ones, which
    hold most of the tile's cells. Safe to share between threads."""

    def __init__(self, blob: TileBlob, arm: ExactArm) -> None:
        geometry = blob.geometry
        self.geometry = geometry
        self.tile = blob.tile
        self.latents: list[np.ndarray | None] = [None] * geometry.levels
        self._decoder = blob._decoder(0)
        self._coder = _Coder(geometry, arm, blob.tile, self.latents, blob.ranges)
        self._next = geometry.levels - 1
        self._last = 1 if geometry.slabbed else 0
        self._failed: CorruptFileError | None = None
        self._lock = threading.Lock()

    def upto(self, level: int) -> list[np.ndarray | None]:
        """Every level's cells, decoded down to `level` (or the stream's finest) at least;
        finer levels not decoded yet are None."""
        with self._lock:
            if self._failed is not None:
                raise self._failed
            try:
                while self._next >= max(level, self._last):
                    box = self.geometry.tile_box(self.tile, self._next)
                    self.latents[self._next] = self._coder.decode(self._decoder, self._next, box)
                    self._next -= 1
            except CorruptFileError as exc:
                self._failed = exc
                raise
        return self.latents


def decode_tile(
    geometry: LatentGeometry, arm: ExactArm, tile: tuple[int, int, int], blob: bytes
) -> list[np.ndarray]:
    """Inverse of `encode_tile`: the tile's integer cells at every level (finest first)."""
    parsed = TileBlob(geometry, tile, blob)
    latents = parsed.coarse(arm)
    if geometry.slabbed:
        slabs = [parsed.slab(arm, i, latents) for i in range(len(geometry.slabs(tile)))]
        latents[0] = np.concatenate(slabs, axis=0)
    return latents


class _Coder:
    """Codes or decodes one box of one level of a tile (the tile's box, or a slab of its
    finest level) with the tile's ranges and its coarser level known."""

    def __init__(self, geometry, arm, tile, latents, ranges) -> None:
        self.geometry = geometry
        self.arm = arm
        self.tile = tile
        self.latents = latents
        self.ranges = ranges

    def encode(self, encoder, level: int, box) -> None:
        lo, hi = self.ranges[level]
        if lo == hi:
            return
        values = self.latents[level][self._inside(level, box)]
        flat = values.reshape(-1)
        for order in pass_order(box):
            probabilities = self._probabilities(level, box, values, order)
            encoder.encode((flat[order] - lo).astype(np.int32), _model(), probabilities)

    def decode(self, decoder, level: int, box) -> np.ndarray:
        lo, hi = self.ranges[level]
        values = np.full(box.shape, lo, dtype=np.int64)
        if lo == hi:
            return values
        flat = values.reshape(-1)
        for order in pass_order(box):
            probabilities = self._probabilities(level, box, values, order)
            try:
                symbols = decoder.decode(_model(), probabilities)
            except (ValueError, RuntimeError) as exc:
                raise CorruptFileError(f"a latent blob does not decode ({exc}).") from exc
            flat[order] = symbols.astype(np.int64) + lo
        return values

    def _probabilities(self, level: int, box, values: np.ndarray, cells: np.ndarray):
        """The coder's probabilities of one pass's cells, from the values known before it."""
        lo, hi = self.ranges[level]
        mu, log_scale = self.arm(self._contexts(level, box, values, cells))
        mu_steps, scale = quantise_parameters(mu, log_scale, lo, hi)
        return probabilities(mu_steps, scale, lo, hi)

    def _inside(self, level: int, box) -> tuple[slice, ...]:
        """Where `box` lies in the tile's array of the level."""
        return box.within(self.geometry.tile_box(self.tile, level).starts)

    def _contexts(self, level: int, box, values: np.ndarray, cells: np.ndarray) -> PassContexts:
        geometry = self.geometry
        coarse = coarse_origin = None
        if level + 1 < geometry.levels:
            coarse = self.latents[level + 1]
            coarse_origin = geometry.tile_box(self.tile, level + 1).starts
        return coded_contexts(geometry, level, box, values, coarse, coarse_origin, cells)


def _words(encoder) -> bytes:
    return encoder.get_compressed().astype("<u4").tobytes()


def _varint(value: int) -> bytes:
    """Unsigned LEB128: seven bits a byte, least significant first, the high bit set on all
    bytes but the last."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varints(blob: bytes, offset: int, count: int) -> tuple[list[int], int]:
    values = []
    for _ in range(count):
        value = shift = 0
        while True:
            if offset >= len(blob) or shift > 28:
                raise CorruptFileError("a latent blob's stream lengths are damaged.")
            byte = blob[offset]
            offset += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(value)
    return values, offset
