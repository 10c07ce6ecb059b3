"""Reading OME-Zarr written by the ome-zarr library: voxel size and position come from the
full-resolution level's transforms composed with the image's own, and travel through the .sincs
file into napari and back out to OME-Zarr."""

from __future__ import annotations

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, load
from napari_sincs._napari.file_layers import layers_for
from napari_sincs.ome_zarr import read_zarr

zarr = pytest.importorskip("zarr")
ome_zarr_writer = pytest.importorskip("ome_zarr.writer")


def _pyramid(path, data: np.ndarray, image_transforms: list | None = None) -> None:
    """Two levels written by ome-zarr, each with a scale and a translation, as a microscope's
    converter writes a tile placed in its stage coordinates."""
    root = zarr.open_group(str(path), mode="w")
    ome_zarr_writer.write_multiscale(
        [data, data[:, ::2, ::2]],
        root,
        axes=[
            {"name": "z", "type": "space", "unit": "micrometer"},
            {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"},
        ],
        coordinate_transformations=[
            [
                {"type": "scale", "scale": [2.0, 0.5, 0.5]},
                {"type": "translation", "translation": [10.0, 100.0, 200.0]},
            ],
            [
                {"type": "scale", "scale": [2.0, 1.0, 1.0]},
                {"type": "translation", "translation": [10.0, 100.25, 200.25]},
            ],
        ],
    )
    if image_transforms is not None:
        attrs = dict(root.attrs)
        attrs["ome"]["multiscales"][0]["coordinateTransformations"] = image_transforms
        root.attrs.update(attrs)


def test_the_full_resolution_levels_scale_and_translation_are_read(tmp_path):
    data = np.arange(4 * 32 * 32, dtype=np.uint16).reshape(4, 32, 32)
    _pyramid(tmp_path / "tile.ome.zarr", data)
    array, axes, meta = read_zarr(tmp_path / "tile.ome.zarr")
    assert axes == "zyx" and array.shape == data.shape
    assert meta.scale == {"z": 2.0, "y": 0.5, "x": 0.5}
    assert meta.origin == {"z": 10.0, "y": 100.0, "x": 200.0}
    assert meta.units == {"z": "µm", "y": "µm", "x": "µm"}


def test_the_images_own_transforms_apply_after_the_levels(tmp_path):
    """NGFF: a multiscale's coordinateTransformations follow every dataset's, so the voxel size
    is the product and the level's translation is scaled before the image's is added."""
    data = np.zeros((4, 32, 32), dtype=np.uint8)
    image = [
        {"type": "scale", "scale": [1.0, 3.0, 3.0]},
        {"type": "translation", "translation": [-5.0, 0.0, 1.0]},
    ]
    _pyramid(tmp_path / "scaled.ome.zarr", data, image)
    _, _, meta = read_zarr(tmp_path / "scaled.ome.zarr")
    assert meta.scale == {"z": 2.0, "y": 1.5, "x": 1.5}
    assert meta.origin == {"z": 5.0, "y": 300.0, "x": 601.0}


def test_the_origin_goes_through_the_file_into_napari_and_back_to_ome_zarr(tmp_path):
    data = load("nuclei2d_crop.tif")
    path = tmp_path / "placed.sincs"
    sincs.compress(
        data, path, config=FAST, scale={"y": 0.5, "x": 0.5}, origin={"y": 100.0, "x": -20.0}
    )
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.metadata.origin == {"y": 100.0, "x": -20.0}
        (_, kwargs, _) = layers_for(lazy)[0]
        assert kwargs["translate"] == [100.0, -20.0]
        assert kwargs["scale"] == [0.5, 0.5]
    out = tmp_path / "placed.ome.zarr"
    sincs.write_ome_zarr(path, out)
    _, _, meta = read_zarr(out)
    assert meta.origin == {"y": 100.0, "x": -20.0} and meta.scale == {"y": 0.5, "x": 0.5}
    group = zarr.open_group(str(out), mode="r")
    level1 = group.attrs["ome"]["multiscales"][0]["datasets"][1]["coordinateTransformations"]
    assert level1 == [
        {"type": "scale", "scale": [1.0, 1.0]},
        {"type": "translation", "translation": [100.0, -20.0]},
    ]


def test_a_file_without_an_origin_keeps_its_header_as_before(tmp_path):
    path = tmp_path / "plain.sincs"
    sincs.compress(load("nuclei2d_crop.tif"), path, config=FAST)
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.metadata.origin == {}
        assert "origin" not in lazy.header.metadata.to_dict()
