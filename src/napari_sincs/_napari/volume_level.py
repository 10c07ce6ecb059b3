"""The 3D view of a .sincs layer at the finest level that fits a voxel budget.

napari renders a multiscale layer in 3D from its coarsest level, which for a file whose levels
halve only y and x looks blocky. When a viewer switches to 3D, every .sincs layer is locked to
the finest level whose volume has at most NAPARI_SINCS_VOLUME_VOXELS voxels (default 2**20:
about half a second of decoding on a CPU, once; the tiles are cached); back in 2D the lock is
lifted. A level the user locked is left alone, in 3D and after it.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

from .env import env_number

DEFAULT_VOXELS = 1 << 20
LOCKED_KEY = "sincs_volume_level"
"""Layer metadata: the level this module locked (so that only its own lock is lifted)."""
_FOLLOWED: weakref.WeakSet[Any] = weakref.WeakSet()


def volume_budget() -> int:
    return max(1, int(env_number("NAPARI_SINCS_VOLUME_VOXELS", DEFAULT_VOXELS)))


def finest_level(level_shapes: list[tuple[int, ...]], displayed: list[int], budget: int) -> int:
    """The first (finest) level whose displayed volume fits `budget` voxels, else the coarsest."""
    for level, shape in enumerate(level_shapes):
        if math.prod(int(shape[axis]) for axis in displayed) <= budget:
            return level
    return len(level_shapes) - 1


def follow(viewer: Any) -> None:
    """Keep `viewer`'s .sincs layers at the finest level that fits while it shows 3D (once per
    viewer; a layer added in 3D is locked as it arrives)."""
    if viewer is None or viewer in _FOLLOWED:
        return
    _FOLLOWED.add(viewer)
    viewer.dims.events.ndisplay.connect(lambda event: apply(viewer))
    viewer.layers.events.inserted.connect(lambda event: apply(viewer))
    apply(viewer)


def apply(viewer: Any) -> None:
    three_d = viewer.dims.ndisplay == 3
    for layer in viewer.layers:
        if "sincs_path" not in layer.metadata or not getattr(layer, "multiscale", False):
            continue
        ours = layer.metadata.get(LOCKED_KEY)
        mine = ours is not None and layer.locked_data_level == ours
        if ours is not None and not mine:
            layer.metadata.pop(LOCKED_KEY)
        if three_d and (mine or layer.locked_data_level is None):
            offset = viewer.dims.ndim - layer.ndim
            displayed = [axis - offset for axis in viewer.dims.displayed if axis >= offset]
            level = finest_level(list(layer.level_shapes), displayed, volume_budget())
            layer.metadata[LOCKED_KEY] = level
            layer.locked_data_level = level
        elif not three_d and mine:
            layer.metadata.pop(LOCKED_KEY)
            layer.locked_data_level = None
