"""A trial on a crop: the quality and the time of a set of settings, seen in minutes before an
hour is committed to the whole image.

The crop holds about an eighth of the image around a point the user chose (all channels), is
compressed exactly as the whole image would be (same settings, same saliency edits, and the
network family `auto` chooses for the whole image) into a temporary file, verified and
decoded. Its time estimates the whole run on this machine, scaled by the share of the voxels
where the family's fitting time grows with them (more groups or tiles), and by the share of the
training steps for the latent family trained whole, whose time grows with its steps (more
patches per epoch, above a floor of steps that a crop often reaches). Intensities are
normalised over the crop, so a crop much darker or brighter than the image can do a little
better or worse than the whole.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .api import CompressionReport, compress, decode
from .codec.config import CompressionConfig
from .codec.families import get_family
from .codec.layout import ArrayLayout
from .progress import clock

SHARE = 8
"""The crop holds about 1/SHARE of the image's voxels, within MIN_VOXELS and MAX_VOXELS."""
MIN_VOXELS = 1 << 18
"""A smaller crop leaves too few bytes for the networks at usual ratios."""
MAX_VOXELS = 1 << 21
"""A trial must stay short on a big image."""
MIN_EXTENT = 16
"""Each cropped axis keeps at least this many samples (or all it has)."""


@dataclass(frozen=True)
class Trial:
    """What the crop's compression achieved, and the crop decoded from its file."""

    box: tuple[slice, ...]
    report: CompressionReport
    decoded: np.ndarray
    share: float
    """The crop's voxels over the image's."""
    time_scale: float
    """How many times the crop's time the whole run takes (_time_scale)."""

    @property
    def whole_seconds(self) -> float:
        """The whole image's compression time at the crop's rate on this machine."""
        return self.report.seconds * self.time_scale


def trial_box(shape: Sequence[int], axes: str, centre: Sequence[float]) -> tuple[slice, ...]:
    """The crop a trial compresses: every non-channel axis shrunk by one common factor to hold
    about 1/SHARE of the voxels (within MIN_VOXELS and MAX_VOXELS), centred on `centre` (a
    position per axis, in voxels) and moved inside the image where it would stick out."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != len(axes) or len(centre) != len(axes):
        raise ValueError(f"shape {shape}, axes {axes!r} and centre {tuple(centre)} must match")
    cropped = [i for i, axis in enumerate(axes) if axis != "c"]
    total = math.prod(shape[i] for i in cropped)
    target = min(max(total / SHARE, MIN_VOXELS), MAX_VOXELS)

    def extents(factor: float) -> list[int]:
        return [
            min(n, max(MIN_EXTENT, round(n * factor))) if i in cropped else n
            for i, n in enumerate(shape)
        ]

    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        if math.prod(extents(middle)[i] for i in cropped) <= target:
            low = middle
        else:
            high = middle
    box = []
    for n, extent, at in zip(shape, extents(low), centre):
        start = min(max(0, round(float(at) - extent / 2)), n - extent)
        box.append(slice(start, start + extent))
    return tuple(box)


def run_trial(
    data: Any,
    centre: Sequence[float],
    *,
    axes: str,
    saliency: str | np.ndarray | None = None,
    **settings: Any,
) -> Trial:
    """Compress the crop of `data` around `centre` with `settings` (any keyword `compress`
    takes but a path) and decode it. An edited saliency map of the image's shape is cropped
    with it. Raises what `compress` raises; a ratio the crop cannot reach is named by it."""
    config = _whole_config(data, axes, saliency, settings)
    settings = settings | {"family": config.family}
    box = trial_box(data.shape, axes, centre)
    crop = np.asarray(data[box])
    if isinstance(saliency, np.ndarray):
        saliency = np.asarray(saliency[box])
    with tempfile.TemporaryDirectory(prefix="sincs-trial-") as folder:
        path = Path(folder) / "trial.sincs"
        report = compress(crop, path, axes=axes, saliency=saliency, **settings)
        decoded = decode(path)
    scale = _time_scale(config, _canonical(data.shape, axes), _canonical(crop.shape, axes))
    return Trial(box, report, decoded, crop.size / math.prod(data.shape), scale)


def _whole_config(
    data: Any, axes: str, saliency: str | np.ndarray | None, settings: dict[str, Any]
) -> CompressionConfig:
    """The settings as one config, family "auto" chosen for the whole image: on the crop's shape
    auto could choose another family (the crop is smaller than the latent family's voxel limit
    and its file smaller than its byte floor), and the trial would then show another codec."""
    config = settings.get("config") or CompressionConfig()
    known = {field.name for field in dataclasses.fields(CompressionConfig)}
    config = config.replace(**{k: v for k, v in settings.items() if k in known})
    if isinstance(saliency, str):
        config = config.replace(saliency=saliency)
    cluster = bool(settings.get("workers") or settings.get("scheduler"))
    return config.for_shape(
        _canonical(data.shape, axes),
        isinstance(saliency, np.ndarray),
        cluster,
        np.dtype(data.dtype).itemsize,
    )


def _canonical(shape: Sequence[int], axes: str) -> tuple[int, ...]:
    return ArrayLayout(axes, tuple(int(n) for n in shape)).canonical_shape


def _time_scale(config: CompressionConfig, whole: tuple[int, ...], crop: tuple[int, ...]) -> float:
    """How many times the crop's time the whole run takes: the ratio of their training steps
    where the family's time grows with those (the latent family trained whole, whose presets
    have a floor of steps that small crops reach), else of their voxels."""
    resolved = config.resolved()
    family = get_family(resolved.family)
    steps = family.fit_steps(whole, resolved), family.fit_steps(crop, resolved)
    if None in steps:
        return math.prod(whole) / math.prod(crop)
    return steps[0] / steps[1]


def describe(trial: Trial) -> str:
    """One paragraph for a user: where the crop is, what it reached, what the whole will take."""
    report = trial.report
    where = ", ".join(
        f"{axis} {piece.start}–{piece.stop - 1}"
        for axis, piece in zip(report.axes, trial.box)
        if axis != "c"
    )
    return (
        f"Trial on a crop ({where}; 1/{1 / trial.share:.0f} of the image): ratio "
        f"{report.ratio:.1f}× · PSNR {report.psnr:.2f} dB · SSIM {report.ssim:.4f} · max error "
        f"{report.max_abs_error:g} in {clock(report.seconds)} on {report.device}. The whole image "
        f"with these settings: about {clock(trial.whole_seconds)} here."
    )
