"""The Compress dock widget end to end in a real viewer: settings, preview, start, cancel."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import load
from napari_sincs import CompressionConfig, trial
from napari_sincs._napari.camera import camera_of
from napari_sincs._napari.commands import COMPRESS_WIDGET, compress_active_layer
from napari_sincs._napari.compress_widget import (
    LEVELS_KEY,
    CompressWidget,
    decoded_name,
    level_weights,
    saliency_labels,
    saliency_weights,
)
from napari_sincs._napari.trial_view import show_trial
from napari_sincs.codec.saliency import get_method

LEARNED_LEVELS = get_method("learned").preview_levels


@pytest.fixture
def viewer_with_image(make_napari_viewer):
    return _with_images(make_napari_viewer())


@pytest.fixture
def shown_viewer_with_image(make_napari_viewer):
    """A viewer on screen: its layer list view takes part in napari's selection events."""
    return _with_images(make_napari_viewer(show=True))


def _with_images(viewer):
    viewer.add_image(load("nuclei2d_crop.tif"), name="nuclei", scale=(0.5, 0.5))
    viewer.add_image(load("cell_migration_crop.tif"), name="movie", axis_labels=("t", "y", "x"))
    viewer.layers.selection.active = viewer.layers["nuclei"]
    return viewer


def _preview(widget: CompressWidget, qtbot, start=None):
    """Start a preview (or let `start` do it) and wait for its layer."""
    with qtbot.waitSignal(widget.preview_ready, timeout=120_000) as blocker:
        if start is None:
            assert widget.preview_saliency() is not None
        else:
            start()
    return blocker.args[0]


def _fast(widget: CompressWidget, path) -> None:
    widget.ratio.setValue(20)
    widget.steps.setValue(150)
    widget.output.setText(str(path))


def test_widget_defaults_to_the_active_layer_and_describes_it(viewer_with_image):
    widget = CompressWidget(viewer_with_image)
    assert widget.layer_box.currentText() == "nuclei"
    assert widget.axes.text() == "yx"
    assert "128 × 128" in widget.info.text() and "uint16" in widget.info.text()
    viewer_with_image.layers.selection.active = viewer_with_image.layers["movie"]
    assert widget.layer_box.currentText() == "movie"
    assert widget.axes.text() == "tyx"
    assert widget.device.text().startswith(("CPU", "GPU"))


