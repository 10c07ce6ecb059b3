"""Scale-out on a real dask.distributed LocalCluster: chains fitted on two worker processes give
the same file as one process, OME-Zarr input keeps its metadata, .sincs files become dask arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import zarr

import napari_sincs as sincs
from helpers import FAST, load
from napari_sincs.cli import main
from napari_sincs.codec import presets
from napari_sincs.codec.format.container import SincsFile
from napari_sincs.codec.training.cluster import threads_per_worker

distributed = pytest.importorskip("distributed")

SPLIT = {
    "block": (32, 32),
    "time_groups": 2,
    "steps": 200,
    "transfer_steps": 80,
    "keyframe_interval": 2,
}


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _blobs(path) -> list[bytes]:
    with SincsFile(path) as source:
        return [source.read_blob(i) for i in range(source.n_blobs)]


def test_auto_fits_on_the_workers_it_is_given(tmp_path, client):
    data = load("cell_migration_crop.tif")
    auto = FAST.replace(family="auto", steps=60, transfer_steps=20)
    report = sincs.compress(
        data, tmp_path / "auto.sincs", axes="tyx", config=auto, scheduler=client
    )
    assert report.family == "pe_mlp" and report.device.startswith("2 dask workers")


def test_latent_tiles_trained_on_workers_give_the_file_one_process_gives(tmp_path, client):
    """Asked for by name on a cluster, the latent family trains its tiles on the workers (two
    of each colour here) where the image is larger than the sample its networks train on (two
    tiles here); one process training tile by tile with the tasks' one thread writes the same
    bytes."""
    data = load("nuclei2d_crop.tif")
    data = np.ascontiguousarray(np.concatenate([data, data[:, :64]], axis=1))
    config = FAST.replace(family="latent", saliency="uniform", steps=60, batch_size=None)
    config = config.replace(ratio=15, block=(64, 64))
    before = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(presets, "LATENT_SAMPLE_VOXELS", 2 * 64 * 64)
        report = sincs.compress(data, tmp_path / "workers.sincs", config=config, scheduler=client)
        assert report.family == "latent" and report.device.startswith("2 dask workers")
        torch.set_num_threads(1)
        try:
            patch.setattr(presets, "LATENT_WHOLE_MAX_VOXELS", 0)
            serial = sincs.compress(data, tmp_path / "serial.sincs", config=config)
        finally:
            torch.set_num_threads(before)
    assert serial.groups == 6 and serial.device == "cpu"
    assert _blobs(tmp_path / "serial.sincs") == _blobs(tmp_path / "workers.sincs")


@pytest.mark.slow
def test_chains_fitted_on_two_workers_give_the_serial_file(tmp_path, client):
    data = load("cell_migration_crop.tif")
    serial = sincs.compress(data, tmp_path / "serial.sincs", axes="tyx", config=FAST, **SPLIT)
    parallel = sincs.compress(
        data, tmp_path / "cluster.sincs", axes="tyx", config=FAST, scheduler=client, **SPLIT
    )
    assert serial.groups == 8 and parallel.device.startswith("2 dask workers")
    assert _blobs(tmp_path / "serial.sincs") == _blobs(tmp_path / "cluster.sincs")
    np.testing.assert_array_equal(
        sincs.decode(tmp_path / "serial.sincs"), sincs.decode(tmp_path / "cluster.sincs")
    )
    ran_on = client.run(lambda: True)
    assert len(ran_on) == 2


@pytest.mark.slow
def test_a_sincs_file_is_a_dask_array_computed_on_the_cluster(tmp_path, client):
    data = load("nuclei3d_crop.tif")
    path = tmp_path / "n.sincs"
    sincs.compress(data, path, axes="zyx", config=FAST, block=(8, 24, 24))
    with sincs.open_sincs(path) as lazy:
        array = lazy.to_dask()
        assert array.shape == data.shape and array.dtype == data.dtype
        assert array.chunks == ((8, 8), (24, 24), (24, 24))
        full = lazy[...]
    mean = client.compute(array.mean(axis=0)).result()
    np.testing.assert_allclose(mean, full.mean(axis=0))
    with sincs.open_sincs(path) as lazy:
        coarse = lazy.at_level(1).to_dask()
        np.testing.assert_array_equal(coarse.compute(), full[:, ::2, ::2])


def _ome_zarr(path, data: np.ndarray) -> None:
    """An NGFF 0.4 image written by hand with zarr, as other tools write it."""
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.create_array("0", data=data, chunks=(1, 1, 16, 48, 48))
    root.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [
                {"name": "t", "type": "time", "unit": "second"},
                {"name": "c", "type": "channel"},
                {"name": "z", "type": "space", "unit": "micrometer"},
                {"name": "y", "type": "space", "unit": "micrometer"},
                {"name": "x", "type": "space", "unit": "micrometer"},
            ],
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [1.0, 1.0, 2.0, 0.5, 0.5]}
                    ],
                }
            ],
        }
    ]
    root.attrs["omero"] = {"channels": [{"label": "DNA"}, {"label": "membrane"}]}


@pytest.mark.slow
def test_ome_zarr_in_with_its_metadata_on_local_workers(tmp_path, capsys):
    nuclei = load("nuclei3d_crop.tif")
    data = np.stack([np.stack([nuclei, nuclei[::-1]])] * 2)
    store = tmp_path / "cells.zarr"
    _ome_zarr(store, data)
    out = tmp_path / "cells.sincs"
    argv = ["compress", str(store), "-o", str(out), "--ratio", "20", "--steps", "120", "-q"]
    assert main([*argv, "--workers", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["axes"] == "tczyx" and report["device"].startswith("2 dask workers")
    with sincs.open_sincs(out) as lazy:
        meta = lazy.header.metadata
        assert meta.scale == {"z": 2.0, "y": 0.5, "x": 0.5}
        assert meta.units == {"z": "µm", "y": "µm", "x": "µm"}
        assert meta.channel_names == ["DNA", "membrane"]
        assert lazy.shape == data.shape


def test_a_zarr_group_without_ngff_metadata_is_explained(tmp_path):
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(sincs.InvalidInputError, match="multiscales"):
        sincs.compress_file(tmp_path / "plain.zarr", tmp_path / "x.sincs")
    assert not (tmp_path / "x.sincs").exists()


@pytest.mark.slow
def test_local_workers_share_the_cores_and_match_a_run_with_their_thread_count(tmp_path):
    data = load("cell_migration_crop.tif")
    threads = threads_per_worker(2)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        serial = sincs.compress(data, tmp_path / "serial.sincs", axes="tyx", config=FAST, **SPLIT)
    finally:
        torch.set_num_threads(before)
    local = sincs.compress(
        data, tmp_path / "local.sincs", axes="tyx", config=FAST, workers=2, **SPLIT
    )
    assert local.device.startswith(f"2 dask workers × {threads} threads")
    assert serial.groups == 8
    assert _blobs(tmp_path / "serial.sincs") == _blobs(tmp_path / "local.sincs")
