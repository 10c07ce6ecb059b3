"""Reading zarr and OME-Zarr (NGFF 0.4 and 0.5) images lazily, with their axes, voxel size,
units and channel names: compression then reads one group's region at a time from the chunks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .codec.errors import InvalidInputError, MissingFileError
from .codec.format.header import ImageMetadata
from .codec.layout import ArrayLayout, default_axes

_UNITS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "second": "s"}


def is_zarr(path: Path) -> bool:
    """A zarr store on disk: a directory named *.zarr or holding zarr metadata."""
    if not path.is_dir():
        return False
    markers = ("zarr.json", ".zgroup", ".zarray", ".zattrs")
    return path.suffix.lower() == ".zarr" or any((path / m).is_file() for m in markers)


def _ngff(attrs: dict[str, Any]) -> dict[str, Any]:
    """The NGFF attributes of a group (0.5 nests them under "ome")."""
    return dict(attrs.get("ome", attrs))


def _open(path: Path) -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise InvalidInputError(
            "reading zarr needs the zarr package; install it with `pip install "
            "'napari-sincs[dask]'`."
        ) from exc
    try:
        return zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for unreadable stores
        raise InvalidInputError(f"cannot read {path} as zarr ({exc}).") from exc


def read_zarr(path: str | Path, axes: str | None = None) -> tuple[Any, str, ImageMetadata]:
    """(lazy zarr array, axes, metadata) of a zarr array or of an OME-Zarr image's full
    resolution level."""
    source = Path(path)
    if not source.exists():
        raise MissingFileError(f"{source} does not exist; check the path.")
    node = _open(source)
    name = source.name.removesuffix(".zarr") or source.name
    if hasattr(node, "shape"):
        named = axes or default_axes(len(node.shape))
        ArrayLayout(named, tuple(node.shape))
        return node, named, ImageMetadata(name=name)
    meta = _ngff(dict(node.attrs))
    multiscales = meta.get("multiscales") or []
    if not multiscales:
        raise InvalidInputError(
            f"{source} is a zarr group without OME-Zarr multiscales metadata; point at the "
            "array inside it (e.g. image.zarr/0) and give its axes."
        )
    image = multiscales[0]
    datasets = image.get("datasets") or [{"path": "0"}]
    array = node[datasets[0]["path"]]
    named = _image_axes(image, array, axes)
    scale, origin = _placement(image, datasets[0], named)
    metadata = ImageMetadata(
        name=name,
        scale=scale,
        units=_units(image, named),
        channel_names=_channel_names(meta, named, array.shape),
        origin=origin,
    )
    return array, named, metadata


def _image_axes(image: dict[str, Any], array: Any, axes: str | None) -> str:
    """The axes given, else the image's NGFF axes, else the default for its dimensions."""
    ngff_axes = [a["name"] if isinstance(a, dict) else str(a) for a in image.get("axes", [])]
    named = axes or "".join(a.lower() for a in ngff_axes) or default_axes(array.ndim)
    try:
        ArrayLayout(named, tuple(array.shape))
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"the OME-Zarr axes {ngff_axes} do not fit napari-sincs ({exc}); give axes "
            "naming every dimension with t, c, z, y, x."
        ) from exc
    return named


def _placement(
    image: dict[str, Any], dataset: dict[str, Any], axes: str
) -> tuple[dict[str, float], dict[str, float]]:
    """Voxel size and position of the first voxel along z, y, x: the full-resolution level's
    transforms followed by the image's own (NGFF applies the multiscale's after the dataset's)."""
    scale = [1.0] * len(axes)
    offset = [0.0] * len(axes)
    transforms = [
        *dataset.get("coordinateTransformations", []),
        *image.get("coordinateTransformations", []),
    ]
    for transform in transforms:
        kind = transform.get("type")
        values = transform.get(kind)
        if kind not in ("scale", "translation") or not isinstance(values, list):
            continue  # a transform given by path, or a kind NGFF does not define here
        values = [float(v) for v in values][: len(axes)]
        for i, value in enumerate(values):
            if kind == "scale":
                scale[i] *= value
                offset[i] *= value
            else:
                offset[i] += value
    spatial = [(a, s, o) for a, s, o in zip(axes, scale, offset) if a in "zyx"]
    sizes = {a: s for a, s, _ in spatial if math.isfinite(s) and s > 0}
    origin = {a: o for a, _, o in spatial if math.isfinite(o) and o != 0}
    return sizes, origin


def _units(image: dict[str, Any], axes: str) -> dict[str, str]:
    units = {}
    for axis, spec in zip(axes, image.get("axes", [])):
        if isinstance(spec, dict) and spec.get("unit") and axis in "zyx":
            units[axis] = _UNITS.get(spec["unit"], spec["unit"])
    return units


def _channel_names(meta: dict[str, Any], axes: str, shape: tuple[int, ...]) -> list[str]:
    """omero channel labels, if there is one for every channel."""
    channels = (meta.get("omero") or {}).get("channels") or []
    names = [str(c.get("label", "")) for c in channels]
    if "c" not in axes or len(names) != shape[axes.index("c")] or not all(names):
        return []
    return names
