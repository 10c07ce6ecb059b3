"""The `sincs` command line: compress (one image, several, or a folder), decompress, info, demo.

Exit status: 0 done; 1 an error the user can fix, printed as one line `sincs: error: ...`
(also when a reader such as `| head` stops early); 2 a usage error (argparse's own); 3 a file
was written but `--strict` asked for a PSNR or error bound it did not reach; 130 cancelled
with Ctrl-C (no file written). A batch goes on past an image that fails, and exits 1 at the
end if any did. Global options (-v) go before or after the subcommand.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ._version import __version__
from .api import compress_file, open_sincs
from .cli_analysis import register as register_analysis
from .cli_analysis import shown
from .codec import families, presets, saliency
from .codec.config import CompressionConfig, parse_block
from .codec.errors import (
    CompressionCancelled,
    InvalidConfigError,
    InvalidInputError,
    MissingFileError,
    OutputError,
    SincsError,
)
from .io import IMAGE_SUFFIXES, write_tiff
from .ome_zarr import is_zarr
from .progress import FIT, STAGE_WORDS, CancelToken, ProgressEvent, stage_fraction

EXIT_ERROR = 1
EXIT_MISSED = 3
EXIT_CANCELLED = 130


def _block(text: str) -> tuple[int, ...] | None:
    try:
        return parse_block(text)
    except InvalidConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_roi(text: str, shape: Sequence[int]) -> tuple[slice, ...]:
    """'z0:z1,y0:y1,x0:x1' (the last axes; ':' keeps an axis whole, 'i' takes one index)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > len(shape):
        raise InvalidInputError(
            f"--roi names {len(parts)} axes but the file has {len(shape)}; give at most one "
            "range per axis, e.g. 10:20,0:256,0:256."
        )
    region = [slice(0, s) for s in shape]
    for i, part in enumerate(parts, start=len(shape) - len(parts)):
        try:
            if ":" in part:
                lo, hi = part.split(":", 1)
                start = int(lo) if lo else 0
                stop = int(hi) if hi else shape[i]
            else:
                start = int(part)
                stop = start + 1
        except ValueError as exc:
            raise InvalidInputError(f"--roi entry {part!r} is not a range such as 10:20.") from exc
        if not (-shape[i] <= start < shape[i] and -shape[i] <= stop <= shape[i]):
            raise InvalidInputError(
                f"--roi entry {part!r} goes past an axis of {shape[i]} (0:{shape[i]} is all of "
                "it; negative numbers count from the end)."
            )
        start, stop, _ = slice(start, stop).indices(shape[i])
        if stop <= start:
            raise InvalidInputError(
                f"--roi entry {part!r} selects nothing on an axis of {shape[i]}."
            )
        region[i] = slice(start, stop)
    return tuple(region)


