"""Records that move from memory to a temporary file once they grow large.

Compression keeps every group's weights (for the precision search) and every coded blob until
the file is written; both grow with the input. A Spill keeps them in memory while small and
appends them to an anonymous temporary file beyond `memory_limit`, so a compression's memory
stays near one group plus the model, whatever the size of the input.

Records are read back with seek and read under a lock (portable; os.pread is Unix-only).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator

import numpy as np

MEMORY_LIMIT = 16 << 20


class Spill:
    """Append-only list of byte strings, read back by position."""

    def __init__(self, memory_limit: int = MEMORY_LIMIT) -> None:
        self.memory_limit = memory_limit
        self._memory: list[bytes] | None = []
        self._file = None
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._lock = threading.Lock()
        self.total = 0

    def append(self, data: bytes) -> int:
        if self._memory is not None and self.total + len(data) > self.memory_limit:
            self._file = tempfile.TemporaryFile(prefix="sincs-spill-")  # noqa: SIM115
            for record in self._memory:
                self._file.write(record)
            self._memory = None
        if self._memory is not None:
            self._memory.append(bytes(data))
        else:
            with self._lock:
                self._file.seek(0, os.SEEK_END)
                self._file.write(data)
        self._offsets.append(self.total)
        self._lengths.append(len(data))
        self.total += len(data)
        return len(self._lengths) - 1

    def __len__(self) -> int:
        return len(self._lengths)

    def __getitem__(self, index: int) -> bytes:
        if self._memory is not None:
            return self._memory[index]
        with self._lock:
            self._file.seek(self._offsets[index])
            return self._file.read(self._lengths[index])

    def __iter__(self) -> Iterator[bytes]:
        return (self[i] for i in range(len(self)))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._memory = []


class ArraySpill:
    """A Spill of float32 matrices (one per chain: groups × parameters)."""

    def __init__(self, memory_limit: int = MEMORY_LIMIT) -> None:
        self._spill = Spill(memory_limit)
        self._shapes: list[tuple[int, ...]] = []

    def append(self, array: np.ndarray) -> None:
        array = np.ascontiguousarray(array, dtype=np.float32)
        self._spill.append(array.tobytes())
        self._shapes.append(array.shape)

    def __len__(self) -> int:
        return len(self._shapes)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.frombuffer(self._spill[index], dtype=np.float32).reshape(self._shapes[index])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def close(self) -> None:
        self._spill.close()
