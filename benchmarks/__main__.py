"""Command line of the benchmarks: `python -m benchmarks {rd,report,core,...,scaling} ...`.

python -m benchmarks rd                 # every image × 30/100/300/1000× × every codec (hours)
python -m benchmarks rd --quick         # one image, one ratio: a smoke test (about a minute)
python -m benchmarks report             # rewrite docs/benchmarks.md from the CSVs
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from napari_sincs.codec import families

from .datasets import SHARED, discover
from .machine import describe

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULTS = DOCS / "results"
FULL_COMMAND = "python -m benchmarks rd && python -m benchmarks report"


def write_table(rows: list[dict], stem: str, title: str) -> Path:
    """rows -> docs/results/<stem>.csv and a markdown table in docs/results/<stem>.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(RESULTS / f"{stem}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    header = "| " + " | ".join(fields) + " |"
    rule = "|" + "---|" * len(fields)
    lines = [f"# {title}", "", f"Measured on: {describe()}", "", header, rule]
    lines += ["| " + " | ".join(str(row.get(f, "")) for f in fields) + " |" for row in rows]
    path = RESULTS / f"{stem}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rd(args: argparse.Namespace) -> int:
    from .rd import RATIOS, run

    if args.quick:
        datasets = discover(args.data, ["nuclei3d"])
        ratios = (100.0,)
        csv_path = Path(args.csv or RESULTS / "rd_quick.csv")
    else:
        datasets = discover(args.data, args.names or None)
        ratios = tuple(args.ratios or RATIOS)
        csv_path = Path(args.csv or RESULTS / "rd.csv")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rows = run(datasets, ratios, args.codecs, csv_path, args.repeats, args.timeout)
    print(f"{len(rows)} rows in {csv_path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import write

    machine_file = RESULTS / "machine.txt"
    machine = machine_file.read_text().strip() if machine_file.is_file() else describe()
    print(f"wrote {write(machine, FULL_COMMAND)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--data", type=Path, default=SHARED, help="folder of images")
    commands = parser.add_subparsers(dest="command", required=True)

    rd = commands.add_parser("rd", help="rate-distortion and speed against other codecs")
    rd.add_argument("names", nargs="*", help="dataset names (default: all)")
    rd.add_argument("--ratios", type=float, nargs="*")
    rd.add_argument("--codecs", nargs="*", help="codec names (default: all)")
    rd.add_argument("--quick", action="store_true", help="one image at 100x: a smoke test")
    rd.add_argument("--csv", help="CSV to append to (default docs/results/rd.csv)")
    rd.add_argument("--repeats", type=int, default=3)
    rd.add_argument("--timeout", type=float, default=3600)
    rd.set_defaults(run=_rd)

    report = commands.add_parser("report", help="rewrite docs/benchmarks.md from the CSVs")
    report.set_defaults(run=_report)

    core = commands.add_parser("core", help="ratio, PSNR, SSIM, speed at one target ratio")
    core.add_argument("names", nargs="*", help="dataset names (default: all)")
    core.add_argument("--ratio", type=float, default=100.0)
    core.add_argument("--settings", default="{}", help="JSON of CompressionConfig fields")
    core.add_argument("--out", default=None, help="table name in docs/results (none: print)")
    core.set_defaults(run=_core)

    transfer = commands.add_parser("transfer", help="steps to the same loss with/without transfer")
    transfer.add_argument("names", nargs="*")
    transfer.add_argument("--ratio", type=float, default=100.0)
    transfer.add_argument("--pairs", type=int, default=3)
    transfer.add_argument("--out", default=None)
    transfer.set_defaults(run=_transfer)

    viewer = commands.add_parser("viewer", help="first screen and browsing steps in napari")
    viewer.add_argument("files", nargs="+", type=Path, help=".sincs files")
    viewer.add_argument("--out", default=None)
    viewer.add_argument(
        "--prefetch", type=int, default=None, help="planes decoded ahead each way (default: 2)"
    )
    viewer.add_argument(
        "--volume-voxels", type=int, default=None, help="3D level budget (1: the coarsest level)"
    )
    viewer.add_argument(
        "--layer-data",
        choices=("sincs", "dask"),
        default="sincs",
        help="layer data: the reader's arrays (default) or dask arrays over the file",
    )
    viewer.add_argument(
        "--repeats", type=int, default=3, help="opens per file; each figure is their median"
    )
    viewer.set_defaults(run=_viewer)

    seams = commands.add_parser(
        "seams", help="tile-border jumps of .sincs files against their originals"
    )
    seams.add_argument("files", nargs="+", type=Path, help="files named after their dataset")
    seams.add_argument("--out", default=None)
    seams.set_defaults(run=_seams)

    ablation = commands.add_parser(
        "ablations",
        help="transfer, weight residuals, saliency, precision, output refit, latent parts",
    )
    ablation.add_argument(
        "which", choices=["transfer", "residuals", "saliency", "precision", "refit", "latent"]
    )
    ablation.add_argument("names", nargs="*")
    ablation.add_argument(
        "--family",
        choices=families.choices(),
        default="auto",
        help="network family for the saliency and precision ablations (transfer and residuals "
        "always use the method's pe_mlp)",
    )
    ablation.add_argument(
        "--variants",
        nargs="+",
        metavar="TEXT",
        help="latent parts: only the variants whose label contains one of these; their rows "
        "replace the same (dataset, variant) rows of the table, the others stay",
    )
    ablation.set_defaults(run=_ablation)

    bounded = commands.add_parser("bounded", help="lossless and error-bounded vs zstd, SZ3, ZFP")
    bounded.add_argument("names", nargs="*")
    bounded.set_defaults(run=_bounded)

    memory = commands.add_parser("memory", help="peak memory compressing 1 GB and 4 GB stacks")
    memory.add_argument(
        "--family", choices=("auto", "latent"), default="auto", help="the network family"
    )
    memory.set_defaults(run=_memory)

    kills = commands.add_parser("kills", help="SIGKILL compressions, count what is left")
    kills.add_argument("--rounds", type=int, default=50)
    kills.set_defaults(run=_kills)

    fid = commands.add_parser("fidelity", help="segmentation after napari-sincs and JPEG 2000")
    fid.add_argument("names", nargs="*")
    fid.set_defaults(run=_fidelity)

    targets = commands.add_parser("targets", help="the performance targets, checked on rd.csv")
    targets.add_argument("--csv", help="rd CSV to read (default docs/results/rd.csv)")
    targets.set_defaults(run=_targets)

    imports = commands.add_parser("imports", help="import time of the reader, API and encoder")
    imports.add_argument("--runs", type=int, default=7)
    imports.set_defaults(run=_imports)

    scaling = commands.add_parser("scaling", help="1 vs 2 local dask workers on a 3D+T stack")
    scaling.add_argument("name", nargs="?", default="cells3d_nuclei")
    scaling.set_defaults(run=_scaling)

    args = parser.parse_args(argv)
    return args.run(args)


def _fidelity(args: argparse.Namespace) -> int:
    from .fidelity import IMAGES, measure_fidelity, plot

    rows = []
    for dataset in discover(args.data, args.names or IMAGES):
        rows += measure_fidelity(dataset)
        print(json.dumps(rows[-1]), flush=True)
    plot(rows, DOCS / "images" / "fidelity.png")
    return _print_and_write(rows, "fidelity", "Segmentation after compression")


def _imports(args: argparse.Namespace) -> int:
    from .imports import measure_imports

    rows = measure_imports(args.runs)
    return _print_and_write(rows, "imports", "Import time in a fresh interpreter")


def _scaling(args: argparse.Namespace) -> int:
    from .scaling import measure_scaling

    [dataset] = discover(args.data, [args.name])
    rows = measure_scaling(dataset)
    return _print_and_write(rows, "scaling", "Compression on 1 and 2 local dask workers")


def _targets(args: argparse.Namespace) -> int:
    from .report import read
    from .targets import check

    csv_path = Path(args.csv or RESULTS / "rd.csv")
    rows = check(read(csv_path.name, csv_path.parent), discover(args.data))
    return _print_and_write(rows, "targets", "Performance targets against rd.csv")


def _kills(args: argparse.Namespace) -> int:
    from .kills import measure_kills

    rows = measure_kills(args.data, args.rounds)
    return _print_and_write(rows, "kills", "Compressions killed at random moments")


def _memory(args: argparse.Namespace) -> int:
    from .memory import measure_memory

    rows = measure_memory(args.data, args.family)
    out = "memory" if args.family == "auto" else f"memory_{args.family}"
    return _print_and_write(rows, out, f"Peak memory against input size ({args.family})")


ABLATION_IMAGES = {
    "transfer": ["cell_migration_2dt", "drosophila_histone_2dt", "cells3d_nuclei"],
    "residuals": [
        "cell_migration_2dt",
        "drosophila_histone_2dt",
        "cells3d_nuclei",
        "brain_cells_3d",
    ],
    "saliency": ["nuclei2d", "cell_phase", "hela_3ch", "beads3d"],
    "latent": ["nuclei3d", "nuclei2d", "cell_migration_2dt"],
    "precision": ["nuclei3d", "fmri_4d", "cell_migration_2dt", "nuclei2d"],
    "refit": [
        "beads3d",
        "brain_cells_3d",
        "cell_migration_2dt",
        "cells3d_nuclei",
        "drosophila_histone_2dt",
        "fmri_4d",
        "nuclei3d",
        "t1_head_mini3d",
    ],
}


def _ablation(args: argparse.Namespace) -> int:
    from . import ablations

    rows = []
    for dataset in discover(args.data, args.names or ABLATION_IMAGES[args.which]):
        if args.which == "transfer":
            rows += ablations.transfer(dataset)
        elif args.which == "residuals":
            rows.append(ablations.weight_residuals(dataset))
        elif args.which == "precision":
            rows += ablations.precision(dataset, args.family)
        elif args.which == "refit":
            rows += ablations.refit(dataset)
        elif args.which == "latent":
            rows += ablations.latent_parts(dataset, args.variants)
        else:
            rows += ablations.saliency(dataset, args.family)
        print(json.dumps(rows[-1]), flush=True)
    chosen = "" if args.family == "auto" else f"_{args.family}"
    title = f"Ablation: {args.which}" + (f" ({args.family})" if chosen else "")
    stem = f"ablation_{args.which}{chosen}"
    if args.variants:
        rows = _merged(rows, stem, ("dataset", "variant"))
    return _print_and_write(rows, stem, title)


def _merged(rows: list[dict], stem: str, key: tuple[str, ...]) -> list[dict]:
    """The rows of a results table with `rows` in place of those of the same key, new ones last
    (a part of a table measured again)."""
    path = RESULTS / f"{stem}.csv"
    if not path.exists():
        return rows
    with open(path, newline="") as handle:
        kept = list(csv.DictReader(handle))
    fresh = {tuple(str(row[k]) for k in key): row for row in rows}
    merged = [fresh.pop(tuple(row[k] for k in key), row) for row in kept]
    return merged + list(fresh.values())


def _bounded(args: argparse.Namespace) -> int:
    from .bounded import measure_bounded

    rows = []
    for dataset in discover(args.data, args.names or None):
        rows += measure_bounded(dataset)
        print(json.dumps(rows[-1]), flush=True)
    return _print_and_write(rows, "bounded", "Lossless and error-bounded")


def _print_and_write(rows: list[dict], out: str | None, title: str) -> int:
    for row in rows:
        print(json.dumps(row), flush=True)
    if out and rows:
        print(f"wrote {write_table(rows, out, title)}")
    return 0


def _core(args: argparse.Namespace) -> int:
    from .core import measure

    settings = json.loads(args.settings)
    rows = [measure(d, args.ratio, **settings) for d in discover(args.data, args.names or None)]
    return _print_and_write(rows, args.out, f"napari-sincs at {args.ratio:g}x")


def _transfer(args: argparse.Namespace) -> int:
    from .transfer import measure_transfer

    rows = [
        row
        for dataset in discover(args.data, args.names or None)
        for row in measure_transfer(dataset, args.ratio, args.pairs)
    ]
    return _print_and_write(rows, args.out, "Weight transfer: steps to the same loss")


def _viewer(args: argparse.Namespace) -> int:
    from napari_sincs._napari.prefetch import prefetch_planes, shared_prefetcher

    from .viewer import measure_viewer, median_row, warm_up

    if args.prefetch is not None:
        prefetch_planes(args.prefetch)
    if args.volume_voxels is not None:
        os.environ["NAPARI_SINCS_VOLUME_VOXELS"] = str(args.volume_voxels)
    warm_up()
    budget = os.environ.get("NAPARI_SINCS_VOLUME_VOXELS", "default")
    setting = f"{args.layer_data}, prefetch {shared_prefetcher().planes}, 3D budget {budget}"
    rows = [
        {"setting": setting}
        | median_row(
            [measure_viewer(path, layer_data=args.layer_data) for _ in range(args.repeats)]
        )
        for path in args.files
    ]
    return _print_and_write(rows, args.out, "Browsing in napari")


def _seams(args: argparse.Namespace) -> int:
    from .seams import measure_file

    known = discover(args.data, None)
    rows = []
    for path in args.files:
        dataset = max(
            (d for d in known if path.stem.startswith(d.name)),
            key=lambda d: len(d.name),
            default=None,
        )
        if dataset is None:
            raise SystemExit(f"{path.name}: name it after one of {[d.name for d in known]}")
        rows.append(measure_file(path, dataset))
        print(json.dumps(rows[-1]), flush=True)
    return _print_and_write(rows, args.out, "Seams of .sincs files")


if __name__ == "__main__":
    sys.exit(main())
