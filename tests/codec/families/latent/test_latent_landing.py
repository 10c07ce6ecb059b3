"""Landing a file in its band where the step scale cannot: dead zones, and the header's slack."""

from __future__ import annotations

import math

import numpy as np
import torch

from helpers import latent_trainer, load
from napari_sincs import compress
from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.encode.job import header_bytes, header_slack
from napari_sincs.codec.families.latent.fit import _in_steps, _Run
from napari_sincs.codec.families.latent.landing import (
    _coder,
    _dead_zone_tries,
    _in_band,
    scale_tries,
)
from napari_sincs.codec.format.container import SincsFile
from napari_sincs.lazy import open_sincs


def test_a_dead_zone_rounds_towards_zero_only_the_latents_just_above_a_boundary():
    values = torch.tensor([0.5004, -0.5004, 1.49, 2.5001, -2.6, 0.7])
    assert _in_steps(values, 1.0).tolist() == [1, -1, 1, 3, -3, 1]
    assert _in_steps(values, 1.0, 0.001).tolist() == [0, 0, 1, 2, -3, 1]
    assert _in_steps(values * 4, 4.0, 1e-5).tolist() == [1, -1, 1, 3, -3, 1]


def test_a_dead_zone_lands_a_file_whose_latents_sit_on_rounding_boundaries():
    """Training leaves many latents just above a rounding boundary; a slightly coarser step
    flips them all, and the size jumps over the band. A dead zone flips them nearest first."""
    trainer = latent_trainer()
    steps = trainer.quantisation_steps(1.0)
    rng = np.random.default_rng(0)
    for grid, step in zip(trainer.latents[0].grids, steps):
        magnitude = rng.integers(0, 3, grid.shape) + 0.5 + rng.uniform(1e-7, 1e-4, grid.shape)
        signed = np.where(rng.random(grid.shape) < 0.5, -magnitude, magnitude)
        grid.copy_(torch.from_numpy(signed * step))
    run = _Run(trainer, None, CompressionConfig(family="latent"), 8.0, 0, 1.0)
    blobs = run.code()
    trained = run.size
    run.code(math.log(1.001))
    assert run.size < 0.9 * trained, "one step scale flips the boundary's latents together"
    budget = trained - 0.02 * (trained - run.size)
    low, run.budget = 0.95 * budget, budget
    tries = scale_tries(_coder(run), (math.log(trained), blobs), low, budget)
    assert _in_band(tries, low, budget) is None, "scaling the steps jumps over the band"
    landed = _dead_zone_tries(run, tries, low, budget)
    assert landed is not None and math.log(low) <= landed[1] <= math.log(budget)
    assert 1e-7 <= run.deadzone <= 1e-4, "only latents within the dead zone moved"
    assert landed[0] == 0.0, "at the scale that was over the budget"


def test_the_header_written_takes_at_most_the_reserved_bytes_and_at_least_less_its_slack(
    tmp_path,
):
    path = tmp_path / "crop.sincs"
    compress(load("nuclei2d_crop.tif"), path, axes="yx", ratio=20, family="latent", steps=30)
    with open_sincs(path) as lazy:
        header = lazy.header
    written = SincsFile(path)
    try:
        head = written.file_size - sum(len(written.read_blob(i)) for i in range(written.n_blobs))
    finally:
        written.close()
    slack = header_slack(header)
    assert 0 < slack < 64
    assert header_bytes(header) - slack <= head <= header_bytes(header)
