"""The method's reference family: per-axis positional encoding, then a ReLU MLP per group.

gamma(v) = (v, sin 2^k pi v, cos 2^k pi v for k < L) of each axis' local coordinate in (-1, 1)
at pixel centres, concatenated over the axes. Training gathers rows of per-axis encoding tables
at integer grid positions; the exact decoder evaluates the first layer as a broadcast sum of
per-axis partial products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import presets
from ..decode.exact import ExactMlp, slabs, split_tensors
from .base import ExactEvaluator, NetworkFamily, check_spec
from .mlp import MlpNetwork, MlpSpec, mlp_size, mlp_size_valid


def auto_frequencies(extent: int, cap: int | None) -> int:
    """Octaves up to half the grid's Nyquist frequency: finer ones only fit noise."""
    octaves = max(1, math.ceil(math.log2(max(extent, 2))) - 1)
    return octaves if cap is None else min(octaves, cap)


def encode_axis(values: torch.Tensor, frequencies: int) -> torch.Tensor:
    """gamma(v) = (v, sin 2^k pi v, cos 2^k pi v for k < L), one row per value."""
    v = values.reshape(-1, 1)
    if frequencies == 0:
        return v
    scales = (2.0 ** torch.arange(frequencies, dtype=v.dtype, device=v.device)) * math.pi
    angles = v * scales
    return torch.cat([v, torch.sin(angles), torch.cos(angles)], dim=1)


def grid_coordinates(indices: torch.Tensor, extent: int) -> torch.Tensor:
    """Grid index -> local coordinate in (-1, 1), at pixel centres of a group's full extent."""
    return (2.0 * indices.to(torch.float32) + 1.0) / extent - 1.0


@dataclass(frozen=True)
class PeMlpSpec(MlpSpec):
    frequencies: tuple[int, ...]

    @property
    def in_features(self) -> int:
        return sum(1 + 2 * f for f in self.frequencies)

    @property
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        return self.mlp_shapes()

    def build(self) -> PeMlp:
        return PeMlp(self)

    def exact(self, weights: np.ndarray, device: torch.device) -> ExactPeMlp:
        return ExactPeMlp(self, weights, device)

    def fields(self) -> dict[str, Any]:
        return self.mlp_fields() | {"frequencies": list(self.frequencies)}


class PeMlp(MlpNetwork):
    """Positional encoding per axis, then the MLP."""

    def __init__(self, spec: PeMlpSpec) -> None:
        super().__init__(spec)
        for axis, (extent, f) in enumerate(zip(spec.extents, spec.frequencies)):
            table = encode_axis(grid_coordinates(torch.arange(extent), extent), f)
            self.register_buffer(f"table{axis}", table, persistent=False)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Values at arbitrary points, (n, axes) local coordinates in (-1, 1)."""
        features = torch.cat(
            [encode_axis(points[:, i], f) for i, f in enumerate(self.spec.frequencies)], dim=1
        )
        return self.forward_features(features)

    def encode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Rows of the per-axis encoding tables."""
        tables = [getattr(self, f"table{a}") for a in range(len(self.spec.axes))]
        return torch.cat([t[indices[:, a]] for a, t in enumerate(tables)], dim=1)


class ExactPeMlp(ExactEvaluator):
    """A PE-MLP held as exact float64 dyadic weights, evaluated without any rounding error."""

    def __init__(self, spec: PeMlpSpec, weights: np.ndarray, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        tensors = split_tensors(spec.parameter_shapes, spec.n_parameters, weights)
        self.mlp = ExactMlp(tensors, 1.0, device)
        self._tables: dict[int, torch.Tensor] = {}

    def _features(self, axis: int) -> torch.Tensor:
        """Encoded features of every grid position of an axis, on the first layer's grid."""
        table = self._tables.get(axis)
        if table is None:
            extent = self.spec.extents[axis]
            coords = grid_coordinates(torch.arange(extent), extent).double()
            table = self.mlp.on_input_grid(encode_axis(coords, self.spec.frequencies[axis]))
            table = table.to(self.device)
            self._tables[axis] = table
        return table

    def evaluate(self, positions: list[np.ndarray], chunk: int = 1 << 12) -> np.ndarray:
        """Outputs on the outer product of per-axis grid positions, as float64.

        The grid is cut into slabs of at most `chunk` points (small enough to stay in cache);
        each slab's first layer is a broadcast sum of per-axis partial products.
        """
        weight0, bias0 = self.mlp.layers[0]
        partial = []
        start = 0
        for axis, (p, f) in enumerate(zip(positions, self.spec.frequencies)):
            stop = start + 1 + 2 * f
            index = torch.from_numpy(np.asarray(p, dtype=np.int64)).to(self.device)
            partial.append(self._features(axis)[index] @ weight0[start:stop])
            start = stop
        sizes = [len(p) for p in positions]
        out = np.empty(sizes, dtype=np.float64)
        if out.size == 0:
            return out
        width = bias0.shape[0]
        for split, lead, part in slabs(sizes, chunk):
            h = bias0 + sum((partial[a][i] for a, i in enumerate(lead)), torch.zeros_like(bias0))
            for axis in range(split, len(sizes)):
                table = partial[axis] if axis > split else partial[axis][part]
                shape = [1] * (len(sizes) - split) + [width]
                shape[axis - split] = table.shape[0]
                h = h + table.reshape(shape)
            target = (*lead, part)
            values = self.mlp.tail(h.reshape(-1, width))
            out[target] = values.reshape(out[target].shape).cpu().numpy()
        return out


def width_for_parameters(spec: PeMlpSpec, n_parameters: float) -> int:
    """Largest MLP width whose PE network has at most `n_parameters` parameters (at least 2)."""
    a = spec.depth - 1
    b = spec.in_features + spec.depth + 1
    c = 1 - n_parameters
    width = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return max(2, int(width))


class PeMlpFamily(NetworkFamily):
    name = "pe_mlp"
    summary = "positional encoding and an MLP per group, the method's"
    tuning = presets.PE_MLP
    sizing = presets.PE_MLP_SIZING

    def spec(self, plan, config, width: int) -> PeMlpSpec:
        extents = plan.coordinate_extents
        return PeMlpSpec(
            family=self.name,
            axes=plan.coordinate_axes,
            extents=extents,
            width=width,
            depth=config.resolved().depth,
            frequencies=tuple(auto_frequencies(e, config.frequencies) for e in extents),
        )

    def spec_from_dict(self, data, axes, extents) -> PeMlpSpec:
        frequencies = tuple(int(f) for f in data["frequencies"])
        spec = PeMlpSpec(self.name, axes, extents, **mlp_size(data), frequencies=frequencies)
        valid = mlp_size_valid(spec.width, spec.depth) and len(spec.frequencies) == len(axes)
        return check_spec(spec, valid and all(0 <= f <= 16 for f in spec.frequencies), data)

    def sized(self, plan, config, parameters: float) -> PeMlpSpec | None:
        smallest = self.smallest(plan, config)
        width = min(presets.PE_MAX_WIDTH, width_for_parameters(smallest, parameters))
        return None if width < presets.PE_MIN_WIDTH else self.spec(plan, config, width)

    def smallest(self, plan, config) -> PeMlpSpec:
        return self.spec(plan, config, presets.PE_MIN_WIDTH)

    def pinned(self, plan, config) -> PeMlpSpec | None:
        return None if config.width is None else self.spec(plan, config, config.width)


FAMILY = PeMlpFamily()
