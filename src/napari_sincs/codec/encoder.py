"""From a canonical array to the header and weight blobs of a .sincs file.

Plan the groups from the byte budget, fit every chain (weight transfer inside a chain), then
search the weight precision that fills the budget; each group's output layer is then refitted
to its voxels against the quantised hidden layers (refit.py). If even a coarse precision
overshoots, or the finest leaves most of the budget unused, the networks are resized from the
measured bits per parameter and fitted again (at most MAX_ATTEMPTS times in all). A PSNR target
searches over ratios (and, for free, precisions); a maximum error appends exact per-group
residuals.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._version import __version__
from . import residual
from .cluster import ClusterFitter
from .config import CompressionConfig
from .container import INDEX_ENTRY, MemorySource, pack, packed_size
from .decode import Decoder
from .entropy import encode_chain
from .errors import InvalidInputError, RatioUnreachableError
from .fit import CancelToken, FitSettings, ProgressEvent, fit_chain, pick_device
from .grouping import GroupPlan
from .header import FileHeader, ImageMetadata
from .inr import ModelSpec
from .layout import ArrayLayout
from .quantize import quantise_chain
from .rate import MIN_BITS, SEARCH_LEVEL, Design, coded_size, design, resize, search_bits
from .refit import OutputRefit
from .saliency import (
    LearnedSaliency,
    Saliency,
    channel_thresholds,
    learn_saliency,
    normalise,
    threshold_map,
    user_map,
)
from .spill import ArraySpill, Spill
from .verify import measure_quality

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
PSNR_TRIES = 5
GOOD_BITS = 6.0
UNDERUSED = 0.85
FINAL_LEVEL = 19
_STATS_PLACEHOLDER = {
    "psnr": 12.345678901234,
    "ssim": 0.123456789012,
    "ratio": 123.45678901234,
    "seconds": 1234.5678901234,
    "device": "cuda:0",
}


@dataclass
class Encoded:
    """Everything `compress` writes, and how it was obtained (weights and blobs may be spilled
    to a temporary file, so memory does not grow with the input)."""

    header: FileHeader
    blobs: Spill
    attempts: int
    fit_seconds: float
    device: str
    vectors: ArraySpill
    refit: OutputRefit | None = None

    def source(self) -> MemorySource:
        """The file as a Decoder can read it, before it is written."""
        return MemorySource(self.header.to_dict(), self.blobs)

    @property
    def nbytes(self) -> int:
        return packed_size(self.header.to_dict(), self.blobs)

    def recoded(self, bits: float) -> Encoded:
        """The same fit coded at another weight precision (no training)."""
        spec = self.header.model
        residual_coding = self.header.config.residual_coding
        blobs = code_chains(self.vectors, spec, bits, residual_coding, self.refit)
        header = dataclasses.replace(self.header, bits=round(bits, 3))
        return dataclasses.replace(self, header=header, blobs=blobs)


def code_chains(
    vectors: ArraySpill,
    spec: ModelSpec,
    bits: float,
    residual_coding: bool,
    refit: OutputRefit | None = None,
) -> Spill:
    """Every chain quantised (output layers refitted to the data when `refit` is given) and
    entropy-coded at one precision, in a Spill."""
    blobs = Spill()
    for index, chain in enumerate(vectors):
        quantised = quantise_chain(chain, spec.parameter_shapes, bits)
        if refit is not None:
            quantised = refit(index, quantised)
        blobs.append(encode_chain(quantised, spec.parameter_shapes, residual_coding, FINAL_LEVEL))
    return blobs


def intensity_range(array5d: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel min and max, read plane by plane; rejects NaN and infinity."""
    channels = array5d.shape[1]
    lo = [math.inf] * channels
    hi = [-math.inf] * channels
    for t, c, z in itertools.product(*(range(n) for n in array5d.shape[:3])):
        plane = np.asarray(array5d[t, c, z])
        if plane.dtype.kind == "f" and not np.all(np.isfinite(plane)):
            raise InvalidInputError(
                "the array contains NaN or infinite values; replace them (e.g. "
                "numpy.nan_to_num) before compressing."
            )
        lo[c] = min(lo[c], float(plane.min()))
        hi[c] = max(hi[c], float(plane.max()))
    return lo, hi


