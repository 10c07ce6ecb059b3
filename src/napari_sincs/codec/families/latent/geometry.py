"""Where the latent grids lie: volumes, levels, tiles, and the interpolation between them.

A file's voxels are cut into volumes of axes (d, y, x): one per channel and interlaced time
group, where d is the group's frames for a 2D+T image, z for a z stack (each time point of a
3D+T image a volume of its own), and of extent 1 for a 2D image. Each volume has a pyramid of
one-feature latent grids: level l samples y and x every 2**(first + l) voxels and d every
2**max(0, first + l - d_lag) (d is kept finer: content changes less between planes than the
prototypes showed to be worth along y and x). A grid of a level has ceil(extent / 2**k) cells
along each axis.

The groups of the plan are tiles of the volume: a tile owns, at every level, the cells inside
its block. Blocks are multiples of the coarsest cell, so tiles partition every level exactly.
The entropy model never looks across a tile border (tiles decode independently), the synthesis
does (the image is one continuous function). A tile's finest level may be cut further into slabs
of `slab` cells along d, each coded on its own so that a plane decodes one slab of it, not the
whole tile's depth; the entropy model does not look across a slab border either.

Cell c of exponent k covers voxels [c * 2**k, (c + 1) * 2**k); a voxel i reads the grid at the
continuous cell coordinate (i + 0.5) / 2**k - 0.5 by linear interpolation between the two cells
around it (clamped at the grid's ends): weights that are exact binary fractions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from ...grouping import Group, GroupPlan

AXES = ("d", "y", "x")


@dataclass(frozen=True)
class Box:
    """A box of cells or voxels: one half-open (start, stop) per axis (d, y, x)."""

    ranges: tuple[tuple[int, int], ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(stop - start for start, stop in self.ranges)

    @property
    def starts(self) -> tuple[int, ...]:
        return tuple(start for start, _ in self.ranges)

    @property
    def slices(self) -> tuple[slice, ...]:
        return tuple(slice(start, stop) for start, stop in self.ranges)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def union(self, other: Box) -> Box:
        pairs = zip(self.ranges, other.ranges)
        return Box(tuple((min(a, c), max(b, d)) for (a, b), (c, d) in pairs))

    def intersection(self, other: Box) -> Box | None:
        """The cells both boxes hold, or None where they share none."""
        pairs = zip(self.ranges, other.ranges)
        ranges = tuple((max(a, c), min(b, d)) for (a, b), (c, d) in pairs)
        return Box(ranges) if all(a < b for a, b in ranges) else None

    def within(self, origin: tuple[int, ...]) -> tuple[slice, ...]:
        """Where this box lies in an array whose first cell is `origin`."""
        return tuple(slice(a - o, b - o) for (a, b), o in zip(self.ranges, origin))

    def parents(self, steps: tuple[int, ...]) -> Box:
        """The cells of the next coarser level (exponent steps per axis) that hold this box."""
        return Box(tuple((a >> s, ((b - 1) >> s) + 1) for (a, b), s in zip(self.ranges, steps)))

    def grown(self, margin: int, limits: tuple[int, ...]) -> Box:
        """The box with `margin` more on every side, within [0, limit)."""
        return Box(
            tuple(
                (max(0, a - margin), min(limit, b + margin))
                for (a, b), limit in zip(self.ranges, limits)
            )
        )


def cell_count(extent: int, exponent: int) -> int:
    return -(-extent // (1 << exponent))


def cell_window(start: int, stop: int, exponent: int, cells: int) -> tuple[int, int]:
    """Cells [lo, hi) that voxels [start, stop) interpolate between (at exponent 0 a voxel
    reads its own cell alone: the next one's weight is 0, and a plane then needs only its own
    slab of the finest level)."""
    if exponent == 0:
        return start, stop
    scale = 1 << exponent
    lo = (2 * start + 1 - scale) // (2 * scale)
    hi = (2 * (stop - 1) + 1 - scale) // (2 * scale) + 2
    return max(0, min(lo, cells - 1)), min(cells, max(hi, 1))


def interpolation(
    positions: np.ndarray, exponent: int, cells: int, window: tuple[int, int]
) -> np.ndarray:
    """(positions, window cells) linear interpolation weights: two exact binary fractions per
    row, on the cells (clamped to the grid) around each voxel's cell coordinate."""
    positions = np.asarray(positions, dtype=np.int64)
    if exponent == 0:
        own = positions - window[0]
        if len(positions) and (own.min() < 0 or own.max() >= window[1] - window[0]):
            raise ValueError(f"cells {window} do not cover the voxels' interpolation")
        matrix = np.zeros((len(positions), window[1] - window[0]), dtype=np.float64)
        matrix[np.arange(len(positions)), own] = 1.0
        return matrix
    scale = 1 << exponent
    numerator = 2 * positions + 1 - scale
    low = numerator // (2 * scale)
    fraction = (numerator - low * 2 * scale) / float(2 * scale)
    matrix = np.zeros((len(positions), window[1] - window[0]), dtype=np.float64)
    rows = np.arange(len(positions))
    first = np.clip(low, 0, cells - 1) - window[0]
    second = np.clip(low + 1, 0, cells - 1) - window[0]
    if len(positions) and (first.min() < 0 or second.max() >= matrix.shape[1]):
        raise ValueError(f"cells {window} do not cover the voxels' interpolation")
    matrix[rows, first] = 1.0 - fraction
    matrix[rows, second] += fraction
    return matrix


