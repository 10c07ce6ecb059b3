"""Planning: cut the array into groups and size every group's network for a byte budget.

The budget is raw bytes / ratio for the whole file. Networks are sized from the family's
expected bits per parameter of keyframes and of residual groups (presets.ChainSizing); blocks
are halved until a group's network is no larger than the family allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import presets
from ..config import CompressionConfig
from ..errors import RatioUnreachableError
from ..families import ModelSpec, get_family
from ..grouping import GroupPlan


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


def _parameters_per_group(
    plan: GroupPlan, payload_bits: float, key_bits: float, res_bits: float
) -> float:
    chains = len(plan.chains())
    return payload_bits / (chains * key_bits + (len(plan) - chains) * res_bits)


def _halve_block(block: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """Halve the block along its largest side that may still be halved."""
    z, y, x = block
    options = [
        (y, 1, presets.MIN_BLOCK_YX),
        (x, 2, presets.MIN_BLOCK_YX),
        (z, 0, presets.MIN_BLOCK_Z),
    ]
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
    family = get_family(config.family)
    sizing = family.sizing
    bits = payload_bytes * 8
    key_bits = sizing.key_bits
    res_bits = sizing.residual_bits if config.residual_coding else key_bits
    time_groups = config.time_groups or min(shape[0], sizing.auto_time_groups)
    plan = GroupPlan(shape, time_groups, _block_for(shape, config), config.keyframe_interval)
    per_group = _parameters_per_group(plan, bits, key_bits, res_bits)
    if config.block is None:
        largest = sizing.max_parameters_per_group
        while per_group > largest and (halved := _halve_block(plan.block)) is not None:
            plan = GroupPlan(shape, time_groups, halved, config.keyframe_interval)
            per_group = _parameters_per_group(plan, bits, key_bits, res_bits)
    pinned = family.pinned(plan, config)
    if pinned is not None:
        return Design(plan, pinned)
    return resize(plan, config, per_group, payload_bytes)


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
    family = get_family(config.family)
    spec = family.sized(plan, config, parameters)
    if spec is None and at_least_smallest:
        spec = family.smallest(plan, config)
    if spec is None:
        smallest = family.smallest(plan, config).n_parameters
        raise RatioUnreachableError(
            f"a ratio of {config.ratio:g} leaves {payload_bytes:.0f} bytes for {len(plan)} groups, "
            f"too few for even the smallest network ({smallest} parameters per group); fewer "
            "groups (a larger block, fewer time groups) need fewer bytes."
        )
    return Design(plan, spec)
