"""AWC, t-SNE entropy and the segmentation fidelity report, on real files and real images."""

from __future__ import annotations

import json

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, load
from napari_sincs.analysis import analyze, awc, embedding_entropy
from napari_sincs.cli import main
from napari_sincs.fidelity import fidelity, match, segment


def test_awc_is_the_largest_gap_between_distribution_functions():
    values = np.arange(100.0)
    assert awc(values, values[::-1]) == 0.0
    assert awc(np.zeros(10), np.ones(10)) == 1.0
    assert awc(values[:50], values) == pytest.approx(0.5)


def test_embedding_entropy_counts_occupied_cells():
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8)), -1).reshape(-1, 2).astype(float)
    assert embedding_entropy(grid + 0.5) == pytest.approx(6.0)
    cluster = np.vstack([np.zeros((63, 2)), [[1.0, 1.0]]])
    assert embedding_entropy(cluster) < 0.2


@pytest.mark.slow
def test_neighbouring_groups_of_a_real_file_are_alike(tmp_path, capsys):
    data = load("nuclei3d_crop.tif")
    path = tmp_path / "n.sincs"
    sincs.compress(data, path, axes="zyx", config=FAST, block=(8, 16, 16))
    with sincs.open_sincs(path) as lazy:
        result = analyze(lazy)
        groups = len(lazy.header.plan)
    assert groups == 18 and len(result.pairs) == groups - 1
    summary = result.summary()
    assert 0 <= summary["weight_awc_median"] < 0.2, "transferred weights stay alike"
    assert result.embedding.shape == (groups, 2)
    assert 0 <= result.entropy <= result.max_entropy
    plot = tmp_path / "analysis.png"
    assert main(["analyze", str(path), "--plot", str(plot), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == groups - 1
    assert plot.stat().st_size > 5000


def test_segmentation_matching_is_one_to_one():
    yy, xx = np.mgrid[:40, :40]
    image = np.zeros((40, 40), dtype=np.uint16)
    image[(yy - 10) ** 2 + (xx - 10) ** 2 <= 25] = 1000
    image[(yy - 28) ** 2 + (xx - 27) ** 2 <= 36] = 1200
    labels = segment(image)
    assert labels.max() == 2
    shifted = np.roll(labels, 1, axis=1)
    pairs = match(labels, shifted)
    assert len(pairs) == 2 and all(0.7 < iou < 1 for _, _, iou in pairs)


def test_fidelity_of_a_compressed_image_against_ground_truth(tmp_path, data_dir, capsys):
    data = load("nuclei2d_crop.tif")
    same = fidelity(data, data, "yx")
    assert same.matched_fraction == 1.0 and same.foreground_iou == 1.0
    assert same.count_difference_percent == 0.0
    path = tmp_path / "n.sincs"
    sincs.compress(data, path, axes="yx", config=FAST)
    report = fidelity(data, sincs.decode(path), "yx")
    assert 0 < report.foreground_iou <= 1 and 0 <= report.matched_fraction <= 1
    original = data_dir / "nuclei2d_crop.tif"
    assert main(["fidelity", str(original), str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["objects_original"] == report.objects_original
    assert printed["psnr"] == pytest.approx(report.psnr)
    assert main(["fidelity", str(data_dir / "nuclei3d_crop.tif"), str(path)]) == 1
    assert "shape" in capsys.readouterr().err
