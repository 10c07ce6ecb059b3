"""The warm start of a whole-image latent fit: the image's pyramid read by a linear synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import latent_trainer
from napari_sincs import CompressionConfig
from napari_sincs.codec import presets
from napari_sincs.codec.families.latent import warm
from napari_sincs.codec.families.latent.fit import _forward, _warm_gain
from napari_sincs.codec.families.latent.reader import network_tensors


def test_the_pyramid_adds_up_to_the_image_but_for_its_finest_detail():
    trainer = latent_trainer()
    values = trainer.volumes[0].values
    mean = float(values.mean())
    grids = warm.pyramid(values, trainer.geometry, mean)
    assert [tuple(g.shape) for g in grids] == list(trainer.geometry.cells)
    cuts = tuple(slice(0, n) for n in values.shape)
    features = trainer._features(grids, trainer.latents[0].boxes, cuts)
    residual = values - mean - features.sum(dim=0).reshape(values.shape)
    assert float(residual.std()) < 0.35 * float(values.std())


def test_the_started_synthesis_adds_its_features_up():
    trainer = latent_trainer()
    warm.start(trainer, 30.0)
    levels = trainer.spec.levels
    features = torch.randn(levels, 500) * 20
    predicted = _forward(trainer.synthesis, features)[0]
    expected = trainer.synthesis[-1].bias + features.sum(dim=0) / 30.0
    torch.testing.assert_close(predicted, expected, rtol=1e-5, atol=1e-5)


def test_a_started_fit_already_codes_the_image_before_any_step():
    trainer = latent_trainer()
    variance = float(trainer.volumes[0].values.var())
    warm.start(trainer, 30.0)
    synthesis, _ = network_tensors(trainer.spec, trainer.network_vector().astype(np.float64))
    assert trainer.coded_error(synthesis, trainer.quantisation_steps()) < 0.15 * variance


def test_only_whole_volumes_and_wide_enough_syntheses_start_warm():
    assert warm.applies(latent_trainer())
    assert not warm.applies(latent_trainer(synthesis=(8, 8))), "6 levels need 12 units"
    assert not warm.applies(latent_trainer(tile=(0, 0, 0))), "a tile with a halo starts from zeros"


def test_a_plane_starts_warm_with_enough_visits_or_from_30x_with_a_gain_falling_above():
    trainer = latent_trainer()
    enough = presets.LATENT_WARM_MIN_EPOCHS * trainer.patches_per_epoch
    low = CompressionConfig(family="latent", ratio=30)
    assert _warm_gain(trainer, low, enough) == presets.LATENT_WARM_GAIN
    assert _warm_gain(trainer, low.replace(ratio=10), enough) == presets.LATENT_WARM_GAIN
    assert _warm_gain(trainer, low.replace(ratio=20), enough - 1) is None, "lands under budget"
    assert _warm_gain(trainer, low, enough - 1) == presets.LATENT_WARM_GAIN, "fast's few visits"
    assert _warm_gain(trainer, low.replace(ratio=100), enough) == pytest.approx(9.0)
    assert _warm_gain(trainer, low.replace(ratio=200), enough) is None


def test_z_stacks_start_warm_below_100x_and_with_enough_visits_only():
    trainer = latent_trainer(depth=4)
    assert trainer.geometry.d_axis == "z"
    enough = presets.LATENT_WARM_MIN_EPOCHS * trainer.patches_per_epoch
    low = CompressionConfig(family="latent", ratio=30)
    assert _warm_gain(trainer, low, enough) == presets.LATENT_WARM_GAIN
    assert _warm_gain(trainer, low, enough - 1) is None, "too few visits at any ratio"
    assert _warm_gain(trainer, low.replace(ratio=100), enough) is None
