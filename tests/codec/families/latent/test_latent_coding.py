"""Latent blobs: range coding with probabilities that are the same bits everywhere."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from napari_sincs.codec.errors import CorruptFileError
from napari_sincs.codec.families.latent.coding import ExactArm, TileBlob, decode_tile, encode_tile
from napari_sincs.codec.families.latent.context import (
    SHAPES,
    coded_contexts,
    context_size,
    contexts,
    pass_order,
)
from napari_sincs.codec.families.latent.geometry import LatentGeometry
from napari_sincs.codec.families.latent.probability import (
    PRECISION,
    exp_neg,
    frequencies,
    quantise_parameters,
)
from napari_sincs.codec.format.quantize import quantise_chain
from napari_sincs.codec.grouping import GroupPlan

CPU = torch.device("cpu")


def _arm(inputs: int, seed: int = 0) -> ExactArm:
    rng = np.random.default_rng(seed)
    shapes = [(16, inputs), (16,), (16, 16), (16,), (2, 16), (2,)]
    vector = np.concatenate([rng.normal(0, 0.3, int(np.prod(s))) for s in shapes])
    weights = quantise_chain(vector[None].astype(np.float32), shapes, 8).dequantise(
        shapes, np.float64
    )[0]
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    return ExactArm([weights[a:b].reshape(s) for a, b, s in zip(bounds, bounds[1:], shapes)], CPU)


def test_exp_is_accurate_and_frequencies_are_whole_distributions():
    z = np.linspace(0, 60, 20001)
    np.testing.assert_allclose(exp_neg(z), np.exp(-z), rtol=1e-12)
    mu, scale = quantise_parameters(np.array([0.3, -2.2, 9.0]), np.array([-1.0, 0.5, 7.0]), -4, 5)
    counts = frequencies(mu, scale, -4, 5)
    assert (counts.sum(axis=1) == 1 << PRECISION).all() and counts.min() >= 1
    assert counts[0].argmax() == 4, "the mode sits at mu = 0.3, symbol 0"


def test_the_probability_tables_are_pinned():
    """These bits define the format: if they change, existing latent files decode wrong."""
    rng = np.random.default_rng(7)
    mu = rng.normal(0, 6, 5000)
    log_scale = rng.uniform(-4, 6, 5000)
    counts = frequencies(*quantise_parameters(mu, log_scale, -20, 20), -20, 20)
    digest = hashlib.sha256(counts.astype("<i8").tobytes()).hexdigest()
    assert digest == "05140d5e13ade4c0d4e4614f3d963c9e33ed08b5952329a7efc2083152b1e6df"


@pytest.mark.parametrize("context", SHAPES)
@pytest.mark.parametrize(
    ("shape", "slab"),
    [((1, 1, 1, 200, 300), 0), ((1, 1, 40, 128, 96), 0), ((1, 1, 42, 128, 96), 4)],
)
def test_tiles_round_trip(shape, slab, context):
    plan = GroupPlan(shape, 1, (32, 128, 128), 1)
    geometry = LatentGeometry(plan, 5, 1, 1, slab, context)
    arm = _arm(context_size(geometry.dims, 5, context))
    rng = np.random.default_rng(1)
    for group in plan:
        tile = geometry.tile_of(group)
        latents = [
            np.clip(rng.laplace(0, 1.5 / (level + 1), geometry.tile_box(tile, level).shape), -9, 9)
            .round()
            .astype(np.int64)
            for level in range(5)
        ]
        latents[2][...] = 3  # a constant level codes no symbol
        blob = encode_tile(geometry, arm, tile, latents)
        decoded = decode_tile(geometry, arm, tile, blob)
        assert all(np.array_equal(a, b) for a, b in zip(latents, decoded))


def test_a_damaged_latent_blob_is_refused():
    plan = GroupPlan((1, 1, 1, 64, 64), 1, (1, 64, 64), 1)
    geometry = LatentGeometry(plan, 3, 1, 1)
    arm = _arm(context_size(2, 3))
    latents = [np.ones(geometry.tile_box((0, 0, 0), level).shape, np.int64) for level in range(3)]
    latents[0][0, 0, 0] = -2
    blob = encode_tile(geometry, arm, (0, 0, 0), latents)
    with pytest.raises(CorruptFileError):
        decode_tile(geometry, arm, (0, 0, 0), blob[:3])
    with pytest.raises(CorruptFileError, match="value range"):
        decode_tile(geometry, arm, (0, 0, 0), blob[:1] + b"\x05\x00\x01\x00" + blob[5:])


@pytest.mark.parametrize(
    ("shape", "block", "slab"),
    [
        ((1, 1, 1, 200, 300), (1, 128, 128), 0),
        ((1, 1, 40, 128, 96), (32, 64, 64), 0),
        ((1, 1, 40, 128, 96), (32, 64, 64), 4),
    ],
)
@pytest.mark.parametrize("context", SHAPES)
def test_the_coder_sees_the_contexts_training_priced(shape, block, slab, context):
    """The coder gathers contexts for the cells of one pass of one tile (or slab of its finest
    level); training builds them for whole boxes, masking what lies beyond the tile or slab.
    Both must be the same numbers, or the trained rate is not the coded one."""
    plan = GroupPlan(shape, 1, block, 1)
    geometry = LatentGeometry(plan, 5, 1, 1, slab, context)
    rng = np.random.default_rng(0)
    for group in plan:
        tile = geometry.tile_of(group)
        latents = [rng.integers(-9, 10, geometry.tile_box(tile, k).shape) for k in range(5)]
        for level in range(5):
            whole = geometry.tile_box(tile, level)
            coarse = latents[level + 1] if level < 4 else None
            origin = geometry.tile_box(tile, level + 1).starts if level < 4 else None
            for box in geometry.slabs(tile) if level == 0 else [whole]:
                own = tuple(slice(a - o, b - o) for (a, b), o in zip(box.ranges, whole.starts))
                for cells in pass_order(box):
                    priced = contexts(
                        geometry,
                        level,
                        box,
                        torch.from_numpy(latents[level].astype(np.float32)),
                        whole.starts,
                        None if coarse is None else torch.from_numpy(coarse.astype(np.float32)),
                        origin,
                        cells,
                    )
                    coded = coded_contexts(
                        geometry, level, box, latents[level][own], coarse, origin, cells
                    )
                    np.testing.assert_array_equal(priced.double().numpy(), _whole(coded, priced))


def _whole(coded, priced: torch.Tensor) -> np.ndarray:
    """The coder's contexts of a pass written out in full, a column per cell."""
    whole = np.zeros(tuple(priced.shape))
    inputs = coded.inputs if coded.inverse is None else coded.inputs[:, coded.inverse]
    whole[: len(inputs)] = inputs
    whole[list(coded.constant)] = 1.0
    return whole


