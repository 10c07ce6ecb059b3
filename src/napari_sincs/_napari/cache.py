"""The tile cache shared by every .sincs layer, sized by NAPARI_SINCS_CACHE_MB (default 512)."""

from __future__ import annotations

from ..lazy import TileCache
from .env import env_number

DEFAULT_MB = 512
_cache: TileCache | None = None


def shared_cache() -> TileCache:
    """The one cache for all lazily opened files in this napari session."""
    global _cache
    if _cache is None:
        megabytes = env_number("NAPARI_SINCS_CACHE_MB", DEFAULT_MB)
        _cache = TileCache(max(0, int(megabytes * (1 << 20))))
    return _cache


def set_cache_size(megabytes: float) -> None:
    """Resize the shared cache (dropping the oldest tiles if it shrinks)."""
    cache = shared_cache()
    cache.max_bytes = int(megabytes * (1 << 20))
    cache.trim()
