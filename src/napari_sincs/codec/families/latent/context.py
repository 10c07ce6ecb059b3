"""The entropy model's context: what the auto-regressive model sees of a latent's neighbours.

Levels are coded coarse to fine, each in two checkerboard passes over its cells: first the
cells whose (d + y + x) is even (anchors), then the others. A cell's context, in the default
shape ("faces"), is

* the coarser level around its parent (parent = cell >> the exponent step along each axis):
  the 3x3 neighbourhood in (y, x), and the parent's two neighbours along d in a volume;
* in the second pass, its face neighbours in its own level (all anchors, already decoded):
  4 in a plane, 6 in a volume; zeros in the first pass;
* whether it is in the second pass, and a one-hot of its level.

The other shapes exist to measure what those parts buy: "parent" reads the coarser level at the
parent alone (and along d), "coarse" reads nothing of the cell's own level, "wide" adds the
nearest anchors beyond the faces (in a plane the 8 cells two steps along one axis and one along
the other, in a volume the 8 corners).

Neighbours outside the grid or outside the cell's tile (or, at the finest level, its slab) read
as 0, so a tile decodes without any other tile, and a slab of its finest level without the
others. Every pass of every level is one batched evaluation: decoding is parallel.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional

from .geometry import Box, LatentGeometry

PLANE = ((0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1))
DEPTH = ((-1, 0, 0), (1, 0, 0))
NINE = tuple((0, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
KNIGHT = (
    (0, -2, -1),
    (0, -2, 1),
    (0, -1, -2),
    (0, -1, 2),
    (0, 1, -2),
    (0, 1, 2),
    (0, 2, -1),
    (0, 2, 1),
)
CORNERS = tuple((dd, dy, dx) for dd in (-1, 1) for dy in (-1, 1) for dx in (-1, 1))
SHAPES = ("faces", "parent", "coarse", "wide")
CPU = torch.device("cpu")
DEFAULT = "faces"


def offsets(dims: int, shape: str = DEFAULT) -> tuple[tuple, tuple]:
    """(coarser-level offsets around the parent, same-level offsets) for 2 or 3 dims."""
    depth = DEPTH if dims == 3 else ()
    coarse = ((0, 0, 0), *depth) if shape == "parent" else NINE + depth
    same = () if shape == "coarse" else depth + PLANE
    if shape == "wide":
        same += CORNERS if dims == 3 else KNIGHT
    return coarse, same


def context_size(dims: int, levels: int, shape: str = DEFAULT) -> int:
    coarse, same = offsets(dims, shape)
    return len(coarse) + len(same) + 1 + levels


def reach(dims: int, shape: str = DEFAULT) -> int:
    """How many cells away along any axis a context reads."""
    coarse, same = offsets(dims, shape)
    return _margin(coarse + same)


def _margin(shifts: tuple[tuple, ...]) -> int:
    """The largest step along any axis of any shift."""
    return max(abs(s) for shift in shifts for s in shift)


@functools.lru_cache(maxsize=4096)
def _axis_mask(
    span: tuple[int, int],
    shift: int,
    cells: int,
    per_tile: int,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor | None:
    """Along one axis, whether each cell of `span` moved by `shift` stays in the grid and in its
    own tile (1 or 0 in `dtype`); None where all do (most shifts of most boxes: nothing to
    multiply). Kept: training asks for the same few boxes' masks at every step (they took 5% of
    a fit's time)."""
    centre = np.arange(*span)
    moved = centre + shift
    keep = (moved >= 0) & (moved < cells) & (moved // per_tile == centre // per_tile)
    return None if keep.all() else torch.from_numpy(keep).to(device, dtype)


def _neighbours(
    values: torch.Tensor,
    origin: tuple[int, ...],
    box: Box,
    shifts: tuple[tuple, ...],
    cells,
    per_tile,
) -> torch.Tensor:
    """values at `box` + each shift (0 outside the grid or the tile), stacked on a first axis,
    from a slice of a level that starts at `origin` and holds every neighbour inside the grid."""
    if not shifts:
        return values.new_zeros((0, *box.shape))
    margin = _margin(shifts)
    padded = functional.pad(values, (margin,) * 6)
    masks = {
        (axis, s): _axis_mask(
            box.ranges[axis], s, cells[axis], per_tile[axis], values.device, values.dtype
        )
        for shift in shifts
        for axis, s in enumerate(shift)
        if s
    }
    out = []
    for shift in shifts:
        index = tuple(
            slice(a - o + s + margin, b - o + s + margin)
            for (a, b), o, s in zip(box.ranges, origin, shift)
        )
        piece = padded[index]
        for axis, s in enumerate(shift):
            mask = masks.get((axis, s))
            if mask is not None:
                view = [1, 1, 1]
                view[axis] = -1
                piece = piece * mask.view(view)
        out.append(piece)
    return torch.stack(out)


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
    coarse_offsets, same_offsets = offsets(geometry.dims, geometry.context)
    pick = None if cells is None else torch.from_numpy(cells).to(same.device)
    count = box.size if pick is None else len(cells)
    if coarse is None:
        around = same.new_zeros((len(coarse_offsets), count))
    else:
        steps = geometry.steps(level)
        parents = box.parents(steps)
        around = _neighbours(
            coarse,
            coarse_origin,
            parents,
            coarse_offsets,
            geometry.cells[level + 1],
            geometry.context_cells(level + 1),
        )
        index = np.zeros((), dtype=np.int64)
        for (a, b), step, start, size in zip(box.ranges, steps, parents.starts, parents.shape):
            index = index[..., None] * size + ((np.arange(a, b) >> step) - start)
        index = index.reshape(-1) if cells is None else index.reshape(-1)[cells]
        flat = around.reshape(len(coarse_offsets), -1)
        around = flat.index_select(1, torch.from_numpy(index).to(same.device))
    parity = _parity(box, same.device, same.dtype)
    neighbours = _neighbours(
        same, same_origin, box, same_offsets, geometry.cells[level], geometry.context_cells(level)
    )
    levels = same.new_zeros((geometry.levels, count))
    levels[level] = 1.0
    parts = [around, _flat(neighbours * parity, pick), _flat(parity[None], pick), levels]
    return torch.cat(parts)


@dataclass(frozen=True)
class PassContexts:
    """What the entropy model sees of one pass's cells, as the coder gathers it: the context's
    first `inputs.shape[0]` rows (those that vary: the coarser level's and, in the second pass,
    the level's own) in `inputs`' columns, and which column each cell reads (`inverse`; None:
    one column per cell). The context's other rows are zeros except `constant`, which are 1
    (the pass's parity and the level's one-hot). In the first pass a cell sees only its
    parent's neighbourhood, so the cells sharing a parent share one column."""

    inputs: np.ndarray
    inverse: np.ndarray | None
    constant: tuple[int, ...]


def coded_contexts(
    geometry: LatentGeometry,
    level: int,
    box: Box,
    same: np.ndarray,
    coarse: np.ndarray | None,
    coarse_origin: tuple[int, ...] | None,
    cells: np.ndarray,
) -> PassContexts:
    """What `contexts` gives for the flat positions `cells` of one pass over a tile's `box` at a
    level (the tile's box, or a slab of its finest level), from its integer latents (`same` on
    `box`, `coarse` on the coarser level's tile box from `coarse_origin`): the coder needs half
    the box per pass, and nothing of the level itself in the first pass (its cells' neighbours
    are not decoded yet). The arrays end at the tile's or slab's border, so zero padding is what
    the mask does in `contexts`."""
    coarse_offsets, same_offsets = offsets(geometry.dims, geometry.context)
    local = np.unravel_index(cells, box.shape)
    odd = bool(len(cells)) and sum(int(c[0]) + a for c, a in zip(local, box.starts)) % 2 == 1
    rows = len(coarse_offsets) + (len(same_offsets) if odd else 0)
    parity = len(coarse_offsets) + len(same_offsets)
    constant = ((parity,) if odd else ()) + (parity + 1 + level,)
    parents = None
    if coarse is not None:
        steps = geometry.steps(level)
        parents = [
            ((c + start) >> step) - origin
            for c, start, step, origin in zip(local, box.starts, steps, coarse_origin)
        ]
    inverse = None
    if not odd:
        if parents is None:
            return PassContexts(np.zeros((rows, 1)), np.zeros(len(cells), np.int64), constant)
        keys = np.ravel_multi_index(parents, coarse.shape)
        present = np.zeros(coarse.size, dtype=bool)
        present[keys] = True
        inverse = (np.cumsum(present) - 1)[keys]
        parents = list(np.unravel_index(np.flatnonzero(present), coarse.shape))
    out = np.zeros((rows, len(cells) if inverse is None else len(parents[0])))
    if parents is not None:
        _gather(out[: len(coarse_offsets)], coarse, parents, coarse_offsets)
    if odd:
        _gather(out[len(coarse_offsets) :], same, list(local), same_offsets)
    return PassContexts(out, inverse, constant)


def _gather(out: np.ndarray, values: np.ndarray, cells: list[np.ndarray], shifts) -> None:
    """out[k] = values at `cells` (one index array per axis) + shifts[k], 0 outside `values`."""
    if not shifts:
        return
    margin = _margin(shifts)
    padded = np.pad(values, margin)
    flat = np.ravel_multi_index([c + margin for c in cells], padded.shape)
    _, rows, columns = padded.shape
    padded = padded.reshape(-1)
    for k, (d, y, x) in enumerate(shifts):
        out[k] = padded[flat + (d * rows + y) * columns + x]


def _flat(values: torch.Tensor, pick: torch.Tensor | None) -> torch.Tensor:
    """(columns, cells) of a (columns, d, y, x) array, or only the cells `pick`."""
    flat = values.reshape(values.shape[0], math.prod(values.shape[1:]))
    return flat if pick is None else flat[:, pick]


@functools.lru_cache(maxsize=1024)
def _parity(
    box: Box, device: torch.device = CPU, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """1 for the second checkerboard pass ((d + y + x) odd), 0 for anchors, over `box` (kept:
    training asks for the same boxes at every step; never written to)."""
    d, y, x = (np.arange(a, b) for a, b in box.ranges)
    odd = (d[:, None, None] + y[None, :, None] + x[None, None, :]) % 2
    return torch.from_numpy(odd.astype(np.float64)).to(device, dtype)


def pass_order(box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Flat C-order positions within `box` of the first pass's cells, then the second's."""
    odd = _parity(box).numpy().reshape(-1) > 0
    return np.flatnonzero(~odd), np.flatnonzero(odd)
