"""Dock widget "Compress active layer": settings, saliency preview, background compression.

Compression runs in a napari thread worker; progress reaches the GUI through a Qt signal (safe
across threads) and Cancel sets the codec's CancelToken, which leaves no file behind. The
saliency preview is a Labels layer "<name> saliency": for the threshold map 1 = salient; for the
learned map, labels 1-4 are four levels of weight (4 = fully salient, 0 = only the floor). Paint
or erase it, and the edited map is what compression uses.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..api import CompressionReport, compress, saliency_map
from ..codec import families, presets
from ..codec import saliency as saliency_methods
from ..codec.config import CompressionConfig, parse_block
from ..codec.device import describe_device
from ..codec.errors import CompressionCancelled, SincsError
from ..codec.layout import ArrayLayout
from ..progress import FIT, RESIDUAL, CancelToken, ProgressEvent
from .layers import axes_for, physical_metadata
from .notify import notify_error

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

SALIENCY_SUFFIX = " saliency"
LEVELS_KEY = "sincs_saliency_levels"
QUALITY_MODES = ("ratio", "PSNR", "max error", "lossless")
PROGRESS_INTERVAL = 0.05


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB"


def saliency_labels(weights: np.ndarray, floor: float, levels: int) -> np.ndarray:
    """Sampling weights as paintable labels: 0 = the floor, `levels` = fully salient."""
    above = (weights - floor) / max(1e-6, 1 - floor)
    return np.ceil(np.clip(above, 0, 1) * levels - 1e-6).astype(np.uint8)


def saliency_weights(labels: Any, levels: int) -> np.ndarray:
    """Painted labels back to weights in [0, 1] (any label above `levels` counts as salient)."""
    return np.minimum(np.asarray(labels, dtype=np.float32) / max(1, int(levels)), 1.0)


class CompressWidget(QWidget):
    """Compress an image layer to .sincs in the background, with a saliency preview."""

    progressed = Signal(object)
    finished = Signal(object)

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self.cancel_token: CancelToken | None = None
        self.report: CompressionReport | None = None
        self._last_emit = 0.0
        self._make_target_controls()
        self._make_saliency_controls()
        self._make_run_controls()
        self._lay_out()
        self._connect()
        self._refresh_layers()

    def _make_target_controls(self) -> None:
        """The layer, its axes, and what the file must guarantee."""
        self.layer_box = QComboBox()
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.axes = QLineEdit()
        self.axes.setToolTip("One letter per dimension from t, c, z, y, x")
        self.mode = QComboBox()
        self.mode.addItems(list(QUALITY_MODES))
        self.mode.setToolTip("What the file must guarantee")
        self.ratio = QDoubleSpinBox(minimum=2, maximum=100000, value=100, decimals=1)
        self.ratio.setSuffix(" ×")
        self.ratio.setToolTip(
            "Target ratio; with PSNR the first guess, with max error the networks'"
        )
        self.psnr = QDoubleSpinBox(minimum=5, maximum=150, value=40, decimals=1)
        self.psnr.setSuffix(" dB")
        self.max_error = QDoubleSpinBox(minimum=0, maximum=1e9, value=1, decimals=3)
        self.max_error.setToolTip("Every voxel within this of the original (intensity units)")
        self.time_groups = QSpinBox(minimum=0, maximum=1000, value=0)
        self.time_groups.setSpecialValueText("auto")
        self.block = QLineEdit("auto")
        self.block.setToolTip("Spatial block: y,x or z,y,x in pixels, or auto")

    def _make_saliency_controls(self) -> None:
        self.saliency = QComboBox()
        self.saliency.addItems(list(saliency_methods.choices()))
        self.saliency.setToolTip(saliency_methods.help_text())
        self.otsu = QCheckBox("Otsu")
        self.otsu.setChecked(True)
        self.threshold = QDoubleSpinBox(
            minimum=0, maximum=1, value=0.2, decimals=3, singleStep=0.01
        )
        self.threshold.setEnabled(False)
        self.floor = QDoubleSpinBox(
            minimum=0.01, maximum=1, value=CompressionConfig().saliency_floor
        )
        self.floor.setSingleStep(0.05)
        self.preview_button = QPushButton("Preview saliency")

    def _make_run_controls(self) -> None:
        """Networks, output, device, and the buttons and displays of a run."""
        self.preset = QComboBox()
        self.preset.addItems(list(presets.PRESETS))
        self.preset.setCurrentText(CompressionConfig().preset)
        self.preset.setToolTip(
            "How long to train: "
            + "; ".join(f"{name}: {p.summary}" for name, p in presets.PRESETS.items())
        )
        self.family = QComboBox()
        self.family.addItems(list(families.choices()))
        self.family.setToolTip(
            f"{families.help_text()} (see docs/benchmarks.md for which suits your data)"
        )
        self.steps = QSpinBox(minimum=0, maximum=1_000_000, value=0)
        self.steps.setSpecialValueText("auto")
        self.steps.setToolTip("training steps of a chain's first group; auto: the family's default")
        self.output = QLineEdit()
        self.browse = QPushButton("…")
        self.overwrite = QCheckBox("overwrite")
        self.device = QLabel(describe_device())
        self.start = QPushButton("Start")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.open_result = QPushButton("Open result beside the original")
        self.open_result.setEnabled(False)

    def _lay_out(self) -> None:
        form = QFormLayout()
        self._form = form
        for label, field in (
            ("Layer", self.layer_box),
            ("", self.info),
            ("Axes", self.axes),
            ("Guarantee", self.mode),
            ("Target ratio", self.ratio),
            ("Target PSNR", self.psnr),
            ("Max error", self.max_error),
            ("Time groups", self.time_groups),
            ("Block", self.block),
            ("Saliency", self.saliency),
            ("Threshold", _row(self.threshold, self.otsu)),
            ("Floor", self.floor),
            ("", self.preview_button),
            ("Preset", self.preset),
            ("Networks", self.family),
            ("Steps", self.steps),
            ("Output", _row(self.output, self.browse)),
            ("", self.overwrite),
            ("Device", self.device),
        ):
            form.addRow(label, field)
        outer = QVBoxLayout(self)
        outer.addLayout(form)
        outer.addLayout(_row(self.start, self.cancel))
        outer.addWidget(self.progress)
        outer.addWidget(self.result)
        outer.addWidget(self.open_result)
        outer.addStretch()

    def _connect(self) -> None:
        self.layer_box.currentIndexChanged.connect(self._layer_changed)
        self.mode.currentTextChanged.connect(self._mode_changed)
        self._mode_changed()
        self.otsu.toggled.connect(lambda on: self.threshold.setEnabled(not on))
        self.otsu.toggled.connect(self._refresh_preview)
        self.threshold.valueChanged.connect(self._refresh_preview)
        self.floor.valueChanged.connect(self._refresh_preview)
        self.preview_button.clicked.connect(self.preview_saliency)
        self.family.currentTextChanged.connect(self._show_default_steps)
        self.preset.currentTextChanged.connect(self._show_default_steps)
        self.browse.clicked.connect(self._choose_output)
        self.start.clicked.connect(self.start_compression)
        self.cancel.clicked.connect(self.cancel_compression)
        self.open_result.clicked.connect(self.open_output)
        self.progressed.connect(self._show_progress)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self._refresh_layers)
        self.viewer.layers.selection.events.active.connect(self._follow_active)

    # layers -----------------------------------------------------------------------------

    def _image_layers(self) -> list[Any]:
        from napari.layers import Image

        return [layer for layer in self.viewer.layers if isinstance(layer, Image)]

    def _refresh_layers(self, event: Any = None) -> None:
        current = self.layer_box.currentText()
        names = [layer.name for layer in self._image_layers()]
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.addItems(names)
        active = self.viewer.layers.selection.active
        wanted = current if current in names else getattr(active, "name", None)
        if wanted in names:
            self.layer_box.setCurrentIndex(names.index(wanted))
        self.layer_box.blockSignals(False)
        self._layer_changed()

    def _follow_active(self, event: Any = None) -> None:
        active = self.viewer.layers.selection.active
        if active is not None:
            self.select_layer(active)

    def select_layer(self, layer: Any) -> None:
        """Make `layer` the one to compress (if it is an image layer)."""
        index = self.layer_box.findText(layer.name)
        if index >= 0:
            self.layer_box.setCurrentIndex(index)

    def layer(self) -> Any:
        name = self.layer_box.currentText()
        return next((layer for layer in self._image_layers() if layer.name == name), None)

    def _data(self, layer: Any) -> Any:
        return layer.data[0] if layer.multiscale else layer.data

    def _layer_changed(self, index: int = 0) -> None:
        layer = self.layer()
        self.start.setEnabled(layer is not None and self.worker is None)
        self.preview_button.setEnabled(layer is not None)
        if layer is None:
            self.info.setText("No image layer: open an image first.")
            return
        data = self._data(layer)
        axes = axes_for(data.ndim, layer.axis_labels, layer.rgb)
        self.axes.setText(axes)
        dtype = np.dtype(data.dtype)
        shape = " × ".join(map(str, data.shape))
        nbytes = math.prod(data.shape) * dtype.itemsize
        self.info.setText(f"{shape} ({axes}) · {dtype} · {_size(nbytes)}")
        source = getattr(getattr(layer, "source", None), "path", None)
        folder = Path(source).parent if source else Path.home()
        self.output.setText(str(folder / f"{_safe(layer.name)}.sincs"))

    def _choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save compressed file", self.output.text(), "SINCS (*.sincs)"
        )
        if path:
            self.output.setText(path if path.endswith(".sincs") else f"{path}.sincs")

    # settings ---------------------------------------------------------------------------

    def _mode_changed(self, *args: Any) -> None:
        mode = self.mode.currentText()
        for field, shown in ((self.psnr, mode == "PSNR"), (self.max_error, mode == "max error")):
            field.setVisible(shown)
            self._form.labelForField(field).setVisible(shown)

    def _show_default_steps(self, *args: Any) -> None:
        """Show the chosen family's steps at the chosen preset, or "auto" where they are chosen
        later (family auto) or by the data (the latent family counts epochs)."""
        family = self.family.currentText()
        if family == "auto":
            self.steps.setValue(0)
            return
        config = CompressionConfig(family=family, preset=self.preset.currentText())
        self.steps.setValue(config.resolved().steps or 0)

    def config(self) -> CompressionConfig:
        """The settings shown in the widget (raises InvalidConfigError on a bad block)."""
        block = parse_block(self.block.text())
        mode = self.mode.currentText()
        return CompressionConfig(
            ratio=self.ratio.value(),
            psnr=self.psnr.value() if mode == "PSNR" else None,
            max_error={"max error": self.max_error.value(), "lossless": 0.0}.get(mode),
            time_groups=self.time_groups.value() or None,
            block=block,
            saliency=self.saliency.currentText(),
            threshold=None if self.otsu.isChecked() else self.threshold.value(),
            saliency_floor=self.floor.value(),
            family=self.family.currentText(),
            preset=self.preset.currentText(),
            steps=self.steps.value() or None,
        )

    def saliency_layer(self, layer: Any) -> Any:
        """The edited saliency layer of `layer`, if the user made one with the same shape."""
        wanted = f"{layer.name}{SALIENCY_SUFFIX}"
        shape = self._data(layer).shape
        spatial = shape[:-1] if layer.rgb else shape
        for candidate in self.viewer.layers:
            if candidate.name == wanted and tuple(candidate.data.shape) == tuple(spatial):
                return candidate
        return None

    def preview_saliency(self) -> Any:
        """Add (or refresh) the Labels layer that shows where training samples concentrate."""
        layer = self.layer()
        if layer is None:
            return None
        try:
            config = self.config()
            data = np.asarray(self._data(layer))
            axes = self.axes.text()
            weights = saliency_map(
                data,
                axes=axes,
                saliency=config.saliency,
                threshold=config.threshold,
                saliency_floor=config.saliency_floor,
            )
        except SincsError as exc:
            notify_error(str(exc))
            return None
        levels = saliency_methods.get_method(config.saliency).preview_levels
        labels = saliency_labels(weights, config.saliency_floor, levels)
        if layer.rgb:
            labels = labels.max(axis=axes.index("c"))
        existing = self.saliency_layer(layer)
        if existing is not None:
            existing.data = labels
            existing.metadata[LEVELS_KEY] = levels
            return existing
        return self.viewer.add_labels(
            labels,
            name=f"{layer.name}{SALIENCY_SUFFIX}",
            scale=layer.scale,
            translate=layer.translate,
            opacity=0.4,
            metadata={LEVELS_KEY: levels},
        )

    def _refresh_preview(self, *args: Any) -> None:
        if not saliency_methods.get_method(self.saliency.currentText()).live_preview:
            return
        layer = self.layer()
        if layer is not None and self.saliency_layer(layer) is not None:
            self.preview_saliency()

    # running ----------------------------------------------------------------------------

    def start_compression(self) -> Any:
        """Start compressing the chosen layer in a background worker; returns the worker."""
        from napari.qt.threading import create_worker

        layer = self.layer()
        if layer is None or self.worker is not None:
            return None
        try:
            config = self.config()
            data = np.asarray(self._data(layer))
            axes = self.axes.text().strip().lower()
            ArrayLayout(axes, data.shape)
            scale, units = physical_metadata(axes, layer.scale, getattr(layer, "units", None))
            painted = self.saliency_layer(layer)
            edited = None
            if painted is not None:
                edited = saliency_weights(painted.data, painted.metadata.get(LEVELS_KEY, 1))
                if layer.rgb:
                    edited = np.broadcast_to(np.expand_dims(edited, axes.index("c")), data.shape)
        except SincsError as exc:
            notify_error(str(exc))
            return None
        self.cancel_token = CancelToken()
        path = self.output.text()
        kwargs = dict(
            axes=axes,
            config=config,
            saliency=edited,
            name=layer.name,
            scale=scale,
            units=units,
            progress=self._emit_progress,
            cancel=self.cancel_token,
            overwrite=self.overwrite.isChecked(),
        )
        self.worker = create_worker(
            compress, data, path, **kwargs, _start_thread=False, _ignore_errors=True
        )
        self.worker.returned.connect(self._done)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._worker_finished)
        self.start.setEnabled(False)
        self.cancel.setEnabled(True)
        self.open_result.setEnabled(False)
        self.result.setText(
            "Compressing with the edited saliency layer…" if edited is not None else "Compressing…"
        )
        self.progress.setValue(0)
        self.progress.setFormat("starting")
        self.worker.start()
        return self.worker

    def cancel_compression(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.progress.setFormat("cancelling…")

    def _emit_progress(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        last_step = event.stage == FIT and event.step == event.steps
        if now - self._last_emit >= PROGRESS_INTERVAL or last_step:
            self._last_emit = now
            self.progressed.emit(event)

    def _show_progress(self, event: ProgressEvent) -> None:
        if event.stage == FIT:
            done = (event.group + event.step / max(1, event.steps)) / event.groups
            refit = "" if event.attempt == 1 else f" (refit {event.attempt})"
            text = f"group {event.group + 1}/{event.groups}{refit} · loss {event.loss:.2e}"
            self.progress.setValue(int(900 * done))
        elif event.stage == RESIDUAL:
            text = f"residual of group {event.group}/{event.groups}"
            self.progress.setValue(900)
        else:
            text = f"verifying plane {event.group}/{event.groups}"
            self.progress.setValue(900 + int(100 * event.group / max(1, event.groups)))
        self.progress.setFormat(text)

    def _done(self, report: CompressionReport) -> None:
        self.report = report
        self.progress.setValue(1000)
        self.progress.setFormat("done")
        self.result.setText(
            f"{Path(report.path).name}: {_size(report.file_bytes)} from {_size(report.raw_bytes)}, "
            f"ratio {report.ratio:.1f}× · PSNR {report.psnr:.2f} dB · SSIM {report.ssim:.4f} · "
            f"{report.seconds:.1f} s on {report.device} · {report.guarantee}: "
            f"{'holds' if report.met else 'NOT reached'}"
        )
        self.open_result.setEnabled(True)
        self.finished.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self.progress.setValue(0)
        if isinstance(exc, CompressionCancelled):
            self.progress.setFormat("cancelled")
            self.result.setText("Cancelled; no file was written.")
            from napari.utils.notifications import show_info

            show_info("Compression cancelled; no file was written.")
        else:
            self.progress.setFormat("failed")
            self.result.setText(f"Failed: {exc}")
            notify_error(str(exc) if isinstance(exc, SincsError) else f"Compression failed: {exc}")
            if not isinstance(exc, SincsError):
                log.error("compression failed", exc_info=exc)
        self.finished.emit(exc)

    def _worker_finished(self) -> None:
        self.worker = None
        self.cancel_token = None
        self.cancel.setEnabled(False)
        self.start.setEnabled(self.layer() is not None)

    def open_output(self) -> list[Any]:
        """Open the compressed file as lazy layer(s) beside the original."""
        if self.report is None:
            return []
        return self.viewer.open(self.report.path, plugin="napari-sincs")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "image"


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row
