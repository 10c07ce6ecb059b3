"""What one compression works on: the array, what it is, and what was learned about it once
(intensity range, prepared saliency), and how a group's training data is read from it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._version import __version__
from ...progress import CancelToken, ProgressCallback
from ..config import CompressionConfig
from ..families import get_family
from ..format.container import INDEX_ENTRY, pack
from ..format.header import FileHeader, ImageMetadata
from ..grouping import GroupPlan
from ..intensity import normalise
from ..layout import ArrayLayout
from ..saliency import SaliencyMap
from ..training.cluster import ClusterFitter
from .planning import Design

# The longest a float takes in the header's JSON (17 significant digits and a 3-digit exponent).
_LONGEST_FLOAT = -1.2345678901234567e-300
# Decimals the header keeps of the informative quality figures: their noise digits would cost
# about 15 bytes, a few percent of a file of a few hundred bytes.
STATS_DECIMALS = {"psnr": 2, "ssim": 4}
# The longest those take: a PSNR of 1000 dB or more would need errors below 1e-50 of the range.
_LONGEST_KEPT = -999.987654321


def _longest_stats(header: FileHeader) -> dict:
    """The stats written after verification (api._verify_and_write), at their longest: the
    header's size is reserved with them, so that writing them never breaks the byte budget.
    An integer image's largest error is a whole number within its type's span; reserving a
    float's 17 digits for it left 30 bytes of a 900-byte budget unused."""
    dtype = np.dtype(header.dtype)
    integer = dtype.kind in "iu"
    span = float(np.iinfo(dtype).max) - float(np.iinfo(dtype).min) if integer else None
    return {
        **{name: round(_LONGEST_KEPT, kept) for name, kept in STATS_DECIMALS.items()},
        "max_abs_error": span if integer else _LONGEST_FLOAT,
        "max_abs_error_at": [n - 1 for n in header.layout.shape],
        "device": "cuda:12",
    }


@dataclass(frozen=True)
class Job:
    """The fixed inputs of one encode, shared by every fit it tries."""

    array5d: np.ndarray
    layout: ArrayLayout
    metadata: ImageMetadata
    lo: list[float]
    hi: list[float]
    saliency: SaliencyMap
    progress: ProgressCallback | None = None
    cancel: CancelToken | None = None
    fitter: ClusterFitter | None = None

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        return self.array5d.shape

    @property
    def raw_bytes(self) -> int:
        return math.prod(self.array5d.shape) * self.array5d.dtype.itemsize

    @property
    def data_range(self) -> float:
        return max(self.hi) - min(self.lo)

    def header(
        self, config: CompressionConfig, chosen: Design, bits: float, stats: dict | None = None
    ) -> FileHeader:
        return FileHeader(
            layout=self.layout,
            dtype=str(self.array5d.dtype),
            metadata=self.metadata,
            intensity_min=tuple(self.lo),
            intensity_max=tuple(self.hi),
            config=config,
            plan=chosen.plan,
            model=chosen.spec,
            bits=round(bits, 3),
            codec_version=__version__,
            stats=stats or {},
        )

    def source(self, plan: GroupPlan, axes: tuple[str, ...]) -> GroupSource:
        return GroupSource(self, plan, axes)


def _shortest_stats(header: FileHeader) -> dict:
    """The stats of `_longest_stats` at their shortest."""
    return {
        **{name: 0.0 for name in STATS_DECIMALS},
        "max_abs_error": 0,
        "max_abs_error_at": [0] * len(header.layout.shape),
        "device": "cpu",
    }


def header_bytes(header: FileHeader) -> int:
    """Bytes of everything but the blobs, with room for the stats written after verification."""
    return _header_bytes(header, _longest_stats(header)) + 8


def header_slack(header: FileHeader) -> int:
    """How many of `header_bytes` the written header may leave unused (its stats shorter than
    reserved): a file that fills its budget by the reserved size can come out this much
    smaller (38-41 bytes on 1000x files of 1.2-1.6 kB, whose headers came out 23-29 bytes
    under the reserve)."""
    return header_bytes(header) - _header_bytes(header, _shortest_stats(header))


def _header_bytes(header: FileHeader, stats: dict) -> int:
    data = header.to_dict()
    data["stats"] = stats
    blobs = get_family(header.model.family).blob_count(header.plan)
    return len(pack(data, [])) + INDEX_ENTRY.size * blobs


class GroupSource:
    """Loads one group's normalised values and saliency weights, on demand, in the axes of
    the group's network."""

    def __init__(self, job: Job, plan: GroupPlan, axes: tuple[str, ...]) -> None:
        self.job = job
        self.plan = plan
        self.axes = axes

    def _to_axes(self, block: np.ndarray) -> np.ndarray:
        keep = {"t": 0, "z": 1, "y": 2, "x": 3}
        drop = tuple(i for name, i in keep.items() if name not in self.axes)
        return block.squeeze(axis=drop) if drop else block

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        group = self.plan.group(index)
        c = group.channel
        where = self.plan.index(group)
        job = self.job
        values = normalise(np.ascontiguousarray(job.array5d[where]), job.lo[c], job.hi[c])
        weights = job.saliency.weights(values, c, where)
        return self._to_axes(values), None if weights is None else self._to_axes(weights)
