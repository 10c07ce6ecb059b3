"""Saliency maps and the sampler that turns them into training coordinates.

A saliency map holds, per voxel, how much that voxel should be sampled during fitting. The
threshold map keeps faint sparse signal (voxels above a threshold get weight 1, the rest a floor so
background is still learned); the uniform map samples every voxel alike. A map edited by the user
(a napari layer) is taken as is: integers and booleans mean "labelled or not", floats are clipped
to [0, 1]; the floor is applied in every case. The learned map (Grad-CAM over structure
classes) lives in gradcam.py; `learn_saliency` trains it for one encode.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.filters import threshold_otsu

from .errors import InvalidInputError
from .gradcam import LearnedSaliency

OTSU_SAMPLE = 1 << 20

Saliency = np.ndarray | LearnedSaliency | None
"""What an encode samples by besides its config: an edited map (canonical array), a trained
learned map, or nothing (the config's method)."""


def normalise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Intensities mapped to [0, 1] by a channel's range (zeros for a constant channel)."""
    scaled = np.asarray(values, dtype=np.float32) - np.float32(lo)
    return scaled / np.float32(hi - lo) if hi > lo else np.zeros_like(scaled)


def channel_thresholds(
    array5d: np.ndarray, lo: list[float], hi: list[float], threshold: float | None
) -> list[float]:
    """One normalised threshold per channel: the given one, or Otsu's on an even subsample
    (a strided read of about OTSU_SAMPLE voxels, never the whole array)."""
    if threshold is not None:
        return [threshold] * array5d.shape[1]
    t, _, z, y, x = array5d.shape
    stride = max(1, math.ceil((t * z * y * x / OTSU_SAMPLE) ** 0.25))
    step = slice(None, None, stride)
    return [
        otsu_threshold(normalise(np.asarray(array5d[step, c, step, step, step]), lo[c], hi[c]))
        for c in range(array5d.shape[1])
    ]


def otsu_threshold(normalised: np.ndarray) -> float:
    """Otsu's threshold of normalised intensities (the value itself for a constant image)."""
    flat = normalised.reshape(-1)
    if np.ptp(flat) == 0:
        return float(flat[0])
    return float(threshold_otsu(flat))


def learn_saliency(
    array5d: np.ndarray, lo: list[float], hi: list[float], config
) -> LearnedSaliency:
    """Train the learned map on an array, its objects defined by the config's threshold."""
    thresholds = channel_thresholds(array5d, lo, hi, config.threshold)
    return LearnedSaliency.fit(
        array5d, lambda values, c: normalise(values, lo[c], hi[c]), thresholds, config.seed
    )


def threshold_map(normalised: np.ndarray, threshold: float, floor: float) -> np.ndarray:
    """Weight 1 above the threshold, `floor` elsewhere (float32, same shape)."""
    return np.where(normalised > threshold, np.float32(1), np.float32(floor))


def user_map(saliency: np.ndarray, floor: float) -> np.ndarray:
    """A map handed in by the user (painted labels or a float map) as weights in [floor, 1]."""
    if saliency.dtype.kind in "biu":
        return np.where(saliency > 0, np.float32(1), np.float32(floor))
    if saliency.dtype.kind != "f":
        raise InvalidInputError(
            f"a saliency map must hold numbers or booleans (got dtype {saliency.dtype})."
        )
    weights = np.nan_to_num(saliency.astype(np.float32, copy=False), nan=0.0)
    return np.maximum(np.clip(weights, 0, 1), np.float32(floor))


class CoordinateSampler:
    """Draws flat voxel indices of one group, uniformly or in proportion to a weight map."""

    def __init__(
        self,
        n_voxels: int,
        weights: np.ndarray | None,
        generator: torch.Generator,
        device: torch.device,
    ) -> None:
        self.n_voxels = n_voxels
        self.generator = generator
        self.device = device
        self._cdf: torch.Tensor | None = None
        if weights is not None:
            w = torch.as_tensor(weights.reshape(-1), dtype=torch.float64)
            if w.numel() != n_voxels:
                raise InvalidInputError(
                    f"saliency map has {w.numel()} voxels for a group of {n_voxels}."
                )
            cdf = torch.cumsum(w, 0)
            cdf /= cdf[-1].clone()
            self._cdf = cdf.to(torch.float32 if device.type == "cuda" else torch.float64).to(device)

    def sample(self, batch: int) -> torch.Tensor:
        if self._cdf is None:
            return torch.randint(
                0, self.n_voxels, (batch,), generator=self.generator, device=self.generator.device
            ).to(self.device)
        u = torch.rand(
            batch, generator=self.generator, device=self.generator.device, dtype=self._cdf.dtype
        )
        idx = torch.searchsorted(self._cdf, u.to(self.device))
        return idx.clamp_(max=self.n_voxels - 1)
