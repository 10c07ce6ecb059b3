"""Decoding latent files: tiles entropy-decoded on demand (and cached), the finest level slab by
slab where the file has slabs, and the synthesis evaluated exactly at any voxels, reading latents
across tile borders (no seams)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ...decode.cache import LruCache
from ...decode.exact import PRODUCT_COLUMNS, ExactMlp, split_tensors
from ...errors import CorruptFileError
from ...format.container import BlobSource
from ...format.header import FileHeader
from ...format.weights import decode_chain
from ...grouping import Group
from ..base import GroupValues
from .coding import Q_MAX, CoarseStream, ExactArm, TileBlob
from .geometry import Box, LatentGeometry, interpolation
from .spec import LatentSpec

VOXEL_CHUNK = 1 << 16
"""Voxels whose features one pass of `evaluate` gathers and interpolates (a 256² tile of a
plane at once: 2-7% faster regions than half of one)."""


def network_tensors(spec: LatentSpec, weights: np.ndarray) -> tuple[list, list]:
    """The synthesis' and the entropy model's tensors from the networks' flat weights."""
    tensors = split_tensors(spec.parameter_shapes, spec.n_parameters, weights)
    count = len(spec.synthesis_shapes)
    return tensors[:count], tensors[count:]


class Synthesis:
    """Latent grids to normalised intensities, exactly: interpolated features (exact binary
    fractions of integers) on the MLP's fixed-point input grid, then the exact MLP. Features
    already lie on that grid when it is at least as fine as theirs, and are then not rounded."""

    def __init__(self, geometry: LatentGeometry, tensors: list, device: torch.device) -> None:
        self.geometry = geometry
        self.mlp = ExactMlp(tensors, float(Q_MAX), device, columns=True)
        self.device = device
        self.on_grid = self.mlp.input_bits >= geometry.feature_bits()

    def matrices(self, positions: list[np.ndarray], windows: list[Box]) -> list[list]:
        """Per level, per axis (d, y, x): the interpolation from the window's cells to the
        positions, built once for a whole evaluation and sliced for each of its chunks."""
        geometry = self.geometry
        return [
            [
                torch.from_numpy(interpolation(p, k, cells, span))
                for p, k, cells, span in zip(
                    positions, geometry.exponents[level], geometry.cells[level], window.ranges
                )
            ]
            for level, window in enumerate(windows)
        ]

    def features(self, matrices: list[list], latents: list) -> torch.Tensor:
        """(levels, voxels) features at the outer product of the matrices' positions."""
        voxels = math.prod(matrix.shape[0] for matrix in matrices[0])
        out = torch.empty((len(matrices), voxels), dtype=torch.float64)
        for level, (per_axis, values) in enumerate(zip(matrices, latents)):
            grid = torch.from_numpy(np.asarray(values, dtype=np.float64))
            out[level] = _interpolated(per_axis, grid).reshape(-1)
        return out

    def __call__(self, features: torch.Tensor) -> np.ndarray:
        """Normalised values of feature-major inputs (levels, voxels)."""
        out = np.empty(features.shape[1], dtype=np.float64)
        step = PRODUCT_COLUMNS
        for start in range(0, features.shape[1], step):
            part = features[:, start : start + step].to(self.device)
            chunk = part if self.on_grid else self.mlp.on_input_grid(part)
            out[start : start + step] = self.mlp.tail(self.mlp.first(chunk)).cpu().numpy()
        return out


def _interpolated(per_axis: list[torch.Tensor], grid: torch.Tensor) -> torch.Tensor:
    """`separable` as the decoder computes it: products along y and x that need no permuted
    copies, and none along a d axis of one cell read by one voxel. Every product is exact, so
    the order does not change a bit; about twice as fast on a plane's chunk."""
    along_d, along_y, along_x = per_axis
    if along_d.shape != (1, 1):
        grid = torch.tensordot(along_d, grid, dims=([1], [0]))
    return torch.matmul(torch.matmul(along_y, grid), along_x.T)