class GroupSource:
    """Loads one group's normalised values and saliency weights, on demand."""

    def __init__(
        self,
        array5d: np.ndarray,
        plan: GroupPlan,
        axes: tuple[str, ...],
        lo: list[float],
        hi: list[float],
        config: CompressionConfig,
        saliency: Saliency,
    ) -> None:
        self.array5d = array5d
        self.plan = plan
        self.axes = axes
        self.lo = lo
        self.hi = hi
        self.config = config
        self.saliency = saliency
        self.thresholds: list[float] = []
        if saliency is None and config.saliency == "threshold":
            self.thresholds = channel_thresholds(array5d, lo, hi, config.threshold)

    def _to_axes(self, block: np.ndarray) -> np.ndarray:
        keep = {"t": 0, "z": 1, "y": 2, "x": 3}
        drop = tuple(i for name, i in keep.items() if name not in self.axes)
        return block.squeeze(axis=drop) if drop else block

    def __call__(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        group = self.plan.group(index)
        c = group.channel
        values = normalise(self.plan.extract(self.array5d, group), self.lo[c], self.hi[c])
        floor = self.config.saliency_floor
        if isinstance(self.saliency, LearnedSaliency):
            weights = self.saliency.weights(values, floor)
        elif self.saliency is not None:
            weights = user_map(self.plan.extract(self.saliency, group), floor)
        elif self.config.saliency == "threshold":
            weights = threshold_map(values, self.thresholds[group.channel], floor)
        else:
            weights = None
        return self._to_axes(values), None if weights is None else self._to_axes(weights)


def _header(
    layout: ArrayLayout,
    dtype: str,
    metadata: ImageMetadata,
    lo: list[float],
    hi: list[float],
    config: CompressionConfig,
    chosen: Design,
    bits: float,
    stats: dict | None = None,
) -> FileHeader:
    return FileHeader(
        layout=layout,
        dtype=dtype,
        metadata=metadata,
        intensity_min=tuple(lo),
        intensity_max=tuple(hi),
        config=config,
        plan=chosen.plan,
        model=chosen.spec,
        bits=round(bits, 3),
        codec_version=__version__,
        stats=stats or {},
    )


def header_bytes(header: FileHeader) -> int:
    """Bytes of everything but the blobs, with room for the stats written after verification."""
    data = header.to_dict()
    data["stats"] = dict(_STATS_PLACEHOLDER)
    return len(pack(data, [])) + INDEX_ENTRY.size * len(header.plan.chains()) + 8


def encode(
    array5d: np.ndarray,
    layout: ArrayLayout,
    metadata: ImageMetadata,
    config: CompressionConfig,
    saliency: Saliency = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    fitter: ClusterFitter | None = None,
) -> Encoded:
    """Fit and code a canonical (t, c, z, y, x) array to the quality `config` asks for
    (chains fitted in this process, or on a cluster through `fitter`)."""
    config = config.for_shape(array5d.shape, saliency is not None).resolved()
    job = (array5d, layout, metadata, saliency, progress, cancel, fitter)
    if config.psnr is not None:
        encoded = encode_for_psnr(*job[:3], config, *job[3:])
    else:
        encoded = encode_at_ratio(*job[:3], config, *job[3:])
    if config.max_error is not None:
        encoded = add_residuals(encoded, array5d, config.max_error, progress, cancel)
    return encoded


def encode_at_ratio(
    array5d: np.ndarray,
    layout: ArrayLayout,
    metadata: ImageMetadata,
    config: CompressionConfig,
    saliency: Saliency = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    fitter: ClusterFitter | None = None,
) -> Encoded:
    """Fit and code within the byte budget of `config.ratio` (networks only)."""
    dtype = str(array5d.dtype)
    lo, hi = intensity_range(array5d)
    raw = math.prod(array5d.shape) * array5d.dtype.itemsize
    budget = raw / config.ratio
    probe = design(array5d.shape, budget, config)
    reserve = header_bytes(_header(layout, dtype, metadata, lo, hi, config, probe, 8.0))
    if budget <= reserve:
        raise RatioUnreachableError(
            f"a ratio of {config.ratio:g} allows {budget:.0f} bytes for a {raw}-byte array, "
            f"but the file's header alone needs about {reserve} bytes; ask for a ratio below "
            f"{raw / (reserve * 1.5):.0f}."
        )
    chosen = design(array5d.shape, budget - reserve, config)
    plan = chosen.plan
    device = pick_device(config.device)
    settings = FitSettings(
        steps=config.steps,
        transfer_steps=config.transfer_steps,
        learning_rate=config.learning_rate,
        batch_size=config.batch_size,
        weight_transfer=config.weight_transfer,
        seed=config.seed,
    )
    if saliency is None and config.saliency == "learned":
        saliency = learn_saliency(array5d, lo, hi, config)
    start = time.perf_counter()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        source = GroupSource(array5d, plan, chosen.spec.axes, lo, hi, config, saliency)
        vectors = _fit_all(chosen, source, settings, device, attempt, progress, cancel, fitter)
        head = header_bytes(_header(layout, dtype, metadata, lo, hi, config, chosen, 8.0))

        def size_at(bits: float, vectors=vectors, spec=chosen.spec, head=head) -> int:
            return head + coded_size(vectors, spec, bits, config.residual_coding, SEARCH_LEVEL)

        fixed = config.width is not None and config.family == "pe_mlp"
        last = attempt == MAX_ATTEMPTS or fixed
        bits = search_bits(size_at, budget, config.weight_bits, MIN_BITS if last else GOOD_BITS)
        total = chosen.spec.n_parameters * len(plan)
        if bits is None and not last:
            per_param = (size_at(GOOD_BITS + 1) - head) / total
            wanted = 0.97 * (budget - head) / per_param / len(plan)
            smaller = resize(plan, config, wanted, budget, at_least_smallest=True)
            if smaller.spec != chosen.spec:
                chosen = smaller
                log.info(
                    "attempt %d overshot the budget; refitting with %d parameters per group",
                    attempt,
                    chosen.spec.n_parameters,
                )
                continue
            # Already the smallest network: coarser weights are the only way left.
            bits = search_bits(size_at, budget, config.weight_bits, MIN_BITS)
        if bits is None:
            raise RatioUnreachableError(
                f"a ratio of {config.ratio:g} cannot be met: even at {MIN_BITS:g}-bit weights the "
                f"file takes {size_at(MIN_BITS)} bytes for a budget of {budget:.0f}. Ask for a "
                "lower ratio or use fewer groups."
            )
        used = size_at(bits)
        if bits >= config.weight_bits and used < UNDERUSED * budget and not last:
            per_param = (used - head) / total
            grown = resize(plan, config, 0.95 * (budget - head) / per_param / len(plan), budget)
            if grown.spec.n_parameters > chosen.spec.n_parameters:
                chosen = grown
                log.info("attempt %d used %d of %.0f bytes; refitting wider", attempt, used, budget)
                continue
        break
    fit_seconds = time.perf_counter() - start
    refit = (
        OutputRefit(chosen.spec, plan, source, device, config.seed) if config.output_refit else None
    )
    blobs = code_chains(vectors, chosen.spec, bits, config.residual_coding, refit)
    while head + blobs.total > budget and bits > MIN_BITS:
        bits = max(MIN_BITS, bits - 0.05)
        blobs = code_chains(vectors, chosen.spec, bits, config.residual_coding, refit)
    header = _header(layout, dtype, metadata, lo, hi, config, chosen, bits)
    where = str(device) if fitter is None else fitter.describe()
    return Encoded(header, blobs, attempt, fit_seconds, where, vectors, refit)


def add_residuals(
    encoded: Encoded,
    array5d: np.ndarray,
    max_error: float,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
) -> Encoded:
    """Append one residual blob per group so that every voxel is within `max_error`."""
    decoder = Decoder(encoded.source())
    plan = encoded.header.plan
    blobs = Spill()
    for blob in encoded.blobs:
        blobs.append(blob)
    for group in plan:
        if cancel is not None:
            cancel.raise_if_cancelled()
        predicted = decoder.predict_group(group)
        blobs.append(residual.encode(plan.extract(array5d, group), predicted, max_error))
        if progress is not None:
            progress(ProgressEvent(group.index + 1, len(plan), 0, 0, 0.0, "residual"))
    header = dataclasses.replace(encoded.header, max_error=float(max_error))
    return dataclasses.replace(encoded, header=header, blobs=blobs)


def encode_for_psnr(
    array5d: np.ndarray,
    layout: ArrayLayout,
    metadata: ImageMetadata,
    config: CompressionConfig,
    saliency: Saliency = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    fitter: ClusterFitter | None = None,
) -> Encoded:
    """The smallest file whose PSNR reaches `config.psnr`, or the best one tried if none does.

    Each try fits networks for a ratio (starting at `config.ratio`, doubling after a success,
    halving after a failure, then bisecting); within a fit that passes, the weight precision is
    lowered for free (no training) as long as the PSNR holds.
    """
    target = float(config.psnr)
    lo, hi = intensity_range(array5d)
    if saliency is None and config.saliency == "learned":
        saliency = learn_saliency(array5d, lo, hi, config)
    data_range = max(hi) - min(lo)
    passed: list[tuple[int, Encoded]] = []
    failed: list[tuple[float, Encoded]] = []
    ratio, low, high = config.ratio, None, None
    for _ in range(PSNR_TRIES):
        try:
            candidate = encode_at_ratio(
                array5d,
                layout,
                metadata,
                config.replace(ratio=ratio),
                saliency,
                progress,
                cancel,
                fitter,
            )
        except RatioUnreachableError:
            high = ratio
        else:
            reached = measure_quality(candidate.source(), array5d, data_range, with_ssim=False).psnr
            log.info("psnr search: ratio %.1f gives %.2f dB", ratio, reached)
            if reached >= target:
                candidate = _fewest_bits(candidate, array5d, data_range, target)
                passed.append((candidate.nbytes, candidate))
                low = ratio
            else:
                failed.append((reached, candidate))
                high = ratio
        ratio = (
            math.sqrt(low * high) if low and high else (ratio * 2 if high is None else ratio / 2)
        )
        if low and high and high / low < 1.25:
            break
    if passed:
        return min(passed, key=lambda item: item[0])[1]
    if not failed:
        raise RatioUnreachableError(
            f"no file could be made while searching for {target:g} dB; lower the PSNR target."
        )
    best = max(failed, key=lambda item: item[0])
    log.info("PSNR %.2f dB not reached; best %.2f dB", target, best[0])
    return best[1]


def _fewest_bits(
    encoded: Encoded, array5d: np.ndarray, data_range: float, target: float
) -> Encoded:
    """Lower the weight precision of a passing fit while its PSNR stays at the target."""
    best = encoded
    low, high = MIN_BITS, encoded.header.bits
    while high - low > 0.25:
        bits = (low + high) / 2
        candidate = encoded.recoded(bits)
        if measure_quality(candidate.source(), array5d, data_range, with_ssim=False).psnr >= target:
            best, high = candidate, bits
        else:
            low = bits
    return best


def _fit_all(
    chosen: Design,
    source: GroupSource,
    settings: FitSettings,
    device,
    attempt: int,
    progress: Callable[[ProgressEvent], None] | None,
    cancel: CancelToken | None,
    fitter: ClusterFitter | None = None,
) -> ArraySpill:
    """Fit every chain; keep only each chain's weights (groups × parameters)."""
    plan = chosen.plan
    total = len(plan)

    def on_step(group: int, step: int, steps: int, loss: float) -> None:
        if progress is not None:
            progress(ProgressEvent(group, total, step, steps, loss, "fit", attempt))

    vectors = ArraySpill()
    if fitter is not None:
        chains = [list(chain) for chain in plan.chains()]

        def on_chain(chain: list[int], loss: float) -> None:
            warm = len(chain) > 1 and settings.weight_transfer
            last = settings.transfer_steps if warm else settings.steps
            on_step(chain[-1], last, last, loss)

        for weights in fitter.fit(chosen.spec, chains, source, settings, on_chain, cancel):
            vectors.append(weights)
        return vectors
    for chain in plan.chains():
        if cancel is not None:
            cancel.raise_if_cancelled()
        fits = fit_chain(chosen.spec, list(chain), source, settings, device, on_step, cancel)
        vectors.append(np.stack([fit.parameters.numpy() for fit in fits]))
    return vectors
