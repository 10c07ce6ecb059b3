"""End-to-end: real training on small real crops, real files, every input kind and dtype."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import napari_sincs as sincs
from helpers import FAST, IMAGES, flat_psnr, load
from napari_sincs.codec.layout import ArrayLayout


@pytest.fixture(scope="module")
def compressed(
    tmp_path_factory,
) -> dict[str, tuple[np.ndarray, str, Path, sincs.CompressionReport]]:
    folder = tmp_path_factory.mktemp("compressed")
    out = {}
    for kind, (name, axes) in IMAGES.items():
        data = load(name)
        path = folder / f"{kind}.sincs"
        split = {}
        if kind == "2d+t":
            split = {"block": (32, 32), "time_groups": 2, "steps": 400, "transfer_steps": 150}
        report = sincs.compress(data, path, axes=axes, config=FAST, **split)
        out[kind] = (data, axes, path, report)
    return out


@pytest.mark.parametrize("kind", list(IMAGES))
def test_round_trip_meets_the_ratio_and_reports_true_quality(compressed, kind):
    data, axes, path, report = compressed[kind]
    decoded = sincs.decode(path)
    assert decoded.shape == data.shape
    assert decoded.dtype == data.dtype
    assert report.file_bytes == path.stat().st_size
    assert report.ratio >= FAST.ratio
    assert math.isclose(report.ratio, data.nbytes / report.file_bytes)
    assert math.isclose(report.psnr, sincs.metrics.psnr(data, decoded), rel_tol=1e-6)
    assert report.psnr > flat_psnr(data) + 1.5, "the networks learned structure"
    assert report.ssim > sincs.metrics.ssim(data, np.full(data.shape, data.mean()))
    assert report.device == "cpu"
    error = np.abs(decoded.astype(np.float64) - data)
    assert error[report.max_error_at] == error.max() == report.max_abs_error
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.stats["max_abs_error_at"] == list(report.max_error_at)


@pytest.mark.parametrize("kind", list(IMAGES))
def test_region_decode_equals_the_crop_of_the_full_decode(compressed, kind):
    data, axes, path, _ = compressed[kind]
    full = sincs.decode(path)
    region = tuple(slice(s // 3, max(s // 3 + 1, (2 * s) // 3 + 1)) for s in data.shape)
    np.testing.assert_array_equal(sincs.decode(path, region), full[region])


@pytest.mark.parametrize("kind", ["2d", "3d", "2d+t"])
def test_coarser_levels_are_exact_subsamplings(compressed, kind):
    data, axes, path, _ = compressed[kind]
    full = sincs.decode(path)
    layout = ArrayLayout(axes, data.shape)
    for level in (1, 2):
        step = tuple(slice(None, None, 2**level) if a in "yx" else slice(None) for a in axes)
        coarse = sincs.decode(path, level=level)
        assert coarse.shape == full[step].shape
        np.testing.assert_array_equal(coarse, full[step])
    assert layout.axes == axes


def test_a_region_touches_only_the_groups_it_meets(compressed):
    _, _, path, report = compressed["2d+t"]
    assert report.groups == 8
    lazy = sincs.open_sincs(path, cache_bytes=0)
    with lazy:
        lazy[3, 0:16, 0:16]
        assert lazy.decoder.groups_evaluated == 1
        lazy[:, 0:16, 40:50]
        assert lazy.decoder.groups_evaluated == 1 + 2


def test_metadata_travels_with_the_file(tmp_path):
    data = load("hela_crop.tif")
    path = tmp_path / "hela.sincs"
    sincs.compress(
        data,
        path,
        axes="cyx",
        config=FAST,
        name="HeLa",
        scale={"y": 0.0515, "x": 0.0515},
        units={"y": "µm", "x": "µm"},
        channel_names=["lysosomes", "mitochondria", "nucleus"],
    )
    with sincs.open_sincs(path) as lazy:
        meta = lazy.header.metadata
        assert (meta.name, meta.scale, meta.units) == (
            "HeLa",
            {"y": 0.0515, "x": 0.0515},
            {"y": "µm", "x": "µm"},
        )
        assert meta.channel_names == ["lysosomes", "mitochondria", "nucleus"]
        assert lazy.header.intensity_min == tuple(float(c.min()) for c in data)


@pytest.mark.parametrize(
    ("name", "axes", "dtype", "offset"),
    [
        ("beads3d_crop.tif", "zyx", "uint8", 0),
        ("nuclei2d_crop.tif", "yx", "uint16", 0),
        ("fmri_crop.tif", "tzyx", "int16", -400),
        ("nuclei2d_crop.tif", "yx", "float32", -60.5),
    ],
)
def test_every_supported_dtype_round_trips(tmp_path, name, axes, dtype, offset):
    data = (load(name).astype(np.float64) + offset).astype(dtype)
    path = tmp_path / "d.sincs"
    report = sincs.compress(data, path, axes=axes, config=FAST)
    decoded = sincs.decode(path)
    assert decoded.dtype == np.dtype(dtype)
    assert decoded.min() >= data.min()
    assert decoded.max() <= data.max()
    assert report.psnr > flat_psnr(data) + 1.5


def test_same_seed_gives_the_same_file(tmp_path, nuclei2d):
    a, b = tmp_path / "a.sincs", tmp_path / "b.sincs"
    sincs.compress(nuclei2d, a, config=FAST)
    sincs.compress(nuclei2d, b, config=FAST)
    assert a.read_bytes() == b.read_bytes()


def test_an_edited_saliency_map_is_what_compression_uses(tmp_path, nuclei2d):
    preview = sincs.saliency_map(nuclei2d)
    assert preview.shape == nuclei2d.shape
    assert set(np.unique(preview).tolist()) == {np.float32(FAST.saliency_floor), 1.0}
    edited = np.zeros_like(preview)
    edited[:, :32] = 1.0
    left = tmp_path / "left.sincs"
    sincs.compress(nuclei2d, left, config=FAST, saliency=edited)
    decoded = sincs.decode(left)
    left_error = np.mean((decoded[:, :32].astype(float) - nuclei2d[:, :32]) ** 2)
    right_error = np.mean((decoded[:, 64:].astype(float) - nuclei2d[:, 64:]) ** 2)
    assert left_error < right_error
    with pytest.raises(sincs.InvalidInputError, match="same shape"):
        sincs.compress(nuclei2d, tmp_path / "x.sincs", config=FAST, saliency=edited[:10])


def test_progress_and_cancel_leave_no_file(tmp_path, nuclei2d):
    token = sincs.CancelToken()
    events: list[sincs.ProgressEvent] = []

    def progress(event: sincs.ProgressEvent) -> None:
        events.append(event)
        if event.step >= 20:
            token.cancel()

    path = tmp_path / "cancelled.sincs"
    with pytest.raises(sincs.CompressionCancelled):
        sincs.compress(nuclei2d, path, config=FAST, progress=progress, cancel=token)
    assert [e.stage for e in events[:2]] == ["saliency", "saliency"]
    assert events[2].stage == "fit" and events[-1].step == 20
    assert list(tmp_path.iterdir()) == []


def _fails(tmp_path: Path, error: type, match: str, data, **kwargs) -> None:
    path = kwargs.pop("path", tmp_path / "bad.sincs")
    with pytest.raises(error, match=match):
        sincs.compress(data, path, config=FAST, **kwargs)
    assert not any(p.suffix in (".sincs", ".tmp") for p in tmp_path.iterdir())


def test_bad_inputs_raise_clear_errors_and_write_nothing(tmp_path, nuclei2d):
    _fails(tmp_path, sincs.InvalidInputError, "dtype float64", nuclei2d.astype(np.float64))
    _fails(tmp_path, sincs.InvalidInputError, "dtype bool", nuclei2d > 50)
    _fails(tmp_path, sincs.InvalidInputError, "empty", np.zeros((0, 5), np.uint16))
    _fails(tmp_path, sincs.InvalidInputError, "at least 2×2", np.zeros((1, 1), np.uint16))
    _fails(tmp_path, sincs.InvalidInputError, "2 to 5 dimensions", np.zeros(7, np.uint16))
    with_nan = nuclei2d.astype(np.float32)
    with_nan[3, 3] = np.nan
    _fails(tmp_path, sincs.InvalidInputError, "NaN", with_nan)
    _fails(tmp_path, sincs.InvalidInputError, "names 3 dimensions", nuclei2d, axes="zyx")
    _fails(tmp_path, sincs.RatioUnreachableError, "ratio", nuclei2d, ratio=5000)
    _fails(
        tmp_path, sincs.OutputError, "does not exist", nuclei2d, path=tmp_path / "no" / "x.sincs"
    )
    _fails(tmp_path, sincs.InvalidConfigError, "saliency must be", nuclei2d, saliency="magic")


def test_existing_files_are_kept_unless_overwriting(tmp_path, nuclei2d):
    path = tmp_path / "keep.sincs"
    path.write_bytes(b"precious")
    with pytest.raises(sincs.OutputError, match="already exists"):
        sincs.compress(nuclei2d, path, config=FAST)
    assert path.read_bytes() == b"precious"
    sincs.compress(nuclei2d, path, config=FAST, overwrite=True)
    assert path.read_bytes().startswith(b"\x89SINCS")


def test_a_damaged_blob_is_reported_not_decoded(compressed, tmp_path):
    _, _, path, _ = compressed["2d"]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    damaged = tmp_path / "damaged.sincs"
    damaged.write_bytes(bytes(data))
    with pytest.raises(sincs.CorruptFileError, match="checksum"):
        sincs.decode(damaged)
    damaged.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(sincs.CorruptFileError, match="truncated or damaged"):
        sincs.open_sincs(damaged)


@pytest.mark.parametrize(
    ("name", "axes", "dtype", "offset", "scale"),
    [
        ("beads3d_crop.tif", "zyx", "uint8", 0, 1),
        ("fmri_crop.tif", "tzyx", "int16", -400, 1),
        ("hela_crop.tif", "cyx", "uint16", 0, 1),
        ("nuclei2d_crop.tif", "yx", "float32", -60.5, 0.37),
    ],
)
@pytest.mark.parametrize("bound", [0.0, 3.0])
def test_error_bound_holds_on_real_files_and_regions(
    tmp_path, name, axes, dtype, offset, scale, bound
):
    data = ((load(name).astype(np.float64) + offset) * scale).astype(dtype)
    path = tmp_path / "bounded.sincs"
    report = sincs.compress(data, path, axes=axes, config=FAST, max_error=bound)
    decoded = sincs.decode(path)
    assert report.met
    assert np.abs(decoded.astype(np.float64) - data.astype(np.float64)).max() <= bound
    if bound == 0:
        assert decoded.tobytes() == data.tobytes()
    region = tuple(slice(s // 4, s // 4 + max(1, s // 2)) for s in data.shape)
    assert sincs.decode(path, region).tobytes() == decoded[region].tobytes()
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.max_error == bound


@pytest.mark.slow
def test_a_psnr_target_is_met_with_the_smallest_file_tried(tmp_path):
    data = load("cell_migration_crop.tif")
    path = tmp_path / "psnr.sincs"
    report = sincs.compress(data, path, axes="tyx", config=FAST, psnr=24.0)
    assert report.met
    assert report.psnr >= 24.0
    assert report.guarantee == "PSNR ≥ 24 dB"
    assert sincs.metrics.psnr(data, sincs.decode(path)) == pytest.approx(report.psnr)


@pytest.mark.slow
def test_an_unreachable_psnr_is_reported_not_hidden(tmp_path, nuclei2d):
    report = sincs.compress(
        nuclei2d, tmp_path / "p.sincs", config=FAST.replace(steps=30), psnr=90.0
    )
    assert not report.met
    assert report.psnr < 90


@pytest.mark.parametrize("kind", ["2d+t", "3d"])
def test_the_grid_family_round_trips_exactly(tmp_path, kind):
    name, axes = IMAGES[kind]
    data = load(name)
    path = tmp_path / "grid.sincs"
    report = sincs.compress(data, path, axes=axes, config=FAST, family="grid")
    full = sincs.decode(path)
    assert report.ratio >= FAST.ratio
    assert report.psnr > flat_psnr(data) + 1.5, "the grids learned structure"
    assert sincs.open_sincs(path).header.model.family == "grid"
    region = tuple(slice(s // 3, (2 * s) // 3 + 1) for s in data.shape)
    np.testing.assert_array_equal(sincs.decode(path, region), full[region])
    step = tuple(slice(None, None, 2) if a in "yx" else slice(None) for a in axes)
    np.testing.assert_array_equal(sincs.decode(path, level=1), full[step])


def test_auto_family_is_latent_up_to_its_ratios_and_the_pe_mlp_on_tiny_files(tmp_path, nuclei2d):
    stack = load(IMAGES["3d"][0])
    made = {}
    for name, data, axes, ratio in (
        ("plane", nuclei2d, "yx", 10),
        ("stack", stack, "zyx", 10),
        ("stack, tiny file", stack, "zyx", 140),
    ):
        path = tmp_path / f"{name}.sincs"
        auto = FAST.replace(family="auto", ratio=ratio)
        report = sincs.compress(data, path, axes=axes, config=auto, saliency="uniform")
        made[name] = report.family
        header = sincs.open_sincs(path).header
        assert header.model.family == header.config.family == report.family, "file says which"
    assert made == {"plane": "latent", "stack": "latent", "stack, tiny file": "pe_mlp"}


@pytest.mark.slow
def test_grid_fits_are_reproducible_with_several_threads(tmp_path):
    movie = np.tile(load("cell_migration_crop.tif"), (2, 2, 2))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        files = []
        for name in ("a.sincs", "b.sincs"):
            settings = {"config": FAST, "family": "grid", "block": (32, 32)}
            sincs.compress(movie, tmp_path / name, axes="tyx", **settings)
            files.append((tmp_path / name).read_bytes())
    finally:
        torch.set_num_threads(threads)
    assert files[0] == files[1], "two runs with the same settings wrote different files"


@pytest.mark.parametrize("ratio", [120, 140])
def test_a_ratio_only_the_smallest_network_meets_is_met_not_refused(tmp_path, ratio):
    data = load("nuclei3d_crop.tif")
    report = sincs.compress(data, tmp_path / "a.sincs", axes="zyx", ratio=ratio, config=FAST)
    assert report.ratio >= ratio and report.met
    assert report.width == 8, "the file needs the smallest network (MIN_WIDTH) to fit"


def test_a_misspelt_keyword_names_the_close_ones_before_any_work(tmp_path):
    data = load("nuclei2d_crop.tif")
    with pytest.raises(sincs.InvalidConfigError, match=r"'scle' \(did you mean scale or"):
        sincs.compress(data, tmp_path / "x.sincs", scle=(1, 1))
    with pytest.raises(TypeError, match="time_groups"):
        sincs.compress(data, tmp_path / "x.sincs", time_group=2)
    assert not list(tmp_path.iterdir())


def test_saliency_map_takes_the_keywords_compress_takes():
    data = load("nuclei2d_crop.tif")
    weights = sincs.saliency_map(data, saliency="threshold", saliency_floor=0.2)
    assert weights.min() == pytest.approx(0.2)
    with pytest.warns(DeprecationWarning, match="saliency_floor"):
        old = sincs.saliency_map(data, floor=0.2)
    np.testing.assert_array_equal(old, weights)


def test_compress_file_closes_the_tiff_it_reads_page_by_page(tmp_path, data_dir, monkeypatch):
    from napari_sincs import io

    opened = []
    original = io.TiffPlanes.__init__

    def spy(self, path):
        original(self, path)
        opened.append(self)

    monkeypatch.setattr(io.TiffPlanes, "__init__", spy)
    source = data_dir / "nuclei3d_crop.tif"
    sincs.compress_file(source, tmp_path / "x.sincs", lazy=True, config=FAST)
    assert len(opened) == 1 and opened[0]._tif.filehandle.closed


def test_a_plain_tiff_says_which_axes_were_guessed(tmp_path, caplog):
    import tifffile

    movie = load("cell_migration_crop.tif")[:6]
    plain = tmp_path / "movie.tif"
    tifffile.imwrite(plain, movie, metadata=None)
    with caplog.at_level("WARNING", logger="napari_sincs.api"):
        report = sincs.compress_file(plain, tmp_path / "a.sincs", config=FAST, ratio=10)
    assert report.axes == "zyx"
    assert "read as zyx (the guessed: z)" in caplog.text and "axes='tyx'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="napari_sincs.api"):
        sincs.compress_file(plain, tmp_path / "b.sincs", axes="tyx", config=FAST, ratio=10)
    assert "guessed" not in caplog.text


def test_an_unreachable_ratio_names_the_highest_one_the_planner_accepts(tmp_path, nuclei2d):
    crop = nuclei2d[:128, :128]
    with pytest.raises(sincs.RatioUnreachableError, match=r"at most about \d+") as refused:
        sincs.compress(crop, tmp_path / "x.sincs", ratio=100)
    highest = float(re.search(r"at most about (\d+)", str(refused.value)).group(1))
    assert 2 < highest < 100
    report = sincs.compress(crop, tmp_path / "x.sincs", config=FAST, ratio=highest * 0.85)
    assert report.ratio >= highest * 0.85


def test_lossless_on_a_small_image_picks_a_base_that_fits(tmp_path, nuclei2d):
    small = nuclei2d[:64, :64]
    report = sincs.compress(small, tmp_path / "l.sincs", config=FAST, max_error=0)
    np.testing.assert_array_equal(sincs.decode(tmp_path / "l.sincs"), small)
    assert report.met and report.max_abs_error == 0
    with sincs.open_sincs(tmp_path / "l.sincs") as lazy:
        assert lazy.header.config.ratio < 100, "the base ratio was lowered until a network fit"
