"""The benchmark harness's quick mode, as a smoke test: real codecs on a real image at 100×."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from benchmarks.__main__ import main
from benchmarks.datasets import Dataset
from benchmarks.rd import resolve_codecs
from benchmarks.report import read, write
from benchmarks.targets import check

CODECS = {
    "napari-sincs",
    "napari-sincs (family=grid)",
    "napari-sincs (family=latent)",
    "napari-sincs (family=latent, preset=fast)",
    "JPEG 2000",
    "HEVC",
    "JPEG XL",
    "SZ3",
    "ZFP",
    "INR-S (one SIREN)",
}


@pytest.mark.slow
def test_quick_run_measures_every_codec_and_writes_the_report(tmp_path, data_dir):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(data_dir / "nuclei3d_crop.tif", data / "nuclei3d.tif")
    docs = tmp_path / "docs"
    (docs / "results").mkdir(parents=True)
    csv_path = docs / "results" / "rd_quick.csv"
    assert (
        main(["--data", str(data), "rd", "--quick", "--csv", str(csv_path), "--repeats", "1"]) == 0
    )
    rows = read("rd_quick.csv", docs / "results")
    assert {r["codec"] for r in rows} == CODECS
    sincs = next(r for r in rows if r["codec"] == "napari-sincs")
    assert sincs["reached"] == "True"
    assert float(sincs["ratio"]) >= 95
    assert float(sincs["psnr"]) > 15
    assert float(sincs["ssim"]) > 0
    for row in rows:
        assert row["reached"] == "True" or row["setting"], "every miss says why"
    page = write("test machine", "python -m benchmarks rd --quick", docs, "rd_quick.csv")
    text = page.read_text()
    assert "| nuclei3d | 100× |" in text
    summary = text.split("## napari-sincs against the best classical codec")[1].split("##")[0]
    assert f"| nuclei3d | 100× | {sincs['psnr']} / {sincs['ssim']} |" in summary
    network = text.split("## Network family")[1].split("##")[0]
    assert f"{sincs['psnr']} / {sincs['ssim']} (pe_mlp)" in network, "auto picks pe_mlp for z"
    latent = text.split("## Latent family")[1].split("##")[0]
    assert "| nuclei3d | 100× |" in latent
    fast = next(r for r in rows if r["codec"] == "napari-sincs (family=latent, preset=fast)")
    if fast["reached"] == "True":
        assert f"{fast['psnr']} / {fast['ssim']}, {fast['encode_s']} s" in latent
    else:
        assert "not reachable" in latent
    assert (docs / "images" / "rd_psnr.png").stat().st_size > 1000


def test_codecs_are_named_by_their_start_and_unknown_names_list_the_choices():
    assert resolve_codecs(["inr-s", "napari-sincs"]) == ["INR-S (one SIREN)", "napari-sincs"]
    for bad in ("napari", "webp"):
        with pytest.raises(SystemExit, match="choose from: 'napari-sincs'"):
            resolve_codecs([bad])


def test_targets_compare_with_the_best_classical_codec_and_convert_times_to_rates(data_dir):
    dataset = Dataset("nuclei3d", data_dir / "nuclei3d_crop.tif", "zyx")
    voxels = dataset.load().size

    def row(codec, target, psnr, ssim, **extra):
        fields = {"dataset": "nuclei3d", "codec": codec, "target": str(target), "reached": "True"}
        fields |= {"psnr": str(psnr), "ssim": str(ssim), "setting": "pe_mlp: 1 groups"}
        return fields | extra

    seconds = {"decode_s": str(voxels / 5e6), "encode_s": str(voxels / 1e5), "region_ms": "3"}
    rows = [
        row("napari-sincs", 100.0, 30.0, 0.80, **seconds),
        row("HEVC", 100.0, 29.0, 0.70),
        row("INR-S (one SIREN)", 100.0, 35.0, 0.90),
        row("napari-sincs", 300.0, 25.0, 0.70, **seconds),
        row("JPEG 2000", 300.0, 26.0, 0.60),
    ]
    at_100, at_300 = check(rows, [dataset])
    assert at_100["rate-distortion"] == "met (+1.00 dB, SSIM +0.100)", "INR-S is not classical"
    assert at_100["best classical"] == "HEVC 29.0 / 0.7"
    assert at_100["decode Mvoxel/s (≥ 5)"] == "5"
    assert at_100["compress Mvoxel/s (≥ 0.2)"] == "0.1"
    assert at_300["rate-distortion"] == "missed (-1.00 dB, SSIM +0.100)"


def test_seams_show_steps_at_tile_borders_and_the_control_does_not():
    from benchmarks.seams import border_ratio

    rng = np.random.default_rng(0)
    smooth = rng.normal(100, 1, (64, 64))
    stepped = smooth.copy()
    stepped[:, 32:] += 20  # a seam at the border between two 32-wide tiles along x
    assert border_ratio(smooth, "yx", (1, 64, 32)) == pytest.approx(1.0, abs=0.15)
    assert border_ratio(stepped, "yx", (1, 64, 32)) > 5
    assert border_ratio(smooth, "yx", (1, 64, 32), shift=0.5) == pytest.approx(1.0, abs=0.15)
    assert border_ratio(stepped, "yx", (1, 64, 32), shift=0.5) < 1, "mid-tile lines miss it"
    assert border_ratio(smooth, "yx", (1, 64, 64)) is None, "one tile has no border"


def test_the_local_seam_measure_ignores_how_content_varies_along_the_axis():
    """A stack whose jumps grow towards its middle (dense nuclei there, empty planes at the
    ends) has a border ratio far above 1 at a middle border without any seam; the local
    measure, against the lines either side, stays at 1 and still sees a real step."""
    from benchmarks.seams import border_ratio, local_ratio

    rng = np.random.default_rng(0)
    rising, falling = np.linspace(0.2, 3, 8), np.linspace(3, 0.2, 8)
    dense = np.concatenate([np.full(12, 0.2), rising, np.full(8, 3.0), falling, np.full(12, 0.2)])
    stack = np.cumsum(rng.normal(0, 1, (48, 16, 16)) * dense[:, None, None], axis=0)
    assert border_ratio(stack, "zyx", (24, 16, 16)) > 1.5
    assert local_ratio(stack, "zyx", (24, 16, 16)) == pytest.approx(1.0, abs=0.2)
    stepped = stack.copy()
    stepped[24:] += 10
    assert local_ratio(stepped, "zyx", (24, 16, 16)) > 2
    assert local_ratio(stack, "zyx", (48, 16, 16)) is None


def test_viewer_benchmark_scrubs_and_opens_the_3d_view_at_the_level_asked(
    tmp_path, monkeypatch, capsys
):
    import json

    from napari_sincs._napari.prefetch import prefetch_planes, shared_prefetcher
    from napari_sincs._napari.sample_data import sample_path

    before = shared_prefetcher().planes
    monkeypatch.setenv("NAPARI_SINCS_VOLUME_VOXELS", "1")
    sample = str(sample_path("cells3d_nuclei.sincs"))
    out = tmp_path / "viewer"
    try:
        argv = ["viewer", sample, "--out", str(out), "--prefetch", "0", "--volume-voxels", "1"]
        assert main([*argv, "--repeats", "1"]) == 0
    finally:
        prefetch_planes(before)
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["scrub_planes"] == 30 and row["scrub_misses_per_step"] > 0
    assert row["level_3d"] == 2, "a budget of one voxel leaves napari's coarsest level"
    assert row["setting"] == "sincs, prefetch 0, 3D budget 1"
    assert "view_3d_s" in (tmp_path / "viewer.md").read_text()


def test_viewer_benchmark_browses_dask_layer_data_over_the_same_file(monkeypatch, capsys):
    import json

    from napari_sincs._napari.prefetch import prefetch_planes, shared_prefetcher
    from napari_sincs._napari.sample_data import sample_path

    before = shared_prefetcher().planes
    sample = str(sample_path("cell_migration_2dt.sincs"))
    try:
        argv = ["viewer", sample, "--layer-data", "dask", "--prefetch", "0", "--repeats", "2"]
        assert main(argv) == 0
    finally:
        prefetch_planes(before)
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["layer_data"] == "dask" and row["shape"] == "48×130×130"
    assert row["scrub_planes"] == 30 and row["scrub_misses_per_step"] > 0, "dask decodes the file"


def test_a_part_of_a_table_measured_again_replaces_only_its_rows(tmp_path, monkeypatch):
    import benchmarks.__main__ as harness

    monkeypatch.setattr(harness, "RESULTS", tmp_path)
    old = [
        {"dataset": "a", "variant": "defaults", "psnr": 30.0},
        {"dataset": "a", "variant": "tiles", "psnr": 29.0},
        {"dataset": "b", "variant": "tiles", "psnr": 40.0},
    ]
    harness.write_table(old, "t", "T")
    again = [{"dataset": "a", "variant": "tiles", "psnr": 31.5}, {"dataset": "c", "variant": "x"}]
    merged = harness._merged(again, "t", ("dataset", "variant"))
    assert [(r["dataset"], r["variant"], str(r["psnr"])) for r in merged[:3]] == [
        ("a", "defaults", "30.0"),
        ("a", "tiles", "31.5"),
        ("b", "tiles", "40.0"),
    ]
    assert merged[3]["dataset"] == "c"
