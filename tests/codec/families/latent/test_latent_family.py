"""The latent family end to end: real training on real crops, files decoded exactly, regions
equal to crops of the whole, tiles without seams, budgets met."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import napari_sincs as sincs
from helpers import FAST, flat_psnr, load
from napari_sincs.codec import presets
from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.errors import CorruptFileError
from napari_sincs.codec.families import get_family
from napari_sincs.codec.families.latent import d_lag_for, plan_for
from napari_sincs.codec.families.latent.fit import _planned, _unslabbed_if_tight
from napari_sincs.codec.families.latent.reader import LatentValues
from napari_sincs.codec.format.header import ImageMetadata

LATENT = FAST.replace(family="latent", saliency="uniform", steps=300, batch_size=None)


@pytest.fixture(scope="module")
def tiled(tmp_path_factory) -> tuple[np.ndarray, object, object]:
    """The 2D crop as four 64x64 tiles."""
    data = load("nuclei2d_crop.tif")
    path = tmp_path_factory.mktemp("latent") / "tiled.sincs"
    report = sincs.compress(data, path, config=LATENT.replace(ratio=15, block=(64, 64)))
    return data, path, report


def test_a_latent_file_meets_its_ratio_and_beats_a_flat_guess(tiled):
    data, path, report = tiled
    assert report.family == "latent" and report.groups == 4
    assert report.ratio >= 15
    decoded = sincs.decode(path)
    assert sincs.metrics.psnr(data, decoded) > flat_psnr(data) + 8
    with sincs.open_sincs(path) as lazy:
        assert isinstance(lazy.decoder.values, LatentValues)
        assert lazy.header.to_dict()["requires"] == ["latent"]


def test_regions_across_tile_borders_equal_the_whole(tiled):
    _, path, _ = tiled
    whole = sincs.decode(path)
    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        np.testing.assert_array_equal(lazy[50:80, 60:70], whole[50:80, 60:70])
        np.testing.assert_array_equal(lazy[63:65, :], whole[63:65, :])
    np.testing.assert_array_equal(sincs.decode(path, level=1), whole[::2, ::2])


def test_decoding_is_bit_identical_whatever_the_thread_count(tiled):
    _, path, _ = tiled
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = sincs.decode(path)
        torch.set_num_threads(2)
        two = sincs.decode(path)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)


def test_tile_borders_do_not_show(tiled):
    """The mean jump between neighbouring pixels across a tile border is about the same as
    inside tiles (one network per block makes it several times larger)."""
    data, path, _ = tiled
    decoded = sincs.decode(path).astype(np.float64)

    def border_over_inside(image):
        jumps = np.abs(np.diff(image, axis=1))
        return jumps[:, 63].mean() / np.delete(jumps, 63, axis=1).mean()

    assert border_over_inside(decoded) < 1.25 * border_over_inside(data.astype(np.float64))


@pytest.mark.parametrize("context", ["coarse", "wide"])
def test_other_context_shapes_train_code_and_decode(context, monkeypatch, tmp_path):
    """The context shapes the ablation measures are real files: trained, coded, decoded
    exactly, and named in the header so that a reader without them refuses the file."""
    monkeypatch.setattr(presets, "LATENT_CONTEXT", context)
    data = load("nuclei2d_crop.tif")
    path = tmp_path / f"{context}.sincs"
    config = LATENT.replace(ratio=15, block=(64, 64), steps=150)
    assert sincs.compress(data, path, config=config).ratio >= 15
    whole = sincs.decode(path)
    assert sincs.metrics.psnr(data, whole) > flat_psnr(data) + 6
    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        header = lazy.header.to_dict()
        assert lazy.header.model.context == context and "latent-context" in header["requires"]
        np.testing.assert_array_equal(lazy[50:80, 60:70], whole[50:80, 60:70])
    family = get_family("latent")
    model = header["model"]
    with pytest.raises(CorruptFileError, match="out of range"):
        family.spec_from_dict(model | {"context": "cross"}, "yx", model["extents"])


@pytest.mark.parametrize("key", ["2d+t", "3d", "channels"])
def test_every_kind_of_image_round_trips(key, tmp_path):
    from helpers import IMAGES

    name, axes = IMAGES[key]
    data = load(name)
    path = tmp_path / f"{key}.sincs"
    report = sincs.compress(data, path, axes=axes, config=LATENT.replace(ratio=12, steps=200))
    decoded = sincs.decode(path)
    assert decoded.shape == data.shape and decoded.dtype == data.dtype
    assert report.ratio >= 12
    assert sincs.metrics.psnr(data, decoded) > flat_psnr(data) + 3


def test_lossless_latent_files_are_bit_exact(tmp_path):
    data = load("cell_migration_crop.tif")
    path = tmp_path / "lossless.sincs"
    sincs.compress(data, path, axes="tyx", config=LATENT.replace(ratio=20, steps=150), max_error=0)
    np.testing.assert_array_equal(sincs.decode(path), data)


def test_small_budgets_get_smaller_networks(tmp_path):
    """At 60x the 3D crop allows about 1.2 kB: the default networks alone would take more, so
    the file narrows them until they leave most of the budget to the latents."""
    data = load("nuclei3d_crop.tif")
    path = tmp_path / "small.sincs"
    report = sincs.compress(data, path, axes="zyx", config=LATENT.replace(ratio=60, steps=200))
    assert report.ratio >= 60
    with sincs.open_sincs(path) as lazy:
        model = lazy.header.model
    assert model.synthesis == model.arm and max(model.synthesis) < max(presets.LATENT_SYNTHESIS)
    assert report.file_bytes * presets.LATENT_NETWORK_SHARE > model.n_parameters
    assert sincs.metrics.psnr(data, sincs.decode(path)) > flat_psnr(data) + 3


def test_a_plane_of_a_z_stack_decodes_one_slab_of_its_tile(tmp_path):
    """A z stack's finest latents are coded in slabs of a few planes: showing one plane
    entropy-decodes the tile's coarse levels and the slab it lies in, and equals the same plane
    of the whole decode."""
    data = load("nuclei3d_crop.tif")
    path = tmp_path / "slabs.sincs"
    sincs.compress(data, path, axes="zyx", config=LATENT.replace(ratio=20, steps=200))
    whole = sincs.decode(path)
    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        assert "latent-slabs" in lazy.header.to_dict()["requires"]
        assert lazy.header.model.slab == presets.LATENT_SLAB
        np.testing.assert_array_equal(lazy[5], whole[5])
        values = lazy.decoder.values
        slabs = [key for key in values._tiles._entries if isinstance(key, tuple)]
        assert slabs == [(0, 5 // presets.LATENT_SLAB)]
        np.testing.assert_array_equal(lazy[3:9, 10:30], whole[3:9, 10:30])


@pytest.mark.parametrize(
    ("shape", "scale", "units", "expected"),
    [
        ((1, 1, 30, 64, 64), {"z": 5.0, "y": 2.0, "x": 2.0}, {"z": "µm", "y": "µm", "x": "µm"}, 2),
        ((1, 1, 30, 64, 64), {"z": 0.29, "y": 0.26, "x": 0.26}, {}, 1),
        ((1, 1, 30, 64, 64), {}, {}, 1),
        ((1, 1, 30, 64, 64), {"z": 5.0, "y": 2.0, "x": 2.0}, {"z": "nm", "y": "µm", "x": "µm"}, 1),
        ((30, 1, 1, 64, 64), {"t": 5.0, "y": 2.0, "x": 2.0}, {}, 1),
    ],
)
def test_z_stays_finer_for_one_more_level_where_planes_lie_further_apart_than_pixels(
    shape, scale, units, expected
):
    """Only a z stack whose voxel size, in one unit, puts its planes at least sqrt(2) pixels
    apart, and not at 1000x; a time series, a stack without voxel size or with mixed units
    keep the default."""
    plan = plan_for(shape, CompressionConfig(family="latent"))
    metadata = ImageMetadata(scale=scale, units=units)
    assert d_lag_for(plan, metadata, 100) == expected
    assert d_lag_for(plan, metadata, 1000) == 1, "not at high ratios"


def test_an_anisotropic_stack_is_coded_with_z_finer_and_decodes_region_by_region(tmp_path):
    data = load("nuclei3d_crop.tif")
    path = tmp_path / "anisotropic.sincs"
    config = LATENT.replace(ratio=20, steps=60)
    sincs.compress(data, path, axes="zyx", scale={"z": 3.0, "y": 1.0, "x": 1.0}, config=config)
    whole = sincs.decode(path)
    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        model = lazy.header.model
        assert model.d_lag == 2
        assert lazy.decoder.values.geometry.exponents[1][0] == 0, "z whole at the second level"
        np.testing.assert_array_equal(lazy[4:7, 5:40, 10:30], whole[4:7, 5:40, 10:30])
    assert sincs.metrics.psnr(data, whole) > flat_psnr(data) + 3


def test_tiles_are_coded_whole_where_slab_streams_would_crowd_the_budget():
    """beads3d's shape: at 300x (3 kB) its tiles keep their slabs; at 1000x (922 bytes) the
    slabs' own bytes would take over a tenth of the file, so its tiles are coded whole."""
    plan = plan_for((1, 1, 41, 150, 150), CompressionConfig(family="latent"))
    spec = get_family("latent").spec_for(plan)
    raw = 41 * 150 * 150
    assert _unslabbed_if_tight(spec, plan, raw / 300).slab == presets.LATENT_SLAB
    assert _unslabbed_if_tight(spec, plan, raw / 1000).slab == 0


