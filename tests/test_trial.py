"""The trial on a crop: which crop, and a real compression of it that reports and decodes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, flat_psnr, load
from napari_sincs import CompressionConfig, trial
from napari_sincs.codec.families import get_family
from napari_sincs.codec.metrics import psnr


def _voxels(box):
    return math.prod(piece.stop - piece.start for piece in box)


@pytest.mark.parametrize(
    ("shape", "axes"),
    [
        ((60, 256, 256), "zyx"),
        ((48, 130, 130), "tyx"),
        ((2048, 2048), "yx"),
        ((5, 40, 400, 400), "tzyx"),
    ],
)
def test_a_crop_holds_an_eighth_of_the_image_around_the_centre(shape, axes):
    centre = [n / 2 for n in shape]
    box = trial.trial_box(shape, axes, centre)
    total = math.prod(shape)
    target = min(max(total / trial.SHARE, trial.MIN_VOXELS), trial.MAX_VOXELS)
    assert 0.75 * target <= _voxels(box) <= target
    for piece, n, at in zip(box, shape, centre):
        assert 0 <= piece.start < piece.stop <= n
        assert abs((piece.start + piece.stop) / 2 - at) <= 1
        assert piece.stop - piece.start >= min(n, trial.MIN_EXTENT)


def test_channels_stay_whole_and_a_crop_near_an_edge_moves_inside():
    box = trial.trial_box((3, 2000, 3000), "cyx", (1, 0, 2999))
    assert box[0] == slice(0, 3)
    assert box[1].start == 0 and box[2].stop == 3000
    assert _voxels(box[1:]) <= trial.MAX_VOXELS


def test_a_small_image_is_tried_whole():
    assert trial.trial_box((16, 48, 48), "zyx", (8, 24, 24)) == (
        slice(0, 16),
        slice(0, 48),
        slice(0, 48),
    )


def test_a_centre_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="must match"):
        trial.trial_box((64, 64), "yx", (32,))


def test_a_trial_compresses_the_crop_as_the_whole_would_be_and_decodes_it(monkeypatch):
    monkeypatch.setattr(trial, "MIN_VOXELS", 0)
    data = np.tile(load("nuclei2d_crop.tif"), (4, 4))
    edited = np.ones(data.shape, dtype=np.float32)
    result = sincs.run_trial(data, (300, 200), axes="yx", config=FAST, saliency=edited)
    crop = data[result.box]
    assert result.share == pytest.approx(crop.size / data.size)
    assert 0.09 <= result.share <= 1 / trial.SHARE
    assert result.decoded.shape == crop.shape and result.decoded.dtype == data.dtype
    assert result.report.ratio >= 20
    assert result.report.psnr == pytest.approx(psnr(crop, result.decoded), abs=0.01)
    assert result.report.psnr > flat_psnr(crop) + 5
    assert result.whole_seconds == pytest.approx(result.report.seconds / result.share)
    text = trial.describe(result)
    assert f"y {result.box[0].start}–{result.box[0].stop - 1}" in text
    assert f"{result.report.ratio:.1f}×" in text and "The whole image" in text


def test_auto_chooses_the_family_of_the_whole_image_not_of_the_crop(monkeypatch):
    from napari_sincs.codec import presets

    monkeypatch.setattr(trial, "MIN_VOXELS", 0)
    monkeypatch.setattr(presets, "LATENT_AUTO_MAX_VOXELS", 100_000)
    data = np.tile(load("nuclei2d_crop.tif"), (4, 4))
    auto = FAST.replace(family="auto")
    result = sincs.run_trial(data, (300, 200), axes="yx", config=auto)
    crop_alone = auto.for_shape((1, 1, 1, *data[result.box].shape)).family
    assert crop_alone == "latent", "the crop is below the latent family's voxel limit"
    assert result.report.family == "pe_mlp", "the whole image is above it: the trial shows that"


def test_the_latent_family_s_time_is_scaled_by_its_steps_the_others_by_their_voxels():
    whole, crop = (1, 1, 60, 256, 256), (1, 1, 30, 128, 128)
    latent = CompressionConfig(family="latent", ratio=100)
    steps = [get_family("latent").fit_steps(shape, latent.resolved()) for shape in (whole, crop)]
    floor = sincs.codec.presets.PRESETS["balanced"].latent_min_steps
    assert steps[1] == floor < steps[0], "the crop trains the preset's floor of steps"
    assert trial._time_scale(latent, whole, crop) == steps[0] / steps[1] < 8
    pe_mlp = CompressionConfig(family="pe_mlp", ratio=100)
    assert trial._time_scale(pe_mlp, whole, crop) == 8.0


def test_the_steps_counted_for_a_trial_are_those_a_latent_fit_trains(tmp_path, monkeypatch):
    from napari_sincs.codec import presets

    short = dataclasses.replace(presets.PRESETS["fast"], latent_epochs=10, latent_min_steps=20)
    monkeypatch.setitem(presets.PRESETS, "fast", short)
    data = np.tile(load("nuclei2d_crop.tif"), (4, 4))
    config = CompressionConfig(family="latent", ratio=20, preset="fast")
    totals = set()
    sincs.compress(
        data,
        tmp_path / "a.sincs",
        axes="yx",
        config=config,
        progress=lambda event: totals.add(event.steps) if event.stage == "fit" else None,
    )
    planned = get_family("latent").fit_steps((1, 1, 1, *data.shape), config.resolved())
    assert planned == 40, "four patches an epoch, ten epochs"
    assert planned in totals and max(totals) == planned
