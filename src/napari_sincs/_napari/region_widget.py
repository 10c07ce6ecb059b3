"""Dock widget "Decode region": decode only the visible field of view, or a drawn rectangle, of a
lazily opened .sincs layer, into a new in-memory layer or an OME-TIFF file. It also sets the size
of the tile cache shared by every .sincs layer.

The visible field of view comes from the camera (centre, zoom, canvas size), not from the
corners napari records at its last draw, which lag behind a zoom until the canvas repaints. The
TIFF path defaults to an unused name beside the .sincs file (in the home folder for the bundled
samples, which lie inside the installation); an existing file is overwritten
only when "overwrite" is ticked, and anything but .tif/.tiff is refused, since the file written
is always OME-TIFF.

Decoding (and writing the TIFF) runs in a worker, slab by slab of the file's chunks along the
region's first axis, so that the bar moves, Cancel stops it between slabs, and a cancelled
export leaves no file.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..codec.errors import CompressionCancelled, OutputError, SincsError
from ..codec.format.header import ImageMetadata
from ..io import write_tiff
from ..lazy import SincsArray
from ..progress import DECODE, WRITE, CancelToken, ProgressCallback, ProgressEvent, check, report
from .cache import set_cache_size, shared_cache
from .camera import camera_of
from .file_layers import ViewerArray, default_folder, file_stem
from .notify import notify_error

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

VISIBLE = "visible field of view"
TO_LAYER = "new layer"
TO_TIFF = "OME-TIFF file"
TIFF_SUFFIXES = (".tif", ".tiff")


def lazy_of(layer: Any) -> SincsArray | None:
    """The full-resolution SincsArray behind a layer opened by the .sincs reader."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    return data.lazy if isinstance(data, ViewerArray) else None


def _view_box(layer: Any, viewer: napari.Viewer) -> np.ndarray | None:
    """(2, ndim) full-resolution data coordinates bounding what the 2D canvas shows of `layer`,
    from the camera; None in 3D, where everything displayed may be in view."""
    if viewer.dims.ndisplay != 2:
        return None
    displayed = list(viewer.dims.displayed)
    camera = camera_of(viewer)
    half = np.asarray(viewer.canvas.viewbox_size(viewer.layers), dtype=float) / (2 * camera.zoom)
    centre = np.asarray(camera.center, dtype=float)[-2:]
    corners = []
    for signs in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        world = np.asarray(viewer.dims.point, dtype=float)
        world[displayed] = centre + np.asarray(signs) * half
        corners.append(layer.world_to_data(world[-layer.ndim :]))
    corners = np.asarray(corners, dtype=float)
    return np.stack([corners.min(axis=0), corners.max(axis=0)])


def visible_region(layer: Any, viewer: napari.Viewer, all_planes: bool) -> tuple[slice, ...]:
    """Full-resolution index ranges of what `layer` shows now (current plane unless all_planes)."""
    lazy = lazy_of(layer)
    shape = lazy.shape
    box = _view_box(layer, viewer)
    point = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)
    displayed = set(viewer.dims.displayed)
    offset = viewer.dims.ndim - layer.ndim
    region = []
    for axis, size in enumerate(shape):
        if axis + offset in displayed:
            # Pixel k covers data coordinates [k - 0.5, k + 0.5].
            lo, hi = (0.0, size - 1.0) if box is None else (box[0, axis], box[1, axis])
            start = int(np.clip(np.floor(lo + 0.5), 0, size - 1))
            stop = int(np.clip(np.ceil(hi + 0.5), 1, size))
            region.append(slice(start, max(start + 1, stop)))
        elif all_planes:
            region.append(slice(0, size))
        else:
            index = int(np.clip(np.round(point[axis]), 0, size - 1))
            region.append(slice(index, index + 1))
    return tuple(region)


def rectangle_region(
    layer: Any, shapes: Any, viewer: napari.Viewer, all_planes: bool
) -> tuple[slice, ...]:
    """Index ranges of the bounding box of the selected (else last) shape, on the current plane."""
    if len(shapes.data) == 0:
        raise ValueError(f"the shapes layer {shapes.name!r} has no shape; draw a rectangle first.")
    index = max(shapes.selected_data) if shapes.selected_data else len(shapes.data) - 1
    vertices = np.asarray(shapes.data[index], dtype=float)
    world = np.array([shapes.data_to_world(v) for v in vertices])
    inside = np.array([layer.world_to_data(w) for w in world])
    base = visible_region(layer, viewer, all_planes)
    displayed = set(viewer.dims.displayed)
    offset = viewer.dims.ndim - layer.ndim
    region = list(base)
    for axis, size in enumerate(lazy_of(layer).shape):
        if axis + offset in displayed:
            lo = int(np.clip(np.floor(inside[:, axis].min()), 0, size))
            hi = int(np.clip(np.ceil(inside[:, axis].max()) + 1, 0, size))
            region[axis] = slice(lo, max(lo + 1, hi))
    return tuple(region)


