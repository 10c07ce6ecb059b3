"""docs/benchmarks.md and its plots, regenerated from the CSVs the benchmarks write."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
RESULTS = DOCS / "results"
SINCS = "napari-sincs"


def read(name: str, results: Path = RESULTS) -> list[dict]:
    path = results / name
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _reached(row: dict) -> bool:
    return str(row.get("reached")) == "True"


def plot(rows: list[dict], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in rows})
    # One colour per codec in every panel, whichever codecs a panel lacks.
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    codecs = sorted({r["codec"] for r in rows if r["codec"] != SINCS})
    colours = {c: palette[i % len(palette)] for i, c in enumerate(codecs)} | {SINCS: "black"}
    columns = 3
    lines = math.ceil(len(datasets) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(5 * columns, 3.6 * lines), squeeze=False)
    for ax, dataset in zip(axes.flat, datasets):
        by_codec = defaultdict(list)
        for r in rows:
            if r["dataset"] == dataset and _reached(r):
                by_codec[r["codec"]].append((_number(r["ratio"]), _number(r[metric])))
        for codec, points in sorted(by_codec.items()):
            points.sort()
            width = 2.5 if codec == SINCS else 1.5
            ax.plot(*zip(*points), marker="o", label=codec, color=colours[codec], linewidth=width)
        ax.set_xscale("log")
        ax.set_title(dataset)
        ax.set_xlabel("achieved ratio")
        ax.set_ylabel(metric.upper())
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[c], marker="o", label=c) for c in [*codecs, SINCS]]
    figure.legend(handles=handles, loc="lower center", ncol=4)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def rd_tables(rows: list[dict]) -> list[str]:
    lines = []
    for dataset in sorted({r["dataset"] for r in rows}):
        lines += [
            f"### {dataset}",
            "",
            "| codec | target | ratio | PSNR dB | SSIM | encode s | decode s "
            "| 512² region ms | peak MB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted(
            (r for r in rows if r["dataset"] == dataset),
            key=lambda r: (_number(r["target"]), r["codec"] != SINCS, r["codec"]),
        ):
            target = f"{_number(r['target']):g}×"
            name = f"**{r['codec']}**" if r["codec"] == SINCS else r["codec"]
            if not _reached(r):
                why = r.get("setting", "")
                lines.append(f"| {name} | {target} | not reachable: {why} |" + "  |" * 6)
                continue
            region = r["region_ms"] + ("" if r["region_native"] == "True" else " (full decode)")
            cells = [name, target, r["ratio"], r["psnr"], r["ssim"], r["encode_s"], r["decode_s"]]
            lines.append("| " + " | ".join([*cells, region, r["peak_mb"]]) + " |")
        lines.append("")
    return lines


INR_S = "INR-S"


def summary(rows: list[dict]) -> list[str]:
    """napari-sincs against the best classical codec, and the INR-S baseline, per target."""
    header = ["image", "target", "napari-sincs PSNR / SSIM", "best classical codec"]
    header += ["its PSNR / SSIM", "ΔPSNR dB", "INR-S PSNR / SSIM"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = sorted({(r["dataset"], _number(r["target"])) for r in rows})
    for dataset, target in keys:
        group = [r for r in rows if r["dataset"] == dataset and _number(r["target"]) == target]
        measured = any(r["codec"] == SINCS for r in group)
        mine = next((r for r in group if r["codec"] == SINCS and _reached(r)), None)
        others = [r for r in group if not r["codec"].startswith((SINCS, INR_S)) and _reached(r)]
        best = max(others, key=lambda r: _number(r["psnr"]), default=None)
        baseline = next((r for r in group if r["codec"].startswith(INR_S)), None)
        missing = "not reachable" if measured else "not measured yet"
        ours = f"{mine['psnr']} / {mine['ssim']}" if mine else missing
        theirs = f"{best['psnr']} / {best['ssim']}" if best else "–"
        delta = f"{_number(mine['psnr']) - _number(best['psnr']):+.2f}" if mine and best else "–"
        other = best["codec"] if best else "none reaches it"
        inr_s = "not measured yet"
        if baseline:
            inr_s = (
                f"{baseline['psnr']} / {baseline['ssim']}"
                if _reached(baseline)
                else "not reachable"
            )
        cells = [dataset, f"{target:g}×", ours, other, theirs, delta, inr_s]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _family(row: dict | None) -> str:
    """The network family a napari-sincs row used (its setting starts with "family: ...")."""
    setting = row.get("setting", "") if row and _reached(row) else ""
    return setting.split(":")[0] if ":" in setting else ""


def family_table(rows: list[dict]) -> list[str]:
    """Each network family against the default's own choice, wherever a family was measured."""
    variant = SINCS + " (family={})"
    keys = sorted(
        {(r["dataset"], _number(r["target"])) for r in rows if r["codec"].startswith(variant[:-3])}
    )
    lines = [
        "| image | target | pe_mlp | grid | default: family chosen | grid − pe_mlp dB |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, target in keys:
        found = {
            r["codec"]: r
            for r in rows
            if r["dataset"] == dataset and _number(r["target"]) == target
        }
        default = found.get(SINCS)
        # A row that missed its ratio names no family; the harness runs the default with
        # threshold saliency, for which "auto" is always the PE-MLP.
        chosen = _family(default) or ("pe_mlp" if default else "")
        by_family = {
            name: found.get(variant.format(name)) or (default if chosen == name else None)
            for name in ("pe_mlp", "grid")
        }
        cells = []
        for row in (*by_family.values(), default):
            if row is None:
                cells.append("not measured")
            else:
                cells.append(f"{row['psnr']} / {row['ssim']}" if _reached(row) else "not reachable")
        cells[-1] += f" ({chosen})" if chosen else ""
        pe, grid = by_family["pe_mlp"], by_family["grid"]
        both = pe and grid and _reached(pe) and _reached(grid)
        delta = f"{_number(grid['psnr']) - _number(pe['psnr']):+.2f}" if both else "–"
        lines.append(f"| {dataset} | {target:g}× | " + " | ".join(cells) + f" | {delta} |")
    return lines


LATENT = SINCS + " (family=latent)"
LATENT_FAST = SINCS + " (family=latent, preset=fast)"


def _latent_cell(row: dict | None) -> str:
    if row is None:
        return "–"
    if not _reached(row):
        return f"not reachable ({row.get('setting', '')})"
    return f"{row['ratio']}×, {row['psnr']} / {row['ssim']}, {row['encode_s']} s"


def latent_table(rows: list[dict]) -> list[str]:
    """The latent family (balanced and, where measured, fast) against the previous default and
    the best classical codec, with its seam measurement, wherever it was measured."""
    lines = [
        "| image | target | latent: ratio, PSNR / SSIM, compress | fast preset | previous "
        "default | best classical codec | ΔPSNR vs best dB | seam (original; decoded mid-tile) "
        "| decode s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["dataset"], _number(r["target"])) for r in rows if r["codec"] == LATENT})
    for dataset, target in keys:
        group = [r for r in rows if r["dataset"] == dataset and _number(r["target"]) == target]
        latent = next(r for r in group if r["codec"] == LATENT)
        default = next((r for r in group if r["codec"] == SINCS), None)
        others = [r for r in group if not r["codec"].startswith((SINCS, INR_S)) and _reached(r)]
        best = max(others, key=lambda r: _number(r["psnr"]), default=None)
        fast = next((r for r in group if r["codec"] == LATENT_FAST), None)
        reached = _reached(latent)
        previous = (
            f"{default['psnr']} / {default['ssim']}" if default and _reached(default) else "–"
        )
        theirs = f"{best['codec']}: {best['psnr']} / {best['ssim']}" if best else "–"
        delta = (
            f"{_number(latent['psnr']) - _number(best['psnr']):+.2f}" if reached and best else "–"
        )
        seam = "one tile"
        if latent.get("seam"):
            control = latent.get("seam_control") or "–"
            seam = f"{latent['seam']} ({latent['seam_original']}; mid-tile {control})"
            if latent.get("seam_local"):
                seam += f"; local {latent['seam_local']} ({latent['seam_local_original']})"
        decode = latent.get("decode_s") or "–"
        ours, quick = _latent_cell(latent), _latent_cell(fast)
        cells = [dataset, f"{target:g}×", ours, quick, previous, theirs, delta, seam, decode]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


SECTIONS = (
    ("targets.csv", "Performance targets", "python -m benchmarks targets"),
    ("core_100x.csv", "napari-sincs at 100×", "python -m benchmarks core --out core_100x"),
    ("fidelity.csv", "Segmentation after compression", "python -m benchmarks fidelity"),
    ("scaling.csv", "Dask workers", "python -m benchmarks scaling"),
    ("memory.csv", "Peak memory against input size", "python -m benchmarks memory"),
    (
        "memory_latent.csv",
        "Peak memory against input size, latent family (tile by tile)",
        "python -m benchmarks memory --family latent",
    ),
    ("kills.csv", "Compressions killed at random moments", "python -m benchmarks kills"),
    ("bounded.csv", "Lossless and error-bounded", "python -m benchmarks bounded"),
    (
        "ablation_transfer.csv",
        "Ablation: weight transfer",
        "python -m benchmarks ablations transfer",
    ),
    (
        "ablation_residuals.csv",
        "Ablation: residual coding of weights",
        "python -m benchmarks ablations residuals",
    ),
    ("ablation_saliency.csv", "Ablation: saliency", "python -m benchmarks ablations saliency"),
    (
        "ablation_saliency_grid.csv",
        "Ablation: saliency with feature grids",
        "python -m benchmarks ablations saliency nuclei2d cell_phase hela_3ch --family grid",
    ),
    (
        "ablation_precision.csv",
        "Ablation: weight precision and network size",
        "python -m benchmarks ablations precision",
    ),
    (
        "ablation_refit.csv",
        "Ablation: output-layer refit after quantisation",
        "python -m benchmarks ablations refit",
    ),
    (
        "ablation_precision_grid.csv",
        "Ablation: weight precision and network size, feature grids",
        "python -m benchmarks ablations precision cell_migration_2dt nuclei2d --family grid",
    ),
    (
        "latent_speed_balanced.csv",
        "Latent family: compress and decode speed on idle cores, balanced preset",
        'python -m benchmarks core --ratio 100 --settings \'{"family": "latent", "preset": '
        '"balanced"}\' --out latent_speed_balanced cells3d_nuclei cell_migration_2dt hela_3ch '
        "nuclei2d",
    ),
    (
        "latent_speed_fast.csv",
        "Latent family: compress and decode speed on idle cores, fast preset",
        'python -m benchmarks core --ratio 100 --settings \'{"family": "latent", "preset": '
        '"fast"}\' --out latent_speed_fast cells3d_nuclei cell_migration_2dt hela_3ch '
        "nuclei2d",
    ),
    (
        "latent_viewer.csv",
        "Latent family: browsing in napari",
        "sincs compress IMAGE --axes AXES --family latent --ratio 100 -o NAME.sincs (balanced), "
        "then xvfb-run -a python -m benchmarks viewer cell_migration_2dt.sincs "
        "cells3d_nuclei.sincs hela_3ch.sincs --out latent_viewer",
    ),
    (
        "latent_seams.csv",
        "Latent family: seams, against every jump inside the tiles and against the lines beside "
        "each border",
        "sincs compress IMAGE --axes AXES --family latent --ratio 100 -o NAME.sincs (balanced), "
        "then python -m benchmarks seams NAME.sincs ... --out latent_seams",
    ),
    (
        "ablation_latent.csv",
        "Ablation: the latent family's parts",
        "python -m benchmarks ablations latent; the rows of the tiled fit (and their images' "
        "defaults) measured again with python -m benchmarks ablations latent nuclei2d "
        "cells3d_nuclei drosophila_histone_2dt --variants defaults 'tiles trained apart'",
    ),
    (
        "ablation_saliency_latent.csv",
        "Ablation: saliency with the latent family",
        "python -m benchmarks ablations saliency nuclei3d nuclei2d --family latent",
    ),
)


def table(rows: list[dict]) -> list[str]:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    return lines + ["| " + " | ".join(str(r.get(f, "")) for f in fields) + " |" for r in rows]


def sections(results: Path = RESULTS) -> list[str]:
    """A section per ablation or comparison whose CSV exists."""
    lines = []
    for name, title, command in SECTIONS:
        rows = read(name, results)
        if rows:
            lines += [f"## {title}", "", f"`{command}`", "", *table(rows), ""]
    return lines


def write(machine: str, command: str, docs: Path = DOCS, rd_csv: str = "rd.csv") -> Path:
    """docs/benchmarks.md (and its plots in docs/images) from the CSVs in docs/results."""
    results, images = docs / "results", docs / "images"
    rows = read(rd_csv, results)
    lines = [
        "# Benchmarks",
        "",
        "Regenerated by the benchmark harness; do not edit by hand. Reproduce with",
        "",
        f"```bash\n{command}\n```",
        "",
        f"Measured on: {machine}. The machine is shared and noisy: compare times within a table.",
        "Rows resumed over several sessions may have run with another torch thread count (the",
        "CSV keeps no thread count; docs/performance.md says which rows).",
        "Ratio is raw bytes over every stored byte; PSNR uses the data range of the original; SSIM",
        "is the mean over 2D planes. Each codec searches its own quality knob for the best quality",
        'at or under the byte budget of the target ratio; "not reachable" means even its',
        "coarsest setting stays more than 5% above the budget. Decode times are medians of three",
        "runs (one for INR-S and the grid variant); encode time is that of the setting kept.",
        "Peak memory is the largest resident set of the measuring process (or ffmpeg) in MB,",
        "the image and libraries included.",
        "Rows say in their setting which network family napari-sincs used. Which targets are",
        "met, and what each lever bought: [performance.md](performance.md).",
        "",
        'The rows named "napari-sincs" were measured when the default (`family="auto"`) meant',
        "the PE-MLP with threshold saliency on every image. The default now picks the latent",
        "family on images of up to 32 Mvoxel, time series up to 550×, single planes and channel",
        "stacks up to 170× and z stacks up to 170×, in files of at least 2 kB: those rows are",
        '"napari-sincs (family=latent)", in "Latent family" below.',
        "",
    ]
    if rows:
        plot(rows, "psnr", images / "rd_psnr.png")
        plot(rows, "ssim", images / "rd_ssim.png")
        lines += [
            "## napari-sincs against the best classical codec",
            "",
            *summary(rows),
            "",
            "![PSNR against ratio](images/rd_psnr.png)",
            "",
            "![SSIM against ratio](images/rd_ssim.png)",
            "",
            "## Network family",
            "",
            "PSNR / SSIM of napari-sincs with each network family (threshold saliency, the",
            'default) and the family the previous default (`family="auto"`) chose: the PE-MLP',
            "whenever a saliency map guides sampling, since grids cannot move capacity onto the",
            "salient structures (see the saliency ablation); grids only with uniform sampling.",
            "",
            *family_table(rows),
            "",
            "## Latent family",
            "",
            'The latent-grid family (`family="latent"`, threshold saliency as every row here)',
            "beside the previous default and the best classical codec at the same target. Seam:",
            "the mean jump between neighbouring voxels across tile borders over the same inside",
            "tiles (1.0: borders do not show); in brackets the original's at the same borders,",
            "and the decode's at lines halfway between borders, where no border is: how much the",
            "ratio moves with content alone.",
            "",
            *latent_table(rows),
            "",
            "## Every measurement",
            "",
            *rd_tables(rows),
            "CSV: [results/rd.csv](results/rd.csv)",
            "",
        ]
    lines += sections(results)
    path = docs / "benchmarks.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
