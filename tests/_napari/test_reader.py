"""Opening .sincs files in a real napari viewer: lazy, multiscale, only what is on screen."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QMimeData, QPointF, Qt, QUrl
from qtpy.QtGui import QDropEvent

import napari_sincs as sincs
from napari_sincs._napari.cache import shared_cache
from napari_sincs._napari.file_layers import ViewerArray, read_sincs
from napari_sincs._napari.reader import napari_get_reader


def test_reader_claims_only_sincs_files(sincs_files, tmp_path):
    assert napari_get_reader(str(sincs_files["3d"])) is read_sincs
    assert napari_get_reader([str(sincs_files["3d"]), str(sincs_files["2d+t"])]) is read_sincs
    assert napari_get_reader(str(tmp_path / "image.tif")) is None
    assert napari_get_reader([str(sincs_files["3d"]), "other.png"]) is None


def test_layer_data_carries_scale_labels_limits_and_is_lazy(sincs_files):
    [(data, kwargs, kind)] = read_sincs(str(sincs_files["3d"]))
    assert kind == "image"
    assert isinstance(data, ViewerArray)
    assert data.lazy.decoder.groups_evaluated == 0
    assert kwargs["scale"] == pytest.approx([1.0, 0.5, 0.5])
    assert kwargs["axis_labels"] == ["z", "y", "x"]
    assert kwargs["units"] == ["µm", "µm", "µm"]
    header = data.lazy.header
    assert kwargs["contrast_limits"] == [header.intensity_min[0], header.intensity_max[0]]
    assert kwargs["name"] == "nuclei3d_crop"


def test_channels_become_one_named_layer_each(sincs_files):
    layers = read_sincs(str(sincs_files["channels"]))
    assert [kwargs["name"] for _, kwargs, _ in layers] == [
        "hela_crop [lysosomes]",
        "hela_crop [mitochondria]",
        "hela_crop [nucleus]",
    ]
    full = sincs.decode(sincs_files["channels"])
    for channel, (levels, _, _) in enumerate(layers):
        data = levels[0]
        assert data.shape == full.shape[1:]
        assert levels[1].shape == (48, 48)
        np.testing.assert_array_equal(np.asarray(data[5:40, 7:9]), full[channel, 5:40, 7:9])
    assert layers[1][1]["blending"] == "additive"


def test_viewer_open_and_drag_and_drop(make_napari_viewer, sincs_files, qtbot):
    viewer = make_napari_viewer()
    layers = viewer.open(str(sincs_files["2d+t"]), plugin="napari-sincs")
    assert len(layers) == 1
    assert layers[0].data.shape == (8, 64, 64)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(sincs_files["3d"]))])
    drop = QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    viewer.window._qt_viewer.dropEvent(drop)
    qtbot.waitUntil(lambda: len(viewer.layers) == 2)
    assert viewer.layers[-1].name == "nuclei3d_crop"
    assert viewer.layers[-1].scale == pytest.approx([1.0, 0.5, 0.5])


def _camera(viewer):
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def _tiles(lazy, level):
    cache = shared_cache()
    return sorted(k[5:] for k in cache.held() if k[0] == id(lazy.decoder) and k[1] == level)


def test_only_the_visible_tiles_are_decoded(make_napari_viewer, mosaic, qtbot):
    _, path = mosaic
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(500, 400)
    qtbot.wait(100)
    cache = shared_cache()
    cache.clear()
    [layer] = viewer.open(str(path), plugin="napari-sincs")
    qtbot.waitUntil(lambda: layer.data_level < 4, timeout=5000)
    lazy = layer.data[0].lazy
    first_level = layer.data_level
    assert first_level > 0, "the whole 1024² image is first shown from a coarser level"
    assert _tiles(lazy, 0) == []
    camera = _camera(viewer)
    camera.center = (100, 100)
    camera.zoom = 8
    qtbot.waitUntil(lambda: layer.data_level == 0, timeout=5000)
    assert _tiles(lazy, 0) == [(0, 0)], "zoomed into a corner: one level-0 tile"
    misses = cache.misses
    camera.center = (900, 900)
    qtbot.waitUntil(lambda: _tiles(lazy, 0) == [(0, 0), (3, 3)], timeout=5000)
    camera.center = (100, 100)
    qtbot.wait(200)
    assert cache.misses == misses + 1, "panning back decodes nothing new"
    shown = np.asarray(layer._slice.image.raw)
    visible = tuple(slice(a, b + 1) for a, b in layer.corner_pixels.T)
    np.testing.assert_array_equal(shown, sincs.decode(path)[visible])


def test_a_damaged_file_becomes_a_notification(make_napari_viewer, sincs_files, tmp_path):
    from napari.utils.notifications import notification_manager

    damaged = tmp_path / "damaged.sincs"
    damaged.write_bytes(sincs_files["3d"].read_bytes()[:200])
    viewer = make_napari_viewer()
    before = len(notification_manager.records)
    viewer.open(str(damaged), plugin="napari-sincs")
    assert len(viewer.layers) == 0
    messages = [str(r.message) for r in notification_manager.records[before:]]
    assert any("damaged.sincs" in m and "truncated or damaged" in m for m in messages)


def test_a_corrupt_tile_shows_an_error_and_keeps_the_viewer(
    make_napari_viewer, sincs_files, tmp_path
):
    from napari.utils.notifications import notification_manager

    data = bytearray(sincs_files["2d+t"].read_bytes())
    data[-10] ^= 0xFF
    damaged = tmp_path / "tile.sincs"
    damaged.write_bytes(bytes(data))
    viewer = make_napari_viewer()
    before = len(notification_manager.records)
    [layer] = viewer.open(str(damaged), plugin="napari-sincs")
    layer.refresh()
    assert np.asarray(layer._slice.image.raw).max() == 0
    messages = [str(r.message) for r in notification_manager.records[before:]]
    damage = [m for m in messages if "checksum" in m]
    assert len(damage) == 1, "one notification, however many planes meet the damage"
    assert "are shown blank; the rest of the file still browses" in damage[0]
    viewer.dims.set_current_step(0, 4)
    layer.refresh()
    assert (
        len([r for r in notification_manager.records[before:] if "checksum" in str(r.message)]) == 1
    )


def test_decoding_runs_off_the_main_thread_with_async_slicing(
    make_napari_viewer, sincs_files, qtbot
):
    import threading

    from napari.settings import get_settings

    settings = get_settings().experimental
    previous = settings.async_
    settings.async_ = True
    try:
        viewer = make_napari_viewer()
        [layer] = viewer.open(str(sincs_files["2d+t"]), plugin="napari-sincs")
        lazy = layer.data.lazy
        threads = []
        decode = lazy.decoder.decode

        def recording(*args, **kwargs):
            threads.append(threading.current_thread() is threading.main_thread())
            return decode(*args, **kwargs)

        lazy.decoder.decode = recording
        viewer.dims.set_current_step(0, 6)
        qtbot.waitUntil(lambda: bool(threads) and layer._slice.image.raw.max() > 0, timeout=10_000)
        assert threads and not any(threads), "tiles were decoded on a worker thread"
    finally:
        settings.async_ = previous


def test_neighbouring_planes_are_decoded_ahead_so_the_next_step_is_a_cache_hit(
    make_napari_viewer, sincs_files
):
    from napari_sincs._napari.prefetch import neighbours, prefetch_planes, shared_prefetcher

    prefetch_planes(2)
    shared_cache().clear()
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(sincs_files["3d"]), plugin="napari-sincs")
    decoder = (layer.data[0] if layer.multiscale else layer.data).lazy.decoder
    viewer.dims.set_current_step(0, 5)
    layer.refresh()
    assert shared_prefetcher().wait_idle(60)
    planes = {key[4] for key in shared_cache().held() if key[0] == id(decoder) and key[1] == 0}
    assert {3, 4, 5, 6, 7} <= planes
    misses = shared_cache().misses
    viewer.dims.set_current_step(0, 6)
    layer.refresh()
    level0 = [k for k in shared_cache().held() if k[0] == id(decoder) and k[1] == 0]
    assert shared_cache().misses == misses, "plane 6 came from the cache"
    assert {k[4] for k in level0} >= {6}
    assert shared_prefetcher().wait_idle(60)
    # Stepping on in the same direction asks for the planes ahead first.
    assert neighbours((6, slice(0, 9)), (16, 9), 2, (5, slice(0, 9)))[0][0] == 7
    assert neighbours((6, slice(0, 9)), (16, 9), 2, (7, slice(0, 9)))[0][0] == 5
    assert neighbours((0,), (3,), 2) == [(1,), (2,)]
    assert neighbours((slice(4, 5, 1), slice(0, 9)), (16, 9), 1) == [
        (slice(5, 6, 1), slice(0, 9)),
        (slice(3, 4, 1), slice(0, 9)),
    ]


def test_the_3d_view_uses_the_finest_level_that_fits_and_leaves_a_users_lock(
    make_napari_viewer, monkeypatch
):
    from napari_sincs._napari.sample_data import sample_path
    from napari_sincs._napari.volume_level import finest_level

    monkeypatch.setenv("NAPARI_SINCS_VOLUME_VOXELS", str(60 * 128 * 128))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(sample_path("cells3d_nuclei.sincs")), plugin="napari-sincs")
    assert [tuple(s) for s in layer.level_shapes] == [(60, 256, 256), (60, 128, 128), (60, 64, 64)]
    assert layer.locked_data_level is None
    viewer.dims.ndisplay = 3
    assert layer.locked_data_level == 1, "finer than napari's coarsest level 2"
    assert layer.data_level == 1
    viewer.dims.ndisplay = 2
    assert layer.locked_data_level is None, "2D picks its level by zoom again"
    layer.locked_data_level = 2
    viewer.dims.ndisplay = 3
    viewer.dims.ndisplay = 2
    assert layer.locked_data_level == 2, "a level the user locked stays"
    assert finest_level([(60, 256, 256), (60, 128, 128)], [0, 1, 2], 10) == 1
