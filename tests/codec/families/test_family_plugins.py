"""A network family is a plug-in: this file alone adds one and compresses and decodes with it.

The toy family fits one plane (an affine function of the local coordinates) per group: crude,
but a real family with its own spec, trainable module, exact evaluator and sizing rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import napari_sincs as sincs
from helpers import FAST, flat_psnr, load
from napari_sincs.cli import build_parser
from napari_sincs.codec import families
from napari_sincs.codec.decode.exact import ExactMlp, split_tensors
from napari_sincs.codec.families.base import (
    ExactEvaluator,
    Network,
    NetworkFamily,
    NetworkSpec,
    check_spec,
)
from napari_sincs.codec.families.pe_mlp import grid_coordinates
from napari_sincs.codec.presets import ChainSizing, FamilyTuning


@dataclass(frozen=True)
class PlaneSpec(NetworkSpec):
    @property
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        return [(1, len(self.axes)), (1,)]

    def build(self) -> Network:
        return PlaneNetwork(self)

    def exact(self, weights: np.ndarray, device: torch.device) -> ExactEvaluator:
        return ExactPlane(self, weights, device)

    def fields(self) -> dict[str, Any]:
        return {}


class PlaneNetwork(Network):
    def __init__(self, spec: PlaneSpec) -> None:
        super().__init__()
        self.spec = spec
        self.out = torch.nn.Linear(len(spec.axes), 1)

    def encode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        columns = [grid_coordinates(indices[:, a], e) for a, e in enumerate(self.spec.extents)]
        return torch.stack(columns, dim=1)

    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(features).squeeze(-1)


class ExactPlane(ExactEvaluator):
    def __init__(self, spec: PlaneSpec, weights: np.ndarray, device: torch.device) -> None:
        self.spec = spec
        self.device = device
        tensors = split_tensors(spec.parameter_shapes, spec.n_parameters, weights)
        self.layer = ExactMlp(tensors, 1.0, device)

    def evaluate(self, positions: list[np.ndarray]) -> np.ndarray:
        grids = np.meshgrid(*positions, indexing="ij")
        columns = [
            grid_coordinates(torch.from_numpy(g.reshape(-1)), e).double()
            for g, e in zip(grids, self.spec.extents)
        ]
        features = self.layer.on_input_grid(torch.stack(columns, dim=1).to(self.device))
        values = self.layer.tail(self.layer.first(features))
        return values.cpu().numpy().reshape([len(p) for p in positions])


class PlaneFamily(NetworkFamily):
    name = "plane"
    summary = "one plane per group (a test's toy)"
    tuning = FamilyTuning(depth=1, steps=300, batch_size=1024, learning_rate=2e-2)
    sizing = ChainSizing(
        key_bits=10.0, residual_bits=8.0, max_parameters_per_group=4, auto_time_groups=1
    )
    refits_output = False

    def _spec(self, plan) -> PlaneSpec:
        return PlaneSpec(self.name, plan.coordinate_axes, plan.coordinate_extents)

    def spec_from_dict(self, data, axes, extents) -> PlaneSpec:
        return check_spec(PlaneSpec(self.name, axes, extents), True, data)

    def sized(self, plan, config, parameters: float) -> PlaneSpec | None:
        spec = self._spec(plan)
        return spec if spec.n_parameters <= parameters else None

    def smallest(self, plan, config) -> PlaneSpec:
        return self._spec(plan)


@pytest.fixture
def plane_family():
    families.register(PlaneFamily())
    yield
    families.FAMILIES.remove("plane")


def test_a_registered_family_compresses_decodes_and_is_offered(plane_family, tmp_path):
    data = load("nuclei2d_crop.tif")
    path = tmp_path / "plane.sincs"
    config = FAST.replace(family="plane", ratio=12, saliency="uniform", block=(32, 32))
    report = sincs.compress(data, path, config=config)
    assert report.family == "plane" and report.groups == 16 and report.ratio >= 12
    decoded = sincs.decode(path)
    assert sincs.metrics.psnr(data, decoded) > flat_psnr(data) + 3
    with sincs.open_sincs(path) as lazy:
        assert lazy.header.model == PlaneSpec("plane", ("y", "x"), (32, 32))
        np.testing.assert_array_equal(lazy[40:90, 10:70], decoded[40:90, 10:70])
    assert "plane" in families.choices()
    options = build_parser().parse_args(["compress", "in.tif", "--family", "plane"])
    assert options.family == "plane"
    assert "plane (one plane per group" in families.help_text()


def test_a_file_of_an_unknown_family_says_what_to_install(plane_family, tmp_path):
    path = tmp_path / "plane.sincs"
    sincs.compress(load("nuclei2d_crop.tif"), path, config=FAST, family="plane", ratio=12)
    families.FAMILIES.remove("plane")
    with pytest.raises(sincs.UnsupportedVersionError, match="family 'plane'.*install a newer"):
        sincs.open_sincs(path)
    with pytest.raises(sincs.InvalidConfigError, match="family must be one of auto, pe_mlp"):
        sincs.CompressionConfig(family="plane")
