"""The interface a network family implements, and what every family shares.

A family says how a file's groups are represented: its spec (the architecture stored in the
header), how many blobs it writes, how the decoder reads group values from them (`reader`), and
how the encoder fits and codes an image within a byte budget (`encode_at_ratio`). Most families
give every group its own small network (`NetworkFamily`: a trainable torch module, an exact
evaluator, and sizing rules that the shared chain pipeline of encode/ratio.py uses). The
encoder, the decoder, the config, the CLI and the widget only talk to these interfaces, so
adding a family is one module and one line in families/__init__.py.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import CorruptFileError

if TYPE_CHECKING:
    from ..config import CompressionConfig
    from ..encode.job import Job
    from ..encode.rate import Encoded
    from ..format.container import BlobSource
    from ..format.header import FileHeader
    from ..grouping import Group, GroupPlan
    from ..presets import ChainSizing, FamilyTuning

MAX_PARAMETERS = 1 << 24


class GroupValues(abc.ABC):
    """What a decoder reads a file's group values through (one per opened file; caches)."""

    @abc.abstractmethod
    def evaluate(self, group: Group, positions: list[np.ndarray]) -> np.ndarray:
        """Normalised values, float64, of `group` on the outer product of local (t, z, y, x)
        grid positions, bit-identical on every machine and whatever else is decoded."""


class ExactEvaluator(abc.ABC):
    """A group's network held as exact dyadic weights (decode/exact.py)."""

    @abc.abstractmethod
    def evaluate(self, positions: list[np.ndarray]) -> np.ndarray:
        """Normalised outputs, float64, on the outer product of per-axis grid positions."""


class Network(nn.Module, abc.ABC):
    """A group's trainable network: values at integer grid positions (n, axes).

    `parameters()` yields the tensors in the order of the spec's `parameter_shapes`, which is
    the order of the flat vector that is quantised and coded.
    """

    @abc.abstractmethod
    def encode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Encoded points (n, features) at integer grid positions (n, axes)."""

    @abc.abstractmethod
    def forward_features(self, features: torch.Tensor) -> torch.Tensor:
        """Values (n,) from encoded points."""

    def forward_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Values at integer grid positions (n, axes)."""
        return self.forward_features(self.encode_indices(indices))

    def parameter_groups(self, learning_rate: float) -> list[dict[str, Any]]:
        """Adam's parameter groups: one rate for everything unless a family says otherwise."""
        return [{"params": list(self.parameters()), "lr": learning_rate}]


@dataclass(frozen=True)
class ModelSpec(abc.ABC):
    """Architecture shared by every group of a file (stored in the header's "model")."""

    family: str
    axes: tuple[str, ...]
    extents: tuple[int, ...]

    @property
    @abc.abstractmethod
    def parameter_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the parameter tensors, in the order of the flat vector."""

    @property
    def n_parameters(self) -> int:
        return sum(math.prod(s) for s in self.parameter_shapes)

    @abc.abstractmethod
    def fields(self) -> dict[str, Any]:
        """The family's own fields as JSON (besides family, axes and extents)."""

    def to_dict(self) -> dict[str, Any]:
        base = {"family": self.family, "axes": list(self.axes), "extents": list(self.extents)}
        return base | self.fields()

    def describe(self) -> str:
        """The network in a few words, for reports."""
        return f"{self.family}, {self.n_parameters} parameters"

    @property
    def required_features(self) -> list[str]:
        """Features of the file's layout that a reader must know (listed in the header's
        "requires" besides a required family)."""
        return []


@dataclass(frozen=True)
class NetworkSpec(ModelSpec):
    """The spec of a family that gives every group its own network of this architecture."""

    @abc.abstractmethod
    def build(self) -> Network:
        """A freshly initialised trainable network (seed torch first for reproducibility)."""

    @abc.abstractmethod
    def exact(self, weights: np.ndarray, device: torch.device) -> ExactEvaluator:
        """The decoder's evaluator for one group's dequantised weights."""


class Family(abc.ABC):
    """A family of representations: how specs are read, files decoded and images encoded."""

    name: str
    summary: str
    """One line for help texts: what the family is and when it suits."""
    tuning: FamilyTuning
    required: bool = False
    """Whether the family's name is listed in its files' "requires", so that a reader from
    before the family refuses them with a clear message (False: every reader knows it)."""
    fits_on_clusters: bool = False
    """Whether its groups can be fitted on dask workers (`workers`, `scheduler`)."""

    @abc.abstractmethod
    def spec_from_dict(
        self, data: dict[str, Any], axes: tuple[str, ...], extents: tuple[int, ...]
    ) -> ModelSpec:
        """The spec a header describes (the shared fields already checked); raises
        CorruptFileError on anything out of range."""

    @abc.abstractmethod
    def blob_count(self, plan: GroupPlan) -> int:
        """Blobs the family writes for a plan (image residuals, if any, come after them)."""

    @abc.abstractmethod
    def reader(
        self, header: FileHeader, source: BlobSource, device: torch.device, cache: int
    ) -> GroupValues:
        """How a decoder reads group values from a file of this family."""

    @abc.abstractmethod
    def encode_at_ratio(self, job: Job, config: CompressionConfig) -> Encoded:
        """Fit and code `job`'s image within the byte budget of `config.ratio` (import any
        training code inside: reading a file must not load it)."""

    def fit_steps(self, shape: tuple[int, ...], config: CompressionConfig) -> int | None:
        """Training steps of a fit of a canonical `shape` with a resolved `config`, where its
        time grows with them rather than with the voxels (a trial on a crop scales by them);
        None where it grows with the voxels (more groups or tiles)."""
        return None


class NetworkFamily(Family):
    """A family that gives every group its own network: chains of groups coded as quantised
    weights with residuals between neighbours, sized by rate control (encode/ratio.py)."""

    sizing: ChainSizing
    fits_on_clusters = True
    refits_output: bool = True
    """Whether the output is a linear layer on `hidden_features`, refitted after quantisation."""

    def blob_count(self, plan: GroupPlan) -> int:
        return len(plan.chains())

    def reader(self, header, source, device, cache) -> GroupValues:
        from ..decode.networks import ChainNetworks

        return ChainNetworks(header, source, device, cache)

    def encode_at_ratio(self, job, config) -> Encoded:
        from ..encode.ratio import encode_at_ratio

        return encode_at_ratio(job, config)

    @abc.abstractmethod
    def sized(
        self, plan: GroupPlan, config: CompressionConfig, parameters: float
    ) -> ModelSpec | None:
        """The largest network of at most `parameters` for the plan, or None if even the
        smallest is larger."""

    @abc.abstractmethod
    def smallest(self, plan: GroupPlan, config: CompressionConfig) -> ModelSpec:
        """The smallest network the family makes for the plan."""

    def pinned(self, plan: GroupPlan, config: CompressionConfig) -> ModelSpec | None:
        """The network the config fixes (then rate control only searches the precision)."""
        return None


def check_spec(spec: ModelSpec, valid: bool, data: Any) -> ModelSpec:
    """`spec` if its family's checks passed and it is not absurdly large, else CorruptFileError."""
    if not valid or spec.n_parameters > MAX_PARAMETERS:
        raise CorruptFileError(f"the model description in the header is out of range: {data}.")
    return spec


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
