"""Landing a trained latent file in its budget, in the band presets.LATENT_RATE_TOLERANCE under it.

First by scaling the quantisation steps: every level's latents are coded as round(latent /
(s * step)), with s folded into the synthesis's first layer like the steps themselves. The coded
size then moves smoothly and at once with s, for the price of coding the file again, not of
training: on cell_migration_2dt at 100x (360 steps), s = 0.9, 1, 1.05 and 1.1 gave 18 660,
16 335, 15 228 and 14 435 bytes at 32.43, 32.29, 32.13 and 32.01 dB (a slope of about -1.4 of
log size against log s). Where s would have to leave presets.LATENT_SCALE_RANGE, the state at
the end of training is refined at a fixed lambda chosen by a secant on log size against log
lambda, and the refined fit lands by its own scale.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from ... import presets
from ...errors import RatioUnreachableError

log = logging.getLogger(__name__)

LAMBDA_MIN = 1e-8

Try = tuple[float, float, object]
"""(log of the setting tried: a step scale or a lambda, log of the coded size, the blobs)."""


def land(run, refine: int, slack: int = 0):
    """The file's blobs within its budget (and within the band below it where it can get
    there), and how many fits that took. `run` is a trained fit (fit._Run); a refinement trains
    it `refine` more steps from the state at the end of training. Only refined tries enter the
    lambda secant: refining itself moves the size, so the trained file is not a point on the
    same curve. `slack`: bytes of the budget's header the file may leave unused (its stats
    shorter than reserved); the band's lower end is raised by them, at most to half the band,
    so that the file as written still lands in it."""
    budget = run.budget
    tolerance = presets.LATENT_RATE_TOLERANCE
    low = min((1 - tolerance) * budget + slack, (1 - tolerance / 2) * budget)
    aim = math.log((low + budget) / 2)
    blobs = run.code()
    trained = (math.log(run.lam), math.log(run.size), blobs)
    log.info("latent file: %d bytes for a budget of %.0f (lambda %.3g)", run.size, budget, run.lam)
    candidates = scale_tries(_coder(run), trained[1:], low, budget)
    landed = _in_band(candidates, low, budget) or _dead_zone_tries(run, candidates, low, budget)
    if landed is not None:
        return _finest_synthesis(run, landed, low)[2], 1
    if run.size < low and (run.lam <= LAMBDA_MIN or _weightless(run.lam, *run.recent)):
        log.info("lambda weighs nothing on the latents and the finest steps fit: keeping the fit")
        return _finest_synthesis(run, _largest(candidates, budget, run.config.ratio), low)[2], 1
    state = run.trainer.state()
    first = _next_lambda([trained], aim)
    if run.size > budget and _weightless(run.lam, *run.recent):
        first = max(first, math.log(_weighing(*run.recent)))
    refined: list[Try] = []
    for attempt in range(2, presets.LATENT_REFINES + 2):
        run.lam = math.exp(_next_lambda(refined, aim) if refined else first)
        run.trainer.restore(state)
        run.train(refine, 0.0, 0.5, attempt, steer=False)
        blobs = run.code()
        refined.append((math.log(run.lam), math.log(run.size), blobs))
        log.info("refined at lambda %.3g: %d bytes", run.lam, run.size)
        tries = scale_tries(_coder(run), refined[-1][1:], low, budget)
        candidates += tries
        landed = _in_band(tries, low, budget) or _dead_zone_tries(run, tries, low, budget)
        if landed is not None:
            return _finest_synthesis(run, landed, low)[2], attempt
        if _saturated(refined, low):
            log.info("lowering lambda does not use more of the budget; keeping the fit")
            break
    return _largest(candidates, budget, run.config.ratio)[2], 1 + len(refined)


def _dead_zone_tries(run, tries: list[Try], low: float, budget: float) -> Try | None:
    """Where scaling the steps jumps over the band (over the budget at one scale, under the band
    at a scale a little larger), the try over the budget closest to it coded with a dead zone
    (fit._in_steps: the latents within d above a rounding boundary rounded towards zero), d
    found by bisection of log d in presets.LATENT_DEAD_ZONE_RANGE in at most
    presets.LATENT_DEAD_ZONE_TRIES codings; None, the run's dead zone back at 0, where none
    lands. Such jumps come from latents that training left on a rounding boundary (the rate
    and the distortion pulling them across it in turn), which one scale flips together:
    cell_migration_2dt at 1000x took 1630 bytes at scale 1 and 1514 at 1.001 for a budget of
    1622 (a dead zone of 5e-6 gave 1618). A dead zone flips them a few at a time, nearest the
    boundary first: those cost the least distortion."""
    over = [t for t in tries if t[1] > math.log(budget)]
    if not over or not any(t[1] < math.log(low) for t in tries):
        return None
    start = min(over, key=lambda t: t[1])
    code = _coder(run)
    smallest, largest = (math.log(d) for d in presets.LATENT_DEAD_ZONE_RANGE)
    for _ in range(presets.LATENT_DEAD_ZONE_TRIES):
        run.deadzone = math.exp((smallest + largest) / 2)
        attempt = (start[0], *code(start[0]))
        log.info("dead zone %.2g: %.0f bytes", run.deadzone, math.exp(attempt[1]))
        if _lands(attempt, low, budget):
            return attempt
        if attempt[1] > math.log(budget):
            smallest = math.log(run.deadzone)
        else:
            largest = math.log(run.deadzone)
    run.deadzone = 0.0
    return None


def _finest_synthesis(run, landed: Try, low: float) -> Try:
    """The landed file, or the same fit coded with its synthesis's weights quantised more
    finely (presets.LATENT_SYNTHESIS_BITS, in order while each lowers the coded error; tried
    only where the weights as trained would lower it by presets.LATENT_SYNTHESIS_GAIN) and
    landed in the same band by its step scale (or, for a file that could not fill its band,
    within the budget): where the budget is large, the synthesis's precision limits what the
    latents give (cell_phase at 30x trained to about 50.5 dB and decoded at 48.3 with 8-bit
    weights)."""
    budget = run.budget
    best, error = landed, run.coded_error(landed[0])
    if run.coded_error(landed[0], quantised=False) > (1 - presets.LATENT_SYNTHESIS_GAIN) * error:
        return landed
    chosen = run.synthesis_bits
    for bits in presets.LATENT_SYNTHESIS_BITS:
        run.synthesis_bits = bits
        recoded = run.recoded_networks(landed[2], landed[0])
        tries = scale_tries(_coder(run), (math.log(run.size), recoded), low, budget, landed[0])
        found = _in_band(tries, low, budget)
        if found is None and _lands(landed, low, budget):
            break
        if found is None:
            found = _largest_within(tries, budget)
            if found is None:
                break
        finer = run.coded_error(found[0])
        log.info(
            "synthesis at %g bits: %.0f bytes, error %.3g (was %.3g)",
            bits,
            math.exp(found[1]),
            finer,
            error,
        )
        if finer >= error:
            break
        best, error, chosen = found, finer, bits
    run.synthesis_bits = chosen
    return best


def _coder(run) -> Callable[[float], tuple[float, object]]:
    """What scale_tries asks of a fit (a fit._Run, or a tiled.TiledFit): its log size and blobs
    at a step scale."""

    def code(log_scale: float) -> tuple[float, object]:
        blobs = run.code(log_scale)
        return math.log(run.size), blobs

    return code


def scale_tries(
    code: Callable[[float], tuple[float, object]],
    first: tuple[float, object],
    low: float,
    budget: float,
    at: float = 0.0,
) -> list[Try]:
    """Tries of step scales, from the fit coded at log scale `at` (`first`: log size and
    blobs), until one lands in [low, budget], the scale reaches presets.LATENT_SCALE_RANGE, or
    presets.LATENT_SCALE_TRIES codings are spent. `code(log scale)` gives (log size, blobs)."""
    aim = math.log((low + budget) / 2)
    bound = math.log(presets.LATENT_SCALE_RANGE)
    tries: list[Try] = [(at, *first)]
    while not _lands(tries[-1], low, budget) and len(tries) <= presets.LATENT_SCALE_TRIES:
        scale = min(bound, max(-bound, _next_scale(tries, aim)))
        if any(abs(scale - t[0]) < 1e-3 for t in tries):
            break
        tries.append((scale, *code(scale)))
        log.info("steps scaled by %.3f: %.0f bytes", math.exp(scale), math.exp(tries[-1][1]))
    return tries


def _next_scale(tries: list[Try], aim: float) -> float:
    """log scale for the next try: between the closest tries on either side of the aim where
    there are such (size falls as the scale grows), else along the slope of the last two, or
    -presets.LATENT_SCALE_ELASTICITY where they disagree with it."""
    over = [t for t in tries if t[1] > aim]
    under = [t for t in tries if t[1] <= aim]
    if over and under:
        a = max(over, key=lambda t: t[0])
        b = min(under, key=lambda t: t[0])
        if a[0] < b[0] and a[1] > b[1]:
            x = a[0] + (aim - a[1]) * (b[0] - a[0]) / (b[1] - a[1])
            margin = 0.1 * (b[0] - a[0])
            return min(b[0] - margin, max(a[0] + margin, x))
        return (a[0] + b[0]) / 2
    slope = -presets.LATENT_SCALE_ELASTICITY
    if len(tries) > 1:
        (x0, y0, _), (x1, y1, _) = tries[-2], tries[-1]
        if x1 != x0 and (y1 - y0) / (x1 - x0) < -0.1:
            slope = (y1 - y0) / (x1 - x0)
    return tries[-1][0] + (aim - tries[-1][1]) / slope


def _lands(attempt: Try, low: float, budget: float) -> bool:
    return math.log(low) <= attempt[1] <= math.log(budget)


def _in_band(tries: list[Try], low: float, budget: float) -> Try | None:
    for attempt in tries:
        if _lands(attempt, low, budget):
            return attempt
    return None


def _largest_within(tries: list[Try], budget: float) -> Try | None:
    fitting = [t for t in tries if t[1] <= math.log(budget)]
    return max(fitting, key=lambda t: t[1]) if fitting else None


def _largest(tries: list[Try], budget: float, ratio: float) -> Try:
    """The largest try within the budget; an error where none is."""
    largest = _largest_within(tries, budget)
    if largest is None:
        smallest = math.exp(min(t[1] for t in tries))
        raise RatioUnreachableError(
            f"a ratio of {ratio:g} cannot be met: the smallest latent file took "
            f"{smallest:.0f} bytes for a budget of {budget:.0f}. Ask for a lower ratio."
        )
    return largest


def _weightless(lam: float, distortion: float, rate: float) -> bool:
    """Whether lambda * rate is below presets.LATENT_WEIGHTLESS of the distortion: a lower
    lambda then cannot make the latents take more bits, and refining only trains longer
    (cell_phase: four refinements at lambda ~1e-8 that all overshot the budget, 60% more steps
    for the fit training had already given)."""
    return lam * rate < presets.LATENT_WEIGHTLESS * distortion


def _weighing(distortion: float, rate: float) -> float:
    """The lambda at which lambda * rate is presets.LATENT_WEIGHING of the distortion: where a
    file over its budget that trained with a weightless lambda starts refining. From a lambda
    that weighs nothing, the secant's small step lets the latents grow freely (cells3d_nuclei
    300x: 28.7 kB trained at lambda 1e-8 for a budget of 26.2 kB, then 237 kB refined at
    1.3e-8 and 193 kB at 1.1e-6, and the ratio failed)."""
    return presets.LATENT_WEIGHING * distortion / max(rate, 1e-12)


def _saturated(tries: list[Try], low: float) -> bool:
    """Whether the last try did not raise lambda, stayed under the band, and grew the file by
    less than 1%: the latents then take no more bits, and more tries would only cost time."""
    if len(tries) < 2:
        return False
    (lam, size, _), (previous_lam, previous_size, _) = tries[-1], tries[-2]
    return size < math.log(low) and lam <= previous_lam and size <= previous_size + math.log(1.01)


def _next_lambda(tries: list[Try], aim: float) -> float:
    """log lambda for the next try: a secant through the last two tries (size falls as lambda
    grows), or, from one try or where the two disagree with that (noise), the elasticity
    presets.LATENT_ELASTICITY; at most a factor 100. A file still too large after a change of
    lambda it did not answer is one whose lambda is too small to matter yet: lambda then grows
    by presets.LATENT_ESCALATION, since steps the elasticity's size would not get it out."""
    log_lam, log_size = tries[-1][:2]
    slope = -presets.LATENT_ELASTICITY
    if len(tries) > 1:
        previous_lam, previous_size = tries[-2][:2]
        if log_lam != previous_lam:
            measured = (log_size - previous_size) / (log_lam - previous_lam)
            if measured < -presets.LATENT_ELASTICITY / 10:
                slope = measured
            elif log_size > aim:
                return log_lam + math.log(presets.LATENT_ESCALATION)
    step = (aim - log_size) / slope
    return max(math.log(LAMBDA_MIN), log_lam + max(-math.log(100), min(math.log(100), step)))
