"""SincsArray: a .sincs file as a lazy, multiscale numpy-like array.

Indexing decodes only what is asked for. Requests are answered from (y, x) tiles of one plane at
one level, decoded on demand and kept in a bounded LRU cache shared by every level, so a viewer
that pans back finds its tiles already there. Requests larger than a quarter of the cache bypass
it and decode in one pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .codec.decode.cache import LruCache
from .codec.decode.decoder import DamageCallback, Decoder, level_count, level_shape
from .codec.device import pick_device
from .codec.errors import CorruptFileError
from .codec.format.container import SincsFile
from .codec.format.header import FileHeader
from .codec.layout import CANONICAL

TILE = 256
DEFAULT_CACHE_BYTES = 256 << 20


class TileCache(LruCache):
    """Thread-safe LRU of decoded tiles, bounded in bytes (shared by every level of a file)."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(max_bytes, weigh=lambda tile: tile.nbytes)

    @property
    def max_bytes(self) -> int:
        return self.capacity

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        self.capacity = value

    @property
    def bytes(self) -> int:
        return self.used


def normalise_key(key: Any, shape: tuple[int, ...]) -> list[int | slice]:
    """Expand Ellipsis, check bounds; ints stay ints (axis dropped), slices get explicit bounds."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is None for k in key):
        raise IndexError("SincsArray does not support adding axes with None; index numpy output.")
    n_ellipsis = sum(k is Ellipsis for k in key)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...').")
    if n_ellipsis:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (len(shape) - len(key) + 1) + key[i + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices: array is {len(shape)}-dimensional.")
    key = key + (slice(None),) * (len(shape) - len(key))
    out: list[int | slice] = []
    for k, size in zip(key, shape):
        if isinstance(k, slice):
            out.append(slice(*k.indices(size)))
        elif isinstance(k, int | np.integer) and not isinstance(k, bool):
            i = int(k) + size if k < 0 else int(k)
            if not 0 <= i < size:
                raise IndexError(f"index {int(k)} is out of bounds for an axis of size {size}.")
            out.append(i)
        else:
            raise IndexError(
                f"SincsArray takes integers, slices and '...' (got {type(k).__name__}); decode a "
                "region first and index the numpy array for anything fancier."
            )
    return out


class SincsArray:
    """A lazily decoded view of a .sincs file at one pyramid level, in the file's own axes.

    With `channel` set, the view is one channel of a multi-channel file and has no c axis.
    """

    def __init__(
        self,
        decoder: Decoder,
        level: int = 0,
        cache: TileCache | None = None,
        channel: int | None = None,
    ) -> None:
        self.decoder = decoder
        self.header: FileHeader = decoder.header
        self.level = level
        self.cache = cache
        self.channel = channel
        self.layout = self.header.layout
        if channel is not None and not 0 <= channel < self.layout.extent("c"):
            raise IndexError(
                f"channel {channel} does not exist; the file has {self.layout.extent('c')}."
            )
        canonical = level_shape(self.layout.canonical_shape, level)
        self._canonical_shape = canonical
        self.axes = self.layout.axes if channel is None else self.layout.axes.replace("c", "")
        self.shape = tuple(canonical[CANONICAL.index(a)] for a in self.axes)
        self.dtype = np.dtype(self.header.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        channel = "" if self.channel is None else f", channel={self.channel}"
        return (
            f"SincsArray({self.decoder.source.path.name!r}, shape={self.shape}, "
            f"dtype={self.dtype}, axes={self.axes!r}, level={self.level}{channel})"
        )

    @property
    def levels(self) -> list[SincsArray]:
        """Every pyramid level, full resolution first (for napari's multiscale layers)."""
        return [self.at_level(level) for level in range(level_count(self.layout.canonical_shape))]

    def at_level(self, level: int) -> SincsArray:
        if level == self.level:
            return self
        return SincsArray(self.decoder, level, self.cache, self.channel)

    def channel_view(self, channel: int) -> SincsArray:
        """One channel of a multi-channel file, without its c axis (for one napari layer each)."""
        if "c" not in self.layout.axes:
            raise IndexError("this file has no channel axis.")
        return SincsArray(self.decoder, self.level, self.cache, channel)

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._read(key, None)

    def salvage(self, key: Any, on_damage: DamageCallback) -> np.ndarray:
        """`self[key]`, except that the voxels of groups whose blobs are damaged come back as
        zeros (and `on_damage` hears which voxels, and why) instead of failing the whole read:
        what a viewer needs, so that one damaged blob blanks only what depends on it."""
        return self._read(key, on_damage)

    def _read(self, key: Any, on_damage: DamageCallback | None) -> np.ndarray:
        index = normalise_key(key, self.shape)
        if self.channel is not None:
            index.insert(self.layout.axes.index("c"), self.channel)
        bounds = [slice(k, k + 1) if isinstance(k, int) else _cover(k) for k in index]
        region = self.layout.canonical_region(tuple(bounds))
        block = self.layout.from_canonical(self._decode(region, on_damage))
        picks = tuple(0 if isinstance(k, int) else slice(None, None, k.step) for k in index)
        return np.ascontiguousarray(block[picks])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self[...]
        return data if dtype is None else data.astype(dtype)

    def _decode(
        self, region: tuple[slice, ...], on_damage: DamageCallback | None = None
    ) -> np.ndarray:
        requested = math.prod(s.stop - s.start for s in region) * self.dtype.itemsize
        if self.cache is None or requested > self.cache.max_bytes // 4:
            return self.decoder.decode(region, self.level, on_damage)
        out = np.empty([s.stop - s.start for s in region], dtype=self.dtype)
        for key, tile_region, target in self._tiles(region):
            tile = self.cache.get(key)
            if tile is None:
                damage: list[str] = []
                report = None if on_damage is None else _noting(damage, on_damage)
                tile = self.decoder.decode(tile_region, self.level, report)
                if not damage:
                    self.cache.put(key, tile)
            out[target] = tile[_within(tile_region, region)]
        return out

    def _tiles(
        self, region: tuple[slice, ...]
    ) -> Iterator[tuple[tuple, tuple[slice, ...], tuple[slice, ...]]]:
        """(cache key, tile's region, where it lands in the output) for every tile met."""
        t, c, z, y, x = region
        ys, xs = self._canonical_shape[3:]
        for ti in range(t.start, t.stop):
            for ci in range(c.start, c.stop):
                for zi in range(z.start, z.stop):
                    for ty in range(y.start // TILE, (y.stop - 1) // TILE + 1):
                        for tx in range(x.start // TILE, (x.stop - 1) // TILE + 1):
                            tile = (
                                slice(ti, ti + 1),
                                slice(ci, ci + 1),
                                slice(zi, zi + 1),
                                slice(ty * TILE, min(ys, (ty + 1) * TILE)),
                                slice(tx * TILE, min(xs, (tx + 1) * TILE)),
                            )
                            target = tuple(
                                slice(
                                    max(a.start, b.start) - b.start, min(a.stop, b.stop) - b.start
                                )
                                for a, b in zip(tile, region)
                            )
                            yield (id(self.decoder), self.level, ti, ci, zi, ty, tx), tile, target

    @property
    def chunks(self) -> tuple[int, ...]:
        """Chunk sizes that follow the file's groups: one frame, one channel, one spatial block
        (at this level) per chunk, so a chunk decodes from a single group's network. An
        attribute, as zarr, h5py and dask have it, so `dask.array.from_array(view)` follows it."""
        bz, by, bx = self.header.plan.block
        step = 2**self.level
        canonical = {"t": 1, "c": 1, "z": bz, "y": -(-by // step), "x": -(-bx // step)}
        return tuple(canonical[a] for a in self.axes)

    def to_dask(self, chunks: Any = None) -> Any:
        """This view as a dask array (chunks: `self.chunks` unless given). Each chunk decodes
        on whichever thread or dask worker computes it; workers reopen the file by its path."""
        import dask.array as da
        from dask.base import tokenize

        path = self.decoder.source.path
        stat = path.stat()
        name = "sincs-" + tokenize(
            str(path), stat.st_size, stat.st_mtime_ns, self.level, self.channel
        )
        return da.from_array(
            self, chunks=chunks or self.chunks, name=name, asarray=False, fancy=False, lock=False
        )

    def __reduce__(self) -> tuple:
        """Pickled as its path, level and channel, reopened on the other side (a dask worker)
        on that machine's own device: decoding is exact, so any device gives the same values."""
        if not self.decoder.source.path.is_file():
            raise TypeError("an in-memory .sincs view cannot be sent to another process.")
        cache = 0 if self.cache is None else self.cache.max_bytes
        return (_reopen, (str(self.decoder.source.path), self.level, self.channel, cache))

    def close(self) -> None:
        self.decoder.source.close()

    def __enter__(self) -> SincsArray:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reopen(path: str, level: int, channel: int | None, cache: int) -> SincsArray:
    view = open_sincs(path, cache_bytes=cache).at_level(level)
    return view if channel is None else view.channel_view(channel)


def _cover(s: slice) -> slice:
    """Unit-step slice covering a (possibly strided) slice with explicit bounds."""
    if s.step > 0:
        stop = s.start + ((max(s.stop - s.start, 0) + s.step - 1) // s.step - 1) * s.step + 1
        return slice(s.start, max(s.start, stop))
    raise IndexError("SincsArray does not support negative steps; reverse the numpy output.")


def _noting(seen: list[str], on_damage: DamageCallback) -> DamageCallback:
    """`on_damage`, noting in `seen` that damage was met (a blanked tile is never cached)."""

    def report(where: str, exc: CorruptFileError) -> None:
        seen.append(where)
        on_damage(where, exc)

    return report


def _within(tile: tuple[slice, ...], region: tuple[slice, ...]) -> tuple[slice, ...]:
    """The part of a tile that falls inside a region, in the tile's own coordinates."""
    return tuple(
        slice(max(a.start, b.start) - a.start, min(a.stop, b.stop) - a.start)
        for a, b in zip(tile, region)
    )


def open_sincs(
    path: str | os.PathLike[str],
    *,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    device: str = "auto",
) -> SincsArray:
    """Open a .sincs file as a lazy array; nothing is decoded until it is indexed."""
    source = SincsFile(path)
    try:
        decoder = Decoder(source, device=pick_device(device))
    except BaseException:
        source.close()
        raise
    return SincsArray(decoder, 0, TileCache(cache_bytes) if cache_bytes > 0 else None)
