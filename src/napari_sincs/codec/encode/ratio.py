"""Encoding within the byte budget of a ratio (networks only).

Plan the groups from the budget, fit every chain (weight transfer inside a chain), then search
the weight precision that fills the budget; each group's output layer is then refitted to its
voxels against the quantised hidden layers (training/refit.py). If even a coarse precision
overshoots, or the finest leaves most of the budget unused, the networks are resized from the
measured bits per parameter and fitted again (at most presets.MAX_ATTEMPTS fits in all).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...progress import FIT, ProgressEvent, check, report
from .. import presets
from ..config import CompressionConfig
from ..device import pick_device
from ..errors import RatioUnreachableError
from ..families import get_family
from ..training.fit import FitSettings, fit_chain
from ..training.refit import OutputRefit
from .job import GroupSource, Job, header_bytes
from .planning import Design, design, resize
from .rate import Encoded, code_chains, coded_size, search_bits
from .spill import ArraySpill

log = logging.getLogger(__name__)


@dataclass
class _Fit:
    """One fit of every chain for a design, and what it costs coded at any precision."""

    design: Design
    source: GroupSource
    vectors: ArraySpill
    head: int
    size_at: Callable[[float], int]

    def resized(
        self, config: CompressionConfig, budget: float, margin: float, at_bits: float, **kw
    ) -> Design:
        """The design whose networks would fill `margin` of the budget, at the bits per
        parameter this fit measured at `at_bits`."""
        plan = self.design.plan
        per_parameter = (self.size_at(at_bits) - self.head) / (
            self.design.spec.n_parameters * len(plan)
        )
        wanted = margin * (budget - self.head) / per_parameter / len(plan)
        return resize(plan, config, wanted, budget, **kw)


def _first_design(job: Job, config: CompressionConfig) -> tuple[float, Design]:
    """The byte budget of `config.ratio` and the planner's design within it, less the header
    (raises RatioUnreachableError when no network fits)."""
    budget = job.raw_bytes / config.ratio
    reserve = header_bytes(job.header(config, design(job.shape, budget, config), 8.0))
    if budget <= reserve:
        raise RatioUnreachableError(
            f"a ratio of {config.ratio:g} allows {budget:.0f} bytes for a {job.raw_bytes}-byte "
            f"array, but the file's header alone needs about {reserve} bytes."
        )
    return budget, design(job.shape, budget - reserve, config)


def _highest_plannable_ratio(job: Job, config: CompressionConfig) -> float | None:
    """The highest ratio (to 2%) for which the planner finds networks, or None below 2x: what
    to tell a user whose ratio is out of reach (no training is involved, so it is quick)."""

    def plannable(ratio: float) -> bool:
        try:
            _first_design(job, config.replace(ratio=ratio))
        except RatioUnreachableError:
            return False
        return True

    low, high = 2.0, config.ratio
    if not plannable(low):
        return None
    while high / low > 1.02:
        middle = math.sqrt(low * high)
        low, high = (middle, high) if plannable(middle) else (low, middle)
    return math.floor(low)


def encode_at_ratio(job: Job, config: CompressionConfig) -> Encoded:
    """Fit and code within the byte budget of `config.ratio` (networks only)."""
    try:
        budget, chosen = _first_design(job, config)
    except RatioUnreachableError as exc:
        highest = _highest_plannable_ratio(job, config)
        advice = f"a ratio of at most about {highest:.0f}" if highest else "a lower ratio"
        raise RatioUnreachableError(f"{exc} Ask for {advice}.") from None
    family = get_family(config.family)
    device = pick_device(config.device)
    start = time.perf_counter()
    for attempt in range(1, presets.MAX_ATTEMPTS + 1):
        fit = _fit(job, config, chosen, device, attempt)
        pinned = family.pinned(chosen.plan, config) is not None
        bits, instead = _settle(fit, config, budget, attempt == presets.MAX_ATTEMPTS or pinned)
        if instead is None:
            break
        log.info(
            "attempt %d missed the budget of %.0f bytes; refitting with %d parameters per group",
            attempt,
            budget,
            instead.spec.n_parameters,
        )
        chosen = instead
    fit_seconds = time.perf_counter() - start
    refit = None
    if config.output_refit and family.refits_output:
        refit = OutputRefit(chosen.spec, chosen.plan, fit.source, device, config.seed)
    blobs = code_chains(fit.vectors, chosen.spec, bits, config.residual_coding, refit)
    while fit.head + blobs.total > budget and bits > presets.MIN_BITS:
        bits = max(presets.MIN_BITS, bits - presets.BITS_RESOLUTION)
        blobs = code_chains(fit.vectors, chosen.spec, bits, config.residual_coding, refit)
    where = str(device) if job.fitter is None else job.fitter.describe()
    header = job.header(config, chosen, bits)
    return Encoded(header, blobs, attempt, fit_seconds, where, fit.vectors, refit)


def _fit(job: Job, config: CompressionConfig, chosen: Design, device, attempt: int) -> _Fit:
    source = job.source(chosen.plan, chosen.spec.axes)
    vectors = _fit_all(job, config, chosen, source, device, attempt)
    head = header_bytes(job.header(config, chosen, 8.0))

    def size_at(bits: float) -> int:
        return head + coded_size(vectors, chosen.spec, bits, config.residual_coding)

    return _Fit(chosen, source, vectors, head, size_at)


def _settle(
    fit: _Fit, config: CompressionConfig, budget: float, last: bool
) -> tuple[float, Design | None]:
    """The precision this fit is coded at, and the design to fit instead (None: keep it).

    An overshoot below GOOD_BITS refits smaller networks (unless this is the last fit, or the
    smallest network already: then coarser weights are the only way left); a fit that leaves
    more than 1 - UNDERUSED of the budget unused at the finest precision refits wider ones.
    """
    floor = presets.MIN_BITS if last else presets.GOOD_BITS
    bits = search_bits(fit.size_at, budget, config.weight_bits, floor)
    if bits is None and not last:
        smaller = fit.resized(
            config, budget, presets.SHRINK_MARGIN, presets.GOOD_BITS + 1, at_least_smallest=True
        )
        if smaller.spec != fit.design.spec:
            return presets.MIN_BITS, smaller
        bits = search_bits(fit.size_at, budget, config.weight_bits, presets.MIN_BITS)
    if bits is None:
        raise RatioUnreachableError(
            f"a ratio of {config.ratio:g} cannot be met: even at {presets.MIN_BITS:g}-bit weights "
            f"the file takes {fit.size_at(presets.MIN_BITS)} bytes for a budget of {budget:.0f}. "
            "Ask for a lower ratio or use fewer groups."
        )
    underused = fit.size_at(bits) < presets.UNDERUSED * budget
    if bits >= config.weight_bits and underused and not last:
        grown = fit.resized(config, budget, presets.GROW_MARGIN, bits)
        if grown.spec.n_parameters > fit.design.spec.n_parameters:
            return bits, grown
    return bits, None


def _fit_all(
    job: Job,
    config: CompressionConfig,
    chosen: Design,
    source: GroupSource,
    device,
    attempt: int,
) -> ArraySpill:
    """Fit every chain; keep only each chain's weights (groups × parameters)."""
    plan = chosen.plan
    total = len(plan)
    settings = FitSettings(
        steps=config.steps,
        transfer_steps=config.transfer_steps,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        weight_transfer=config.weight_transfer,
        seed=config.seed,
    )

    def on_step(group: int, step: int, steps: int, loss: float) -> None:
        report(job.progress, ProgressEvent(group, total, step, steps, loss, FIT, attempt))

    vectors = ArraySpill()
    if job.fitter is not None:
        chains = [list(chain) for chain in plan.chains()]

        def on_chain(chain: list[int], loss: float) -> None:
            warm = len(chain) > 1 and settings.weight_transfer
            last = settings.transfer_steps if warm else settings.steps
            on_step(chain[-1], last, last, loss)

        for weights in job.fitter.fit(chosen.spec, chains, source, settings, on_chain, job.cancel):
            vectors.append(weights)
        return vectors
    for chain in plan.chains():
        check(job.cancel)
        fits = fit_chain(chosen.spec, list(chain), source, settings, device, on_step, job.cancel)
        vectors.append(np.stack([fit.parameters.numpy() for fit in fits]))
    return vectors
