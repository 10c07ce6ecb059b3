"""The performance issue's targets, checked against the rate-distortion measurements in rd.csv.

Rate-distortion: on every image with z or t, at 100× and 300×, napari-sincs's PSNR and SSIM at
least those of the best classical codec (JPEG 2000, HEVC, JPEG XL, SZ3, ZFP) that reaches the
same ratio. Speed: full decode ≥ 5 Mvoxel/s, a 512² region < 50 ms, compression ≥ 0.2 Mvoxel/s,
all on the machine the rows were measured on.
"""

from __future__ import annotations

import math

from .datasets import Dataset
from .report import INR_S, SINCS, _number, _reached

TARGET_RATIOS = (100.0, 300.0)
DECODE_MVOXEL_S = 5.0
REGION_MS = 50.0
COMPRESS_MVOXEL_S = 0.2


def _voxels(dataset: Dataset) -> int:
    """Samples of the image (every channel counts), from its shape."""
    return math.prod(dataset.load().shape)


def _cell(row: dict | None) -> str:
    if row is None:
        return "not measured"
    return f"{row['psnr']} / {row['ssim']}" if _reached(row) else "not reachable"


def _verdict(mine: dict | None, best: dict | None) -> str:
    if mine is None:
        return "not measured yet"
    if not _reached(mine):
        return "missed" if best else "nobody reaches it"
    if best is None:
        return "met (only napari-sincs reaches it)"
    psnr = _number(mine["psnr"]) - _number(best["psnr"])
    ssim = _number(mine["ssim"]) - _number(best["ssim"])
    met = psnr >= 0 and ssim >= 0
    return f"{'met' if met else 'missed'} ({psnr:+.2f} dB, SSIM {ssim:+.3f})"


def _rate(voxels: int, seconds: str) -> str:
    value = _number(seconds)
    return f"{voxels / value / 1e6:.3g}" if value > 0 else "–"


def check(rows: list[dict], datasets: list[Dataset]) -> list[dict]:
    """One row per image with z or t and target ratio: quality and speed against the targets."""
    out = []
    for dataset in datasets:
        if not set(dataset.axes) & {"z", "t"}:
            continue
        voxels = _voxels(dataset)
        for ratio in TARGET_RATIOS:
            here = [
                r for r in rows if r["dataset"] == dataset.name and _number(r["target"]) == ratio
            ]
            found = {r["codec"]: r for r in here}
            mine = found.get(SINCS)
            classical = [
                r for r in here if not r["codec"].startswith((SINCS, INR_S)) and _reached(r)
            ]
            best = max(classical, key=lambda r: _number(r["psnr"]), default=None)
            speed = mine if mine is not None and _reached(mine) else None
            out.append(
                {
                    "image": dataset.name,
                    "target": f"{ratio:g}×",
                    "napari-sincs PSNR / SSIM": _cell(mine),
                    "best classical": f"{best['codec']} {_cell(best)}" if best else "none",
                    "rate-distortion": _verdict(mine, best),
                    f"decode Mvoxel/s (≥ {DECODE_MVOXEL_S:g})": _rate(voxels, speed["decode_s"])
                    if speed
                    else "–",
                    f"512² region ms (< {REGION_MS:g})": speed["region_ms"] if speed else "–",
                    f"compress Mvoxel/s (≥ {COMPRESS_MVOXEL_S:g})": _rate(voxels, speed["encode_s"])
                    if speed
                    else "–",
                }
            )
    return out
