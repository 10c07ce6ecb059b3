"""Peak memory of compressing stacks larger than one would like to hold: 1 GB and 4 GB (the
latent family, which trains tile by tile there: 0.25 GB and 1 GB).

A shared 3D image is tiled into an uncompressed ImageJ TIFF of about 1 GB, and of four times
that (four times the planes, each the same size: compression reads groups and verifies the
file plane by plane, so memory may follow the plane size but must not follow the plane count),
written plane by plane. Each is compressed by the `sincs` command line in a child process
(quick settings: 100 steps, ratio 1000, as this measures memory, not quality); the child's peak
resident set comes from wait4. With streaming, the peak should not grow with the input.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from .datasets import SHARED

SOURCE = "cells3d_nuclei.tif"
TILES = {0.25: (2, 4, 4), 1: (8, 4, 4), 4: (32, 4, 4)}
FACTORS = {"auto": (1, 4), "latent": (0.25, 1)}
"""Inputs measured per family: the latent family trains tile by tile above 32 Mvoxel, with as
many steps a tile as the sample takes, so its 4 GB stack (about 1000 tiles) would take hours."""


def make_stack(source: np.ndarray, tiles: tuple[int, int, int], path: Path) -> int:
    """Write `source` tiled `tiles` times along z, y, x, one plane at a time; returns bytes."""
    depth = source.shape[0] * tiles[0]
    shape = (depth, source.shape[1] * tiles[1], source.shape[2] * tiles[2])

    def planes():
        for z in range(depth):
            yield np.tile(source[z % source.shape[0]], tiles[1:])

    with tifffile.TiffWriter(path, imagej=True) as tif:
        tif.write(planes(), shape=shape, dtype=source.dtype, metadata={"axes": "ZYX"})
    return int(np.prod(shape)) * source.dtype.itemsize


def peak_rss(command: list[str]) -> tuple[float, float]:
    """(peak resident set of the child in MB, seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(process.stderr.read().decode()[-500:])
    return usage.ru_maxrss / 1024, seconds


def measure_memory(data: Path = SHARED, family: str = "auto") -> list[dict]:
    source = tifffile.imread(data / SOURCE)
    rows = []
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:
        for factor in FACTORS[family]:
            tiles = TILES[factor]
            stack = Path(folder) / f"stack_{factor}x.tif"
            nbytes = make_stack(source, tiles, stack)
            command = [
                sys.executable,
                "-m",
                "napari_sincs.cli",
                "compress",
                str(stack),
                "-o",
                str(stack.with_suffix(".sincs")),
                "--ratio",
                "1000",
                "--steps",
                "100",
                "--family",
                family,
                "--force",
                "-q",
            ]
            megabytes, seconds = peak_rss(command)
            rows.append(
                {
                    "family": family,
                    "input": f"{factor:g}x",
                    "input_gb": round(nbytes / 1e9, 2),
                    "shape": "×".join(map(str, tifffile.TiffFile(stack).series[0].shape)),
                    "peak_rss_mb": round(megabytes),
                    "seconds": round(seconds),
                    "file_kb": round(stack.with_suffix(".sincs").stat().st_size / 1000, 1),
                }
            )
            stack.unlink()
    return rows
