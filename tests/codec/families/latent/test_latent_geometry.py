"""Latent grids: tiles partition every level, interpolation is the specified one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional

from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.families.latent import plan_for
from napari_sincs.codec.families.latent.context import context_size, contexts, pass_order
from napari_sincs.codec.families.latent.geometry import (
    Box,
    LatentGeometry,
    cell_window,
    interpolation,
)
from napari_sincs.codec.grouping import GroupPlan


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1, 300, 200), (48, 1, 1, 130, 130), (2, 2, 70, 64, 65), (1, 1, 31, 61, 57)],
)
def test_tiles_partition_every_level(shape):
    plan = plan_for(shape, CompressionConfig(family="latent", block=(16, 64, 64)))
    geometry = LatentGeometry(plan, 6, 1, 1)
    assert geometry.tiles_align()
    for level in range(geometry.levels):
        owner = np.full(geometry.cells[level], -1)
        for group in plan:
            if geometry.volume_of(group) != 0:
                continue
            box = geometry.tile_box(geometry.tile_of(group), level)
            assert (owner[box.slices] == -1).all(), "tiles overlap"
            owner[box.slices] = group.index
        assert (owner >= 0).all(), "every cell has a tile"


@pytest.mark.parametrize("exponent", [0, 1, 3])
def test_interpolation_is_linear_with_half_pixel_centres(exponent):
    cells = np.random.default_rng(0).normal(size=7)
    extent = 7 << exponent
    matrix = interpolation(np.arange(extent), exponent, 7, (0, 7))
    assert np.allclose(matrix.sum(axis=1), 1)
    reference = functional.interpolate(
        torch.from_numpy(cells)[None, None], size=extent, mode="linear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(matrix @ cells, reference, atol=1e-12)
    start, stop = extent // 4, extent // 4 + extent // 2
    lo, hi = cell_window(start, stop, exponent, 7)
    part = interpolation(np.arange(start, stop), exponent, 7, (lo, hi))
    np.testing.assert_array_equal(part, matrix[start:stop, lo:hi])
    outside = matrix[start:stop, :lo].sum() + matrix[start:stop, hi:].sum()
    assert outside == 0, "the window is enough"
    with pytest.raises(ValueError, match="do not cover"):
        interpolation(np.arange(start, stop), exponent, 7, (lo + 1, hi))


def test_contexts_see_only_the_coarser_level_anchors_and_their_tile():
    plan = GroupPlan((1, 1, 1, 128, 256), 1, (1, 128, 128), 1)
    geometry = LatentGeometry(plan, 3, 1, 1)
    rng = np.random.default_rng(0)
    grids = [torch.from_numpy(rng.integers(-3, 4, c).astype(np.float64)) for c in geometry.cells]
    tile = (0, 0, 1)
    box = geometry.tile_box(tile, 0)
    coarse_box = geometry.tile_box(tile, 1)

    def ctx(levels):
        return _contexts(levels).T

    def _contexts(levels):
        return contexts(
            geometry,
            0,
            box,
            levels[0][box.slices],
            box.starts,
            levels[1][coarse_box.slices],
            coarse_box.starts,
        )

    assert _contexts(grids).shape == (context_size(2, 3), box.size)
    reference = ctx(grids)
    other = [g.clone() for g in grids]
    other[0][:, :, : box.ranges[2][0]] = 9.0  # the left tile's cells at the same level
    other[1][:, :, : coarse_box.ranges[2][0]] = 9.0  # and at the coarser one
    assert torch.equal(ctx(other), reference), "nothing outside the tile is read"
    first, second = pass_order(box)

    def bumped(levels, cells):
        out = [g.clone() for g in levels]
        view = out[0][box.slices]
        view[np.unravel_index(cells, box.shape)] += 5.0
        return out

    changed = bumped(grids, second)
    assert torch.equal(ctx(changed)[first], reference[first]), "anchors never see the others"
    assert torch.equal(ctx(changed)[second], reference[second]), "nor the second pass itself"
    changed = bumped(grids, first)
    assert not torch.equal(ctx(changed)[second], reference[second]), "the second sees anchors"
    assert torch.equal(ctx(changed)[first], reference[first]), "nor anchors each other"


def test_a_box_is_what_it_says():
    box = Box(((0, 2), (3, 7), (1, 2)))
    assert box.shape == (2, 4, 1) and box.size == 8
    assert box.parents((1, 1, 1)) == Box(((0, 1), (1, 4), (0, 1)))
    assert box.grown(1, (2, 5, 9)) == Box(((0, 2), (2, 5), (0, 3)))


def test_interpolated_features_need_no_more_fraction_bits_than_the_geometry_says():
    """The decoder skips rounding features onto the synthesis's input grid when that grid has
    at least `feature_bits`: that is only exact if no feature needs more."""
    plan = GroupPlan((1, 1, 40, 70, 90), 1, (32, 64, 64), 1)
    geometry = LatentGeometry(plan, 6, 1, 1)
    bits = geometry.feature_bits()
    rng = np.random.default_rng(3)
    needed = 0
    for level, (exponents, cells) in enumerate(zip(geometry.exponents, geometry.cells)):
        grid = rng.integers(-255, 256, cells).astype(np.float64)
        features = grid
        for axis, (k, n, extent) in enumerate(zip(exponents, cells, geometry.extents)):
            matrix = interpolation(np.arange(extent), k, n, (0, n))
            features = np.moveaxis(np.tensordot(matrix, features, axes=([1], [axis])), 0, axis)
        scaled = features * 2.0**bits
        assert np.array_equal(scaled, np.round(scaled)), f"level {level} needs more bits"
        while not np.array_equal(features * 2.0**needed, np.round(features * 2.0**needed)):
            needed += 1
    assert needed == bits, "and the coarsest level needs them all"
