"""The viewer's camera across napari versions."""

from __future__ import annotations

from typing import Any


def camera_of(viewer: Any) -> Any:
    """`viewer.scene.camera` (napari 0.9 deprecates `viewer.camera`, which older ones have)."""
    return getattr(viewer, "scene", viewer).camera
