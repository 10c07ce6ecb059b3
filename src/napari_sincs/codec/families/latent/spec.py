"""The latent family's spec: the pyramid and the two small networks every file shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import ModelSpec, check_spec
from .context import DEFAULT, SHAPES, context_size
from .geometry import LatentGeometry

MAX_LEVELS = 10
MAX_WIDTH = 256
MAX_LAYERS = 4
MAX_SLAB = 1 << 16


def mlp_shapes(inputs: int, widths: tuple[int, ...], outputs: int) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    fan_in = inputs
    for width in (*widths, outputs):
        shapes += [(width, fan_in), (width,)]
        fan_in = width
    return shapes


@dataclass(frozen=True)
class LatentSpec(ModelSpec):
    """`levels` latent grids per volume, the finest sampling y and x every 2**first voxels and
    d every 2**max(0, first - d_lag); a synthesis MLP (levels -> synthesis -> 1) and an entropy
    model MLP (context -> arm -> mu, log-scale), both shared by the whole file. `slab` > 0 codes
    the finest level of a volume's tiles in slabs of that many cells along d (0: whole tiles,
    as files before slabs). `context` names what the entropy model sees (context.SHAPES)."""

    levels: int
    first: int
    d_lag: int
    synthesis: tuple[int, ...]
    arm: tuple[int, ...]
    slab: int = 0
    context: str = DEFAULT

    @property
    def dims(self) -> int:
        return 3 if len(self.axes) == 3 else 2

    @property
    def synthesis_shapes(self) -> list[tuple[int, ...]]:
        return mlp_shapes(self.levels, self.synthesis, 1)

    @property
    def arm_shapes(self) -> list[tuple[int, ...]]:
        return mlp_shapes(context_size(self.dims, self.levels, self.context), self.arm, 2)

    @property
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        """The networks' tensors, synthesis first: what the file's first blob holds."""
        return self.synthesis_shapes + self.arm_shapes

    @property
    def required_features(self) -> list[str]:
        slabs = ["latent-slabs"] if self.slab else []
        return slabs + (["latent-context"] if self.context != DEFAULT else [])

    def geometry(self, plan) -> LatentGeometry:
        return LatentGeometry(plan, self.levels, self.first, self.d_lag, self.slab, self.context)

    def fields(self) -> dict[str, Any]:
        fields = {
            "levels": self.levels,
            "first": self.first,
            "d_lag": self.d_lag,
            "synthesis": list(self.synthesis),
            "arm": list(self.arm),
        }
        fields |= {"slab": self.slab} if self.slab else {}
        return fields | ({"context": self.context} if self.context != DEFAULT else {})

    def describe(self) -> str:
        widths = "x".join(map(str, self.synthesis))
        context = "" if self.context == DEFAULT else f", context {self.context}"
        return (
            f"latent, {self.levels} levels, synthesis {widths}{context}, "
            f"{self.n_parameters} parameters"
        )


def spec_from_fields(name: str, data: dict[str, Any], axes, extents) -> LatentSpec:
    spec = LatentSpec(
        name,
        axes,
        extents,
        levels=int(data["levels"]),
        first=int(data["first"]),
        d_lag=int(data["d_lag"]),
        synthesis=tuple(int(w) for w in data["synthesis"]),
        arm=tuple(int(w) for w in data["arm"]),
        slab=int(data.get("slab", 0)),
        context=str(data.get("context", DEFAULT)),
    )
    widths = (*spec.synthesis, *spec.arm)
    valid = 1 <= spec.levels <= MAX_LEVELS and 0 <= spec.first <= 4 and 0 <= spec.d_lag <= 4
    valid = valid and 0 <= spec.slab <= MAX_SLAB and spec.context in SHAPES
    valid = valid and len(spec.synthesis) <= MAX_LAYERS and len(spec.arm) <= MAX_LAYERS
    return check_spec(spec, valid and all(1 <= w <= MAX_WIDTH for w in widths), data)
