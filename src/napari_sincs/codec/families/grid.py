"""Multi-resolution feature grids, linearly interpolated, then a small ReLU MLP per group.

Cells of 2^k voxels, `features` values per grid point, linear interpolation between the 2^D
corners. Nearly all parameters are grid values, cheap to evaluate and to quantise; a voxel costs
a few hundred multiply-adds instead of thousands. Interpolation weights at integer grid
positions are exact binary fractions, in training as in the decoder.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import presets
from ..decode.exact import EXACT_BITS, ExactMlp, dyadic_unit, slabs, split_tensors
from ..errors import CorruptFileError
from .base import ExactEvaluator, NetworkFamily, check_spec
from .mlp import MlpNetwork, MlpSpec, mlp_size, mlp_size_valid

# Part of the format: along time a grid cell spans at most 2**TIME_CELL_EXPONENT of a group's
# frames (content moves between frames far more than between neighbouring voxels).
TIME_CELL_EXPONENT = 1


def cell_exponent(extent: int, level: int, axis: str = "") -> int:
    """log2 of a grid cell along an axis: the level's, less on axes too short for it, and at
    most TIME_CELL_EXPONENT along time."""
    cap = TIME_CELL_EXPONENT if axis == "t" else level
    return min(level, cap, max(0, math.floor(math.log2(max(extent - 1, 1)))))


def grid_points(extent: int, level: int, axis: str = "") -> int:
    """Grid points along an axis of `extent` voxels at cells of 2**cell_exponent voxels."""
    return math.ceil((extent - 1) / 2 ** cell_exponent(extent, level, axis)) + 1


@dataclass(frozen=True)
class GridSpec(MlpSpec):
    levels: tuple[int, ...]
    features: int

    @property
    def in_features(self) -> int:
        return self.features * len(self.levels)

    def grid_shape(self, level: int) -> tuple[int, ...]:
        return (self.features, *(grid_points(e, level, a) for e, a in zip(self.extents, self.axes)))

    def exponents(self) -> list[list[int]]:
        """Cell exponents per level and axis."""
        return [
            [cell_exponent(e, level, a) for e, a in zip(self.extents, self.axes)]
            for level in self.levels
        ]

    @property
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        return [self.grid_shape(level) for level in self.levels] + self.mlp_shapes()

    def build(self) -> GridMlp:
        return GridMlp(self)

    def exact(self, weights: np.ndarray, device: torch.device) -> ExactGrid:
        return ExactGrid(self, weights, device)

    def fields(self) -> dict[str, Any]:
        return self.mlp_fields() | {"levels": list(self.levels), "features": self.features}


class GridMlp(MlpNetwork):
    """Feature grids, linearly interpolated, then the MLP."""

    def __init__(self, spec: GridSpec) -> None:
        super().__init__(spec)
        self.grids = nn.ParameterList(
            nn.Parameter(torch.zeros(spec.grid_shape(level))) for level in spec.levels
        )
        self._exponents = spec.exponents()

    def parameters(self, recurse: bool = True):
        """Grids first, then the MLP: the order of `GridSpec.parameter_shapes`."""
        yield from self.grids
        yield from (p for name, p in self.named_parameters() if not name.startswith("grids."))

    def parameter_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """Grid values learn faster than the MLP (presets.GRID_LR_FACTOR)."""
        grids = list(self.grids)
        mlp = [p for p in self.parameters() if all(p is not g for g in grids)]
        return [
            {"params": mlp, "lr": learning_rate},
            {"params": grids, "lr": learning_rate * presets.GRID_LR_FACTOR},
        ]

    def encode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """All 2^D corners of every level gathered at once from the flattened grid, weighted
        by products of exact binary fractions."""
        dims = len(self.spec.axes)
        corners = torch.tensor(
            list(itertools.product((0, 1), repeat=dims)), dtype=torch.float32, device=indices.device
        )
        features = []
        for grid, exponents in zip(self.grids, self._exponents):
            sizes = grid.shape[1:]
            strides = [math.prod(sizes[a + 1 :]) for a in range(dims)]
            base = torch.zeros(indices.shape[0], dtype=torch.long, device=indices.device)
            steps, fractions = [], []
            for axis, k in enumerate(exponents):
                position = indices[:, axis]
                low = position >> k
                base = base + low * strides[axis]
                steps.append((torch.clamp(low + 1, max=sizes[axis] - 1) - low) * strides[axis])
                fractions.append((position & ((1 << k) - 1)).to(grid.dtype) / (1 << k))
            step = torch.stack(steps, 1).to(torch.float32)
            fraction = torch.stack(fractions, 1)
            flat = base[:, None] + (step @ corners.T).round().long()
            weight = torch.prod(
                corners[None] * fraction[:, None] + (1 - corners[None]) * (1 - fraction[:, None]),
                dim=2,
            )
            # index_select, not advanced indexing: its backward (index_add) sums in a fixed
            # order, so two fits with several CPU threads give the same weights.
            table = grid.reshape(grid.shape[0], -1)
            values = table.index_select(1, flat.reshape(-1)).reshape(grid.shape[0], *flat.shape)
            features.append((values * weight[None]).sum(-1).T)
        return torch.cat(features, dim=1)


class ExactGrid(ExactEvaluator):
    """A grid network evaluated exactly: interpolation weights are binary fractions and grid
    values dyadic, so interpolated features are exact; they are then put on the first layer's
    fixed-point grid like the PE features."""

    def __init__(self, spec: GridSpec, weights: np.ndarray, device: torch.device) -> None:
        tensors = split_tensors(spec.parameter_shapes, spec.n_parameters, weights)
        count = len(spec.levels)
        self.spec = spec
        self.device = device
        self.exponents = spec.exponents()
        for grid, exponents in zip(tensors[:count], self.exponents):
            top = float(np.abs(grid).max())
            if top and math.log2(top / dyadic_unit(grid)) + sum(exponents) > EXACT_BITS - 1:
                raise CorruptFileError("a group's grid is too fine to evaluate exactly.")
        self.grids = [torch.from_numpy(g.copy()).to(device) for g in tensors[:count]]
        bound = max((float(np.abs(g).max()) for g in tensors[:count]), default=0.0)
        self.mlp = ExactMlp(tensors[count:], bound, device)

    def _interpolation(self, positions: np.ndarray, k: int, points: int) -> torch.Tensor:
        """(n, points) matrix of linear interpolation weights (two per row, exact fractions)."""
        positions = np.asarray(positions, dtype=np.int64)
        low = positions >> k
        fraction = (positions & ((1 << k) - 1)) / float(1 << k)
        matrix = np.zeros((len(positions), points), dtype=np.float64)
        rows = np.arange(len(positions))
        matrix[rows, np.minimum(low, points - 1)] += 1 - fraction
        upper = np.minimum(low + 1, points - 1)
        matrix[rows, upper] += fraction
        return torch.from_numpy(matrix).to(self.device)

    def _features(self, positions: list[np.ndarray]) -> torch.Tensor:
        """Interpolated features (points, levels * features) on the first layer's grid."""
        columns = []
        for grid, exponents in zip(self.grids, self.exponents):
            values = grid
            for axis, (p, k) in enumerate(zip(positions, exponents)):
                matrix = self._interpolation(p, k, grid.shape[axis + 1])
                values = torch.movedim(
                    torch.tensordot(matrix, values, dims=([1], [axis + 1])), 0, axis + 1
                )
            columns.append(values.reshape(values.shape[0], -1).T)
        return self.mlp.on_input_grid(torch.cat(columns, dim=1))

    def evaluate(self, positions: list[np.ndarray], chunk: int = 1 << 12) -> np.ndarray:
        """Outputs on the outer product of per-axis grid positions, as float64."""
        sizes = [len(p) for p in positions]
        out = np.empty(sizes, dtype=np.float64)
        if out.size == 0:
            return out
        for split, lead, part in slabs(sizes, chunk):
            picked = [np.asarray(positions[a])[[i]] for a, i in enumerate(lead)]
            picked += [np.asarray(positions[split])[part], *positions[split + 1 :]]
            values = self.mlp.tail(self.mlp.first(self._features(picked)))
            target = (*lead, part)
            out[target] = values.reshape(out[target].shape).cpu().numpy()
        return out


