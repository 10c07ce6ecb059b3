"""Training tile by tile, for images too large to train whole: the networks on a sample of
tiles, then each tile's latents with its finished neighbours fixed, read a region at a time."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import napari_sincs as sincs
from helpers import FAST, flat_psnr, load
from napari_sincs.codec import presets
from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.families import get_family
from napari_sincs.codec.families.latent import plan_for, tiled
from napari_sincs.codec.families.latent.fit import LatentTrainer
from napari_sincs.codec.families.latent.geometry import Box

LATENT = FAST.replace(family="latent", saliency="uniform", steps=120, batch_size=None)
CONFIG = LATENT.replace(ratio=15, block=(64, 64))
SAMPLED = 2 * 64 * 64
"""Voxels the networks train on: two of the test image's six tiles."""


def tiled_everywhere(patch: pytest.MonkeyPatch) -> None:
    """Train the small test images tile by tile, as an image too large to train whole."""
    patch.setattr(presets, "LATENT_WHOLE_MAX_VOXELS", 0)
    patch.setattr(presets, "LATENT_SAMPLE_VOXELS", SAMPLED)


class RecordedReads:
    """A lazily read array (like a TIFF or zarr opened without loading): it hands out what is
    asked and, while `recording`, remembers the largest read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.ndim = data.ndim
        self.recording = False
        self.largest = 0

    def __getitem__(self, key):
        block = self.data[key]
        if self.recording:
            self.largest = max(self.largest, block.size)
        return block


def _geometry(shape: tuple[int, ...], block: tuple[int, ...]):
    plan = plan_for(shape, CompressionConfig(family="latent", block=block))
    return get_family("latent").spec_for(plan).geometry(plan)


@pytest.fixture(scope="module")
def by_tiles(tmp_path_factory):
    """nuclei2d_crop, widened to 128 x 192 by its first 64 columns, in six 64x64 tiles (two of
    each colour along x) trained apart from a source read lazily (the networks on two of
    them), and the same trained whole."""
    data = load("nuclei2d_crop.tif")
    data = np.ascontiguousarray(np.concatenate([data, data[:, :64]], axis=1))
    folder = tmp_path_factory.mktemp("tiled")
    source = RecordedReads(data)
    fit_tiled, train_tile = tiled.fit_tiled, tiled.train_tile
    starts = {}

    def recorded_start(task, watch=None):
        """Whether a tile's first pass starts from latents of its own (not zeros)."""
        tile = task.region.tile
        if tile not in starts:
            boxes = LatentTrainer.windows(task.geometry, task.region.voxels)[1]
            own = [task.geometry.tile_box(tile, level) for level in range(task.geometry.levels)]
            starts[tile] = any(
                np.any(known[box.within(window.starts)])
                for known, box, window in zip(task.known, own, boxes)
            )
        return train_tile(task, watch)

    def recorded(*args):
        source.recording = True
        try:
            return fit_tiled(*args)
        finally:
            source.recording = False

    with pytest.MonkeyPatch.context() as patch:
        tiled_everywhere(patch)
        patch.setattr(tiled, "fit_tiled", recorded)
        patch.setattr(tiled, "train_tile", recorded_start)
        apart = sincs.compress(source, folder / "apart.sincs", axes="yx", config=CONFIG)
    whole = sincs.compress(data, folder / "whole.sincs", config=CONFIG)
    return data, folder, apart, whole, source.largest, starts


def test_a_file_trained_tile_by_tile_meets_its_budget_and_decodes_like_one_trained_whole(by_tiles):
    data, folder, apart, whole, *_ = by_tiles
    assert apart.family == "latent" and apart.groups == 6 and apart.ratio >= 15
    decoded = sincs.decode(folder / "apart.sincs")
    measured = sincs.metrics.psnr(data, decoded)
    assert measured == pytest.approx(apart.psnr, abs=0.01)
    assert measured > flat_psnr(data) + 8
    assert measured > whole.psnr - 1.5, "tiles trained apart lose little against the whole"
    with sincs.open_sincs(folder / "apart.sincs") as lazy:
        cut = (slice(0, 1),) * 3 + (slice(40, 90), slice(30, 150))
        region = lazy.decoder.decode(cut)
    assert np.array_equal(region[0, 0, 0], decoded[40:90, 30:150])


def test_the_tiled_fit_reads_the_image_a_tile_and_its_halo_at_a_time(by_tiles):
    """(The intensity range before and the verification after read a plane at a time.)"""
    data, *_, largest, _ = by_tiles
    assert largest > 0
    halo = presets.LATENT_TILE_HALO[1]
    assert largest <= (64 + 2 * halo) ** 2 < data.size


def test_sampled_tiles_start_where_the_networks_training_left_their_latents(by_tiles):
    """Weight transfer: the two tiles the networks trained on keep their latents as a start;
    the four others start from zeros."""
    geometry = _geometry((1, 1, 1, 128, 192), (64, 64))
    sample = {tile for _, tile in tiled.sample_tiles(geometry, SAMPLED)}
    starts = by_tiles[-1]
    assert len(sample) == 2 and len(starts) == 6
    assert {tile for tile, own in starts.items() if own} == sample