class LatentValues(GroupValues):
    """A latent file's group values: networks from blob 0, tile g's latents from blob 1 + g."""

    def __init__(
        self, header: FileHeader, source: BlobSource, device: torch.device, cache: int = 256
    ) -> None:
        spec: LatentSpec = header.model
        self.plan = header.plan
        self.geometry = spec.geometry(self.plan)
        if not self.geometry.tiles_align():
            raise CorruptFileError("the file's tiles do not align with its latent levels.")
        self.source = source
        quantised = decode_chain(source.read_blob(0), 1, spec.parameter_shapes)
        weights = quantised.dequantise(spec.parameter_shapes, np.float64)[0]
        if not np.all(np.isfinite(weights)):
            raise CorruptFileError("the latent file's networks decode to non-finite weights.")
        synthesis, arm = network_tensors(spec, weights)
        self.synthesis = Synthesis(self.geometry, synthesis, device)
        self.arm = ExactArm(arm, device)
        self._tiles = LruCache(cache)

    def tile(self, index: int) -> tuple[TileBlob, CoarseStream]:
        """One tile's (group's) parsed blob and its coarse stream (every level, or every level
        but the finest where the file has slabs), decoded as far as the reads so far needed."""
        cached = self._tiles.get(index)
        if cached is not None:
            return cached
        tile = self.geometry.tile_of(self.plan.group(index))
        parsed = TileBlob(self.geometry, tile, self.source.read_blob(1 + index))
        opened = parsed, CoarseStream(parsed, self.arm)
        self._tiles.put(index, opened)
        return opened

    def slab(self, index: int, slab: int) -> np.ndarray:
        """The finest level's latents of one slab of a tile."""
        cached = self._tiles.get((index, slab))
        if cached is not None:
            return cached
        parsed, coarse = self.tile(index)
        values = parsed.slab(self.arm, slab, coarse.upto(1))
        self._tiles.put((index, slab), values)
        return values

    def window(self, volume: int, level: int, box: Box) -> np.ndarray:
        """A level's latents on a box of cells, gathered from the tiles (and slabs) it meets."""
        geometry = self.geometry
        out = np.empty(box.shape, dtype=np.int64)
        for tile in geometry.tiles_meeting(level, box):
            index = geometry.group_at(volume, tile)
            if level == 0 and geometry.slabbed:
                for slab, owned in enumerate(geometry.slabs(tile)):
                    inside = box.intersection(owned)
                    if inside is not None:
                        values = self.slab(index, slab)
                        out[inside.within(box.starts)] = values[inside.within(owned.starts)]
            else:
                owned = geometry.tile_box(tile, level)
                inside = box.intersection(owned)
                values = self.tile(index)[1].upto(level)[level]
                out[inside.within(box.starts)] = values[inside.within(owned.starts)]
        return out

    def evaluate(self, group: Group, positions: list[np.ndarray]) -> np.ndarray:
        geometry = self.geometry
        t, z, y, x = (np.asarray(p, dtype=np.int64) for p in positions)
        origin = geometry.voxel_origin(group)
        depth = t if geometry.d_axis == "t" else z
        volume_positions = [depth + origin[0], y + origin[1], x + origin[2]]
        volume = geometry.volume_of(group)
        windows = self._windows(volume_positions)
        matrices = self.synthesis.matrices(volume_positions, windows)
        out = np.empty([len(p) for p in volume_positions], dtype=np.float64)
        plane = len(y) * len(x)
        depth_rows = max(1, VOXEL_CHUNK // max(1, plane))
        y_rows = len(y) if plane <= VOXEL_CHUNK else max(1, VOXEL_CHUNK // max(1, len(x)))
        for d0 in range(0, len(depth), depth_rows):
            for y0 in range(0, len(y), y_rows):
                part = (slice(d0, d0 + depth_rows), slice(y0, y0 + y_rows), slice(None))
                chunk = [p[s] for p, s in zip(volume_positions, part)]
                out[part] = self._synthesise(volume, chunk, part, windows, matrices)
        return out.reshape([len(p) for p in positions])

    def _windows(self, positions: list[np.ndarray]) -> list[Box]:
        """Per level, the cells the voxels at the outer product of `positions` read."""
        voxels = Box(tuple((int(p.min()), int(p.max()) + 1) for p in positions))
        return [self.geometry.window(level, voxels) for level in range(self.geometry.levels)]

    def _synthesise(
        self,
        volume: int,
        positions: list[np.ndarray],
        part: tuple[slice, ...],
        whole: list[Box],
        matrices: list[list],
    ) -> np.ndarray:
        """Normalised values at the outer product of volume positions (d, y, x), which are
        `part` of the evaluation whose windows are `whole` and interpolations `matrices`."""
        windows = self._windows(positions)
        latents = [self.window(volume, level, w) for level, w in enumerate(windows)]
        sliced = [
            [
                matrix[rows, a - start : b - start]
                for matrix, rows, (a, b), start in zip(per_axis, part, window.ranges, outer.starts)
            ]
            for per_axis, window, outer in zip(matrices, windows, whole)
        ]
        features = self.synthesis.features(sliced, latents)
        return self.synthesis(features).reshape([len(p) for p in positions])
