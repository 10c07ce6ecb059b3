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
from .inr import ModelSpec, encode_axis, grid_coordinates
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


class ExactNetwork:
    """A PE-MLP held as exact float64 dyadic weights, evaluated without any rounding error."""

    def __init__(self, spec: ModelSpec, weights: np.ndarray, device: torch.device) -> None:
        values = np.asarray(weights, dtype=np.float64)
        if values.size != spec.n_parameters or not np.all(np.isfinite(values)):
            raise CorruptFileError("a group's weights do not fit its model.")
        tensors = [
            values[lo:hi].reshape(shape)
            for (lo, hi), shape in zip(tensor_bounds(spec.parameter_shapes), spec.parameter_shapes)
        ]
        self.spec = spec
        self.device = device
        self.layers: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        bound = 1.0
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
        self._tables: dict[int, torch.Tensor] = {}

    def _features(self, axis: int) -> torch.Tensor:
        """Encoded features of every grid position of an axis, on the first layer's grid."""
        table = self._tables.get(axis)
        if table is None:
            extent = self.spec.extents[axis]
            coords = grid_coordinates(torch.arange(extent), extent).double()
            features = encode_axis(coords, self.spec.frequencies[axis])
            scale = 2.0 ** self.layers[0][2]
            table = (torch.round(features * scale) / scale).to(self.device)
            self._tables[axis] = table
        return table

    def evaluate(self, positions: list[np.ndarray], chunk: int = 1 << 12) -> np.ndarray:
        """Outputs on the outer product of per-axis grid positions, as float64.

        The grid is cut into slabs of at most `chunk` points (small enough to stay in cache);
        each slab's first layer is a broadcast sum of per-axis partial products.
        """
        weight0, bias0, _ = self.layers[0]
        partial = []
        start = 0
        for axis, (p, f) in enumerate(zip(positions, self.spec.frequencies)):
            stop = start + 1 + 2 * f
            rows = self._features(axis)[
                torch.from_numpy(np.asarray(p, dtype=np.int64)).to(self.device)
            ]
            partial.append(rows @ weight0[start:stop])
            start = stop
        sizes = [len(p) for p in positions]
        out = np.empty(sizes, dtype=np.float64)
        if out.size == 0:
            return out
        split = next(k for k in range(len(sizes)) if math.prod(sizes[k + 1 :]) <= chunk)
        step = max(1, chunk // math.prod(sizes[split + 1 :]))
        width = bias0.shape[0]
        for lead in itertools.product(*(range(n) for n in sizes[:split])):
            base = bias0 + sum((partial[a][i] for a, i in enumerate(lead)), torch.zeros_like(bias0))
            for begin in range(0, sizes[split], step):
                h = base
                for axis in range(split, len(sizes)):
                    table = partial[axis] if axis > split else partial[axis][begin : begin + step]
                    shape = [1] * (len(sizes) - split) + [width]
                    shape[axis - split] = table.shape[0]
                    h = h + table.reshape(shape)
                target = (*lead, slice(begin, begin + step))
                out[target] = (
                    self._tail(h.reshape(-1, width)).reshape(out[target].shape).cpu().numpy()
                )
        return out

    def _tail(self, h: torch.Tensor) -> torch.Tensor:
        for weight, bias, bits in self.layers[1:]:
            h = torch.relu_(h).mul_(2.0**bits).round_()
            h = torch.addmm(bias, h, weight)
        return h[:, 0]
