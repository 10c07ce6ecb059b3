"""The plugin as napari sees it: manifest, writer, sample data."""

from __future__ import annotations

import numpy as np
import pytest
from npe2 import PluginManifest

import napari_sincs as sincs
from helpers import load


def test_manifest_is_valid_and_everything_it_names_imports():
    manifest = PluginManifest.from_distribution("napari-sincs")
    manifest.validate_imports()
    contributions = manifest.contributions
    assert [r.filename_patterns for r in contributions.readers] == [["*.sincs"]]
    assert contributions.writers[0].filename_extensions == [".sincs"]
    assert {w.display_name for w in contributions.widgets} == {
        "Compress active layer",
        "Decode region",
    }
    assert "napari/layers/data" in contributions.menus


@pytest.mark.slow
def test_save_selected_layer_writes_a_sincs_file(make_napari_viewer, qtbot, tmp_path):
    """From napari's menu (inside the event loop) the save runs in the background with a bar in
    the activity dock; from a script it is done when save returns."""
    from napari.utils import progress
    from qtpy.QtCore import QEventLoop, QTimer

    from napari_sincs._napari.activity import ActivityBar

    viewer = make_napari_viewer()
    data = load("nuclei3d_crop.tif")
    viewer.add_image(
        data,
        name="stack",
        scale=(1.0, 0.5, 0.5),
        translate=(0.0, 3.0, -4.0),
        axis_labels=("z", "y", "x"),
        units="µm",
    )
    path = tmp_path / "stack.sincs"
    seen = {}

    def save_from_the_menu():
        seen["written"] = viewer.layers.save(str(path), plugin="napari-sincs")
        seen["exists"] = path.exists()
        seen["bars"] = [bar.desc for bar in progress._all_instances if isinstance(bar, ActivityBar)]
        loop.quit()

    loop = QEventLoop()
    QTimer.singleShot(0, save_from_the_menu)
    loop.exec()
    assert seen["written"] == [str(path)]
    assert not seen["exists"], "the window is not blocked while the file is made"
    assert seen["bars"] == ["Saving stack.sincs"]
    qtbot.waitUntil(
        lambda: (
            path.exists()
            and not any(isinstance(bar, ActivityBar) for bar in progress._all_instances)
        ),
        timeout=300_000,
    )
    with sincs.open_sincs(path) as lazy:
        assert lazy.shape == data.shape
        assert lazy.axes == "zyx"
        assert lazy.header.metadata.scale == {"y": 0.5, "x": 0.5}
        assert lazy.header.metadata.units == {"z": "µm", "y": "µm", "x": "µm"}
        assert lazy.header.metadata.name == "stack"
        assert lazy.header.metadata.origin == {"y": 3.0, "x": -4.0}
    again = tmp_path / "script.sincs"
    assert viewer.layers.save(str(again), plugin="napari-sincs") == [str(again)]
    assert again.is_file(), "outside the event loop the file is there when save returns"


@pytest.mark.parametrize(
    ("key", "shape"), [("cells3d_nuclei", (60, 256, 256)), ("cell_migration", (48, 130, 130))]
)
def test_samples_open_lazily(make_napari_viewer, key, shape):
    viewer = make_napari_viewer()
    [layer] = viewer.open_sample("napari-sincs", key)
    data = layer.data[0] if layer.multiscale else layer.data
    assert data.shape == shape
    plane = np.asarray(data[shape[0] // 2])
    assert plane.std() > 0
