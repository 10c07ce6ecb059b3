"""`sincs analyze` and `sincs fidelity`: what a file's groups look like, and whether a
segmentation of the decoded image still finds the original's objects."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from .codec.errors import InvalidInputError
from .io import read_image
from .lazy import open_sincs


def register(commands: argparse._SubParsersAction) -> None:
    a = commands.add_parser("analyze", help="AWC of neighbouring groups and t-SNE of weights")
    a.add_argument("input", help=".sincs file")
    a.add_argument("--plot", help="write the AWC and t-SNE plot to this PNG")
    a.add_argument("--json", action="store_true", help="print as JSON")
    a.set_defaults(run=_analyze)

    f = commands.add_parser("fidelity", help="segment original and decoded, compare objects")
    f.add_argument("original", help="the image that was compressed (TIFF, PNG, OME-Zarr)")
    f.add_argument("compressed", help="its .sincs file")
    f.add_argument("--labels", help="ground-truth labels to score both segmentations against")
    f.add_argument("--json", action="store_true", help="print as JSON")
    f.set_defaults(run=_fidelity)


def shown(value: object) -> object:
    """A value as the commands print it: floats to 4 significant digits, inside dicts too."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    return value


def _print(values: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(values, indent=2))
        return
    for key, value in values.items():
        print(f"{key:>26}: {shown(value)}")


def _analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze, plot_analysis

    with open_sincs(args.input, cache_bytes=0) as lazy:
        result = analyze(lazy)
    summary = {"file": args.input, "groups": len(lazy.header.plan), **result.summary()}
    if args.plot:
        plot_analysis(result, args.plot, Path(args.input).name)
        summary["plot"] = args.plot
    _print(summary, args.json)
    return 0


def _fidelity(args: argparse.Namespace) -> int:
    from .fidelity import fidelity

    with open_sincs(args.compressed, cache_bytes=0) as lazy:
        axes = lazy.axes
        decoded = lazy[...]
    original = np.asarray(read_image(args.original, axes).data)
    if original.shape != decoded.shape:
        raise InvalidInputError(
            f"{args.original} has shape {original.shape} but {args.compressed} holds "
            f"{decoded.shape}; compare a file with the image it was made from."
        )
    truth = np.asarray(read_image(args.labels).data) if args.labels else None
    report = fidelity(original, decoded, axes, truth)
    _print(
        {"original": args.original, "compressed": args.compressed, **report.to_dict()}, args.json
    )
    return 0
