"""What napari knows about a layer, in the codec's terms (axes, voxel size, units)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..codec.layout import CANONICAL, default_axes


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