def test_the_coder_prices_each_distinct_context_once_with_the_same_bits():
    """The first pass's cells see only their parent's neighbourhood: the coder evaluates the
    entropy model once per parent and folds the constant rows into the bias. Its outputs must
    be the bits of the whole network on every cell's whole context."""
    plan = GroupPlan((1, 1, 40, 128, 96), 1, (32, 64, 64), 1)
    geometry = LatentGeometry(plan, 5, 1, 1, 0)
    arm = _arm(context_size(3, 5), seed=3)
    rng = np.random.default_rng(4)
    tile = (0, 1, 0)
    latents = [rng.integers(-9, 10, geometry.tile_box(tile, k).shape) for k in range(5)]
    for level in range(5):
        box = geometry.tile_box(tile, level)
        coarse = latents[level + 1] if level < 4 else None
        origin = geometry.tile_box(tile, level + 1).starts if level < 4 else None
        for cells in pass_order(box):
            coded = coded_contexts(geometry, level, box, latents[level], coarse, origin, cells)
            if coded.inverse is not None:
                assert coded.inputs.shape[1] * 2 <= len(cells), "parents shared by anchors"
            whole = _whole(coded, torch.zeros(context_size(3, 5), len(cells)))
            h = arm.mlp.first(torch.from_numpy(whole))
            expected = arm.mlp.outputs(h).numpy()
            mu, log_scale = arm(coded)
            np.testing.assert_array_equal(np.stack([mu, log_scale]), expected)


def test_a_slab_decodes_from_the_coarse_levels_alone():
    plan = GroupPlan((1, 1, 40, 64, 64), 1, (32, 64, 64), 1)
    geometry = LatentGeometry(plan, 4, 1, 1, 4)
    arm = _arm(context_size(3, 4))
    rng = np.random.default_rng(2)
    tile = (1, 0, 0)
    latents = [rng.integers(-5, 6, geometry.tile_box(tile, k).shape) for k in range(4)]
    parsed = TileBlob(geometry, tile, encode_tile(geometry, arm, tile, latents))
    coarse = parsed.coarse(arm)
    assert coarse[0] is None and all(np.array_equal(a, b) for a, b in zip(coarse[1:], latents[1:]))
    slabs = geometry.slabs(tile)
    assert [b.shape[0] for b in slabs] == [4, 4], "the last tile's 8 planes in two slabs"
    np.testing.assert_array_equal(parsed.slab(arm, 1, coarse), latents[0][4:])
