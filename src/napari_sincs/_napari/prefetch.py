"""Neighbouring planes decoded in the background, so that the next z or t step is a cache hit.

When napari shows a plane of a .sincs layer, the planes just before and after it along each
axis not on screen (z, t) are decoded by one background thread into the shared tile cache,
nearest first and in the direction of the last step first. A new plane on screen replaces the
pending work (nobody needs the neighbours of a plane left behind). The number of planes each
way is NAPARI_SINCS_PREFETCH (default 2; 0 turns it off).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ..codec.errors import SincsError
from ..lazy import SincsArray
from .env import env_number

log = logging.getLogger(__name__)

DEFAULT_PLANES = 2
Index = tuple[int | slice, ...]


class Prefetcher:
    """One daemon thread decoding the neighbours of the plane last shown, per file and level
    (napari draws a coarse thumbnail level too; its neighbours do not replace the plane's)."""

    def __init__(self, planes: int) -> None:
        self.planes = planes
        self._queue: queue.Queue[tuple[SincsArray, Index, tuple[int, int], int]] = queue.Queue()
        self._lock = threading.Lock()
        self._generation: dict[tuple[int, int], int] = {}
        self._last: dict[tuple[int, int], Index] = {}
        self._pending = 0
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    def shown(self, lazy: SincsArray, index: Index) -> None:
        """`index` of `lazy` is on screen: queue its neighbours, and drop the neighbours still
        queued of the plane shown before it at the same level."""
        if self.planes <= 0 or lazy.cache is None:
            return
        key = (id(lazy.decoder), lazy.level)
        with self._lock:
            previous = self._last.get(key)
            self._last[key] = index
            wanted = neighbours(index, lazy.shape, self.planes, previous)
            if not wanted:
                return
            generation = self._generation.get(key, 0) + 1
            self._generation[key] = generation
            self._pending += len(wanted)
            self._idle.clear()
            for neighbour in wanted:
                self._queue.put((lazy, neighbour, key, generation))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sincs prefetch", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until everything queued is decoded or dropped (for tests and benchmarks)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            lazy, index, key, generation = self._queue.get()
            if generation == self._generation.get(key):
                try:
                    lazy[index]
                except SincsError as exc:  # the plane itself reports it when it is shown
                    log.debug("prefetch of %s %s failed: %s", lazy, index, exc)
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()


def neighbours(
    index: Index, shape: tuple[int, ...], planes: int, previous: Index | None = None
) -> list[Index]:
    """The planes around `index` along each axis it holds a single plane of (an integer, or a
    slice of one, as napari asks), nearest first, and first in the direction moved since
    `previous`."""
    out: list[Index] = []
    for axis, value in enumerate(index):
        here = _plane(value)
        if here is None:
            continue
        before = None if previous is None or len(previous) != len(index) else _plane(previous[axis])
        step = -1 if before is not None and before > here else 1
        for distance in range(1, planes + 1):
            for direction in (step, -step):
                other = here + direction * distance
                if 0 <= other < shape[axis]:
                    pick = other if isinstance(value, int) else slice(other, other + 1, 1)
                    out.append((*index[:axis], pick, *index[axis + 1 :]))
    return out


def _plane(value: int | slice) -> int | None:
    if isinstance(value, int):
        return value
    if value.stop - value.start == 1 and (value.step or 1) == 1:
        return value.start
    return None


_prefetcher: Prefetcher | None = None


def shared_prefetcher() -> Prefetcher:
    global _prefetcher
    if _prefetcher is None:
        _prefetcher = Prefetcher(max(0, int(env_number("NAPARI_SINCS_PREFETCH", DEFAULT_PLANES))))
    return _prefetcher


def prefetch_planes(planes: int) -> None:
    """Set how many planes each way are decoded ahead (0: none)."""
    shared_prefetcher().planes = max(0, int(planes))


def shown(lazy: SincsArray, index: Any) -> None:
    shared_prefetcher().shown(lazy, tuple(index))
