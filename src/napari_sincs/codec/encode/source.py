"""Any array-like as a canonical (t, c, z, y, x) array, read one block at a time.

numpy arrays (memory-mapped ones too) become views; other array-likes with `shape`, `dtype` and
numpy-style slicing (zarr, dask, h5py, a lazily read TIFF) are wrapped so that each canonical
read translates into one read of the source in its own axis order. Nothing reads the whole.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..layout import CANONICAL, ArrayLayout


class CanonicalArray:
    """Canonical-order reads of a lazy array-like in the user's axis order."""

    def __init__(self, data: Any, layout: ArrayLayout) -> None:
        self.data = data
        self.layout = layout
        self.shape = layout.canonical_shape
        self.dtype = np.dtype(data.dtype)
        self.ndim = 5
        self.size = math.prod(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (5 - len(key))
        by_axis = dict(zip(CANONICAL, key))
        source_key = []
        for axis in self.layout.axes:
            source_key.append(by_axis[axis])
        block = np.asarray(self.data[tuple(source_key)])
        kept = [a for a in self.layout.axes if not isinstance(by_axis[a], int | np.integer)]
        order = [kept.index(a) for a in CANONICAL if a in kept]
        block = np.transpose(block, order)
        expand = [
            i
            for i, a in enumerate(
                a for a in CANONICAL if not isinstance(by_axis[a], int | np.integer)
            )
            if a not in self.layout.axes
        ]
        return np.expand_dims(block, expand) if expand else block


def canonical(data: Any, layout: ArrayLayout) -> Any:
    """A canonical 5D view (numpy) or reader (anything else) of the user's array."""
    if isinstance(data, np.ndarray):
        return layout.to_canonical(data)
    return CanonicalArray(data, layout)
