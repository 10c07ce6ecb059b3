"""SIGKILL a real `sincs compress` at random moments, many times, and count what is left.

Each round starts the command line on a copy of a shared 2D image (a small fit, so a round takes
seconds) over an existing valid .sincs file, kills it after a random fraction of a normal run's
duration (0.05 to 2: runs slow down when the machine is busy), then checks the target: the old
file byte for byte, or a complete new file that opens and decodes (each round uses another
seed, so a new file differs from the old one); and that no other file appeared in the folder.
Outcomes are counted; a torn or leftover file is counted as such.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import napari_sincs as sincs

from .datasets import SHARED

SOURCE = "nuclei2d.tif"


def _decodes(path: Path) -> bool:
    try:
        with sincs.open_sincs(path) as lazy:
            lazy[...]
        return True
    except sincs.SincsError:
        return False


def measure_kills(data: Path = SHARED, rounds: int = 50, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / SOURCE
        shutil.copyfile(data / SOURCE, source)
        target = folder / "out.sincs"
        command = [sys.executable, "-m", "napari_sincs.cli", "compress", str(source)]
        command += ["-o", str(target), "--force", "-q", "--ratio", "30", "--steps", "300"]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        duration = time.perf_counter() - started
        counts = {"old file kept": 0, "new file complete": 0, "torn or leftover": 0}
        for round_ in range(rounds):
            before = target.read_bytes()
            seeded = [*command, "--seed", str(round_ + 1)]
            process = subprocess.Popen(seeded, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 2.0) * duration)
            process.send_signal(signal.SIGKILL)
            process.wait()
            after = target.read_bytes()
            others = sorted(p.name for p in folder.iterdir() if p not in (source, target))
            if others or not _decodes(target):
                counts["torn or leftover"] += 1
            else:
                counts["old file kept" if after == before else "new file complete"] += 1
    return [
        {"outcome": outcome, "rounds": n, "of": rounds, "run_s": round(duration, 1)}
        for outcome, n in counts.items()
    ]
