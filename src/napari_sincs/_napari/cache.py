"""The tile cache shared by every .sincs layer, sized by NAPARI_SINCS_CACHE_MB (default 512)."""

from __future__ import annotations

import os

from ..lazy import TileCache

DEFAULT_MB = 512
_cache: TileCache | None = None


def shared_cache() -> TileCache:
    """The one cache for all lazily opened files in this napari session."""
    global _cache
    if _cache is None:
        megabytes = os.environ.get("NAPARI_SINCS_CACHE_MB", str(DEFAULT_MB))
        try:
            size = max(0, int(float(megabytes) * (1 << 20)))
        except ValueError:
            size = DEFAULT_MB << 20
        _cache = TileCache(size)
    return _cache


def set_cache_size(megabytes: float) -> None:
    """Resize the shared cache (dropping the oldest tiles if it shrinks)."""
    cache = shared_cache()
    cache.max_bytes = int(megabytes * (1 << 20))
    cache.trim()
