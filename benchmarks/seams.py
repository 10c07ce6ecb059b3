"""Seams: how much larger the jump between neighbouring voxels is across a tile border than
inside tiles (1.0 means the border does not show; the original image's own ratio at the same
borders is the reference)."""

from __future__ import annotations

import numpy as np

from napari_sincs.codec.layout import ArrayLayout


def border_ratio(
    data: np.ndarray, axes: str, block: tuple[int, int, int], shift: float = 0.0
) -> float | None:
    """Mean |difference| of neighbours across block borders (along z, y, x) over the mean
    inside blocks; None when the image has a single block. `shift` moves the borders by that
    fraction of a block: at 0.5 they fall mid-tile, a control that says how much the ratio
    varies with the content alone (a few border lines are a small sample)."""
    volume = ArrayLayout(axes, data.shape).to_canonical(data).astype(np.float64)
    across, inside = [], []
    for axis, size in zip((2, 3, 4), block):
        extent = volume.shape[axis]
        if size >= extent:
            continue
        jumps = np.abs(np.diff(volume, axis=axis))
        starts = np.zeros(extent - 1, dtype=bool)
        offset = round(shift * size) % size
        starts[np.arange(offset or size, extent, size) - 1] = True
        across.append(np.compress(starts, jumps, axis=axis).reshape(-1))
        inside.append(np.compress(~starts, jumps, axis=axis).reshape(-1))
    if not across:
        return None
    inside_mean = float(np.concatenate(inside).mean())
    return float(np.concatenate(across).mean()) / inside_mean if inside_mean else None
