"""Wall time of compression in one process and on 1 and 2 local dask workers, with the check
that every run writes the same weights; the per-group time feeds the cost model of
docs/scaling.md.

The input is a 3D+T stack built from the shared 3D nuclei image: its z-slabs become time points
(t, z, y, x) = (4, 15, 256, 256), 7.9 MB of uint16.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

import napari_sincs as sincs
from napari_sincs.codec.container import SincsFile

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
    from distributed import Client, LocalCluster

    data = time_series(dataset)
    folder = Path(tempfile.mkdtemp(prefix="sincs-scaling-"))
    rows = []

    def run(label: str, workers: int, **cluster) -> None:
        path = folder / f"{label}.sincs"
        started = time.perf_counter()
        report = sincs.compress(data, path, axes="tzyx", **SETTINGS, **cluster)
        seconds = time.perf_counter() - started
        reference = _blobs(folder / "serial.sincs") if rows else None
        rows.append(
            {
                "input": f"{dataset.name} as t×z×y×x {'×'.join(map(str, data.shape))}",
                "run": label,
                "workers": workers,
                "groups": report.groups,
                "chains": -(-report.groups // SETTINGS["keyframe_interval"]),
                "wall_s": round(seconds, 1),
                "fit_s": round(report.fit_seconds, 1),
                "fit_s_per_group": round(report.fit_seconds / report.groups, 2),
                "ratio": round(report.ratio, 1),
                "psnr": round(report.psnr, 2),
                "same_weights_as_serial": reference is None or _blobs(path) == reference,
            }
        )

    run("serial", 0)
    for count in worker_counts:
        started = time.perf_counter()
        with (
            LocalCluster(
                n_workers=count, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            startup = time.perf_counter() - started
            run(f"{count} worker{'s' if count > 1 else ''}", count, scheduler=client)
            rows[-1]["cluster_start_s"] = round(startup, 1)
    return rows
