"""File > Open Sample: real images compressed with napari-sincs, shipped with the package.

They are made by `python scripts/make_samples.py` from ../shared/data.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .file_layers import LayerData, read_sincs


def sample_path(name: str) -> Path:
    return Path(str(files("napari_sincs") / "samples" / name))


def cells3d_nuclei() -> list[LayerData]:
    """Nuclei of hiPSCs, ZYX 60×256×256, compressed about 100×."""
    return read_sincs(sample_path("cells3d_nuclei.sincs"))


def cell_migration() -> list[LayerData]:
    """Cancer cell migration time-lapse, TYX 48×130×130, compressed about 100×."""
    return read_sincs(sample_path("cell_migration_2dt.sincs"))
