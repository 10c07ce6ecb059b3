"""Reading images (TIFF, OME-TIFF, ImageJ TIFF, PNG/JPEG) with their axes, voxel size and units,
and writing decoded arrays back as OME-TIFF. Used by the CLI; napari has its own readers.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .codec.errors import InvalidInputError, MissingFileError, OutputError
from .codec.format.container import replace_file
from .codec.format.header import ImageMetadata
from .codec.layout import ArrayLayout, default_axes
from .lazy import normalise_key
from .ome_zarr import is_zarr, read_zarr

TIFF_SUFFIXES = (".tif", ".tiff", ".btf")
IMAGE_SUFFIXES = (*TIFF_SUFFIXES, ".png", ".jpg", ".jpeg")
"""Image files read_image reads (besides zarr stores)."""

_TIFF_AXES = {"T": "t", "C": "c", "S": "c", "Z": "z", "Y": "y", "X": "x"}
_UNKNOWN = "QIRL"
LAZY_BYTES = 512 << 20


class TiffPlanes:
    """A TIFF series read on demand, so a stack larger than memory is compressed in bounded
    memory: memory-mapped by tifffile when its pixels are one uncompressed block (only the rows
    indexed are read), else decoded page by page.
    """

    def __init__(self, path: Path) -> None:
        import tifffile

        self._tif = tifffile.TiffFile(path)
        series = self._tif.series[0]
        self._pages = series.pages
        self.shape = tuple(series.shape)
        self.dtype = np.dtype(series.dtype)
        self.ndim = len(self.shape)
        self._lead = self.ndim - len(series.keyframe.shape)
        self._lock = threading.Lock()
        self._mapped: np.memmap | None = None
        # Compressed, tiled or scattered pixels raise ValueError: they are decoded page by page.
        with contextlib.suppress(ValueError):
            self._mapped = tifffile.memmap(path, series=0, mode="r")

    @property
    def memory_mapped(self) -> bool:
        return self._mapped is not None

    def __getitem__(self, key: Any) -> np.ndarray:
        index = normalise_key(key, self.shape)
        if self._mapped is not None:
            return np.array(self._mapped[tuple(index)], dtype=self.dtype)
        lead, inner = index[: self._lead], tuple(index[self._lead :])
        ranges = [[k] if isinstance(k, int) else range(k.start, k.stop, k.step) for k in lead]
        planes = []
        for position in itertools.product(*ranges):
            page = int(np.ravel_multi_index(position, self.shape[: self._lead])) if position else 0
            with self._lock:  # one file handle for all pages
                planes.append(self._pages[page].asarray()[inner])
        sizes = [len(r) for r, k in zip(ranges, lead) if not isinstance(k, int)]
        return np.stack(planes).reshape(*sizes, *planes[0].shape)

    def close(self) -> None:
        self._mapped = None
        self._tif.close()


@dataclass(frozen=True)
class LoadedImage:
    """An image as read from disk: the pixels, their axes and what the file said about them."""

    data: Any
    axes: str
    metadata: ImageMetadata
    guessed: str = ""
    """The dimensions the file did not name (their letters in `axes` were guessed by ndim)."""


def _axes_from_tiff(tiff_axes: str, ndim: int) -> str:
    """Map tifffile's axes codes to t, c, z, y, x; unknown ones (Q, I) take the default's place."""
    axes = []
    for code in tiff_axes.upper():
        name = _TIFF_AXES.get(code)
        if name is None and code not in _UNKNOWN:
            raise InvalidInputError(
                f"the TIFF has an axis {code!r} napari-sincs does not know; give --axes to name "
                "every dimension with t, c, z, y, x."
            )
        axes.append(name)
    guess = default_axes(ndim)
    missing = [a for a in guess if a not in axes]
    named = "".join(a if a is not None else missing.pop(0) for a in axes)
    if len(set(named)) != len(named):
        raise InvalidInputError(
            f"the TIFF's axes {tiff_axes} map to {named}, which repeats an axis; give --axes."
        )
    return named


def _unit(text: Any) -> str:
    unit = str(text or "").strip()
    if "\\u" in unit:
        unit = unit.encode("ascii", "ignore").decode("unicode_escape")
    return {"um": "µm", "micron": "µm", "microns": "µm"}.get(unit, unit)


def _imagej_metadata(tif: Any, axes: str) -> tuple[dict[str, float], dict[str, str]]:
    meta = tif.imagej_metadata or {}
    page = tif.pages[0]
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    unit = _unit(meta.get("unit"))
    for axis, tag in (("x", "XResolution"), ("y", "YResolution")):
        value = page.tags.get(tag)
        if value is not None and axis in axes:
            num, den = value.value
            if num > 0 and den > 0 and (num, den) != (1, 1):
                scale[axis] = den / num
                if unit:
                    units[axis] = unit
    if "z" in axes and meta.get("spacing"):
        scale["z"] = float(meta["spacing"])
        if unit:
            units["z"] = unit
    if "t" in axes and meta.get("finterval"):
        scale["t"] = float(meta["finterval"])
        units["t"] = _unit(meta.get("tunit")) or "s"
    return scale, units


def _ome_metadata(tif: Any, axes: str) -> tuple[dict[str, float], dict[str, str], list[str]]:
    import tifffile

    try:
        ome = tifffile.xml2dict(tif.ome_metadata)["OME"]
        image = ome["Image"][0] if isinstance(ome["Image"], list) else ome["Image"]
        pixels = image["Pixels"]
    except (KeyError, TypeError, ValueError):
        return {}, {}, []
    scale: dict[str, float] = {}
    units: dict[str, str] = {}
    for axis in "xyz":
        size = pixels.get(f"PhysicalSize{axis.upper()}")
        if axis in axes and size:
            scale[axis] = float(size)
            units[axis] = _unit(pixels.get(f"PhysicalSize{axis.upper()}Unit", "µm"))
    if "t" in axes and pixels.get("TimeIncrement"):
        scale["t"] = float(pixels["TimeIncrement"])
        units["t"] = _unit(pixels.get("TimeIncrementUnit", "s"))
    channels = pixels.get("Channel", [])
    channels = channels if isinstance(channels, list) else [channels]
    names = [str(c.get("Name", "")) for c in channels if isinstance(c, dict)]
    return scale, units, names if any(names) else []


def read_image(
    path: str | os.PathLike[str], axes: str | None = None, lazy: bool | None = None
) -> LoadedImage:
    """Read a TIFF (plain, ImageJ or OME), a zarr/OME-Zarr store or a PNG/JPEG with what the
    file says about it (zarr stays lazy: chunks are read as compression needs them).

    TIFFs larger than LAZY_BYTES (or with lazy=True) come back as a TiffPlanes that reads pages
    only when indexed; compression then streams group by group in bounded memory.
    """
    source = Path(path)
    if is_zarr(source):
        return LoadedImage(*read_zarr(source, axes))
    if not source.is_file():
        raise MissingFileError(f"{source} does not exist or is not a file; check the path.")
    if source.suffix.lower() in TIFF_SUFFIXES:
        return _read_tiff(source, axes, lazy)
    try:
        from PIL import Image

        with Image.open(source) as image:
            data = np.asarray(image)
    except Exception as exc:  # PIL raises many types for unreadable files
        raise InvalidInputError(
            f"cannot read {source.name} as an image ({exc}); napari-sincs reads TIFF, PNG and JPEG."
        ) from exc
    guess = "yxc" if data.ndim == 3 else "yx"
    layout = ArrayLayout(axes or guess, data.shape)
    return LoadedImage(data, layout.axes, ImageMetadata(name=source.stem))


def _read_tiff(source: Path, axes: str | None, lazy: bool | None) -> LoadedImage:
    import tifffile

    try:
        with tifffile.TiffFile(source) as tif:
            series = tif.series[0]
            nbytes = math.prod(series.shape) * np.dtype(series.dtype).itemsize
            data = TiffPlanes(source) if (lazy or (lazy is None and nbytes > LAZY_BYTES)) else None
            data = series.asarray() if data is None else data
            named = axes or _axes_from_tiff(series.axes, data.ndim)
            guessed = "".join(a for a, c in zip(named, series.axes) if c in _UNKNOWN and not axes)
            if tif.is_ome:
                scale, units, names = _ome_metadata(tif, named)
            elif tif.is_imagej:
                scale, units = _imagej_metadata(tif, named)
                names = []
            else:
                scale, units, names = {}, {}, []
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {source.name} as a TIFF ({exc}).") from exc
    layout = ArrayLayout(named, data.shape)
    if names and len(names) != layout.extent("c"):
        names = []
    metadata = ImageMetadata(name=source.stem, scale=scale, units=units, channel_names=names)
    return LoadedImage(data, layout.axes, metadata, guessed)


def write_tiff(
    path: str | os.PathLike[str],
    data: np.ndarray,
    axes: str,
    metadata: ImageMetadata,
    overwrite: bool = False,
) -> None:
    """Write a decoded array as OME-TIFF, keeping axes, voxel sizes, units and channel names."""
    import tifffile

    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists; choose another name or use --force.")
    if not target.parent.is_dir():
        raise OutputError(f"the folder {target.parent} does not exist; create it first.")
    meta: dict[str, Any] = {"axes": axes.upper()}
    for axis, size in metadata.scale.items():
        if axis in "xyz":
            meta[f"PhysicalSize{axis.upper()}"] = size
            if axis in metadata.units:
                meta[f"PhysicalSize{axis.upper()}Unit"] = metadata.units[axis]
        elif axis == "t":
            meta["TimeIncrement"] = size
            meta["TimeIncrementUnit"] = metadata.units.get("t", "s")
    if metadata.channel_names:
        meta["Channel"] = {"Name": list(metadata.channel_names)}
    partial = target.with_name(f".{target.name}.partial")
    try:
        tifffile.imwrite(partial, data, ome=True, metadata=meta, photometric="minisblack")
        replace_file(partial, target)
    finally:
        partial.unlink(missing_ok=True)
