"""The `sincs` command line, run in-process on real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_sincs.cli import EXIT_ERROR, EXIT_MISSED, main, parse_roi
from napari_sincs.codec.errors import InvalidInputError

FAST = ["--ratio", "20", "--steps", "150", "-q"]


def test_compress_info_decompress_region_and_level(tmp_path, data_dir, capsys):
    source = data_dir / "nuclei3d_crop.tif"
    out = tmp_path / "n.sincs"
    assert main(["compress", str(source), "-o", str(out), *FAST, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ratio"] >= 20 and report["axes"] == "zyx"

    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [16, 48, 48]
    assert info["scale"] == pytest.approx({"x": 0.5, "y": 0.5, "z": 1.0})
    assert info["stats"]["psnr"] == round(report["psnr"], 2), "the file keeps 2 decimals"

    full = tmp_path / "full.tif"
    assert main(["decompress", str(out), "-o", str(full)]) == 0
    region = tmp_path / "region.tif"
    assert main(["decompress", str(out), "-o", str(region), "--roi", "2:5,10:20,:"]) == 0
    coarse = tmp_path / "coarse.tif"
    assert main(["decompress", str(out), "-o", str(coarse), "--level", "1"]) == 0
    whole = tifffile.imread(full)
    np.testing.assert_array_equal(tifffile.imread(region), whole[2:5, 10:20, :])
    np.testing.assert_array_equal(tifffile.imread(coarse), whole[:, ::2, ::2])
    with tifffile.TiffFile(full) as tif:
        assert tif.is_ome and tif.series[0].axes == "ZYX"

    assert main(["info", str(out)]) == 0
    assert "ratio" in capsys.readouterr().out


def test_the_network_family_is_chosen_on_the_command_line(tmp_path, data_dir, capsys):
    out = tmp_path / "g.sincs"
    source = str(data_dir / "nuclei3d_crop.tif")
    assert main(["compress", source, "-o", str(out), *FAST, "--family", "grid"]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["family"] == "grid"


def test_the_preset_is_chosen_on_the_command_line_and_checked(tmp_path, data_dir, capsys):
    out = tmp_path / "p.sincs"
    source = str(data_dir / "nuclei3d_crop.tif")
    fast = ["--ratio", "20", "--preset", "fast", "-q"]
    assert main(["compress", source, "-o", str(out), *fast]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["preset"] == "fast"
    with pytest.raises(SystemExit):
        main(["compress", source, "-o", str(out), "--preset", "quick"])
    assert "invalid choice: 'quick'" in capsys.readouterr().err


def test_errors_are_one_line_without_traceback(tmp_path, data_dir, capsys):
    source = data_dir / "nuclei2d_crop.tif"
    cases = [
        (["compress", str(tmp_path / "missing.tif")], "does not exist"),
        (
            ["compress", str(source), "-o", str(tmp_path / "x.sincs"), "--ratio", "90000", "-q"],
            "ratio",
        ),
        (["compress", str(source), "--axes", "zyx", "-q"], "names 3 dimensions"),
        (["info", str(source)], "not a .sincs file"),
        (["decompress", str(tmp_path / "none.sincs")], "does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) == EXIT_ERROR
        err = capsys.readouterr().err.strip()
        assert err.startswith("sincs: error:") and message in err
        assert "Traceback" not in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("*.sincs"))


def test_existing_output_needs_force(tmp_path, data_dir, capsys):
    out = tmp_path / "a.sincs"
    out.write_bytes(b"keep me")
    source = str(data_dir / "nuclei2d_crop.tif")
    assert main(["compress", source, "-o", str(out), *FAST]) == EXIT_ERROR
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["compress", source, "-o", str(out), *FAST, "--force"]) == 0


def test_roi_parsing():
    assert parse_roi("2:5,:", (10, 20, 30)) == (slice(0, 10), slice(2, 5), slice(0, 30))
    assert parse_roi("3", (10, 20)) == (slice(0, 10), slice(3, 4))
    with pytest.raises(InvalidInputError, match="at most one range per axis"):
        parse_roi("1:2,1:2,1:2", (4, 4))
    with pytest.raises(InvalidInputError, match="selects nothing"):
        parse_roi("5:5", (10,))
    with pytest.raises(InvalidInputError, match="not a range"):
        parse_roi("a:b", (10,))
    with pytest.raises(InvalidInputError, match="goes past an axis of 10"):
        parse_roi("0:500", (10,))
    assert parse_roi("-3:", (10,)) == (slice(7, 10),)


def test_info_rounds_a_level_past_the_pyramid_is_refused_and_floor_is_an_option(
    tmp_path, data_dir, capsys
):
    out = tmp_path / "n.sincs"
    source = str(data_dir / "nuclei3d_crop.tif")
    assert main(["compress", source, "-o", str(out), *FAST, "--floor", "0.2"]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    printed = capsys.readouterr().out
    psnr = next(line for line in printed.splitlines() if "stats" in line)
    assert re.search(r"'psnr': '\d+\.\d{1,2}'", psnr), psnr
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["saliency_floor"] == 0.2
    assert main(["decompress", str(out), "-o", str(tmp_path / "c.tif"), "--level", "9"]) == 1
    assert "choose 0 to 4" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path, data_dir, capsys):
    out = tmp_path / "n.sincs"
    assert main(["compress", str(data_dir / "nuclei3d_crop.tif"), "-o", str(out), *FAST]) == 0
    command = [sys.executable, "-m", "napari_sincs.cli", "info", str(out)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as info:
        info.stdout.close()  # before the child has printed anything
        err = info.stderr.read().decode()
    assert info.returncode == EXIT_ERROR
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_exit_codes_tell_usage_errors_and_missed_guarantees_apart(tmp_path, data_dir, capsys):
    source = str(data_dir / "nuclei2d_crop.tif")
    with pytest.raises(SystemExit) as usage:
        main(["compress", source, "--no-such-option"])
    assert usage.value.code == 2
    out = tmp_path / "s.sincs"
    unreachable = ["--psnr", "150", "--steps", "20", "-q", "-o", str(out)]
    assert main(["compress", source, *unreachable]) == 0, "without --strict a miss only warns"
    assert "sincs: warning:" in capsys.readouterr().err
    assert main(["compress", source, *unreachable, "--force", "--strict"]) == EXIT_MISSED
    assert "sincs: error:" in capsys.readouterr().err and out.is_file()


def test_verbose_goes_before_or_after_the_subcommand(tmp_path, data_dir):
    from napari_sincs.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["-v", "info", "f.sincs"]).verbose
    assert parser.parse_args(["info", "f.sincs", "-v"]).verbose
    assert not parser.parse_args(["info", "f.sincs"]).verbose


@pytest.mark.slow
def test_demo_round_trips_the_sample_with_progress(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "region 10:20,16:48,16:48 decoded alone" in captured.out
    assert "fitting" in captured.err, "the demo shows the progress of a minutes-long compression"
    assert (tmp_path / "preview.png").is_file() and (tmp_path / "nuclei3d.sincs").is_file()


def test_a_folder_is_compressed_file_by_file_past_one_that_fails(tmp_path, data_dir, capsys):
    import shutil

    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(data_dir / "nuclei2d_crop.tif", folder / "a.ome.tif")
    shutil.copy(data_dir / "nuclei3d_crop.tif", folder / "b.tif")
    (folder / "c.tif").write_bytes(b"not a tiff")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    fast = ["--ratio", "20", "--steps", "60", "-q"]
    assert main(["compress", str(folder), "-o", str(out), *fast, "--json"]) == EXIT_ERROR
    captured = capsys.readouterr()
    reports = json.loads(captured.out)
    assert [r["path"] for r in reports] == [str(out / "a.sincs"), str(out / "b.sincs")]
    assert sorted(p.name for p in out.iterdir()) == ["a.sincs", "b.sincs"]
    assert "sincs: error: c.tif: " in captured.err
    assert "sincs: 2 of 3 compressed; failed: c.tif" in captured.err

    # Several files beside themselves; one output file for several inputs is refused.
    a, b = folder / "a.ome.tif", folder / "b.tif"
    assert main(["compress", str(a), str(b), *fast]) == 0
    assert (folder / "a.sincs").is_file() and (folder / "b.sincs").is_file()
    assert main(["compress", str(a), str(b), "-o", str(tmp_path / "x.sincs"), *fast]) == 1
    assert "give -o a folder" in capsys.readouterr().err
    assert main(["compress", str(tmp_path / "images"), str(a), "-o", str(out), *fast]) == 1
    assert "several inputs would be written to a.sincs" in capsys.readouterr().err
