"""`sincs decompress x.sincs -o out.ome.zarr`: every pyramid level decoded into an OME-Zarr that
other readers (ome-zarr, napari-ome-zarr, our own zarr reader) see with the file's metadata."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, load
from napari_sincs.cli import EXIT_ERROR, main
from napari_sincs.ome_zarr import read_zarr

zarr = pytest.importorskip("zarr")
pytest.importorskip("ome_zarr")

NAMES = ["dna", "actin", "tubulin"]


@pytest.fixture(scope="module")
def hela(tmp_path_factory):
    """A 3-channel 96×96 file (two pyramid levels) with voxel size, units and channel names."""
    path = tmp_path_factory.mktemp("ome") / "hela.sincs"
    sincs.compress(
        load("hela_crop.tif"),
        path,
        axes="cyx",
        config=FAST,
        scale={"y": 0.25, "x": 0.25},
        units={"y": "µm", "x": "µm"},
        channel_names=NAMES,
    )
    return path


@pytest.fixture(scope="module")
def store(hela):
    out = hela.with_name("hela.ome.zarr")
    assert main(["decompress", str(hela), "-o", str(out)]) == 0
    return out


def test_every_level_holds_what_the_file_decodes_there(hela, store):
    group = zarr.open_group(str(store), mode="r")
    lazy = sincs.open_sincs(hela)
    assert len(lazy.levels) == 2
    np.testing.assert_array_equal(group["0"][...], sincs.decode(hela))
    for level in range(2):
        data = group[str(level)]
        assert data.dtype == lazy.dtype
        np.testing.assert_array_equal(data[...], lazy.at_level(level)[...])
    assert group["1"].shape == (3, 48, 48)
    assert not list(store.parent.glob(".hela.ome.zarr.*")), "no partial store is left behind"


def test_the_ngff_metadata_reads_back_with_the_ome_zarr_reader(store):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    image = next(iter(Reader(parse_url(str(store)))()))
    meta = image.metadata
    assert meta["axes"] == [
        {"name": "c", "type": "channel"},
        {"name": "y", "type": "space", "unit": "micrometer"},
        {"name": "x", "type": "space", "unit": "micrometer"},
    ]
    scales = [t[0]["scale"] for t in meta["coordinateTransformations"]]
    assert scales == [[1.0, 0.25, 0.25], [1.0, 0.5, 0.5]]
    assert meta["channel_names"] == NAMES
    assert [d.shape for d in image.data] == [(3, 96, 96), (3, 48, 48)]
    assert zarr.open_group(str(store), mode="r").attrs["ome"]["version"] == "0.5"


def test_our_zarr_reader_gets_back_the_files_metadata(hela, store):
    """So `sincs compress out.ome.zarr` keeps the voxel size, units and channel names."""
    _, axes, metadata = read_zarr(store)
    assert axes == "cyx"
    original = sincs.open_sincs(hela).header.metadata
    assert metadata == dataclasses.replace(original, name="hela.ome")


def test_an_existing_store_is_kept_without_force_and_replaced_with_it(hela, tmp_path, capsys):
    out = tmp_path / "old.ome.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    assert main(["decompress", str(hela), "-o", str(out)]) == EXIT_ERROR
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "old"

    assert main(["decompress", str(hela), "-o", str(out), "--force"]) == 0
    assert not (out / "keep.txt").exists()
    assert zarr.open_group(str(out), mode="r")["0"].shape == (3, 96, 96)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.ome.zarr"]


def test_roi_and_level_are_refused_for_an_ome_zarr(hela, tmp_path, capsys):
    out = tmp_path / "part.ome.zarr"
    assert main(["decompress", str(hela), "-o", str(out), "--level", "1"]) == EXIT_ERROR
    assert "--roi and --level do not apply" in capsys.readouterr().err
    assert not out.exists()


def test_a_file_in_another_axis_order_is_written_in_ngff_order(tmp_path):
    """NGFF puts channel before space: a yxc file is transposed chunk by chunk."""
    path = tmp_path / "yxc.sincs"
    data = np.moveaxis(load("hela_crop.tif"), 0, -1)
    config = dataclasses.replace(FAST, steps=40, transfer_steps=20)
    sincs.compress(data, path, axes="yxc", config=config, channel_names=NAMES)
    out = sincs.write_ome_zarr(path, tmp_path / "yxc.ome.zarr")
    group = zarr.open_group(str(out), mode="r")
    lazy = sincs.open_sincs(path)
    for level in range(2):
        expected = np.moveaxis(lazy.at_level(level)[...], -1, 0)
        np.testing.assert_array_equal(group[str(level)][...], expected)
    axes = [a["name"] for a in group.attrs["ome"]["multiscales"][0]["axes"]]
    assert axes == ["c", "y", "x"]


def test_napari_ome_zarr_opens_it_with_the_scale_of_our_reader(hela, store, make_napari_viewer):
    pytest.importorskip("napari_ome_zarr")
    viewer = make_napari_viewer()
    ours = viewer.open(str(hela), plugin="napari-sincs")
    theirs = viewer.open(str(store), plugin="napari-ome-zarr")
    assert len(theirs) == len(ours) == 3
    for mine, other in zip(ours, theirs):
        np.testing.assert_allclose(other.scale, mine.scale)
        np.testing.assert_allclose(other.scale, [0.25, 0.25])
        assert other.multiscale and mine.multiscale
        assert [d.shape for d in other.data] == [d.shape for d in mine.data]
        assert other.name.endswith(mine.name.split("[")[-1].rstrip("]"))
        np.testing.assert_array_equal(np.asarray(other.data[1]), np.asarray(mine.data[1]))


def test_a_failed_write_leaves_the_old_store_and_no_partial_one(hela, tmp_path, monkeypatch):
    from napari_sincs import ome_zarr_out
    from napari_sincs.codec.errors import CorruptFileError

    out = tmp_path / "old.ome.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("old")

    def broken(*args):
        raise CorruptFileError("a group failed its checksum")

    monkeypatch.setattr(ome_zarr_out, "_decode", broken)
    assert main(["decompress", str(hela), "-o", str(out), "--force"]) == EXIT_ERROR
    assert (out / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.ome.zarr"]