def test_compress_in_the_background_then_open_the_result(shown_viewer_with_image, qtbot, tmp_path):
    viewer_with_image = shown_viewer_with_image
    viewer_with_image.layers["nuclei"].translate = (4.0, -2.0)
    compress_active_layer(viewer_with_image)
    widget = viewer_with_image.window.dock_widgets[f"{COMPRESS_WIDGET} (napari-sincs)"]
    _fast(widget, tmp_path / "nuclei.sincs")
    steps = []
    widget.progressed.connect(
        lambda event: steps.append((event.group, event.step)) if event.stage == "fit" else None
    )
    with qtbot.waitSignal(widget.finished, timeout=120_000) as blocker:
        worker = widget.start_compression()
        assert worker is not None
        assert not widget.start.isEnabled() and widget.cancel.isEnabled()
    report = blocker.args[0]
    assert isinstance(report, sincs.CompressionReport)
    assert report.ratio >= 20
    assert (tmp_path / "nuclei.sincs").is_file()
    assert (0, 150) in steps, "the fit ran its 150 steps (a refinement may follow)"
    assert widget.progress.value() == widget.progress.maximum()
    assert f"{report.ratio:.1f}×" in widget.result.text() and "PSNR" in widget.result.text()
    with sincs.open_sincs(tmp_path / "nuclei.sincs") as lazy:
        assert lazy.header.metadata.scale == {"y": 0.5, "x": 0.5}
        assert lazy.header.metadata.origin == {"y": 4.0, "x": -2.0}
    qtbot.waitUntil(lambda: widget.open_result.isEnabled() and widget.worker is None)
    widget.axes.setText("yx")
    [opened] = widget.open_output()
    assert opened.name == "nuclei (decoded)"
    assert list(opened.translate) == [4.0, -2.0], "the result opens over the original"
    assert opened.metadata["sincs_path"] == str(tmp_path / "nuclei.sincs")
    assert len(viewer_with_image.layers) == 3
    assert widget.layer() is viewer_with_image.layers["nuclei"], "the user's choice is kept"
    assert widget.output.text() == str(tmp_path / "nuclei.sincs")
    [again] = widget.open_output()
    assert again.name == "nuclei (decoded 2)"
    assert widget.layer_box.currentText() == "nuclei"

    # The error view: |decoded - original|, decoded where napari looks, centred on the worst.
    error_layer = widget.show_error()
    original = viewer_with_image.layers["nuclei"].data.astype(np.float32)
    expected = np.abs(sincs.decode(tmp_path / "nuclei.sincs").astype(np.float32) - original)
    assert error_layer.name == "nuclei error" and error_layer.colormap.name == "inferno"
    np.testing.assert_array_equal(np.asarray(error_layer.data), expected)
    assert expected[report.max_error_at] == expected.max() == report.max_abs_error
    assert tuple(error_layer.contrast_limits) == (0.0, report.max_abs_error)
    centre = np.asarray(viewer_with_image.scene.camera.center[-2:])
    np.testing.assert_allclose(centre, np.asarray(report.max_error_at) * 0.5 + [4.0, -2.0])
    assert f"Largest error {report.max_abs_error:g} at y " in widget.result.text()
    assert widget.layer_box.currentText() == "nuclei", "the error layer is not a candidate"

    # A start that fails its checks clears the last run and shows the whole message.
    widget.block.setText("abc")
    assert widget.start_compression() is None
    assert widget.progress.format() == "not started" and widget.progress.value() == 0
    assert "block 'abc' is not sizes like 64,64 or 16,64,64 (or auto)." in widget.result.text()
    assert "ratio" not in widget.result.text()
    assert not widget.open_result.isEnabled() and widget.report is None


def test_the_network_family_is_a_choice_with_its_own_training_default(viewer_with_image):
    widget = CompressWidget(viewer_with_image)
    assert widget.config().family == "auto" and widget.config().steps is None
    assert widget.steps.text() == "auto"
    widget.family.setCurrentText("grid")
    assert widget.steps.value() == CompressionConfig(family="grid").resolved().steps
    assert widget.config().family == "grid"
    widget.family.setCurrentText("auto")
    assert widget.config().steps is None


def test_the_preset_sets_the_steps_shown_and_latent_steps_stay_auto(viewer_with_image):
    widget = CompressWidget(viewer_with_image)
    assert widget.config().preset == "balanced"
    widget.family.setCurrentText("pe_mlp")
    balanced = widget.steps.value()
    widget.preset.setCurrentText("fast")
    assert 0 < widget.steps.value() < balanced
    assert widget.config().preset == "fast"
    fast = CompressionConfig(family="pe_mlp", preset="fast").resolved()
    assert widget.config().steps == fast.steps
    widget.family.setCurrentText("latent")
    assert widget.steps.text() == "auto" and widget.config().steps is None


def test_cancel_leaves_no_file(viewer_with_image, qtbot, tmp_path):
    widget = CompressWidget(viewer_with_image)
    _fast(widget, tmp_path / "cancelled.sincs")
    widget.steps.setValue(100_000)
    widget.progressed.connect(lambda event: widget.cancel_running())
    with qtbot.waitSignal(widget.finished, timeout=120_000) as blocker:
        widget.start_compression()
    assert isinstance(blocker.args[0], sincs.CompressionCancelled)
    assert list(tmp_path.iterdir()) == []
    assert "no file" in widget.result.text()


