"""Learned saliency: Grad-CAM of a small CNN trained on the image itself, over structure classes.

Nothing is downloaded and no weights ship with the package: a pretrained network would have to
fit every modality users bring (fluorescence, phase, EM, MRI), and it would not. Instead a
~5k-parameter network learns in seconds, on windows of the image being compressed, to tell which
structure classes a patch holds:

- ``objects``: voxels above the channel's threshold (Otsu's unless given),
- ``edges``: the strongest tenth of gradient magnitudes (object boundaries),
- ``texture``: the strongest tenth of Laplacian-of-Gaussian responses (fine detail).

The labels are weak (per patch: how much of each class it holds); Grad-CAM then localises, per
class, what drove the score: the gradient of the class score with respect to the last
convolutional feature map, summed over space, weights the map's channels (the paper averages;
the sum cancels global average pooling's 1/size, so maps do not depend on the plane's size);
the ReLU of that weighted sum, upsampled to the plane, is the class map. Each class map is
scaled by its 99th percentile over the training windows (so maps of different groups are
comparable), the classes are combined by their maximum into one multi-structure ROI map in
[0, 1], and a floor keeps background sampled.
Volumes and time series are handled plane by plane (2D convolutions over y, x).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from ...progress import SALIENCY, CancelToken, ProgressCallback, ProgressEvent, check, report
from .. import presets
from ..errors import InvalidInputError
from ..intensity import normalise
from .base import SaliencyMap, SaliencyMethod
from .threshold import channel_thresholds

STRUCTURES = ("objects", "edges", "texture")
# Planes smaller than this give the network nothing to look at (its receptive field is 8×8+).
MIN_PLANE = 8
WINDOW = presets.LEARNED_WINDOW
PATCH = presets.LEARNED_PATCH
StepCallback = Callable[[int, int], None]


class StructureNet(nn.Module):
    """Four 3×3 convolutions (down to 1/4 resolution, a dilated last one) and a linear head on
    global average pooling: the shape Grad-CAM was made for."""

    def __init__(self, classes: int = len(STRUCTURES), width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(),
        )
        self.head = nn.Linear(width, classes)

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class scores, last feature map)."""
        features = self.features(planes)
        return self.head(features.mean(dim=(2, 3))), features


