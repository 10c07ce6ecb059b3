"""A map handed in by the user (a painted napari layer, or any array of the image's shape).

Integers and booleans mean "labelled or not", floats are clipped to [0, 1]; the floor is applied
in every case, so background is still sampled.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .base import SaliencyMap, SaliencyMethod


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


class _UserMap(SaliencyMap):
    def __init__(self, map5d: np.ndarray, floor: float) -> None:
        self.map5d = map5d
        self.floor = floor

    def weights(self, values, channel, index):
        return user_map(np.ascontiguousarray(self.map5d[index]), self.floor)


class UserMethod(SaliencyMethod):
    """The map itself is the method: one instance per compression, holding the canonical map."""

    name = "user"
    summary = "a map of the image's shape: painted labels or weights in [0, 1]"

    def __init__(self, map5d: np.ndarray) -> None:
        self.map5d = map5d

    def prepare(self, array5d, lo, hi, config) -> SaliencyMap:
        return _UserMap(self.map5d, config.saliency_floor)
