"""Does the science survive compression? The same segmentation on the original and on the
decoded image, compared object by object.

The pipeline is a common one for nuclei: Gaussian smoothing, Otsu's threshold, small objects
removed, then a distance-transform watershed to split touching objects. It runs on every 2D
plane (yx images and time series) or 3D volume (z stacks) of every frame and channel. Objects
are matched one to one when their IoU exceeds 0.5 (such matches are unique).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

from .codec.layout import ArrayLayout
from .codec.metrics import psnr, ssim

MATCH_IOU = 0.5


def segment(image: np.ndarray) -> np.ndarray:
    """Labels of bright objects in a 2D or 3D image (0 = background)."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import watershed

    smooth = gaussian(image.astype(np.float32), sigma=1.0, preserve_range=True)
    if smooth.max() <= smooth.min():
        return np.zeros(image.shape, dtype=np.int32)
    mask = smooth > threshold_otsu(smooth)
    mask = remove_small_objects(mask, max_size=8 * 3 ** (image.ndim - 2))
    distance = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(
        distance, min_distance=4, labels=ndi.label(mask)[0], exclude_border=False
    )
    markers = np.zeros(image.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=mask).astype(np.int32)


def match(first: np.ndarray, second: np.ndarray) -> list[tuple[int, int, float]]:
    """(label in first, label in second, IoU) for every pair with IoU > 0.5."""
    a, b = first.ravel().astype(np.int64), second.ravel().astype(np.int64)
    both = (a > 0) & (b > 0)
    pairs, overlap = np.unique(np.stack([a[both], b[both]]), axis=1, return_counts=True)
    size_a = np.bincount(a)
    size_b = np.bincount(b)
    out = []
    for (la, lb), inter in zip(pairs.T, overlap):
        iou = inter / (size_a[la] + size_b[lb] - inter)
        if iou > MATCH_IOU:
            out.append((int(la), int(lb), float(iou)))
    return out


def _mean_intensities(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    sums = np.bincount(labels.ravel(), weights=image.ravel().astype(np.float64))
    counts = np.bincount(labels.ravel())
    return sums / np.maximum(counts, 1)


@dataclass
class _Tally:
    objects: int = 0
    found: int = 0
    matched: int = 0
    iou_sum: float = 0.0

    def add(self, truth: np.ndarray, found: np.ndarray) -> list[tuple[int, int, float]]:
        pairs = match(truth, found)
        self.objects += int(len(np.unique(truth)) - (truth.min() == 0))
        self.found += int(len(np.unique(found)) - (found.min() == 0))
        self.matched += len(pairs)
        self.iou_sum += sum(p[2] for p in pairs)
        return pairs

    def f1(self) -> float:
        total = self.objects + self.found
        return 2 * self.matched / total if total else 1.0


@dataclass(frozen=True)
class FidelityReport:
    """Pixel and object-level agreement of a decoded image with its original."""

    psnr: float
    ssim: float
    foreground_iou: float
    objects_original: int
    objects_decoded: int
    count_difference_percent: float
    matched_fraction: float
    matched_iou: float
    intensity_pearson: float
    truth_f1_original: float | None = None
    truth_f1_decoded: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _images(data: np.ndarray, axes: str) -> list[np.ndarray]:
    """The 2D planes or 3D volumes the pipeline segments, one per frame and channel."""
    layout = ArrayLayout(axes, data.shape)
    canonical = layout.to_canonical(data)
    t, c, z = canonical.shape[:3]
    return [
        np.squeeze(canonical[ti, ci], axis=0) if z == 1 else canonical[ti, ci]
        for ti, ci in itertools.product(range(t), range(c))
    ]


def fidelity(
    original: np.ndarray,
    decoded: np.ndarray,
    axes: str,
    truth: np.ndarray | None = None,
) -> FidelityReport:
    """Compare `decoded` with `original` (same shape, axes) through the segmentation; `truth`
    (labels of the same shape without a c axis, or with one) scores both against ground truth."""
    if original.shape != decoded.shape:
        raise ValueError(f"shapes differ: {original.shape} and {decoded.shape}.")
    objects = _Tally()
    versus_truth = [_Tally(), _Tally()]
    fg_inter = fg_union = 0
    means_a: list[float] = []
    means_b: list[float] = []
    truths = (
        _images(truth, axes.replace("c", "") if truth.ndim < original.ndim else axes)
        if (truth is not None)
        else None
    )
    for index, (a, b) in enumerate(zip(_images(original, axes), _images(decoded, axes))):
        labels_a, labels_b = segment(a), segment(b)
        fg_inter += int(np.count_nonzero((labels_a > 0) & (labels_b > 0)))
        fg_union += int(np.count_nonzero((labels_a > 0) | (labels_b > 0)))
        pairs = objects.add(labels_a, labels_b)
        intensity_a = _mean_intensities(a, labels_a)
        intensity_b = _mean_intensities(b, labels_b)
        means_a += [intensity_a[la] for la, _, _ in pairs]
        means_b += [intensity_b[lb] for _, lb, _ in pairs]
        if truths is not None:
            reference = truths[index % len(truths)].astype(np.int64)
            versus_truth[0].add(reference, labels_a)
            versus_truth[1].add(reference, labels_b)
    pearson = float(np.corrcoef(means_a, means_b)[0, 1]) if len(means_a) > 2 else math.nan
    return FidelityReport(
        psnr=psnr(original, decoded),
        ssim=ssim(original, decoded),
        foreground_iou=fg_inter / fg_union if fg_union else 1.0,
        objects_original=objects.objects,
        objects_decoded=objects.found,
        count_difference_percent=100 * (objects.found - objects.objects) / max(objects.objects, 1),
        matched_fraction=objects.matched / max(objects.objects, 1),
        matched_iou=objects.iou_sum / max(objects.matched, 1),
        intensity_pearson=pearson,
        truth_f1_original=versus_truth[0].f1() if truths is not None else None,
        truth_f1_decoded=versus_truth[1].f1() if truths is not None else None,
    )
