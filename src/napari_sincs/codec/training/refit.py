"""Refitting each group's output layer to its own voxels once the other layers are quantised.

Every voxel of a group shares the network's weights, so rounding errors in the hidden layers do
not average out: they move the output coherently (a smooth offset across the block), and how
badly varies erratically with the precision (beads3d at 100×: 45.8 dB at 7.5-bit weights, 48.4 dB
at 6 bits, 49.6 dB unquantised). The output is linear in the last hidden features, so given the
quantised hidden layers the best output weights solve a weighted least-squares problem on the
group's voxels (weighted by the saliency map the network was trained with). Families whose
output is such a linear layer say so (`Family.refits_output`). They are then
rounded with the chain's own step, so the file format does not change: a decoder sees ordinary
quantised weights.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import presets
from ..families.base import ModelSpec, unflatten_parameters
from ..format.quantize import QuantisedChain, tensor_bounds
from ..grouping import GroupPlan
from .fit import GroupLoader


class OutputRefit:
    """Replaces a quantised chain's output-layer integers by least-squares refits per group."""

    def __init__(
        self, spec: ModelSpec, plan: GroupPlan, load: GroupLoader, device: torch.device, seed: int
    ) -> None:
        self.spec = spec
        self.chains = plan.chains()
        self.load = load
        self.device = device
        self.seed = seed

    def __call__(self, chain: int, quantised: QuantisedChain) -> QuantisedChain:
        shapes = self.spec.parameter_shapes
        (w_lo, w_hi), (b_lo, b_hi) = tensor_bounds(shapes)[-2:]
        weight_step, bias_step = (float(s) for s in quantised.steps[-2:])
        parameters = quantised.dequantise(shapes, np.float64)
        integers = quantised.integers.copy()
        for row, group in enumerate(self.chains[chain]):
            solution = self._solve(group, parameters[row], (w_lo, w_hi), (b_lo, b_hi))
            integers[row, w_lo:w_hi] = np.rint(solution[:-1] / weight_step)
            integers[row, b_lo:b_hi] = np.rint(solution[-1:] / bias_step)
        return QuantisedChain(quantised.steps, integers)

    def _solve(
        self,
        group: int,
        parameters: np.ndarray,
        weight_span: tuple[int, int],
        bias_span: tuple[int, int],
    ) -> np.ndarray:
        """Output weights and bias minimising the saliency-weighted squared error."""
        values, saliency = self.load(group)
        model = self.spec.build()
        unflatten_parameters(model, torch.as_tensor(parameters, dtype=torch.float32))
        model.to(self.device)
        count = values.size
        if count <= presets.REFIT_SAMPLES:
            picks = np.arange(count)
        else:
            rng = np.random.default_rng([self.seed, group])
            picks = np.sort(rng.choice(count, presets.REFIT_SAMPLES, replace=False))
        target = values.reshape(-1)[picks].astype(np.float64)
        weight = (
            np.ones(picks.size) if saliency is None else saliency.reshape(-1)[picks].astype(float)
        )
        current = np.concatenate([parameters[slice(*weight_span)], parameters[slice(*bias_span)]])
        gram = np.zeros((current.size, current.size))
        moment = np.zeros(current.size)
        with torch.inference_mode():
            for start in range(0, picks.size, presets.REFIT_CHUNK):
                chunk = slice(start, start + presets.REFIT_CHUNK)
                coordinates = np.stack(np.unravel_index(picks[chunk], values.shape), axis=1)
                indices = torch.as_tensor(coordinates, device=self.device)
                hidden = model.hidden_features(model.encode_indices(indices))
                design = np.concatenate(
                    [hidden.double().cpu().numpy(), np.ones((coordinates.shape[0], 1))], axis=1
                )
                weighted = design * weight[chunk, None]
                gram += weighted.T @ design
                moment += weighted.T @ target[chunk]
        ridge = presets.REFIT_RIDGE * weight.sum()
        return np.linalg.solve(gram + ridge * np.eye(current.size), moment + ridge * current)
