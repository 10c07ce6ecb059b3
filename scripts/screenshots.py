"""Screenshots for docs/usage.md, taken from a real napari viewer (run under xvfb-run).

xvfb-run -a python scripts/screenshots.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import napari
import tifffile
from qtpy.QtWidgets import QApplication

from napari_sincs._napari.commands import COMPRESS_WIDGET, PLUGIN, REGION_WIDGET

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"


def settle(seconds: float = 1.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def dismiss_notifications(viewer: napari.Viewer) -> None:
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()
    settle(0.3)


def compress_widget(data: Path) -> None:
    viewer = napari.Viewer()
    viewer.window.resize(1400, 900)
    image = tifffile.imread(data / "nuclei2d.tif")
    viewer.add_image(image, name="nuclei2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, COMPRESS_WIDGET)
    widget.output.setText("/tmp/nuclei2d.sincs")
    widget.overwrite.setChecked(True)
    widget.preview_saliency()
    viewer.layers.selection.active = viewer.layers["nuclei2d"]
    dismiss_notifications(viewer)
    viewer.screenshot(str(IMAGES / "saliency_preview.png"), canvas_only=False)
    worker = widget.start_compression()
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    while not finished:
        settle(0.2)
    widget.open_output()
    viewer.layers["nuclei2d saliency"].visible = False
    viewer.layers["nuclei2d"].visible = False
    dismiss_notifications(viewer)
    viewer.screenshot(str(IMAGES / "compress_widget.png"), canvas_only=False)
    viewer.close()


def lazy_browsing() -> None:
    viewer = napari.Viewer()
    viewer.window.resize(1400, 900)
    viewer.open_sample("napari-sincs", "cells3d_nuclei")
    viewer.dims.set_current_step(0, 30)
    viewer.window.add_plugin_dock_widget(PLUGIN, REGION_WIDGET)
    viewer.reset_view()
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.zoom *= 1.6
    dismiss_notifications(viewer)
    settle(2)
    viewer.screenshot(str(IMAGES / "lazy_browsing.png"), canvas_only=False)
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    compress_widget(args.data)
    lazy_browsing()


if __name__ == "__main__":
    main()
