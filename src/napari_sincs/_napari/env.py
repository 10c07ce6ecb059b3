"""Settings read from environment variables (cache size, prefetch depth, 3D budget)."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def env_number(name: str, default: float) -> float:
    """The number in environment variable `name`, or `default` when it is unset or not a
    number (logged: a typo must not stop napari from opening files)."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        log.warning("%s=%r is not a number; using %g", name, text, default)
        return default
