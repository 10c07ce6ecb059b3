"""The public Python API: compress, open_sincs, decode and saliency_map.

The CLI and the napari plugin call exactly these functions.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .codec.config import CompressionConfig, check_setting_names
from .codec.encode.encoder import encode, prepare
from .codec.encode.job import STATS_DECIMALS
from .codec.encode.rate import Encoded
from .codec.encode.source import canonical
from .codec.encode.verify import measure_quality
from .codec.errors import InvalidInputError
from .codec.format.container import check_writable, write_container
from .codec.format.header import SUPPORTED_DTYPES, ImageMetadata
from .codec.intensity import intensity_range, normalise
from .codec.layout import CANONICAL, ArrayLayout, default_axes
from .codec.saliency import SaliencyMethod, get_method, resolve
from .codec.training.cluster import cluster_fitter
from .io import read_image
from .lazy import SincsArray, open_sincs
from .progress import SALIENCY, WRITE, CancelToken, ProgressCallback, ProgressEvent, check, report

log = logging.getLogger(__name__)

__all__ = [
    "CompressionReport",
    "compress",
    "compress_file",
    "decode",
    "open_sincs",
    "saliency_map",
]


@dataclass(frozen=True)
class CompressionReport:
    """What a compression achieved, measured on the file actually written."""

    path: str
    shape: tuple[int, ...]
    axes: str
    dtype: str
    raw_bytes: int
    file_bytes: int
    ratio: float
    target_ratio: float
    psnr: float
    ssim: float
    max_abs_error: float
    guarantee: str
    met: bool
    seconds: float
    fit_seconds: float
    groups: int
    parameters_per_group: int
    family: str
    width: int
    bits: float
    device: str
    attempts: int
    max_error_at: tuple[int, ...] | None = None
    """Index (in `axes`) of a voxel with the largest absolute error: where to look first."""

    def __str__(self) -> str:
        status = "holds" if self.met else "NOT met"
        return (
            f"{self.path}: {self.file_bytes:,} bytes from {self.raw_bytes:,} "
            f"(ratio {self.ratio:.1f}x), PSNR {self.psnr:.2f} dB, SSIM {self.ssim:.4f}, "
            f"max error {self.max_abs_error:g}; {self.guarantee}: {status}; "
            f"{self.seconds:.1f} s on {self.device}; {self.groups} groups of "
            f"{self.parameters_per_group} parameters ({self.family}) at {self.bits:.2f} bits"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _guarantee(
    config: CompressionConfig, ratio: float, psnr: float, max_error: float
) -> tuple[str, bool]:
    """The promise the user asked for, in words, and whether the file keeps it."""
    if config.max_error is not None:
        bound = config.max_error
        words = "lossless (bit-exact)" if bound == 0 else f"every voxel within {bound:g}"
        return words, max_error <= bound
    if config.psnr is not None:
        return f"PSNR ≥ {config.psnr:g} dB", psnr >= config.psnr
    return f"ratio ≥ {config.ratio:g}", ratio >= config.ratio


def _check_array(data: Any) -> Any:
    """numpy arrays and lazy array-likes (shape, dtype, slicing: zarr, dask, a lazy TIFF) pass
    through untouched; anything else (lists) becomes a numpy array."""
    lazy = all(hasattr(data, a) for a in ("shape", "dtype", "__getitem__"))
    array = data if isinstance(data, np.ndarray) or lazy else np.asarray(data)
    if str(array.dtype) not in SUPPORTED_DTYPES:
        raise InvalidInputError(
            f"dtype {array.dtype} is not supported; napari-sincs compresses "
            f"{', '.join(SUPPORTED_DTYPES)}. Convert first, e.g. array.astype('float32')."
        )
    return array


def _metadata(
    layout: ArrayLayout,
    name: str | None,
    scale: Mapping[str, float] | Sequence[float] | None,
    units: Mapping[str, str] | Sequence[str] | None,
    channel_names: Sequence[str] | None,
    rgb: bool = False,
    origin: Mapping[str, float] | Sequence[float] | None = None,
) -> ImageMetadata:
    if rgb and not (layout.axes.endswith("c") and layout.extent("c") in (3, 4)):
        raise InvalidInputError(
            f"rgb=True needs the colours as the last axis, c, of 3 or 4 (got axes {layout.axes} "
            f"and shape {layout.shape}); pass axes such as 'yxc', or leave rgb off."
        )

    def per_axis(values: Any, what: str) -> dict:
        if values is None:
            return {}
        if isinstance(values, Mapping):
            mapping = {str(k).lower(): v for k, v in values.items()}
        else:
            values = list(values)
            if len(values) != layout.ndim:
                raise InvalidInputError(
                    f"{what} has {len(values)} entries for {layout.ndim} axes ({layout.axes}); "
                    "give one per axis or a mapping such as {'y': 0.1}."
                )
            mapping = dict(zip(layout.axes, values))
        unknown = set(mapping) - set(layout.axes)
        if unknown:
            raise InvalidInputError(f"{what} names axes {sorted(unknown)} the array does not have.")
        return mapping

    scales = {k: float(v) for k, v in per_axis(scale, "scale").items()}
    if not all(math.isfinite(v) and v > 0 for v in scales.values()):
        raise InvalidInputError(f"voxel sizes must be positive numbers (got {scales}).")
    offsets = {k: float(v) for k, v in per_axis(origin, "origin").items()}
    if not all(math.isfinite(v) for v in offsets.values()):
        raise InvalidInputError(f"the origin must be finite numbers (got {offsets}).")
    names = [str(n) for n in channel_names or []]
    if names and len(names) != layout.extent("c"):
        raise InvalidInputError(
            f"{len(names)} channel names for {layout.extent('c')} channels; give one per channel."
        )
    return ImageMetadata(
        name=name or "",
        scale=scales,
        units={k: str(v) for k, v in per_axis(units, "units").items()},
        channel_names=names,
        rgb=rgb,
        origin={k: v for k, v in offsets.items() if v != 0 and k != "c"},
    )


def _resolve_saliency(
    saliency: str | np.ndarray | None, layout: ArrayLayout, config: CompressionConfig
) -> tuple[CompressionConfig, SaliencyMethod | None]:
    """The config's method (named by `saliency` if a name), or the user's map as a method."""
    if saliency is None:
        return config, None
    if isinstance(saliency, str):
        return config.replace(saliency=saliency), None
    saliency_array = np.asarray(saliency)
    if saliency_array.shape != layout.shape:
        raise InvalidInputError(
            f"the saliency map has shape {saliency_array.shape} but the image has {layout.shape}; "
            "pass a map of the same shape (e.g. from saliency_map())."
        )
    return config, resolve(config.saliency, layout.to_canonical(saliency_array))


def compress(
    data: Any,
    path: str | os.PathLike[str],
    *,
    axes: str | None = None,
    ratio: float | None = None,
    psnr: float | None = None,
    max_error: float | None = None,
    config: CompressionConfig | None = None,
    saliency: str | np.ndarray | None = None,
    name: str | None = None,
    scale: Mapping[str, float] | Sequence[float] | None = None,
    units: Mapping[str, str] | Sequence[str] | None = None,
    channel_names: Sequence[str] | None = None,
    rgb: bool = False,
    origin: Mapping[str, float] | Sequence[float] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    overwrite: bool = False,
    scheduler: str | Any | None = None,
    workers: int | None = None,
    **settings: Any,
) -> CompressionReport:
    """Compress an image into a .sincs file and report what the file achieves.

    Ask for quality one way: `ratio` (file ≤ raw/ratio bytes), `psnr` (smallest file reaching it)
    or `max_error` (every voxel within it; 0 = lossless, bit-exact; `ratio` then sizes the
    networks and an exact residual stores the rest).
    `axes` names each dimension with t, c, z, y, x (default by ndim: yx, zyx, tzyx, tczyx).
    `saliency` is "threshold", "uniform", "learned" (Grad-CAM over structure classes of a small
    network trained on this image), or an array of the image's shape (an edited map).
    `rgb=True` records that the last axis (c, of 3 or 4) holds the colours of one image, so
    napari shows the file as one RGB layer again. `origin` is where the first voxel lies, per axis
    in the units of `scale` (napari's translate), so the layer opens where the original was.
    Any CompressionConfig field can be given as a keyword (time_groups=4, block=(64, 64), ...).
    `scheduler` (a dask scheduler address or distributed.Client) or `workers` (a LocalCluster of
    that many processes) fit the chains of groups in parallel; the file is the same as in one
    process with the same seed and device.
    The file is verified by decoding it before it is written; nothing is written on error.
    """
    started = time.perf_counter()
    check_setting_names(settings, also=_COMPRESS_KEYWORDS)
    array = _check_array(data)
    layout = ArrayLayout(axes or default_axes(array.ndim), array.shape)
    for key, value in (("ratio", ratio), ("psnr", psnr), ("max_error", max_error)):
        if value is not None:
            settings[key] = value
    base = config or CompressionConfig()
    config = base.replace(**settings) if settings else base
    config, method = _resolve_saliency(saliency, layout, config)
    metadata = _metadata(layout, name, scale, units, channel_names, rgb, origin)
    target = Path(path)
    check_writable(target, overwrite)
    array5d = canonical(array, layout)
    with cluster_fitter(scheduler, workers, config.device) as fitter:
        job, resolved = prepare(array5d, layout, metadata, config, method, progress, cancel, fitter)
        encoded = encode(job, resolved)
    return _verify_and_write(encoded, array5d, config, target, overwrite, progress, cancel, started)


_COMPRESS_KEYWORDS = tuple(
    name
    for name, parameter in inspect.signature(compress).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)


def _verify_and_write(
    encoded: Encoded,
    array5d: Any,
    config: CompressionConfig,
    target: Path,
    overwrite: bool,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    started: float,
) -> CompressionReport:
    """Decode what will be written, measure it against the original, write it, report."""
    header = encoded.header
    data_range = max(header.intensity_max) - min(header.intensity_min)
    quality = measure_quality(encoded.source(), array5d, data_range, progress, cancel)
    worst = _in_axes(quality.max_error_at, header.layout)
    stats = {
        "psnr": round(quality.psnr, STATS_DECIMALS["psnr"])
        if math.isfinite(quality.psnr)
        else None,
        "ssim": round(quality.ssim, STATS_DECIMALS["ssim"]),
        "max_abs_error": quality.max_error,
        "max_abs_error_at": None if worst is None else list(worst),
        "device": encoded.device,
    }
    check(cancel)
    report(progress, ProgressEvent(0, 1, 0, 0, 0.0, WRITE))
    size = write_container(target, {**header.to_dict(), "stats": stats}, encoded.blobs, overwrite)
    encoded.close()
    report(progress, ProgressEvent(1, 1, 0, 0, 0.0, WRITE))
    ratio = header.raw_bytes / size
    guarantee, met = _guarantee(config, ratio, quality.psnr, quality.max_error)
    return CompressionReport(
        path=str(target),
        shape=header.layout.shape,
        axes=header.layout.axes,
        dtype=header.dtype,
        raw_bytes=header.raw_bytes,
        file_bytes=size,
        ratio=ratio,
        target_ratio=config.ratio,
        psnr=quality.psnr,
        ssim=quality.ssim,
        max_abs_error=quality.max_error,
        guarantee=guarantee,
        met=met,
        seconds=time.perf_counter() - started,
        fit_seconds=encoded.fit_seconds,
        groups=len(header.plan),
        parameters_per_group=header.model.n_parameters,
        family=header.model.family,
        width=header.model.to_dict().get("width", 0),
        bits=header.bits,
        device=encoded.device,
        attempts=encoded.attempts,
        max_error_at=worst,
    )


def _in_axes(index5d: tuple[int, ...] | None, layout: ArrayLayout) -> tuple[int, ...] | None:
    """A canonical (t, c, z, y, x) index in the layout's own axes."""
    if index5d is None:
        return None
    return tuple(index5d[CANONICAL.index(axis)] for axis in layout.axes)


def compress_file(
    source: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    axes: str | None = None,
    lazy: bool | None = None,
    **kwargs: Any,
) -> CompressionReport:
    """Read a TIFF/OME-TIFF/ImageJ TIFF/PNG and compress it, keeping what the file says about
    its axes, voxel size, units and channel names. Keywords are those of `compress`. Large
    TIFFs (or lazy=True) are read page by page as compression needs them."""
    image = read_image(source, axes, lazy)
    if image.guessed:
        log.warning(
            "%s does not name %d of its dimensions: read as %s (the guessed: %s). If that is "
            "wrong, name every dimension, e.g. axes='tyx' (--axes tyx) for a time series.",
            Path(source).name,
            len(image.guessed),
            image.axes,
            image.guessed,
        )
    meta = image.metadata
    try:
        return compress(
            image.data,
            path,
            axes=image.axes,
            name=meta.name,
            scale=meta.scale,
            units=meta.units,
            channel_names=meta.channel_names or None,
            origin=meta.origin,
            **kwargs,
        )
    finally:
        close = getattr(image.data, "close", None)
        if close is not None:
            close()


def decode(
    source: str | os.PathLike[str] | SincsArray,
    region: Sequence[slice] | None = None,
    level: int = 0,
) -> np.ndarray:
    """Decode a whole file, or a region (one slice per axis, in the file's axes) at a level."""
    array = source if isinstance(source, SincsArray) else open_sincs(source, cache_bytes=0)
    try:
        view = array.at_level(level)
        if region is None:
            return view[...]
        return view[tuple(region)]
    finally:
        if array is not source:
            array.close()


def saliency_map(
    data: Any,
    *,
    axes: str | None = None,
    saliency: str = "threshold",
    threshold: float | None = None,
    saliency_floor: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    method: str | None = None,
    floor: float | None = None,
) -> np.ndarray:
    """The sampling weights compression would use, same shape as `data` (for preview/editing).

    The keywords mean what they mean to `compress`: the threshold is a normalised intensity in
    [0, 1] per channel (Otsu's when None); the floor is the weight of voxels below it (the
    config default when None). "learned" trains its small network on `data` (seconds), as
    compression with the same seed would. `progress` hears the saliency stage in two parts
    (preparing, then mapping every plane); `cancel` stops it between steps. `method` and
    `floor` are the old names of `saliency` and `saliency_floor`.
    """
    if method is not None:
        warnings.warn("saliency_map(method=) is now saliency=", DeprecationWarning, stacklevel=2)
        saliency = method
    if floor is not None:
        warnings.warn(
            "saliency_map(floor=) is now saliency_floor=", DeprecationWarning, stacklevel=2
        )
        saliency_floor = floor
    config = CompressionConfig(saliency=saliency, threshold=threshold, seed=seed)
    if saliency_floor is not None:
        config = config.replace(saliency_floor=saliency_floor)
    array = np.asarray(_check_array(data))
    layout = ArrayLayout(axes or default_axes(array.ndim), array.shape)
    array5d = layout.to_canonical(array)
    lo, hi = intensity_range(array5d)
    prepared = get_method(config.saliency).prepared(
        array5d, lo, hi, config, progress, cancel, part=(0, 2)
    )
    out = np.ones(array5d.shape, dtype=np.float32)
    slabs = [(t, c) for t in range(array5d.shape[0]) for c in range(array5d.shape[1])]
    for done, (t, c) in enumerate(slabs):
        check(cancel)
        index = (slice(t, t + 1), c, slice(None), slice(None), slice(None))
        weights = prepared.weights(normalise(array5d[index], lo[c], hi[c]), c, index)
        if weights is not None:
            out[index] = weights
        report(progress, ProgressEvent(1, 2, done + 1, len(slabs), 0.0, SALIENCY))
    return layout.from_canonical(out)
