"""Bit-exact fixed-point arithmetic: what makes a file decode to the same bits everywhere.

Floating-point matrix products round differently with the shape of the batch, the BLAS
library and the device, so a network evaluated twice can disagree in the last bit, and an
integer image decoded from it by one grey level. The decoder therefore evaluates networks in
float64 on fixed-point grids chosen so that every product and every sum is an exact integer
multiple of a power of two below 2**53: no operation ever rounds, and the result does not depend
on summation order, batch shape, thread count, CPU or GPU. Rounding happens only where it is
explicit and deterministic: features and activations are rounded (`rint`) onto a grid of 2**-s
per layer, with s the largest value (at most MAX_FRACTION_BITS) that keeps the worst case exact
for this layer's weights and input bound. A region decoded alone equals the same region of a
full decode, bit for bit, and lossless residuals stay lossless on any machine.

Each network family builds its exact evaluator from these pieces (families/).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np
import torch

from ..errors import CorruptFileError
from ..format.quantize import tensor_bounds

MAX_FRACTION_BITS = 24
EXACT_BITS = 52
PRODUCT_COLUMNS = 1 << 15
"""How many points a network takes at once. 4096 (a 16-wide layer's float64 activations in
cache) decoded 5-8% faster on one thread alone, but slower in napari, where several threads
decode at once and every product hands the interpreter's lock over (hela_3ch's first screen
1.19 s against 0.90)."""


def dyadic_unit(values: np.ndarray) -> float:
    """Largest power of two of which every value is an integer multiple (1.0 for all zeros)."""
    nonzero = np.abs(values[values != 0])
    if nonzero.size == 0:
        return 1.0
    mantissa, exponent = np.frexp(nonzero)
    integer = (mantissa * 2.0**53).astype(np.int64)
    lowest_bit = np.log2((integer & -integer).astype(np.float64)).astype(np.int64)
    return float(2.0 ** int((exponent - 53 + lowest_bit).min()))


def fraction_bits(unit: float, row_sum: float, bound: float) -> int:
    """Most fraction bits s such that bound * row_sum / (unit * 2**-s) stays below 2**52."""
    if row_sum == 0 or bound == 0:
        return MAX_FRACTION_BITS
    s = math.floor(EXACT_BITS + math.log2(unit) - math.log2(row_sum * bound)) - 1
    return min(MAX_FRACTION_BITS, s)


def split_tensors(
    shapes: list[tuple[int, ...]], n_parameters: int, weights: np.ndarray
) -> list[np.ndarray]:
    """A group's flat float64 weights cut into its parameter tensors (checked first)."""
    values = np.asarray(weights, dtype=np.float64)
    if values.size != n_parameters or not np.all(np.isfinite(values)):
        raise CorruptFileError("a group's weights do not fit its model.")
    return [values[lo:hi].reshape(shape) for (lo, hi), shape in zip(tensor_bounds(shapes), shapes)]


class ExactMlp:
    """A ReLU MLP (weight, bias pairs) on fixed-point grids chosen per layer (module docstring).

    Inputs are rows (points, features), or with `columns` feature-major (features, points):
    with a few features per point the products are then about twice as fast on CPU. The layout
    changes no bit: every product and sum is exact."""

    def __init__(
        self,
        tensors: list[np.ndarray],
        input_bound: float,
        device: torch.device,
        columns: bool = False,
    ):
        self.columns = columns
        layers: list[tuple[np.ndarray, np.ndarray, int]] = []
        bound = input_bound
        for weight, bias in zip(tensors[0::2], tensors[1::2]):
            row_sum = max(math.fsum(np.abs(row)) for row in weight)
            bits = fraction_bits(dyadic_unit(weight), row_sum, bound)
            if bits < 0:
                raise CorruptFileError("a group's weights are too large to evaluate exactly.")
            unit = dyadic_unit(weight) * 2.0**-bits
            bias = np.rint(bias / unit) * unit
            # Later layers take integer activations (a * 2**bits), so their weights carry 2**-bits.
            layers.append((weight * (2.0**-bits if layers else 1.0), bias, bits))
            bound = max(
                math.fsum(np.abs(row)) * (bound + 2.0**-bits) + abs(b)
                for row, b in zip(weight, bias)
            )
        self.input_bits = layers[0][2]
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, (weight, bias, _) in enumerate(layers):
            # A layer whose outputs the next rounds onto its grid of 2**-bits yields them already
            # scaled by 2**bits: a power of two, so every product and sum stays the same bits.
            scale = 2.0 ** layers[i + 1][2] if i + 1 < len(layers) else 1.0
            weight, bias = weight * scale, bias * scale
            self.layers.append(
                (
                    torch.from_numpy(np.ascontiguousarray(weight if columns else weight.T)).to(
                        device
                    ),
                    torch.from_numpy(bias[:, None] if columns else bias).to(device),
                )
            )

    def on_input_grid(self, features: torch.Tensor) -> torch.Tensor:
        """Features rounded onto the first layer's fixed-point grid."""
        scale = 2.0**self.input_bits
        return torch.round(features * scale) / scale

    def _layer(self, weight: torch.Tensor, bias: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.addmm(bias, weight, h) if self.columns else torch.addmm(bias, h, weight)

    def first(self, features: torch.Tensor) -> torch.Tensor:
        weight, bias = self.layers[0]
        return self._layer(weight, bias, features)

    def outputs(self, h: torch.Tensor) -> torch.Tensor:
        """Every output ((points, outputs), or (outputs, points) with `columns`) from the first
        layer's pre-activations (as `first` gives them: scaled onto the next layer's grid)."""
        for weight, bias in self.layers[1:]:
            h = self._layer(weight, bias, torch.relu_(h).round_())
        return h

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """The single output (points,) from the first layer's pre-activations."""
        out = self.outputs(h)
        return out[0] if self.columns else out[:, 0]


def slabs(sizes: list[int], chunk: int) -> Iterator[tuple[int, tuple[int, ...], slice]]:
    """Split an outer-product grid into slabs of at most `chunk` points: (split axis, lead
    index, range along the split axis)."""
    split = next(k for k in range(len(sizes)) if math.prod(sizes[k + 1 :]) <= chunk)
    step = max(1, chunk // math.prod(sizes[split + 1 :]))
    for lead in itertools.product(*(range(n) for n in sizes[:split])):
        for begin in range(0, sizes[split], step):
            yield split, lead, slice(begin, begin + step)
