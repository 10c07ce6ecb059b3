"""Seams: how much larger the jump between neighbouring voxels is across a tile border than
inside tiles (1.0 means the border does not show; the original image's own ratio at the same
borders is the reference).

Two measures: `border_ratio` against every jump inside the tiles, and `local_ratio` against the
jumps 2 and 4 lines either side of each border. The first moves with content: a z border in the
middle of a stack, where nuclei are dense, has larger jumps than the stack's mostly empty top
and bottom planes, and a decode that removes the empty planes' noise raises it further. The
second compares each border with its own neighbourhood."""

from __future__ import annotations

import numpy as np

from napari_sincs.codec.layout import ArrayLayout

LOCAL_OFFSETS = (-4, -2, 2, 4)


def border_ratio(
    data: np.ndarray, axes: str, block: tuple[int, int, int], shift: float = 0.0
) -> float | None:
    """Mean |difference| of neighbours across block borders (along z, y, x) over the mean
    inside blocks; None when the image has a single block. `shift` moves the borders by that
    fraction of a block: at 0.5 they fall mid-tile, a control that says how much the ratio
    varies with the content alone (a few border lines are a small sample)."""

    def lines(extent: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        offset = round(shift * size) % size
        borders = np.arange(offset or size, extent, size) - 1
        return borders, np.setdiff1d(np.arange(extent - 1), borders)

    return _ratio(data, axes, block, lines)


def local_ratio(data: np.ndarray, axes: str, block: tuple[int, int, int]) -> float | None:
    """Mean |difference| of neighbours across block borders over the mean of the same
    differences 2 and 4 lines away on either side, inside the two blocks; None when the image
    has a single block. Even offsets: the latent family's finest cells are 2 voxels wide in y
    and x, so its decodes' jumps alternate from line to line (hela_3ch at 100x: 0.62-0.66 of
    the original's on odd lines beside a border, 0.70-0.73 on even ones), and a border (a
    multiple of every cell) must be compared with lines of its own phase."""

    def lines(extent: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        borders = np.arange(size, extent, size) - 1
        near = {b + d for b in borders for d in LOCAL_OFFSETS}
        near = sorted(i for i in near if 0 <= i < extent - 1 and i not in set(borders))
        return borders, np.asarray(near, dtype=np.int64)

    return _ratio(data, axes, block, lines)


def _ratio(data: np.ndarray, axes: str, block: tuple[int, int, int], lines) -> float | None:
    """Mean |difference| of neighbours on the border lines over the mean on the control lines
    that `lines(extent, block size)` picks (indices into the differences along an axis), over
    every axis with more than one block; None where there is none."""
    volume = ArrayLayout(axes, data.shape).to_canonical(data).astype(np.float64)
    across, control = [], []
    for axis, size in zip((2, 3, 4), block):
        extent = volume.shape[axis]
        if size >= extent:
            continue
        jumps = np.abs(np.diff(volume, axis=axis))
        borders, others = lines(extent, size)
        across.append(np.take(jumps, borders, axis=axis).reshape(-1))
        control.append(np.take(jumps, others, axis=axis).reshape(-1))
    if not across:
        return None
    control_mean = float(np.concatenate(control).mean())
    return float(np.concatenate(across).mean()) / control_mean if control_mean else None


def measure_file(path, dataset) -> dict:
    """Both measures for one .sincs file of `dataset`, beside its original's, and the
    global one at lines halfway between borders (where no border is)."""
    import napari_sincs as sincs

    data = dataset.load()
    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        block = lazy.header.plan.block
        ratio = data.nbytes / path.stat().st_size
    decoded = sincs.decode(path)
    row = {"dataset": dataset.name, "file": path.name, "ratio": round(ratio, 1)}
    measures = {
        "seam": border_ratio(decoded, dataset.axes, block),
        "seam_original": border_ratio(data, dataset.axes, block),
        "seam_control": border_ratio(decoded, dataset.axes, block, shift=0.5),
        "seam_local": local_ratio(decoded, dataset.axes, block),
        "seam_local_original": local_ratio(data, dataset.axes, block),
    }
    return row | {k: "one tile" if v is None else round(v, 3) for k, v in measures.items()}
