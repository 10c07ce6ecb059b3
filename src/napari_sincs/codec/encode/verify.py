"""Decode a file (written or not yet) plane by plane and measure it against the original.

Used to report what a file achieves (always measured on the bytes that will be written) and by
the PSNR rate control, which needs the quality of candidate files.
"""

from __future__ import annotations

import numpy as np

from ...progress import VERIFY, CancelToken, ProgressCallback, ProgressEvent, check, report
from ..decode.decoder import Decoder
from ..format.container import BlobSource
from ..metrics import QualityAccumulator


def measure_quality(
    source: BlobSource,
    array5d: np.ndarray,
    data_range: float,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    with_ssim: bool = True,
) -> QualityAccumulator:
    """PSNR, SSIM and largest absolute error (at a canonical (t, c, z, y, x) index) of a file,
    one (y, x) plane at a time."""
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
                quality.add(array5d[t, c, z], decoder.decode(region)[0, 0, 0], (t, c, z))
                done += 1
            check(cancel)
            report(progress, ProgressEvent(done, planes, 0, 0, 0.0, VERIFY))
    return quality
