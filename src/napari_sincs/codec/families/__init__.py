"""Network families behind one interface (base.py), and the registry everything reads.

The config's validation, the CLI's `--family` choices, the widget's choices and every help text
read this registry; the header names the family of its model and the decoder looks it up here.
Adding a family: write one module with a `Family` and its `ModelSpec`, add one line below (or
call `register` from a plug-in).
"""

from __future__ import annotations

import math
from typing import Any

from .. import presets
from ..errors import CorruptFileError, UnsupportedVersionError
from ..registry import Registry
from .base import Family, ModelSpec

AUTO = "auto"
FAMILIES: Registry[Family] = Registry("family", also=(AUTO,))
FAMILIES.add("pe_mlp", "napari_sincs.codec.families.pe_mlp:FAMILY")
FAMILIES.add("grid", "napari_sincs.codec.families.grid:FAMILY")
FAMILIES.add("latent", "napari_sincs.codec.families.latent:FAMILY")

AUTO_SUMMARY = (
    "latent on images up to "
    f"{presets.LATENT_AUTO_MAX_VOXELS / 1e6:g} Mvoxel: time series up to "
    f"{presets.LATENT_AUTO_SERIES_RATIO:g}x, single planes up to "
    f"{presets.LATENT_AUTO_PLANE_RATIO:g}x and z stacks up to "
    f"{presets.LATENT_AUTO_STACK_RATIO:g}x, in files of at least "
    f"{presets.LATENT_AUTO_MIN_BYTES / 1024:g} kB; else pe_mlp, or grid with uniform sampling on "
    f"images without z up to {presets.GRID_UP_TO_RATIO:g}x"
)


def register(family: Family) -> None:
    """Make a family available by its name to the config, the CLI, the widget and decoding."""
    FAMILIES.add(family.name, family)


choices = FAMILIES.choices
get_family = FAMILIES.get


def choose_auto(
    shape: tuple[int, ...],
    ratio: float,
    uniform: bool,
    cluster: bool = False,
    bytes_per_voxel: int = 2,
) -> str:
    """The family "auto" means for a canonical (t, c, z, y, x) shape at a ratio (presets.py:
    GRID_UP_TO_RATIO and the LATENT_AUTO settings say why). With `cluster` (dask workers) not
    the latent family: on workers it trains tile by tile, which the benchmark has not compared
    with the PE-MLP on the images where auto would pick it; asked for by name, it runs there."""
    t, _, z, _, _ = shape
    voxels = math.prod(shape)
    fits = voxels * bytes_per_voxel / ratio >= presets.LATENT_AUTO_MIN_BYTES
    if voxels <= presets.LATENT_AUTO_MAX_VOXELS and fits and not cluster:
        if z > 1:
            up_to = presets.LATENT_AUTO_STACK_RATIO
        else:
            up_to = presets.LATENT_AUTO_SERIES_RATIO if t > 1 else presets.LATENT_AUTO_PLANE_RATIO
        if ratio <= up_to:
            return "latent"
    return "grid" if uniform and z == 1 and ratio <= presets.GRID_UP_TO_RATIO else "pe_mlp"


def help_text() -> str:
    """Every choice with a line on what it is, for `--family` and the widget's tooltip."""
    lines = [f"{AUTO} (default: {AUTO_SUMMARY})"]
    lines += [f"{name} ({FAMILIES.get(name).summary})" for name in FAMILIES.names()]
    return "; ".join(lines)


def spec_from_dict(data: Any) -> ModelSpec:
    """The model a header describes, checked: shared fields here, the family's own there."""
    try:
        name = str(data["family"])
        axes = tuple(str(a) for a in data["axes"])
        extents = tuple(int(e) for e in data["extents"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"the model description in the header is invalid ({exc}).") from exc
    if name not in FAMILIES.names():
        raise UnsupportedVersionError(
            f"the file's networks are of family {name!r}, which this napari-sincs does not know "
            f"(it knows {', '.join(FAMILIES.names())}); install a newer napari-sincs to decode it."
        )
    n = len(axes)
    if not (2 <= n <= 4 and len(extents) == n and all(2 <= e <= 2**31 for e in extents)):
        raise CorruptFileError(f"the model description in the header is out of range: {data}.")
    try:
        return FAMILIES.get(name).spec_from_dict(data, axes, extents)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"the model description in the header is invalid ({exc}).") from exc
