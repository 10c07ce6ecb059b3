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
def test_save_selected_layer_writes_a_sincs_file(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = load("nuclei3d_crop.tif")
    viewer.add_image(
        data, name="stack", scale=(1.0, 0.5, 0.5), axis_labels=("z", "y", "x"), units="µm"
    )
    path = tmp_path / "stack.sincs"
    written = viewer.layers.save(str(path), plugin="napari-sincs")
    assert written == [str(path)]
    with sincs.open_sincs(path) as lazy:
        assert lazy.shape == data.shape
        assert lazy.axes == "zyx"
        assert lazy.header.metadata.scale == {"y": 0.5, "x": 0.5}
        assert lazy.header.metadata.units == {"z": "µm", "y": "µm", "x": "µm"}
        assert lazy.header.metadata.name == "stack"


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