def test_saliency_preview_is_a_paintable_layer_that_compression_uses(
    viewer_with_image, qtbot, tmp_path
):
    widget = CompressWidget(viewer_with_image)
    preview = _preview(widget, qtbot)
    assert preview.name == "nuclei saliency"
    assert widget.legend.text().startswith("Label 1: salient (weight 1) · 0: background")
    assert preview.colormap.map([0])[0][3] == 0 and preview.colormap.map([1])[0][3] == 1
    assert widget.progress.value() == widget.progress.maximum()
    image = viewer_with_image.layers["nuclei"].data
    expected = sincs.saliency_map(image) >= 1
    np.testing.assert_array_equal(preview.data.astype(bool), expected)
    widget.otsu.setChecked(False)
    assert _preview(widget, qtbot, lambda: widget.threshold.setValue(0.9)) is preview
    assert preview.data.sum() < expected.sum(), "moving the threshold updates the preview"
    painted = np.zeros_like(preview.data)
    painted[:, :40] = 1
    preview.data = painted
    _fast(widget, tmp_path / "painted.sincs")
    with qtbot.waitSignal(widget.finished, timeout=120_000) as blocker:
        widget.start_compression()
        assert "edited saliency layer" in widget.result.text()
    assert isinstance(blocker.args[0], sincs.CompressionReport)
    decoded = sincs.decode(tmp_path / "painted.sincs").astype(float)
    left = np.mean((decoded[:, :40] - image[:, :40]) ** 2)
    right = np.mean((decoded[:, 80:] - image[:, 80:]) ** 2)
    assert left < right


def test_painted_edits_survive_the_floor_and_threshold_and_preview_asks_first(
    viewer_with_image, monkeypatch, qtbot
):
    from qtpy.QtWidgets import QMessageBox

    widget = CompressWidget(viewer_with_image)
    preview = _preview(widget, qtbot)
    painted = np.zeros_like(preview.data)
    painted[:, :40] = 1
    preview.data = painted
    widget.floor.setValue(0.35)
    widget.otsu.setChecked(False)
    widget.threshold.setValue(0.9)
    np.testing.assert_array_equal(preview.data, painted)
    assert "painted edits" in widget.result.text()
    answers = []

    def ask(*args, **kwargs):
        answers.append(args[1])
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", ask)
    widget.preview_button.click()
    assert answers and np.array_equal(preview.data, painted), "No keeps the edits"
    assert widget.preview_worker is None
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    _preview(widget, qtbot, widget.preview_button.click)
    assert not np.array_equal(preview.data, painted), "Yes replaces them with a new map"
    _preview(widget, qtbot, lambda: widget.threshold.setValue(0.5))
    assert widget.saliency_layer(viewer_with_image.layers["nuclei"]) is preview
    assert not widget._painted(viewer_with_image.layers["nuclei"]), "a fresh map follows again"


@pytest.mark.slow
def test_learned_preview_shows_four_levels_of_weight_that_map_back(viewer_with_image, qtbot):
    widget = CompressWidget(viewer_with_image)
    widget.saliency.setCurrentText("learned")
    preview = _preview(widget, qtbot)
    assert preview.metadata[LEVELS_KEY] == LEARNED_LEVELS
    floor = widget.floor.value()
    image = viewer_with_image.layers["nuclei"].data
    weights = sincs.saliency_map(image, saliency="learned", saliency_floor=floor)
    np.testing.assert_array_equal(preview.data, saliency_labels(weights, floor, LEARNED_LEVELS))
    assert preview.data.min() == 0 and preview.data.max() == LEARNED_LEVELS
    back = saliency_weights(preview.data, LEARNED_LEVELS, floor)
    assert np.abs(back - weights).max() <= (1 - floor) / LEARNED_LEVELS + 1e-6
    assert widget.legend.isVisibleTo(widget)
    first = level_weights(LEARNED_LEVELS, floor)[1]
    assert widget.legend.text().startswith(f"Label → sampling weight: 0: 0.30 · 1: {first:.2f}")
    assert list(preview.features["sampling weight"]) == level_weights(LEARNED_LEVELS, floor)
    widget.floor.setValue(0.5)
    assert "0: 0.50 · 1: 0.62" in widget.legend.text(), "the legend follows the floor"


