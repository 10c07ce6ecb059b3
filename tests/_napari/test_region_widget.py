"""Decoding only the visible region (or a drawn rectangle) of a lazily opened file."""

from __future__ import annotations

import numpy as np
import tifffile

import napari_sincs as sincs
from napari_sincs._napari.cache import shared_cache
from napari_sincs._napari.region_widget import TO_TIFF, RegionWidget


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
