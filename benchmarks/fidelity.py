"""Whether segmentation survives compression: napari-sincs and JPEG 2000 at the same ratios.

Each image is compressed at 100x and 300x by napari-sincs (default settings) and by JPEG 2000
(slice by slice, tuned to the same byte budget); the decoded images go through the segmentation
of napari_sincs.fidelity next to the original. Where the shared data has ground-truth labels
(nuclei2d, nuclei3d), both segmentations are also scored against them (F1 at IoU > 0.5).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from napari_sincs.fidelity import fidelity
from napari_sincs.io import read_image

from .codecs import REACH, Jpeg2000, Sincs
from .datasets import Dataset

RATIOS = (100.0, 300.0)
IMAGES = [
    "nuclei2d",
    "nuclei3d",
    "cell_migration_2dt",
    "cells3d_nuclei",
    "drosophila_histone_2dt",
    "beads3d",
]


def _labels(dataset: Dataset) -> np.ndarray | None:
    path = dataset.path.with_name(dataset.path.stem + "_labels" + dataset.path.suffix)
    return np.asarray(read_image(path).data) if path.is_file() else None


def measure_fidelity(dataset: Dataset, ratios: tuple[float, ...] = RATIOS) -> list[dict]:
    data = dataset.load()
    truth = _labels(dataset)
    rows = []
    for ratio in ratios:
        for codec in (Sincs(), Jpeg2000()):
            compressed = codec.at_ratio(data, dataset.axes, ratio)
            row = {"image": dataset.name, "target": f"{ratio:g}×", "codec": codec.name}
            if compressed is None or compressed.nbytes > data.nbytes / ratio / REACH:
                achieved = (
                    f" (coarsest: {data.nbytes / compressed.nbytes:.0f}×)" if compressed else ""
                )
                rows.append(row | {"ratio": "not reachable" + achieved})
                continue
            report = fidelity(data, compressed.decode(), dataset.axes, truth)
            values = {
                k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v)
                for k, v in report.to_dict().items()
            }
            rows.append(row | {"ratio": round(data.nbytes / compressed.nbytes, 1)} | values)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Matched-object fraction and intensity correlation per image, codec and ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if "matched_fraction" in r]
    labels = sorted({f"{r['image']} {r['target']}" for r in measured})
    figure, axes = plt.subplots(1, 2, figsize=(14, 5.5))
    width = 0.38
    for offset, codec in ((-width / 2, "napari-sincs"), (width / 2, "JPEG 2000")):
        by_label = {f"{r['image']} {r['target']}": r for r in measured if r["codec"] == codec}
        x = np.arange(len(labels)) + offset
        for axis, key in zip(axes, ("matched_fraction", "foreground_iou")):
            axis.bar(x, [by_label.get(k, {}).get(key, 0) for k in labels], width, label=codec)
    for axis, title in zip(axes, ("objects matched (IoU > 0.5)", "foreground IoU")):
        axis.set_xticks(np.arange(len(labels)), labels, fontsize=8, rotation=40, ha="right")
        axis.set(ylim=(0, 1), title=title)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
