"""The codecs napari-sincs is measured against, each tuned to hit a target ratio.

Every adapter turns an array (with named axes) into bytes and back. Ratio targeting searches the
codec's own quality knob (JPEG 2000 level, JPEG XL distance, x265 CRF, SZ3 / ZFP error bound,
napari-sincs ratio) for the best quality whose whole payload is at most raw/ratio bytes; if even
the coarsest setting cannot get within 5% of the target, the codec is "not reachable" there.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_sincs.codec.layout import ArrayLayout

REACH = 0.95


@dataclass
class Compressed:
    """A payload and how to get the image (or a region of it) back."""

    nbytes: int
    decode: Callable[[], np.ndarray]
    decode_region: Callable[[tuple[slice, ...]], np.ndarray]
    region_native: bool
    setting: str
    seconds: float = 0.0
    block: tuple[int, int, int] | None = None
    """The (z, y, x) tiles a region decodes by, for codecs that have them."""


def timed(encode: Callable[[float], Compressed]) -> Callable[[float], Compressed]:
    """Record how long producing each candidate took (the encode time of the one kept)."""

    def run(setting: float) -> Compressed:
        started = time.perf_counter()
        result = encode(setting)
        result.seconds = time.perf_counter() - started
        return result

    return run


def planes(data: np.ndarray, axes: str) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """All (y, x) planes as (n, Y, X), and the inverse that rebuilds the original layout."""
    layout = ArrayLayout(axes, data.shape)
    canonical = layout.to_canonical(data)
    shape = canonical.shape
    stack = np.ascontiguousarray(canonical.reshape(-1, shape[3], shape[4]))

    def back(stacked: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(layout.from_canonical(stacked.reshape(shape)))

    return stack, back


def channel_volumes(data: np.ndarray, axes: str) -> Iterator[tuple[int, np.ndarray]]:
    """Per channel, the (t, z, y, x) volume with size-1 axes dropped (for SZ3, ZFP, HEVC)."""
    layout = ArrayLayout(axes, data.shape)
    canonical = layout.to_canonical(data)
    for c in range(canonical.shape[1]):
        yield c, np.ascontiguousarray(canonical[:, c])


def _bisect(
    encode: Callable[[float], Compressed],
    lo: float,
    hi: float,
    budget: float,
    smaller_when_higher: bool,
    steps: int = 14,
    log: bool = False,
) -> Compressed | None:
    """Best setting in [lo, hi] whose payload fits the budget, else the coarsest one (which
    the caller reports as not reaching the ratio)."""

    def point(a: float, b: float) -> float:
        return math.sqrt(a * b) if log else (a + b) / 2

    encode = timed(encode)
    coarse = encode(hi if smaller_when_higher else lo)
    if coarse.nbytes > budget / REACH:
        return coarse
    best = coarse if coarse.nbytes <= budget else None
    fine, rough = (lo, hi) if smaller_when_higher else (hi, lo)
    for _ in range(steps):
        middle = point(fine, rough)
        candidate = encode(middle)
        if candidate.nbytes <= budget:
            best, rough = candidate, middle
        else:
            fine = middle
    return best or coarse


def _crop(full: Callable[[], np.ndarray]) -> Callable[[tuple[slice, ...]], np.ndarray]:
    return lambda region: full()[region]


class Codec:
    name = ""
    family = "classical"
    reads_voxel_size = False
    """Whether `at_ratio` takes the file's voxel size (`scale`, `units`), as a user's file or
    napari layer gives it to napari-sincs."""

    def unavailable(self) -> str | None:
        return None

    def at_ratio(self, data: np.ndarray, axes: str, ratio: float) -> Compressed | None:
        raise NotImplementedError


class Jpeg2000(Codec):
    """JPEG 2000 (OpenJPEG via imagecodecs), slice by slice, one quality level for all slices."""

    name = "JPEG 2000"

    def at_ratio(self, data, axes, ratio):
        import imagecodecs

        stack, back = planes(_unsigned(data), axes)

        def encode(level: float) -> Compressed:
            blobs = [imagecodecs.jpeg2k_encode(p, level=level) for p in stack]

            def decode() -> np.ndarray:
                out = np.stack([imagecodecs.jpeg2k_decode(b) for b in blobs]).astype(stack.dtype)
                return _signed(back(out), data.dtype)

            return Compressed(
                sum(map(len, blobs)), decode, _crop(decode), False, f"level {level:.2f}"
            )

        return _bisect(encode, 1.0, 99.0, data.nbytes / ratio, smaller_when_higher=False)


class JpegXL(Codec):
    """JPEG XL (libjxl via imagecodecs), slice by slice, one distance for all slices."""

    name = "JPEG XL"

    def at_ratio(self, data, axes, ratio):
        import imagecodecs

        stack, back = planes(_unsigned(data), axes)

        def encode(distance: float) -> Compressed:
            blobs = [imagecodecs.jpegxl_encode(p, distance=distance, effort=7) for p in stack]

            def decode() -> np.ndarray:
                out = np.stack([imagecodecs.jpegxl_decode(b) for b in blobs]).astype(stack.dtype)
                return _signed(back(out), data.dtype)

            return Compressed(
                sum(map(len, blobs)), decode, _crop(decode), False, f"distance {distance:.3f}"
            )

        return _bisect(encode, 0.01, 25.0, data.nbytes / ratio, smaller_when_higher=True, log=True)


class Hevc(Codec):
    """HEVC (ffmpeg + libx265, preset slow): z or t planes as frames, 12-bit gray for 16 bits."""

    name = "HEVC"

    def unavailable(self) -> str | None:
        if shutil.which("ffmpeg") is None:
            return "ffmpeg with libx265 is not installed (Debian: apt-get install ffmpeg)"
        return None

    def at_ratio(self, data, axes, ratio):
        volumes = list(channel_volumes(data, axes))
        bits = 8 if data.dtype == np.uint8 else 12
        lo, hi = float(data.min()), float(data.max())
        scale = (2**bits - 1) / (hi - lo) if hi > lo else 1.0
        layout = ArrayLayout(axes, data.shape)

        def encode(crf: float) -> Compressed:
            streams = []
            for _, volume in volumes:
                frames = volume.reshape(-1, *volume.shape[-2:])
                levels = np.rint((frames.astype(np.float64) - lo) * scale)
                streams.append(
                    (
                        _x265(levels.astype(np.uint16 if bits > 8 else np.uint8), bits, crf),
                        frames.shape,
                    )
                )

            def decode() -> np.ndarray:
                out = np.empty(layout.canonical_shape, dtype=np.float64)
                for c, (stream, shape) in enumerate(streams):
                    frames = _x265_decode(stream, shape, bits).astype(np.float64) / scale + lo
                    out[:, c] = frames.reshape(out[:, c].shape)
                decoded = _to_dtype(out, data.dtype)
                return np.ascontiguousarray(layout.from_canonical(decoded))

            return Compressed(
                sum(len(s) for s, _ in streams), decode, _crop(decode), False, f"crf {crf:.2f}"
            )

        return _bisect(encode, 0.0, 51.0, data.nbytes / ratio, smaller_when_higher=True)


def _x265(frames: np.ndarray, bits: int, crf: float) -> bytes:
    height, width = frames.shape[1:]
    pad_h, pad_w = (-height) % 8, (-width) % 8
    padded = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w)), mode="edge")
    pix = "gray" if bits == 8 else "gray12le"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stream.hevc"
        command = [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix,
            "-s",
            f"{padded.shape[2]}x{padded.shape[1]}",
            "-r",
            "25",
            "-i",
            "-",
            "-c:v",
            "libx265",
            "-preset",
            "slow",
            "-pix_fmt",
            pix,
            "-x265-params",
            f"crf={crf:.3f}:log-level=error",
            "-f",
            "hevc",
            str(out),
        ]
        subprocess.run(
            command, input=padded.astype("<u2" if bits > 8 else "u1").tobytes(), check=True
        )
        return out.read_bytes()


def _x265_decode(stream: bytes, shape: tuple[int, ...], bits: int) -> np.ndarray:
    frames, height, width = shape
    pad_h, pad_w = (-height) % 8, (-width) % 8
    pix = "gray" if bits == 8 else "gray12le"
    result = subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "hevc",
            "-i",
            "-",
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix,
            "-",
        ],
        input=stream,
        capture_output=True,
        check=True,
    )
    dtype = "<u2" if bits > 8 else "u1"
    decoded = np.frombuffer(result.stdout, dtype).reshape(frames, height + pad_h, width + pad_w)
    return decoded[:, :height, :width]


class Sz3(Codec):
    """SZ3 (pysz) in absolute-error mode, per channel on the whole (t, z, y, x) volume."""

    name = "SZ3"

    def unavailable(self) -> str | None:
        try:
            import pysz  # noqa: F401
        except ImportError:
            return "pip package pysz is not installed"
        return None

    def compress_bound(self, data: np.ndarray, axes: str, bound: float) -> Compressed:
        from pysz import sz, szConfig, szErrorBoundMode

        parts = []
        for _, volume in channel_volumes(data, axes):
            squeezed = np.squeeze(volume).astype(np.float32)
            config = szConfig()
            config.errorBoundMode = szErrorBoundMode.ABS
            config.absErrorBound = max(bound, 1e-12)
            compressed, _ = sz.compress(squeezed, config)
            parts.append((compressed, squeezed.shape, volume.shape))
        layout = ArrayLayout(axes, data.shape)

        def decode() -> np.ndarray:
            out = np.empty(layout.canonical_shape, dtype=np.float64)
            for c, (compressed, shape, full) in enumerate(parts):
                values, _ = sz.decompress(compressed, np.float32, shape)
                out[:, c] = values.reshape(full)
            return np.ascontiguousarray(layout.from_canonical(_to_dtype(out, data.dtype)))

        return Compressed(
            sum(p[0].nbytes for p in parts), decode, _crop(decode), False, f"abs {bound:.4g}"
        )

    def at_ratio(self, data, axes, ratio):
        span = float(data.max()) - float(data.min()) or 1.0
        return _bisect(
            lambda e: self.compress_bound(data, axes, e),
            span * 1e-6,
            span,
            data.nbytes / ratio,
            smaller_when_higher=True,
            log=True,
        )


class Zfp(Codec):
    """ZFP (zfpy) per channel on the whole (t, z, y, x) volume: fixed rate to hit a ratio,
    fixed accuracy for an error bound."""

    name = "ZFP"

    def unavailable(self) -> str | None:
        try:
            import zfpy  # noqa: F401
        except ImportError:
            return "pip package zfpy is not installed"
        return None

    def _compress(self, data: np.ndarray, axes: str, setting: str, **mode: float) -> Compressed:
        import zfpy

        parts = []
        for _, volume in channel_volumes(data, axes):
            squeezed = np.squeeze(volume).astype(np.float32)
            parts.append((zfpy.compress_numpy(squeezed, **mode), volume.shape))
        layout = ArrayLayout(axes, data.shape)

        def decode() -> np.ndarray:
            out = np.empty(layout.canonical_shape, dtype=np.float64)
            for c, (blob, full) in enumerate(parts):
                out[:, c] = zfpy.decompress_numpy(blob).reshape(full)
            return np.ascontiguousarray(layout.from_canonical(_to_dtype(out, data.dtype)))

        return Compressed(sum(len(p[0]) for p in parts), decode, _crop(decode), False, setting)

    def compress_bound(self, data: np.ndarray, axes: str, bound: float) -> Compressed:
        tolerance = max(bound, 1e-12)
        return self._compress(data, axes, f"tolerance {tolerance:.4g}", tolerance=tolerance)

    def at_ratio(self, data, axes, ratio):
        def encode(rate: float) -> Compressed:
            return self._compress(data, axes, f"rate {rate:.3f} bits/value", rate=rate)

        dims = max(np.squeeze(v).ndim for _, v in channel_volumes(data, axes))
        lowest = 16 / 4**dims  # below 16 bits per ZFP block zfpy crashes
        return _bisect(
            encode, lowest, 16.0, data.nbytes / ratio, smaller_when_higher=False, log=True
        )


class Sincs(Codec):
    """napari-sincs with default settings (rate control by the codec itself)."""

    name = "napari-sincs"
    family = "inr"
    reads_voxel_size = True

    def __init__(self, **settings) -> None:
        self.settings = settings
        if settings:
            self.name = "napari-sincs (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"

    def compress_with(self, data: np.ndarray, axes: str, **options) -> Compressed:
        import napari_sincs as sincs

        folder = tempfile.mkdtemp(prefix="sincs-bench-")
        path = Path(folder) / "data.sincs"
        started = time.perf_counter()
        report = sincs.compress(data, path, axes=axes, **{**self.settings, **options})
        seconds = time.perf_counter() - started

        def region(key: tuple[slice, ...]) -> np.ndarray:
            with sincs.open_sincs(path, cache_bytes=0) as lazy:
                return lazy[key]

        setting = (
            f"{report.family}: {report.groups} groups × {report.parameters_per_group} params, "
            f"{report.bits:.2f} bits"
        )
        with sincs.open_sincs(path, cache_bytes=0) as lazy:
            block = lazy.header.plan.block
        return Compressed(
            report.file_bytes, lambda: sincs.decode(path), region, True, setting, seconds, block
        )

    def at_ratio(self, data, axes, ratio, scale=None, units=None):
        from napari_sincs import RatioUnreachableError

        try:
            return self.compress_with(data, axes, ratio=ratio, scale=scale, units=units)
        except RatioUnreachableError:
            return None


def _unsigned(data: np.ndarray) -> np.ndarray:
    """int16 shifted into uint16 (image codecs take unsigned samples); others unchanged."""
    if data.dtype == np.int16:
        return (data.astype(np.int32) + 32768).astype(np.uint16)
    return data


def _signed(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.dtype(dtype) == np.int16:
        return (data.astype(np.int32) - 32768).astype(np.int16)
    return data


def _to_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def all_codecs() -> list[Codec]:
    from .inr_s import InrS

    return [
        Sincs(),
        Sincs(family="grid"),
        Sincs(family="latent"),
        Sincs(family="latent", preset="fast"),
        Jpeg2000(),
        Hevc(),
        JpegXL(),
        Sz3(),
        Zfp(),
        InrS(),
    ]
