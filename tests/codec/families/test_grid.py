"""The grid family: training interpolation, exact decoding and their agreement."""

import itertools

import numpy as np
import pytest
import torch

from napari_sincs.codec.errors import CorruptFileError
from napari_sincs.codec.families.base import unflatten_parameters
from napari_sincs.codec.families.grid import ExactGrid, GridSpec, cell_exponent, grid_points
from napari_sincs.codec.format.quantize import quantise_chain

SPEC = GridSpec("grid", ("t", "y", "x"), (5, 40, 36), width=16, depth=2, levels=(3, 2), features=2)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights() -> np.ndarray:
    torch.manual_seed(0)
    model = SPEC.build()
    with torch.no_grad():
        for grid in model.grids:
            grid.normal_(0, 0.5)
    vector = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    quantised = quantise_chain(vector.numpy()[None], SPEC.parameter_shapes, 9.0)
    return quantised.dequantise(SPEC.parameter_shapes, np.float64)[0]


def _interpolate(grid: np.ndarray, index: tuple[int, ...], exponents: list[int]) -> np.ndarray:
    """Multilinear interpolation written out corner by corner: the definition in format.md."""
    total = np.zeros(grid.shape[0])
    for corner in itertools.product((0, 1), repeat=len(index)):
        weight, point = 1.0, []
        for i, c, k, n in zip(index, corner, exponents, grid.shape[1:]):
            low, fraction = i >> k, (i % 2**k) / 2**k
            weight *= fraction if c else 1 - fraction
            point.append(min(low + c, n - 1))
        total += weight * grid[(slice(None), *point)]
    return total


def test_cells_follow_the_levels_and_time_is_capped():
    assert [cell_exponent(40, 3, "y"), cell_exponent(5, 3, "t"), cell_exponent(2, 3, "x")] == [
        3,
        1,
        0,
    ]
    assert grid_points(40, 3, "y") == 6  # positions 0..39 in cells of 8: points at 0, 8, …, 40
    assert SPEC.n_parameters == sum(p.numel() for p in SPEC.build().parameters())
    assert [tuple(p.shape) for p in SPEC.build().parameters()] == SPEC.parameter_shapes


def test_training_interpolation_is_the_specified_one(weights):
    model = SPEC.build()
    unflatten_parameters(model, torch.from_numpy(weights).float())
    picks = [(0, 0, 0), (4, 39, 35), (2, 17, 9), (3, 8, 31)]
    with torch.no_grad():
        features = []
        for grid, level in zip(model.grids, SPEC.levels):
            exponents = [cell_exponent(e, level, a) for e, a in zip(SPEC.extents, SPEC.axes)]
            features.append(
                np.stack([_interpolate(grid.double().numpy(), p, exponents) for p in picks])
            )
        expected = model.forward_features(torch.from_numpy(np.concatenate(features, 1)).float())
        got = model.forward_indices(torch.tensor(picks))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_exact_decoder_matches_training_and_is_region_independent(weights):
    model = SPEC.build()
    unflatten_parameters(model, torch.from_numpy(weights).float())
    network = SPEC.exact(weights, CPU)
    assert isinstance(network, ExactGrid)
    full = network.evaluate([np.arange(5), np.arange(40), np.arange(36)])
    mesh = np.stack(np.meshgrid(np.arange(5), np.arange(40), np.arange(36), indexing="ij"), -1)
    with torch.no_grad():
        reference = model.forward_indices(torch.from_numpy(mesh.reshape(-1, 3))).reshape(5, 40, 36)
    np.testing.assert_allclose(full, reference.double().numpy(), atol=1e-3)
    rng = np.random.default_rng(1)
    for chunk in (7, 1000, 1 << 16):
        picks = [np.sort(rng.choice(n, k, replace=False)) for n, k in ((5, 2), (40, 9), (36, 31))]
        part = SPEC.exact(weights, CPU).evaluate(picks, chunk=chunk)
        assert np.array_equal(part, full[np.ix_(*picks)])


def test_grids_too_fine_for_exact_arithmetic_are_refused(weights):
    fine = weights.copy()
    fine[0] = 2.0**40
    fine[1] = 2.0**-20
    with pytest.raises(CorruptFileError, match="too fine"):
        ExactGrid(SPEC, fine, CPU)
