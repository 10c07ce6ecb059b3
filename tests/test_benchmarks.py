"""The benchmark harness's quick mode, as a smoke test: real codecs on a real image at 100×."""

from __future__ import annotations

import shutil

import pytest
from benchmarks.__main__ import main
from benchmarks.rd import resolve_codecs
from benchmarks.report import read, write

CODECS = {
    "napari-sincs",
    "napari-sincs (family=grid)",
    "JPEG 2000",
    "HEVC",
    "JPEG XL",
    "SZ3",
    "ZFP",
    "INR-S (one SIREN)",
}


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
    assert (docs / "images" / "rd_psnr.png").stat().st_size > 1000


def test_codecs_are_named_by_their_start_and_unknown_names_list_the_choices():
    assert resolve_codecs(["inr-s", "napari-sincs"]) == ["INR-S (one SIREN)", "napari-sincs"]
    for bad in ("napari", "webp"):
        with pytest.raises(SystemExit, match="choose from: 'napari-sincs'"):
            resolve_codecs([bad])
