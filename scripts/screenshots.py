"""Screenshots for docs/usage.md, taken from a real napari viewer (run under xvfb-run).

xvfb-run -a python scripts/screenshots.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import napari
import tifffile
from qtpy.QtCore import QSettings
from qtpy.QtWidgets import QApplication

from napari_sincs._napari.camera import camera_of
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


def wait(condition, timeout: float = 600) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the viewer did not get there in time")
        settle(0.2)


def compress_widget(data: Path) -> None:
    viewer = napari.Viewer()
    viewer.window.resize(1400, 950)
    image = tifffile.imread(data / "nuclei2d.tif")
    viewer.add_image(image, name="nuclei2d")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, COMPRESS_WIDGET)
    widget.output.setText("/tmp/nuclei2d.sincs")
    widget.overwrite.setChecked(True)
    widget.saliency.setCurrentText("learned")
    ready = []
    widget.preview_ready.connect(ready.append)
    widget.preview_saliency()
    wait(lambda: ready)
    viewer.layers.selection.active = viewer.layers["nuclei2d"]
    dismiss_notifications(viewer)
    viewer.screenshot(str(IMAGES / "saliency_preview.png"), canvas_only=False)
    worker = widget.start_compression()
    finished = []
    worker.finished.connect(lambda: finished.append(True))
    viewer.window._qt_window.statusBar()._toggle_activity_dock(True)
    wait(lambda: "left in this stage" in widget.stage_line.text() or finished)
    settle(2)
    viewer.screenshot(str(IMAGES / "compress_running.png"), canvas_only=False)
    wait(lambda: finished)
    viewer.window._qt_window.statusBar()._toggle_activity_dock(False)
    widget.open_output()
    viewer.layers["nuclei2d saliency"].visible = False
    viewer.layers["nuclei2d"].visible = False
    dismiss_notifications(viewer)
    viewer.screenshot(str(IMAGES / "compress_widget.png"), canvas_only=False)
    viewer.close()


def error_view(data: Path) -> None:
    """The error view on the cells3d volume at the default 100x: where the file differs most."""
    viewer = napari.Viewer()
    viewer.window.resize(1400, 950)
    image = tifffile.imread(data / "cells3d_nuclei.tif")
    viewer.add_image(image, name="cells3d", colormap="gray")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, COMPRESS_WIDGET)
    widget.output.setText("/tmp/cells3d.sincs")
    widget.overwrite.setChecked(True)
    finished = []
    # The widget's own signal: the worker's may be deleted before a connection is made.
    widget.finished.connect(finished.append)
    widget.start_compression()
    wait(lambda: finished, timeout=1800)
    widget.show_error()
    zoomed_shot(viewer, 2.5, "error_view.png")


def crop_trial(data: Path) -> None:
    """A trial of the default settings on a crop of the cells3d volume, laid over the original."""
    viewer = napari.Viewer()
    viewer.window.resize(1400, 950)
    image = tifffile.imread(data / "cells3d_nuclei.tif")
    viewer.add_image(image, name="cells3d", colormap="gray")
    viewer.dims.set_current_step(0, 30)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, COMPRESS_WIDGET)
    finished = []
    widget.finished.connect(finished.append)
    widget.start_trial()
    wait(lambda: finished, timeout=1800)
    zoomed_shot(viewer, 1.5, "crop_trial.png")


def lazy_browsing() -> None:
    viewer = napari.Viewer()
    viewer.window.resize(1400, 900)
    viewer.open_sample("napari-sincs", "cells3d_nuclei")
    viewer.dims.set_current_step(0, 30)
    viewer.window.add_plugin_dock_widget(PLUGIN, REGION_WIDGET)
    viewer.reset_view()
    zoomed_shot(viewer, 1.6, "lazy_browsing.png")


def zoomed_shot(viewer: napari.Viewer, zoom: float, name: str) -> None:
    """Zoom in around the view's centre, let the lazy layers decode, take the shot, close."""
    camera_of(viewer).zoom *= zoom
    dismiss_notifications(viewer)
    settle(2)
    viewer.screenshot(str(IMAGES / name), canvas_only=False)
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--only",
        choices=("compress_widget", "error_view", "crop_trial", "lazy_browsing"),
        default=None,
    )
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    # The widgets show their defaults, not what this machine's user last chose.
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    shots = {
        "compress_widget": lambda: compress_widget(args.data),
        "error_view": lambda: error_view(args.data),
        "crop_trial": lambda: crop_trial(args.data),
        "lazy_browsing": lazy_browsing,
    }
    for name, shot in shots.items():
        if args.only in (None, name):
            shot()


if __name__ == "__main__":
    main()
