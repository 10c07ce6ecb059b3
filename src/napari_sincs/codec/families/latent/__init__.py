"""The latent-grid family: hierarchical latent grids entropy-coded by an auto-regressive model,
a small synthesis network shared by the whole file, trained on distortion + lambda * rate (in
the class of Cool-chic and C3).

geometry.py: volumes, levels and tiles; context.py: what the entropy model sees; probability.py:
exact probability tables; coding.py: a tile's range-coded blob; reader.py: decoding regions;
fit.py: training and lambda steered to the budget, landing.py: a trained fit landed in its budget,
tiled.py: training tile by tile (images too large to train whole, dask workers); all three
imported only to compress.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from ... import presets
from ...errors import InvalidConfigError
from ...grouping import GroupPlan
from ..base import Family
from .spec import LatentSpec, spec_from_fields

if TYPE_CHECKING:
    from ...format.header import ImageMetadata


def plan_for(shape: tuple[int, ...], config) -> GroupPlan:
    """Volumes and tiles for a canonical shape: every time point of a z stack its own volume,
    the frames of a 2D+T image in interlaced groups of at most LATENT_MAX_FRAMES; tiles of
    LATENT_TILE (or the config's block) rounded up to whole coarsest cells."""
    t, _, z, y, x = shape
    if z > 1:
        if config.time_groups not in (None, t):
            raise InvalidConfigError(
                "the latent family codes every time point of a z stack as a volume of its own; "
                f"leave time_groups unset (got {config.time_groups})."
            )
        time_groups = t
    else:
        time_groups = config.time_groups or math.ceil(t / presets.LATENT_MAX_FRAMES)
    wanted = presets.LATENT_TILE if config.block is None else config.block
    if len(wanted) == 2:
        wanted = (presets.LATENT_TILE[0], *wanted)
    top = presets.LATENT_FIRST + presets.LATENT_LEVELS - 1
    exponents = (max(0, top - presets.LATENT_D_LAG), top, top)
    block = tuple(
        extent if size >= extent else -(-size // (1 << k)) * (1 << k)
        for size, extent, k in zip(wanted, (z, y, x), exponents)
    )
    return GroupPlan(shape, time_groups, block, config.keyframe_interval)


def d_lag_for(plan: GroupPlan, metadata: ImageMetadata, ratio: float) -> int:
    """How many levels z stays finer than y and x: one more on a z stack whose voxel size puts
    its planes at least presets.LATENT_ANISOTROPY pixels apart, up to
    presets.LATENT_ANISOTROPIC_MAX_RATIO (presets.py)."""
    scale, units = metadata.scale, metadata.units
    sizes = [scale.get(axis) for axis in "zyx"]
    one_unit = len({units.get(axis) for axis in "zyx"}) == 1
    if plan.shape[2] == 1 or None in sizes or not one_unit:
        return presets.LATENT_D_LAG
    z, y, x = sizes
    anisotropic = z >= presets.LATENT_ANISOTROPY * math.sqrt(y * x)
    if anisotropic and ratio <= presets.LATENT_ANISOTROPIC_MAX_RATIO:
        return presets.LATENT_D_LAG + 1
    return presets.LATENT_D_LAG


class LatentFamily(Family):
    name = "latent"
    summary = "latent grids entropy-coded by an auto-regressive model, one synthesis network"
    tuning = presets.LATENT
    required = True
    fits_on_clusters = True

    def spec_for(self, plan: GroupPlan, d_lag: int | None = None) -> LatentSpec:
        spec = LatentSpec(
            self.name,
            plan.coordinate_axes,
            plan.coordinate_extents,
            levels=presets.LATENT_LEVELS,
            first=presets.LATENT_FIRST,
            d_lag=presets.LATENT_D_LAG if d_lag is None else d_lag,
            synthesis=presets.LATENT_SYNTHESIS,
            arm=presets.LATENT_ARM,
            context=presets.LATENT_CONTEXT,
        )
        if spec.geometry(plan).dims == 3:
            spec = dataclasses.replace(spec, slab=presets.LATENT_SLAB)
        return spec

    def spec_from_dict(self, data, axes, extents) -> LatentSpec:
        return spec_from_fields(self.name, data, axes, extents)

    def blob_count(self, plan: GroupPlan) -> int:
        return 1 + len(plan)

    def reader(self, header, source, device, cache):
        from .reader import LatentValues

        return LatentValues(header, source, device, cache)

    def fit_steps(self, shape, config):
        """The steps of a fit of every volume at once; None above the size trained tile by tile,
        whose time grows with its tiles."""
        if math.prod(shape) > presets.LATENT_WHOLE_MAX_VOXELS:
            return None
        from .fit import planned_steps

        plan = plan_for(shape, config)
        return planned_steps(self.spec_for(plan).geometry(plan), config)

    def encode_at_ratio(self, job, config):
        from .fit import encode_at_ratio

        return encode_at_ratio(self, job, config)


FAMILY = LatentFamily()
