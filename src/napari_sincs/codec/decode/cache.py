"""A thread-safe LRU cache bounded by a total weight (entries, or bytes)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


def _one(value: Any) -> int:
    return 1


class LruCache:
    """Least recently used entries go first once their summed weight passes `capacity`.

    `weigh` gives an entry's weight (1 each by default: `capacity` counts entries); an entry
    heavier than the whole capacity is not kept.
    """

    def __init__(self, capacity: int, weigh: Callable[[Any], int] = _one) -> None:
        self.capacity = capacity
        self.weigh = weigh
        self.used = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        weight = self.weigh(value)
        if weight > self.capacity:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.used -= self.weigh(old)
            self._entries[key] = value
            self.used += weight
        self.trim()

    def trim(self) -> None:
        """Drop the least recently used entries until the cache fits its capacity."""
        with self._lock:
            while self.used > self.capacity and self._entries:
                _, dropped = self._entries.popitem(last=False)
                self.used -= self.weigh(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.used = 0

    def held(self) -> list[Hashable]:
        """The keys held now, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
