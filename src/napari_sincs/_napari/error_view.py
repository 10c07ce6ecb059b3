"""The error view: |decoded − original| as a lazy layer beside a compressed layer.

Lost foci and block seams are easy to miss side by side and hard to miss in a difference map.
Only what napari shows is decoded (the decoded side is the file's lazy view); the original is
the layer's own data, sliced the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .camera import camera_of
from .file_layers import ViewerArray

ERROR_SUFFIX = " error"
ERROR_COLORMAP = "inferno"


class ErrorArray:
    """Absolute difference of a lazy decoded view and the original, indexed the way napari
    indexes (each index returns another ErrorArray; only `numpy.asarray` computes)."""

    def __init__(self, original: Any, decoded: ViewerArray) -> None:
        if tuple(original.shape) != tuple(decoded.shape):
            raise ValueError(
                f"the original {tuple(original.shape)} and the decoded file "
                f"{tuple(decoded.shape)} differ in shape; they are not the same image."
            )
        self.original = original
        self.decoded = decoded
        self.chunks = decoded.chunks
        self.shape = tuple(decoded.shape)
        self.dtype = np.dtype(np.float32)
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)

    def __getitem__(self, key: Any) -> ErrorArray:
        return ErrorArray(self.original[key], self.decoded[key])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        decoded = np.asarray(self.decoded, dtype=np.float32)
        error = np.abs(decoded - np.asarray(self.original, dtype=np.float32))
        return error if dtype is None else error.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def error_layer_kwargs(original: Any, largest: float) -> dict[str, Any]:
    """How the error layer sits over `original`: same place, its own colour scale from 0 to the
    largest error (known from the file, so napari never scans the lazy data for it)."""
    return {
        "name": f"{original.name}{ERROR_SUFFIX}",
        "scale": original.scale,
        "translate": original.translate,
        "axis_labels": original.axis_labels,
        "units": original.units,
        "colormap": ERROR_COLORMAP,
        "contrast_limits": (0.0, max(float(largest), 1e-6)),
        "blending": "additive",
    }


def go_to(viewer: Any, layer: Any, index: tuple[int, ...]) -> None:
    """Show the plane of `index` (a data index of `layer`) and centre the 2D view on it."""
    world = layer.data_to_world(np.asarray(index, dtype=float))
    offset = viewer.dims.ndim - layer.ndim
    for axis, value in enumerate(world):
        if axis + offset not in viewer.dims.displayed:
            viewer.dims.set_point(axis + offset, value)
    displayed = [d - offset for d in viewer.dims.displayed if d >= offset]
    camera = camera_of(viewer)
    camera.center = tuple(world[d] for d in displayed)