class _ProgressBar:
    """tqdm bar on stderr, opened at the first progress event (errors before it print alone)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.attempt = 0
        self.stage = ""

    def _reset(self, description: str) -> tqdm:
        if self.bar is None:
            self.bar = tqdm(
                total=1,
                disable=self.quiet,
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                bar_format="{desc}{percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",
            )
        self.bar.reset(total=1)
        self.bar.set_description(description)
        self.bar.set_postfix()
        return self.bar

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage == FIT:
            if event.attempt != self.attempt:
                self.attempt = event.attempt
                self._reset(STAGE_WORDS[FIT] if event.attempt == 1 else f"refit {event.attempt}")
            bar = self.bar
            done = (event.group + event.step / event.steps) / event.groups
            bar.set_postfix(
                group=f"{event.group + 1}/{event.groups}", loss=f"{event.loss:.2e}", refresh=False
            )
        else:
            if event.stage != self.stage:
                self._reset(STAGE_WORDS.get(event.stage, event.stage))
            bar = self.bar
            done = stage_fraction(event)
        self.stage = event.stage
        bar.update(done - bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _config(args: argparse.Namespace) -> CompressionConfig:
    settings = {
        key: value
        for key, value in {
            "time_groups": args.groups,
            "block": args.block,
            "saliency": args.saliency,
            "threshold": args.threshold,
            "saliency_floor": args.floor,
            "family": args.family,
            "preset": args.preset,
            "steps": args.steps,
            "seed": args.seed,
            "device": args.device,
        }.items()
        if value is not None
    }
    if args.lossless:
        settings["max_error"] = 0.0
    elif args.max_error is not None:
        settings["max_error"] = args.max_error
    if args.psnr is not None:
        settings["psnr"] = args.psnr
    return CompressionConfig(ratio=args.ratio, **settings)


def batch_inputs(names: Sequence[str]) -> list[Path]:
    """The images to compress: each file or zarr store named, and the images in each folder
    named (not its subfolders), in name order."""
    inputs: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir() and not is_zarr(path):
            found = sorted(
                p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES or is_zarr(p)
            )
            if not found:
                raise MissingFileError(
                    f"the folder {path} holds no image ({', '.join(IMAGE_SUFFIXES)} or zarr)."
                )
            inputs.extend(found)
        else:
            inputs.append(path)
    return inputs


def batch_outputs(inputs: Sequence[Path], output: str | None) -> list[Path]:
    """Where each input goes: `output` for one input; for several, `output` is a folder (made
    if missing; default: beside each input), and two inputs may not land on one file."""
    if len(inputs) == 1 and not (output and Path(output).is_dir()):
        return [Path(output) if output else _sincs_name(inputs[0], inputs[0].parent)]
    folder = Path(output) if output else None
    if folder is not None and folder.suffix == ".sincs":
        raise OutputError(
            f"{len(inputs)} inputs cannot all go to {folder.name}; give -o a folder instead."
        )
    outputs = [_sincs_name(p, folder or p.parent) for p in inputs]
    clashes = sorted({o.name for o in outputs if outputs.count(o) > 1})
    if clashes:
        raise OutputError(
            f"several inputs would be written to {', '.join(clashes)}; compress them apart."
        )
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return outputs


def _sincs_name(source: Path, folder: Path) -> Path:
    """name.ome.tif -> name.sincs (every suffix of an image name goes)."""
    stem = source.name
    for suffix in (".zarr", *IMAGE_SUFFIXES, ".ome"):
        stem = stem.removesuffix(suffix).removesuffix(suffix.upper())
    return folder / f"{stem}.sincs"


def _compress(args: argparse.Namespace) -> int:
    config = _config(args)
    inputs = batch_inputs(args.input)
    outputs = batch_outputs(inputs, args.output)
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    reports, failed, missed = [], [], []
    try:
        for number, (source, output) in enumerate(zip(inputs, outputs), start=1):
            if len(inputs) > 1 and not args.quiet:
                print(f"[{number}/{len(inputs)}] {source} -> {output}", file=sys.stderr)
            bar = _ProgressBar(args.quiet)
            try:
                report = compress_file(
                    source,
                    output,
                    axes=args.axes,
                    config=config,
                    progress=bar,
                    cancel=cancel,
                    overwrite=args.force,
                    scheduler=args.scheduler,
                    workers=args.workers,
                )
            except CompressionCancelled:
                raise
            except SincsError as exc:
                if len(inputs) == 1:
                    raise
                print(f"sincs: error: {source.name}: {exc}", file=sys.stderr)
                failed.append(source)
                continue
            finally:
                bar.close()
            reports.append(report)
            if not args.json:
                print(report)
            if not report.met:
                missed.append(report)
                word = "error" if args.strict else "warning"
                print(f"sincs: {word}: {report.guarantee} was not reached", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        dicts = [r.to_dict() for r in reports]
        print(json.dumps(dicts[0] if len(inputs) == 1 else dicts, indent=2))
    if len(inputs) > 1:
        print(
            f"sincs: {len(reports)} of {len(inputs)} compressed"
            + (f"; failed: {', '.join(p.name for p in failed)}" if failed else ""),
            file=sys.stderr,
        )
    if failed:
        return EXIT_ERROR
    return EXIT_MISSED if missed and args.strict else 0


def _decompress(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else Path(args.input).with_suffix(".tif")
    if output.suffix.lower() == ".zarr":
        return _decompress_ome_zarr(args, output)
    with open_sincs(args.input, cache_bytes=0) as lazy:
        _check_level(args.level, (lazy.layout.extent("y"), lazy.layout.extent("x")))
        view = lazy.at_level(args.level)
        region = parse_roi(args.roi, view.shape) if args.roi else None
        data = view[region] if region is not None else view[...]
        metadata = lazy.header.metadata
        if args.level:
            factor = 2**args.level
            scaled = {a: s * factor if a in "yx" else s for a, s in metadata.scale.items()}
            metadata = type(metadata)(metadata.name, scaled, metadata.units, metadata.channel_names)
        write_tiff(output, data, lazy.axes, metadata, overwrite=args.force)
    print(f"wrote {output} ({'x'.join(map(str, data.shape))} {data.dtype}, axes {lazy.axes})")
    return 0


def _decompress_ome_zarr(args: argparse.Namespace, output: Path) -> int:
    """The whole image, every pyramid level, as an OME-Zarr store."""
    from .ome_zarr_out import write_ome_zarr

    if args.roi or args.level:
        raise InvalidInputError(
            "an OME-Zarr output holds the whole image at every pyramid level, so --roi and "
            "--level do not apply; drop them, or write a .tif to get one region or level."
        )
    with open_sincs(args.input, cache_bytes=0) as lazy:
        write_ome_zarr(lazy, output, overwrite=args.force)
        shape = "x".join(map(str, lazy.shape))
        levels = len(lazy.levels)
    print(f"wrote {output} ({shape} {lazy.dtype}, axes {lazy.axes}, {levels} levels, OME-Zarr)")
    return 0


def _check_level(level: int, plane: Sequence[int]) -> None:
    """Refuse a level so coarse that the larger of y, x would keep fewer than 2 pixels."""
    coarsest = max(0, math.floor(math.log2(max(plane))) - 1)
    if not 0 <= level <= coarsest:
        raise InvalidInputError(
            f"--level {level} is not a level of this {plane[0]}×{plane[1]} file: level L keeps "
            f"every 2**L-th pixel of y and x, so choose 0 to {coarsest}."
        )


def _info(args: argparse.Namespace) -> int:
    with open_sincs(args.input, cache_bytes=0) as lazy:
        header = lazy.header
        size = lazy.decoder.source.file_size
        info = {
            "file": str(args.input),
            "format_version": ".".join(map(str, lazy.decoder.source.version)),
            "codec_version": header.codec_version,
            "shape": list(header.layout.shape),
            "axes": header.layout.axes,
            "dtype": header.dtype,
            "name": header.metadata.name,
            "scale": header.metadata.scale,
            "units": header.metadata.units,
            "origin": header.metadata.origin,
            "channel_names": header.metadata.channel_names,
            "file_bytes": size,
            "raw_bytes": header.raw_bytes,
            "ratio": round(header.raw_bytes / size, 2),
            "groups": len(header.plan),
            "time_groups": header.plan.time_groups,
            "block": list(header.plan.block),
            "keyframe_interval": header.plan.keyframe_interval,
            "model": header.model.to_dict(),
            "parameters_per_group": header.model.n_parameters,
            "weight_bits": header.bits,
            "levels": [list(level.shape) for level in lazy.levels],
            "stats": header.stats,
            "config": header.config.to_dict(),
        }
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    for key, value in info.items():
        if key != "config":
            print(f"{key:>22}: {shown(value)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print(f"compressing the bundled sample at {args.ratio:g}x (a few minutes on a CPU)...")
    bar = _ProgressBar(args.quiet)
    try:
        _, summary = run_demo(args.output, args.ratio, progress=bar)
    finally:
        bar.close()
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sincs",
        description="Compress bioimages into implicit neural representations (.sincs) and back.",
    )
    parser.add_argument("--version", action="version", version=f"napari-sincs {__version__}")
    verbose = {"action": "store_true", "help": "log what the codec decides"}
    parser.add_argument("-v", "--verbose", **verbose)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_compress(commands)
    _add_decompress(commands)
    _add_info(commands)
    _add_demo(commands)
    register_analysis(commands)
    for command in commands.choices.values():
        command.add_argument("-v", "--verbose", default=argparse.SUPPRESS, **verbose)
    return parser


def _add_compress(commands: argparse._SubParsersAction) -> None:
    c = commands.add_parser("compress", help="compress TIFF/PNG/zarr images into .sincs files")
    c.add_argument(
        "input",
        nargs="+",
        help="TIFF, OME-TIFF, ImageJ TIFF, PNG, JPEG or (OME-)Zarr; several, or a folder of "
        "them, are compressed one after the other with the same settings",
    )
    c.add_argument(
        "-o",
        "--output",
        help="output .sincs (default: input name with .sincs); with several inputs a folder",
    )
    c.add_argument("--ratio", type=float, default=100.0, help="target compression ratio (100)")
    c.add_argument("--psnr", type=float, help="smallest file with at least this PSNR (dB)")
    c.add_argument(
        "--max-error", type=float, help="every voxel within this of the original (exact residual)"
    )
    c.add_argument("--lossless", action="store_true", help="bit-exact (same as --max-error 0)")
    c.add_argument("--axes", help="name every dimension, e.g. tyx or zyxc (default: from file)")
    c.add_argument("--groups", type=int, help="interlaced time groups (default: up to 4)")
    c.add_argument("--block", type=_block, help="spatial block y,x or z,y,x (default: from budget)")
    c.add_argument(
        "--saliency",
        choices=saliency.choices(),
        help=f"sampling map (default threshold): {saliency.help_text()}",
    )
    c.add_argument("--threshold", type=float, help="normalised threshold in [0, 1] (Otsu)")
    c.add_argument(
        "--floor",
        type=float,
        help="sampling weight in (0, 1] of voxels below the threshold "
        f"({CompressionConfig().saliency_floor})",
    )
    c.add_argument("--family", choices=families.choices(), help=f"networks: {families.help_text()}")
    c.add_argument(
        "--preset",
        choices=tuple(presets.PRESETS),
        help="how long to train: "
        + "; ".join(f"{name} ({p.summary})" for name, p in presets.PRESETS.items()),
    )
    c.add_argument("--steps", type=int, help="training steps of a keyframe group (per family)")
    c.add_argument("--seed", type=int, help="random seed (0)")
    c.add_argument("--device", help="auto, cpu, cuda or cuda:N (auto)")
    c.add_argument("--scheduler", help="fit on a dask cluster, e.g. tcp://host:8786")
    c.add_argument("--workers", type=int, help="fit on a local dask cluster of N processes")
    c.add_argument("--force", action="store_true", help="overwrite an existing output")
    c.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with status {EXIT_MISSED} when --psnr or --max-error is not reached "
        "(the file is still written)",
    )
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    c.set_defaults(run=_compress)


def _add_decompress(commands: argparse._SubParsersAction) -> None:
    d = commands.add_parser(
        "decompress", help="decode a .sincs file (or a region) to OME-TIFF or OME-Zarr"
    )
    d.add_argument("input", help=".sincs file")
    d.add_argument(
        "-o",
        "--output",
        help="output .tif, or .zarr (e.g. out.ome.zarr) for an OME-Zarr of every pyramid level "
        "(default: input name with .tif)",
    )
    d.add_argument("--roi", help="region, e.g. 10:20,0:256,0:256 (last axes of the file)")
    d.add_argument("--level", type=int, default=0, help="pyramid level: y, x divided by 2**L")
    d.add_argument("--force", action="store_true", help="overwrite an existing output")
    d.set_defaults(run=_decompress)


def _add_info(commands: argparse._SubParsersAction) -> None:
    i = commands.add_parser("info", help="describe a .sincs file")
    i.add_argument("input", help=".sincs file")
    i.add_argument("--json", action="store_true", help="print as JSON")
    i.set_defaults(run=_info)


def _add_demo(commands: argparse._SubParsersAction) -> None:
    m = commands.add_parser("demo", help="round trip on the bundled sample, with a preview PNG")
    m.add_argument("-o", "--output", default="sincs-demo", help="output folder (sincs-demo)")
    m.add_argument("--ratio", type=float, default=100.0, help="target compression ratio (100)")
    m.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    m.set_defaults(run=_demo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    try:
        return args.run(args)
    except CompressionCancelled as exc:
        print(f"sincs: cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except SincsError as exc:
        print(f"sincs: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader (e.g. `sincs info f.sincs | head`) stopped early: not an error of ours.
        # Point stdout at devnull so that flushing it at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
