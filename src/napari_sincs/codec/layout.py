"""Named axes: how the user's array maps onto the codec's canonical (t, c, z, y, x) order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInputError

CANONICAL = "tczyx"
_DEFAULT_AXES = {2: "yx", 3: "zyx", 4: "tzyx", 5: "tczyx"}


def default_axes(ndim: int) -> str:
    """The axes assumed when none are given (napari/OME order); 3D means z, not time."""
    if ndim not in _DEFAULT_AXES:
        raise InvalidInputError(
            f"cannot compress a {ndim}-dimensional array: napari-sincs takes 2 to 5 dimensions "
            "named from t, c, z, y, x. Pass axes=... naming each dimension."
        )
    return _DEFAULT_AXES[ndim]


@dataclass(frozen=True)
class ArrayLayout:
    """Axes and shape of the user's array, and the permutation to canonical order."""

    axes: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        axes = self.axes.lower() if isinstance(self.axes, str) else self.axes
        if not isinstance(axes, str) or not axes:
            raise InvalidInputError(f"axes must be a string such as 'zyx' (got {self.axes!r}).")
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        unknown = sorted(set(axes) - set(CANONICAL))
        if unknown:
            raise InvalidInputError(
                f"axes {self.axes!r} contains {', '.join(unknown)}; use only the letters t, c, z, "
                "y, x (time, channel, depth, rows, columns)."
            )
        if len(set(axes)) != len(axes):
            raise InvalidInputError(f"axes {self.axes!r} names an axis twice; name each once.")
        if len(axes) != len(self.shape):
            raise InvalidInputError(
                f"axes {self.axes!r} names {len(axes)} dimensions but the array has "
                f"{len(self.shape)} (shape {self.shape}); give one letter per dimension."
            )
        if "y" not in axes or "x" not in axes:
            raise InvalidInputError(
                f"axes {self.axes!r} lacks y or x; every image needs rows (y) and columns (x)."
            )
        if any(s == 0 for s in self.shape):
            raise InvalidInputError(
                f"the array is empty (shape {self.shape}); nothing to compress."
            )
        if self.extent("y") < 2 or self.extent("x") < 2:
            raise InvalidInputError(
                f"the image is {self.extent('y')}×{self.extent('x')} pixels in y×x; napari-sincs "
                "needs at least 2×2 (check that axes name the dimensions correctly)."
            )

    def extent(self, axis: str) -> int:
        """Size along a canonical axis (1 where the array lacks it)."""
        return self.shape[self.axes.index(axis)] if axis in self.axes else 1

    @property
    def canonical_shape(self) -> tuple[int, int, int, int, int]:
        """(T, C, Z, Y, X), with 1 for the axes the array does not have."""
        t, c, z, y, x = (self.extent(a) for a in CANONICAL)
        return (t, c, z, y, x)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def _present(self) -> str:
        return "".join(a for a in CANONICAL if a in self.axes)

    def to_canonical(self, array: np.ndarray) -> np.ndarray:
        """A 5D (t, c, z, y, x) view of the user's array (no copy)."""
        perm = [self.axes.index(a) for a in self._present]
        view = np.transpose(array, perm)
        index = tuple(slice(None) if a in self.axes else np.newaxis for a in CANONICAL)
        return view[index]

    def from_canonical(self, array5d: np.ndarray) -> np.ndarray:
        """Back to the user's axes order, dropping the axes the array does not have."""
        squeeze = tuple(i for i, a in enumerate(CANONICAL) if a not in self.axes)
        present = np.squeeze(array5d, axis=squeeze) if squeeze else array5d
        perm = [self._present.index(a) for a in self.axes]
        return np.transpose(present, perm)

    def canonical_region(self, region: tuple[slice, ...]) -> tuple[slice, ...]:
        """Slices in the user's axes order to five canonical slices."""
        by_axis = dict(zip(self.axes, region, strict=True))
        return tuple(by_axis.get(a, slice(0, 1)) for a in CANONICAL)
