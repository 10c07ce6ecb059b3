"""Bit-exact evaluation of a group's network: the normative decoder.

Floating-point matrix products round differently with the shape of the batch, the BLAS
library and the device, so a network evaluated twice can disagree in the last bit, and an
integer image decoded from it by one grey level. The decoder therefore evaluates networks in
float64 on fixed-point grids chosen so that every product and every sum is an exact integer
multiple of a power of two below 2**53: no operation ever rounds, and the result does not depend
on summation order, batch shape, thread count, CPU or GPU. Rounding happens only where it is
explicit and deterministic: positional features and activations are rounded (`rint`) onto a grid
of 2**-s per layer, with s the largest value (at most MAX_FRACTION_BITS) that keeps the worst
case exact for this layer's weights and input bound. A region decoded alone equals the same
region of a full decode, bit for bit, and lossless residuals stay lossless on any machine.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from .errors import CorruptFileError
from .inr import ModelSpec, cell_exponent, encode_axis, grid_coordinates
from .quantize import tensor_bounds

MAX_FRACTION_BITS = 24
EXACT_BITS = 52


def _unit(values: np.ndarray) -> float:
    """Largest power of two of which every value is an integer multiple (1.0 for all zeros)."""
    nonzero = np.abs(values[values != 0])
    if nonzero.size == 0:
        return 1.0
    mantissa, exponent = np.frexp(nonzero)
    integer = (mantissa * 2.0**53).astype(np.int64)
    lowest_bit = np.log2((integer & -integer).astype(np.float64)).astype(np.int64)
    return float(2.0 ** int((exponent - 53 + lowest_bit).min()))


def _fraction_bits(unit: float, row_sum: float, bound: float) -> int:
    """Most fraction bits s such that bound * row_sum / (unit * 2**-s) stays below 2**52."""
    if row_sum == 0 or bound == 0:
        return MAX_FRACTION_BITS
    s = math.floor(EXACT_BITS + math.log2(unit) - math.log2(row_sum * bound)) - 1
    return min(MAX_FRACTION_BITS, s)


def _split(spec: ModelSpec, weights: np.ndarray) -> list[np.ndarray]:
    values = np.asarray(weights, dtype=np.float64)
    if values.size != spec.n_parameters or not np.all(np.isfinite(values)):
        raise CorruptFileError("a group's weights do not fit its model.")
    return [
        values[lo:hi].reshape(shape)
        for (lo, hi), shape in zip(tensor_bounds(spec.parameter_shapes), spec.parameter_shapes)
    ]


class _ExactMlp:
    """The MLP of either family on fixed-point grids chosen per layer (see module docstring)."""

    def __init__(self, tensors: list[np.ndarray], input_bound: float, device: torch.device):
        self.layers: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        bound = input_bound
        for weight, bias in zip(tensors[0::2], tensors[1::2]):
            row_sum = max(math.fsum(np.abs(row)) for row in weight)
            bits = _fraction_bits(_unit(weight), row_sum, bound)
            if bits < 0:
                raise CorruptFileError("a group's weights are too large to evaluate exactly.")
            unit = _unit(weight) * 2.0**-bits
            bias = np.rint(bias / unit) * unit
            # Later layers take integer activations (a * 2**bits), so their weights carry 2**-bits.
            scaled = weight.T * (2.0**-bits if self.layers else 1.0)
            self.layers.append(
                (
                    torch.from_numpy(scaled.copy()).to(device),
                    torch.from_numpy(bias).to(device),
                    bits,
                )
            )
            bound = max(
                math.fsum(np.abs(row)) * (bound + 2.0**-bits) + abs(b)
                for row, b in zip(weight, bias)
            )

    @property
    def input_bits(self) -> int:
        """Fraction bits of the first layer's input grid."""
        return self.layers[0][2]

    def first(self, features: torch.Tensor) -> torch.Tensor:
        weight, bias, _ = self.layers[0]
        return torch.addmm(bias, features, weight)

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        for weight, bias, bits in self.layers[1:]:
            h = torch.relu_(h).mul_(2.0**bits).round_()
            h = torch.addmm(bias, h, weight)
        return h[:, 0]


