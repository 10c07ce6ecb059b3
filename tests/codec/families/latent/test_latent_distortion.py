"""The training distortion is the error of the values the decoder gives: clipped to the range."""

from __future__ import annotations

import torch

from helpers import latent_trainer


def _distortion(trainer, predicted: torch.Tensor) -> torch.Tensor:
    data = trainer.volumes[0]
    cuts = tuple(slice(0, n) for n in data.values.shape)
    return trainer._distortion(data, cuts, predicted)


def test_predictions_past_the_range_cost_nothing_where_the_clip_restores_them():
    trainer = latent_trainer()
    target = trainer.volumes[0].values.reshape(-1)
    predicted = target.clone()
    lowest, highest = int(target.argmin()), int(target.argmax())
    assert float(target[lowest]) == 0.0 and float(target[highest]) == 1.0
    predicted[lowest] = -0.3
    predicted[highest] = 1.4
    assert float(_distortion(trainer, predicted)) == 0.0


def test_a_prediction_clipped_away_from_its_target_is_pulled_back():
    trainer = latent_trainer()
    target = trainer.volumes[0].values.reshape(-1)
    inside = int(torch.nonzero((target > 0.2) & (target < 0.8))[0])
    predicted = target.clone()
    predicted[inside] = -0.5
    predicted.requires_grad_()
    distortion = _distortion(trainer, predicted)
    expected = float(target[inside]) ** 2 / target.numel()
    assert abs(float(distortion) - expected) < 1e-9
    distortion.backward()
    assert float(predicted.grad[inside]) < 0, "descent raises the prediction towards its target"
    assert int(torch.count_nonzero(predicted.grad)) == 1
