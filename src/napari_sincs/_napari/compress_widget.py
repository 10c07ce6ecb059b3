"""Dock widget "Compress active layer": settings, saliency preview, background compression.

Compression and the saliency preview run in napari thread workers; progress reaches the GUI
through a Qt signal (safe across threads), shown with its stage, the elapsed time and the time
left in the widget and in napari's activity dock, and Cancel (in either) sets the codec's
CancelToken, which leaves no file behind. The saliency preview is a Labels layer
"<name> saliency": for the threshold map 1 = salient; for the learned map, labels 1-4 are four
levels of weight (4 = fully salient, 0 = only the floor). Paint or erase it, and the edited map
is what compression uses. Try on a crop runs the same settings on about an eighth of the image
around the view's centre (napari_sincs.trial) and lays the decoded crop over the original.

The Layer box is the user's choice: it follows the layer they make active, but not a layer being
added (napari makes every new layer active, and a decoded result must never take the place of
its original). Axes and Output follow the chosen layer until the user edits them. The result
opened beside the original is named "<name> (decoded)": a bracket after a name already means a
channel of a .sincs file.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
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
from ..codec.intensity import intensity_range
from ..codec.layout import ArrayLayout
from ..codec.saliency.threshold import channel_thresholds
from ..lazy import open_sincs
from ..progress import FIT, CancelToken, ProgressClock, ProgressEvent, clock
from ..trial import Trial, describe, run_trial
from . import remembered, volume_level
from .activity import ActivityBar
from .cache import shared_cache
from .error_view import ErrorArray, error_layer_kwargs, go_to
from .file_layers import ViewerArray, default_folder, file_stem, layers_for
from .layers import axes_for, layer_origin, names_axes, physical_metadata, source_metadata
from .notify import notify_error
from .trial_view import show_trial, view_centre

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

SALIENCY_SUFFIX = " saliency"
LEVELS_KEY = "sincs_saliency_levels"
GENERATED_KEY = "sincs_saliency_generated"
QUALITY_MODES = ("ratio", "PSNR", "max error", "lossless")
RATIO_RANGE = (1.1, 10_000_000.0)
"""What the ratio box takes: above 1 (the codec's own limit) and far beyond any reachable
ratio, so that the box never clamps a value silently; Start names the highest that fits."""
PROGRESS_INTERVAL = 0.05
CLOCK_INTERVAL_MS = 1000
"""How often the elapsed time is redrawn between progress events (a long stage sends few)."""
DECODED = "decoded"


def _size(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB"


def _raw_bytes(data: Any) -> int:
    return math.prod(data.shape) * np.dtype(data.dtype).itemsize


def saliency_labels(weights: np.ndarray, floor: float, levels: int) -> np.ndarray:
    """Sampling weights as paintable labels: 0 = the floor, `levels` = fully salient."""
    above = (weights - floor) / max(1e-6, 1 - floor)
    return np.ceil(np.clip(above, 0, 1) * levels - 1e-6).astype(np.uint8)


def saliency_weights(labels: Any, levels: int, floor: float = 0.0) -> np.ndarray:
    """Painted labels back to weights: label k of `levels` is the top of its band above the
    floor, floor + (1 - floor) k / levels (0 is the floor, any label above `levels` counts as
    fully salient)."""
    above = np.minimum(np.asarray(labels, dtype=np.float32) / max(1, int(levels)), 1.0)
    return np.float32(floor) + np.float32(1 - floor) * above


def level_weights(levels: int, floor: float) -> list[float]:
    """The sampling weight each label 0..levels stands for (the legend of the preview)."""
    return [float(w) for w in saliency_weights(np.arange(levels + 1), levels, floor)]


def level_colormap(levels: int) -> Any:
    """Labels coloured by the weight they stand for, dim to bright along magma (0 is clear,
    any label above `levels` is drawn as fully salient), so the map reads as a heat map."""
    from napari.utils.colormaps import DirectLabelColormap, ensure_colormap

    magma = ensure_colormap("magma")
    shades = magma.map(np.linspace(0.35, 1.0, levels) if levels > 1 else np.array([0.9]))
    colors: dict[int | None, Any] = {k + 1: shade for k, shade in enumerate(shades)}
    colors[0] = "transparent"
    colors[None] = shades[-1]
    return DirectLabelColormap(color_dict=colors)


def legend_text(levels: int, floor: float) -> str:
    """One line that says what each label of the preview means when compression starts."""
    weights = level_weights(levels, floor)
    if levels == 1:
        return f"Label 1: salient (weight 1) · 0: background (weight {floor:g}, the floor)"
    parts = [f"{k}: {w:.2f}" for k, w in enumerate(weights)]
    return f"Label → sampling weight: {' · '.join(parts)} (0 = the floor, {levels} = full)"


class CompressWidget(QWidget):
    """Compress an image layer to .sincs in the background, with a saliency preview."""

    progressed = Signal(object)
    """A progress event of the running compression or preview, on the GUI thread."""
    _reported = Signal(object, object)
    finished = Signal(object)
    otsu_ready = Signal(object)
    preview_ready = Signal(object)

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker: Any = None
        self.cancel_token: CancelToken | None = None
        self.report: CompressionReport | None = None
        self._compressed: Any = None
        self.preview_worker: Any = None
        self._clock = ProgressClock()
        self._activity: ActivityBar | None = None
        self._last_event: ProgressEvent | None = None
        self._ticker = QTimer(self)
        self._ticker.setInterval(CLOCK_INTERVAL_MS)
        self._ticker.timeout.connect(self._redraw_clock)
        self._last_emit = 0.0
        self._described: Any = None
        self._source: tuple[str, Any] | None = None
        self._default_output = ""
        self._inserted: Any = None
        self._refused = False
        self._otsu_key: tuple[int, str] | None = None
        self._otsu_worker: Any = None
        self._trial_of: Any = None
        self._make_target_controls()
        self._make_saliency_controls()
        self._make_run_controls()
        self._lay_out()
        self._connect()
        remembered.restore(self._remembered())
        remembered.remember(self._remembered())
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
        self.ratio = QDoubleSpinBox(
            minimum=RATIO_RANGE[0], maximum=RATIO_RANGE[1], value=100, decimals=1
        )
        self.ratio_hint = QLabel()
        self.ratio_hint.setWordWrap(True)
        self.ratio_hint.setVisible(False)
        self.ratio.setSuffix(" ×")
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.estimate.setToolTip("The file size the settings allow, before anything is trained")
        self.ratio.setToolTip(
            "How many times smaller than the raw data the file must be. With a PSNR target it "
            "is only the first guess; with max error or lossless it sizes the networks, and the "
            "exact residual that enforces the bound comes on top."
        )
        self.psnr = QDoubleSpinBox(minimum=5, maximum=150, value=40, decimals=1)
        self.psnr.setSuffix(" dB")
        self.psnr.setToolTip("The smallest file whose PSNR against the layer reaches this")
        self.max_error = QDoubleSpinBox(minimum=0, maximum=1e9, value=1, decimals=3)
        self.max_error.setToolTip("Every voxel within this of the original (intensity units)")
        self.time_groups = QSpinBox(minimum=0, maximum=1000, value=0)
        self.time_groups.setSpecialValueText("auto")
        self.time_groups.setToolTip(
            "Interlaced time groups: with N, group g holds frames g, g+N, g+2N… and each group "
            "gets its own networks. auto: the network family's default; ignored without a t axis."
        )
        self.block = QLineEdit("auto")
        self.block.setToolTip("Spatial block: y,x or z,y,x in pixels, or auto")

    def _make_saliency_controls(self) -> None:
        self.saliency = QComboBox()
        self.saliency.addItems(list(saliency_methods.choices()))
        self.saliency.setToolTip(
            "Where training samples concentrate, so that structures are learned before "
            f"background: {saliency_methods.help_text()}"
        )
        self.otsu = QCheckBox("Otsu")
        self.otsu.setChecked(True)
        self.otsu.setToolTip(
            "Use Otsu's threshold of each channel, as compression computes it (shown beside)"
        )
        self.otsu_value = QLabel()
        self.otsu_value.setToolTip("Otsu's threshold in use, normalised, one per channel")
        self.threshold = QDoubleSpinBox(
            minimum=0, maximum=1, value=0.2, decimals=3, singleStep=0.01
        )
        self.threshold.setEnabled(False)
        self.threshold.setToolTip(
            "Voxels above this normalised intensity are salient (0 = the layer's minimum, "
            "1 = its maximum); untick Otsu to set it"
        )
        self.floor = QDoubleSpinBox(
            minimum=0.01, maximum=1, value=CompressionConfig().saliency_floor
        )
        self.floor.setSingleStep(0.05)
        self.floor.setToolTip(
            "Sampling weight of voxels that are not salient (1 = salient): above 0 so that "
            "background is still learned"
        )
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setToolTip(
            "What each label of the saliency layer means when compression starts (hover the "
            "layer: napari's status bar shows the weight under the cursor)"
        )
        self.preview_button = QPushButton("Preview saliency")
        self.preview_button.setToolTip(
            f"Show the map as a Labels layer '<layer>{SALIENCY_SUFFIX}'; paint or erase it, and "
            "compression uses the edited map"
        )

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
        self.overwrite.setToolTip("Replace the output file if it exists (else Start refuses)")
        self.device = QLabel(describe_device())
        self.start = QPushButton("Start")
        self.trial_button = QPushButton("Try on a crop")
        self.trial_button.setToolTip(
            "Compress about 1/8 of the image around the centre of the view with these settings, "
            "show it decoded over the original and estimate how long the whole image takes"
        )
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.stage_line = QLabel()
        self.stage_line.setWordWrap(True)
        self.stage_line.setToolTip("Stage, time since start, and time left in the stage")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.open_result = QPushButton("Open result beside the original")
        self.open_result.setEnabled(False)
        self.show_error_button = QPushButton("Show error")
        self.show_error_button.setToolTip(
            "Add |decoded − original| over the original (decoded only where you look) and go "
            "to the voxel with the largest error"
        )
        self.show_error_button.setEnabled(False)

    def _remembered(self) -> dict[str, Any]:
        """The settings kept between launches, in the order they are restored (Steps last:
        Networks and Preset set it)."""
        return {
            "guarantee": self.mode,
            "ratio": self.ratio,
            "psnr": self.psnr,
            "max_error": self.max_error,
            "time_groups": self.time_groups,
            "block": self.block,
            "saliency": self.saliency,
            "otsu": self.otsu,
            "threshold": self.threshold,
            "floor": self.floor,
            "preset": self.preset,
            "family": self.family,
            "steps": self.steps,
        }

    def _lay_out(self) -> None:
        form = QFormLayout()
        self._form = form
        for label, field in (
            ("Layer", self.layer_box),
            ("", self.info),
            ("Axes", self.axes),
            ("Guarantee", self.mode),
            ("Target ratio", self.ratio),
            ("", self.ratio_hint),
            ("", self.estimate),
            ("Target PSNR", self.psnr),
            ("Max error", self.max_error),
            ("Time groups", self.time_groups),
            ("Block", self.block),
            ("Saliency", self.saliency),
            ("Threshold", _row(self.threshold, self.otsu, self.otsu_value)),
            ("Floor", self.floor),
            ("", self.preview_button),
            ("", self.legend),
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
        outer.addLayout(_row(self.start, self.trial_button, self.cancel))
        outer.addWidget(self.progress)
        outer.addWidget(self.stage_line)
        outer.addWidget(self.result)
        outer.addLayout(_row(self.open_result, self.show_error_button))
        outer.addStretch()

    def _connect(self) -> None:
        self.layer_box.currentIndexChanged.connect(self._layer_changed)
        self.layer_box.activated.connect(self._layer_picked)
        self.mode.currentTextChanged.connect(self._mode_changed)
        self.ratio.lineEdit().textEdited.connect(self._check_ratio_text)
        self.ratio.valueChanged.connect(lambda *args: self.ratio_hint.setVisible(False))
        self.ratio.valueChanged.connect(self._show_estimate)
        self.mode.currentTextChanged.connect(self._show_estimate)
        self._mode_changed()
        self.otsu.toggled.connect(lambda on: self.threshold.setEnabled(not on))
        self.otsu.toggled.connect(self._show_otsu)
        self.axes.editingFinished.connect(self._show_otsu)
        self.otsu.toggled.connect(self._refresh_preview)
        self.threshold.valueChanged.connect(self._refresh_preview)
        self.preview_button.clicked.connect(self._preview_clicked)
        self.floor.valueChanged.connect(self._show_legend)
        self.family.currentTextChanged.connect(self._show_default_steps)
        self.preset.currentTextChanged.connect(self._show_default_steps)
        self.browse.clicked.connect(self._choose_output)
        self.start.clicked.connect(self.start_compression)
        self.trial_button.clicked.connect(self.start_trial)
        self.cancel.clicked.connect(self.cancel_running)
        self.open_result.clicked.connect(self.open_output)
        self.show_error_button.clicked.connect(self.show_error)
        self._reported.connect(self._show_progress)
        events = self.viewer.layers.events
        events.inserted.connect(self._layer_inserted)
        for event in (events.removed, events.reordered):
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
        elif self._refused:
            self.layer_box.setCurrentIndex(-1)
        self.layer_box.blockSignals(False)
        self._layer_changed()

    def _layer_inserted(self, event: Any) -> None:
        """Remember the new layer, so that napari making it active does not change the box."""
        self._inserted = event.value
        self._refresh_layers()

    def _follow_active(self, event: Any) -> None:
        """Follow the layer the user makes active; the newest layer stays ignored until another
        one is made active (napari's insertion makes it active, through None, more than once).
        The event's value, not `selection.active`: the layer list's view may have moved on."""
        active = event.value
        if active is not None and active is not self._inserted:
            self._inserted = None
            self.select_layer(active)

    def select_layer(self, layer: Any) -> bool:
        """Make `layer` the one to compress; False (and no change) if it is not an image layer."""
        index = self.layer_box.findText(layer.name)
        if index >= 0:
            self._refused = False
            self.layer_box.setCurrentIndex(index)
        return index >= 0

    def _layer_picked(self, index: int) -> None:
        self._refused = False

    def refuse_layer(self, layer: Any) -> None:
        """Say that `layer` cannot be compressed, and leave no layer chosen, so that Start cannot
        compress another layer in its place."""
        message = (
            f"{layer.name!r} is a {type(layer).__name__} layer; only image layers can be "
            "compressed to .sincs (labels, points and shapes are not supported). Choose an "
            "image layer in the Layer box."
        )
        self._refused = True
        self.layer_box.setCurrentIndex(-1)
        self.info.setText(message)
        notify_error(message)

    def layer(self) -> Any:
        name = self.layer_box.currentText()
        return next((layer for layer in self._image_layers() if layer.name == name), None)

    def _data(self, layer: Any) -> Any:
        return layer.data[0] if layer.multiscale else layer.data

    def _layer_changed(self, index: int = 0) -> None:
        """Describe a newly chosen layer; the same layer keeps the axes and output shown, since
        the user may have edited them (this runs on every change of the layer list)."""
        layer = self.layer()
        self._enable_buttons()
        if layer is None:
            self._described = None
            self.info.setText(
                "Choose an image layer to compress."
                if self._image_layers()
                else "No image layer: open an image first."
            )
            self._show_legend()
            return
        if layer is self._described:
            return
        self._described = layer
        data = self._data(layer)
        axes = axes_for(data.ndim, layer.axis_labels, layer.rgb)
        self._source = None
        if not names_axes(layer.axis_labels, data.ndim, layer.rgb):
            self._source = source_metadata(layer, data.shape)
        if self._source is not None:
            axes = self._source[0]
        self.axes.setText(axes)
        dtype = np.dtype(data.dtype)
        shape = " × ".join(map(str, data.shape))
        origin = "" if self._source is None else " · axes and voxel size from its file"
        self.info.setText(f"{shape} ({axes}) · {dtype} · {_size(_raw_bytes(data))}{origin}")
        if self.output.text() in ("", self._default_output):
            self._default_output = str(_folder_of(layer) / f"{file_stem(layer.name)}.sincs")
            self.output.setText(self._default_output)
        self._show_otsu()
        self._show_legend()
        self._show_estimate()

    def _physical(self, layer: Any, axes: str) -> tuple[dict[str, float], dict[str, str]]:
        """Voxel size and units: the layer's, or, where the layer has none (napari's own TIFF
        reader sets none), those of the file it came from."""
        scale, units = physical_metadata(axes, layer.scale, getattr(layer, "units", None))
        if self._source is not None and not scale and not units:
            meta = self._source[1]
            scale = {a: v for a, v in meta.scale.items() if a in axes}
            units = {a: v for a, v in meta.units.items() if a in axes}
        return scale, units

    def _choose_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save compressed file", self.output.text(), "SINCS (*.sincs)"
        )
        if path:
            self.output.setText(path if path.endswith(".sincs") else f"{path}.sincs")

    # settings ---------------------------------------------------------------------------

    def _check_ratio_text(self, *args: Any) -> None:
        """Say why a typed ratio is not taken, instead of letting the box silently keep its
        old value (a ratio of 1 or less would not compress)."""
        text = self.ratio.cleanText().replace(",", ".")
        try:
            typed = float(text)
        except ValueError:
            typed = None
        low = RATIO_RANGE[0]
        if typed is not None and typed < low:
            self.ratio_hint.setText(
                f"{typed:g}× is not taken (the ratio stays {self.ratio.value():g}×): a ratio must "
                f"be at least {low:g}×. For a file that decodes bit for bit choose Guarantee: "
                "lossless."
            )
        self.ratio_hint.setVisible(typed is not None and typed < low)

    def _show_estimate(self, *args: Any) -> None:
        """The file size the guarantee allows: a ratio is a ceiling the codec fills; a PSNR or
        an error bound is met by a size that only compression finds."""
        layer = self.layer()
        if layer is None:
            self.estimate.setText("")
            return
        raw = _raw_bytes(self._data(layer))
        mode = self.mode.currentText()
        ratio = self.ratio.value()
        if mode == "ratio":
            text = f"File: at most {_size(raw / ratio)} ({_size(raw)} / {ratio:g})."
        elif mode == "PSNR":
            text = (
                f"File: the smallest that reaches the PSNR; the search starts at "
                f"{_size(raw / ratio)} ({ratio:g}×)."
            )
        else:
            text = (
                f"File: networks of about {_size(raw / ratio)} ({ratio:g}×) plus the exact "
                "residual the bound needs, which depends on the noise of the image."
            )
        self.estimate.setText(text)

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
        """Compute the chosen layer's saliency map in a worker (the learned map trains a network:
        seconds to a minute) and show it as a Labels layer when it is ready (`preview_ready`
        carries the layer); returns the worker. A newer preview replaces one still running."""
        from napari.qt.threading import create_worker

        layer = self.layer()
        if layer is None or self.worker is not None:
            return None
        try:
            config = self.config()
            data = np.asarray(self._data(layer))
            axes = self.axes.text().strip().lower()
            ArrayLayout(axes, data.shape)
        except SincsError as exc:
            notify_error(str(exc))
            return None
        if self.cancel_token is not None:
            self.cancel_token.cancel()
        token = self._begin(
            f"Saliency of {layer.name}",
            activity=not saliency_methods.get_method(config.saliency).live_preview,
        )
        worker = create_worker(
            _preview_job,
            token,
            data,
            axes=axes,
            saliency=config.saliency,
            threshold=config.threshold,
            saliency_floor=config.saliency_floor,
            progress=functools.partial(self._emit_progress, token),
            cancel=token,
            _start_thread=False,
            _ignore_errors=True,
        )
        worker.returned.connect(functools.partial(self._preview_done, layer, config, axes))
        worker.errored.connect(functools.partial(self._preview_failed, token))
        worker.finished.connect(functools.partial(self._preview_finished, token))
        self.preview_worker = worker
        self._enable_buttons()
        worker.start()
        return worker

    def _preview_done(
        self, layer: Any, config: CompressionConfig, axes: str, result: tuple[CancelToken, Any]
    ) -> None:
        token, weights = result
        if token is not self.cancel_token:
            return
        levels = saliency_methods.get_method(config.saliency).preview_levels
        labels = saliency_labels(weights, config.saliency_floor, levels)
        if layer.rgb:
            labels = labels.max(axis=axes.index("c"))
        existing = self.saliency_layer(layer)
        if existing is not None:
            existing.data = labels
            existing.metadata[LEVELS_KEY] = levels
            existing.metadata[GENERATED_KEY] = labels.copy()
        else:
            existing = self.viewer.add_labels(
                labels,
                name=f"{layer.name}{SALIENCY_SUFFIX}",
                scale=layer.scale,
                translate=layer.translate,
                opacity=0.5,
                metadata={LEVELS_KEY: levels, GENERATED_KEY: labels.copy()},
            )
        existing.colormap = level_colormap(levels)
        self._show_legend()
        self.progress.setValue(self.progress.maximum())
        self._end("preview ready")
        self.preview_ready.emit(existing)

    def _show_legend(self, *args: Any) -> None:
        """The legend of the chosen layer's saliency layer at the current floor, in the widget
        and as the layer's features (napari shows them under the cursor)."""
        layer = self.layer()
        painted = None if layer is None else self.saliency_layer(layer)
        self.legend.setVisible(painted is not None)
        if painted is None:
            return
        levels = int(painted.metadata.get(LEVELS_KEY, 1))
        floor = self.floor.value()
        self.legend.setText(legend_text(levels, floor))
        painted.features = {"sampling weight": level_weights(levels, floor)}

    def _preview_failed(self, token: CancelToken, exc: BaseException) -> None:
        if token is not self.cancel_token:
            return
        if isinstance(exc, CompressionCancelled):
            self._end("preview cancelled")
            return
        self._end("preview failed")
        self.result.setText(f"Preview failed: {exc}")
        notify_error(str(exc) if isinstance(exc, SincsError) else f"Preview failed: {exc}")
        if not isinstance(exc, SincsError):
            log.error("saliency preview failed", exc_info=exc)

    def _preview_finished(self, token: CancelToken) -> None:
        if token is self.cancel_token:
            self.cancel_token = None
        if self.preview_worker is not None and self.cancel_token is None:
            self.preview_worker = None
        self._enable_buttons()

    def _painted(self, layer: Any) -> bool:
        """Whether the user has painted on the saliency layer since it was generated."""
        existing = self.saliency_layer(layer)
        if existing is None:
            return False
        generated = existing.metadata.get(GENERATED_KEY)
        return generated is None or not np.array_equal(np.asarray(existing.data), generated)

    def _preview_clicked(self, *args: Any) -> None:
        """Preview, after asking whether painted edits may be replaced by a new map."""
        layer = self.layer()
        if layer is not None and self._painted(layer):
            answer = QMessageBox.question(
                self,
                "Replace the edited saliency map?",
                f"'{layer.name}{SALIENCY_SUFFIX}' has painted edits. A new preview replaces "
                "them with the map of the current settings.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.preview_saliency()

    def _show_otsu(self, *args: Any) -> None:
        """Show Otsu's thresholds of the chosen layer beside the checkbox, computed in a worker
        (a full pass for the intensity range is too slow for the GUI thread on a big layer)."""
        from napari.qt.threading import create_worker

        layer = self.layer()
        self.otsu_value.setVisible(self.otsu.isChecked())
        if layer is None or not self.otsu.isChecked():
            self.otsu_value.setText("")
            return
        key = (id(layer), self.axes.text().strip().lower())
        self._otsu_key = key
        self.otsu_value.setText("= …")
        worker = create_worker(
            _otsu_job, key, self._data(layer), _start_thread=False, _ignore_errors=True
        )
        # A bound method, not a lambda: Qt drops the connection if the widget is closed first.
        worker.returned.connect(self._otsu_done)
        self._otsu_worker = worker
        worker.start()

    def _otsu_done(self, result: tuple[tuple[int, str], list[float] | None]) -> None:
        key, values = result
        if key != self._otsu_key:
            return
        text = "" if values is None else "= " + ", ".join(f"{v:.3f}" for v in values)
        self.otsu_value.setText(text)
        self.otsu_ready.emit(values)

    def _refresh_preview(self, *args: Any) -> None:
        """Follow the threshold live, but never over painted edits (Preview asks first). The
        floor needs no refresh: it applies to the map, edited or not, when compression starts."""
        if not saliency_methods.get_method(self.saliency.currentText()).live_preview:
            return
        layer = self.layer()
        if layer is None or self.saliency_layer(layer) is None:
            return
        if self._painted(layer):
            self.result.setText(
                "The saliency layer has painted edits, so it does not follow the threshold; "
                "press Preview saliency to replace it with the new map."
            )
            return
        self.preview_saliency()

    # running ----------------------------------------------------------------------------

    def start_compression(self) -> Any:
        """Start compressing the chosen layer in a background worker; returns the worker."""
        layer = self.layer()
        settings = self._run_settings(layer)
        if settings is None:
            return None
        data, kwargs = settings
        token = self._begin(f"Compressing {layer.name}", activity=True)
        kwargs |= dict(
            origin=layer_origin(kwargs["axes"], layer.translate),
            progress=functools.partial(self._emit_progress, token),
            cancel=token,
            overwrite=self.overwrite.isChecked(),
        )
        self._compressed = layer
        self.result.setText(
            "Compressing with the edited saliency layer…"
            if kwargs["saliency"] is not None
            else "Compressing…"
        )
        return self._start_worker(compress, (data, self.output.text()), kwargs, self._done)

    def start_trial(self) -> Any:
        """Compress a crop around the centre of the view with the same settings in a background
        worker, to show its quality over the original and estimate the whole run's time."""
        layer = self.layer()
        settings = self._run_settings(layer)
        if settings is None:
            return None
        data, kwargs = settings
        centre = view_centre(self.viewer, layer)
        token = self._begin(f"Trial of {layer.name} on a crop", activity=True)
        kwargs |= dict(progress=functools.partial(self._emit_progress, token), cancel=token)
        self._trial_of = layer
        self.result.setText("Compressing a crop around the centre of the view…")
        return self._start_worker(
            run_trial, (data, centre), kwargs, self._trial_done, "The trial on a crop"
        )

    def _run_settings(self, layer: Any) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The layer's data and the compress keywords the widget's settings give, or None (with
        the reason shown) when nothing can start."""
        if layer is None or self.worker is not None or self.preview_worker is not None:
            return None
        self._clear_status()
        try:
            config = self.config()
            data = np.asarray(self._data(layer))
            axes = self.axes.text().strip().lower()
            ArrayLayout(axes, data.shape)
            scale, units = self._physical(layer, axes)
            painted = self.saliency_layer(layer)
            edited = None
            if painted is not None:
                edited = saliency_weights(
                    painted.data, painted.metadata.get(LEVELS_KEY, 1), config.saliency_floor
                )
                if layer.rgb:
                    edited = np.broadcast_to(np.expand_dims(edited, axes.index("c")), data.shape)
        except SincsError as exc:
            self.progress.setFormat("not started")
            self.result.setText(f"Not started: {exc}")
            notify_error(str(exc))
            return None
        return data, dict(
            axes=axes,
            config=config,
            saliency=edited,
            name=layer.name,
            rgb=bool(layer.rgb),
            scale=scale,
            units=units,
        )

    def _start_worker(
        self,
        job: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        returned: Any,
        task: str = "Compression",
    ) -> Any:
        from napari.qt.threading import create_worker

        self.worker = create_worker(job, *args, **kwargs, _start_thread=False, _ignore_errors=True)
        self.worker.returned.connect(returned)
        self.worker.errored.connect(functools.partial(self._failed, task=task))
        self.worker.finished.connect(self._worker_finished)
        self._enable_buttons()
        self.worker.start()
        return self.worker

    def _clear_status(self) -> None:
        """Forget the last run, so that nothing shown can be taken for this run's outcome."""
        self.report = None
        self.open_result.setEnabled(False)
        self.show_error_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.stage_line.setText("")
        self.result.setText("")

    def _begin(self, title: str, activity: bool) -> CancelToken:
        """A new task's token, clock and bar (also in napari's activity dock when `activity`:
        a task long enough to want one)."""
        self._close_activity()
        self.cancel_token = token = CancelToken()
        self._clock = ProgressClock()
        self._last_event = None
        self.progress.setValue(0)
        self.progress.setFormat("starting")
        self.stage_line.setText("")
        if activity:
            self._activity = ActivityBar(title, self.cancel_running)
        self._ticker.start()
        return token

    def _end(self, outcome: str) -> None:
        """Stop the clock and the activity bar and show the task's outcome on the bar."""
        self._ticker.stop()
        self._close_activity()
        self.progress.setFormat(outcome)
        if self._last_event is not None:
            elapsed = self._clock.view(self._last_event).elapsed
            self.stage_line.setText(f"{outcome} after {clock(elapsed)}")

    def _close_activity(self) -> None:
        if self._activity is not None:
            self._activity.close()
            self._activity = None

    def _enable_buttons(self) -> None:
        running = self.worker is not None or self.preview_worker is not None
        self.start.setEnabled(self.layer() is not None and not running)
        self.trial_button.setEnabled(self.layer() is not None and not running)
        self.preview_button.setEnabled(self.layer() is not None and self.worker is None)
        self.cancel.setEnabled(running)

    def cancel_running(self) -> None:
        """Cancel the compression or the saliency preview that is running."""
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.progress.setFormat("cancelling…")

    def _emit_progress(self, token: CancelToken, event: ProgressEvent) -> None:
        """From the worker thread: pass `event` on to the GUI, at most every PROGRESS_INTERVAL
        (and always a group's last step)."""
        now = time.monotonic()
        last_step = event.stage == FIT and event.step == event.steps
        if now - self._last_emit >= PROGRESS_INTERVAL or last_step or event.stage != FIT:
            self._last_emit = now
            self._reported.emit(token, event)

    def _show_progress(self, token: CancelToken, event: ProgressEvent) -> None:
        if token is not self.cancel_token:
            return
        self._last_event = event
        self._redraw_clock()
        self.progressed.emit(event)

    def _redraw_clock(self) -> None:
        event = self._last_event
        if event is None:
            return
        view = self._clock.view(event)
        self.progress.setValue(int(self.progress.maximum() * view.fraction))
        self.progress.setFormat("%p%")
        self.stage_line.setText(view.text)
        if self._activity is not None:
            self._activity.show(view)

    def _done(self, report: CompressionReport) -> None:
        self.report = report
        self.progress.setValue(self.progress.maximum())
        self._end("done")
        self.result.setText(
            f"{Path(report.path).name}: {_size(report.file_bytes)} from {_size(report.raw_bytes)}, "
            f"ratio {report.ratio:.1f}× · PSNR {report.psnr:.2f} dB · SSIM {report.ssim:.4f} · "
            f"{report.seconds:.1f} s on {report.device} · {report.guarantee}: "
            f"{'holds' if report.met else 'NOT reached'}"
        )
        self.open_result.setEnabled(True)
        self.show_error_button.setEnabled(True)
        self.finished.emit(report)

    def _trial_done(self, trial: Trial) -> None:
        self.progress.setValue(self.progress.maximum())
        self._end("done")
        self.result.setText(describe(trial))
        layer = self._trial_of
        if layer in self.viewer.layers:
            show_trial(self.viewer, layer, trial)
        self.finished.emit(trial)

    def _failed(self, exc: BaseException, task: str = "Compression") -> None:
        self.progress.setValue(0)
        if isinstance(exc, CompressionCancelled):
            self._end("cancelled")
            self.result.setText("Cancelled; no file was written.")
            from napari.utils.notifications import show_info

            show_info("Compression cancelled; no file was written.")
        else:
            self._end("failed")
            self.result.setText(f"{task} failed: {exc}")
            notify_error(str(exc) if isinstance(exc, SincsError) else f"{task} failed: {exc}")
            if not isinstance(exc, SincsError):
                log.error("compression failed", exc_info=exc)
        self.finished.emit(exc)

    def _worker_finished(self) -> None:
        self.worker = None
        self.cancel_token = None
        self._enable_buttons()

    def open_output(self) -> list[Any]:
        """Open the compressed file as lazy layer(s) "<name> (decoded)" beside the original."""
        if self.report is None:
            return []
        path = Path(self.report.path)
        try:
            lazy = open_sincs(path, cache_bytes=0)
        except SincsError as exc:
            notify_error(f"Cannot open {path.name}: {exc}")
            return []
        volume_level.follow(self.viewer)
        base = decoded_name(
            lazy.header.metadata.name or path.stem, [layer.name for layer in self.viewer.layers]
        )
        return [
            self.viewer.add_image(data, **kwargs)
            for data, kwargs, _ in layers_for(lazy, shared_cache(), name=base)
        ]

    def show_error(self) -> Any:
        """Add the error layer of the last result over the layer it came from, and go to the
        largest error (returns the layer)."""
        layer, report = self._compressed, self.report
        if report is None:
            return None
        if layer is None or layer not in self.viewer.layers:
            notify_error("The compressed layer is no longer in the viewer; open it again.")
            return None
        try:
            lazy = open_sincs(report.path, cache_bytes=0)
            lazy.cache = shared_cache()
            error = ErrorArray(self._data(layer), ViewerArray(lazy))
        except (SincsError, ValueError) as exc:
            notify_error(f"Cannot show the error of {Path(report.path).name}: {exc}")
            return None
        added = self.viewer.add_image(
            error, rgb=False, **error_layer_kwargs(layer, report.max_abs_error)
        )
        if report.max_error_at is not None:
            go_to(self.viewer, layer, report.max_error_at)
            where = ", ".join(f"{a} {i}" for a, i in zip(report.axes, report.max_error_at))
            self.result.setText(
                f"{self.result.text()}\nLargest error {report.max_abs_error:g} at {where}: the "
                f"view is there, '{added.name}' is bright where the file differs."
            )
        return added


def otsu_thresholds(data: Any, axes: str) -> list[float]:
    """Otsu's normalised threshold per channel, exactly as the threshold saliency computes it
    (raises SincsError when the axes do not fit the data)."""
    array5d = ArrayLayout(axes, tuple(data.shape)).to_canonical(np.asarray(data))
    lo, hi = intensity_range(array5d)
    return channel_thresholds(array5d, lo, hi, None)


def _preview_job(token: CancelToken, data: Any, **settings: Any) -> tuple[CancelToken, Any]:
    """The saliency map tagged with the preview it belongs to (a newer one may have started)."""
    return token, saliency_map(data, **settings)


def _otsu_job(key: tuple[int, str], data: Any) -> tuple[tuple[int, str], list[float] | None]:
    """Otsu's thresholds tagged with what they were asked for (None where the axes are wrong:
    Start reports that)."""
    try:
        return key, otsu_thresholds(data, key[1])
    except SincsError:
        return key, None


def decoded_name(name: str, taken: list[str]) -> str:
    """ "<name> (decoded)", or "(decoded 2)" and so on when that is taken (by a layer or, with
    " [channel]" after it, by a channel layer), so napari never appends its own " [1]"."""
    used = set(taken)
    count = 1
    while True:
        candidate = f"{name} ({DECODED})" if count == 1 else f"{name} ({DECODED} {count})"
        if candidate not in used and not any(n.startswith(f"{candidate} [") for n in used):
            return candidate
        count += 1


def _folder_of(layer: Any) -> Path:
    """Where a layer's output goes by default: beside its file (or the .sincs file behind a
    decoded layer), file_layers.default_folder's home folder for the bundled samples."""
    source = getattr(getattr(layer, "source", None), "path", None) or layer.metadata.get(
        "sincs_path"
    )
    return default_folder(Path(source)) if source else Path.home()


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    return row