def _chunks(sizes: list[int], chunk: int):
    """Split an outer-product grid into slabs of at most `chunk` points: (lead index, range)."""
    split = next(k for k in range(len(sizes)) if math.prod(sizes[k + 1 :]) <= chunk)
    step = max(1, chunk // math.prod(sizes[split + 1 :]))
    for lead in itertools.product(*(range(n) for n in sizes[:split])):
        for begin in range(0, sizes[split], step):
            yield split, lead, slice(begin, begin + step)


class ExactNetwork:
    """A PE-MLP held as exact float64 dyadic weights, evaluated without any rounding error."""

    def __init__(self, spec: ModelSpec, weights: np.ndarray, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        self.mlp = _ExactMlp(_split(spec, weights), 1.0, device)
        self._tables: dict[int, torch.Tensor] = {}

    def _features(self, axis: int) -> torch.Tensor:
        """Encoded features of every grid position of an axis, on the first layer's grid."""
        table = self._tables.get(axis)
        if table is None:
            extent = self.spec.extents[axis]
            coords = grid_coordinates(torch.arange(extent), extent).double()
            features = encode_axis(coords, self.spec.frequencies[axis])
            scale = 2.0**self.mlp.input_bits
            table = (torch.round(features * scale) / scale).to(self.device)
            self._tables[axis] = table
        return table

    def evaluate(self, positions: list[np.ndarray], chunk: int = 1 << 12) -> np.ndarray:
        """Outputs on the outer product of per-axis grid positions, as float64.

        The grid is cut into slabs of at most `chunk` points (small enough to stay in cache);
        each slab's first layer is a broadcast sum of per-axis partial products.
        """
        weight0, bias0, _ = self.mlp.layers[0]
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
        for split, lead, part in _chunks(sizes, chunk):
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


class ExactGrid:
    """A grid-family network evaluated exactly: interpolation weights are binary fractions and
    grid values dyadic, so interpolated features are exact; they are then put on the first
    layer's fixed-point grid like the PE features."""

    def __init__(self, spec: ModelSpec, weights: np.ndarray, device: torch.device) -> None:
        tensors = _split(spec, weights)
        count = len(spec.levels)
        self.spec = spec
        self.device = device
        self.exponents = [
            [cell_exponent(e, level, a) for e, a in zip(spec.extents, spec.axes)]
            for level in spec.levels
        ]
        for grid, exponents in zip(tensors[:count], self.exponents):
            top = float(np.abs(grid).max())
            if top and math.log2(top / _unit(grid)) + sum(exponents) > EXACT_BITS - 1:
                raise CorruptFileError("a group's grid is too fine to evaluate exactly.")
        self.grids = [torch.from_numpy(g.copy()).to(device) for g in tensors[:count]]
        bound = max((float(np.abs(g).max()) for g in tensors[:count]), default=0.0)
        self.mlp = _ExactMlp(tensors[count:], bound, device)

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
        scale = 2.0**self.mlp.input_bits
        return torch.round(torch.cat(columns, dim=1) * scale) / scale

    def evaluate(self, positions: list[np.ndarray], chunk: int = 1 << 12) -> np.ndarray:
        """Outputs on the outer product of per-axis grid positions, as float64."""
        sizes = [len(p) for p in positions]
        out = np.empty(sizes, dtype=np.float64)
        if out.size == 0:
            return out
        for split, lead, part in _chunks(sizes, chunk):
            picked = [np.asarray(positions[a])[[i]] for a, i in enumerate(lead)]
            picked += [np.asarray(positions[split])[part], *positions[split + 1 :]]
            values = self.mlp.tail(self.mlp.first(self._features(picked)))
            target = (*lead, part)
            out[target] = values.reshape(out[target].shape).cpu().numpy()
        return out


def exact_network(
    spec: ModelSpec, weights: np.ndarray, device: torch.device
) -> ExactNetwork | ExactGrid:
    """The exact evaluator of a group's network, for its family."""
    return (
        ExactGrid(spec, weights, device)
        if spec.family == "grid"
        else ExactNetwork(spec, weights, device)
    )
