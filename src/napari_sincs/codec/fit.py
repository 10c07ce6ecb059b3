"""Fitting one group's network: saliency-guided sampling, Adam on an L2 loss, warm starts.

Progress is reported through a callback and a cancel token is checked every few steps, so a GUI
worker or a CLI progress bar can follow real work and stop it cleanly.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .errors import CompressionCancelled
from .inr import ModelSpec, flatten_parameters, unflatten_parameters
from .saliency import CoordinateSampler

CHECK_EVERY = 10
GRID_LR_FACTOR = 2.0
FINAL_LR_FRACTION = 0.05


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    While fitting (stage "fit"): `group` of `groups` is being trained, at `step` of `steps`, with
    the mean loss of the last few steps; `attempt` counts refits after a rate-control resize.
    While verifying (stage "verify"): `group` of `groups` counts (y, x) planes decoded so far.
    """

    group: int
    groups: int
    step: int
    steps: int
    loss: float
    stage: str = "fit"
    attempt: int = 1


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Shared flag a GUI or signal handler sets to stop a running compression."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CompressionCancelled("compression cancelled by the user; no file was written.")


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when asked for or available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from .errors import InvalidConfigError

        raise InvalidConfigError(
            f"device {name!r} was asked for but no CUDA GPU is available; "
            "use device='auto' or 'cpu'."
        )
    return torch.device(name)


@dataclass
class GroupFit:
    """Trained parameters of one group (flat, float32, CPU) and how training went."""

    parameters: torch.Tensor
    steps: int
    loss: float
    losses: list[float]


def _cosine(step: int, steps: int) -> float:
    """Learning-rate factor: cosine from 1 down to FINAL_LR_FRACTION over the run."""
    return FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (
        1 + math.cos(math.pi * step / steps)
    )


def _unravel(flat: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    columns = []
    for size in reversed(shape):
        columns.append(flat % size)
        flat = flat // size
    return torch.stack(columns[::-1], dim=1)


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
    batch = min(batch_size, max(256, target.numel()))
    grids = list(getattr(model, "grids", []))
    mlp = [p for p in model.parameters() if all(p is not g for g in grids)]
    groups = [{"params": mlp, "lr": learning_rate}]
    if grids:
        groups.append({"params": grids, "lr": learning_rate * GRID_LR_FACTOR})
    optimiser = torch.optim.Adam(groups)
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
        if step % CHECK_EVERY == 0 or step == steps:
            count = CHECK_EVERY if step % CHECK_EVERY == 0 else step % CHECK_EVERY
            mean = float(window) / count
            window.zero_()
            losses.append(mean)
            if on_step is not None:
                on_step(step, mean)
            if cancel is not None:
                cancel.raise_if_cancelled()
    return GroupFit(flatten_parameters(model), steps, losses[-1], losses)


TRANSFER_LR_FACTOR = 0.5


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
    load: Callable[[int], tuple[np.ndarray, np.ndarray | None]],
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
        lr = settings.learning_rate * (TRANSFER_LR_FACTOR if warm else 1.0)
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
