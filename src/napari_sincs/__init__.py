"""napari-sincs: saliency-guided implicit neural compression of multidimensional bioimages.

>>> import napari_sincs as sincs
>>> report = sincs.compress(volume, "cells.sincs", axes="zyx", ratio=100)
>>> lazy = sincs.open_sincs("cells.sincs")      # nothing decoded yet
>>> plane = lazy[10, 200:456, 300:556]           # decodes only this region
"""

from ._version import __version__
from .api import CompressionReport, compress, compress_file, decode, saliency_map
from .codec import metrics
from .codec.config import CompressionConfig
from .codec.errors import (
    CompressionCancelled,
    CorruptFileError,
    InvalidConfigError,
    InvalidInputError,
    MissingFileError,
    OutputError,
    RatioUnreachableError,
    SincsError,
    UnsupportedVersionError,
)
from .codec.fit import CancelToken, ProgressEvent
from .lazy import SincsArray, open_sincs

__all__ = [
    "CancelToken",
    "CompressionCancelled",
    "CompressionConfig",
    "CompressionReport",
    "CorruptFileError",
    "InvalidConfigError",
    "InvalidInputError",
    "MissingFileError",
    "OutputError",
    "ProgressEvent",
    "RatioUnreachableError",
    "SincsArray",
    "SincsError",
    "UnsupportedVersionError",
    "__version__",
    "compress",
    "compress_file",
    "decode",
    "metrics",
    "open_sincs",
    "saliency_map",
]
