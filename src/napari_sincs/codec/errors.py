"""Errors the codec raises; every message says what was wrong and what to do about it."""

from __future__ import annotations


class SincsError(Exception):
    """Base class of every error napari-sincs raises on purpose."""


class InvalidInputError(SincsError, ValueError):
    """The array, axes, saliency map or option given to the codec cannot be used."""


class InvalidConfigError(InvalidInputError):
    """A compression setting is out of range or inconsistent with the others."""


class UnknownSettingError(InvalidConfigError, TypeError):
    """A keyword names no setting (a typo); a TypeError too, as Python's own would be."""


class RatioUnreachableError(SincsError):
    """The requested compression ratio cannot be met by any network the codec can build."""


class InsufficientMemoryError(SincsError, MemoryError):
    """The compression asked for would need more memory than the machine (or GPU) has free."""


class CorruptFileError(SincsError):
    """A .sincs file is truncated, damaged, or not a .sincs file at all."""


class UnsupportedVersionError(CorruptFileError):
    """A .sincs file was written by a newer, incompatible version of the format."""


class OutputError(SincsError, OSError):
    """The output file cannot be written (exists, directory missing, not writable)."""


class CompressionCancelled(SincsError):
    """The user cancelled a compression; no output file was written."""


class MissingFileError(SincsError, FileNotFoundError):
    """An input file does not exist or cannot be opened."""
