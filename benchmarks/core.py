"""Ratio, quality and speed of napari-sincs on real images at one target ratio.

    python -m benchmarks core --ratio 100 nuclei2d cell_migration_2dt nuclei3d hela_3ch

Compress time is the whole `compress` call (fit, code, verify). Decode speed is the median of
three full decodes (voxels per second); the region time is the median of three decodes of a
512×512 (or whole-plane, if smaller) region of one plane, each on a freshly opened file.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import napari_sincs as sincs

from .datasets import Dataset
from .measure import plane_region


def _median_seconds(action, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(dataset: Dataset, ratio: float, **settings) -> dict:
    """Compress one dataset and time its decoding."""
    data = dataset.load()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{dataset.name}.sincs"
        report = sincs.compress(data, path, axes=dataset.axes, ratio=ratio, **settings)
        full = _median_seconds(lambda: sincs.decode(path))
        region = plane_region(data.shape, dataset.axes)

        def decode_region() -> None:
            with sincs.open_sincs(path, cache_bytes=0) as lazy:
                lazy[region]

        region_seconds = _median_seconds(decode_region)
    return {
        "dataset": dataset.name,
        "axes": dataset.axes,
        "shape": "×".join(map(str, data.shape)),
        "dtype": str(data.dtype),
        "target": ratio,
        "ratio": round(report.ratio, 1),
        "psnr": round(report.psnr, 2),
        "ssim": round(report.ssim, 4),
        "compress_s": round(report.seconds, 1),
        "decode_mvox_s": round(data.size / full / 1e6, 2),
        "region_ms": round(region_seconds * 1000, 1),
        "groups": report.groups,
        "params": report.parameters_per_group,
        "bits": report.bits,
        "attempts": report.attempts,
    }
