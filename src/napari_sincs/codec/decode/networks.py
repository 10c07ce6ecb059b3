"""The values of network families' groups: each group's weights from its chain's blob
(keyframe plus residuals), evaluated by its family's exact evaluator."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CorruptFileError
from ..families.base import ExactEvaluator, GroupValues
from ..format.container import BlobSource
from ..format.header import FileHeader
from ..format.weights import decode_chain
from ..grouping import Group
from .cache import LruCache


class ChainNetworks(GroupValues):
    """Decodes weight chains on demand; caches chains and groups' evaluators."""

    def __init__(
        self, header: FileHeader, source: BlobSource, device: torch.device, cache: int = 256
    ) -> None:
        self.header = header
        self.source = source
        self.device = device
        self.plan = header.plan
        self._chains = self.plan.chains()
        self._weights = LruCache(max(4, cache // max(1, self.plan.keyframe_interval)))
        self._networks = LruCache(cache)

    def _chain_weights(self, chain: int) -> np.ndarray:
        cached = self._weights.get(chain)
        if cached is not None:
            return cached
        spec = self.header.model
        groups = len(self._chains[chain])
        shapes = spec.parameter_shapes
        quantised = decode_chain(self.source.read_blob(chain), groups, shapes)
        weights = quantised.dequantise(shapes, np.float64)
        if not np.all(np.isfinite(weights)):
            raise CorruptFileError(f"weight blob {chain} decodes to non-finite weights.")
        self._weights.put(chain, weights)
        return weights

    def group_parameters(self, index: int) -> np.ndarray:
        """Dequantised flat parameters of one group (exact float64 dyadics)."""
        chain = self.plan.chain_of(index)
        return self._chain_weights(chain)[index - self._chains[chain].start]

    def network(self, index: int) -> ExactEvaluator:
        """One group's exact evaluator (its family's)."""
        cached = self._networks.get(index)
        if cached is not None:
            return cached
        network = self.header.model.exact(self.group_parameters(index), self.device)
        self._networks.put(index, network)
        return network

    def evaluate(self, group: Group, positions: list[np.ndarray]) -> np.ndarray:
        by_axis = dict(zip("tzyx", positions))
        axes = self.header.model.axes
        values = self.network(group.index).evaluate([by_axis[a] for a in axes])
        return values.reshape([len(p) for p in positions])