def _responses(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient magnitude and |Laplacian of Gaussian| of a normalised plane."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(plane, 1.0)
    edges = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    texture = np.abs(ndimage.gaussian_laplace(plane, 1.0))
    return edges, texture


class LearnedSaliency:
    """A trained StructureNet with the per-class scales that turn its Grad-CAMs into one map."""

    def __init__(self, net: StructureNet, scales: np.ndarray) -> None:
        self.net = net.train(False)
        self.scales = scales

    @classmethod
    def fit(
        cls,
        array5d: np.ndarray,
        normalise_channel,
        thresholds: list[float],
        seed: int = 0,
        steps: int = presets.LEARNED_STEPS,
        on_step: StepCallback | None = None,
    ) -> LearnedSaliency:
        """Train on windows of a canonical (t, c, z, y, x) array.

        `normalise_channel(values, c)` maps channel c's raw values to [0, 1]; `thresholds` are
        the normalised object thresholds per channel. Reads at most presets.LEARNED_WINDOWS windows
        of WINDOW×WINDOW voxels, never the whole array. `on_step(step, steps)` follows training
        (and may raise to stop it).
        """
        channels, height, width = array5d.shape[1], array5d.shape[3], array5d.shape[4]
        if min(height, width) < MIN_PLANE:
            raise InvalidInputError(
                f"learned saliency needs planes of at least {MIN_PLANE}×{MIN_PLANE} voxels "
                f"(got {height}×{width}); use saliency='threshold' or 'uniform'."
            )
        rng = np.random.default_rng(seed)
        windows = []
        for _ in range(presets.LEARNED_WINDOWS):
            c = int(rng.integers(channels))
            windows.append((normalise_channel(_read_window(array5d, c, rng), c), c))
        responses = [_responses(window) for window, _ in windows]
        edge_level, texture_level = (
            float(
                np.percentile(
                    np.concatenate([r[k].ravel() for r in responses]), presets.LEARNED_STRONGEST
                )
            )
            for k in (0, 1)
        )
        labels = [
            np.stack([window > thresholds[c], edges > edge_level, texture > texture_level])
            for (window, c), (edges, texture) in zip(windows, responses)
        ]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = StructureNet()
        _train(net, windows, labels, rng, steps, on_step)
        net.train(False)
        planes = [window for window, _ in windows]
        maps = np.concatenate([_class_maps(net, plane[None]) for plane in planes], axis=1)
        scales = np.array(
            [
                np.percentile(m, presets.LEARNED_SCALE_PERCENTILE)
                for m in maps.reshape(len(STRUCTURES), -1)
            ],
            dtype=np.float32,
        )
        return cls(net, scales)

    def combined(self, block: np.ndarray) -> np.ndarray:
        """The multi-structure map in [0, 1] of normalised planes (..., y, x)."""
        planes = np.asarray(block, dtype=np.float32).reshape(-1, *block.shape[-2:])
        out = np.empty(planes.shape, dtype=np.float32)
        for start in range(0, len(planes), presets.LEARNED_PLANES_PER_PASS):
            maps = _class_maps(self.net, planes[start : start + presets.LEARNED_PLANES_PER_PASS])
            scaled = np.where(
                self.scales[:, None, None, None] > 0,
                maps / np.maximum(self.scales, 1e-12)[:, None, None, None],
                0.0,
            )
            out[start : start + presets.LEARNED_PLANES_PER_PASS] = np.clip(scaled, 0, 1).max(axis=0)
        return out.reshape(block.shape)

    def weights(self, block: np.ndarray, floor: float) -> np.ndarray:
        """Sampling weights in [floor, 1] for normalised planes (..., y, x)."""
        return np.float32(floor) + np.float32(1 - floor) * self.combined(block)


def _read_window(array5d: np.ndarray, channel: int, rng: np.random.Generator) -> np.ndarray:
    t, _, z, height, width = array5d.shape
    h, w = min(height, WINDOW), min(width, WINDOW)
    y0 = int(rng.integers(height - h + 1))
    x0 = int(rng.integers(width - w + 1))
    ti, zi = int(rng.integers(t)), int(rng.integers(z))
    return np.asarray(array5d[ti, channel, zi, y0 : y0 + h, x0 : x0 + w], dtype=np.float32)


def _train(
    net: StructureNet,
    windows: list[tuple[np.ndarray, int]],
    labels: list[np.ndarray],
    rng: np.random.Generator,
    steps: int,
    on_step: StepCallback | None,
) -> None:
    """Adam on binary cross-entropy of the fraction of each class in random patches."""
    optimiser = torch.optim.Adam(net.parameters(), lr=presets.LEARNED_LEARNING_RATE)
    for step in range(steps):
        if on_step is not None:
            on_step(step, steps)
        patches, targets = [], []
        for _ in range(presets.LEARNED_BATCH):
            i = int(rng.integers(len(windows)))
            window, label = windows[i][0], labels[i]
            p = min(PATCH, *window.shape)
            y0 = int(rng.integers(window.shape[0] - p + 1))
            x0 = int(rng.integers(window.shape[1] - p + 1))
            patches.append(_pad(window[y0 : y0 + p, x0 : x0 + p]))
            fraction = label[:, y0 : y0 + p, x0 : x0 + p].mean(axis=(1, 2))
            targets.append(np.minimum(1.0, 5.0 * fraction))
        scores, _ = net(torch.from_numpy(np.stack(patches))[:, None])
        target = torch.as_tensor(np.stack(targets), dtype=torch.float32)
        loss = functional.binary_cross_entropy_with_logits(scores, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()


def _pad(patch: np.ndarray) -> np.ndarray:
    """A patch of a small plane, zero-padded to PATCH×PATCH so that a batch stacks."""
    if patch.shape == (PATCH, PATCH):
        return patch
    out = np.zeros((PATCH, PATCH), dtype=np.float32)
    out[: patch.shape[0], : patch.shape[1]] = patch
    return out


def _class_maps(net: StructureNet, planes: np.ndarray) -> np.ndarray:
    """Grad-CAM of every class for a batch of planes: (classes, planes, y, x), not yet scaled."""
    height, width = planes.shape[-2:]
    if min(height, width) < MIN_PLANE:
        return np.zeros((len(STRUCTURES), *planes.shape), dtype=np.float32)
    batch = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))[:, None]
    with torch.enable_grad():
        scores, features = net(batch)
        maps = []
        for k in range(scores.shape[1]):
            (gradient,) = torch.autograd.grad(scores[:, k].sum(), features, retain_graph=True)
            alpha = gradient.sum(dim=(2, 3), keepdim=True)
            cam = functional.relu((alpha * features).sum(dim=1, keepdim=True))
            up = functional.interpolate(cam, size=(height, width), mode="bilinear")
            maps.append(up[:, 0].detach().numpy())
    return np.stack(maps)


class _LearnedMap(SaliencyMap):
    def __init__(self, learned: LearnedSaliency, floor: float) -> None:
        self.learned = learned
        self.floor = floor

    def weights(self, values, channel, index):
        return self.learned.weights(values, self.floor)


def learn_saliency(
    array5d: np.ndarray,
    lo: list[float],
    hi: list[float],
    threshold: float | None,
    seed: int,
    on_step: StepCallback | None = None,
) -> LearnedSaliency:
    """Train the learned map on an array, its objects defined by the threshold (Otsu's if None)."""
    thresholds = channel_thresholds(array5d, lo, hi, threshold)
    return LearnedSaliency.fit(
        array5d,
        lambda values, c: normalise(values, lo[c], hi[c]),
        thresholds,
        seed,
        on_step=on_step,
    )


class LearnedMethod(SaliencyMethod):
    name = "learned"
    summary = (
        "dense structure: Grad-CAM over structure classes of a small network trained on the image"
    )
    preview_levels = 4
    live_preview = False

    def prepare(self, array5d, lo, hi, config) -> SaliencyMap:
        return self.prepared(array5d, lo, hi, config)

    def prepared(
        self,
        array5d: np.ndarray,
        lo: list[float],
        hi: list[float],
        config,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        part: tuple[int, int] = (0, 1),
    ) -> SaliencyMap:
        """Train with every step reported and a cancel honoured between steps."""

        def on_step(step: int, steps: int) -> None:
            check(cancel)
            report(progress, ProgressEvent(part[0], part[1], step, steps, 0.0, SALIENCY))

        learned = learn_saliency(array5d, lo, hi, config.threshold, config.seed, on_step)
        report(progress, ProgressEvent(part[0], part[1], 1, 1, 0.0, SALIENCY))
        return _LearnedMap(learned, config.saliency_floor)


METHOD = LearnedMethod()
