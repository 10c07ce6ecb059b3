"""Training a latent file on distortion + lambda * rate, and steering lambda to the budget.

Every step trains on one patch of one volume: the latents the patch interpolates are quantised
in a step learned per level, at most one unit (uniform noise early, straight-through rounding
late; the file codes the integers and folds the steps into the synthesis's first layer, so a
level's precision is traded against its bits directly instead of through latents that must
grow to many times the rounding noise), the synthesis predicts the patch, and
the entropy model prices those latents; the loss is the saliency-weighted squared error plus
lambda times the estimated bits per voxel of the whole file (each level's bits scaled from the
patch to the level). Only the latents a step touched are updated (Adam on their boxes, with a
step count per latent), so a step costs the patch, not the image. Lambda follows the rate of
the rounded latents towards the budget; the finished file is coded for real and landed in its
budget by landing.py.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ....progress import FIT, ProgressEvent, check, report
from ... import presets
from ...device import available_bytes, pick_device
from ...errors import RatioUnreachableError
from ...format.quantize import QuantisedChain, quantise_chain
from ...format.weights import encode_chain
from ...grouping import GroupPlan
from ...intensity import normalise
from . import warm
from .coding import Q_MAX, ExactArm, encode_tile
from .context import contexts, reach
from .geometry import Box, LatentGeometry, interpolation, separable
from .landing import LAMBDA_MIN, land
from .probability import laplace_bits
from .reader import network_tensors
from .spec import LatentSpec

log = logging.getLogger(__name__)

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


def _mlp(shapes: list[tuple[int, ...]]) -> nn.ModuleList:
    return nn.ModuleList(nn.Linear(w[1], w[0]) for w in shapes[0::2])


def _forward(layers: nn.ModuleList, h: torch.Tensor) -> torch.Tensor:
    """The network on columns (features, samples): one wide product per layer, about 1.5x
    faster on CPU than on rows of a few features each."""
    for i, layer in enumerate(layers):
        h = torch.addmm(layer.bias[:, None], layer.weight, h)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


def _as_decoded(predicted: torch.Tensor) -> torch.Tensor:
    """Normalised predictions clipped to [0, 1] as the decoder clips them, with the gradient of
    the unclipped ones (straight through): the loss is then the file's own error. Without it a
    fit paid for undershooting a background at the range's end that the clip restores anyway,
    so it kept that background near zero on both sides and the clip turned its ripples into a
    bias (fmri_4d's zeros decoded at +9 grey levels on average after a warm start)."""
    return predicted + (predicted.clamp(0.0, 1.0) - predicted).detach()


@dataclass
class _Volume:
    """Normalised values and distortion weights (d, y, x) of a box of one volume's voxels: the
    whole volume, or a tile and the voxels around it where the file trains tile by tile
    (tiled.py)."""

    values: torch.Tensor
    weights: torch.Tensor | None
    origin: tuple[int, int, int] = (0, 0, 0)
    tile: tuple[int, int, int] | None = None
    """The tile whose latents these voxels train (None: every tile of the volume)."""

    @property
    def voxels(self) -> Box:
        return Box(tuple((o, o + n) for o, n in zip(self.origin, self.values.shape)))

    def to(self, device: torch.device) -> _Volume:
        weights = None if self.weights is None else self.weights.to(device)
        return dataclasses.replace(self, values=self.values.to(device), weights=weights)

    def local(self, cuts: tuple[slice, ...]) -> tuple[slice, ...]:
        """Where voxels cut in the volume's coordinates lie in `values`."""
        return tuple(slice(c.start - o, c.stop - o, c.step) for c, o in zip(cuts, self.origin))


@functools.lru_cache(maxsize=256)
def _matrix(
    start: int,
    stop: int,
    step: int | None,
    exponent: int,
    cells: int,
    cover: tuple[int, int],
    device: torch.device,
) -> torch.Tensor:
    """The interpolation matrix of voxels range(start, stop, step) from the cells `cover` of a
    level, in float32 on `device` (kept: a fit's patches ask for the same few at every step; at
    most 256, ~34 MB; never written to)."""
    positions = np.arange(start, stop, step)
    return torch.from_numpy(interpolation(positions, exponent, cells, cover)).to(
        device, torch.float32
    )


def _in_steps(
    values: torch.Tensor, step: torch.Tensor | float, deadzone: float = 0.0
) -> torch.Tensor:
    """Latents rounded to whole quantisation steps: the integers a file codes. A `deadzone` d
    in (0, 1/2) rounds towards zero the latents within d above a rounding boundary (landing.py:
    the finest control of a file's size there is)."""
    scaled = values / step
    if deadzone:
        rounded = torch.sign(scaled) * torch.floor(scaled.abs() + (0.5 - deadzone))
    else:
        rounded = scaled.round()
    return rounded.clamp(-Q_MAX, Q_MAX)


class _Latents:
    """One volume's latent grids (each level's cells in `boxes`: every cell, or those a region of
    the volume reads) and their Adam state, updated box by box; only the cells in `trainable`
    (None: all) are updated."""

    def __init__(
        self,
        geometry: LatentGeometry,
        device: torch.device,
        boxes: list[Box] | None = None,
        trainable: list[Box] | None = None,
    ) -> None:
        if boxes is None:
            boxes = [Box(tuple((0, n) for n in cells)) for cells in geometry.cells]
        self.boxes = boxes
        self.trainable = trainable
        self.grids = [torch.zeros(box.shape, device=device) for box in boxes]
        self.first = [torch.zeros_like(g) for g in self.grids]
        self.second = [torch.zeros_like(g) for g in self.grids]
        self.count = [torch.zeros_like(g) for g in self.grids]

    def tensors(self) -> list[torch.Tensor]:
        """Every grid and Adam state tensor (what a snapshot copies)."""
        return [*self.grids, *self.first, *self.second, *self.count]

    def local(self, level: int, box: Box) -> tuple[slice, ...]:
        """Where the cells of `box` (the level's coordinates) lie in its grid."""
        return box.within(self.boxes[level].starts)

    def step(self, level: int, box: Box, grad: torch.Tensor, lr: float) -> None:
        if self.trainable is not None:
            kept = box.intersection(self.trainable[level])
            if kept is None:
                return
            grad = grad[kept.within(box.starts)]
            box = kept
        index = self.local(level, box)
        b1, b2 = ADAM_BETAS
        first = self.first[level][index].mul_(b1).add_(grad, alpha=1 - b1)
        second = self.second[level][index].mul_(b2).addcmul_(grad, grad, value=1 - b2)
        count = self.count[level][index].add_(1.0)
        first_hat = first / (1 - b1**count)
        second_hat = second / (1 - b2**count)
        self.grids[level][index].sub_(lr * first_hat / (second_hat.sqrt() + ADAM_EPS))
        self.first[level][index] = first
        self.second[level][index] = second
        self.count[level][index] = count

    def tile_cells(self, geometry: LatentGeometry, tile: tuple[int, int, int]) -> list[np.ndarray]:
        """A tile's own cells, level by level, on the CPU."""
        return [
            self.grids[level][self.local(level, geometry.tile_box(tile, level))].cpu().numpy()
            for level in range(geometry.levels)
        ]

    def rounded(self, level: int, step: float, box: Box, deadzone: float = 0.0) -> np.ndarray:
        """The cells of `box` at a level in quantisation steps, as the file codes them."""
        values = self.grids[level][self.local(level, box)]
        return _in_steps(values, step, deadzone).cpu().numpy().astype(np.int64)


class LatentTrainer:
    """The latents of every volume (or region of one), the two networks, and one training step.

    `frozen`: the networks and quantisation steps are fixed (load them with `take_networks`)
    and only the cells of each region's own tile train, the others read as they were set; the
    distortion's weights are then normalised by the file's `weight_mean`, not the regions'."""

    def __init__(
        self,
        spec: LatentSpec,
        geometry: LatentGeometry,
        volumes: list[_Volume],
        device: torch.device,
        patch_voxels: int,
        seed: int,
        learning_rate: float,
        stride: int = 1,
        frozen: bool = False,
        weight_mean: float | None = None,
    ) -> None:
        self.spec = spec
        self.stride = stride
        self.geometry = geometry
        self.volumes = volumes
        self.device = device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.synthesis = _mlp(spec.synthesis_shapes).to(device)
            self.arm = _mlp(spec.arm_shapes).to(device)
        mean = float(np.mean([v.values.mean().item() for v in volumes]))
        weighted = [v.weights for v in volumes if v.weights is not None]
        if weight_mean is None:
            weight_mean = float(np.mean([w.mean().item() for w in weighted])) if weighted else 1.0
        self.weight_mean = weight_mean
        with torch.no_grad():
            self.synthesis[-1].bias.fill_(mean)
            self.arm[-1].weight.mul_(0.1)
            self.arm[-1].bias.zero_()
        self.log_steps = nn.Parameter(torch.zeros(spec.levels, device=device))
        self.latents = [self._latents_of(volume, frozen) for volume in volumes]
        if frozen:
            for parameter in (*self.synthesis.parameters(), *self.arm.parameters()):
                parameter.requires_grad_(False)
            self.log_steps.requires_grad_(False)
        networks = [*self.synthesis.parameters(), *self.arm.parameters()]
        self.optimiser = torch.optim.Adam(
            [
                {"params": networks, "base_lr": learning_rate},
                {"params": [self.log_steps], "base_lr": presets.LATENT_STEP_LEARNING_RATE},
            ],
            lr=learning_rate,
        )
        self.generator = np.random.default_rng(seed)
        self.noise = torch.Generator(device=device).manual_seed(seed)
        self.pieces = [
            patch_pieces(volume.voxels, patch_voxels, geometry.dims) for volume in volumes
        ]
        self.queue: list[tuple[int, Box]] = []
        self.scale = [math.prod(cells) / math.prod(geometry.extents) for cells in geometry.cells]

    def _latents_of(self, volume: _Volume, frozen: bool) -> _Latents:
        """A volume's latents: every cell of a whole volume; for a region, the cells its voxels
        and their contexts read, of which only its tile's train where `frozen`."""
        geometry = self.geometry
        if volume.tile is None:
            return _Latents(geometry, self.device)
        boxes = self.windows(geometry, volume.voxels)[1]
        trainable = None
        if frozen:
            trainable = [geometry.tile_box(volume.tile, level) for level in range(geometry.levels)]
        return _Latents(geometry, self.device, boxes, trainable)

    def networks(self) -> dict[str, dict[str, torch.Tensor]]:
        """The networks and quantisation steps, on the CPU (to send to a worker)."""
        return {
            "synthesis": {k: v.cpu() for k, v in self.synthesis.state_dict().items()},
            "arm": {k: v.cpu() for k, v in self.arm.state_dict().items()},
            "log_steps": {"": self.log_steps.detach().cpu()},
        }

    def take_networks(self, networks: dict[str, dict[str, torch.Tensor]]) -> None:
        """Networks and quantisation steps from `networks()` of a trainer of the same spec."""
        self.synthesis.load_state_dict(networks["synthesis"])
        self.arm.load_state_dict(networks["arm"])
        with torch.no_grad():
            self.log_steps.copy_(networks["log_steps"][""])

    def quantisation_steps(self, scale: float = 1.0) -> list[float]:
        """Each level's quantisation step in the synthesis's input units, times `scale`."""
        return (self.log_steps.detach().exp() * scale).cpu().tolist()

    def state(self) -> dict:
        """Everything training changes, copied (to try refinements from the same start)."""
        return {
            "latents": [[t.clone() for t in v.tensors()] for v in self.latents],
            "synthesis": copy.deepcopy(self.synthesis.state_dict()),
            "arm": copy.deepcopy(self.arm.state_dict()),
            "log_steps": self.log_steps.detach().clone(),
            "optimiser": copy.deepcopy(self.optimiser.state_dict()),
            "generator": copy.deepcopy(self.generator.bit_generator.state),
            "noise": self.noise.get_state(),
            "queue": list(self.queue),
        }

    def restore(self, state: dict) -> None:
        for volume, saved in zip(self.latents, state["latents"]):
            for tensor, copied in zip(volume.tensors(), saved):
                tensor.copy_(copied)
        self.synthesis.load_state_dict(state["synthesis"])
        self.arm.load_state_dict(state["arm"])
        with torch.no_grad():
            self.log_steps.copy_(state["log_steps"])
        self.optimiser.load_state_dict(copy.deepcopy(state["optimiser"]))
        self.generator.bit_generator.state = copy.deepcopy(state["generator"])
        self.noise.set_state(state["noise"])
        self.queue = list(state["queue"])

    def network_vector(self, scale: float = 1.0) -> np.ndarray:
        """The networks' weights, flat, in the spec's parameter order (synthesis first), with
        the quantisation steps (times `scale`) folded into the synthesis's first layer: the
        file's synthesis reads the latents in steps, as they are coded."""
        tensors = []
        for layers in (self.synthesis, self.arm):
            for layer in layers:
                weight = layer.weight.detach()
                if layer is self.synthesis[0]:
                    weight = weight * (self.log_steps.detach().exp() * scale)[None, :]
                tensors += [weight.reshape(-1), layer.bias.detach().reshape(-1)]
        return torch.cat(tensors).float().cpu().numpy()

    @property
    def patches_per_epoch(self) -> int:
        return sum(math.prod(len(axis) for axis in pieces) for pieces in self.pieces)

    def _patch(self) -> tuple[int, Box]:
        """The next patch of an epoch: every volume cut into equal pieces, visited in a random
        order, so that every voxel trains equally often. Patches started anywhere in [0, extent
        - patch] visited the first and last planes of a z stack 8 times less often than the
        middle ones, and the rate measured on them missed what the borders cost (cell_phase:
        3.3 times less than its coded latents, and lambda ran away)."""
        if not self.queue:
            boxes = [
                (volume, Box(ranges))
                for volume, pieces in enumerate(self.pieces)
                for ranges in itertools.product(*pieces)
            ]
            self.queue = [boxes[i] for i in self.generator.permutation(len(boxes))]
        return self.queue.pop()

    @staticmethod
    def windows(geometry: LatentGeometry, voxels: Box) -> tuple[list[Box], list[Box]]:
        """Per level: the cells a box of voxels interpolates (`own`), and the cells its contexts
        also read (`needed`: own's neighbours within the context's reach and the finer level's
        parents around)."""
        own = [geometry.window(level, voxels) for level in range(geometry.levels)]
        margin = reach(geometry.dims, geometry.context)
        needed = []
        for level, box in enumerate(own):
            cells = geometry.cells[level]
            wanted = box.grown(margin, cells)
            if level > 0:
                wanted = wanted.union(
                    own[level - 1].parents(geometry.steps(level - 1)).grown(1, cells)
                )
            needed.append(wanted)
        return own, needed

    def step(
        self, lam: float, lr_factor: float, noisy: bool, measure: bool = True
    ) -> tuple[float, float, float | None]:
        """One step; returns (distortion, estimated bits per voxel, and, if `measure`, the
        bits per voxel of the patch's latents rounded, without noise)."""
        volume, voxels = self._patch()
        own, needed = self.windows(self.geometry, voxels)
        picked = self._picked(voxels)
        latents = self.latents[volume]
        leaves = [
            latents.grids[level][latents.local(level, box)].clone().requires_grad_()
            for level, box in enumerate(needed)
        ]
        steps = self.log_steps.exp()
        quantised = [
            self._quantise(leaf / steps[level], noisy) for level, leaf in enumerate(leaves)
        ]
        grids = [q[window.within(box.starts)] for q, box, window in zip(quantised, needed, own)]
        features = self._features(grids, own, picked)
        predicted = _forward(self.synthesis, features * steps[:, None])[0]
        distortion = self._distortion(self.volumes[volume], picked, predicted)
        rate = self._rate(quantised, own, needed)
        loss = distortion + lam * rate
        for group in self.optimiser.param_groups:
            group["lr"] = group["base_lr"] * lr_factor
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        self.optimiser.step()
        with torch.no_grad():
            self.log_steps.clamp_(max=0.0)
        latent_lr = presets.LATENT_LEARNING_RATE * lr_factor
        for level, (leaf, box) in enumerate(zip(leaves, needed)):
            if leaf.grad is not None:
                latents.step(level, box, leaf.grad, latent_lr)
        if not measure:
            return float(distortion.detach()), float(rate.detach()), None
        with torch.no_grad():
            integers = [_in_steps(leaf.detach(), step) for leaf, step in zip(leaves, steps)]
            rounded = self._rate(integers, own, needed)
        return float(distortion.detach()), float(rate.detach()), float(rounded)

    def _features(
        self, grids: list[torch.Tensor], windows: list[Box], cuts: tuple[slice, ...]
    ) -> torch.Tensor:
        """(levels, voxels) features at the voxels `cuts` from each level's cells in its window
        (`grids`: exactly those cells)."""
        geometry = self.geometry
        features = []
        for level, (grid, window) in enumerate(zip(grids, windows)):
            matrices = [
                _matrix(cut.start, cut.stop, cut.step, k, cells, cover, self.device)
                for cut, k, cells, cover in zip(
                    cuts, geometry.exponents[level], geometry.cells[level], window.ranges
                )
            ]
            features.append(separable(matrices, grid).reshape(-1))
        return torch.stack(features)

    def _distortion(
        self, data: _Volume, cuts: tuple[slice, ...], predicted: torch.Tensor
    ) -> torch.Tensor:
        """The saliency-weighted squared error of predictions at the voxels `cuts`."""
        target = data.values[data.local(cuts)].reshape(-1)
        error = (_as_decoded(predicted) - target) ** 2
        if data.weights is None:
            return error.mean()
        weight = data.weights[data.local(cuts)].reshape(-1)
        # the whole file's weighted error in expectation: dividing by the patch's own weights
        # gave a patch of background the weight of one full of beads
        return (weight * error).sum() / (self.weight_mean * weight.numel())

    @torch.no_grad()
    def coded_error(
        self, synthesis: list[np.ndarray], steps: list[float], deadzone: float = 0.0
    ) -> float:
        """The distortion over every voxel of the latents rounded in `steps`, through a
        synthesis of the given tensors (as a file holds them: the steps folded into its first
        layer): what a choice made after training, such as the weights' precision, is
        measured by."""
        layers = copy.deepcopy(self.synthesis)
        for layer, weight, bias in zip(layers, synthesis[0::2], synthesis[1::2]):
            layer.weight.copy_(torch.from_numpy(np.asarray(weight)))
            layer.bias.copy_(torch.from_numpy(np.asarray(bias)))
        total, count = 0.0, 0
        for volume, pieces in enumerate(self.pieces):
            data, latents = self.volumes[volume], self.latents[volume]
            for ranges in itertools.product(*pieces):
                voxels = Box(ranges)
                windows = [self.geometry.window(level, voxels) for level in range(len(steps))]
                grids = [
                    _in_steps(latents.grids[level][latents.local(level, window)], step, deadzone)
                    for level, (window, step) in enumerate(zip(windows, steps))
                ]
                predicted = _forward(layers, self._features(grids, windows, voxels.slices))[0]
                total += float(self._distortion(data, voxels.slices, predicted)) * voxels.size
                count += voxels.size
        return total / count

    def _picked(self, voxels: Box) -> tuple[slice, ...]:
        """The patch's voxels the synthesis is trained on this step: every `stride`-th along
        y and x from a random phase (every one along d). After enough steps the networks and
        latents learn as much from a quarter of the voxels, and the synthesis is most of a
        step's time (presets.PRESETS)."""
        stride = self.stride
        cuts = [slice(*voxels.ranges[0])]
        for start, stop in voxels.ranges[1:]:
            phases = min(stride, stop - start)
            phase = int(self.generator.integers(phases)) if phases > 1 else 0
            cuts.append(slice(start + phase, stop, stride))
        return tuple(cuts)

    def _quantise(self, leaf: torch.Tensor, noisy: bool) -> torch.Tensor:
        if noisy:
            noise = torch.rand(leaf.shape, generator=self.noise, device=self.device) - 0.5
            return (leaf + noise).clamp(-Q_MAX, Q_MAX)
        rounded = leaf + (leaf.round() - leaf).detach()
        return rounded.clamp(-Q_MAX, Q_MAX)

    def _rate(
        self, quantised: list[torch.Tensor], own: list[Box], needed: list[Box]
    ) -> torch.Tensor:
        """Estimated bits per voxel of the whole file, from the patch's latents. The entropy
        model sees every level's contexts in one batch (it is shared by the levels): one
        evaluation instead of one per level, whose fixed costs dominated the coarse levels."""
        features, values, weights = [], [], []
        for level, (q, box, window) in enumerate(zip(quantised, needed, own)):
            coarse = quantised[level + 1] if level + 1 < self.geometry.levels else None
            origin = needed[level + 1].starts if coarse is not None else None
            features.append(contexts(self.geometry, level, window, q, box.starts, coarse, origin))
            values.append(q[window.within(box.starts)].reshape(-1))
            weights.append(q.new_full((window.size,), self.scale[level] / window.size))
        mu, log_scale = _forward(self.arm, torch.cat(features, dim=1))
        bits = laplace_bits(torch.cat(values), mu, log_scale)
        return torch.dot(bits, torch.cat(weights))


def read_box(
    job, geometry: LatentGeometry, volume: int, voxels: Box, tile: tuple[int, int, int] | None
) -> _Volume:
    """A box of a volume's voxels, normalised, with their saliency weights, in one read of the
    source; `tile`: the tile whose latents they train (None: the whole volume)."""
    plan = geometry.plan
    channel, phase = divmod(volume, plan.time_groups)
    (d0, d1), (y0, y1), (x0, x1) = voxels.ranges
    step = plan.time_groups
    if geometry.d_axis == "z":
        frames, planes = slice(phase, None, step), slice(d0, d1)
    else:
        frames, planes = slice(phase + d0 * step, phase + (d1 - 1) * step + 1, step), slice(None)
    index = (frames, channel, planes, slice(y0, y1), slice(x0, x1))
    values = normalise(np.ascontiguousarray(job.array5d[index]), job.lo[channel], job.hi[channel])
    weights = job.saliency.weights(values, channel, index)
    shape = voxels.shape
    if weights is not None:
        weights = torch.from_numpy(np.asarray(weights, np.float32).reshape(shape))
    return _Volume(torch.from_numpy(values.reshape(shape)), weights, voxels.starts, tile)


def _volumes(job, geometry: LatentGeometry, device: torch.device) -> list[_Volume]:
    whole = Box(tuple((0, extent) for extent in geometry.extents))
    return [
        read_box(job, geometry, volume, whole, None).to(device)
        for volume in range(geometry.volumes)
    ]


def _cosine(progress: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def encode_at_ratio(family, job, config):
    """Fit and code `job`'s image as a latent file within the budget of `config.ratio`."""
    from ...encode.job import header_bytes, header_slack
    from ...encode.planning import Design
    from ...encode.rate import Encoded
    from . import d_lag_for

    bits = presets.LATENT_NETWORK_BITS
    budget = job.raw_bytes / config.ratio
    device = pick_device(config.device)
    whole = trains_whole(job, device)
    plan = _planned(family, job.shape, config, budget, whole)
    spec = family.spec_for(plan, d_lag_for(plan, job.metadata, config.ratio))
    spec = _unslabbed_if_tight(spec, plan, budget)
    tiles = _tile_bytes(spec.geometry(plan))
    head = header_bytes(job.header(config, Design(plan, spec), bits))
    spec = _sized(spec, budget - head - tiles, bits)
    geometry = spec.geometry(plan)
    design = Design(plan, spec)
    head = header_bytes(job.header(config, design, bits))
    fixed = head + _network_bytes(spec, bits) + tiles
    if budget <= fixed * 1.1:
        raise RatioUnreachableError(
            f"a ratio of {config.ratio:g} allows {budget:.0f} bytes, but a latent file's header "
            f"and networks alone take about {fixed} bytes; ask for a ratio below "
            f"{job.raw_bytes / (fixed * 1.5):.0f}, or use family='pe_mlp'."
        )
    started = time.perf_counter()
    if not whole:
        from .tiled import fit_tiled

        blobs, attempt, arm_bits = fit_tiled(
            spec, geometry, job, config, bits, head, budget, device
        )
        header = job.header(config, design, arm_bits)
        where = str(device) if job.fitter is None else job.fitter.describe()
        return Encoded(header, blobs, attempt, time.perf_counter() - started, where)
    volumes = _volumes(job, geometry, device)
    run, steps = train_jointly(spec, geometry, volumes, device, job, config, bits, head, budget, 1)
    slack = header_slack(job.header(config, design, bits))
    blobs, attempt = land(run, max(1, int(steps * presets.LATENT_REFINE_FRACTION)), slack)
    header = job.header(config, design, run.arm_bits)
    fit_seconds = time.perf_counter() - started
    return Encoded(header, blobs, attempt, fit_seconds, str(device))


def train_jointly(
    spec: LatentSpec,
    geometry: LatentGeometry,
    volumes: list[_Volume],
    device: torch.device,
    job,
    config,
    bits: float,
    head: int,
    budget: float,
    parts: int,
) -> tuple[_Run, int]:
    """The networks and the latents of `volumes` trained together for the preset's steps, lambda
    steered to the budget (the whole image, or the sample of a tile-by-tile fit); the run and
    its steps. Progress counts those steps as the first of `parts` equal parts of the fit."""
    trainer = LatentTrainer(
        spec,
        geometry,
        volumes,
        device,
        config.batch_size,
        config.seed,
        config.learning_rate,
        _stride(config),
    )
    run = _Run(trainer, job, config, bits, head, budget)
    steps = config.steps or _steps(trainer.patches_per_epoch, presets.PRESETS[config.preset])
    gain = _warm_gain(trainer, config, steps)
    if gain is not None:
        warm.start(trainer, gain)
    run.shown = (0, parts * steps)
    run.train(steps, presets.LATENT_NOISE_FRACTION, 1.0, 1, measure_at=(0.5, 0.7, 0.85))
    return run, steps


def _warm_gain(trainer: LatentTrainer, config, steps: int) -> float | None:
    """The gain the fit starts from the image's pyramid with (warm.py), or None where it starts
    from zeros: below presets.LATENT_WARM_MAX_RATIO on z stacks and
    presets.LATENT_WARM_MAX_RATIO_PLANES on images without z, where its `steps` visit every
    voxel at least presets.LATENT_WARM_MIN_EPOCHS times (on images without z, from
    presets.LATENT_WARM_FEW_EPOCHS_RATIO up, however few), and where the trainer can. Above
    presets.LATENT_WARM_GAIN_RATIO the gain falls with the ratio: one latent unit is then a
    larger share of the range, so less of the pyramid's fine detail starts away from zero."""
    planes = trainer.geometry.d_axis != "z"
    limit = presets.LATENT_WARM_MAX_RATIO_PLANES if planes else presets.LATENT_WARM_MAX_RATIO
    few = steps / trainer.patches_per_epoch < presets.LATENT_WARM_MIN_EPOCHS
    if few and not (planes and config.ratio >= presets.LATENT_WARM_FEW_EPOCHS_RATIO):
        return None
    if config.ratio >= limit:
        return None
    if not warm.applies(trainer):
        return None
    return presets.LATENT_WARM_GAIN * min(1.0, presets.LATENT_WARM_GAIN_RATIO / config.ratio)


def _stride(config) -> int:
    """The preset's voxel stride where the budget is small enough that the finest detail goes
    anyway (presets.LATENT_STRIDE_MIN_RATIO); every voxel below that ratio."""
    if config.ratio < presets.LATENT_STRIDE_MIN_RATIO:
        return 1
    return presets.PRESETS[config.preset].latent_stride


def trains_whole(job, device: torch.device) -> bool:
    """Whether the image trains whole, every volume and latent in memory at once: up to
    presets.LATENT_WHOLE_MAX_VOXELS where the memory holds it; tile by tile (tiled.py) above,
    and wherever dask workers are given (they train the tiles), except on an image no larger
    than the sample tile by tile fits its networks on (presets.LATENT_SAMPLE_VOXELS): that
    sample would be every tile, trained once jointly (each with its own copy of its
    neighbours' border latents) and then every tile again."""
    voxels = math.prod(job.shape)
    sampled_whole = voxels <= presets.LATENT_SAMPLE_VOXELS
    if not sampled_whole and (job.fitter is not None or voxels > presets.LATENT_WHOLE_MAX_VOXELS):
        return False
    available = available_bytes(device)
    return available is None or memory_needed(voxels) <= available


def memory_needed(voxels: int) -> int:
    """About the bytes a fit holds while it trains `voxels` voxels at once."""
    return presets.LATENT_BYTES_PER_VOXEL * voxels + presets.LATENT_FIXED_BYTES


def patch_pieces(voxels: Box, patch_voxels: int, dims: int) -> list[list[tuple[int, int]]]:
    """Each axis of a box of voxels cut into the patches an epoch visits."""
    depth = voxels.shape[0]
    pd = min(depth, 8) if dims == 3 else 1
    side = max(8, int(math.sqrt(patch_voxels / pd)))
    return [
        [(start + a, start + b) for a, b in _pieces(extent, p)]
        for (start, _), extent, p in zip(voxels.ranges, voxels.shape, (pd, side, side))
    ]


def planned_steps(geometry: LatentGeometry, config) -> int:
    """The steps a fit of every volume of `geometry` trains for with a resolved `config` (what
    its time grows with: a step is a patch of about the batch's voxels whatever the image)."""
    whole = Box(tuple((0, extent) for extent in geometry.extents))
    pieces = patch_pieces(whole, config.batch_size, geometry.dims)
    per_epoch = geometry.volumes * math.prod(len(axis) for axis in pieces)
    return config.steps or _steps(per_epoch, presets.PRESETS[config.preset])


def _steps(per_epoch: int, preset: presets.Preset) -> int:
    """Steps that show every voxel the preset's epochs times, and at least its fewest steps."""
    return max(preset.latent_min_steps, preset.latent_epochs * per_epoch)


def _pieces(extent: int, side: int) -> list[tuple[int, int]]:
    """An axis cut into the fewest equal pieces (sizes differing by at most one) of at most
    1.25 `side`: fewer, larger patches would train the networks less often (nuclei2d in one
    512 x 512 patch instead of four: 300 steps of 300 visits, 30.89 dB against 32.71 dB), and
    pieces of at most `side` would cut an axis of 130 voxels in two for a side of 129."""
    count = max(1, math.ceil(extent / (1.25 * side)))
    cuts = [i * extent // count for i in range(count + 1)]
    return list(itertools.pairwise(cuts))


def _sized(spec: LatentSpec, available: float, bits: float) -> LatentSpec:
    """The spec, or, where its networks would take more than presets.LATENT_NETWORK_SHARE of
    the bytes `available` to networks and latents, the same with the widest of
    presets.LATENT_SMALL_NETWORKS that do not (the smallest where none): at high ratios on small
    images the networks would be most of the file, or more than all of it."""
    for widths in (None, *presets.LATENT_SMALL_NETWORKS):
        sized = spec if widths is None else dataclasses.replace(spec, synthesis=widths, arm=widths)
        if _network_bytes(sized, bits) <= presets.LATENT_NETWORK_SHARE * available:
            break
    return sized


def _planned(family, shape: tuple[int, ...], config, budget: float, whole: bool) -> GroupPlan:
    """The default tiles or, on an image without z trained whole, where their blobs' own bytes
    would take more than presets.LATENT_TILE_SHARE of the budget, tiles twice as high and wide
    until they do not, at most presets.LATENT_MAX_TILE_YX: at high ratios on small planes the
    tiles' ranges and coder words, and their entropy model's context cut at every border, cost
    more than a region decoding a larger tile. A block the user set stays."""
    from . import plan_for

    plan = plan_for(shape, config)
    tile = presets.LATENT_TILE
    grows = whole and config.block is None and shape[2] == 1
    while grows and tile[1] < presets.LATENT_MAX_TILE_YX:
        if _tile_bytes(family.spec_for(plan).geometry(plan)) <= presets.LATENT_TILE_SHARE * budget:
            break
        tile = (tile[0], 2 * tile[1], 2 * tile[2])
        plan = plan_for(shape, config.replace(block=tile))
    return plan


def _unslabbed_if_tight(spec: LatentSpec, plan, budget: float) -> LatentSpec:
    """The spec, or the same without slabs where their streams' own bytes would take more than
    presets.LATENT_SLAB_SHARE of the budget."""
    whole = dataclasses.replace(spec, slab=0)
    extra = _tile_bytes(spec.geometry(plan)) - _tile_bytes(whole.geometry(plan))
    return whole if extra > presets.LATENT_SLAB_SHARE * budget else spec


def _tile_bytes(geometry: LatentGeometry) -> int:
    """What every tile's blob takes beyond its coded latents: the level count, each level's
    range and the range coder's last word; where there are slabs, a length and a last word for
    each stream."""
    per_tile = 5 + 4 * geometry.levels
    if geometry.slabbed:
        streams = 1 + len(geometry.slabs((0, 0, 0)))
        per_tile += 6 * streams - 4
    return len(geometry.plan) * per_tile


def _network_bytes(spec: LatentSpec, bits: float) -> int:
    """About what the networks' blob takes at a precision (zstd saves a little on top)."""
    return int(spec.n_parameters * bits / 8) + 8 * len(spec.parameter_shapes) + 32


class _Run:
    """Training with lambda steered so that the coded latents meet their budget.

    The controller follows the rate estimated on the trained patches' rounded latents; coding
    the file for real now and then (`code`) corrects that estimate for what it misses (the
    coder's quantised probabilities and networks, tile borders)."""

    def __init__(self, trainer: LatentTrainer, job, config, bits: float, head: int, budget: float):
        self.trainer = trainer
        self.job = job
        self.config = config
        self.synthesis_bits = bits
        """The synthesis's precision: `bits` or finer (landing.py)."""
        self.arm_bits = bits
        """The entropy model's precision: `bits` or coarser (choose_arm_bits)."""
        self.head = head
        self.budget = budget
        self.voxels = trainer.geometry.voxel_count()
        self.trained = sum(volume.values.numel() for volume in trainer.volumes)
        self.shown: tuple[int, int | None] = (0, None)
        """Steps reported before this training's, and of the whole fit (None: this training's)."""
        tiles = _tile_bytes(trainer.geometry)
        fixed = head + _network_bytes(trainer.spec, bits) + tiles
        self.target = 8 * (budget - fixed) * (1 - presets.LATENT_RATE_TOLERANCE / 2) / self.voxels
        self.lam = presets.LATENT_LAMBDA
        self.recent = (1.0, 0.0)
        self.rounded: float | None = None
        self.correction = 1.0
        self.size = 0
        self.deadzone = 0.0
        """The rounding's dead zone the file is coded with (landing.py)."""

    def code(self, log_scale: float = 0.0):
        """Code the file as it stands (its blobs) with every quantisation step scaled by
        exp(log_scale), and, at scale 1, correct the rate estimate by it."""
        trainer = self.trainer
        scale = math.exp(log_scale)
        blobs = _code(
            trainer, trainer.spec, trainer.geometry, self.tensor_bits, scale, self.deadzone
        )
        self.size = self.head + blobs.total
        networks = len(blobs[0])
        coded = 8 * (blobs.total - networks)
        if self.rounded and log_scale == 0.0 and not self.deadzone:
            self.correction = coded / (self.rounded * self.trained)
        budget = 8 * (self.budget - self.head - networks)
        self.target = budget * (1 - presets.LATENT_RATE_TOLERANCE / 2) / self.voxels
        return blobs

    def choose_arm_bits(self) -> None:
        """Code the file with the entropy model's weights at this run's precision and, where
        the networks take at least presets.LATENT_ARM_SHARE of the budget, at each of
        presets.LATENT_ARM_BITS, and keep the precision that codes it smallest (the decoded
        image is the same). Chosen while training, so that lambda then steers the latents to
        the budget that precision leaves them: chosen after training, the bytes it saves could
        only be filled by scaling the quantisation steps away from those trained."""
        share = _network_bytes(self.trainer.spec, self.arm_bits) / self.budget
        coarser = presets.LATENT_ARM_BITS if share >= presets.LATENT_ARM_SHARE else ()
        sizes = {}
        for bits in (self.arm_bits, *coarser):
            self.arm_bits = bits
            self.code()
            sizes[bits] = self.size
            log.info("entropy model at %g bits: %d bytes", bits, self.size)
        smallest = min(sizes, key=sizes.__getitem__)
        if smallest != self.arm_bits:
            self.arm_bits = smallest
            self.code()

    def recoded_networks(self, blobs, log_scale: float):
        """`blobs`, as `code(log_scale)` gave them at other precisions of the synthesis, with
        the networks' blob coded again at this run's: the tiles' blobs depend on the entropy
        model's precision, not the synthesis's, so they are kept as they are (no latent is
        coded again)."""
        from ...encode.spill import Spill

        trainer = self.trainer
        vector = trainer.network_vector(math.exp(log_scale))
        quantised, _ = quantised_networks(vector, trainer.spec, self.tensor_bits)
        recoded = Spill()
        recoded.append(networks_blob(quantised, trainer.spec))
        for index in range(1, len(blobs)):
            recoded.append(blobs[index])
        self.size = self.head + recoded.total
        return recoded

    @property
    def tensor_bits(self) -> list[float]:
        """Each network tensor's precision, the synthesis's first."""
        spec = self.trainer.spec
        synthesis = [self.synthesis_bits] * len(spec.synthesis_shapes)
        return synthesis + [self.arm_bits] * len(spec.arm_shapes)

    def coded_error(self, log_scale: float, quantised: bool = True) -> float:
        """The distortion of the file as `code(log_scale)` codes it; with `quantised` False,
        of its latents through the networks as trained: about the least any precision gives."""
        trainer = self.trainer
        scale = math.exp(log_scale)
        vector = trainer.network_vector(scale)
        if quantised:
            weights = quantised_networks(vector, trainer.spec, self.tensor_bits)[1]
        else:
            weights = vector.astype(np.float64)
        synthesis, _ = network_tensors(trainer.spec, weights)
        return trainer.coded_error(synthesis, trainer.quantisation_steps(scale), self.deadzone)

    def train(
        self,
        steps: int,
        noisy_until: float,
        lr_scale: float,
        attempt: int,
        measure_at: tuple[float, ...] = (),
        steer: bool = True,
    ) -> None:
        """`steps` steps, noisy rounding for the first `noisy_until` of them, the learning rates
        scaled by `lr_scale` on a cosine; lambda steered unless `steer` is False; the file is
        coded at the fractions `measure_at` to correct the estimate, at the first with the
        entropy model's precision chosen."""
        measures = {max(1, int(f * steps)) for f in measure_at}
        first = min(measures, default=0)
        per_epoch = self.trainer.patches_per_epoch
        newest = min(presets.LATENT_RATE_NEWEST, 1 / per_epoch)
        gain = min(presets.LATENT_LAMBDA_GAIN, presets.LATENT_LAMBDA_EPOCH_GAIN / per_epoch)
        for step in range(1, steps + 1):
            progress = step / steps
            distortion, estimate, rate = self.trainer.step(
                self.lam, lr_scale * _cosine(progress), progress <= noisy_until, steer
            )
            latest = (distortion, estimate)
            self.recent = tuple(0.9 * a + 0.1 * b for a, b in zip(self.recent, latest))
            if rate is not None:
                self.rounded = (
                    rate if self.rounded is None else self.rounded + newest * (rate - self.rounded)
                )
                error = math.log(max(self.rounded * self.correction, 1e-9) / self.target)
                self.lam = float(np.clip(self.lam * math.exp(gain * error), LAMBDA_MIN, 10.0))
            if step == first:
                self.choose_arm_bits()
            elif step in measures:
                self.code()
            if step % presets.CHECK_EVERY == 0 or step == steps:
                check(self.job.cancel)
                before, total = self.shown
                event = ProgressEvent(0, 1, before + step, total or steps, distortion, FIT, attempt)
                report(self.job.progress, event)


def _code(
    trainer: LatentTrainer,
    spec: LatentSpec,
    geometry: LatentGeometry,
    bits: float | list[float],
    scale: float,
    deadzone: float = 0.0,
):
    """The networks' blob and the latents blob of every tile the trainer holds whole (every
    tile of the file, or each region's own), coded with the exact entropy model, the
    quantisation steps scaled by `scale`, rounded with `deadzone` (_in_steps)."""
    steps = trainer.quantisation_steps(scale)
    if all(volume.tile is None for volume in trainer.volumes):
        held = [(geometry.volume_of(g), geometry.tile_of(g)) for g in geometry.plan]
    else:
        held = [(i, volume.tile) for i, volume in enumerate(trainer.volumes)]
    tiles = (
        (
            tile,
            [
                trainer.latents[volume].rounded(
                    level, steps[level], geometry.tile_box(tile, level), deadzone
                )
                for level in range(spec.levels)
            ],
        )
        for volume, tile in held
    )
    return code_tiles(trainer.network_vector(scale), spec, geometry, bits, tiles)


def quantised_networks(
    network_vector: np.ndarray, spec: LatentSpec, bits: float | list[float]
) -> tuple[QuantisedChain, np.ndarray]:
    """The networks quantised at `bits` (one for all tensors, or one each), and the weights a
    decoder reads from them."""
    shapes = spec.parameter_shapes
    quantised = quantise_chain(network_vector[None], shapes, bits)
    return quantised, quantised.dequantise(shapes, np.float64)[0]


def networks_blob(quantised: QuantisedChain, spec: LatentSpec) -> bytes:
    """Blob 0 of a latent file: the quantised networks, coded as one group's weights."""
    return encode_chain(quantised, spec.parameter_shapes, residual=False)


def code_tiles(network_vector: np.ndarray, spec: LatentSpec, geometry: LatentGeometry, bits, tiles):
    """The networks' blob, then one blob for each (tile, its integer cells per level) of
    `tiles`, in their order."""
    from ...encode.spill import Spill

    quantised, weights = quantised_networks(network_vector, spec, bits)
    _, arm_tensors = network_tensors(spec, weights)
    arm = ExactArm(arm_tensors, torch.device("cpu"))
    blobs = Spill()
    blobs.append(networks_blob(quantised, spec))
    for tile, cells in tiles:
        blobs.append(encode_tile(geometry, arm, tile, cells))
    return blobs
