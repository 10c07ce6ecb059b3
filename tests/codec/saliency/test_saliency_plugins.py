"""A saliency method is a plug-in: this file alone adds one and compresses with it.

The toy method weights voxels by how far they sit from their channel's median: edges of
neither sign are special, just a different map from the threshold's.
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, flat_psnr, load
from napari_sincs.cli import build_parser
from napari_sincs.codec import saliency
from napari_sincs.codec.saliency.base import SaliencyMap, SaliencyMethod


class _Distance(SaliencyMap):
    def __init__(self, medians: list[float], floor: float) -> None:
        self.medians = medians
        self.floor = floor

    def weights(self, values, channel, index):
        distance = np.abs(values - self.medians[channel])
        top = float(distance.max()) or 1.0
        return np.maximum(distance / top, self.floor).astype(np.float32)


class DistanceMethod(SaliencyMethod):
    name = "distance"
    summary = "far from the median (a test's toy)"
    preview_levels = 2

    def prepare(self, array5d, lo, hi, config):
        medians = [
            (float(np.median(array5d[:, c])) - lo[c]) / ((hi[c] - lo[c]) or 1.0)
            for c in range(array5d.shape[1])
        ]
        return _Distance(medians, config.saliency_floor)


@pytest.fixture
def distance_method():
    saliency.register(DistanceMethod())
    yield
    saliency.METHODS.remove("distance")


def test_a_registered_method_guides_compression_and_is_offered(distance_method, tmp_path):
    data = load("nuclei2d_crop.tif")
    weights = sincs.saliency_map(data, saliency="distance", saliency_floor=0.2)
    assert weights.shape == data.shape and weights.min() >= 0.2 and weights.max() == 1.0
    path = tmp_path / "distance.sincs"
    report = sincs.compress(data, path, config=FAST, saliency="distance")
    assert sincs.metrics.psnr(data, sincs.decode(path)) > flat_psnr(data) + 3
    assert report.ratio >= FAST.ratio
    options = build_parser().parse_args(["compress", "in.tif", "--saliency", "distance"])
    assert options.saliency == "distance"
    assert saliency.get_method("distance").preview_levels == 2
    saliency.METHODS.remove("distance")
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.config.saliency == "distance", "decodes without the method"
        assert lazy[0:4, 0:4].shape == (4, 4)
    with pytest.raises(sincs.InvalidConfigError, match="saliency must be one of threshold"):
        sincs.CompressionConfig(saliency="distance")
