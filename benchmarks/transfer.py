"""How much faster a group converges when it starts from its neighbour's weights.

For pairs of neighbouring groups (g-1, g) of one chain, planned exactly as `compress` would at
the given ratio, group g is fitted twice for the same number of steps: from a fresh seeded
initialisation, and from group g-1's trained weights (with the reduced transfer learning rate
the codec uses). "Steps to the same loss" is the first step at which the warm-started run's
loss (mean over 10 steps) is at or below the from-scratch run's final loss.
"""

from __future__ import annotations

import math

from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.device import pick_device
from napari_sincs.codec.encode.encoder import prepare
from napari_sincs.codec.encode.planning import design
from napari_sincs.codec.format.header import ImageMetadata
from napari_sincs.codec.layout import ArrayLayout
from napari_sincs.codec.presets import CHECK_EVERY, TRANSFER_LR_FACTOR
from napari_sincs.codec.training.fit import fit_group

from .datasets import Dataset


def _steps_to(losses: list[float], target: float) -> int | None:
    for i, loss in enumerate(losses):
        if loss <= target:
            return (i + 1) * CHECK_EVERY
    return None


def measure_transfer(dataset: Dataset, ratio: float, pairs: int) -> list[dict]:
    """Rows of (group, losses, steps to the same loss) for up to `pairs` neighbouring pairs."""
    data = dataset.load()
    layout = ArrayLayout(dataset.axes, data.shape)
    array5d = layout.to_canonical(data)
    job, config = prepare(array5d, layout, ImageMetadata(), CompressionConfig(ratio=ratio))
    chosen = design(array5d.shape, data.nbytes / ratio, config)
    plan = chosen.plan
    source = job.source(plan, chosen.spec.axes)
    device = pick_device(config.device)
    candidates = [g for chain in plan.chains() for g in list(chain)[1:]]
    stride = max(1, len(candidates) // pairs) if candidates else 1
    rows = []
    for group in candidates[::stride][:pairs]:
        previous_values, previous_weights = source(group - 1)
        values, weights = source(group)
        common = dict(steps=config.steps, batch_size=config.batch_size, device=device)
        previous = fit_group(
            chosen.spec,
            previous_values,
            weights=previous_weights,
            init=None,
            learning_rate=config.learning_rate,
            seed=group - 1,
            **common,
        )
        scratch = fit_group(
            chosen.spec,
            values,
            weights=weights,
            init=None,
            learning_rate=config.learning_rate,
            seed=group,
            **common,
        )
        warm = fit_group(
            chosen.spec,
            values,
            weights=weights,
            init=previous.parameters,
            learning_rate=config.learning_rate * TRANSFER_LR_FACTOR,
            seed=group,
            **common,
        )
        target = scratch.loss
        steps = _steps_to(warm.losses, target)
        at_budget = warm.losses[config.transfer_steps // CHECK_EVERY - 1]
        rows.append(
            {
                "dataset": dataset.name,
                "group": group,
                "groups": len(plan),
                "scratch_first_loss": f"{scratch.losses[0]:.3g}",
                "warm_first_loss": f"{warm.losses[0]:.3g}",
                "scratch_final_loss": f"{target:.3g}",
                "scratch_steps": config.steps,
                "warm_steps_to_same_loss": steps if steps is not None else "not reached",
                "speedup": round(config.steps / steps, 1) if steps else math.nan,
                "warm_loss_at_transfer_steps": f"{at_budget:.3g}",
            }
        )
    return rows
