"""Saliency methods behind one interface (base.py), and the registry everything reads.

The config's validation, the CLI's `--saliency` choices, the widget and `api.saliency_map` read
this registry; the encoder prepares the chosen method once per compression. A map the user hands
in (an array of the image's shape) is a method of its own (user.py). Adding a method: one module
with a `SaliencyMethod`, one line below (or `register` from a plug-in).
"""

from __future__ import annotations

import numpy as np

from ..registry import Registry
from .base import Index, SaliencyMap, SaliencyMethod

METHODS: Registry[SaliencyMethod] = Registry("saliency")
METHODS.add("threshold", "napari_sincs.codec.saliency.threshold:METHOD")
METHODS.add("uniform", "napari_sincs.codec.saliency.uniform:METHOD")
METHODS.add("learned", "napari_sincs.codec.saliency.learned:METHOD")

__all__ = ["METHODS", "Index", "SaliencyMap", "SaliencyMethod", "choices", "register", "resolve"]


def register(method: SaliencyMethod) -> None:
    """Make a method available by its name to the config, the CLI, the widget and the API."""
    METHODS.add(method.name, method)


choices = METHODS.choices
get_method = METHODS.get


def help_text() -> str:
    """Every choice with a line on what it is, for `--saliency` and the widget's tooltip."""
    return "; ".join(f"{name} ({METHODS.get(name).summary})" for name in choices())


def resolve(name: str, user_map: np.ndarray | None = None) -> SaliencyMethod:
    """The method a compression samples by: the user's map when one is given, else the named
    method."""
    if user_map is not None:
        from .user import UserMethod

        return UserMethod(user_map)
    return get_method(name)
