"""Intensity ranges and the [0, 1] scale networks and saliency maps work in."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .errors import InvalidInputError


def intensity_range(array5d: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel min and max of a canonical array, read plane by plane; rejects NaN and
    infinity."""
    channels = array5d.shape[1]
    lo = [math.inf] * channels
    hi = [-math.inf] * channels
    for t, c, z in itertools.product(*(range(n) for n in array5d.shape[:3])):
        plane = np.asarray(array5d[t, c, z])
        if plane.dtype.kind == "f" and not np.all(np.isfinite(plane)):
            raise InvalidInputError(
                "the array contains NaN or infinite values; replace them (e.g. "
                "numpy.nan_to_num) before compressing."
            )
        lo[c] = min(lo[c], float(plane.min()))
        hi[c] = max(hi[c], float(plane.max()))
    return lo, hi


def normalise(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Intensities mapped to [0, 1] by a channel's range (zeros for a constant channel)."""
    scaled = np.asarray(values, dtype=np.float32) - np.float32(lo)
    return scaled / np.float32(hi - lo) if hi > lo else np.zeros_like(scaled)
