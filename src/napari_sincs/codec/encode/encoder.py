"""From a canonical array to the header and blobs of a .sincs file, at the quality asked for.

A ratio is met by ratio.py; a PSNR target searches over ratios (and, for free, precisions); a
maximum error appends exact per-group image residuals to the networks' prediction.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from ...progress import RESIDUAL, CancelToken, ProgressCallback, ProgressEvent, check, report
from .. import presets
from ..config import CompressionConfig
from ..decode.decoder import Decoder
from ..errors import InvalidConfigError, RatioUnreachableError
from ..families import get_family
from ..format import residual
from ..format.header import ImageMetadata
from ..intensity import intensity_range
from ..layout import ArrayLayout
from ..saliency import SaliencyMethod, resolve
from ..training.cluster import ClusterFitter
from .job import Job
from .rate import Encoded
from .spill import Spill
from .verify import measure_quality

log = logging.getLogger(__name__)


def prepare(
    array5d: np.ndarray,
    layout: ArrayLayout,
    metadata: ImageMetadata,
    config: CompressionConfig,
    saliency: SaliencyMethod | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    fitter: ClusterFitter | None = None,
) -> tuple[Job, CompressionConfig]:
    """What every fit of one encode shares (intensity range, saliency prepared once), and the
    config with the family and its defaults resolved for this array. `saliency` is the method
    to sample by when it is not the config's (a user's map)."""
    method = saliency or resolve(config.saliency)
    config = config.for_shape(
        array5d.shape, saliency is not None, fitter is not None, array5d.dtype.itemsize
    ).resolved()
    if fitter is not None and not get_family(config.family).fits_on_clusters:
        raise InvalidConfigError(
            f"the {config.family} family fits in this process and cannot use dask workers or a "
            "scheduler; leave workers and scheduler unset, or choose family='pe_mlp'."
        )
    lo, hi = intensity_range(array5d)
    prepared = method.prepared(array5d, lo, hi, config, progress, cancel)
    return Job(array5d, layout, metadata, lo, hi, prepared, progress, cancel, fitter), config


def encode(job: Job, config: CompressionConfig) -> Encoded:
    """Fit and code a job's array to the quality a resolved `config` asks for (from `prepare`;
    chains fitted in this process, or on a cluster through the job's fitter)."""
    if config.psnr is not None:
        encoded = encode_for_psnr(job, config)
    elif config.max_error is not None:
        encoded = _bounded_base(job, config)
    else:
        encoded = get_family(config.family).encode_at_ratio(job, config)
    if config.max_error is not None:
        encoded = add_residuals(encoded, job, config.max_error)
    return encoded


def _bounded_base(job: Job, config: CompressionConfig) -> Encoded:
    """The networks under an error bound: at `config.ratio`, or, where no network fits that
    budget (a small image at the default 100x), at halved ratios down to
    presets.MIN_BASE_RATIO; the residual makes up the difference either way, so a lossless or
    error-bounded request never fails for a ratio the user did not need."""
    family = get_family(config.family)
    ratio = config.ratio
    while True:
        try:
            return family.encode_at_ratio(job, config.replace(ratio=ratio))
        except RatioUnreachableError:
            if ratio / 2 < presets.MIN_BASE_RATIO:
                raise
            ratio /= 2
            log.info("no network fits at the base ratio; trying %.3g", ratio)


def add_residuals(encoded: Encoded, job: Job, max_error: float) -> Encoded:
    """Append one residual blob per group so that every voxel is within `max_error`."""
    decoder = Decoder(encoded.source())
    plan = encoded.header.plan
    blobs = Spill()
    for blob in encoded.blobs:
        blobs.append(blob)
    for group in plan:
        check(job.cancel)
        predicted = decoder.predict_group(group)
        blobs.append(residual.encode(plan.extract(job.array5d, group), predicted, max_error))
        report(job.progress, ProgressEvent(group.index + 1, len(plan), 0, 0, 0.0, RESIDUAL))
    header = dataclasses.replace(encoded.header, max_error=float(max_error))
    return dataclasses.replace(encoded, header=header, blobs=blobs)


def encode_for_psnr(job: Job, config: CompressionConfig) -> Encoded:
    """The smallest file whose PSNR reaches `config.psnr`, or the best one tried if none does.

    Each try fits networks for a ratio (starting at `config.ratio`, doubling after a success,
    halving after a failure, then bisecting); within a fit that passes, the weight precision is
    lowered for free (no training) as long as the PSNR holds.
    """
    target = float(config.psnr)
    passed: list[tuple[int, Encoded]] = []
    failed: list[tuple[float, Encoded]] = []
    ratio, low, high = config.ratio, None, None
    for _ in range(presets.PSNR_TRIES):
        try:
            candidate = get_family(config.family).encode_at_ratio(job, config.replace(ratio=ratio))
        except RatioUnreachableError:
            high = ratio
        else:
            reached = _psnr(candidate, job)
            log.info("psnr search: ratio %.1f gives %.2f dB", ratio, reached)
            if reached >= target and candidate.vectors is not None:
                candidate = _fewest_bits(candidate, job, target)
            if reached >= target:
                passed.append((candidate.nbytes, candidate))
                low = ratio
            else:
                failed.append((reached, candidate))
                high = ratio
        ratio = (
            math.sqrt(low * high) if low and high else (ratio * 2 if high is None else ratio / 2)
        )
        if low and high and high / low < presets.PSNR_RATIO_RESOLUTION:
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


def _psnr(encoded: Encoded, job: Job) -> float:
    return measure_quality(encoded.source(), job.array5d, job.data_range, with_ssim=False).psnr


def _fewest_bits(encoded: Encoded, job: Job, target: float) -> Encoded:
    """Lower the weight precision of a passing fit while its PSNR stays at the target."""
    best = encoded
    low, high = presets.MIN_BITS, encoded.header.bits
    while high - low > presets.PSNR_BITS_RESOLUTION:
        bits = (low + high) / 2
        candidate = encoded.recoded(bits)
        if _psnr(candidate, job) >= target:
            best, high = candidate, bits
        else:
            low = bits
    return best
