"""What napari knows about a layer, in the codec's terms (axes, voxel size, units)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..codec.errors import SincsError
from ..codec.format.header import ImageMetadata
from ..codec.layout import CANONICAL, default_axes

log = logging.getLogger(__name__)


def axes_for(ndim: int, labels: Sequence[Any] | None, rgb: bool = False) -> str:
    """Axes of a layer's data: its axis labels when they are t/c/z/y/x letters, else a guess."""
    names = [str(label).lower() for label in (labels or [])]
    if rgb:
        spatial = names if len(names) == ndim - 1 else []
        if spatial and _valid("".join(spatial) + "c"):
            return "".join(spatial) + "c"
        return default_axes(ndim - 1) + "c" if ndim - 1 >= 2 else "yxc"
    if len(names) == ndim and _valid("".join(names)):
        return "".join(names)
    return default_axes(ndim)


def names_axes(labels: Sequence[Any] | None, ndim: int, rgb: bool = False) -> bool:
    """Whether a layer's axis labels name its axes (napari's defaults, '-3', '-2', '-1', do not)."""
    names = "".join(str(label).lower() for label in (labels or []))
    if rgb:
        return len(names) == ndim - 1 and _valid(names + "c")
    return len(names) == ndim and _valid(names)


def source_metadata(layer: Any, shape: Sequence[int]) -> tuple[str, ImageMetadata] | None:
    """Axes and metadata from the file a layer was opened from, when that file names its axes
    and holds an array of the layer's shape (napari's own TIFF reader keeps neither the axes nor
    the voxel size of an ImageJ or OME-TIFF). Reads the file's header only."""
    from ..io import TIFF_SUFFIXES, read_image

    path = getattr(getattr(layer, "source", None), "path", None)
    if not path or Path(path).suffix.lower() not in TIFF_SUFFIXES:
        return None
    try:
        image = read_image(path, lazy=True)
    except (SincsError, OSError, ValueError) as exc:
        log.info("no metadata from %s: %s", path, exc)
        return None
    try:
        if image.guessed or tuple(image.data.shape) != tuple(shape):
            return None
        return image.axes, image.metadata
    finally:
        close = getattr(image.data, "close", None)
        if close is not None:
            close()


def _valid(axes: str) -> bool:
    return (
        len(set(axes)) == len(axes) and set(axes) <= set(CANONICAL) and "y" in axes and "x" in axes
    )


def physical_metadata(
    axes: str, scale: Sequence[float] | None, units: Sequence[Any] | None
) -> tuple[dict[str, float], dict[str, str]]:
    """Voxel size and unit per axis, from a layer's scale and units (channels have neither)."""
    spatial = [a for a in axes if a != "c"]
    sizes: dict[str, float] = {}
    names: dict[str, str] = {}
    if scale is not None and len(scale) == len(spatial):
        sizes = {a: float(s) for a, s in zip(spatial, scale) if float(s) > 0 and float(s) != 1.0}
    if units is not None and len(units) == len(spatial):
        for a, unit in zip(spatial, units):
            text = format(unit, "~") if hasattr(unit, "dimensionality") else str(unit)
            if text and text not in ("pixel", "px", "dimensionless", ""):
                names[a] = "µm" if text == "um" else text
    return sizes, names


def layer_origin(axes: str, translate: Sequence[float] | None) -> dict[str, float]:
    """Where a layer's first voxel lies per axis (napari's translate; channels have none)."""
    spatial = [a for a in axes if a != "c"]
    if translate is None or len(translate) != len(spatial):
        return {}
    return {a: float(t) for a, t in zip(spatial, translate) if float(t) != 0.0}
