"""Discover benchmark images in a folder, with their axes.

Axes come from the folder's README.md table when it names them (the shared data README lists
"TYX 48×130×130 uint16" per file), else from the file's own metadata, else from the default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_sincs.io import LoadedImage, read_image

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_AXES = re.compile(r"\b([TCZYXS]{2,5})\b")


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    axes: str

    def load(self) -> np.ndarray:
        return self.read().data

    def read(self) -> LoadedImage:
        """The image with what its file says about it (voxel size and units)."""
        return read_image(self.path, self.axes)


def _readme_axes(folder: Path) -> dict[str, str]:
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    found = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        match = _AXES.search(cells[1])
        if match and (folder / cells[0]).is_file():
            found[cells[0]] = match.group(1).lower().replace("s", "c")
    return found


def discover(folder: Path = SHARED, names: list[str] | None = None) -> list[Dataset]:
    """Every image in `folder` (or those named), skipping label images."""
    known = _readme_axes(folder)
    datasets = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or "label" in path.stem:
            continue
        if names and path.stem not in names and path.name not in names:
            continue
        axes = known.get(path.name) or read_image(path).axes
        datasets.append(Dataset(path.stem, path, axes))
    return datasets
