"""CompressionConfig: every knob of a compression in one validated dataclass.

The whole config is serialised into the .sincs header, so a file always says how it was made.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidConfigError

SALIENCY_METHODS = ("threshold", "uniform", "learned")
INR_FAMILIES = ("pe_mlp", "grid")
FAMILY_CHOICES = ("auto", *INR_FAMILIES)
# family "auto" (docs/benchmarks.md, "Network family"): on images without z (2D, 2D+T, channels)
# feature grids beat the PE-MLP's global PSNR on most images at 30x and 100x (up to +4.4 dB) and
# lose on most at 300x and above; on z stacks the PE-MLP wins at nearly every ratio. With a
# saliency map the PE-MLP stays: grid cells hold a fixed share of the capacity whatever the
# sampling, so saliency cannot move it onto the structures (PSNR inside the objects 0.7 to 6.5 dB
# lower).
GRID_UP_TO_RATIO = 170.0
# Hidden layers of the MLP when not given: the PE network needs depth, the grid family's features
# are already local, so a small MLP suffices.
DEFAULT_DEPTH = {"pe_mlp": 3, "grid": 2}
# Training when not given, per family: (steps of a chain's first group, batch, learning rate).
# Small batches suit the PE-MLP on two cores; grids learn faster from larger batches.
DEFAULT_TRAINING = {"pe_mlp": (6000, 1024, 5e-3), "grid": (2000, 4096, 1e-2)}
GRID_WIDTH = 16
DEVICES = ("auto", "cpu", "cuda")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidConfigError(message)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class CompressionConfig:
    """Settings of one compression; `None` means "choose from the data and the byte budget".

    Quality is asked in one of three ways: `ratio` (file at most raw/ratio bytes), `psnr` (the
    smallest file reaching that PSNR; `ratio` is then only the first guess), or `max_error`
    (every voxel within that distance of the original, 0 = lossless; the networks are sized by
    `ratio` and an exact residual makes up the rest).
    """

    ratio: float = 100.0
    psnr: float | None = None
    max_error: float | None = None
    time_groups: int | None = None
    block: tuple[int, ...] | None = None
    saliency: str = "threshold"
    threshold: float | None = None
    saliency_floor: float = 0.3
    family: str = "auto"
    width: int | None = None
    depth: int | None = None
    frequencies: int | None = None
    grid_levels: int = 3
    features: int | None = None
    steps: int | None = None
    transfer_steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    weight_bits: float = 9.0
    keyframe_interval: int = 16
    weight_transfer: bool = True
    residual_coding: bool = True
    output_refit: bool = True
    seed: int = 0
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check(
            _is_number(self.ratio) and self.ratio > 1,
            f"ratio must be a number above 1 (got {self.ratio!r}); ask for e.g. ratio=100.",
        )
        if self.psnr is not None:
            _check(
                _is_number(self.psnr) and 0 < self.psnr < 200,
                f"psnr is a target in dB between 0 and 200 (got {self.psnr!r}).",
            )
        if self.max_error is not None:
            _check(
                _is_number(self.max_error) and self.max_error >= 0,
                f"max_error is a bound in intensity units ≥ 0, 0 meaning lossless "
                f"(got {self.max_error!r}).",
            )
        _check(
            self.psnr is None or self.max_error is None,
            "ask for either a PSNR or a maximum error, not both (max_error already bounds "
            "every voxel).",
        )
        if self.time_groups is not None:
            _check(
                isinstance(self.time_groups, int) and self.time_groups >= 1,
                f"time_groups must be a whole number ≥ 1 or None (got {self.time_groups!r}).",
            )
        if self.block is not None:
            block = tuple(self.block)
            _check(
                len(block) in (2, 3) and all(isinstance(b, int) and b >= 2 for b in block),
                f"block must be 2 (y, x) or 3 (z, y, x) whole numbers ≥ 2 (got {self.block!r}).",
            )
            object.__setattr__(self, "block", block)
        _check(
            self.saliency in SALIENCY_METHODS,
            f"saliency must be one of {', '.join(SALIENCY_METHODS)} (got {self.saliency!r}).",
        )
        if self.threshold is not None:
            _check(
                _is_number(self.threshold) and 0 <= self.threshold <= 1,
                f"threshold is a normalised intensity in [0, 1] (got {self.threshold!r}); "
                "leave it unset to use Otsu's threshold.",
            )
        _check(
            _is_number(self.saliency_floor) and 0 < self.saliency_floor <= 1,
            f"saliency_floor must be in (0, 1] so that background is still sampled "
            f"(got {self.saliency_floor!r}).",
        )
        _check(
            self.family in FAMILY_CHOICES,
            f"family must be one of {', '.join(FAMILY_CHOICES)} (got {self.family!r}).",
        )
        if self.width is not None:
            _check(
                isinstance(self.width, int) and 2 <= self.width <= 1024,
                f"width must be between 2 and 1024 (got {self.width!r}); leave it unset to "
                "size the networks from the ratio.",
            )
        if self.depth is not None:
            _check(
                isinstance(self.depth, int) and 1 <= self.depth <= 16,
                f"depth (hidden layers) must be between 1 and 16 (got {self.depth!r}).",
            )
        _check(
            isinstance(self.grid_levels, int) and 1 <= self.grid_levels <= 6,
            f"grid_levels must be between 1 and 6 (got {self.grid_levels!r}).",
        )
        if self.features is not None:
            _check(
                isinstance(self.features, int) and 1 <= self.features <= 8,
                f"features (per grid point) must be between 1 and 8 (got {self.features!r}).",
            )
        if self.frequencies is not None:
            _check(
                isinstance(self.frequencies, int) and 0 <= self.frequencies <= 16,
                f"frequencies must be between 0 and 16 (got {self.frequencies!r}).",
            )
        if self.steps is not None:
            _check(
                isinstance(self.steps, int) and self.steps >= 1,
                f"steps must be a whole number ≥ 1 (got {self.steps!r}).",
            )
        if self.transfer_steps is not None:
            _check(
                isinstance(self.transfer_steps, int) and self.transfer_steps >= 1,
                f"transfer_steps must be a whole number ≥ 1 (got {self.transfer_steps!r}).",
            )
        if self.batch_size is not None:
            _check(
                isinstance(self.batch_size, int) and self.batch_size >= 16,
                f"batch_size must be a whole number ≥ 16 (got {self.batch_size!r}).",
            )
        if self.learning_rate is not None:
            _check(
                _is_number(self.learning_rate) and 0 < self.learning_rate < 1,
                f"learning_rate must be in (0, 1) (got {self.learning_rate!r}).",
            )
        _check(
            _is_number(self.weight_bits) and 2 <= self.weight_bits <= 16,
            f"weight_bits must be between 2 and 16 (got {self.weight_bits!r}).",
        )
        _check(
            isinstance(self.keyframe_interval, int) and self.keyframe_interval >= 1,
            f"keyframe_interval must be a whole number ≥ 1 (got {self.keyframe_interval!r}).",
        )
        for name in ("weight_transfer", "residual_coding", "output_refit"):
            value = getattr(self, name)
            _check(isinstance(value, bool), f"{name} is True or False (got {value!r}).")
        _check(isinstance(self.seed, int), f"seed must be a whole number (got {self.seed!r}).")
        _check(
            isinstance(self.device, str)
            and (self.device in DEVICES or self.device.startswith("cuda:")),
            f"device must be one of {', '.join(DEVICES)} or cuda:N (got {self.device!r}).",
        )

    def for_shape(self, shape: tuple[int, ...], saliency_map: bool = False) -> CompressionConfig:
        """A copy whose family "auto" is chosen for a canonical (t, c, z, y, x) shape, the asked
        ratio (the first guess of a PSNR search, the networks' ratio under max_error) and the
        sampling (`saliency_map`: the caller passes its own map)."""
        if self.family != "auto":
            return self
        uniform = self.saliency == "uniform" and not saliency_map
        grid = uniform and shape[2] == 1 and self.ratio <= GRID_UP_TO_RATIO
        return self.replace(family="grid" if grid else "pe_mlp")

    def resolved(self) -> CompressionConfig:
        """A copy with every family default filled in (what a file records it was made with)."""
        if self.family == "auto":
            raise InvalidConfigError(
                'family "auto" depends on the data; call for_shape(shape) before resolved().'
            )
        steps, batch, rate = DEFAULT_TRAINING[self.family]
        steps = self.steps if self.steps is not None else steps
        return self.replace(
            depth=self.depth if self.depth is not None else DEFAULT_DEPTH[self.family],
            steps=steps,
            transfer_steps=self.transfer_steps
            if self.transfer_steps is not None
            else max(1, steps // 3),
            batch_size=self.batch_size if self.batch_size is not None else batch,
            learning_rate=self.learning_rate if self.learning_rate is not None else rate,
        )

    def replace(self, **changes: Any) -> CompressionConfig:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of every setting."""
        data = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        if data["block"] is not None:
            data["block"] = list(data["block"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressionConfig:
        """Rebuild from a header; keys from newer versions are kept aside in `extra`, not lost."""
        if not isinstance(data, dict):
            raise InvalidConfigError(f"config must be a mapping, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        if known.get("block") is not None:
            known["block"] = tuple(known["block"])
        extra = {k: v for k, v in data.items() if k not in names}
        try:
            return cls(**known, extra=extra)
        except TypeError as exc:
            raise InvalidConfigError(f"config has a value of the wrong type: {exc}") from exc
