import numpy as np
import pytest

from napari_sincs.codec.errors import InvalidInputError
from napari_sincs.codec.layout import ArrayLayout, default_axes


@pytest.mark.parametrize(
    ("axes", "shape", "canonical"),
    [
        ("yx", (5, 6), (1, 1, 1, 5, 6)),
        ("tyx", (3, 5, 6), (3, 1, 1, 5, 6)),
        ("zyx", (4, 5, 6), (1, 1, 4, 5, 6)),
        ("yxc", (5, 6, 3), (1, 3, 1, 5, 6)),
        ("ctzyx", (2, 3, 4, 5, 6), (3, 2, 4, 5, 6)),
    ],
)
def test_canonical_view_round_trips(axes, shape, canonical):
    layout = ArrayLayout(axes, shape)
    data = np.arange(np.prod(shape)).reshape(shape)
    view = layout.to_canonical(data)
    assert view.shape == canonical
    assert np.shares_memory(view, data)
    np.testing.assert_array_equal(layout.from_canonical(view), data)


def test_canonical_region_fills_missing_axes():
    layout = ArrayLayout("yxc", (5, 6, 3))
    region = layout.canonical_region((slice(1, 3), slice(0, 6), slice(2, 3)))
    assert region == (slice(0, 1), slice(2, 3), slice(0, 1), slice(1, 3), slice(0, 6))


@pytest.mark.parametrize(
    ("axes", "shape", "message"),
    [
        ("zyx", (4, 5), "names 3 dimensions"),
        ("yy", (4, 5), "names an axis twice"),
        ("qyx", (2, 4, 5), "contains q"),
        ("zx", (4, 5), "lacks y or x"),
        ("yx", (0, 5), "empty"),
        ("yx", (1, 1), "at least 2×2"),
    ],
)
def test_bad_axes_say_what_is_wrong(axes, shape, message):
    with pytest.raises(InvalidInputError, match=message):
        ArrayLayout(axes, shape)


def test_default_axes_refuse_other_dimensions():
    assert default_axes(3) == "zyx"
    with pytest.raises(InvalidInputError, match="axes="):
        default_axes(1)
