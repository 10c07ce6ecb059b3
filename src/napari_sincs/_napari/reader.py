"""Drag and drop of .sincs files: napari asks this module about every file dropped, so it
imports nothing heavy (the decoder and torch load only once a .sincs file is really opened;
file_layers.py builds its layers)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

PathLike = str | os.PathLike[str]


def napari_get_reader(path: PathLike | list[PathLike]) -> Callable[[Any], list[Any]] | None:
    """Return the reader if every path is a .sincs file, else None (napari tries others)."""
    paths = path if isinstance(path, list | tuple) else [path]
    if not paths or not all(str(p).lower().endswith(".sincs") for p in paths):
        return None
    from .file_layers import read_sincs

    return read_sincs
