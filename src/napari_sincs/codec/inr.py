"""Implicit neural representations: positional encoding + MLP, and their flat parameter vectors.

Training gathers rows of per-axis encoding tables instead of recomputing sines for every sample
(`forward_features`); `forward` is the plain definition and the two must agree. Decoding does not
use this module: it evaluates the same network exactly (exact.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import CorruptFileError


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


@dataclass(frozen=True)
class ModelSpec:
    """Architecture shared by every group of a file (stored in the header)."""

    family: str
    axes: tuple[str, ...]
    extents: tuple[int, ...]
    frequencies: tuple[int, ...]
    width: int
    depth: int

    @property
    def in_features(self) -> int:
        return sum(1 + 2 * f for f in self.frequencies)

    @property
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the parameter tensors, in the order of the flat vector."""
        shapes: list[tuple[int, ...]] = []
        fan_in = self.in_features
        for _ in range(self.depth):
            shapes += [(self.width, fan_in), (self.width,)]
            fan_in = self.width
        shapes += [(1, fan_in), (1,)]
        return shapes

    @property
    def n_parameters(self) -> int:
        return sum(math.prod(s) for s in self.parameter_shapes)

    def build(self) -> PeMlp:
        return PeMlp(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "axes": list(self.axes),
            "extents": list(self.extents),
            "frequencies": list(self.frequencies),
            "width": self.width,
            "depth": self.depth,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        try:
            spec = cls(
                family=str(data["family"]),
                axes=tuple(str(a) for a in data["axes"]),
                extents=tuple(int(e) for e in data["extents"]),
                frequencies=tuple(int(f) for f in data["frequencies"]),
                width=int(data["width"]),
                depth=int(data["depth"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(
                f"the model description in the header is invalid ({exc})."
            ) from exc
        n = len(spec.axes)
        if (
            spec.family != "pe_mlp"
            or not 2 <= n <= 4
            or len(spec.extents) != n
            or len(spec.frequencies) != n
            or not all(1 <= e <= 2**31 for e in spec.extents)
            or not all(0 <= f <= 16 for f in spec.frequencies)
            or not 1 <= spec.width <= 1024
            or not 1 <= spec.depth <= 16
        ):
            raise CorruptFileError(f"the model description in the header is out of range: {data}.")
        return spec


def width_for_parameters(spec: ModelSpec, n_parameters: float) -> int:
    """Largest width whose network has at most `n_parameters` parameters (at least 2)."""
    a = spec.depth - 1
    b = spec.in_features + spec.depth + 1
    c = 1 - n_parameters
    width = -c / b if a == 0 else (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return max(2, int(width))


class PeMlp(nn.Module):
    """Positional encoding per axis, then `depth` ReLU layers of `width`, then one output."""

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

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        """Values from already encoded points (n, in_features): the training path."""
        h = features
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.out(h).squeeze(-1)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Values at arbitrary points, (n, axes) local coordinates in (-1, 1)."""
        features = torch.cat(
            [encode_axis(points[:, i], f) for i, f in enumerate(self.spec.frequencies)], dim=1
        )
        return self.forward_features(features)


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
