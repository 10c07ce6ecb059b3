import numpy as np
import pytest
import torch

from napari_sincs.codec.errors import InvalidInputError
from napari_sincs.codec.saliency import (
    CoordinateSampler,
    otsu_threshold,
    threshold_map,
    user_map,
)


def test_threshold_map_has_weight_one_above_and_floor_below(nuclei2d):
    normalised = (nuclei2d - nuclei2d.min()) / np.ptp(nuclei2d)
    level = otsu_threshold(normalised)
    assert 0 < level < 1
    weights = threshold_map(normalised, level, 0.2)
    assert set(np.unique(weights).tolist()) == {np.float32(0.2), 1.0}
    np.testing.assert_array_equal(weights == 1, normalised > level)


def test_user_maps_labels_and_floats():
    labels = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    np.testing.assert_allclose(user_map(labels, 0.1), [[0.1, 1], [1, 0.1]])
    floats = np.array([[0.05, 0.5], [np.nan, 7.0]], dtype=np.float32)
    np.testing.assert_allclose(user_map(floats, 0.1), [[0.1, 0.5], [0.1, 1.0]])
    with pytest.raises(InvalidInputError, match="numbers or booleans"):
        user_map(np.array([["a"]]), 0.1)


def test_sampler_draws_in_proportion_to_the_weights():
    weights = np.array([1.0, 0.0, 3.0, 0.5], dtype=np.float32)
    generator = torch.Generator().manual_seed(0)
    sampler = CoordinateSampler(4, weights, generator, torch.device("cpu"))
    counts = np.bincount(sampler.sample(200_000).numpy(), minlength=4) / 200_000
    np.testing.assert_allclose(counts, weights / weights.sum(), atol=0.01)


def test_uniform_sampler_covers_every_voxel():
    generator = torch.Generator().manual_seed(0)
    sampler = CoordinateSampler(10, None, generator, torch.device("cpu"))
    counts = np.bincount(sampler.sample(100_000).numpy(), minlength=10)
    assert counts.min() > 9000
