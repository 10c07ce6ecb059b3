"""One measurement (codec × image × target ratio), run in its own process for peak memory.

    python -m benchmarks.measure CODEC IMAGE AXES RATIO [--repeats N]

prints one JSON row. Decode times are medians of `repeats` runs (one run when it takes over
10 s); encode time is that of the
setting finally kept (the ratio search around it is not counted). Peak memory is the largest
resident set of this process or its children (ffmpeg) over the whole measurement, in MB, next to
the resident set after loading the image.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import time

import numpy as np

from napari_sincs.codec.metrics import psnr, ssim

from .codecs import REACH, Codec, all_codecs, planes
from .datasets import Dataset
from .seams import border_ratio, local_ratio


def _rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def plane_region(shape: tuple[int, ...], axes: str) -> tuple[slice, ...]:
    """A 512×512 (or whole-plane) region of the middle plane."""
    region = []
    for axis, size in zip(axes, shape):
        if axis in "yx":
            start = max(0, (size - 512) // 2)
            region.append(slice(start, start + min(size, 512)))
        else:
            region.append(slice(size // 2, size // 2 + 1))
    return tuple(region)


def _median_time(action, repeats: int, patience: float = 10.0) -> tuple[float, object]:
    """Median time of `repeats` runs (a single run when it already takes over `patience` s)."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
        if times[0] > patience:
            break
    return statistics.median(times), result


def measure(codec: Codec, dataset: Dataset, ratio: float, repeats: int = 3) -> dict:
    image = dataset.read()
    data = image.data
    loaded = _rss_mb()
    row = {"dataset": dataset.name, "codec": codec.name, "target": ratio}
    voxel = {"scale": image.metadata.scale, "units": image.metadata.units}
    compressed = codec.at_ratio(
        data, dataset.axes, ratio, **(voxel if codec.reads_voxel_size else {})
    )
    if compressed is None:
        return row | {"reached": False, "setting": "no setting reaches the ratio"}
    if compressed.nbytes > data.nbytes / ratio / REACH:
        best = data.nbytes / compressed.nbytes
        return row | {"reached": False, "setting": f"at most {best:.0f}x ({compressed.setting})"}
    decode_s, decoded = _median_time(compressed.decode, repeats)
    region = plane_region(data.shape, dataset.axes)
    region_s, part = _median_time(lambda: compressed.decode_region(region), repeats)
    assert np.array_equal(part, decoded[region]), "region decode differs from the full decode"
    stack, _ = planes(data, dataset.axes)
    data_range = float(data.max()) - float(data.min())
    seams = {}
    if compressed.block is not None:
        decoded_ratio = border_ratio(decoded, dataset.axes, compressed.block)
        original_ratio = border_ratio(data, dataset.axes, compressed.block)
        control = border_ratio(decoded, dataset.axes, compressed.block, shift=0.5)
        if decoded_ratio is not None and original_ratio is not None:
            seams = {
                "seam": round(decoded_ratio, 3),
                "seam_original": round(original_ratio, 3),
                "seam_control": round(control, 3) if control is not None else "",
                "seam_local": round(local_ratio(decoded, dataset.axes, compressed.block), 3),
                "seam_local_original": round(local_ratio(data, dataset.axes, compressed.block), 3),
            }
    return (
        row
        | seams
        | {
            "reached": True,
            "ratio": round(data.nbytes / compressed.nbytes, 1),
            "psnr": round(psnr(data, decoded, data_range), 2),
            "ssim": round(ssim(stack, planes(decoded, dataset.axes)[0], data_range), 4),
            "encode_s": round(compressed.seconds, 2),
            "decode_s": round(decode_s, 3),
            "region_ms": round(region_s * 1000, 1),
            "region_native": compressed.region_native,
            "peak_mb": round(_rss_mb(), 0),
            "loaded_mb": round(loaded, 0),
            "setting": compressed.setting,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("codec")
    parser.add_argument("image")
    parser.add_argument("axes")
    parser.add_argument("ratio", type=float)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settings", default="{}")
    args = parser.parse_args()
    from pathlib import Path

    from .codecs import Sincs

    codecs = {c.name: c for c in all_codecs()}
    codec = codecs[args.codec] if args.codec in codecs else Sincs(**json.loads(args.settings))
    dataset = Dataset(Path(args.image).stem, Path(args.image), args.axes)
    row = measure(codec, dataset, args.ratio, args.repeats)
    print(
        json.dumps(
            {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in row.items()}
        )
    )


if __name__ == "__main__":
    main()
