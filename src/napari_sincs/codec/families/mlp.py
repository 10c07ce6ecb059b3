"""The ReLU MLP both built-in families end in, as a trainable module and as spec fields."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .base import Network, NetworkSpec


@dataclass(frozen=True)
class MlpSpec(NetworkSpec):
    """A spec whose network ends in `depth` ReLU layers of `width` and one linear output."""

    width: int
    depth: int

    @property
    @abc.abstractmethod
    def in_features(self) -> int:
        """Features per point the MLP takes."""

    def mlp_shapes(self) -> list[tuple[int, ...]]:
        """Weight and bias shapes of every layer, output last."""
        shapes: list[tuple[int, ...]] = []
        fan_in = self.in_features
        for _ in range(self.depth):
            shapes += [(self.width, fan_in), (self.width,)]
            fan_in = self.width
        return [*shapes, (1, fan_in), (1,)]

    def mlp_fields(self) -> dict[str, Any]:
        return {"width": self.width, "depth": self.depth}

    def describe(self) -> str:
        return f"{self.family}, width {self.width}, {self.n_parameters} parameters"


def mlp_size(data: dict[str, Any]) -> dict[str, int]:
    """The MLP's width and depth as a header gives them."""
    return {"width": int(data["width"]), "depth": int(data["depth"])}


def mlp_size_valid(width: int, depth: int) -> bool:
    return 1 <= width <= 1024 and 1 <= depth <= 16


class MlpNetwork(Network):
    """`depth` ReLU layers of `width`, then one output."""

    def __init__(self, spec: MlpSpec) -> None:
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
        layer can be refitted in closed form (training/refit.py)."""
        h = features
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return h

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden_features(features)).squeeze(-1)
