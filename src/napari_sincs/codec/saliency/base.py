"""The interface a saliency method implements.

A saliency map holds, per voxel, how much that voxel should be sampled while fitting. A method
is prepared once per compression on the whole image (Otsu's thresholds, a trained network) and
then gives the weights of any group or region; the widget shows `preview_levels` levels of it
as paintable labels.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import numpy as np

from ...progress import SALIENCY, CancelToken, ProgressCallback, ProgressEvent, check, report

if TYPE_CHECKING:
    from ..config import CompressionConfig

Index = tuple[Any, ...]
"""A canonical (t, c, z, y, x) index: what a group or region is in the whole array."""


class SaliencyMap(abc.ABC):
    """A method prepared on one image."""

    @abc.abstractmethod
    def weights(self, values: np.ndarray, channel: int, index: Index) -> np.ndarray | None:
        """Sampling weights in [floor, 1] of the normalised voxels `values`, which sit at
        `index` of the canonical array and belong to `channel` (None: sample uniformly)."""


class SaliencyMethod(abc.ABC):
    """A way of deciding where training samples go."""

    name: str
    summary: str
    """One line for help texts: what the map is and when it suits."""
    preview_levels: int = 1
    """Label levels of the widget's editable preview (1: salient or not)."""
    live_preview: bool = True
    """Cheap enough for the preview to follow every change of the threshold and floor."""

    @abc.abstractmethod
    def prepare(
        self, array5d: np.ndarray, lo: list[float], hi: list[float], config: CompressionConfig
    ) -> SaliencyMap:
        """Everything the method learns from the whole image (never more than a subsample)."""

    def prepared(
        self,
        array5d: np.ndarray,
        lo: list[float],
        hi: list[float],
        config: CompressionConfig,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        part: tuple[int, int] = (0, 1),
    ) -> SaliencyMap:
        """`prepare`, reported as the saliency stage (part `part[0]` of `part[1]`) and
        cancellable before it starts; a method that trains overrides this to report its steps."""
        check(cancel)
        report(progress, ProgressEvent(part[0], part[1], 0, 1, 0.0, SALIENCY))
        prepared = self.prepare(array5d, lo, hi, config)
        report(progress, ProgressEvent(part[0], part[1], 1, 1, 0.0, SALIENCY))
        return prepared
