"""Fitting one group's network: saliency-guided sampling, Adam on an L2 loss, warm starts.

Progress is reported through a callback and a cancel token is checked every few steps, so a GUI
worker or a CLI progress bar can follow real work and stop it cleanly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...progress import CancelToken, check
from .. import presets
from ..families.base import ModelSpec, flatten_parameters, unflatten_parameters
from .sampler import CoordinateSampler

GroupLoader = Callable[[int], tuple[np.ndarray, np.ndarray | None]]
"""A group's normalised values and saliency weights (or None), by group index."""


@dataclass
class GroupFit:
    """Trained parameters of one group (flat, float32, CPU) and how training went."""

    parameters: torch.Tensor
    steps: int
    loss: float
    losses: list[float]


def _cosine(step: int, steps: int) -> float:
    """Learning-rate factor: cosine from 1 down to presets.FINAL_LR_FRACTION over the run."""
    final = presets.FINAL_LR_FRACTION
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * step / steps))


def _unravel(flat: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.stack(torch.unravel_index(flat, shape), dim=1)


def fit_group(
    spec: ModelSpec,
    values: np.ndarray,
    *,
    weights: np.ndarray | None,
    init: torch.Tensor | None,
    steps: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    device: torch.device,
    on_step: Callable[[int, float], None] | None = None,
    cancel: CancelToken | None = None,
) -> GroupFit:
    """Fit one group's network to `values` (normalised, one axis per `spec.axes`).

    `init` is the previous group's flat parameters (weight transfer) or None for a seeded
    fresh start. `weights` is the group's saliency map, or None for uniform sampling.
    """
    if values.ndim != len(spec.axes):
        raise ValueError(f"group values have {values.ndim} axes, model expects {len(spec.axes)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = spec.build()
    if init is not None:
        unflatten_parameters(model, init)
    model.to(device)
    target = torch.as_tensor(values, dtype=torch.float32, device=device).reshape(-1)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    sampler = CoordinateSampler(target.numel(), weights, generator, device)
    batch = min(batch_size, max(presets.MIN_BATCH, target.numel()))
    optimiser = torch.optim.Adam(model.parameter_groups(learning_rate))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: _cosine(s, steps))
    losses: list[float] = []
    window = torch.zeros((), device=device)
    for step in range(1, steps + 1):
        flat = sampler.sample(batch)
        prediction = model.forward_indices(_unravel(flat, values.shape))
        loss = torch.mean((prediction - target[flat]) ** 2)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        window += loss.detach()
        every = presets.CHECK_EVERY
        if step % every == 0 or step == steps:
            count = every if step % every == 0 else step % every
            mean = float(window) / count
            window.zero_()
            losses.append(mean)
            if on_step is not None:
                on_step(step, mean)
            check(cancel)
    return GroupFit(flatten_parameters(model), steps, losses[-1], losses)


@dataclass(frozen=True)
class FitSettings:
    """The training knobs of one compression, as `fit_chain` needs them."""

    steps: int
    transfer_steps: int
    learning_rate: float
    batch_size: int
    weight_transfer: bool
    seed: int


def fit_chain(
    spec: ModelSpec,
    groups: list[int],
    load: GroupLoader,
    settings: FitSettings,
    device: torch.device,
    on_step: Callable[[int, int, int, float], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[GroupFit]:
    """Fit a chain of groups in order; each starts from its predecessor's weights.

    `load(group)` returns the group's normalised values and saliency weights. The first group
    of a chain always starts fresh, so chains are independent and can run anywhere.
    """
    fits: list[GroupFit] = []
    previous: torch.Tensor | None = None
    for group in groups:
        values, weights = load(group)
        warm = previous is not None and settings.weight_transfer
        steps = settings.transfer_steps if warm else settings.steps
        lr = settings.learning_rate * (presets.TRANSFER_LR_FACTOR if warm else 1.0)
        report = (
            None if on_step is None else (lambda s, loss, g=group, n=steps: on_step(g, s, n, loss))
        )
        fit = fit_group(
            spec,
            values,
            weights=weights,
            init=previous if warm else None,
            steps=steps,
            learning_rate=lr,
            batch_size=settings.batch_size,
            seed=settings.seed + group,
            device=device,
            on_step=report,
            cancel=cancel,
        )
        fits.append(fit)
        previous = fit.parameters
    return fits
