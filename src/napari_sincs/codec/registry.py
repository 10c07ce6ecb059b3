"""A registry of named plug-ins (network families, saliency methods).

Built-in entries are listed as "module:attribute" paths and imported on first use, so that
naming or validating a choice imports nothing heavy; a plug-in registers an object directly.
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from .errors import InvalidConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries in registration order.

    `what` is the setting that names an entry (in error messages); `also` are choices the
    setting accepts besides the entries (such as "auto").
    """

    def __init__(self, what: str, also: tuple[str, ...] = ()) -> None:
        self.what = what
        self.also = also
        self._entries: dict[str, T | str] = {}

    def add(self, name: str, entry: T | str) -> None:
        """Register `entry` (an object, or a "module:attribute" path) under `name`."""
        if not name.isidentifier() or name in self.also:
            raise ValueError(f"{name!r} cannot name a {self.what}: use an identifier.")
        self._entries[name] = entry

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def choices(self) -> tuple[str, ...]:
        """Everything the setting accepts."""
        return (*self.also, *self._entries)

    def get(self, name: str) -> T:
        """The entry registered as `name` (InvalidConfigError naming the choices if none)."""
        if name not in self._entries:
            raise InvalidConfigError(
                f"{self.what} must be one of {', '.join(self.choices())} (got {name!r})."
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            module, attribute = entry.split(":")
            entry = getattr(importlib.import_module(module), attribute)
            self._entries[name] = entry
        return entry