def test_tiles_of_one_colour_give_the_same_file_in_any_order(by_tiles, tmp_path, monkeypatch):
    """What lets tiles of a colour train at once on several workers: none reads another."""
    data, folder, *_ = by_tiles
    ordered = tiled.all_tiles

    def reversed_within_colours(geometry):
        tiles = ordered(geometry)
        colours = [tiled._colour(tile) for _, tile in tiles]
        return sorted(reversed(tiles), key=lambda item: colours[tiles.index(item)])

    tiled_everywhere(monkeypatch)
    monkeypatch.setattr(tiled, "all_tiles", reversed_within_colours)
    geometry = _geometry((1, 1, 1, 128, 192), (64, 64))
    assert reversed_within_colours(geometry) != ordered(geometry)
    sincs.compress(data, tmp_path / "reordered.sincs", config=CONFIG)
    assert (tmp_path / "reordered.sincs").read_bytes() == (folder / "apart.sincs").read_bytes()


def test_tiles_train_colour_after_colour_and_no_two_tiles_of_a_colour_touch():
    geometry = _geometry((1, 1, 64, 256, 256), (32, 64, 64))
    tiles = tiled.all_tiles(geometry)
    assert len(tiles) == 2 * 4 * 4
    colours = [tiled._colour(tile) for _, tile in tiles]
    assert colours == sorted(colours) and len(set(colours)) == 8
    for (_, a), (_, b) in itertools.pairwise(tiles):
        if tiled._colour(a) == tiled._colour(b):
            assert max(abs(i - j) for i, j in zip(a, b)) >= 2


def test_a_tile_trains_on_its_halo_only_where_its_neighbours_are_finished():
    geometry = _geometry((1, 1, 64, 256, 256), (32, 64, 64))
    d, y, x = presets.LATENT_TILE_HALO
    first = tiled.training_voxels(geometry, (0, 0, 0))
    assert first == Box(((0, 32), (0, 64), (0, 64))), "the first colour: its own voxels"
    odd = tiled.training_voxels(geometry, (1, 1, 2))
    assert odd == Box(((32 - d, 64), (64 - y, 128 + y), (128, 192)))


def test_a_tile_reads_finished_neighbours_and_zeros_for_the_rest(tmp_path):
    geometry = _geometry((1, 1, 1, 128, 128), (64, 64))
    store = tiled.LatentStore(geometry, tmp_path)
    for _, tile in tiled.all_tiles(geometry)[:3]:
        cells = [
            np.full(geometry.tile_box(tile, level).shape, 1.0 + tile[1] * 2 + tile[2], np.float32)
            for level in range(geometry.levels)
        ]
        store.write(0, tile, cells)
    whole = [Box(tuple((0, n) for n in cells)) for cells in geometry.cells]
    seen = store.read(0, whole, (0, 0, 1))[0]
    half = geometry.tile_cells[0][1]
    assert (seen[:, :half, :half] == 1).all(), "a finished neighbour"
    assert (seen[:, :half, half:] == 2).all(), "its own latents, where it starts from"
    assert (seen[:, half:, :] == 0).all(), "tiles of a later colour read as zeros"
    last = store.read(0, whole, (0, 1, 1))[0]
    assert (last[:, half:, :half] == 3).all() and (last[:, half:, half:] == 0).all(), "unfinished"
    assert (store.rounded(0, (0, 0, 1), [0.5] * geometry.levels)[0] == 4).all(), "in steps"


def test_an_image_too_large_for_memory_even_tile_by_tile_is_refused(tmp_path, monkeypatch):
    from napari_sincs.codec.families.latent import fit

    monkeypatch.setattr(fit, "available_bytes", lambda device: 64 << 20)
    monkeypatch.setattr(tiled, "available_bytes", lambda device: 64 << 20)
    path = tmp_path / "big.sincs"
    with pytest.raises(sincs.InsufficientMemoryError, match=r"even tile by tile.*family='pe_mlp'"):
        sincs.compress(load("nuclei2d_crop.tif"), path, config=CONFIG)
    assert not path.exists()


def test_whole_training_is_kept_where_the_image_fits():
    from napari_sincs.codec.families.latent.fit import trains_whole

    class Job:
        shape = (1, 1, 1, 512, 512)
        fitter = None

    assert trains_whole(Job, torch.device("cpu"))
    Job.shape = (1, 1, 200, 512, 512)
    assert not trains_whole(Job, torch.device("cpu")), "above LATENT_WHOLE_MAX_VOXELS"
    Job.shape = (1, 1, 40, 512, 512)
    assert trains_whole(Job, torch.device("cpu"))
    Job.fitter = object()
    assert not trains_whole(Job, torch.device("cpu")), "dask workers train the tiles"
    Job.shape = (1, 1, 1, 512, 512)
    assert trains_whole(Job, torch.device("cpu")), "the sample would be the whole image"


def test_the_networks_train_on_the_largest_tiles_spread_over_the_image():
    geometry = _geometry((1, 1, 43, 264, 542), (64, 256, 256))
    assert len(tiled.sample_tiles(geometry, 10**9)) == 6, "every tile where the image fits"
    sample = tiled.sample_tiles(geometry, 2 * 43 * 256 * 256)
    assert [tile for _, tile in sample] == [(0, 0, 0), (0, 0, 1)], "not the 8-row edge tiles"
    big = _geometry((1, 1, 128, 1024, 1024), (32, 256, 256))
    spread = [tile for _, tile in tiled.sample_tiles(big, 4 * 32 * 256 * 256)]
    assert len(spread) == 4 and len({tile[0] for tile in spread}) == 4
