"""Command line of the benchmarks: `python -m benchmarks {core,transfer} ...`."""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
from pathlib import Path

import torch

from .datasets import SHARED, discover

DOCS = Path(__file__).resolve().parents[1] / "docs"


def machine() -> str:
    """One line naming the machine and the versions that produced a table."""
    import napari_sincs

    threads = torch.get_num_threads()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.processor() or platform.machine()}, {threads} torch threads, {device}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"napari-sincs {napari_sincs.__version__}"
    )


def write_table(rows: list[dict], stem: str, title: str) -> Path:
    """rows -> docs/results/<stem>.csv and a markdown table in docs/results/<stem>.md."""
    folder = DOCS / "results"
    folder.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(folder / f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    header = "| " + " | ".join(fields) + " |"
    rule = "|" + "---|" * len(fields)
    lines = [f"# {title}", "", f"Measured on: {machine()}", "", header, rule]
    lines += ["| " + " | ".join(str(row.get(f, "")) for f in fields) + " |" for row in rows]
    path = folder / f"{stem}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--data", type=Path, default=SHARED, help="folder of images")
    commands = parser.add_subparsers(dest="command", required=True)
    core = commands.add_parser("core", help="ratio, PSNR, SSIM, speed at one target ratio")
    core.add_argument("names", nargs="*", help="dataset names (default: all)")
    core.add_argument("--ratio", type=float, default=100.0)
    core.add_argument("--settings", default="{}", help="JSON of CompressionConfig fields")
    core.add_argument("--out", default=None, help="table name in docs/results (none: print)")
    transfer = commands.add_parser("transfer", help="steps to the same loss with/without transfer")
    transfer.add_argument("names", nargs="*")
    transfer.add_argument("--ratio", type=float, default=100.0)
    transfer.add_argument("--pairs", type=int, default=3)
    transfer.add_argument("--out", default=None)
    viewer = commands.add_parser("viewer", help="first screen and browsing steps in napari")
    viewer.add_argument("files", nargs="+", type=Path, help=".sincs files")
    viewer.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.command == "viewer":
        from .viewer import measure_viewer, warm_up

        warm_up()
        rows = [measure_viewer(path) for path in args.files]
        for row in rows:
            print(json.dumps(row), flush=True)
        if args.out:
            print(f"wrote {write_table(rows, args.out, 'Browsing in napari')}")
        return 0

    datasets = discover(args.data, args.names or None)
    rows = []
    if args.command == "core":
        from .core import measure

        settings = json.loads(args.settings)
        for dataset in datasets:
            rows.append(measure(dataset, args.ratio, **settings))
            print(json.dumps(rows[-1]), flush=True)
        title = f"napari-sincs at {args.ratio:g}x"
    else:
        from .transfer import measure_transfer

        for dataset in datasets:
            for row in measure_transfer(dataset, args.ratio, args.pairs):
                rows.append(row)
                print(json.dumps(row), flush=True)
        title = "Weight transfer: steps to the same loss"
    if args.out and rows:
        print(f"wrote {write_table(rows, args.out, title)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