def test_painted_labels_of_a_threshold_preview_count_as_salient_whatever_their_value():
    np.testing.assert_array_equal(saliency_weights(np.array([0, 1, 2, 7]), 1), [0, 1, 1, 1])
    np.testing.assert_array_equal(saliency_weights(np.array([0, 2, 4, 5]), 4), [0, 0.5, 1, 1])


def test_bad_settings_become_notifications(viewer_with_image, tmp_path):
    from napari.utils.notifications import notification_manager

    widget = CompressWidget(viewer_with_image)
    widget.output.setText(str(tmp_path / "x.sincs"))
    widget.block.setText("big")
    before = len(notification_manager.records)
    assert widget.start_compression() is None
    widget.block.setText("auto")
    widget.axes.setText("zyx")
    assert widget.start_compression() is None
    messages = [str(r.message) for r in notification_manager.records[before:]]
    assert any("block 'big'" in m for m in messages)
    assert any("names 3 dimensions" in m for m in messages)


def test_menu_command_opens_the_widget_on_the_active_layer(viewer_with_image):
    viewer_with_image.layers.selection.active = viewer_with_image.layers["movie"]
    compress_active_layer(viewer_with_image)
    widget = viewer_with_image.window.dock_widgets[f"{COMPRESS_WIDGET} (napari-sincs)"]
    assert isinstance(widget, CompressWidget)
    assert widget.layer_box.currentText() == "movie"


def test_menu_command_refuses_a_labels_layer_instead_of_compressing_another(viewer_with_image):
    from napari.utils.notifications import notification_manager

    labels = viewer_with_image.add_labels(np.zeros((128, 128), np.uint8), name="cells")
    viewer_with_image.layers.selection.active = labels
    before = len(notification_manager.records)
    compress_active_layer(viewer_with_image)
    widget = viewer_with_image.window.dock_widgets[f"{COMPRESS_WIDGET} (napari-sincs)"]
    assert widget.layer() is None and not widget.start.isEnabled()
    assert widget.start_compression() is None
    messages = [str(r.message) for r in notification_manager.records[before:]]
    assert any("'cells' is a Labels layer" in m and "not supported" in m for m in messages)
    assert "'cells' is a Labels layer" in widget.info.text()
    viewer_with_image.add_points([[1, 1]], name="spots")
    assert widget.layer() is None, "adding a layer does not pick one behind the user's back"
    widget.select_layer(viewer_with_image.layers["movie"])
    assert widget.layer() is viewer_with_image.layers["movie"] and widget.start.isEnabled()


def test_decoded_channels_are_named_apart_from_the_channels_themselves(
    make_napari_viewer, sincs_files
):
    viewer = make_napari_viewer()
    originals = viewer.open(str(sincs_files["channels"]), plugin="napari-sincs")
    widget = CompressWidget(viewer)
    chosen = widget.layer()
    widget.report = SimpleNamespace(path=str(sincs_files["channels"]))
    opened = widget.open_output()
    base = originals[0].name.rsplit(" [", 1)[0]
    assert [layer.name for layer in opened] == [
        layer.name.replace(base, f"{base} (decoded)", 1) for layer in originals
    ]
    assert all(" [1]" not in layer.name for layer in opened)
    assert widget.layer() is chosen
    assert decoded_name("a", ["a (decoded) [DNA]"]) == "a (decoded 2)"


def test_edited_axes_and_output_survive_changes_of_the_layer_list(
    viewer_with_image, tmp_path, qtbot
):
    widget = CompressWidget(viewer_with_image)
    widget.axes.setText("xy")
    widget.output.setText(str(tmp_path / "mine.sincs"))
    _preview(widget, qtbot)
    viewer_with_image.add_image(np.zeros((8, 8)), name="other")
    assert widget.layer_box.currentText() == "nuclei"
    assert widget.axes.text() == "xy" and widget.output.text() == str(tmp_path / "mine.sincs")
    viewer_with_image.layers.selection.active = viewer_with_image.layers["movie"]
    assert widget.axes.text() == "tyx", "a layer the user chooses is described afresh"
    assert widget.output.text() == str(tmp_path / "mine.sincs"), "a typed output is kept"


