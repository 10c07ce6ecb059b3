"""Lossless and error-bounded compression: napari-sincs against zstd, SZ3 and ZFP.

napari-sincs fits its networks once per image (default settings, 100×), then stores an exact
residual for each bound: E = 0 (lossless), 0.1% and 1% of the data range. Every file is decoded
and its largest error checked against the bound. zstd (level 19) gives the lossless reference;
SZ3 (absolute error bound) and ZFP (fixed accuracy, tolerance E) the error-bounded ones, on the
same arrays converted to float32, their output rounded back to the image's dtype (which can only
lower the error of an integer image).
"""

from __future__ import annotations

import math
import time

import numpy as np
import zstandard

from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.decode.decoder import Decoder
from napari_sincs.codec.encode.encoder import add_residuals, prepare
from napari_sincs.codec.encode.ratio import encode_at_ratio
from napari_sincs.codec.format.header import ImageMetadata
from napari_sincs.codec.layout import ArrayLayout
from napari_sincs.codec.metrics import psnr

from .codecs import Sz3, Zfp
from .datasets import Dataset

FRACTIONS = (0.0, 0.001, 0.01)


def _check(name: str, decoded: np.ndarray, data: np.ndarray, bound: float) -> float:
    error = float(np.abs(decoded.astype(np.float64) - data.astype(np.float64)).max())
    if error > bound:
        raise AssertionError(f"{name} broke its bound: {error} > {bound}")
    return error


def measure_bounded(dataset: Dataset) -> list[dict]:
    data = dataset.load()
    layout = ArrayLayout(dataset.axes, data.shape)
    array5d = layout.to_canonical(data)
    span = float(data.max()) - float(data.min())
    rows = []
    started = time.perf_counter()
    raw = np.ascontiguousarray(data).tobytes()
    zstd_bytes = len(zstandard.ZstdCompressor(level=19).compress(raw))
    seconds = time.perf_counter() - started
    rows.append(
        _row(dataset, "zstd -19", 0.0, 0.0, data.nbytes / zstd_bytes, 0.0, math.inf, seconds)
    )
    started = time.perf_counter()
    job, config = prepare(array5d, layout, ImageMetadata(), CompressionConfig())
    networks = encode_at_ratio(job, config)
    fit_seconds = time.perf_counter() - started
    for fraction in FRACTIONS:
        bound = _bound(fraction, span, data.dtype)
        started = time.perf_counter()
        encoded = add_residuals(networks, job, bound)
        seconds = fit_seconds + time.perf_counter() - started
        decoded = layout.from_canonical(Decoder(encoded.source()).decode())
        error = _check("napari-sincs", decoded, data, bound)
        if bound == 0 and decoded.tobytes() != data.tobytes():
            raise AssertionError("napari-sincs lossless is not bit-exact")
        quality = psnr(data, decoded, span)
        ratio = data.nbytes / encoded.nbytes
        rows.append(_row(dataset, "napari-sincs", fraction, bound, ratio, error, quality, seconds))
        if bound == 0:
            continue
        for codec in (Sz3(), Zfp()):
            if codec.unavailable():
                note = {"note": codec.unavailable()}
                rows.append({"dataset": dataset.name, "codec": codec.name, **note})
                continue
            started = time.perf_counter()
            compressed = codec.compress_bound(data, dataset.axes, bound)
            seconds = time.perf_counter() - started
            decoded = compressed.decode()
            error = _check(codec.name, decoded, data, bound)
            quality = psnr(data, decoded, span)
            ratio = data.nbytes / compressed.nbytes
            rows.append(_row(dataset, codec.name, fraction, bound, ratio, error, quality, seconds))
    return rows


def _bound(fraction: float, span: float, dtype: np.dtype) -> float:
    """The absolute bound for a fraction of the range (whole grey levels for integer images)."""
    bound = fraction * span
    return float(math.floor(bound)) if np.dtype(dtype).kind in "iu" else bound


def _row(
    dataset: Dataset,
    codec: str,
    fraction: float,
    bound: float,
    ratio: float,
    error: float,
    quality: float,
    seconds: float,
) -> dict:
    return {
        "dataset": dataset.name,
        "codec": codec,
        "bound": "lossless" if fraction == 0 else f"{fraction:.1%} of range",
        "absolute_bound": bound,
        "ratio": round(ratio, 2),
        "max_error": round(error, 4),
        "psnr": "inf" if math.isinf(quality) else round(quality, 2),
        "seconds": round(seconds, 1),
    }
