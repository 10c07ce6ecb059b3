"""Uniform quantisation of network weights and residuals between neighbouring groups.

Every group of a chain shares one step per parameter tensor, so the integer weights of
neighbouring groups can be subtracted exactly: the decoder rebuilds group k as the keyframe plus
the sum of the residuals up to k, with no drift. The step is set from the spread of each tensor
(`bits` of resolution across eight standard deviations); values outside that span stay exact
integers, they just cost more. Steps are rounded to four significant bits so that every weight
is a small integer times a power of two (see exact.py). Tensors of a handful of values (the
output bias) cost nothing and shift every voxel, so they get more bits (presets.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import presets


def short_dyadic(value: float) -> float:
    """`value` rounded to presets.STEP_MANTISSA_BITS significant bits: m * 2**e, m a small integer.

    Weights are then small integers times a power of two, which the exact decoder needs.
    """
    mantissa, exponent = math.frexp(value)
    scale = 2.0**presets.STEP_MANTISSA_BITS
    return math.ldexp(round(mantissa * scale) / scale, exponent)


def tensor_bounds(shapes: list[tuple[int, ...]]) -> list[tuple[int, int]]:
    """(start, stop) of each tensor within a flat parameter vector."""
    bounds = []
    start = 0
    for shape in shapes:
        stop = start + math.prod(shape)
        bounds.append((start, stop))
        start = stop
    return bounds


@dataclass(frozen=True)
class QuantisedChain:
    """Integer weights of a chain of groups, (groups, parameters), and one step per tensor."""

    steps: np.ndarray
    integers: np.ndarray

    def dequantise(self, shapes: list[tuple[int, ...]], dtype: type = np.float32) -> np.ndarray:
        """Weights, (groups, parameters): integers times steps (exact in float64)."""
        scale = np.empty(self.integers.shape[1], dtype=dtype)
        for step, (lo, hi) in zip(self.steps, tensor_bounds(shapes)):
            scale[lo:hi] = step
        return self.integers.astype(dtype) * scale


def quantise_chain(
    vectors: np.ndarray, shapes: list[tuple[int, ...]], bits: float | Sequence[float]
) -> QuantisedChain:
    """Quantise a chain's weights, (groups, parameters) float32, at `bits` per tensor span: one
    precision for every tensor, or one for each (the decoder reads each tensor's step, so a
    writer may spend more bits where the weights matter most)."""
    per_tensor = [float(bits)] * len(shapes) if isinstance(bits, int | float) else list(bits)
    if len(per_tensor) != len(shapes):
        raise ValueError(f"{len(per_tensor)} precisions for {len(shapes)} tensors")
    steps = np.empty(len(shapes), dtype=np.float32)
    integers = np.empty(vectors.shape, dtype=np.int64)
    for i, (lo, hi) in enumerate(tensor_bounds(shapes)):
        block = vectors[:, lo:hi].astype(np.float64)
        extra = presets.SMALL_TENSOR_EXTRA_BITS if hi - lo < presets.SMALL_TENSOR else 0.0
        spread = max(float(block.std()), float(np.abs(block).max()) / 4)
        resolution = 2.0 ** (per_tensor[i] + extra)
        step = presets.SPAN_IN_STDS * spread / resolution if spread > 0 else 1.0
        steps[i] = np.float32(short_dyadic(step))
        integers[:, lo:hi] = np.rint(block / np.float64(steps[i]))
    return QuantisedChain(steps, integers)


def to_residuals(integers: np.ndarray) -> np.ndarray:
    """First row as is, every other row minus the row before it."""
    residuals = integers.copy()
    residuals[1:] -= integers[:-1]
    return residuals


def from_residuals(residuals: np.ndarray) -> np.ndarray:
    """Inverse of `to_residuals`: running sum down the groups."""
    return np.cumsum(residuals, axis=0, dtype=np.int64)
