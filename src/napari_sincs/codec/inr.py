"""Implicit neural representations of one group, and their flat parameter vectors.

Two families share one interface (fit a group from integer grid indices, export and import a
flat vector, be evaluated exactly by exact.py):

* ``pe_mlp``, the method's reference: per-axis positional encoding
  gamma(v) = (v, sin 2^k pi v, cos 2^k pi v for k < L) followed by a ReLU MLP;
* ``grid``: multi-resolution feature grids (cells of 2^k voxels, `features` values per grid
  point, linear interpolation between the 2^D corners) followed by a small ReLU MLP. Nearly all
  parameters are grid values, cheap to evaluate and to quantise; a voxel costs a few hundred
  multiply-adds instead of thousands.

Training takes integer grid indices (n, axes): the PE family gathers rows of per-axis encoding
tables, the grid family interpolates with weights that are exact binary fractions, exactly as
the decoder does.
"""

from __future__ import annotations

import abc
import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import CorruptFileError

FAMILIES = ("pe_mlp", "grid")
MAX_PARAMETERS = 1 << 24


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


# Along time a grid cell spans at most 2**TIME_CELL_EXPONENT of a group's frames: content moves
# between frames far more than between neighbouring voxels.
TIME_CELL_EXPONENT = 1


def cell_exponent(extent: int, level: int, axis: str = "") -> int:
    """log2 of a grid cell along an axis: the level's, less on axes too short for it, and at
    most TIME_CELL_EXPONENT along time."""
    cap = TIME_CELL_EXPONENT if axis == "t" else level
    return min(level, cap, max(0, math.floor(math.log2(max(extent - 1, 1)))))


def grid_points(extent: int, level: int, axis: str = "") -> int:
    """Grid points along an axis of `extent` voxels at cells of 2**cell_exponent voxels."""
    return math.ceil((extent - 1) / 2 ** cell_exponent(extent, level, axis)) + 1


@dataclass(frozen=True)
class ModelSpec:
    """Architecture shared by every group of a file (stored in the header)."""

    family: str
    axes: tuple[str, ...]
    extents: tuple[int, ...]
    frequencies: tuple[int, ...]
    width: int
    depth: int
    levels: tuple[int, ...] = ()
    features: int = 0

    @property
    def in_features(self) -> int:
        if self.family == "grid":
            return self.features * len(self.levels)
        return sum(1 + 2 * f for f in self.frequencies)

    def grid_shape(self, level: int) -> tuple[int, ...]:
        return (self.features, *(grid_points(e, level, a) for e, a in zip(self.extents, self.axes)))

    @property
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the parameter tensors, in the order of the flat vector."""
        shapes: list[tuple[int, ...]] = [self.grid_shape(level) for level in self.levels]
        fan_in = self.in_features
        for _ in range(self.depth):
            shapes += [(self.width, fan_in), (self.width,)]
            fan_in = self.width
        shapes += [(1, fan_in), (1,)]
        return shapes

    @property
    def n_parameters(self) -> int:
        return sum(math.prod(s) for s in self.parameter_shapes)

    def build(self) -> nn.Module:
        return GridMlp(self) if self.family == "grid" else PeMlp(self)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "family": self.family,
            "axes": list(self.axes),
            "extents": list(self.extents),
            "width": self.width,
            "depth": self.depth,
        }
        if self.family == "grid":
            return data | {"levels": list(self.levels), "features": self.features}
        return data | {"frequencies": list(self.frequencies)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        try:
            family = str(data["family"])
            spec = cls(
                family=family,
                axes=tuple(str(a) for a in data["axes"]),
                extents=tuple(int(e) for e in data["extents"]),
                frequencies=tuple(int(f) for f in data.get("frequencies", [])),
                width=int(data["width"]),
                depth=int(data["depth"]),
                levels=tuple(int(k) for k in data.get("levels", [])),
                features=int(data.get("features", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(
                f"the model description in the header is invalid ({exc})."
            ) from exc
        n = len(spec.axes)
        shared = (
            spec.family in FAMILIES
            and 2 <= n <= 4
            and len(spec.extents) == n
            and all(2 <= e <= 2**31 for e in spec.extents)
            and 1 <= spec.width <= 1024
            and 1 <= spec.depth <= 16
        )
        if spec.family == "grid":
            valid = shared and 1 <= len(spec.levels) <= 8 and 1 <= spec.features <= 16
            valid = valid and all(0 <= k <= 30 for k in spec.levels) and not spec.frequencies
        else:
            valid = shared and len(spec.frequencies) == n and not spec.levels
            valid = valid and all(0 <= f <= 16 for f in spec.frequencies)
        if not valid or spec.n_parameters > MAX_PARAMETERS:
            raise CorruptFileError(f"the model description in the header is out of range: {data}.")
        return spec


def width_for_parameters(spec: ModelSpec, n_parameters: float) -> int:
    """Largest MLP width whose PE network has at most `n_parameters` parameters (at least 2)."""
    a = spec.depth - 1
    b = spec.in_features + spec.depth + 1
    c = 1 - n_parameters
    width = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return max(2, int(width))


class _Mlp(nn.Module, abc.ABC):
    """`depth` ReLU layers of `width`, then one output: the part both families share."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        layers: list[nn.Linear] = []
        fan_in = spec.in_features
        for _ in range(spec.depth):
            layers.append(nn.Linear(fan_in, spec.width))
            fan_in = spec.width
        self.hidden = nn.ModuleList(layers)
        self.out = nn.Linear(fan_in, 1)

    def hidden_features(self, features: torch.Tensor) -> torch.Tensor:
        """What the output layer sees, (n, width): the output is linear in it, so the output
        layer can be refitted in closed form (refit.py)."""
        h = features
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return h

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        """Values from encoded points (n, in_features)."""
        return self.out(self.hidden_features(features)).squeeze(-1)

    @abc.abstractmethod
    def encode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Encoded points (n, in_features) at integer grid positions (n, axes)."""

    def forward_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Values at integer grid positions (n, axes)."""
        return self.forward_features(self.encode_indices(indices))


