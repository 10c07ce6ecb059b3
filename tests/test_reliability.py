"""Nothing is lost: atomic writes under a kill, bounded reads, no code from files."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_sincs as sincs
from helpers import FAST, load
from napari_sincs.codec.format.container import SincsFile

SRC = Path(sincs.__file__).parent
# A killed writer leaves no temporary file where it can write a nameless one (Linux O_TMPFILE);
# elsewhere its hidden temporary file stays behind, which the target never depends on.
NAMELESS = hasattr(os, "O_TMPFILE")


def _valid(path: Path) -> bool:
    try:
        with sincs.open_sincs(path) as lazy:
            lazy[...]
        return True
    except sincs.SincsError:
        return False


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in `folder` other than `keep` (and a killed writer's temporaries where NAMELESS is
    false)."""
    stray = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    return stray if NAMELESS else [n for n in stray if not n.endswith(".tmp")]


@pytest.mark.slow
def test_killing_a_compression_never_leaves_a_partial_file(tmp_path, data_dir):
    source = tmp_path / "in.tif"
    source.write_bytes((data_dir / "nuclei2d_crop.tif").read_bytes())
    target = tmp_path / "out.sincs"
    command = [
        sys.executable,
        "-m",
        "napari_sincs.cli",
        "compress",
        str(source),
        "-o",
        str(target),
        "--force",
        "-q",
        "--ratio",
        "10",
        "--steps",
        "150",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    duration = time.perf_counter() - started
    rng = random.Random(7)
    outcomes = {"old file kept": 0, "new file complete": 0}
    for _ in range(6):
        before = target.read_bytes()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.1) * duration)
        process.kill()
        process.wait()
        after = target.read_bytes()
        assert _valid(target)
        outcomes["old file kept" if after == before else "new file complete"] += 1
        assert _leftovers(tmp_path, {"in.tif", "out.sincs"}) == []
    assert sum(outcomes.values()) == 6


WRITER = """
import sys, time
from napari_sincs.codec.format.container import write_atomic
def chunks():
    for i in range(400):
        time.sleep(0.002)
        yield bytes([i % 256]) * 65536
write_atomic(sys.argv[1], chunks(), overwrite=True)
"""


@pytest.mark.slow
def test_killing_a_write_midway_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "big.bin"
    target.write_bytes(b"old contents")
    new = b"".join(bytes([i % 256]) * 65536 for i in range(400))
    rng = random.Random(3)
    seen = set()
    for _ in range(5):
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        time.sleep(rng.uniform(0.3, 2.0))
        process.kill()
        process.wait()
        contents = target.read_bytes()
        assert contents in (b"old contents", new), "a torn file"
        seen.add(contents == new)
        assert _leftovers(tmp_path, {"big.bin"}) == [], "a temporary file was left behind"
        target.write_bytes(b"old contents")
    assert False in seen, "at least one kill landed during the write"


class ReadCounter:
    """A real array that records the size of every read (to show reads stay group-sized)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.largest = 0

    def __getitem__(self, key):
        block = self.data[key]
        self.largest = max(self.largest, block.size)
        return block


@pytest.mark.slow
def test_compression_reads_the_input_a_group_at_a_time(tmp_path):
    movie = np.tile(load("cell_migration_crop.tif"), (2, 2, 2))
    counter = ReadCounter(movie)
    settings = {"config": FAST, "block": (32, 32), "saliency": "uniform"}
    report = sincs.compress(counter, tmp_path / "m.sincs", axes="tyx", **settings)
    assert report.groups >= 16
    largest_group = (movie.shape[0] // 4) * 32 * 32
    assert counter.largest <= max(largest_group, movie.shape[1] * movie.shape[2])
    np.testing.assert_array_equal(
        sincs.decode(tmp_path / "m.sincs"),
        sincs.decode(_eager(movie, tmp_path)),
    )


def _eager(movie: np.ndarray, tmp_path: Path) -> Path:
    path = tmp_path / "eager.sincs"
    sincs.compress(movie, path, axes="tyx", config=FAST, block=(32, 32), saliency="uniform")
    return path


@pytest.mark.slow
def test_large_tiffs_are_read_lazily_and_give_the_same_file(tmp_path):
    data = np.tile(load("nuclei3d_crop.tif"), (2, 1, 1))
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "ZYX"})
    lazy = sincs.compress_file(path, tmp_path / "lazy.sincs", config=FAST, lazy=True)
    eager = sincs.compress_file(path, tmp_path / "eager.sincs", config=FAST, lazy=False)
    assert (tmp_path / "lazy.sincs").read_bytes() == (tmp_path / "eager.sincs").read_bytes()
    assert lazy.psnr == eager.psnr


def test_no_code_is_ever_executed_from_a_file():
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for forbidden in ("pickle", "eval(", "exec(", "torch.load", "marshal", "shelve"):
            assert forbidden not in text, f"{forbidden} in {path.relative_to(SRC)}"


@pytest.mark.parametrize("extra", [[], ["--force"]])
def test_overwriting_needs_force(tmp_path, data_dir, extra):
    target = tmp_path / "x.sincs"
    target.write_bytes(b"keep")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_sincs.cli",
            "compress",
            str(data_dir / "nuclei2d_crop.tif"),
            "-o",
            str(target),
            "-q",
            "--steps",
            "30",
            "--ratio",
            "10",
            *extra,
        ],
        capture_output=True,
        text=True,
    )
    if extra:
        assert result.returncode == 0
        with SincsFile(target) as written:
            assert written.header["array"]["shape"] == [128, 128]
    else:
        assert result.returncode == 1
        assert target.read_bytes() == b"keep"
    assert os.listdir(tmp_path) == ["x.sincs"]