def test_the_otsu_value_in_use_is_shown_beside_the_checkbox(viewer_with_image, qtbot):
    from napari_sincs.codec.intensity import intensity_range
    from napari_sincs.codec.saliency.threshold import channel_thresholds

    widget = CompressWidget(viewer_with_image)
    image = viewer_with_image.layers["nuclei"].data
    array5d = image[None, None, None]
    [expected] = channel_thresholds(array5d, *intensity_range(array5d), None)
    qtbot.waitUntil(lambda: widget.otsu_value.text() == f"= {expected:.3f}", timeout=10_000)
    widget.otsu.setChecked(False)
    assert widget.otsu_value.isHidden()
    with qtbot.waitSignal(widget.otsu_ready, timeout=10_000):
        widget.otsu.setChecked(True)
    assert widget.otsu_value.text() == f"= {expected:.3f}"


def test_every_setting_explains_itself(viewer_with_image):
    widget = CompressWidget(viewer_with_image)
    for field in (
        widget.saliency,
        widget.threshold,
        widget.otsu,
        widget.floor,
        widget.time_groups,
        widget.preview_button,
        widget.overwrite,
        widget.ratio,
        widget.psnr,
        widget.max_error,
    ):
        assert len(field.toolTip()) > 20, field
    assert widget.ratio.toolTip().endswith("."), "the ratio tooltip is a whole sentence"


def test_lossless_from_the_widget(viewer_with_image, qtbot, tmp_path):
    widget = CompressWidget(viewer_with_image)
    _fast(widget, tmp_path / "exact.sincs")
    widget.mode.setCurrentText("lossless")
    assert widget.psnr.isHidden() and widget.max_error.isHidden()
    widget.mode.setCurrentText("max error")
    assert not widget.max_error.isHidden()
    widget.mode.setCurrentText("lossless")
    with qtbot.waitSignal(widget.finished, timeout=120_000) as blocker:
        widget.start_compression()
    report = blocker.args[0]
    assert report.met and report.max_abs_error == 0
    assert "lossless (bit-exact): holds" in widget.result.text()
    np.testing.assert_array_equal(
        sincs.decode(tmp_path / "exact.sincs"), viewer_with_image.layers["nuclei"].data
    )


