"""napari-sincs: saliency-guided implicit neural compression of multidimensional bioimages.

>>> import napari_sincs as sincs
>>> report = sincs.compress(volume, "cells.sincs", axes="zyx", ratio=100)
>>> lazy = sincs.open_sincs("cells.sincs")      # nothing decoded yet
>>> plane = lazy[10, 200:456, 300:556]           # decodes only this region

Names are imported on first use, so that opening a file (the napari reader, `open_sincs`)
never loads the encoder or the training code.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

_WHERE = {
    "CompressionReport": "api",
    "compress": "api",
    "compress_file": "api",
    "decode": "api",
    "saliency_map": "api",
    "metrics": "codec.metrics",
    "CompressionConfig": "codec.config",
    "CompressionCancelled": "codec.errors",
    "CorruptFileError": "codec.errors",
    "InsufficientMemoryError": "codec.errors",
    "InvalidConfigError": "codec.errors",
    "InvalidInputError": "codec.errors",
    "MissingFileError": "codec.errors",
    "OutputError": "codec.errors",
    "RatioUnreachableError": "codec.errors",
    "SincsError": "codec.errors",
    "UnsupportedVersionError": "codec.errors",
    "CancelToken": "progress",
    "ProgressEvent": "progress",
    "SincsArray": "lazy",
    "open_sincs": "lazy",
    "write_ome_zarr": "ome_zarr_out",
    "Trial": "trial",
    "run_trial": "trial",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'napari_sincs' has no attribute {name!r}")
    module = importlib.import_module(f".{_WHERE[name]}", __name__)
    value = module if name == "metrics" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
