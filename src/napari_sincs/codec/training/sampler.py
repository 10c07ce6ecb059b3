"""The sampler that turns a group's saliency weights into training coordinates."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidInputError


class CoordinateSampler:
    """Draws flat voxel indices of one group, uniformly or in proportion to a weight map."""

    def __init__(
        self,
        n_voxels: int,
        weights: np.ndarray | None,
        generator: torch.Generator,
        device: torch.device,
    ) -> None:
        self.n_voxels = n_voxels
        self.generator = generator
        self.device = device
        self._cdf: torch.Tensor | None = None
        if weights is not None:
            w = torch.as_tensor(weights.reshape(-1), dtype=torch.float64)
            if w.numel() != n_voxels:
                raise InvalidInputError(
                    f"saliency map has {w.numel()} voxels for a group of {n_voxels}."
                )
            cdf = torch.cumsum(w, 0)
            cdf /= cdf[-1].clone()
            self._cdf = cdf.to(torch.float32 if device.type == "cuda" else torch.float64).to(device)

    def sample(self, batch: int) -> torch.Tensor:
        if self._cdf is None:
            return torch.randint(
                0, self.n_voxels, (batch,), generator=self.generator, device=self.generator.device
            ).to(self.device)
        u = torch.rand(
            batch, generator=self.generator, device=self.generator.device, dtype=self._cdf.dtype
        )
        idx = torch.searchsorted(self._cdf, u.to(self.device))
        return idx.clamp_(max=self.n_voxels - 1)
