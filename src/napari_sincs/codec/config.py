"""CompressionConfig: every knob of a compression in one validated dataclass.

The whole config is serialised into the .sincs header, so a file always says how it was made.
Which families and saliency methods exist comes from their registries (families/, saliency/).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import families, presets, saliency
from .device import DEVICES
from .errors import InvalidConfigError, UnknownSettingError


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _whole(least: int, most: float = math.inf) -> Callable[[Any], bool]:
    return lambda v: _is_whole(v) and least <= v <= most


def _number(check: Callable[[float], bool]) -> Callable[[Any], bool]:
    return lambda v: _is_number(v) and check(v)


def _block_valid(block: Any) -> bool:
    return len(block) in (2, 3) and all(isinstance(b, int) and b >= 2 for b in block)


def _device_valid(device: Any) -> bool:
    return isinstance(device, str) and (device in DEVICES or device.startswith("cuda:"))


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


# (field, check, what it must be, advice): checked in this order; the error reads
# "<field> <what> (got <value>)<advice>."
_RULES: tuple[tuple[str, Callable[[Any], bool], str, str], ...] = (
    ("ratio", _number(lambda v: v > 1), "must be a number above 1", "; ask for e.g. ratio=100"),
    ("preset", lambda v: v in presets.PRESETS, "must be one of " + ", ".join(presets.PRESETS), ""),
    ("psnr", _optional(_number(lambda v: 0 < v < 200)), "is a target in dB between 0 and 200", ""),
    (
        "max_error",
        _optional(_number(lambda v: v >= 0)),
        "is a bound in intensity units ≥ 0, 0 meaning lossless",
        "",
    ),
    ("time_groups", _optional(_whole(1)), "must be a whole number ≥ 1 or None", ""),
    ("block", _optional(_block_valid), "must be 2 (y, x) or 3 (z, y, x) whole numbers ≥ 2", ""),
    ("saliency", lambda v: v in saliency.choices(), "must be one of {saliency}", ""),
    (
        "threshold",
        _optional(_number(lambda v: 0 <= v <= 1)),
        "is a normalised intensity in [0, 1]",
        "; leave it unset to use Otsu's threshold",
    ),
    (
        "saliency_floor",
        _number(lambda v: 0 < v <= 1),
        "must be in (0, 1] so that background is still sampled",
        "",
    ),
    ("family", lambda v: v in families.choices(), "must be one of {families}", ""),
    (
        "width",
        _optional(_whole(2, 1024)),
        "must be between 2 and 1024",
        "; leave it unset to size the networks from the ratio",
    ),
    ("depth", _optional(_whole(1, 16)), "(hidden layers) must be between 1 and 16", ""),
    ("grid_levels", _whole(1, 6), "must be between 1 and 6", ""),
    ("features", _optional(_whole(1, 8)), "(per grid point) must be between 1 and 8", ""),
    ("frequencies", _optional(_whole(0, 16)), "must be between 0 and 16", ""),
    ("steps", _optional(_whole(1)), "must be a whole number ≥ 1", ""),
    ("transfer_steps", _optional(_whole(1)), "must be a whole number ≥ 1", ""),
    ("batch_size", _optional(_whole(16)), "must be a whole number ≥ 16", ""),
    ("learning_rate", _optional(_number(lambda v: 0 < v < 1)), "must be in (0, 1)", ""),
    ("weight_bits", _number(lambda v: 2 <= v <= 16), "must be between 2 and 16", ""),
    ("keyframe_interval", _whole(1), "must be a whole number ≥ 1", ""),
    ("weight_transfer", _is_bool, "is True or False", ""),
    ("residual_coding", _is_bool, "is True or False", ""),
    ("output_refit", _is_bool, "is True or False", ""),
    ("seed", _is_whole, "must be a whole number", ""),
    ("device", _device_valid, "must be one of " + ", ".join(DEVICES) + " or cuda:N", ""),
)


def parse_block(text: str) -> tuple[int, ...] | None:
    """A block typed by a user ("64,64", "16x64x64"; "auto" or nothing: None)."""
    text = text.strip().lower()
    if not text or text == "auto":
        return None
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError as exc:
        raise InvalidConfigError(
            f"block {text!r} is not sizes like 64,64 or 16,64,64 (or auto)."
        ) from exc


@dataclass(frozen=True)
class CompressionConfig:
    """Settings of one compression; `None` means "choose from the data and the byte budget".

    Quality is asked in one of three ways: `ratio` (file at most raw/ratio bytes), `psnr` (the
    smallest file reaching that PSNR; `ratio` is then only the first guess), or `max_error`
    (every voxel within that distance of the original, 0 = lossless; the networks are sized by
    `ratio` and an exact residual makes up the rest).
    """

    ratio: float = 100.0
    preset: str = "balanced"
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
        if self.block is not None:
            object.__setattr__(self, "block", tuple(self.block))
        names = {
            "saliency": ", ".join(saliency.choices()),
            "families": ", ".join(families.choices()),
        }
        for name, check, what, advice in _RULES:
            value = getattr(self, name)
            if not check(value):
                raise InvalidConfigError(f"{name} {what.format(**names)} (got {value!r}){advice}.")
            if name == "max_error" and value is not None and self.psnr is not None:
                raise InvalidConfigError(
                    "ask for either a PSNR or a maximum error, not both (max_error already "
                    "bounds every voxel)."
                )

    def for_shape(
        self,
        shape: tuple[int, ...],
        saliency_map: bool = False,
        cluster: bool = False,
        bytes_per_voxel: int = 2,
    ) -> CompressionConfig:
        """A copy whose family "auto" is chosen for a canonical (t, c, z, y, x) shape of
        `bytes_per_voxel` values, the asked ratio (the first guess of a PSNR search, the
        networks' ratio under max_error), the sampling (`saliency_map`: the caller passes its
        own map) and whether groups are to be fitted on dask workers (`cluster`: only families
        that can are chosen)."""
        if self.family != families.AUTO:
            return self
        uniform = self.saliency == "uniform" and not saliency_map
        chosen = families.choose_auto(shape, self.ratio, uniform, cluster, bytes_per_voxel)
        return self.replace(family=chosen)

    def resolved(self) -> CompressionConfig:
        """A copy with every family default filled in (what a file records it was made with)."""
        if self.family == families.AUTO:
            raise InvalidConfigError(
                'family "auto" depends on the data; call for_shape(shape) before resolved().'
            )
        tuning = families.get_family(self.family).tuning
        steps = self.steps
        if steps is None and tuning.steps is not None:
            steps = max(1, round(tuning.steps * presets.PRESETS[self.preset].steps_factor))
        transfer = None if steps is None else max(1, steps // presets.TRANSFER_STEPS_FRACTION)
        return self.replace(
            depth=self.depth if self.depth is not None else tuning.depth,
            steps=steps,
            transfer_steps=self.transfer_steps if self.transfer_steps is not None else transfer,
            batch_size=self.batch_size if self.batch_size is not None else tuning.batch_size,
            learning_rate=self.learning_rate
            if self.learning_rate is not None
            else tuning.learning_rate,
        )

    def replace(self, **changes: Any) -> CompressionConfig:
        """A copy with some settings changed (validated again)."""
        check_setting_names(changes)
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
        """Rebuild from a header; keys from newer versions are kept aside in `extra`, not lost.

        A saliency method this installation does not know (a plug-in's) is kept as recorded:
        it only guided training, so the file decodes without it.
        """
        if not isinstance(data, dict):
            raise InvalidConfigError(f"config must be a mapping, got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        if known.get("block") is not None:
            known["block"] = tuple(known["block"])
        extra = {k: v for k, v in data.items() if k not in names}
        method = known.get("saliency")
        foreign = (
            isinstance(method, str) and method.isidentifier() and method not in saliency.choices()
        )
        if foreign:
            known.pop("saliency")
        try:
            config = cls(**known, extra=extra)
        except TypeError as exc:
            raise InvalidConfigError(f"config has a value of the wrong type: {exc}") from exc
        if foreign:
            object.__setattr__(config, "saliency", method)
        return config


def check_setting_names(names: Iterable[str], also: Iterable[str] = ()) -> None:
    """Refuse keywords that name no setting (nor one of `also`, a caller's own keywords), with
    the closest real names: a typo must not fail as a bare TypeError nor be ignored."""
    known = [f.name for f in dataclasses.fields(CompressionConfig) if f.name != "extra"]
    known += [name for name in also if name not in known]
    unknown = [name for name in names if name not in known]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hints.append(f"{name!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    raise UnknownSettingError(
        f"unknown setting {', '.join(hints)}; the settings are: {', '.join(sorted(known))}."
    )
