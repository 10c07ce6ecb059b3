"""Region and level decoding: evaluate only the networks of the groups a region meets.

A region is five slices in canonical (t, c, z, y, x) order, in the index space of a level:
level L samples y and x every 2**L voxels (pixel j of level L is voxel j * 2**L), so every level
of the pyramid is an exact subsampling of the full decode and costs 4**L times less.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import torch

from ..errors import CorruptFileError
from ..families import get_family
from ..families.base import GroupValues
from ..format.container import BlobSource
from ..format.header import FileHeader
from ..format.residual import GroupResidual
from ..grouping import Group
from .cache import LruCache

DamageCallback = Callable[[str, CorruptFileError], None]
"""Told, for each group a read could not decode, which voxels it owns and why."""


def level_shape(shape: tuple[int, ...], level: int) -> tuple[int, int, int, int, int]:
    """Canonical shape of a pyramid level: y and x divided by 2**level, rounded up."""
    t, c, z, y, x = shape
    f = 2**level
    return (t, c, z, math.ceil(y / f), math.ceil(x / f))


def level_count(shape: tuple[int, ...], smallest: int = 64) -> int:
    """Levels down to the first whose larger side is at most `smallest` pixels."""
    side = max(shape[3], shape[4])
    levels = 1
    while side > smallest:
        side = math.ceil(side / 2)
        levels += 1
    return levels


class Decoder:
    """Decodes regions of a .sincs file; thread-safe. The family's reader turns blobs into
    normalised group values (and caches what it decodes); residuals and intensities are here."""

    def __init__(self, source: BlobSource, device: torch.device | str = "cpu", cache: int = 256):
        self.source = source
        self.header = FileHeader.from_dict(source.header)
        self.plan = self.header.plan
        self.max_error = self.header.max_error
        family = get_family(self.header.model.family)
        self._network_blobs = family.blob_count(self.plan)
        expected = self._network_blobs + (len(self.plan) if self.max_error is not None else 0)
        if source.n_blobs != expected:
            raise CorruptFileError(
                f"{source.path.name} has {source.n_blobs} blobs where its group plan needs "
                f"{expected}; the file is damaged."
            )
        self.device = torch.device(device)
        self._lock = threading.Lock()
        self.values: GroupValues = family.reader(self.header, source, self.device, cache)
        self._residuals = LruCache(max(4, cache // 8))
        self.groups_evaluated = 0
        lo = np.asarray(self.header.intensity_min, dtype=np.float64)
        self._offset = lo
        self._span = np.asarray(self.header.intensity_max, dtype=np.float64) - lo

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.header.layout.canonical_shape

    def decode(
        self,
        region: tuple[slice, ...] | None = None,
        level: int = 0,
        on_damage: DamageCallback | None = None,
    ) -> np.ndarray:
        """Decode a canonical region (unit-step slices in level index space) to the file's dtype.

        A damaged blob raises CorruptFileError, unless `on_damage` is given: then the voxels of
        each group that cannot be decoded (its own blob or one its weights are chained to is
        damaged) are zeros, and `on_damage` hears which they are; the rest decodes as usual."""
        shape = level_shape(self.shape, level)
        region = _clip_region(region, shape)
        out = np.empty([s.stop - s.start for s in region], dtype=self.header.dtype)
        if out.size == 0:
            return out
        step = 2**level
        t, c, z, y, x = region
        full = (
            t,
            c,
            z,
            slice(y.start * step, (y.stop - 1) * step + 1),
            slice(x.start * step, (x.stop - 1) * step + 1),
        )
        for group in self.plan.groups_meeting(full):
            placed = self._placement(group, region, step)
            if placed is None:
                continue
            index, local = placed
            try:
                out[:, group.channel - region[1].start][index] = self._group_values(group, local)
            except CorruptFileError as exc:
                if on_damage is None:
                    raise
                out[:, group.channel - region[1].start][index] = 0
                on_damage(self.describe_group(group), exc)
        return out

    def describe_group(self, group: Group) -> str:
        """The voxels a group owns, in the file's axes at full resolution (for messages)."""
        plan, axes = self.plan, self.header.layout.axes
        spatial = dict(zip("zyx", plan.spatial_slices(group.block)))
        parts = []
        for axis in axes:
            if axis == "t":
                frames = plan.frames(group.phase)
                if len(frames) == 1 or plan.time_groups == 1:
                    last = frames[-1] + 1
                    parts.append(f"t {frames.start}" if len(frames) == 1 else f"t 0:{last}")
                else:
                    parts.append(f"t {frames[0]}, {frames[1]}, …")
            elif axis == "c":
                parts.append(f"c {group.channel}")
            else:
                parts.append(f"{axis} {spatial[axis].start}:{spatial[axis].stop}")
        return "; ".join(parts)

    def _placement(
        self, group: Group, region: tuple[slice, ...], step: int
    ) -> tuple[tuple[np.ndarray, ...], list[np.ndarray]] | None:
        """Where a group's voxels land in the region's output (an np.ix_ index into its
        (t, z, y, x) for the group's channel) and the group-local positions they come from;
        None when the group holds none of the region's voxels."""
        plan = self.plan
        t, _, z, y, x = region
        frames = np.asarray([f for f in plan.frames(group.phase) if t.start <= f < t.stop])
        where = {"t": frames - t.start}
        local = {"t": (frames - group.phase) // plan.time_groups}
        bz, by, bx = plan.spatial_slices(group.block)
        for name, sl, block, stride in (("z", z, bz, 1), ("y", y, by, step), ("x", x, bx, step)):
            lo = max(sl.start, -(-block.start // stride))
            hi = min(sl.stop, -(-block.stop // stride))
            positions = np.arange(lo, hi, dtype=np.int64)
            where[name] = positions - sl.start
            local[name] = positions * stride - block.start
        if any(len(v) == 0 for v in where.values()):
            return None
        index = np.ix_(where["t"], where["z"], where["y"], where["x"])
        return index, [local[a].astype(np.int64) for a in "tzyx"]

    def _group_values(
        self, group: Group, positions: list[np.ndarray], residual: bool = True
    ) -> np.ndarray:
        """A group's voxels at local (t, z, y, x) grid positions, in the file's dtype."""
        values = self._denormalise(self.values.evaluate(group, positions), group.channel)
        if residual and self.max_error is not None:
            values = self._residual(group).apply(values, np.ix_(*positions))
        with self._lock:
            self.groups_evaluated += 1
        return values

    def predict_group(self, group: Group) -> np.ndarray:
        """The networks' prediction of a whole group, (frames, z, y, x), without residual."""
        shape = self.plan.group_shape(group)
        return self._group_values(group, [np.arange(n) for n in shape], residual=False)

    def _residual(self, group: Group) -> GroupResidual:
        cached = self._residuals.get(group.index)
        if cached is not None:
            return cached
        blob = self.source.read_blob(self._network_blobs + group.index)
        shape = self.plan.group_shape(group)
        residual = GroupResidual(blob, shape, np.dtype(self.header.dtype), self.max_error)
        self._residuals.put(group.index, residual)
        return residual

    def _denormalise(self, values: np.ndarray, channel: int) -> np.ndarray:
        values = np.clip(values, 0.0, 1.0)
        values = values * self._span[channel] + self._offset[channel]
        dtype = np.dtype(self.header.dtype)
        if dtype.kind == "f":
            return values.astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def _clip_region(region: tuple[slice, ...] | None, shape: tuple[int, ...]) -> tuple[slice, ...]:
    if region is None:
        return tuple(slice(0, s) for s in shape)
    clipped = []
    for sl, size in zip(region, shape):
        start, stop, stride = sl.indices(size)
        if stride != 1:
            raise ValueError("decode regions take unit-step slices; subsample with `level`.")
        clipped.append(slice(start, max(start, stop)))
    return tuple(clipped)
