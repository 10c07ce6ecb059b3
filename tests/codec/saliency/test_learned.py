"""Learned saliency: Grad-CAM of the structure network, the combined map, compression with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import napari_sincs as sincs
from helpers import FAST, flat_psnr, load
from napari_sincs.codec.errors import InvalidInputError
from napari_sincs.codec.intensity import intensity_range, normalise
from napari_sincs.codec.saliency.learned import (
    STRUCTURES,
    LearnedSaliency,
    _class_maps,
    learn_saliency,
)


def _disks(size: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright disks on a dim noisy background, and the disk mask."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    for cy, cx in rng.integers(12, size - 12, (6, 2)):
        mask |= (y - cy) ** 2 + (x - cx) ** 2 < 36
    image = 200 + rng.normal(0, 5, (size, size)) + 1500 * mask
    return image.astype(np.uint16), mask


def _learned(array5d: np.ndarray, seed: int = 0) -> LearnedSaliency:
    lo, hi = intensity_range(array5d)
    return learn_saliency(array5d, lo, hi, None, seed)


@pytest.fixture(scope="module")
def disks() -> tuple[np.ndarray, np.ndarray, LearnedSaliency]:
    image, mask = _disks()
    return image, mask, _learned(image[None, None, None])


def test_grad_cam_of_a_pooled_network_is_the_relu_of_the_head_weighted_features(disks):
    """With global average pooling, the spatially summed gradient of class k's score with
    respect to feature map A_c is the head weight w_kc, so Grad-CAM must equal relu(Σ_c w_kc A_c)
    upsampled: an independent check of the gradient computation."""
    image, _, learned = disks
    plane = normalise(image, float(image.min()), float(image.max()))[None]
    maps = _class_maps(learned.net, plane)
    with torch.no_grad():
        _, features = learned.net(torch.from_numpy(plane)[:, None])
        weights = learned.net.head.weight
        for k in range(len(STRUCTURES)):
            cam = torch.relu(torch.einsum("c,bchw->bhw", weights[k], features))[:, None]
            expected = torch.nn.functional.interpolate(cam, size=plane.shape[-2:], mode="bilinear")
            np.testing.assert_allclose(maps[k], expected[:, 0].numpy(), rtol=1e-4, atol=1e-5)


def test_learned_map_concentrates_on_structures_and_is_reproducible(disks):
    image, mask, learned = disks
    array5d = image[None, None, None]
    plane = normalise(image, float(image.min()), float(image.max()))
    combined = learned.combined(plane)
    assert combined.shape == image.shape and combined.min() >= 0 and combined.max() <= 1
    assert combined[mask].mean() > 3 * combined[~mask].mean()
    again = _learned(array5d).combined(plane)
    np.testing.assert_array_equal(combined, again)
    weights = learned.weights(plane, 0.3)
    assert weights.min() >= 0.3 - 1e-6 and weights.max() <= 1 + 1e-6


def test_map_of_a_crop_matches_the_map_of_the_whole_plane_away_from_its_border():
    """Gradients are summed over space, so a group's block gets the map the whole plane has."""
    image = load("nuclei2d_crop.tif")
    learned = _learned(image[None, None, None])
    plane = normalise(image, float(image.min()), float(image.max()))
    whole = learned.combined(plane)
    crop = learned.combined(plane[32:96, 32:96])
    np.testing.assert_allclose(crop[16:-16, 16:-16], whole[48:80, 48:80], atol=0.05)


def test_planes_too_small_to_learn_from_are_refused_with_advice():
    with pytest.raises(InvalidInputError, match="threshold"):
        _learned(np.zeros((1, 1, 4, 6, 6), np.uint16))


@pytest.mark.slow
def test_compress_with_learned_saliency_records_it_and_beats_a_flat_guess(tmp_path):
    image = load("nuclei3d_crop.tif")
    weights = sincs.saliency_map(image, axes="zyx", saliency="learned", saliency_floor=0.2)
    assert weights.shape == image.shape and weights.min() >= 0.2 - 1e-6
    assert weights.max() > 0.9, "the most salient voxels get (nearly) full weight"
    path = tmp_path / "n.sincs"
    report = sincs.compress(image, path, axes="zyx", config=FAST, saliency="learned")
    assert report.psnr > flat_psnr(image) + 3
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.config.saliency == "learned"
