"""INR-S: the paper's ablation baseline, one SIREN for the whole array.

No grouping, no weight transfer, no saliency, no residual coding: a single sine-activated MLP
(w0 = 30, three hidden layers) maps normalised (t, z, y, x) coordinates to every channel, its
width sized so that float16 weights fill the byte budget, trained with Adam on uniformly sampled
voxels, stored as raw float16.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch
from torch import nn

from napari_sincs.codec.layout import ArrayLayout

from .codecs import Codec, Compressed

DEPTH = 3
OMEGA = 30.0
STEPS = 4000
BATCH = 8192
LEARNING_RATE = 1e-4
HEADER_BYTES = 32


class Siren(nn.Module):
    def __init__(self, inputs: int, width: int, outputs: int) -> None:
        super().__init__()
        sizes = [inputs] + [width] * DEPTH
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(width, outputs)
        with torch.no_grad():
            for i, layer in enumerate(self.hidden):
                bound = (
                    1 / layer.in_features if i == 0 else math.sqrt(6 / layer.in_features) / OMEGA
                )
                layer.weight.uniform_(-bound, bound)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = points
        for layer in self.hidden:
            h = torch.sin(OMEGA * layer(h))
        return self.out(h)


def _width(inputs: int, outputs: int, parameters: float) -> int:
    a = DEPTH - 1
    b = inputs + 1 + (DEPTH - 1) + outputs
    c = outputs - parameters
    return max(2, int((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)))


class InrS(Codec):
    name = "INR-S (one SIREN)"
    family = "inr"

    def at_ratio(self, data, axes, ratio):
        layout = ArrayLayout(axes, data.shape)
        canonical = layout.to_canonical(data)
        t, c, z, y, x = canonical.shape
        dims = [n for n in (t, z, y, x) if n > 1]
        budget = data.nbytes / ratio - HEADER_BYTES
        width = _width(len(dims), c, budget / 2)
        if width < 4:
            return None
        lo, hi = float(data.min()), float(data.max())
        span = hi - lo or 1.0
        values = torch.from_numpy(
            ((canonical.astype(np.float32) - lo) / span).transpose(0, 2, 3, 4, 1).reshape(-1, c)
        )
        grids = [torch.linspace(-1, 1, n) for n in dims]
        shape = dims

        def coords(flat: torch.Tensor) -> torch.Tensor:
            columns = []
            for n, grid in zip(reversed(shape), reversed(grids)):
                columns.append(grid[flat % n])
                flat = flat // n
            return torch.stack(columns[::-1], 1)

        started = time.perf_counter()
        torch.manual_seed(0)
        model = Siren(len(dims), width, c)
        optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        generator = torch.Generator().manual_seed(0)
        for _ in range(STEPS):
            flat = torch.randint(0, values.shape[0], (BATCH,), generator=generator)
            loss = torch.mean((model(coords(flat)) - values[flat]) ** 2)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
        nbytes = HEADER_BYTES + 2 * sum(p.numel() for p in model.parameters())
        seconds = time.perf_counter() - started

        def evaluate(region: tuple[slice, ...]) -> np.ndarray:
            canonical_region = layout.canonical_region(region)
            t_, c_, z_, y_, x_ = canonical_region
            present = [(s, n) for s, n in zip((t_, z_, y_, x_), (t, z, y, x)) if n > 1]
            axes_points = [torch.linspace(-1, 1, n)[s] for s, n in present]
            mesh = torch.meshgrid(*axes_points, indexing="ij")
            points = torch.stack([m.reshape(-1) for m in mesh], 1)
            with torch.inference_mode():
                out = torch.cat([model(chunk) for chunk in points.split(1 << 16)]).numpy()
            full_shape = [len(range(*s.indices(n))) for s, n in zip((t_, z_, y_, x_), (t, z, y, x))]
            out = out.reshape(*full_shape, c).transpose(0, 4, 1, 2, 3)[:, c_]
            scaled = np.clip(out, 0, 1).astype(np.float64) * span + lo
            return np.ascontiguousarray(layout.from_canonical(_cast(scaled, data.dtype)))

        def decode() -> np.ndarray:
            return evaluate(tuple(slice(0, n) for n in data.shape))

        return Compressed(nbytes, decode, evaluate, True, f"width {width}, float16", seconds)


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)
