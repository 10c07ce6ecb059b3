"""Which torch device compression and decoding run on."""

from __future__ import annotations

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
