"""Decode a file (written or not yet) plane by plane and measure it against the original.

Used to report what a file achieves (always measured on the bytes that will be written) and by
the PSNR rate control, which needs the quality of candidate files.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .container import BlobSource
from .decode import Decoder
from .fit import CancelToken, ProgressEvent
from .metrics import QualityAccumulator


def measure_quality(
    source: BlobSource,
    array5d: np.ndarray,
    data_range: float,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    with_ssim: bool = True,
) -> QualityAccumulator:
    """PSNR, SSIM and largest absolute error of a file, one (y, x) plane at a time."""
    decoder = Decoder(source)
    quality = QualityAccumulator(data_range, with_ssim=with_ssim)
    t_count, c_count, z_count = array5d.shape[:3]
    planes = t_count * c_count * z_count
    done = 0
    for t in range(t_count):
        for c in range(c_count):
            for z in range(z_count):
                region = (
                    slice(t, t + 1),
                    slice(c, c + 1),
                    slice(z, z + 1),
                    slice(None),
                    slice(None),
                )
                quality.add(array5d[t, c, z], decoder.decode(region)[0, 0, 0])
                done += 1
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(ProgressEvent(done, planes, 0, 0, 0.0, "verify"))
    return quality
