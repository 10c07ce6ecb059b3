"""Rate-distortion and speed of every codec on every image, one subprocess per measurement.

Rows are appended to a CSV as they come, so a long run can be stopped and resumed: a row that
is already in the CSV is not measured again.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from .codecs import all_codecs
from .datasets import Dataset

RATIOS = (30.0, 100.0, 300.0, 1000.0)
FIELDS = [
    "dataset",
    "codec",
    "target",
    "reached",
    "ratio",
    "psnr",
    "ssim",
    "encode_s",
    "decode_s",
    "region_ms",
    "region_native",
    "seam",
    "seam_original",
    "seam_control",
    "seam_local",
    "seam_local_original",
    "peak_mb",
    "loaded_mb",
    "setting",
]


def done_rows(csv_path: Path) -> list[dict]:
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def _append(csv_path: Path, row: dict) -> None:
    new = not csv_path.is_file()
    if not new:
        with open(csv_path, newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != FIELDS:
            rows = done_rows(csv_path)
            with open(csv_path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=FIELDS, restval="")
                writer.writeheader()
                writer.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    with open(csv_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, restval="", extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def measure_in_subprocess(
    codec: str, dataset: Dataset, ratio: float, repeats: int, timeout: float, settings: str = "{}"
) -> dict:
    command = [
        sys.executable,
        "-m",
        "benchmarks.measure",
        codec,
        str(dataset.path),
        dataset.axes,
        str(ratio),
        "--repeats",
        str(repeats),
        "--settings",
        settings,
    ]
    base = {"dataset": dataset.name, "codec": codec, "target": ratio}
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return base | {"reached": False, "setting": f"timed out after {timeout:.0f} s"}
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return base | {"reached": False, "setting": f"failed: {reason[:120]}"}
    return json.loads(lines[-1])


def resolve_codecs(asked: list[str] | None) -> list[str]:
    """Codec names as `--codecs` gives them: a full name or its unique start, any case."""
    names = [c.name for c in all_codecs()]
    if not asked:
        return names
    resolved = []
    for word in asked:
        matches = [n for n in names if n.lower() == word.lower()] or [
            n for n in names if n.lower().startswith(word.lower())
        ]
        if len(matches) != 1:
            raise SystemExit(
                f"--codecs {word!r} names {'no' if not matches else 'more than one'} codec; "
                f"choose from: {', '.join(repr(n) for n in names)}."
            )
        resolved.append(matches[0])
    return resolved


def run(
    datasets: list[Dataset],
    ratios: tuple[float, ...],
    codecs: list[str] | None,
    csv_path: Path,
    repeats: int = 3,
    timeout: float = 3600,
) -> list[dict]:
    """Measure what is not yet in `csv_path`; returns every row of it."""
    available = {c.name: c for c in all_codecs()}
    names = resolve_codecs(codecs)
    seen = {(r["dataset"], r["codec"], float(r["target"])) for r in done_rows(csv_path)}
    for dataset in datasets:
        for name in names:
            reason = available[name].unavailable()
            for ratio in ratios:
                if (dataset.name, name, ratio) in seen:
                    continue
                if reason:
                    row = {
                        "dataset": dataset.name,
                        "codec": name,
                        "target": ratio,
                        "reached": False,
                        "setting": f"not available: {reason}",
                    }
                else:
                    row = measure_in_subprocess(name, dataset, ratio, repeats, timeout)
                print(json.dumps(row), flush=True)
                _append(csv_path, row)
    return done_rows(csv_path)
