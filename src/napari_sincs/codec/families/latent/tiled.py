"""Training a latent file tile by tile, so that memory holds a few tiles and not the image.

Where an image is too large to train whole (fit.trains_whole), the networks, quantisation
steps and lambda are first fitted on a sample of tiles spread over the image, as the whole
image trains (lambda steered so that the sample's coded tiles meet the budget per voxel). They
are then fixed, and each tile's latents train on their own (a sampled tile's from where the
networks' training left them, the others' from zeros): on the tile's voxels and, where its
neighbours are finished, on the voxels within presets.LATENT_TILE_HALO of its border (they read
its latents too), with the neighbours' latents fixed. Tiles go in 2**dims colours, the parity of
the tile's index along each axis, trained colour after colour: a tile reads the latents of tiles
of earlier colours only (later ones read as zeros), so the tiles of one colour do not depend on
each other nor on the order they train in, and a tile of the last colour has every neighbour
finished. The tiles of the other colours then train again, more briefly, with every neighbour
finished (presets.LATENT_TILE_REFINE). Finished latents wait on disk (a file per tile) until the
file is coded; the file lands in its budget by scaling its quantisation steps over them
(landing.py), and where that is not enough every tile trains again at another lambda.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ....progress import FIT, ProgressEvent, check, report
from ... import presets
from ...device import available_bytes, pick_device
from ...errors import InsufficientMemoryError
from .coding import Q_MAX
from .fit import (
    LatentTrainer,
    _cosine,
    _Run,
    _Volume,
    code_tiles,
    memory_needed,
    read_box,
    train_jointly,
)
from .geometry import Box, LatentGeometry
from .landing import LAMBDA_MIN, _coder, _in_band, _largest, _next_lambda, scale_tries
from .spec import LatentSpec

log = logging.getLogger(__name__)

Tile = tuple[int, tuple[int, int, int]]
"""(volume, tile index along d, y, x)."""


def _raster(geometry: LatentGeometry) -> list[Tile]:
    return [
        (volume, tile)
        for volume in range(geometry.volumes)
        for tile in itertools.product(*(range(n) for n in geometry.tiles))
    ]


def all_tiles(geometry: LatentGeometry) -> list[Tile]:
    """Every tile of every volume, in the order they train: colour by colour."""
    return sorted(_raster(geometry), key=lambda item: _colour(item[1]))


def sample_tiles(geometry: LatentGeometry, voxels: int) -> list[Tile]:
    """Tiles of about `voxels` voxels in all, spread over the volumes: every tile where the image
    has no more; else, of the tiles at least half as large as the largest, as many as that many
    voxels allows, at even steps in raster order. Picking among all tiles at even steps took an
    8-row edge tile as half of drosophila_histone_2dt's sample."""
    tiles = _raster(geometry)
    sizes = [tile_voxels(geometry, tile).size for _, tile in tiles]
    if sum(sizes) <= voxels:
        return tiles
    large = [item for item, size in zip(tiles, sizes) if 2 * size >= max(sizes)]
    count = max(1, min(len(large), voxels // max(sizes)))
    return [large[(2 * i + 1) * len(large) // (2 * count)] for i in range(count)]


def tile_voxels(geometry: LatentGeometry, tile: tuple[int, int, int]) -> Box:
    return Box(
        tuple(
            (j * size, min(extent, (j + 1) * size))
            for j, size, extent in zip(tile, geometry.tile, geometry.extents)
        )
    )


def training_voxels(
    geometry: LatentGeometry, tile: tuple[int, int, int], refining: bool = False
) -> Box:
    """The voxels a tile's latents train on: its own, and along every axis where its parity is
    odd (both neighbours along it are of an earlier colour, so finished), or every axis when
    `refining` (every neighbour is finished), the halo on both sides."""
    own = tile_voxels(geometry, tile)
    return Box(
        tuple(
            (max(0, a - halo), min(extent, b + halo)) if j % 2 or refining else (a, b)
            for (a, b), j, halo, extent in zip(
                own.ranges, tile, presets.LATENT_TILE_HALO, geometry.extents
            )
        )
    )


def _colour(tile: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(j % 2 for j in tile)


class LatentStore:
    """Finished tiles' latents on disk, a file for each tile (its cells per level). Read and
    written whole, not memory-mapped: the mapped pages of grids the size of the image stayed in
    the process's resident memory (1 GB stack: 2048 MB peak, 1783 MB with a file per tile)."""

    def __init__(self, geometry: LatentGeometry, folder: Path) -> None:
        self.geometry = geometry
        self.folder = folder

    def _path(self, volume: int, tile: tuple[int, int, int]) -> Path:
        return self.folder / f"{volume}-{'-'.join(map(str, tile))}.npz"

    def write(self, volume: int, tile: tuple[int, int, int], cells: list[np.ndarray]) -> None:
        np.savez(self._path(volume, tile), *cells)

    def take(self, other: LatentStore, volume: int, tile: tuple[int, int, int]) -> None:
        """A tile's cells moved here from another store (in the same folder tree)."""
        os.replace(other._path(volume, tile), self._path(volume, tile))

    def cells(self, volume: int, tile: tuple[int, int, int]) -> list[np.ndarray]:
        """A finished tile's cells, level by level."""
        with np.load(self._path(volume, tile)) as saved:
            return [saved[f"arr_{level}"] for level in range(self.geometry.levels)]

    def read(
        self, volume: int, box_of: list[Box], training: tuple[int, int, int] | None
    ) -> list[np.ndarray]:
        """The cells of each level's box (`box_of[level]`) as a tile that trains starts from:
        those of tiles of the `training` tile's colour or later, and of tiles not stored, read
        as zeros, but its own as stored (its latents from the sample or from a fit at another
        lambda); every stored tile's where `training` is None."""
        geometry = self.geometry
        values = [np.zeros(box.shape, np.float32) for box in box_of]
        tiles = {
            tile for level, box in enumerate(box_of) for tile in geometry.tiles_meeting(level, box)
        }
        for tile in sorted(tiles):
            later = training is not None and tile != training and _colour(tile) >= _colour(training)
            if later or not self._path(volume, tile).exists():
                continue
            for level, cells in enumerate(self.cells(volume, tile)):
                own = geometry.tile_box(tile, level)
                shared = box_of[level].intersection(own)
                if shared is not None:
                    values[level][shared.within(box_of[level].starts)] = cells[
                        shared.within(own.starts)
                    ]
        return values

    def rounded(self, volume: int, tile, steps: list[float]) -> list[np.ndarray]:
        """A tile's cells per level in quantisation steps, as the file codes them."""
        return [
            np.clip(np.round(cells / s), -Q_MAX, Q_MAX).astype(np.int64)
            for cells, s in zip(self.cells(volume, tile), steps)
        ]


@dataclass(frozen=True)
class TileTask:
    """Everything that trains one tile's latents, in this process or on a dask worker."""

    spec: LatentSpec
    geometry: LatentGeometry
    region: _Volume
    known: list[np.ndarray]
    """Each level's cells the region reads, as the store held them."""
    networks: dict
    weight_mean: float
    lam: float
    seed: int
    batch_size: int
    learning_rate: float
    stride: int
    steps: int | None
    epochs: float
    min_steps: int
    lr_scale: float
    device: str
    threads: int


def train_tile(task: TileTask, watch: Callable[[int, int, float], None] | None = None):
    """A tile's own cells per level, trained (`watch(step, steps, distortion)` hears of the
    steps: in this process, to report progress and stop on cancel). With the task's thread
    count, whatever runs it: the same latents, bit for bit, in this process and on a worker."""
    with torch_threads(task.threads):
        device = pick_device(task.device)
        region = task.region.to(device)
        trainer = LatentTrainer(
            task.spec,
            task.geometry,
            [region],
            device,
            task.batch_size,
            task.seed,
            task.learning_rate,
            task.stride,
            frozen=True,
            weight_mean=task.weight_mean,
        )
        trainer.take_networks(task.networks)
        latents = trainer.latents[0]
        for grid, known in zip(latents.grids, task.known):
            grid.copy_(torch.from_numpy(known))
        steps = task.steps or max(task.min_steps, round(task.epochs * trainer.patches_per_epoch))
        for step in range(1, steps + 1):
            progress = step / steps
            noisy = progress <= presets.LATENT_NOISE_FRACTION
            rate = task.lr_scale * _cosine(progress)
            distortion, _, _ = trainer.step(task.lam, rate, noisy, measure=False)
            if watch is not None and (step % presets.CHECK_EVERY == 0 or step == steps):
                watch(step, steps, distortion)
        return latents.tile_cells(task.geometry, region.tile)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch at `count` threads (CPU float reductions split with the thread count: a fit is
    reproduced bit for bit at the same count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TiledFit:
    """The tile-by-tile fit of one file: the sample's trained networks (`run`, a fit._Run), and
    every tile's latents trained at a lambda (in this process, or on the job's dask workers),
    coded, and landed in the budget."""

    def __init__(self, run: _Run, folder: Path) -> None:
        self.run = run
        self.networks = run.trainer
        self.geometry = run.trainer.geometry
        self.store = LatentStore(self.geometry, folder)
        self.tiles = all_tiles(self.geometry)
        self.fitter = run.job.fitter

    def start_from(self, sample: list[Tile]) -> None:
        """The sampled tiles' latents as the networks' training left them, stored as where
        those tiles start (presets.LATENT_TILE_FROM_SAMPLE)."""
        for (volume, tile), latents in zip(sample, self.networks.latents):
            self.store.write(volume, tile, latents.tile_cells(self.geometry, tile))

    def task(self, volume: int, tile: tuple[int, int, int], lam: float, refining: bool) -> TileTask:
        """A tile's task: its voxels with their halo, the latents the store holds (its
        neighbours' of earlier colours; when `refining`, every tile's, its own included), the
        fixed networks."""
        run, geometry = self.run, self.geometry
        config = run.config
        voxels = training_voxels(geometry, tile, refining)
        region = read_box(run.job, geometry, volume, voxels, tile)
        boxes = LatentTrainer.windows(geometry, region.voxels)[1]
        known = self.store.read(volume, boxes, None if refining else tile)
        seed = int(
            np.random.SeedSequence((config.seed, volume, *tile, int(refining))).generate_state(1)[0]
        )
        epochs = presets.PRESETS[config.preset].latent_epochs * presets.LATENT_TILE_EPOCHS
        share = presets.LATENT_TILE_REFINE if refining else 1.0
        steps = config.steps and max(1, round(config.steps * share))
        fitter = self.fitter
        return TileTask(
            self.networks.spec,
            geometry,
            region,
            known,
            self.networks.networks(),
            self.networks.weight_mean,
            lam,
            seed,
            config.batch_size,
            config.learning_rate,
            self.networks.stride,
            steps,
            epochs * share,
            round(presets.LATENT_TILE_MIN_STEPS * share),
            presets.LATENT_TILE_REFINE_LR if refining else 1.0,
            config.device if fitter is not None else str(self.networks.device),
            fitter.threads if fitter is not None else torch.get_num_threads(),
        )

    def train_tiles(self, lam: float, attempt: int) -> None:
        """Every tile's latents at `lam`, colour by colour, into the store; then, where
        presets.LATENT_TILE_REFINE asks for it, the tiles of every colour but the last again,
        with every neighbour finished."""
        run = self.run
        before, total = run.shown
        refined = [item for item in self.tiles if _colour(item[1]) != _colour(self.tiles[-1][1])]
        passes = [(self.tiles, False)]
        if presets.LATENT_TILE_REFINE > 0:
            passes.append((refined, True))
        units = len(self.tiles) + presets.LATENT_TILE_REFINE * len(refined) * (len(passes) - 1)
        done = 0.0
        share = 1.0

        def watch(step: int, steps: int, distortion: float) -> None:
            check(run.job.cancel)
            reached = before + (done + share * step / steps) / units * (total - before)
            event = ProgressEvent(0, 1, int(reached), total, distortion, FIT, attempt)
            report(run.job.progress, event)

        staged = LatentStore(self.geometry, self.store.folder / "staged")
        staged.folder.mkdir(exist_ok=True)
        for tiles, refining in passes:
            share = presets.LATENT_TILE_REFINE if refining else 1.0
            for _, members in itertools.groupby(tiles, key=lambda item: _colour(item[1])):
                members = list(members)
                tasks = (self.task(volume, tile, lam, refining) for volume, tile in members)
                if self.fitter is None:
                    results = (train_tile(task, watch) for task in tasks)
                else:
                    results = self.fitter.map(train_tile, tasks, run.job.cancel)
                for (volume, tile), cells in zip(members, results):
                    (staged if refining else self.store).write(volume, tile, cells)
                    done += share
                    if self.fitter is not None:
                        watch(1, 1, float("nan"))
                if refining:
                    for volume, tile in members:
                        self.store.take(staged, volume, tile)

    def code(self, log_scale: float = 0.0):
        """The file's blobs from the store, every quantisation step scaled by exp(log_scale)."""
        scale = math.exp(log_scale)
        steps = self.networks.quantisation_steps(scale)
        geometry = self.geometry
        held = ((geometry.volume_of(g), geometry.tile_of(g)) for g in geometry.plan)
        tiles = ((tile, self.store.rounded(volume, tile, steps)) for volume, tile in held)
        vector = self.networks.network_vector(scale)
        blobs = code_tiles(vector, self.networks.spec, geometry, self.run.tensor_bits, tiles)
        self.run.size = self.run.head + blobs.total
        return blobs

    @property
    def size(self) -> int:
        """The bytes of the file as last coded."""
        return self.run.size

    def land(self, lam: float):
        """The file's blobs within its budget (in the band under it where it gets there), and
        how many times the tiles trained."""
        run = self.run
        budget = run.budget
        low = (1 - presets.LATENT_RATE_TOLERANCE) * budget
        aim = math.log(budget * (1 - presets.LATENT_RATE_TOLERANCE / 2))
        trained, candidates = [], []
        for attempt in range(1, presets.LATENT_TILED_REFITS + 2):
            if trained:
                lam = math.exp(_next_lambda(trained, aim))
            self.train_tiles(lam, attempt)
            blobs = self.code()
            log.info("tiled latent file: %d bytes at lambda %.3g", run.size, lam)
            trained.append((math.log(lam), math.log(run.size), blobs))
            tries = scale_tries(_coder(self), trained[-1][1:], low, budget)
            candidates += tries
            landed = _in_band(tries, low, budget)
            if landed is not None:
                return landed[2], attempt
            if run.size < low and lam <= LAMBDA_MIN:
                break
        return _largest(candidates, budget, run.config.ratio)[2], len(trained)


def fit_tiled(spec: LatentSpec, geometry: LatentGeometry, job, config, bits, head, budget, device):
    """Fit a file tile by tile (the module's docstring); its blobs, how many fits it took and
    the entropy model's precision it was coded at (chosen on the sample)."""
    sample = sample_tiles(geometry, presets.LATENT_SAMPLE_VOXELS)
    _check_memory(geometry, sample, device)
    volumes = [
        read_box(job, geometry, volume, tile_voxels(geometry, tile), tile).to(device)
        for volume, tile in sample
    ]
    threads = torch.get_num_threads() if job.fitter is None else job.fitter.threads
    with torch_threads(threads):
        run, steps = train_jointly(
            spec, geometry, volumes, device, job, config, bits, head, budget, 2
        )
    log.info("networks fitted on %d tiles; lambda %.3g", len(sample), run.lam)
    run.shown = (steps, 2 * steps)
    with tempfile.TemporaryDirectory(prefix="sincs-latents-") as folder:
        fit = TiledFit(run, Path(folder))
        if presets.LATENT_TILE_FROM_SAMPLE:
            fit.start_from(sample)
        blobs, attempt = fit.land(run.lam)
    return blobs, attempt, run.arm_bits


def _check_memory(geometry: LatentGeometry, sample: list[Tile], device: torch.device) -> None:
    """Refuse, before training, a fit whose sample of tiles (or one tile with its halo) would
    not fit in memory."""
    largest = max(
        training_voxels(geometry, tile).size
        for tile in itertools.product(*(range(min(n, 2)) for n in geometry.tiles))
    )
    sampled = sum(tile_voxels(geometry, tile).size for _, tile in sample)
    needed = memory_needed(max(largest, sampled))
    available = available_bytes(device)
    if available is not None and needed > available:
        where = "GPU" if device.type == "cuda" else "machine"
        raise InsufficientMemoryError(
            f"the latent family needs about {needed / 2**30:.1f} GiB to train even tile by tile, "
            f"and the {where} has {available / 2**30:.1f} GiB free. Close other programs, use "
            "family='pe_mlp' (one group at a time), or compress a crop or a time range."
        )
