"""Menu commands (Layers > Data, File > IO Utilities) that bring up the dock widgets."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import napari

PLUGIN = "napari-sincs"
COMPRESS_WIDGET = "Compress active layer"
REGION_WIDGET = "Decode region"


def compress_active_layer(viewer: napari.Viewer) -> None:
    """Open the Compress dock widget on the active layer; an active layer that is not an image
    is refused there, rather than another layer being compressed in its place."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, COMPRESS_WIDGET)
    active = viewer.layers.selection.active
    if active is not None and not widget.select_layer(active):
        widget.refuse_layer(active)


def decode_visible_region(viewer: napari.Viewer) -> None:
    """Open the Decode region dock widget."""
    viewer.window.add_plugin_dock_widget(PLUGIN, REGION_WIDGET)