def test_tiles_grow_where_their_own_bytes_would_crowd_a_small_plane_budget():
    """cell_phase's shape (660 x 550, 9 tiles of 256^2): at 10x the tiles' own bytes are under
    1% of the budget and they stay; at 100x (3.6 kB) they would take 7%, so the plane is one
    tile (512^2 tiles would still take over 3%). A block the user set, a z stack and a fit
    tile by tile keep theirs."""
    family = get_family("latent")
    shape = (1, 1, 1, 660, 550)
    config = CompressionConfig(family="latent")
    raw = 660 * 550
    assert len(_planned(family, shape, config, raw / 10, True)) == 9
    assert len(_planned(family, shape, config, raw / 100, True)) == 1
    assert len(_planned(family, shape, config, raw / 100, False)) == 9
    user = config.replace(block=(256, 256))
    assert len(_planned(family, shape, user, raw / 100, True)) == 9
    stack = (1, 1, 8, 660, 550)
    assert len(_planned(family, stack, config, 8 * raw / 100, True)) == 9


def test_the_memory_free_is_known_here():
    from napari_sincs.codec.device import available_bytes

    free = available_bytes(torch.device("cpu"))
    assert free is not None and free > 1 << 20


def test_a_plane_near_a_z_tile_border_decodes_only_the_coarse_levels_it_reads_across(tmp_path):
    """Plane 30 of two 32-plane tiles reads the next tile through the interpolation of the
    coarse levels alone: its finest coarse level, most of that tile's cells, stays undecoded,
    and the plane is still the full decode's."""
    data = load("nuclei3d_crop.tif")
    data = np.concatenate([data, data[::-1]] * 2)
    path = tmp_path / "stack.sincs"
    sincs.compress(data, path, config=LATENT.replace(ratio=15, block=(32, 48, 48), steps=60))
    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        values = lazy.decoder.values
        assert values.geometry.tiles == (2, 1, 1) and values.geometry.slabbed
        plane = lazy[30]
        below = values.tile(values.geometry.group_at(0, (1, 0, 0)))[1]
        assert below.latents[0] is None and below.latents[1] is None
        assert all(level is not None for level in below.latents[2:])
    np.testing.assert_array_equal(plane, sincs.decode(path)[30])
