"""The threshold map, for faint sparse signal: voxels above a threshold get weight 1, the rest a
floor, so background is still learned but cannot drown the structures."""

from __future__ import annotations

import math

import numpy as np

from .. import presets
from ..intensity import normalise
from .base import SaliencyMap, SaliencyMethod


def channel_thresholds(
    array5d: np.ndarray, lo: list[float], hi: list[float], threshold: float | None
) -> list[float]:
    """One normalised threshold per channel: the given one, or Otsu's on an even subsample
    (a strided read of about presets.OTSU_SAMPLE voxels, never the whole array)."""
    if threshold is not None:
        return [threshold] * array5d.shape[1]
    t, _, z, y, x = array5d.shape
    stride = max(1, math.ceil((t * z * y * x / presets.OTSU_SAMPLE) ** 0.25))
    step = slice(None, None, stride)
    return [
        otsu_threshold(normalise(np.asarray(array5d[step, c, step, step, step]), lo[c], hi[c]))
        for c in range(array5d.shape[1])
    ]


def otsu_threshold(normalised: np.ndarray) -> float:
    """Otsu's threshold of normalised intensities (the value itself for a constant image)."""
    from skimage.filters import threshold_otsu

    flat = normalised.reshape(-1)
    if np.ptp(flat) == 0:
        return float(flat[0])
    return float(threshold_otsu(flat))


def threshold_map(normalised: np.ndarray, threshold: float, floor: float) -> np.ndarray:
    """Weight 1 above the threshold, `floor` elsewhere (float32, same shape)."""
    return np.where(normalised > threshold, np.float32(1), np.float32(floor))


class _ThresholdMap(SaliencyMap):
    def __init__(self, thresholds: list[float], floor: float) -> None:
        self.thresholds = thresholds
        self.floor = floor

    def weights(self, values, channel, index):
        return threshold_map(values, self.thresholds[channel], self.floor)


class ThresholdMethod(SaliencyMethod):
    name = "threshold"
    summary = "sparse, faint signal: voxels above the threshold (Otsu's unless given)"

    def prepare(self, array5d, lo, hi, config) -> SaliencyMap:
        thresholds = channel_thresholds(array5d, lo, hi, config.threshold)
        return _ThresholdMap(thresholds, config.saliency_floor)


METHOD = ThresholdMethod()
