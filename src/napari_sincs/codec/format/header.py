"""The JSON header of a .sincs file: what the array is, how it was cut and coded.

`FileHeader.from_dict` trusts nothing: every field is type- and range-checked and cross-checked
(the model must match the group plan, the plan the shape), so a decoder built from a header that
passed cannot index out of bounds or allocate more than the header's own shape justifies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import families
from ..config import CompressionConfig
from ..errors import (
    CorruptFileError,
    InvalidConfigError,
    InvalidInputError,
    UnsupportedVersionError,
)
from ..families import ModelSpec, get_family, spec_from_dict
from ..grouping import GroupPlan
from ..layout import ArrayLayout

SUPPORTED_DTYPES = ("uint8", "uint16", "int16", "float32")
MAX_VOXELS = 1 << 44
# Features a reader must understand to decode a file correctly; a file naming one this reader
# does not know is refused instead of being decoded wrong.
KNOWN_FEATURES = ("residual", "latent-slabs", "latent-context")
"""Besides these, the name of every registered family."""


@dataclass(frozen=True)
class ImageMetadata:
    """What the microscope knew: a name, voxel size and unit per axis, channel names, whether
    the channels are the red, green, blue (and alpha) of one colour image, and where the first
    voxel lies (per axis, in the units of the scale: napari's translate, NGFF's translation)."""

    name: str = ""
    scale: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    channel_names: list[str] = field(default_factory=list)
    rgb: bool = False
    origin: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "scale": dict(self.scale),
            "units": dict(self.units),
            "channel_names": list(self.channel_names),
        }
        if self.rgb:
            data["rgb"] = True
        if self.origin:
            data["origin"] = dict(self.origin)
        return data

    @classmethod
    def from_dict(cls, data: Any, axes: str) -> ImageMetadata:
        if not isinstance(data, dict):
            raise CorruptFileError("the header's metadata is not a JSON object.")
        scale = data.get("scale", {})
        units = data.get("units", {})
        names = data.get("channel_names", [])
        if (
            not isinstance(scale, dict)
            or not all(
                k in axes and isinstance(v, int | float) and math.isfinite(v) and v > 0
                for k, v in scale.items()
            )
            or not isinstance(units, dict)
            or not all(k in axes and isinstance(v, str) for k, v in units.items())
            or not isinstance(names, list)
            or not all(isinstance(n, str) for n in names)
        ):
            raise CorruptFileError("the header's scale, units or channel names are malformed.")
        rgb = data.get("rgb", False)
        if not isinstance(rgb, bool) or (rgb and not axes.endswith("c")):
            raise CorruptFileError("the header's rgb flag is malformed.")
        origin = data.get("origin", {})
        if not isinstance(origin, dict) or not all(
            k in axes and isinstance(v, int | float) and math.isfinite(v) for k, v in origin.items()
        ):
            raise CorruptFileError("the header's origin is malformed.")
        return cls(
            str(data.get("name", "")), dict(scale), dict(units), list(names), rgb, dict(origin)
        )


@dataclass(frozen=True)
class FileHeader:
    """Everything a decoder needs besides the weight blobs."""

    layout: ArrayLayout
    dtype: str
    metadata: ImageMetadata
    intensity_min: tuple[float, ...]
    intensity_max: tuple[float, ...]
    config: CompressionConfig
    plan: GroupPlan
    model: ModelSpec
    bits: float
    codec_version: str
    stats: dict[str, float] = field(default_factory=dict)
    max_error: float | None = None

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        requires = [self.model.family] if get_family(self.model.family).required else []
        requires += self.model.required_features
        if self.max_error is not None:
            requires.append("residual")
            extra["residual"] = {"max_error": self.max_error}
        if requires:
            extra["requires"] = requires
        return extra | {
            "codec": {"name": "napari-sincs", "version": self.codec_version},
            "array": {
                "shape": list(self.layout.shape),
                "dtype": self.dtype,
                "axes": self.layout.axes,
            },
            "meta": self.metadata.to_dict(),
            "intensity": {"min": list(self.intensity_min), "max": list(self.intensity_max)},
            "config": self.config.to_dict(),
            "plan": {
                "time_groups": self.plan.time_groups,
                "block": list(self.plan.block),
                "keyframe_interval": self.plan.keyframe_interval,
            },
            "model": self.model.to_dict(),
            "coding": {"bits": self.bits, "residual": self.config.residual_coding},
            "stats": dict(self.stats),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileHeader:
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, CorruptFileError):
                raise
            raise CorruptFileError(
                f"the header is missing a field or has a wrong type ({exc})."
            ) from exc

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> FileHeader:
        max_error = _residual_bound(data)
        layout, dtype = _array(data["array"])
        lo, hi = _intensity(data["intensity"], layout.extent("c"))
        model = spec_from_dict(data["model"])
        try:
            config = CompressionConfig.from_dict(data["config"])
        except InvalidConfigError as exc:
            raise CorruptFileError(f"the header's config is invalid: {exc}") from exc
        plan = _plan(data["plan"], layout)
        if model.axes != plan.coordinate_axes or model.extents != plan.coordinate_extents:
            raise CorruptFileError("the header's model does not match its group plan.")
        bits = data["coding"]["bits"]
        if not isinstance(bits, int | float) or not 1 <= bits <= 32:
            raise CorruptFileError(f"the header's coding bits {bits!r} are out of range.")
        stats = data.get("stats", {})
        if not isinstance(stats, dict):
            raise CorruptFileError("the header's stats are not a JSON object.")
        codec = data.get("codec", {})
        version = codec.get("version", "unknown") if isinstance(codec, dict) else "unknown"
        return cls(
            layout=layout,
            dtype=dtype,
            metadata=ImageMetadata.from_dict(data.get("meta", {}), layout.axes),
            intensity_min=lo,
            intensity_max=hi,
            config=config,
            plan=plan,
            model=model,
            bits=float(bits),
            codec_version=str(version),
            stats=stats,
            max_error=max_error,
        )

    @property
    def raw_bytes(self) -> int:
        return math.prod(self.layout.shape) * np.dtype(self.dtype).itemsize


def _is_count(value: Any, least: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _residual_bound(data: dict[str, Any]) -> float | None:
    """The error bound of the image residuals the file needs, if it needs them."""
    requires = data.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise CorruptFileError("the header's list of required features is malformed.")
    unknown = sorted(set(requires) - set(KNOWN_FEATURES) - set(families.choices()))
    if unknown:
        raise UnsupportedVersionError(
            f"the file needs feature(s) {', '.join(unknown)} that this napari-sincs does not "
            "know; install a newer napari-sincs to decode it."
        )
    if "residual" not in requires:
        return None
    bound = data["residual"]["max_error"]
    if not isinstance(bound, int | float) or not math.isfinite(bound) or bound < 0:
        raise CorruptFileError(f"the header's residual bound {bound!r} is invalid.")
    return float(bound)


def _array(array: dict[str, Any]) -> tuple[ArrayLayout, str]:
    shape = array["shape"]
    if (
        not isinstance(shape, list)
        or not all(_is_count(s) for s in shape)
        or math.prod(shape) > MAX_VOXELS
    ):
        raise CorruptFileError(f"the header's shape {shape!r} is not a valid array shape.")
    try:
        layout = ArrayLayout(array["axes"], tuple(shape))
    except InvalidInputError as exc:
        raise CorruptFileError(f"the header's axes do not fit its shape: {exc}") from exc
    dtype = array["dtype"]
    if dtype not in SUPPORTED_DTYPES:
        raise CorruptFileError(f"the header's dtype {dtype!r} is not one napari-sincs writes.")
    return layout, dtype


def _intensity(intensity: dict[str, Any], channels: int) -> tuple[tuple[float, ...], ...]:
    lo, hi = intensity["min"], intensity["max"]
    if (
        not isinstance(lo, list)
        or not isinstance(hi, list)
        or len(lo) != channels
        or len(hi) != channels
        or not all(isinstance(v, int | float) and math.isfinite(v) for v in lo + hi)
        or any(a > b for a, b in zip(lo, hi))
    ):
        raise CorruptFileError("the header's intensity range does not match its channels.")
    return tuple(float(v) for v in lo), tuple(float(v) for v in hi)


def _plan(plan_data: dict[str, Any], layout: ArrayLayout) -> GroupPlan:
    block = plan_data["block"]
    if (
        not isinstance(block, list)
        or len(block) != 3
        or not all(isinstance(b, int) and b >= 1 for b in block)
        or not _is_count(plan_data["time_groups"])
        or not _is_count(plan_data["keyframe_interval"])
    ):
        raise CorruptFileError(f"the header's group plan {plan_data!r} is invalid.")
    plan = GroupPlan(
        layout.canonical_shape,
        plan_data["time_groups"],
        tuple(block),
        plan_data["keyframe_interval"],
    )
    if plan.time_groups != plan_data["time_groups"] or list(plan.block) != block:
        raise CorruptFileError(
            f"the header's group plan {plan_data!r} does not fit the shape {layout.shape}."
        )
    if len(plan) > 1 << 24:
        raise CorruptFileError(f"the header's group plan has {len(plan)} groups; too many.")
    return plan
