"""Landing a trained file in its budget: step scales first, then the secant on log(size)
against log(lambda)."""

from __future__ import annotations

import math

import pytest

from napari_sincs.codec import presets
from napari_sincs.codec.families.latent.landing import (
    _next_lambda,
    _saturated,
    _weighing,
    _weightless,
    scale_tries,
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


def _sizes(size_at_one: float, slope: float = -1.4):
    """A coder whose size falls as a power of the step scale, counting its calls."""
    calls = []

    def code(log_scale: float) -> tuple[float, object]:
        calls.append(log_scale)
        return math.log(size_at_one) + slope * log_scale, f"blobs at {log_scale:.3f}"

    return code, calls


def test_scaling_the_steps_lands_a_file_too_large_in_its_band():
    code, calls = _sizes(1100.0)
    tries = scale_tries(code, (math.log(1100.0), "trained"), 950.0, 1000.0)
    assert math.log(950.0) <= tries[-1][1] <= math.log(1000.0)
    assert tries[-1][0] > 0, "a file too large is coded with coarser steps"
    assert len(calls) == 1, "one coding where the assumed slope holds"


def test_scaling_the_steps_follows_a_measured_slope_and_brackets_the_aim():
    code, calls = _sizes(800.0, slope=-0.6)
    tries = scale_tries(code, (math.log(800.0), "trained"), 950.0, 1000.0)
    assert math.log(950.0) <= tries[-1][1] <= math.log(1000.0)
    assert tries[-1][0] < 0, "a file too small is coded with finer steps"
    assert len(calls) <= 3


def test_scaling_the_steps_stops_at_its_range():
    code, calls = _sizes(400.0)
    tries = scale_tries(code, (math.log(400.0), "trained"), 950.0, 1000.0)
    bound = math.log(presets.LATENT_SCALE_RANGE)
    assert tries[-1][0] == pytest.approx(-bound), "the finest steps allowed were tried"
    assert all(abs(t[0]) <= bound + 1e-12 for t in tries)
    assert len(calls) <= presets.LATENT_SCALE_TRIES


def test_scaling_the_steps_copes_with_sizes_that_do_not_fall_monotonically():
    # rounding noise: a slightly coarser step gave a slightly larger file
    sizes = {0.0: 1040.0}

    def code(log_scale: float) -> tuple[float, object]:
        size = 1040.0 * math.exp(-1.4 * log_scale) * (1.03 if log_scale > 0.02 else 1.0)
        sizes[log_scale] = size
        return math.log(size), None

    tries = scale_tries(code, (math.log(1040.0), None), 950.0, 1000.0)
    assert math.log(950.0) <= tries[-1][1] <= math.log(1000.0)
