"""Wall time of compression in one process and on 1 and 2 local dask workers (sharing the
machine's cores), with the check that each writes the same weights as one process fitting with
the same torch thread count; the per-group time feeds the cost model of
docs/scaling.md.

The input is a 3D+T stack built from the shared 3D nuclei image: its z-slabs become time points
(t, z, y, x) = (4, 15, 256, 256), 7.9 MB of uint16.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import napari_sincs as sincs
from napari_sincs.codec.format.container import SincsFile
from napari_sincs.codec.training.cluster import threads_per_worker

from .datasets import Dataset

SETTINGS = {"ratio": 100.0, "keyframe_interval": 4}


def time_series(dataset: Dataset, frames: int = 4) -> np.ndarray:
    """(t, z, y, x) from a (z, y, x) stack: consecutive z-slabs as time points."""
    volume = dataset.load()
    depth = volume.shape[0] // frames
    return np.stack([volume[i * depth : (i + 1) * depth] for i in range(frames)])


def _blobs(path: Path) -> list[bytes]:
    with SincsFile(path) as source:
        return [source.read_blob(i) for i in range(source.n_blobs)]


def measure_scaling(dataset: Dataset, worker_counts: tuple[int, ...] = (1, 2)) -> list[dict]:
    """One process at each thread count local workers will use, then `compress(workers=n)`
    (cluster start included); each cluster run is checked against the one-process run with
    the same torch thread count per fit."""
    data = time_series(dataset)
    folder = Path(tempfile.mkdtemp(prefix="sincs-scaling-"))
    rows = []

    def run(label: str, workers: int, threads: int) -> None:
        path = folder / f"{label}.sincs"
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        started = time.perf_counter()
        try:
            report = sincs.compress(data, path, axes="tzyx", workers=workers or None, **SETTINGS)
        finally:
            torch.set_num_threads(before)
        seconds = time.perf_counter() - started
        reference = folder / f"serial-{threads}.sincs"
        rows.append(
            {
                "input": f"{dataset.name} as t×z×y×x {'×'.join(map(str, data.shape))}",
                "run": label,
                "workers": workers,
                "threads_per_fit": threads,
                "groups": report.groups,
                "chains": -(-report.groups // SETTINGS["keyframe_interval"]),
                "wall_s": round(seconds, 1),
                "fit_s": round(report.fit_seconds, 1),
                "fit_s_per_group": round(report.fit_seconds / report.groups, 2),
                "ratio": round(report.ratio, 1),
                "psnr": round(report.psnr, 2),
                "same_weights_as_one_process": _blobs(path) == _blobs(reference),
            }
        )

    for threads in sorted({threads_per_worker(n) for n in worker_counts}, reverse=True):
        run(f"serial-{threads}", 0, threads)
    for count in worker_counts:
        run(f"{count} worker{'s' if count > 1 else ''}", count, threads_per_worker(count))
    return rows
