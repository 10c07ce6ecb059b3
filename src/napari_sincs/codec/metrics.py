"""Quality measures used in reports, tests and benchmarks.

PSNR uses the data range of the original (max - min), SSIM is computed on 2D (y, x) slices and
averaged over every other axis, so 3D and time series get the mean over slices and frames.
"""

from __future__ import annotations

import math

import numpy as np


def psnr(original: np.ndarray, decoded: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; inf when identical."""
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(decoded, dtype=np.float64)
    if data_range is None:
        data_range = float(a.max() - a.min()) or 1.0
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def slice_ssim(original: np.ndarray, decoded: np.ndarray, data_range: float) -> float:
    """SSIM of one 2D image; nan when it is too small for the 3x3 smallest window."""
    from skimage.metrics import structural_similarity

    side = min(original.shape)
    if side < 3:
        return math.nan
    win = min(7, side if side % 2 else side - 1)
    return float(
        structural_similarity(
            np.asarray(original, dtype=np.float64),
            np.asarray(decoded, dtype=np.float64),
            data_range=data_range or 1.0,
            win_size=win,
        )
    )


def ssim(original: np.ndarray, decoded: np.ndarray, data_range: float | None = None) -> float:
    """Mean SSIM over the 2D slices spanned by the last two axes (y, x)."""
    a = np.asarray(original)
    b = np.asarray(decoded)
    if data_range is None:
        data_range = float(a.max()) - float(a.min())
    planes_a = a.reshape(-1, *a.shape[-2:])
    planes_b = b.reshape(-1, *b.shape[-2:])
    values = [slice_ssim(pa, pb, data_range) for pa, pb in zip(planes_a, planes_b)]
    return float(np.nanmean(values)) if not all(math.isnan(v) for v in values) else math.nan


class QualityAccumulator:
    """PSNR, mean-slice SSIM and largest error (and where it is) built up slice by slice
    (memory: one slice)."""

    def __init__(self, data_range: float, with_ssim: bool = True) -> None:
        self.data_range = data_range or 1.0
        self.with_ssim = with_ssim
        self.squared_error = 0.0
        self.max_error = 0.0
        self.max_error_at: tuple[int, ...] | None = None
        self.count = 0
        self.ssim_values: list[float] = []

    def add(self, original: np.ndarray, decoded: np.ndarray, where: tuple[int, ...] = ()) -> None:
        """Add one or more (y, x) planes; `where` is the index of these planes on the axes
        before them, so that the largest error has a place (`where` + its index in them)."""
        a = np.asarray(original, dtype=np.float64)
        b = np.asarray(decoded, dtype=np.float64)
        difference = np.abs(a - b)
        self.squared_error += float(np.sum(difference**2))
        if difference.size and (self.max_error_at is None or difference.max() > self.max_error):
            worst = np.unravel_index(int(np.argmax(difference)), difference.shape)
            self.max_error = float(difference[worst])
            self.max_error_at = tuple(where) + tuple(int(i) for i in worst)
        self.count += a.size
        if self.with_ssim:
            for pa, pb in zip(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:])):
                self.ssim_values.append(slice_ssim(pa, pb, self.data_range))

    @property
    def psnr(self) -> float:
        if self.squared_error == 0:
            return math.inf
        return 10 * math.log10(self.data_range**2 * self.count / self.squared_error)

    @property
    def ssim(self) -> float:
        valid = [v for v in self.ssim_values if not math.isnan(v)]
        return float(np.mean(valid)) if valid else math.nan