class PeMlp(_Mlp):
    """Positional encoding per axis, then the MLP."""

    def __init__(self, spec: ModelSpec) -> None:
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


class GridMlp(_Mlp):
    """Multi-resolution feature grids, linearly interpolated, then the MLP."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.grids = nn.ParameterList(
            nn.Parameter(torch.zeros(spec.grid_shape(level))) for level in spec.levels
        )
        self._exponents = [
            [cell_exponent(e, level, a) for e, a in zip(spec.extents, spec.axes)]
            for level in spec.levels
        ]

    def grid_parameters(self) -> list[nn.Parameter]:
        return list(self.grids)

    def parameters(self, recurse: bool = True):
        """Grids first, then the MLP: the order of `ModelSpec.parameter_shapes`."""
        yield from self.grids
        yield from (p for name, p in self.named_parameters() if not name.startswith("grids."))

    def encode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """All 2^D corners of every level gathered at once from the flattened grid, weighted
        by products of exact binary fractions."""
        dims = len(self.spec.axes)
        corners = torch.tensor(
            list(itertools.product((0, 1), repeat=dims)), dtype=torch.float32, device=indices.device
        )
        features = []
        for grid, exponents in zip(self.grids, self._exponents):
            sizes = grid.shape[1:]
            strides = [math.prod(sizes[a + 1 :]) for a in range(dims)]
            base = torch.zeros(indices.shape[0], dtype=torch.long, device=indices.device)
            steps, fractions = [], []
            for axis, k in enumerate(exponents):
                position = indices[:, axis]
                low = position >> k
                base = base + low * strides[axis]
                steps.append((torch.clamp(low + 1, max=sizes[axis] - 1) - low) * strides[axis])
                fractions.append((position & ((1 << k) - 1)).to(grid.dtype) / (1 << k))
            step = torch.stack(steps, 1).to(torch.float32)
            fraction = torch.stack(fractions, 1)
            flat = base[:, None] + (step @ corners.T).round().long()
            weight = torch.prod(
                corners[None] * fraction[:, None] + (1 - corners[None]) * (1 - fraction[:, None]),
                dim=2,
            )
            # index_select, not advanced indexing: its backward (index_add) sums in a fixed
            # order, so two fits with several CPU threads give the same weights.
            table = grid.reshape(grid.shape[0], -1)
            values = table.index_select(1, flat.reshape(-1)).reshape(grid.shape[0], *flat.shape)
            features.append((values * weight[None]).sum(-1).T)
        return torch.cat(features, dim=1)


def flatten_parameters(model: nn.Module) -> torch.Tensor:
    """All parameters as one float32 vector, in `ModelSpec.parameter_shapes` order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).float().cpu()


def unflatten_parameters(model: nn.Module, vector: torch.Tensor) -> None:
    """Load a flat vector (from `flatten_parameters` or a decoded file) into a model."""
    params = list(model.parameters())
    needed = sum(p.numel() for p in params)
    if vector.numel() != needed:
        raise CorruptFileError(
            f"a group holds {vector.numel()} parameters where the model needs {needed}."
        )
    with torch.no_grad():
        offset = 0
        for p in params:
            p.copy_(vector[offset : offset + p.numel()].reshape(p.shape))
            offset += p.numel()
