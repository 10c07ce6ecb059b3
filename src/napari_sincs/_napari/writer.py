"""File > Save Selected Layers as .sincs: default settings, through the public API."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..api import compress
from .layers import axes_for, physical_metadata

log = logging.getLogger(__name__)


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Compress one image layer's data to `path` (napari's single-layer writer)."""
    array = np.asarray(data[0] if meta.get("multiscale") else data)
    axes = axes_for(array.ndim, meta.get("axis_labels"), bool(meta.get("rgb")))
    scale, units = physical_metadata(axes, meta.get("scale"), meta.get("units"))
    report = compress(
        array,
        path,
        axes=axes,
        name=meta.get("name"),
        scale=scale,
        units=units,
        rgb=bool(meta.get("rgb")),
        overwrite=True,
    )
    log.info("%s", report)
    return [path]
