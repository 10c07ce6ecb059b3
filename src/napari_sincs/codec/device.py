"""Which torch device compression and decoding run on, and how much memory it has free."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from .errors import InvalidConfigError

DEVICES = ("auto", "cpu", "cuda")


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when asked for or available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidConfigError(
            f"device {name!r} was asked for but no CUDA GPU is available; "
            "use device='auto' or 'cpu'."
        )
    return torch.device(name)


def describe_device(name: str = "auto") -> str:
    """What compression will run on, in words."""
    device = pick_device(name)
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads; no CUDA GPU found)"


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a new allocation on `device`: the GPU's free memory, or the host's
    available memory (MemAvailable on Linux, free physical pages elsewhere where the system
    says); None where it cannot be told."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if sys.platform.startswith("linux"):
        meminfo = Path("/proc/meminfo")
        if meminfo.is_file():
            for line in meminfo.read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
