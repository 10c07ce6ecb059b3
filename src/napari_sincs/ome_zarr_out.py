"""Writing a .sincs file out as an OME-Zarr (NGFF 0.5, zarr v3) image, so that tools that do not
know .sincs (napari-ome-zarr, Fiji, neuroglancer, dask pipelines) can read the decoded pyramid.

Every pyramid level is decoded straight from the networks (level L keeps every 2**L-th pixel of
y and x), one zarr chunk at a time, so a file larger than memory can be written. The store is
built in a hidden sibling folder and renamed into place when complete: a failure or Ctrl-C
never leaves a half-written store under the target's name. The NGFF metadata (axes with types
and units, per-level scales, omero channels) is written by the `ome-zarr` library.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .codec.errors import InvalidInputError, OutputError
from .lazy import TILE, SincsArray, open_sincs

# NGFF wants UDUNITS-2 names; .sincs headers keep what the microscope wrote (µm from a TIFF)
_NGFF_UNITS = {
    "µm": "micrometer",
    "μm": "micrometer",
    "um": "micrometer",
    "nm": "nanometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "Å": "angstrom",
    "s": "second",
    "sec": "second",
    "ms": "millisecond",
    "µs": "microsecond",
    "us": "microsecond",
    "min": "minute",
    "h": "hour",
}
# NGFF order: time first, then channel, then space
_ORDER = "tczyx"
# the channel colours the napari reader uses, so both viewers show a file alike
_CHANNEL_COLORS = ("FF00FF", "00FF00", "00FFFF", "FFFF00", "0000FF", "FF0000")


def write_ome_zarr(
    source: str | os.PathLike[str] | SincsArray,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    device: str = "auto",
) -> Path:
    """Decode a .sincs file (a path or an opened SincsArray) into an OME-Zarr image at `path`,
    every pyramid level of it, and return the path. An existing `path` is refused unless
    `overwrite`; it is replaced only once the new store is complete."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists; choose another name or use --force.")
    if not target.parent.is_dir():
        raise OutputError(f"the folder {target.parent} does not exist; create it first.")
    if isinstance(source, SincsArray):
        _write_and_publish(source.at_level(0), target)
    else:
        with open_sincs(source, cache_bytes=0, device=device) as lazy:
            _write_and_publish(lazy, target)
    return target


def _write_and_publish(lazy: SincsArray, target: Path) -> None:
    partial = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        _write_store(lazy, partial)
        _publish(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _libraries() -> tuple[Any, Any]:
    try:
        import zarr

        with warnings.catch_warnings():
            # ome-zarr 0.14+ builds a deprecated Scaler as a default argument on import
            warnings.simplefilter("ignore", DeprecationWarning)
            import ome_zarr.format
            import ome_zarr.writer
    except ImportError as exc:
        raise InvalidInputError(
            "writing OME-Zarr needs the zarr and ome-zarr packages; install them with "
            "`pip install 'napari-sincs[dask]'`."
        ) from exc
    return zarr, ome_zarr


def _write_store(lazy: SincsArray, folder: Path) -> None:
    zarr, ome_zarr = _libraries()
    fmt = ome_zarr.format.FormatV05()
    axes = "".join(a for a in _ORDER if a in lazy.axes)
    root = zarr.open_group(str(folder), mode="w", zarr_format=fmt.zarr_format)
    datasets = []
    for level in lazy.levels:
        shape = tuple(level.shape[level.axes.index(a)] for a in axes)
        chunks = _chunks(level, axes)
        array = root.create_array(
            str(level.level),
            shape=shape,
            chunks=chunks,
            dtype=level.dtype,
            dimension_names=list(axes),
            fill_value=0,
        )
        for region in _regions(shape, chunks):
            array[region] = _decode(level, axes, region)
        datasets.append(
            {
                "path": str(level.level),
                "coordinateTransformations": _level_transforms(lazy, axes, level.level),
            }
        )
    meta = lazy.header.metadata
    units = {a: _NGFF_UNITS.get(u, u) for a, u in meta.units.items() if a in axes and a != "c"}
    ome_zarr.writer.write_multiscales_metadata(
        root,
        datasets=datasets,
        fmt=fmt,
        axes=list(axes),
        axes_units=units,
        name=meta.name or lazy.decoder.source.path.stem,
        metadata={"omero": _omero(lazy)},
    )


def _chunks(level: SincsArray, axes: str) -> tuple[int, ...]:
    """One frame and channel per chunk, the file's spatial block (so that a chunk decodes from
    few networks), but at least a tile on y and x so that coarse levels are not shattered."""
    block = dict(zip(level.axes, level.chunks))
    size = dict(zip(level.axes, level.shape))
    return tuple(min(size[a], max(block[a], TILE) if a in "yx" else block[a]) for a in axes)


def _regions(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Iterator[tuple[slice, ...]]:
    starts = [range(0, n, c) for n, c in zip(shape, chunks)]
    for corner in itertools.product(*starts):
        yield tuple(slice(s, min(s + c, n)) for s, c, n in zip(corner, chunks, shape))


def _decode(level: SincsArray, axes: str, region: tuple[slice, ...]) -> np.ndarray:
    """A region given in NGFF axis order, decoded from the file's own axis order."""
    by_axis = dict(zip(axes, region))
    block = level[tuple(by_axis[a] for a in level.axes)]
    return np.transpose(block, [level.axes.index(a) for a in axes])


def _level_transforms(lazy: SincsArray, axes: str, level: int) -> list[dict[str, Any]]:
    """A level's voxel size per axis (y and x grow by 2**level) and, when the image is offset,
    its translation: the same at every level, whose first voxel is the full resolution's."""
    meta = lazy.header.metadata
    scale = [
        float(meta.scale.get(a, 1.0)) * (2**level if a in "yx" else 1) if a != "c" else 1.0
        for a in axes
    ]
    transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
    if meta.origin:
        offsets = [float(meta.origin.get(a, 0.0)) for a in axes]
        transforms.append({"type": "translation", "translation": offsets})
    return transforms


def _omero(lazy: SincsArray) -> dict[str, Any]:
    """Channel names, colours and display windows (the header's intensity range)."""
    header = lazy.header
    meta = header.metadata
    many = "c" in lazy.axes
    channels = list(range(lazy.layout.extent("c"))) if many else [lazy.channel or 0]
    entries = []
    for c in channels:
        lo, hi = float(header.intensity_min[c]), float(header.intensity_max[c])
        if c < len(meta.channel_names):
            label = meta.channel_names[c]
        else:
            label = f"channel {c}" if many else meta.name or lazy.decoder.source.path.stem
        entries.append(
            {
                "label": label,
                "color": _CHANNEL_COLORS[c % len(_CHANNEL_COLORS)] if many else "FFFFFF",
                "window": {"min": lo, "max": hi, "start": lo, "end": hi},
                "active": True,
            }
        )
    return {"channels": entries}


def _publish(partial: Path, target: Path) -> None:
    """Rename the complete store into place; an old target is moved aside first and deleted
    only once the new store stands under its name (restored if the rename fails)."""
    aside = None
    if target.exists() or target.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(aside)
        os.rename(target, aside)
    try:
        os.rename(partial, target)
    except OSError as exc:
        if aside is not None:
            os.rename(aside, target)
        raise OutputError(
            f"{target} cannot be written ({exc.strerror}); check the folder."
        ) from exc
    if aside is not None:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.unlink()
