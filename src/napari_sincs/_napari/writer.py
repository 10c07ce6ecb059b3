"""File > Save Selected Layers as .sincs: default settings, through the public API.

Compressing takes seconds to minutes, too long to freeze the window, so a save made from the
running napari (inside Qt's event loop) compresses in a background thread, shown with its stage
and time left in napari's activity dock (whose cancel button cancels, leaving no file), and ends
with a notification. The thread is not a daemon: closing napari, or the end of a script, waits
for the file to be complete. A save made outside the event loop (a script calling
`viewer.layers.save`) compresses before it returns, so that the file is there on the next line.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..api import CompressionReport, compress
from ..codec.errors import CompressionCancelled, SincsError
from ..progress import CancelToken, ProgressClock, ProgressEvent
from .layers import axes_for, layer_origin, physical_metadata

log = logging.getLogger(__name__)
_SAVING: set[BackgroundSave] = set()
"""Saves under way, held until their end reaches the GUI thread (else Qt would drop it)."""


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Compress one image layer's data to `path` (napari's single-layer writer)."""
    array = np.asarray(data[0] if meta.get("multiscale") else data)
    axes = axes_for(array.ndim, meta.get("axis_labels"), bool(meta.get("rgb")))
    scale, units = physical_metadata(axes, meta.get("scale"), meta.get("units"))
    settings = dict(
        axes=axes,
        name=meta.get("name"),
        scale=scale,
        units=units,
        origin=layer_origin(axes, meta.get("translate")),
        rgb=bool(meta.get("rgb")),
        overwrite=True,
    )
    if in_event_loop():
        BackgroundSave(path, array, settings).start()
    else:
        log.info("%s", compress(array, path, **settings))
    return [path]


def in_event_loop() -> bool:
    """Whether this runs on the GUI thread inside Qt's event loop (a menu action, not a script)."""
    try:
        from qtpy.QtCore import QThread
        from qtpy.QtWidgets import QApplication
    except ImportError:
        return False
    app = QApplication.instance()
    return (
        app is not None and QThread.currentThread() is app.thread() and app.thread().loopLevel() > 0
    )


class BackgroundSave:
    """One compression to a file in a thread, reported in napari's activity dock."""

    def __init__(self, path: str, array: np.ndarray, settings: dict[str, Any]) -> None:
        from qtpy.QtCore import QObject, Signal

        from .activity import ActivityBar

        class Relay(QObject):
            """Carries events from the thread to the GUI thread, where napari's bar lives."""

            progressed = Signal(object)
            ended = Signal(object)

        self.path = path
        self.array = array
        self.settings = settings
        self.cancel = CancelToken()
        self.clock = ProgressClock()
        self.bar = ActivityBar(f"Saving {Path(path).name}", self.cancel.cancel)
        self.relay = Relay()
        self.relay.progressed.connect(self._show)
        self.relay.ended.connect(self._ended)
        self.thread = threading.Thread(target=self._run, name=f"save {path}", daemon=False)

    def start(self) -> None:
        _SAVING.add(self)
        self.thread.start()

    def _run(self) -> None:
        try:
            outcome: Any = compress(
                self.array, self.path, progress=self._report, cancel=self.cancel, **self.settings
            )
        except Exception as exc:  # reported to the user on the GUI thread
            outcome = exc
        self._emit(self.relay.ended, outcome)

    def _report(self, event: ProgressEvent) -> None:
        self._emit(self.relay.progressed, event)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        """Emit, unless napari has closed (the Relay is gone; the file is still finished)."""
        with contextlib.suppress(RuntimeError):
            signal.emit(value)

    def _show(self, event: ProgressEvent) -> None:
        self.bar.show(self.clock.view(event))

    def _ended(self, outcome: CompressionReport | BaseException) -> None:
        from napari.utils.notifications import show_info

        from .notify import notify_error

        _SAVING.discard(self)
        self.bar.close()
        if isinstance(outcome, CompressionReport):
            show_info(f"Saved {outcome}")
        elif isinstance(outcome, CompressionCancelled):
            show_info(f"Saving {Path(self.path).name} cancelled; no file was written.")
        elif isinstance(outcome, SincsError):
            notify_error(f"Could not save {Path(self.path).name}: {outcome}")
        else:
            log.error("saving %s failed", self.path, exc_info=outcome)
            notify_error(f"Could not save {Path(self.path).name}: {outcome}")
