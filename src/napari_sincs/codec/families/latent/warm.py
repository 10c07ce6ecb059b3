"""Where a whole-image latent fit starts: the image's own pyramid, read by a linear synthesis.

From zeros, each latent travels to its value in Adam steps of about the learning rate, and it is
visited only as often as the preset's epochs: where the latents must carry fine detail, training
ends before they arrive (cell_phase at 30x, train PSNR still rising). Started instead from a
pyramid of the image (each level the cell averages, in the synthesis's own interpolation, of
what the coarser levels leave), with a synthesis that adds the levels up, the fit starts from a
plain multiresolution codec and spends its steps on the rate and on what is not linear.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .geometry import LatentGeometry, interpolation, separable


def applies(trainer) -> bool:
    """Whether `trainer` (a fit.LatentTrainer) can start from the pyramid: it holds whole volumes
    (not tiles with halos), and its synthesis can pass every level's value with its sign (two
    units per level in the first hidden layer, two in the others)."""
    widths = trainer.spec.synthesis
    wide = widths[0] >= 2 * trainer.spec.levels and min(widths) >= 2
    return wide and all(volume.tile is None for volume in trainer.volumes)


@torch.no_grad()
def start(trainer, gain: float) -> None:
    """Set the trainer's latents to each volume's pyramid times `gain` and its synthesis to the
    sum of its features divided by `gain`, plus the mean it already starts from: one unit of a
    latent is then 1/gain of the intensity range."""
    mean = float(trainer.synthesis[-1].bias.item())
    for volume, latents in zip(trainer.volumes, trainer.latents):
        for grid, cells in zip(latents.grids, pyramid(volume.values, trainer.geometry, mean)):
            grid.copy_(cells * gain)
    _linear(trainer.synthesis, trainer.spec.levels, gain)


def pyramid(values: torch.Tensor, geometry: LatentGeometry, mean: float) -> list[torch.Tensor]:
    """Per level, finest first, the cells whose interpolations add up to `values` - `mean` as
    closely as averaging does: coarsest first, each level the weighted cell averages of what
    the coarser ones leave."""
    residual = values - mean
    coarse_first = []
    for level in reversed(range(geometry.levels)):
        matrices = [
            torch.from_numpy(interpolation(np.arange(n), k, cells, (0, cells))).to(values)
            for n, k, cells in zip(residual.shape, geometry.exponents[level], geometry.cells[level])
        ]
        d, y, x = (m.sum(dim=0).clamp_min(1e-6) for m in matrices)
        cells = separable([m.T for m in matrices], residual) / (
            d[:, None, None] * y[None, :, None] * x[None, None, :]
        )
        residual = residual - separable(matrices, cells)
        coarse_first.append(cells)
    return coarse_first[::-1]


def _linear(layers: nn.ModuleList, levels: int, gain: float) -> None:
    """The synthesis as sum(features) / gain + its output bias: the first hidden layer passes
    each feature as relu(f) and relu(-f), the next one their sum as relu(s) and relu(-s), later
    ones pass those two on; the other units start small and the output ignores them until they
    learn."""
    first, *middle, output = layers
    for layer in layers[:-1]:
        layer.weight.mul_(0.1)
        layer.bias.zero_()
    identity = torch.eye(levels, device=first.weight.device)
    first.weight[: 2 * levels].zero_()
    first.weight[:levels, :levels] = identity
    first.weight[levels : 2 * levels, :levels] = -identity
    ones = torch.ones(levels, device=first.weight.device)
    sums = torch.cat([ones, -ones])
    for index, layer in enumerate(middle):
        layer.weight[:2].zero_()
        if index == 0:
            layer.weight[0, : 2 * levels] = sums
            layer.weight[1, : 2 * levels] = -sums
        else:
            layer.weight[:2, :2] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], device=ones.device)
    output.weight.zero_()
    if middle:
        output.weight[0, :2] = torch.tensor([1.0, -1.0], device=ones.device) / gain
    else:
        output.weight[0, : 2 * levels] = sums / gain