def separable(matrices: list[torch.Tensor], grid: torch.Tensor) -> torch.Tensor:
    """A level's cells (d, y, x) interpolated at the outer product of the positions that each
    axis's matrix (positions, cells) maps from: one product per axis, not one per voxel."""
    for axis, matrix in enumerate(matrices):
        grid = torch.movedim(torch.tensordot(matrix, grid, dims=([1], [axis])), 0, axis)
    return grid


class LatentGeometry:
    """The volumes, levels and tiles of a plan for a latent spec."""

    def __init__(
        self,
        plan: GroupPlan,
        levels: int,
        first: int,
        d_lag: int,
        slab: int = 0,
        context: str = "faces",
    ) -> None:
        self.plan = plan
        self.levels = levels
        self.context = context
        _, _, z, y, x = plan.shape
        self.d_axis = "z" if z > 1 else ("t" if plan.frames_per_group > 1 else "")
        depth = z if self.d_axis == "z" else plan.frames_per_group
        self.extents = (depth, y, x)
        tile_d = plan.block[0] if self.d_axis == "z" else depth
        self.tile = (tile_d, plan.block[1], plan.block[2])
        self.exponents: list[tuple[int, int, int]] = []
        for level in range(levels):
            k = first + level
            kd = max(0, k - d_lag) if depth > 1 else 0
            self.exponents.append((kd, k, k))
        self.cells = [
            tuple(cell_count(e, k) for e, k in zip(self.extents, ks)) for ks in self.exponents
        ]
        self.tile_cells = [
            tuple(cell_count(size, k) for size, k in zip(self.tile, ks)) for ks in self.exponents
        ]
        self.tiles = tuple(-(-e // s) for e, s in zip(self.extents, self.tile))
        self.dims = 3 if depth > 1 else 2
        self.slabbed = bool(slab) and self.dims == 3
        self.slab = slab if self.slabbed else self.tile_cells[0][0]

    def tiles_align(self) -> bool:
        """Whether tiles partition every level (a block that does not span its axis must be a
        multiple of the coarsest cell along it) and slabs every tile's finest level."""
        top = self.exponents[-1]
        aligned = all(
            count == 1 or size % (1 << k) == 0 for count, size, k in zip(self.tiles, self.tile, top)
        )
        return aligned and (self.tiles[0] == 1 or self.tile_cells[0][0] % self.slab == 0)

    def context_cells(self, level: int) -> tuple[int, ...]:
        """Cells per axis of the blocks a level's entropy model context stays within: its
        tiles, and along d the slabs at the finest level."""
        if level:
            return self.tile_cells[level]
        return (self.slab, *self.tile_cells[0][1:])

    def slabs(self, tile: tuple[int, int, int]) -> list[Box]:
        """The finest level's cells of a tile, slab by slab along d."""
        box = self.tile_box(tile, 0)
        (start, stop), *rest = box.ranges
        return [Box(((a, min(stop, a + self.slab)), *rest)) for a in range(start, stop, self.slab)]

    @property
    def volumes(self) -> int:
        return self.plan.shape[1] * self.plan.time_groups

    def volume_of(self, group: Group) -> int:
        return group.channel * self.plan.time_groups + group.phase

    def tile_of(self, group: Group) -> tuple[int, int, int]:
        bd = group.block[0] if self.d_axis == "z" else 0
        return (bd, group.block[1], group.block[2])

    def group_at(self, volume: int, tile: tuple[int, int, int]) -> int:
        channel, phase = divmod(volume, self.plan.time_groups)
        block = (tile[0] if self.d_axis == "z" else 0, tile[1], tile[2])
        return self.plan.index_of(channel, phase, block)

    def tile_box(self, tile: tuple[int, int, int], level: int) -> Box:
        """The cells a tile owns at a level."""
        return Box(
            tuple(
                (j * per, min(cells, (j + 1) * per))
                for j, per, cells in zip(tile, self.tile_cells[level], self.cells[level])
            )
        )

    def voxel_origin(self, group: Group) -> tuple[int, int, int]:
        """Where a group's local positions start in its volume (d, y, x)."""
        slices = self.plan.spatial_slices(group.block)
        return (slices[0].start if self.d_axis == "z" else 0, slices[1].start, slices[2].start)

    def tiles_meeting(self, level: int, box: Box) -> list[tuple[int, int, int]]:
        """The tiles that own cells of `box` at a level."""
        ranges = [
            range(a // per, (b - 1) // per + 1)
            for (a, b), per in zip(box.ranges, self.tile_cells[level])
        ]
        return [(d, y, x) for d in ranges[0] for y in ranges[1] for x in ranges[2]]

    def window(self, level: int, voxels: Box) -> Box:
        """The cells of a level that the voxels of `voxels` interpolate between."""
        return Box(
            tuple(
                cell_window(a, b, k, cells)
                for (a, b), k, cells in zip(voxels.ranges, self.exponents[level], self.cells[level])
            )
        )

    def steps(self, level: int) -> tuple[int, ...]:
        """How many times each axis halves from `level` to the next coarser level."""
        return tuple(b - a for a, b in zip(self.exponents[level], self.exponents[level + 1]))

    def feature_bits(self) -> int:
        """Fraction bits an interpolated feature can need: integers times one weight per axis,
        each a multiple of 2**-(k + 1) (k > 0) or 1 (k = 0)."""
        return max(sum(k + 1 for k in ks if k) for ks in self.exponents)

    def latent_count(self) -> int:
        """Latents of every level of every volume."""
        return self.volumes * sum(math.prod(c) for c in self.cells)

    def voxel_count(self) -> int:
        return self.volumes * math.prod(self.extents)