class GridFamily(NetworkFamily):
    name = "grid"
    summary = "multi-resolution feature grids and a small MLP; without saliency, on 2D and 2D+T"
    tuning = presets.GRID
    sizing = presets.GRID_SIZING

    def spec(self, plan, config, levels: tuple[int, ...], features: int) -> GridSpec:
        return GridSpec(
            family=self.name,
            axes=plan.coordinate_axes,
            extents=plan.coordinate_extents,
            width=config.width or presets.GRID_WIDTH,
            depth=config.resolved().depth,
            levels=levels,
            features=features,
        )

    def spec_from_dict(self, data, axes, extents) -> GridSpec:
        levels = tuple(int(k) for k in data["levels"])
        spec = GridSpec(
            self.name,
            axes,
            extents,
            **mlp_size(data),
            levels=levels,
            features=int(data["features"]),
        )
        valid = mlp_size_valid(spec.width, spec.depth) and 1 <= len(spec.levels) <= 8
        valid = valid and 1 <= spec.features <= 16 and all(0 <= k <= 30 for k in spec.levels)
        return check_spec(spec, valid, data)

    def sized(self, plan, config, parameters: float) -> GridSpec | None:
        """The finest grid network within `parameters`: the smallest cell 2**k whose
        one-feature grids fit, then as many features per point (up to GRID_MAX_FEATURES) as the
        budget allows. Finer grids beat more features per point at the same size."""
        count = config.grid_levels
        for finest in range(presets.GRID_MAX_EXPONENT - count + 2):
            levels = tuple(range(finest + count - 1, finest - 1, -1))
            choices = (
                (config.features,) if config.features else range(presets.GRID_MAX_FEATURES, 0, -1)
            )
            for features in choices:
                spec = self.spec(plan, config, levels, features)
                if spec.n_parameters <= parameters:
                    return spec
        return None

    def smallest(self, plan, config) -> GridSpec:
        top = presets.GRID_MAX_EXPONENT
        return self.spec(plan, config, tuple(range(top, top - config.grid_levels, -1)), 1)


FAMILY = GridFamily()
