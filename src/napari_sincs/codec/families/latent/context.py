"""The entropy model's context: what the auto-regressive model sees of a latent's neighbours.

Levels are coded coarse to fine, each in two checkerboard passes over its cells: first the
cells whose (d + y + x) is even (anchors), then the others. A cell's context is

* the coarser level around its parent (parent = cell >> the exponent step along each axis):
  the 3x3 neighbourhood in (y, x), and the parent's two neighbours along d in a volume;
* in the second pass, its face neighbours in its own level (all anchors, already decoded):
  4 in a plane, 6 in a volume; zeros in the first pass;
* whether it is in the second pass, and a one-hot of its level.

Neighbours outside the grid or outside the cell's tile read as 0, so a tile decodes without any
other tile. Every pass of every level is one batched evaluation: decoding is parallel.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional

from .geometry import Box, LatentGeometry

PLANE = ((0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1))
DEPTH = ((-1, 0, 0), (1, 0, 0))
NINE = tuple((0, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def offsets(dims: int) -> tuple[tuple, tuple]:
    """(coarser-level offsets around the parent, same-level offsets) for 2 or 3 dims."""
    if dims == 3:
        return NINE + DEPTH, DEPTH + PLANE
    return NINE, PLANE


def context_size(dims: int, levels: int) -> int:
    coarse, same = offsets(dims)
    return len(coarse) + len(same) + 1 + levels


def _valid(box: Box, offset: tuple[int, ...], cells, per_tile) -> np.ndarray:
    """Whether each cell of `box` + `offset` lies in the grid and in the cell's own tile."""
    masks = []
    for (a, b), o, n, per in zip(box.ranges, offset, cells, per_tile):
        centre = np.arange(a, b)
        moved = centre + o
        masks.append((moved >= 0) & (moved < n) & (moved // per == centre // per))
    return masks[0][:, None, None] & masks[1][None, :, None] & masks[2][None, None, :]


def _neighbours(
    values: torch.Tensor,
    origin: tuple[int, ...],
    box: Box,
    shifts: tuple[tuple, ...],
    cells,
    per_tile,
) -> list[torch.Tensor]:
    """values at `box` + each shift (0 outside the grid or the tile), from a slice of a level
    that starts at `origin` and holds every neighbour inside the grid."""
    padded = functional.pad(values, (1, 1, 1, 1, 1, 1))
    out = []
    for shift in shifts:
        index = tuple(
            slice(a - o + s + 1, b - o + s + 1) for (a, b), o, s in zip(box.ranges, origin, shift)
        )
        mask = torch.from_numpy(_valid(box, shift, cells, per_tile)).to(values.dtype)
        out.append(padded[index] * mask)
    return out


def contexts(
    geometry: LatentGeometry,
    level: int,
    box: Box,
    same: torch.Tensor,
    same_origin: tuple[int, ...],
    coarse: torch.Tensor | None,
    coarse_origin: tuple[int, ...] | None,
    cells: np.ndarray | None = None,
) -> torch.Tensor:
    """Context vectors of a level's cells, feature-major: (context_size, cells of `box` in C
    order, or only the flat positions `cells` of them).

    `same` holds the level's values on a box starting at `same_origin` (covering `box` and its
    face neighbours that exist); `coarse` the next coarser level's around the parents, or None
    for the coarsest level.
    """
    coarse_offsets, same_offsets = offsets(geometry.dims)
    columns: list[torch.Tensor] = []
    if coarse is None:
        columns += [torch.zeros(box.shape, dtype=same.dtype, device=same.device)] * len(
            coarse_offsets
        )
    else:
        steps = geometry.steps(level)
        parents = box.parents(steps)
        around = _neighbours(
            coarse,
            coarse_origin,
            parents,
            coarse_offsets,
            geometry.cells[level + 1],
            geometry.tile_cells[level + 1],
        )
        stacked = torch.stack(around, dim=-1)
        for axis, ((a, b), step, start) in enumerate(zip(box.ranges, steps, parents.starts)):
            index = torch.from_numpy((np.arange(a, b) >> step) - start).to(same.device)
            stacked = stacked.index_select(axis, index)
        columns += list(stacked.unbind(dim=-1))
    parity = _parity(box).to(same.dtype).to(same.device)
    around = _neighbours(
        same, same_origin, box, same_offsets, geometry.cells[level], geometry.tile_cells[level]
    )
    columns += [values * parity for values in around]
    columns.append(parity)
    pick = None if cells is None else torch.from_numpy(cells).to(same.device)
    flat = [c.reshape(-1) if pick is None else c.reshape(-1)[pick] for c in columns]
    count = flat[0].shape[0]
    for other in range(geometry.levels):
        value = float(other == level)
        flat.append(torch.full((count,), value, dtype=same.dtype, device=same.device))
    return torch.stack(flat, dim=0)


def _parity(box: Box) -> torch.Tensor:
    """1 for the second checkerboard pass ((d + y + x) odd), 0 for anchors, over `box`."""
    d, y, x = (np.arange(a, b) for a, b in box.ranges)
    odd = (d[:, None, None] + y[None, :, None] + x[None, None, :]) % 2
    return torch.from_numpy(odd.astype(np.float64))


def pass_order(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Flat C-order positions within `box` of the first pass's cells, then the second's."""
    odd = _parity(box).numpy().reshape(-1) > 0
    return np.flatnonzero(~odd), np.flatnonzero(odd)
