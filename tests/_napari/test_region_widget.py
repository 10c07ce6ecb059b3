"""Decoding only the visible region (or a drawn rectangle) of a lazily opened file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import napari_sincs as sincs
from napari_sincs._napari.cache import shared_cache
from napari_sincs._napari.region_widget import TO_TIFF, RegionWidget, lazy_of


def test_visible_region_of_the_current_plane_becomes_a_layer(
    make_napari_viewer, sincs_files, qtbot
):
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(sincs_files["3d"]), plugin="napari-sincs")
    viewer.dims.set_current_step(0, 5)
    widget = RegionWidget(viewer)
    assert widget.layer_box.currentText() == layer.name
    lazy = layer.data.lazy
    with qtbot.waitSignal(widget.finished, timeout=30_000) as blocker:
        widget.decode()
    added = blocker.args[0]
    full = sincs.decode(sincs_files["3d"])
    assert added.data.shape == (1, 48, 48)
    np.testing.assert_array_equal(added.data, full[5:6])
    np.testing.assert_allclose(added.translate, [5.0, 0, 0])
    planes = {key[4] for key in shared_cache().held() if key[0] == id(lazy.decoder)}
    assert 5 in planes
    assert len(planes) <= 3, "only the planes napari showed (first, middle, current) are decoded"


def test_rectangle_region_into_a_tiff(make_napari_viewer, sincs_files, qtbot, tmp_path):
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(sincs_files["2d+t"]), plugin="napari-sincs")
    viewer.dims.set_current_step(0, 3)
    viewer.add_shapes(
        [[[10, 20], [10, 40], [30, 40], [30, 20]]], shape_type="rectangle", ndim=2, name="box"
    )
    widget = RegionWidget(viewer)
    widget.layer_box.setCurrentText(layer.name)
    widget.source.setCurrentText("rectangle in box")
    widget.target.setCurrentText(TO_TIFF)
    widget.path.setText(str(tmp_path / "box.tif"))
    with qtbot.waitSignal(widget.finished, timeout=30_000):
        widget.decode()
        assert widget.cancel.isEnabled() and not widget.decode_button.isEnabled()
    assert widget.bar.format() == "done" and widget.bar.value() == widget.bar.maximum()
    written = tifffile.imread(tmp_path / "box.tif", squeeze=False)
    expected = sincs.decode(sincs_files["2d+t"])[3:4, 10:31, 20:41]
    np.testing.assert_array_equal(written.reshape(expected.shape), expected)


def test_tile_cache_size_is_set_from_the_widget(make_napari_viewer):
    widget = RegionWidget(make_napari_viewer())
    cache = shared_cache()
    before = cache.max_bytes
    try:
        widget.cache_mb.setValue(3)
        assert cache.max_bytes == 3 << 20
    finally:
        cache.max_bytes = before


def test_tiff_path_defaults_beside_the_file_and_nothing_is_overwritten_silently(
    make_napari_viewer, sincs_files, qtbot
):
    from napari.utils.notifications import notification_manager

    viewer = make_napari_viewer()
    [layer] = viewer.open(str(sincs_files["3d"]), plugin="napari-sincs")
    widget = RegionWidget(viewer)
    widget.target.setCurrentText(TO_TIFF)
    first = sincs_files["3d"].parent / f"{layer.name}_region.tif"
    assert widget.path.text() == str(first)
    with qtbot.waitSignal(widget.finished, timeout=30_000):
        widget.decode()
    assert first.is_file()
    assert widget.path.text() == str(first.with_name(f"{layer.name}_region_2.tif"))
    widget.path.setText(str(first))
    before = len(notification_manager.records)
    assert widget.decode() is None, "an existing file is refused before anything is decoded"
    assert "already exists" in widget.status.text() and "overwrite" in widget.status.text()
    widget.path.setText(str(first.with_name("region.png")))
    assert widget.decode() is None
    assert ".tif or .tiff" in widget.status.text()
    messages = [str(r.message) for r in notification_manager.records[before:]]
    assert len(messages) == 2
    assert not first.with_name("region.png").exists()
    widget.path.setText(str(first))
    widget.overwrite.setChecked(True)
    with qtbot.waitSignal(widget.finished, timeout=30_000) as blocker:
        widget.decode()
    assert blocker.args[0] == str(first)
    first.unlink()


def test_a_bundled_sample_s_region_goes_to_the_home_folder_not_the_installation(
    make_napari_viewer, monkeypatch, tmp_path
):
    from napari_sincs._napari.sample_data import sample_path

    monkeypatch.setenv("HOME", str(tmp_path))
    viewer = make_napari_viewer()
    sample = sample_path("cell_migration_2dt.sincs")
    [layer] = viewer.open(str(sample), plugin="napari-sincs")
    widget = RegionWidget(viewer)
    assert widget.path.text() == str(tmp_path / f"{layer.name}_region.tif")


def test_an_exported_channel_keeps_its_own_name(make_napari_viewer, sincs_files, qtbot, tmp_path):
    from napari_sincs.io import read_image

    viewer = make_napari_viewer()
    layers = viewer.open(str(sincs_files["channels"]), plugin="napari-sincs")
    names = lazy_of(layers[0]).header.metadata.channel_names
    assert len(names) == 3 and names[1]
    widget = RegionWidget(viewer)
    widget.layer_box.setCurrentText(layers[1].name)
    widget.target.setCurrentText(TO_TIFF)
    widget.path.setText(str(tmp_path / "channel1.tif"))
    with qtbot.waitSignal(widget.finished, timeout=30_000):
        widget.decode()
    written = read_image(tmp_path / "channel1.tif")
    assert written.metadata.channel_names == [names[1]]
    expected = sincs.decode(sincs_files["channels"])[1:2]
    np.testing.assert_array_equal(written.data.reshape(expected.shape), expected)


def test_visible_region_while_zoomed_in_is_only_what_the_canvas_shows(
    make_napari_viewer, mosaic, qtbot
):
    data, path = mosaic
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(path), plugin="napari-sincs")
    viewer.reset_view()
    viewer.scene.camera.zoom *= 3
    widget = RegionWidget(viewer)
    with qtbot.waitSignal(widget.finished, timeout=60_000) as blocker:
        widget.decode()
    added = blocker.args[0]
    zoom = viewer.scene.camera.zoom
    height, width = np.asarray(viewer.canvas.viewbox_size(viewer.layers)) / zoom
    assert abs(added.data.shape[0] - height) <= 2 and abs(added.data.shape[1] - width) <= 2
    assert added.data.shape[0] < data.shape[0] / 2, "not the whole plane"
    (y0, x0), (h, w) = (int(v) for v in added.translate), added.data.shape
    assert abs(y0 + h / 2 - 512) <= 2 and abs(x0 + w / 2 - 512) <= 2, "centred where the view is"
    region = (slice(y0, y0 + h), slice(x0, x0 + w))
    np.testing.assert_array_equal(added.data, sincs.decode(path)[region])


def test_a_region_decodes_slab_by_slab_and_a_cancel_writes_nothing(sincs_files, tmp_path):
    from napari_sincs._napari.region_widget import decode_region

    with sincs.open_sincs(sincs_files["2d+t"]) as lazy:
        events = []
        region = (slice(3, 14), slice(0, 48), slice(5, 30))
        data = decode_region(lazy, region, None, False, events.append)
        np.testing.assert_array_equal(data, sincs.decode(sincs_files["2d+t"])[region])
        assert lazy.chunks[0] == 1, "one frame per chunk"
        assert [(e.group, e.groups) for e in events] == [(k, 11) for k in range(1, 12)]

        token = sincs.CancelToken()
        events.clear()

        def cancel_after_two(event):
            events.append(event)
            if event.group == 2:
                token.cancel()

        target = tmp_path / "cancelled.tif"
        with pytest.raises(sincs.CompressionCancelled):
            decode_region(lazy, region, target, False, cancel_after_two, token)
        assert len(events) == 2 and not target.exists()
