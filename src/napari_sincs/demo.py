"""`sincs demo`: the whole round trip on the bundled sample, with a preview image to look at."""

from __future__ import annotations

import os
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
from PIL import Image

from .api import CompressionReport, compress_file, decode, open_sincs
from .io import read_image
from .progress import ProgressCallback

SAMPLE = "nuclei3d.tif"


def sample_path() -> Path:
    """Path of the bundled sample image (a real 3D nuclei stack)."""
    return Path(str(files("napari_sincs") / "samples" / SAMPLE))


def _grey(plane: np.ndarray, lo: float, hi: float, zoom: int) -> Image.Image:
    scaled = np.clip((plane.astype(np.float64) - lo) / max(hi - lo, 1e-12), 0, 1)
    image = Image.fromarray((scaled * 255).astype(np.uint8))
    return image.resize((plane.shape[1] * zoom, plane.shape[0] * zoom), Image.Resampling.NEAREST)


def write_preview(original: np.ndarray, decoded: np.ndarray, path: Path, zoom: int = 4) -> None:
    """Middle plane: original | decoded | absolute error (error stretched to its own range)."""
    z = original.shape[0] // 2
    lo, hi = float(original.min()), float(original.max())
    error = np.abs(original[z].astype(np.float64) - decoded[z])
    tiles = [
        _grey(original[z], lo, hi, zoom),
        _grey(decoded[z], lo, hi, zoom),
        _grey(error, 0, float(error.max()) or 1.0, zoom),
    ]
    gap = 4
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    canvas = Image.new("L", (width, tiles[0].height), color=255)
    x = 0
    for tile in tiles:
        canvas.paste(tile, (x, 0))
        x += tile.width + gap
    canvas.save(path)


def run_demo(
    output: str | os.PathLike[str],
    ratio: float = 100.0,
    progress: ProgressCallback | None = None,
) -> tuple[CompressionReport, str]:
    """Compress the sample, decode a region and the whole, write a preview; returns a summary."""
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "nuclei3d.sincs"
    report = compress_file(sample_path(), target, ratio=ratio, overwrite=True, progress=progress)
    original = read_image(sample_path()).data
    with open_sincs(target, cache_bytes=0) as lazy:
        started = time.perf_counter()
        region = lazy[10:20, 16:48, 16:48]
        region_seconds = time.perf_counter() - started
    started = time.perf_counter()
    decoded = decode(target)
    full_seconds = time.perf_counter() - started
    assert np.array_equal(region, decoded[10:20, 16:48, 16:48])
    preview = folder / "preview.png"
    write_preview(original, decoded, preview)
    summary = (
        f"{report}\n"
        f"region 10:20,16:48,16:48 decoded alone in {region_seconds * 1000:.0f} ms "
        f"(identical to the same crop of the full decode)\n"
        f"full decode: {decoded.size / full_seconds / 1e6:.2f} Mvoxel/s\n"
        f"preview (middle plane: original | decoded | error): {preview}"
    )
    return report, summary
