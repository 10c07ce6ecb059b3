"""Reading images (TIFF, OME-TIFF, ImageJ TIFF, PNG/JPEG) with their axes, voxel size and units,
and writing decoded arrays back as OME-TIFF. Used by the CLI; napari has its own readers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .codec.errors import InvalidInputError, MissingFileError, OutputError
from .codec.header import ImageMetadata
from .codec.layout import ArrayLayout, default_axes

_TIFF_AXES = {"T": "t", "C": "c", "S": "c", "Z": "z", "Y": "y", "X": "x"}
_UNKNOWN = "QIRL"


@dataclass(frozen=True)
class LoadedImage:
    """An image as read from disk: the pixels, their axes and what the file said about them."""

    data: np.ndarray
    axes: str
    metadata: ImageMetadata


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


def read_image(path: str | os.PathLike[str], axes: str | None = None) -> LoadedImage:
    """Read a TIFF (plain, ImageJ or OME) or a PNG/JPEG with what the file says about it."""
    source = Path(path)
    if not source.is_file():
        raise MissingFileError(f"{source} does not exist or is not a file; check the path.")
    if source.suffix.lower() in (".tif", ".tiff", ".btf"):
        return _read_tiff(source, axes)
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


def _read_tiff(source: Path, axes: str | None) -> LoadedImage:
    import tifffile

    try:
        with tifffile.TiffFile(source) as tif:
            series = tif.series[0]
            data = series.asarray()
            named = axes or _axes_from_tiff(series.axes, data.ndim)
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
    return LoadedImage(data, layout.axes, metadata)


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
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