class RegionWidget(QWidget):
    """Decode the visible region (or a rectangle) of a .sincs layer, touching only its groups."""

    finished = Signal(object)
    progressed = Signal(object)

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self.cancel_token: CancelToken | None = None
        self.layer_box = QComboBox()
        self.source = QComboBox()
        self.all_planes = QCheckBox("all planes of the axes not on screen (t, z)")
        self.target = QComboBox()
        self.target.addItems([TO_LAYER, TO_TIFF])
        self.path = QLineEdit()
        self.path.setToolTip("OME-TIFF file to write (.tif or .tiff); default: beside the .sincs")
        self.overwrite = QCheckBox("overwrite")
        self.overwrite.setToolTip("Replace the TIFF file if it exists (else decoding refuses)")
        self._default_path = ""
        self.decode_button = QPushButton("Decode region")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("idle")
        self.cache_mb = QSpinBox(minimum=0, maximum=1_000_000, value=shared_cache().max_bytes >> 20)
        self.cache_mb.setSuffix(" MB")
        self.cache_mb.setToolTip("Decoded tiles kept for every .sincs layer (0 turns caching off)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow(".sincs layer", self.layer_box)
        form.addRow("Region", self.source)
        form.addRow("", self.all_planes)
        form.addRow("Into", self.target)
        form.addRow("TIFF path", self.path)
        form.addRow("", self.overwrite)
        form.addRow("Tile cache", self.cache_mb)
        outer = QVBoxLayout(self)
        outer.addLayout(form)
        outer.addWidget(self.decode_button)
        outer.addWidget(self.cancel)
        outer.addWidget(self.bar)
        outer.addWidget(self.status)
        outer.addStretch()
        self.decode_button.clicked.connect(self.decode)
        self.cancel.clicked.connect(self.cancel_decoding)
        self.progressed.connect(self._show_progress)
        self.layer_box.currentTextChanged.connect(self._suggest_path)
        self.cache_mb.valueChanged.connect(set_cache_size)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._refresh)
        self._refresh()

    def _refresh(self, event: Any = None) -> None:
        from napari.layers import Shapes

        layer_name, source_name = self.layer_box.currentText(), self.source.currentText()
        sincs = [layer.name for layer in self.viewer.layers if lazy_of(layer) is not None]
        shapes = [
            f"rectangle in {layer.name}"
            for layer in self.viewer.layers
            if isinstance(layer, Shapes)
        ]
        for box, items, keep in (
            (self.layer_box, sincs, layer_name),
            (self.source, [VISIBLE, *shapes], source_name),
        ):
            box.clear()
            box.addItems(items)
            if keep in items:
                box.setCurrentIndex(items.index(keep))
        self.decode_button.setEnabled(bool(sincs))
        if not sincs:
            self.status.setText("Open a .sincs file first (drag it onto the viewer).")
        self._suggest_path()

    def _suggest_path(self, *args: Any) -> None:
        """An unused "<layer>_region.tif" beside the layer's .sincs file, unless the user typed a
        path of their own."""
        name = self.layer_box.currentText()
        layer = next((layer for layer in self.viewer.layers if layer.name == name), None)
        if self.path.text() not in ("", self._default_path) or layer is None:
            return
        folder = default_folder(lazy_of(layer).decoder.source.path)
        self._default_path = str(unused_path(folder, f"{file_stem(name)}_region", ".tif"))
        self.path.setText(self._default_path)

    def _tiff_target(self) -> Path:
        """The TIFF path, checked before anything is decoded (raises OutputError)."""
        target = Path(self.path.text()).expanduser()
        if target.suffix.lower() not in TIFF_SUFFIXES:
            raise OutputError(
                f"{target.name!r} does not end in .tif or .tiff; the region is written as "
                "OME-TIFF. Rename it, or decode into a new layer and save that with napari's "
                "File > Save Selected Layers for other formats."
            )
        if target.exists() and not self.overwrite.isChecked():
            raise OutputError(f"{target} already exists; choose another name or tick 'overwrite'.")
        if not target.parent.is_dir():
            raise OutputError(f"the folder {target.parent} does not exist; create it first.")
        return target

    def region(self) -> tuple[Any, tuple[slice, ...]]:
        layer = self.viewer.layers[self.layer_box.currentText()]
        choice = self.source.currentText()
        if choice == VISIBLE:
            return layer, visible_region(layer, self.viewer, self.all_planes.isChecked())
        shapes = self.viewer.layers[choice.removeprefix("rectangle in ")]
        return layer, rectangle_region(layer, shapes, self.viewer, self.all_planes.isChecked())

    def decode(self) -> Any:
        """Decode the chosen region in a background worker; returns the worker."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            return None
        try:
            layer, region = self.region()
            target = self._tiff_target() if self.target.currentText() == TO_TIFF else None
        except (ValueError, KeyError, OutputError) as exc:
            self.status.setText(f"Not decoded: {exc}")
            notify_error(str(exc))
            return None
        lazy = lazy_of(layer)
        self.status.setText(
            "Decoding " + ", ".join(f"{a} {s.start}:{s.stop}" for a, s in zip(lazy.axes, region))
        )
        self.cancel_token = token = CancelToken()
        self.worker = create_worker(
            decode_region,
            lazy,
            region,
            target,
            self.overwrite.isChecked(),
            self.progressed.emit,
            token,
            _start_thread=False,
            _ignore_errors=True,
        )
        self.worker.returned.connect(functools.partial(self._deliver, layer, region, target))
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._worker_finished)
        self.decode_button.setEnabled(False)
        self.cancel.setEnabled(True)
        self.bar.setValue(0)
        self.bar.setFormat("decoding")
        self.worker.start()
        return self.worker

    def cancel_decoding(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.bar.setFormat("cancelling…")

    def _show_progress(self, event: ProgressEvent) -> None:
        if event.stage == WRITE:
            self.bar.setFormat("writing the TIFF")
            return
        self.bar.setValue(int(self.bar.maximum() * event.group / max(1, event.groups)))
        self.bar.setFormat(f"decoding slab {event.group}/{event.groups}")

    def _worker_finished(self) -> None:
        self.worker = None
        self.cancel_token = None
        self.cancel.setEnabled(False)
        self.decode_button.setEnabled(self.layer_box.count() > 0)

    def _deliver(
        self, layer: Any, region: tuple[slice, ...], target: Path | None, data: np.ndarray
    ) -> None:
        self.bar.setValue(self.bar.maximum())
        self.bar.setFormat("done")
        if target is not None:
            self.status.setText(f"Wrote {target} ({'×'.join(map(str, data.shape))}).")
            if self.path.text() == self._default_path:
                self.path.clear()
                self._suggest_path()
            self.finished.emit(str(target))
            return
        start = np.array([s.start for s in region], dtype=float)
        added = self.viewer.add_image(
            data,
            name=f"{layer.name} region",
            scale=layer.scale,
            translate=np.asarray(layer.translate) + start * np.asarray(layer.scale),
            axis_labels=layer.axis_labels,
            units=layer.units,
            contrast_limits=layer.contrast_limits,
            colormap=layer.colormap,
            blending=layer.blending,
        )
        self.status.setText(f"Added {added.name!r} ({'×'.join(map(str, data.shape))}).")
        self.finished.emit(added)

    def _failed(self, exc: BaseException) -> None:
        self.bar.setValue(0)
        if isinstance(exc, CompressionCancelled):
            self.bar.setFormat("cancelled")
            self.status.setText("Cancelled; nothing was added or written.")
        else:
            self.bar.setFormat("failed")
            self.status.setText(f"Failed: {exc}")
            notify_error(str(exc) if isinstance(exc, SincsError) else f"Decoding failed: {exc}")
        self.finished.emit(exc)


def decode_region(
    lazy: SincsArray,
    region: tuple[slice, ...],
    target: Path | None,
    overwrite: bool,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Decode `region` of `lazy` slab by slab (whole chunks along its first axis), reporting
    and honouring `cancel` between slabs; written to the OME-TIFF `target` when there is one
    (returns what was written: with a c axis for one channel of a multi-channel file)."""
    first = region[0]
    step = max(1, lazy.chunks[0])
    edges = [first.start, *range((first.start // step + 1) * step, first.stop, step), first.stop]
    slabs = []
    for done, (start, stop) in enumerate(itertools.pairwise(edges), start=1):
        check(cancel)
        slabs.append(lazy[(slice(start, stop), *region[1:])])
        report(progress, ProgressEvent(done, len(edges) - 1, 0, 0, 0.0, DECODE))
    data = np.concatenate(slabs, axis=0)
    if target is None:
        return data
    check(cancel)
    data, axes, meta = tiff_contents(lazy, data)
    report(progress, ProgressEvent(0, 1, 0, 0, 0.0, WRITE))
    write_tiff(target, data, axes, meta, overwrite=overwrite)
    return data


def tiff_contents(lazy: SincsArray, data: np.ndarray) -> tuple[np.ndarray, str, ImageMetadata]:
    """What a TIFF of a decoded region holds: for one channel of a multi-channel file, a c axis
    of size 1 where the file has it, and that channel's own name (not channel 0's)."""
    meta = lazy.header.metadata
    if lazy.channel is None:
        return data, lazy.axes, meta
    axes = lazy.layout.axes
    names = meta.channel_names
    own = [names[lazy.channel]] if lazy.channel < len(names) else []
    channel = dataclasses.replace(meta, channel_names=own)
    return np.expand_dims(data, axes.index("c")), axes, channel


def unused_path(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem.suffix, or stem_2, stem_3... when taken."""
    candidate, count = folder / f"{stem}{suffix}", 1
    while candidate.exists():
        count += 1
        candidate = folder / f"{stem}_{count}{suffix}"
    return candidate