def test_an_rgb_layer_comes_back_as_one_rgb_layer(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    planes = load("hela_crop.tif").astype(np.float64)
    colours = np.moveaxis(planes, 0, -1)
    colours = (255 * (colours - colours.min()) / np.ptp(colours)).astype(np.uint8)
    layer = viewer.add_image(colours, name="colours", rgb=True)
    widget = CompressWidget(viewer)
    widget.layer_box.setCurrentText("colours")
    assert widget.axes.text() == "yxc"
    _fast(widget, tmp_path / "colours.sincs")
    with qtbot.waitSignal(widget.finished, timeout=120_000):
        widget.start_compression()
    qtbot.waitUntil(lambda: widget.open_result.isEnabled() and widget.worker is None)
    [opened] = widget.open_output()
    assert opened.rgb and opened.name == "colours (decoded)"
    assert len(viewer.layers) == 2, "one colour layer, not one layer per colour"
    full = np.asarray(opened.data[0] if opened.multiscale else opened.data)
    assert full.shape == layer.data.shape
    np.testing.assert_array_equal(full, sincs.decode(tmp_path / "colours.sincs"))
    with sincs.open_sincs(tmp_path / "colours.sincs") as lazy:
        assert lazy.header.metadata.rgb


def test_a_run_shows_its_stages_and_clock_in_the_widget_and_the_activity_dock(
    viewer_with_image, qtbot, tmp_path
):
    from napari.utils import progress

    from napari_sincs._napari.activity import ActivityBar

    widget = CompressWidget(viewer_with_image)
    _fast(widget, tmp_path / "staged.sincs")
    seen = []

    def look(event):
        bars = [bar.desc for bar in progress._all_instances if isinstance(bar, ActivityBar)]
        seen.append((event.stage, widget.stage_line.text(), bars))

    widget.progressed.connect(look)
    with qtbot.waitSignal(widget.finished, timeout=120_000):
        widget.start_compression()
    assert [stage for stage, _, _ in seen if stage != "fit"][:1] == ["saliency"]
    assert {"saliency", "fit", "verify", "write"} <= {stage for stage, _, _ in seen}
    assert any(line.startswith("fitting group 1/1 · loss") for _, line, _ in seen)
    fitting = [bars for stage, _, bars in seen if stage == "fit"]
    assert fitting and fitting[-1][0].startswith("Compressing nuclei: fitting")
    qtbot.waitUntil(lambda: widget.worker is None)
    assert not any(isinstance(bar, ActivityBar) for bar in progress._all_instances)
    assert widget.stage_line.text().startswith("done after 0:")


def test_a_learned_preview_runs_in_the_background_and_cancels(viewer_with_image, qtbot):
    widget = CompressWidget(viewer_with_image)
    widget.saliency.setCurrentText("learned")
    stages = []
    widget.progressed.connect(lambda event: stages.append(event.stage))
    widget.progressed.connect(lambda event: widget.cancel_running())
    assert widget.preview_saliency() is not None
    assert not widget.start.isEnabled() and widget.cancel.isEnabled()
    qtbot.waitUntil(lambda: widget.preview_worker is None, timeout=60_000)
    assert stages and set(stages) == {"saliency"}
    assert widget.progress.format() == "preview cancelled"
    assert widget.saliency_layer(viewer_with_image.layers["nuclei"]) is None
    assert widget.start.isEnabled()


def test_settings_are_remembered_for_the_next_launch_but_not_overwrite(
    viewer_with_image, make_napari_viewer, remembered_settings
):
    first = CompressWidget(viewer_with_image)
    first.mode.setCurrentText("PSNR")
    first.psnr.setValue(42.5)
    first.ratio.setValue(250)
    first.saliency.setCurrentText("learned")
    first.family.setCurrentText("grid")
    first.preset.setCurrentText("best")
    first.steps.setValue(1234)
    first.block.setText("32,32")
    first.block.editingFinished.emit()
    first.overwrite.setChecked(True)
    assert list(remembered_settings.rglob("*.ini")), "kept in the test's own settings folder"

    later = CompressWidget(_with_images(make_napari_viewer()))
    assert later.mode.currentText() == "PSNR" and later.psnr.value() == 42.5
    assert later.ratio.value() == 250 and later.saliency.currentText() == "learned"
    assert later.family.currentText() == "grid" and later.preset.currentText() == "best"
    assert later.steps.value() == 1234, "restored after Networks and Preset, which set it"
    assert later.block.text() == "32,32"
    assert not later.overwrite.isChecked()
    assert later.psnr.isVisibleTo(later), "the PSNR row follows the restored guarantee"


def test_axes_and_voxel_size_come_from_the_file_napari_opened(make_napari_viewer, qtbot, tmp_path):
    import tifffile

    movie = load("cell_migration_crop.tif")
    path = tmp_path / "movie.tif"
    tifffile.imwrite(
        path, movie, imagej=True, metadata={"axes": "TYX", "unit": "um"}, resolution=(2.0, 2.0)
    )
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari")
    assert tuple(layer.scale) == (1, 1, 1), "napari's own reader drops the voxel size"
    widget = CompressWidget(viewer)
    assert widget.axes.text() == "tyx"
    assert "axes and voxel size from its file" in widget.info.text()
    _fast(widget, tmp_path / "movie.sincs")
    with qtbot.waitSignal(widget.finished, timeout=120_000) as blocker:
        widget.start_compression()
    assert isinstance(blocker.args[0], sincs.CompressionReport)
    with sincs.open_sincs(tmp_path / "movie.sincs") as lazy:
        assert lazy.axes == "tyx"
        assert lazy.header.metadata.scale == {"y": 0.5, "x": 0.5}
        assert lazy.header.metadata.units == {"y": "µm", "x": "µm"}


def test_the_ratio_box_says_why_it_does_not_take_a_ratio(viewer_with_image, qtbot):
    widget = CompressWidget(viewer_with_image)
    widget.ratio.setValue(1_000_000)
    assert widget.ratio.value() == 1_000_000, "no silent clamp at any ratio worth asking"
    widget.ratio.lineEdit().selectAll()
    qtbot.keyClicks(widget.ratio.lineEdit(), "1")
    assert widget.ratio_hint.isVisibleTo(widget)
    assert "1× is not taken" in widget.ratio_hint.text() and "lossless" in widget.ratio_hint.text()
    qtbot.keyClicks(widget.ratio.lineEdit(), "5")
    assert not widget.ratio_hint.isVisibleTo(widget) and widget.ratio.value() == 15


def test_the_file_size_the_settings_allow_is_shown_before_starting(viewer_with_image):
    widget = CompressWidget(viewer_with_image)
    widget.ratio.setValue(100)
    assert widget.estimate.text() == "File: at most 328 B (32.8 kB / 100)."
    widget.ratio.setValue(20)
    assert "at most 1.6 kB" in widget.estimate.text()
    viewer_with_image.layers.selection.active = viewer_with_image.layers["movie"]
    movie = viewer_with_image.layers["movie"].data
    assert f"at most {movie.nbytes / 20 / 1000:.1f} kB" in widget.estimate.text()
    widget.mode.setCurrentText("PSNR")
    assert "smallest that reaches the PSNR" in widget.estimate.text()
    widget.mode.setCurrentText("lossless")
    assert "residual" in widget.estimate.text()


def test_a_trial_on_a_crop_shows_its_quality_over_the_original_and_the_whole_runs_time(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setattr(trial, "MIN_VOXELS", 0)
    viewer = make_napari_viewer()
    data = np.tile(load("nuclei2d_crop.tif"), (4, 4))
    layer = viewer.add_image(data, name="mosaic", scale=(0.5, 0.5), translate=(10.0, 20.0))
    widget = CompressWidget(viewer)
    _fast(widget, tmp_path / "mosaic.sincs")
    camera_of(viewer).center = (10 + 0.5 * 300, 20 + 0.5 * 200)
    with qtbot.waitSignal(widget.finished, timeout=120_000) as blocker:
        assert widget.start_trial() is not None
        assert not widget.start.isEnabled() and not widget.trial_button.isEnabled()
    result = blocker.args[0]
    assert isinstance(result, sincs.Trial) and result.report.ratio >= 20
    np.testing.assert_allclose([(p.start + p.stop) / 2 for p in result.box], (300, 200), atol=1)
    shown = viewer.layers["mosaic (crop trial)"]
    np.testing.assert_array_equal(shown.data, result.decoded)
    starts = [piece.start for piece in result.box]
    np.testing.assert_allclose(shown.translate, np.asarray(starts) * 0.5 + [10.0, 20.0])
    assert tuple(shown.contrast_limits) == tuple(layer.contrast_limits)
    assert widget.result.text() == trial.describe(result)
    assert widget.layer() is layer and viewer.layers.selection.active is layer
    assert not (tmp_path / "mosaic.sincs").exists(), "a trial writes no output"
    qtbot.waitUntil(lambda: widget.worker is None)
    assert widget.start.isEnabled() and not widget.open_result.isEnabled()
    show_trial(viewer, layer, result)
    assert [each.name for each in viewer.layers] == ["mosaic", "mosaic (crop trial)"]
    assert viewer.layers["mosaic (crop trial)"].bounding_box.visible, "the crop is outlined"


def test_a_bundled_sample_s_output_goes_to_the_home_folder_not_the_installation(
    make_napari_viewer, monkeypatch, qtbot, tmp_path
):
    from napari_sincs._napari.sample_data import sample_path

    monkeypatch.setenv("HOME", str(tmp_path))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(sample_path("cell_migration_2dt.sincs")), plugin="napari-sincs")
    widget = CompressWidget(viewer)
    widget.layer_box.setCurrentText(layer.name)
    assert widget.output.text() == str(tmp_path / f"{layer.name}.sincs")
    qtbot.waitUntil(lambda: widget.otsu_value.text() != "= …", timeout=30_000)
