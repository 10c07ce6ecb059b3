"""Import time of what napari and a script load first, each in a fresh interpreter (median of
several runs: the first run also pays for the disk cache, so it is dropped)."""

from __future__ import annotations

import statistics
import subprocess
import sys

STATEMENTS = {
    "napari reader (napari_get_reader)": "import napari_sincs._napari.reader",
    "import napari_sincs": "import napari_sincs",
    "open_sincs (the decoder, torch)": "from napari_sincs import open_sincs",
    "compress (the encoder)": "from napari_sincs import compress",
}


def _seconds(statement: str) -> float:
    code = f"import time\nt = time.perf_counter()\n{statement}\nprint(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure_imports(runs: int = 7) -> list[dict]:
    rows = []
    for what, statement in STATEMENTS.items():
        times = [_seconds(statement) for _ in range(runs + 1)][1:]
        rows.append(
            {
                "import": what,
                "median_s": round(statistics.median(times), 3),
                "min_s": round(min(times), 3),
            }
        )
    return rows
