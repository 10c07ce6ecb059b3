"""Rate control: size the groups and networks from the byte budget, then pick the weight precision.

The user asks for a ratio; the budget is raw bytes / ratio for the whole file. Networks are sized
from the expected bits per parameter of keyframes and of residual groups (KEYFRAME_BITS and
RESIDUAL_BITS, measured on cell_migration_2dt at 8-bit weights; the encoder re-measures them
when it has to refit), and the quantisation precision is then searched so that the coded file
lands just under the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .config import CompressionConfig
from .entropy import encode_chain
from .errors import RatioUnreachableError
from .grouping import GroupPlan
from .inr import ModelSpec, auto_frequencies, width_for_parameters
from .quantize import quantise_chain

KEYFRAME_BITS = 6.8
RESIDUAL_BITS = 4.2
MAX_PARAMETERS_PER_GROUP = 8000
MIN_WIDTH = 8
MAX_WIDTH = 256
MIN_BLOCK_YX = 64
MIN_BLOCK_Z = 16
AUTO_TIME_GROUPS = 4
MIN_BITS = 2.0
SEARCH_LEVEL = 9


@dataclass(frozen=True)
class Design:
    """A group plan and the network every group gets."""

    plan: GroupPlan
    spec: ModelSpec


def _block_for(shape: tuple[int, ...], config: CompressionConfig) -> tuple[int, int, int]:
    if config.block is None:
        return (shape[2], shape[3], shape[4])
    block = config.block if len(config.block) == 3 else (shape[2], *config.block)
    return (block[0], block[1], block[2])


def _spec(plan: GroupPlan, config: CompressionConfig, width: int) -> ModelSpec:
    extents = plan.coordinate_extents
    return ModelSpec(
        family=config.family,
        axes=plan.coordinate_axes,
        extents=extents,
        frequencies=tuple(auto_frequencies(e, config.frequencies) for e in extents),
        width=width,
        depth=config.depth,
    )


def _parameters_per_group(
    plan: GroupPlan, payload_bits: float, key_bits: float, res_bits: float
) -> float:
    chains = len(plan.chains())
    return payload_bits / (chains * key_bits + (len(plan) - chains) * res_bits)


def _split(block: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """Halve the block along its largest side that may still be halved."""
    z, y, x = block
    options = [(y, 1, MIN_BLOCK_YX), (x, 2, MIN_BLOCK_YX), (z, 0, MIN_BLOCK_Z)]
    for size, axis, smallest in sorted(options, key=lambda o: -o[0]):
        if size >= 2 * smallest:
            new = list(block)
            new[axis] = math.ceil(size / 2)
            return (new[0], new[1], new[2])
    return None


def design(
    shape: tuple[int, int, int, int, int],
    payload_bytes: float,
    config: CompressionConfig,
    key_bits: float = KEYFRAME_BITS,
    res_bits: float = RESIDUAL_BITS,
) -> Design:
    """Choose time groups, block and width for a payload budget."""
    bits = payload_bytes * 8
    res = res_bits if config.residual_coding else key_bits
    time_groups = config.time_groups or min(shape[0], AUTO_TIME_GROUPS)
    block = _block_for(shape, config)
    plan = GroupPlan(shape, time_groups, block, config.keyframe_interval)
    per_group = _parameters_per_group(plan, bits, key_bits, res)
    if config.block is None:
        while per_group > MAX_PARAMETERS_PER_GROUP and (split := _split(plan.block)) is not None:
            plan = GroupPlan(shape, time_groups, split, config.keyframe_interval)
            per_group = _parameters_per_group(plan, bits, key_bits, res)
    if config.width is not None:
        return Design(plan, _spec(plan, config, config.width))
    return resize(plan, config, per_group, payload_bytes)


def resize(
    plan: GroupPlan, config: CompressionConfig, parameters: float, payload_bytes: float
) -> Design:
    """The same plan with networks of about `parameters` parameters each."""
    width = min(MAX_WIDTH, width_for_parameters(_spec(plan, config, MIN_WIDTH), parameters))
    if width < MIN_WIDTH:
        smallest = _spec(plan, config, MIN_WIDTH).n_parameters
        raise RatioUnreachableError(
            f"a ratio of {config.ratio:g} leaves {payload_bytes:.0f} bytes for {len(plan)} groups, "
            f"too few for even the smallest network ({smallest} parameters per group). Ask for a "
            "lower ratio, or fewer groups (larger block, fewer time groups)."
        )
    return Design(plan, _spec(plan, config, width))


def coded_size(
    vectors: Iterable[np.ndarray],
    spec: ModelSpec,
    bits: float,
    residual: bool,
    level: int,
) -> int:
    """Bytes of every chain quantised and entropy-coded at one precision (one chain at a time)."""
    shapes = spec.parameter_shapes
    return sum(
        len(encode_chain(quantise_chain(v, shapes, bits), shapes, residual, level)) for v in vectors
    )


def search_bits(
    size_at: Callable[[float], int], budget: float, max_bits: float, min_bits: float = MIN_BITS
) -> float | None:
    """Highest precision in [min_bits, max_bits] whose coded size fits the budget (None if none)."""
    if size_at(max_bits) <= budget:
        return max_bits
    if size_at(min_bits) > budget:
        return None
    lo, hi = min_bits, max_bits
    while hi - lo > 0.05:
        mid = (lo + hi) / 2
        if size_at(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo
