"""Rate control: size the groups and networks from the byte budget, then pick the weight precision.

The user asks for a ratio; the budget is raw bytes / ratio for the whole file. Networks are sized
from the expected bits per parameter of keyframes and of residual groups (CODED_BITS; the encoder
re-measures them when it has to refit), and the quantisation precision is then searched so that
the coded file lands just under the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .config import GRID_WIDTH, CompressionConfig
from .entropy import encode_chain
from .errors import RatioUnreachableError
from .grouping import GroupPlan
from .inr import ModelSpec, auto_frequencies, width_for_parameters
from .quantize import quantise_chain

# Expected coded bits per parameter of a keyframe group and of a residual group. PE-MLPs were
# measured at 8-bit weights on cell_migration_2dt; grid values lose almost nothing at 6 bits, so
# grids are sized to be quantised more coarsely.
CODED_BITS = {"pe_mlp": (6.8, 4.2), "grid": (5.0, 3.0)}
# Blocks are split until a group's networks are at most this big: PE-MLPs cost every voxel all
# their weights, so they stay small; grid networks cost a voxel a few hundred multiply-adds
# whatever the grid size, so fewer, larger groups are fine.
MAX_PARAMETERS_PER_GROUP = {"pe_mlp": 8000, "grid": 32768}
# Finest grid cell 2**k: k stays small enough for exact decoding (exact.py) and useful detail.
MAX_GRID_EXPONENT = 7
MAX_FEATURES = 4
MIN_WIDTH = 8
MAX_WIDTH = 256
MIN_BLOCK_YX = 64
MIN_BLOCK_Z = 16
# Interlaced time groups when not given: the PE family gains from them; grid networks model time
# directly (cells of two frames), and interlacing would put 4 frames between their nodes.
AUTO_TIME_GROUPS = {"pe_mlp": 4, "grid": 1}
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


def _spec(
    plan: GroupPlan,
    config: CompressionConfig,
    width: int,
    levels: tuple[int, ...] = (),
    features: int = 0,
) -> ModelSpec:
    extents = plan.coordinate_extents
    frequencies = (
        ()
        if config.family == "grid"
        else tuple(auto_frequencies(e, config.frequencies) for e in extents)
    )
    return ModelSpec(
        family=config.family,
        axes=plan.coordinate_axes,
        extents=extents,
        frequencies=frequencies,
        width=width,
        depth=config.resolved().depth,
        levels=levels,
        features=features,
    )


def grid_design(plan: GroupPlan, config: CompressionConfig, parameters: float) -> ModelSpec | None:
    """The finest grid network within `parameters`: the smallest cell 2**k whose one-feature
    grids fit, then as many features per point (up to MAX_FEATURES) as the budget allows.
    Finer grids beat more features per point at the same size. None if nothing fits."""
    width = config.width or GRID_WIDTH
    for finest in range(MAX_GRID_EXPONENT - config.grid_levels + 2):
        levels = tuple(range(finest + config.grid_levels - 1, finest - 1, -1))
        choices = (config.features,) if config.features else range(MAX_FEATURES, 0, -1)
        for features in choices:
            spec = _spec(plan, config, width, levels, features)
            if spec.n_parameters <= parameters:
                return spec
    return None


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
    shape: tuple[int, int, int, int, int], payload_bytes: float, config: CompressionConfig
) -> Design:
    """Choose time groups, block and network size for a payload budget."""
    bits = payload_bytes * 8
    key_bits, res_bits = CODED_BITS[config.family]
    res = res_bits if config.residual_coding else key_bits
    time_groups = config.time_groups or min(shape[0], AUTO_TIME_GROUPS[config.family])
    block = _block_for(shape, config)
    plan = GroupPlan(shape, time_groups, block, config.keyframe_interval)
    per_group = _parameters_per_group(plan, bits, key_bits, res)
    largest = MAX_PARAMETERS_PER_GROUP[config.family]
    if config.block is None:
        while per_group > largest and (split := _split(plan.block)) is not None:
            plan = GroupPlan(shape, time_groups, split, config.keyframe_interval)
            per_group = _parameters_per_group(plan, bits, key_bits, res)
    if config.width is not None and config.family == "pe_mlp":
        return Design(plan, _spec(plan, config, config.width))
    return resize(plan, config, per_group, payload_bytes)


def _smallest_spec(plan: GroupPlan, config: CompressionConfig) -> ModelSpec:
    """The smallest network the family can make for this plan."""
    if config.family == "grid":
        top = MAX_GRID_EXPONENT
        coarsest = tuple(range(top, top - config.grid_levels, -1))
        return _spec(plan, config, config.width or GRID_WIDTH, coarsest, 1)
    return _spec(plan, config, MIN_WIDTH)


def resize(
    plan: GroupPlan,
    config: CompressionConfig,
    parameters: float,
    payload_bytes: float,
    at_least_smallest: bool = False,
) -> Design:
    """The same plan with networks of about `parameters` parameters each.

    Below the family's smallest network this raises, unless `at_least_smallest`: a refit after
    an overshoot then gets the smallest network, which coarser weights may still fit.
    """
    if config.family == "grid":
        spec = grid_design(plan, config, parameters)
        if spec is not None:
            return Design(plan, spec)
        if at_least_smallest:
            return Design(plan, _smallest_spec(plan, config))
        width = 0
    else:
        width = min(MAX_WIDTH, width_for_parameters(_spec(plan, config, MIN_WIDTH), parameters))
        if at_least_smallest:
            width = max(width, MIN_WIDTH)
    if width < MIN_WIDTH:
        smallest = _smallest_spec(plan, config).n_parameters
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
