"""GroupPlan: which voxels each small network owns, and how to put them back.

A group is one channel, one temporal phase (frames g, g+N, g+2N, ...: interlaced sampling) and
one spatial block. Groups are ordered so that neighbours in the list are neighbours in the data
(phases of a block first, blocks in snake order), which is what makes weight transfer and weight
residuals pay off. Groups are cut into chains of `keyframe_interval`; a chain never crosses a
channel, so chains are independent units of work and of random access.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import InvalidInputError


@dataclass(frozen=True)
class Group:
    """One group: a channel, a temporal phase and a spatial block (indices into the block grid)."""

    index: int
    channel: int
    phase: int
    block: tuple[int, int, int]


def snake_order(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """All cells of a grid, each one a face-neighbour of the one before (boustrophedon)."""
    if len(grid) == 1:
        return [(i,) for i in range(grid[0])]
    inner = snake_order(grid[1:])
    cells = []
    for i in range(grid[0]):
        cells.extend((i, *cell) for cell in (inner if i % 2 == 0 else inner[::-1]))
    return cells


@dataclass(frozen=True)
class GroupPlan:
    """Grouping of a canonical (T, C, Z, Y, X) array."""

    shape: tuple[int, int, int, int, int]
    time_groups: int
    block: tuple[int, int, int]
    keyframe_interval: int

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        block = tuple(int(b) for b in self.block)
        if len(shape) != 5 or min(shape) < 1:
            raise InvalidInputError(f"a group plan needs a 5D canonical shape, got {shape}.")
        if len(block) != 3 or min(block) < 1:
            raise InvalidInputError(f"block must be three sizes ≥ 1 (z, y, x), got {block}.")
        if self.time_groups < 1 or self.keyframe_interval < 1:
            raise InvalidInputError("time_groups and keyframe_interval must be at least 1.")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "time_groups", min(int(self.time_groups), shape[0]))
        object.__setattr__(self, "block", tuple(min(b, s) for b, s in zip(block, shape[2:])))
        object.__setattr__(self, "keyframe_interval", int(self.keyframe_interval))

    @property
    def grid(self) -> tuple[int, int, int]:
        """Number of blocks along z, y, x."""
        z, y, x = (math.ceil(s / b) for s, b in zip(self.shape[2:], self.block))
        return (z, y, x)

    @property
    def frames_per_group(self) -> int:
        return math.ceil(self.shape[0] / self.time_groups)

    @cached_property
    def _blocks(self) -> list[tuple[int, int, int]]:
        return snake_order(self.grid)  # type: ignore[return-value]

    @cached_property
    def _block_rank(self) -> dict[tuple[int, int, int], int]:
        return {b: i for i, b in enumerate(self._blocks)}

    @property
    def groups_per_channel(self) -> int:
        return len(self._blocks) * self.time_groups

    def __len__(self) -> int:
        return self.shape[1] * self.groups_per_channel

    def group(self, index: int) -> Group:
        if not 0 <= index < len(self):
            raise IndexError(f"group {index} out of range (plan has {len(self)} groups)")
        channel, rest = divmod(index, self.groups_per_channel)
        rank, phase = divmod(rest, self.time_groups)
        return Group(index, channel, phase, self._blocks[rank])

    def index_of(self, channel: int, phase: int, block: tuple[int, int, int]) -> int:
        rank = self._block_rank[block]
        return (channel * len(self._blocks) + rank) * self.time_groups + phase

    def __iter__(self):
        return (self.group(i) for i in range(len(self)))

    @property
    def coordinate_axes(self) -> tuple[str, ...]:
        """Axes a group's network takes as input: t only if a group holds several frames."""
        axes = []
        if self.frames_per_group > 1:
            axes.append("t")
        if self.shape[2] > 1:
            axes.append("z")
        return (*axes, "y", "x")

    @property
    def coordinate_extents(self) -> tuple[int, ...]:
        """Number of grid positions along each coordinate axis of a whole group."""
        sizes = {
            "t": self.frames_per_group,
            "z": self.block[0],
            "y": self.block[1],
            "x": self.block[2],
        }
        return tuple(sizes[a] for a in self.coordinate_axes)

    def frames(self, phase: int) -> range:
        return range(phase, self.shape[0], self.time_groups)

    def spatial_slices(self, block: tuple[int, int, int]) -> tuple[slice, slice, slice]:
        z, y, x = (
            slice(i * b, min((i + 1) * b, s)) for i, b, s in zip(block, self.block, self.shape[2:])
        )
        return (z, y, x)

    def group_shape(self, group: Group) -> tuple[int, int, int, int]:
        """(frames, z, y, x) of the voxels a group owns."""
        z, y, x = self.spatial_slices(group.block)
        return (
            len(self.frames(group.phase)),
            z.stop - z.start,
            y.stop - y.start,
            x.stop - x.start,
        )

    def index(self, group: Group) -> tuple[slice, int, slice, slice, slice]:
        """Where a group's voxels sit in a canonical array: (frames, channel, z, y, x)."""
        z, y, x = self.spatial_slices(group.block)
        return (slice(group.phase, None, self.time_groups), group.channel, z, y, x)

    def extract(self, array5d: np.ndarray, group: Group) -> np.ndarray:
        """The voxels of one group, (frames, z, y, x), copied out of a canonical array."""
        return np.ascontiguousarray(array5d[self.index(group)])

    def insert(self, array5d: np.ndarray, group: Group, values: np.ndarray) -> None:
        """Write one group's voxels back into a canonical array (inverse of extract)."""
        array5d[self.index(group)] = values

    def chains(self) -> list[range]:
        """Runs of group indices that start with a keyframe and never cross a channel."""
        chains = []
        per = self.groups_per_channel
        for channel in range(self.shape[1]):
            first = channel * per
            for start in range(first, first + per, self.keyframe_interval):
                chains.append(range(start, min(start + self.keyframe_interval, first + per)))
        return chains

    def chain_of(self, index: int) -> int:
        """Position in `chains()` of the chain that holds a group."""
        chains_per_channel = math.ceil(self.groups_per_channel / self.keyframe_interval)
        channel, rest = divmod(index, self.groups_per_channel)
        return channel * chains_per_channel + rest // self.keyframe_interval

    def groups_meeting(self, region: tuple[slice, ...]) -> list[Group]:
        """Groups that own at least one voxel of a canonical region (unit-step slices)."""
        t, c, z, y, x = region
        n = self.time_groups
        phases = [p for p in range(n) if t.start + (p - t.start) % n < min(t.stop, self.shape[0])]
        ranges = [
            range(sl.start // b, (sl.stop - 1) // b + 1) if sl.stop > sl.start else range(0)
            for sl, b in zip((z, y, x), self.block)
        ]
        found = [
            self.group(self.index_of(channel, phase, block))
            for channel in range(c.start, c.stop)
            for block in itertools.product(*ranges)
            for phase in phases
        ]
        return sorted(found, key=lambda g: g.index)
