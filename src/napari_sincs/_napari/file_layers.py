""".sincs files as napari layers: lazy, multiscale image layers decoded region by region.

Each channel becomes its own layer over a channel view of the file, because napari's own
channel_axis split indexes the data and would decode every channel at once. Contrast limits come
from the header, so napari never computes them over the lazy data; levels are the network
evaluated on 2**level coarser grids, so napari asks only for the visible part of the level that
fits the zoom. All layers share one bounded tile cache. A file that cannot be read, or a tile
that fails its checksum while browsing, becomes an error notification, never a traceback.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..codec.errors import SincsError
from ..lazy import TILE, SincsArray, TileCache, normalise_key, open_sincs
from . import prefetch, volume_level
from .cache import shared_cache
from .notify import notify_error

log = logging.getLogger(__name__)

LayerData = tuple[Any, dict[str, Any], str]
PathLike = str | os.PathLike[str]

CHANNEL_COLORMAPS = ("magenta", "green", "cyan", "yellow", "blue", "red")


class ViewerArray:
    """A lazy window onto a SincsArray, the way napari likes its data.

    napari slices the displayed axes first and picks the plane afterwards (it expects dask-like
    laziness), so indexing returns another ViewerArray and only `numpy.asarray` decodes. The
    voxels of a group whose blob is damaged stay blank, with one error notification per file
    naming them; everything else still decodes.
    """

    def __init__(self, lazy: SincsArray, index: tuple[int | slice, ...] | None = None) -> None:
        self.lazy = lazy
        # Tile grid, so that napari expands what it asks for to whole cached tiles.
        self.chunks = tuple(TILE if a in "yx" else 1 for a in lazy.axes) if index is None else None
        self.index = index if index is not None else tuple(slice(0, n, 1) for n in lazy.shape)
        self.shape = tuple(
            len(range(s.start, s.stop, s.step)) for s in self.index if isinstance(s, slice)
        )
        self.dtype = lazy.dtype
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)

    def __getitem__(self, key: Any) -> ViewerArray:
        picks = iter(normalise_key(key, self.shape))
        index: list[int | slice] = []
        for base in self.index:
            if isinstance(base, int):
                index.append(base)
                continue
            pick = next(picks)
            if isinstance(pick, int):
                index.append(base.start + pick * base.step)
            else:
                start = base.start + pick.start * base.step
                stop = min(base.stop, base.start + pick.stop * base.step)
                index.append(slice(start, max(start, stop), base.step * pick.step))
        return ViewerArray(self.lazy, tuple(index))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        try:
            data = self.lazy.salvage(self.index, self._damaged)
        except SincsError as exc:
            _report_once(self.lazy, str(exc))
            data = np.zeros(self.shape, dtype=self.dtype)
        else:
            prefetch.shown(self.lazy, self.index)
        return data if dtype is None else data.astype(dtype)

    def _damaged(self, where: str, exc: SincsError) -> None:
        _report_once(
            self.lazy,
            f"{exc} The voxels of {where} are shown blank; the rest of the file still browses.",
        )

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ViewerArray({self.lazy!r}, index={self.index})"


_REPORTED: set[int] = set()


def _report_once(lazy: SincsArray, message: str) -> None:
    """Log every failure; notify the first of each file (a damaged blob is met by every plane
    and level that shows its voxels, and one message says it)."""
    log.warning("could not decode part of %s: %s", lazy, message)
    if id(lazy.decoder) not in _REPORTED:
        _REPORTED.add(id(lazy.decoder))
        notify_error(f"{lazy.decoder.source.path.name}: {message}")


def read_sincs(path: PathLike | list[PathLike]) -> list[LayerData]:
    """Layer data for one or more .sincs files (nothing is decoded here); the viewer they open
    in shows them in 3D at the finest level that fits (volume_level.py)."""
    import napari

    volume_level.follow(napari.current_viewer())
    paths = path if isinstance(path, list | tuple) else [path]
    layers: list[LayerData] = []
    for one in paths:
        try:
            lazy = open_sincs(one, cache_bytes=0)
        except SincsError as exc:
            notify_error(f"Cannot open {Path(one).name}: {exc}")
            continue
        layers.extend(layers_for(lazy, shared_cache()))
    return layers or [(None,)]


def layers_for(
    lazy: SincsArray, cache: TileCache | None = None, name: str | None = None
) -> list[LayerData]:
    """Image layer data (one per channel) for an opened file, named `name` (default: the name
    in the file, else its stem); a channel layer is named "<name> [<channel name>]"."""
    lazy.cache = cache
    header = lazy.header
    meta = header.metadata
    name = name or meta.name or lazy.decoder.source.path.stem
    if meta.rgb:
        return [_rgb_layer(lazy, name)]
    channels = lazy.layout.extent("c") if "c" in lazy.axes else 0
    views = [lazy.channel_view(c) for c in range(channels)] if channels else [lazy]
    layers = []
    for channel, view in enumerate(views):
        levels = [ViewerArray(level) for level in view.levels]
        axes = view.axes
        label = _channel_name(meta.channel_names, channel)
        kwargs: dict[str, Any] = {
            "name": f"{name} [{label}]" if channels else name,
            "scale": [meta.scale.get(a, 1.0) for a in axes],
            "translate": [meta.origin.get(a, 0.0) for a in axes],
            "axis_labels": list(axes),
            "units": [meta.units.get(a, "pixel") for a in axes],
            "contrast_limits": _limits(
                header.intensity_min[channel], header.intensity_max[channel]
            ),
            "colormap": CHANNEL_COLORMAPS[channel % len(CHANNEL_COLORMAPS)] if channels else "gray",
            "blending": "additive" if channel else "translucent_no_depth",
            "multiscale": len(levels) > 1,
            "metadata": {
                "sincs_path": str(lazy.decoder.source.path),
                "sincs_channel": channel if channels else None,
                "sincs_stats": dict(header.stats),
            },
        }
        layers.append((levels if len(levels) > 1 else levels[0], kwargs, "image"))
    return layers


def _rgb_layer(lazy: SincsArray, name: str) -> LayerData:
    """A file made from an RGB(A) image as one colour layer again (the colours are its last
    axis), not as one additive layer per colour."""
    header = lazy.header
    meta = header.metadata
    levels = [ViewerArray(level) for level in lazy.levels]
    axes = lazy.axes[:-1]
    kwargs: dict[str, Any] = {
        "name": name,
        "rgb": True,
        "scale": [meta.scale.get(a, 1.0) for a in axes],
        "translate": [meta.origin.get(a, 0.0) for a in axes],
        "axis_labels": list(axes),
        "units": [meta.units.get(a, "pixel") for a in axes],
        "contrast_limits": _limits(min(header.intensity_min), max(header.intensity_max)),
        "multiscale": len(levels) > 1,
        "metadata": {
            "sincs_path": str(lazy.decoder.source.path),
            "sincs_channel": None,
            "sincs_stats": dict(header.stats),
        },
    }
    return (levels if len(levels) > 1 else levels[0], kwargs, "image")


def file_stem(name: str) -> str:
    """A layer name as a file name stem that every file system takes."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "image"


def default_folder(source: Path) -> Path:
    """Where a file made from `source` goes by default: beside it, except for files inside this
    package (the bundled samples) or in a folder the user cannot write to, whose outputs go to
    the home folder instead of the installation."""
    folder = source.parent
    package = Path(__file__).resolve().parents[1]
    if folder.resolve().is_relative_to(package) or not os.access(folder, os.W_OK):
        return Path.home()
    return folder


def _channel_name(names: list[str], channel: int) -> str:
    return names[channel] if channel < len(names) and names[channel] else f"c{channel}"


def _limits(low: float, high: float) -> list[float]:
    return [low, high] if high > low else [low, low + 1]
