import numpy as np
import pytest

from napari_sincs.codec.errors import InvalidInputError
from napari_sincs.codec.saliency.user import user_map


def test_user_maps_labels_and_floats():
    labels = np.array([[0, 1], [2, 0]], dtype=np.uint8)
    np.testing.assert_allclose(user_map(labels, 0.1), [[0.1, 1], [1, 0.1]])
    floats = np.array([[0.05, 0.5], [np.nan, 7.0]], dtype=np.float32)
    np.testing.assert_allclose(user_map(floats, 0.1), [[0.1, 0.5], [0.1, 1.0]])
    with pytest.raises(InvalidInputError, match="numbers or booleans"):
        user_map(np.array([["a"]]), 0.1)
