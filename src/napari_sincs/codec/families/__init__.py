"""Network families behind one interface (base.py), and the registry everything reads.

The config's validation, the CLI's `--family` choices, the widget's choices and every help text
read this registry; the header names the family of its model and the decoder looks it up here.
Adding a family: write one module with a `Family` and its `ModelSpec`, add one line below (or
call `register` from a plug-in).
"""

from __future__ import annotations

from typing import Any

from ..errors import CorruptFileError, UnsupportedVersionError
from ..presets import GRID_UP_TO_RATIO
from ..registry import Registry
from .base import Family, ModelSpec

AUTO = "auto"
FAMILIES: Registry[Family] = Registry("family", also=(AUTO,))
FAMILIES.add("pe_mlp", "napari_sincs.codec.families.pe_mlp:FAMILY")
FAMILIES.add("grid", "napari_sincs.codec.families.grid:FAMILY")
FAMILIES.add("latent", "napari_sincs.codec.families.latent:FAMILY")

AUTO_SUMMARY = (
    "pe_mlp, or grid with uniform sampling on images without z at ratios up to "
    f"{GRID_UP_TO_RATIO:g}x"
)


def register(family: Family) -> None:
    """Make a family available by its name to the config, the CLI, the widget and decoding."""
    FAMILIES.add(family.name, family)


choices = FAMILIES.choices
get_family = FAMILIES.get


def choose_auto(shape: tuple[int, ...], ratio: float, uniform: bool) -> str:
    """The family "auto" means for a canonical (t, c, z, y, x) shape at a ratio (presets.py:
    GRID_UP_TO_RATIO says why)."""
    return "grid" if uniform and shape[2] == 1 and ratio <= GRID_UP_TO_RATIO else "pe_mlp"


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
