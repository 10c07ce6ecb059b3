"""Steering lambda to a budget after training: the secant on log(size) against log(lambda)."""

from __future__ import annotations

import math

import pytest

from napari_sincs.codec import presets
from napari_sincs.codec.families.latent.fit import _next_lambda


def test_one_try_moves_lambda_by_the_assumed_elasticity():
    tries = [(math.log(1e-2), math.log(2000.0), None)]
    aim = math.log(1000.0)
    step = (aim - math.log(2000.0)) / -presets.LATENT_ELASTICITY
    assert _next_lambda(tries, aim) == pytest.approx(math.log(1e-2) + step)
    assert _next_lambda(tries, aim) > math.log(1e-2), "a file too large raises lambda"


def test_two_tries_follow_the_measured_slope_to_the_aim():
    # size = 100 * lambda ** -0.3: the secant through two tries lands on the aim in one step
    def size(lam: float) -> float:
        return math.log(100.0) - 0.3 * lam

    tries = [(lam, size(lam), None) for lam in (math.log(1e-3), math.log(1e-2))]
    aim = math.log(300.0)
    assert size(_next_lambda(tries, aim)) == pytest.approx(aim)


def test_a_flat_or_inverted_slope_cannot_throw_lambda_away():
    tries = [(0.0, math.log(1000.0), None), (1.0, math.log(1001.0), None)]
    assert abs(_next_lambda(tries, math.log(10.0)) - 1.0) <= math.log(100) + 1e-9
