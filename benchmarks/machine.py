"""One line naming the machine and versions behind a table."""

from __future__ import annotations

import os
import platform

import torch


def describe() -> str:
    import napari_sincs

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU cores ({torch.get_num_threads()} torch "
        f"threads), {device}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"napari-sincs {napari_sincs.__version__}"
    )
