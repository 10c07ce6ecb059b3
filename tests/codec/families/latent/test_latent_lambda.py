"""Steering lambda to a budget after training: the secant on log(size) against log(lambda)."""

from __future__ import annotations

import math

import pytest

from napari_sincs.codec import presets
from napari_sincs.codec.families.latent.fit import (
    _next_lambda,
    _saturated,
    _weighing,
    _weightless,
)


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


def test_a_flat_or_inverted_slope_under_the_aim_falls_back_to_the_elasticity():
    # refining moved the size the wrong way (noise): the secant would throw lambda 100x away
    tries = [(0.0, math.log(800.0), None), (-0.1, math.log(780.0), None)]
    aim = math.log(950.0)
    expected = -0.1 + (aim - math.log(780.0)) / -presets.LATENT_ELASTICITY
    assert _next_lambda(tries, aim) == pytest.approx(expected)


def test_a_file_too_large_that_ignores_lambda_escalates_it():
    # cell_phase at the best preset: 4378 then 4345 bytes for 3630 while lambda grew 1.5x; the
    # elasticity would move lambda 1.5x again, and four such tries ended in an error
    tries = [
        (math.log(1.07e-6), math.log(4378.0), None),
        (math.log(1.64e-6), math.log(4345.0), None),
    ]
    aim = math.log(3539.0)
    escalated = _next_lambda(tries, aim)
    assert escalated == pytest.approx(math.log(1.64e-6 * presets.LATENT_ESCALATION))
    inverted = [(0.0, math.log(1000.0), None), (0.1, math.log(1080.0), None)]
    assert _next_lambda(inverted, math.log(950.0)) == pytest.approx(
        0.1 + math.log(presets.LATENT_ESCALATION)
    )


def test_saturation_needs_a_lower_lambda_that_buys_nothing():
    low = 1000.0
    lowered = [(0.0, math.log(800.0), None), (-1.0, math.log(802.0), None)]
    assert _saturated(lowered, low)
    raised = [(0.0, math.log(800.0), None), (1.0, math.log(700.0), None)]
    assert not _saturated(raised, low), "raising lambda and shrinking is not saturation"
    floored = [(-18.4, math.log(800.0), None), (-18.4, math.log(801.0), None)]
    assert _saturated(floored, low), "lambda at its floor twice: nothing more to try"
    grew = [(0.0, math.log(800.0), None), (-1.0, math.log(900.0), None)]
    assert not _saturated(grew, low)


def test_a_lambda_too_small_to_weigh_on_the_loss_is_left_alone():
    """cell_phase ended training at lambda 1.1e-8, 0.04 bits per voxel and a distortion of
    1.6e-4 (37.9 dB), 5% under its band: four refinements only trained longer and overshot.
    cell_migration_2dt, steered normally (lambda 2.2e-3, 0.15 bits, 4.8e-4), is refined."""
    assert _weightless(1.1e-8, 1.6e-4, 0.04)
    assert not _weightless(2.2e-3, 4.8e-4, 0.15)


def test_a_weightless_file_over_budget_refines_where_lambda_weighs():
    """cells3d_nuclei 300x trained at lambda 1e-8 (distortion 2.8e-4, 0.053 bits per voxel) and
    came out 10% over its budget: the secant alone would refine at ~1.3e-8, where the latents
    grow eightfold. The lambda where the rate weighs is within the range files land at."""
    distortion, rate = 2.8e-4, 0.053
    assert _weightless(1e-8, distortion, rate)
    lam = _weighing(distortion, rate)
    assert not _weightless(lam, distortion, rate)
    assert 1e-4 < lam < 1e-2
    assert lam * rate < distortion, "the rate weighs, but less than the distortion"
