"""Error-bounded and lossless residuals: the bound holds for every voxel, always."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_sincs.codec import residual

DTYPES = ["uint8", "uint16", "int16", "float32"]


@st.composite
def cases(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(
        st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9))
    )
    if dtype.kind == "f":
        elements = st.floats(-1e6, 1e6, width=32, allow_nan=False, allow_infinity=False)
        bound = draw(st.sampled_from([0.0, 1e-4, 0.5, 3.0, 1000.0]))
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
        bound = draw(st.sampled_from([0, 0.5, 1, 2.7, 100]))
    original = draw(arrays(dtype, shape, elements=elements))
    predicted = draw(arrays(dtype, shape, elements=elements))
    return original, predicted, float(bound)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_every_voxel_is_within_the_bound_and_zero_is_exact(case):
    original, predicted, bound = case
    blob = residual.encode(original, predicted, bound)
    decoded = residual.GroupResidual(blob, original.shape, original.dtype, bound)
    index = np.ix_(*(np.arange(n) for n in original.shape))
    rebuilt = decoded.apply(predicted, index)
    assert rebuilt.dtype == original.dtype
    error = np.abs(rebuilt.astype(np.float64) - original.astype(np.float64))
    assert error.max() <= bound
    if bound == 0:
        assert rebuilt.tobytes() == original.tobytes(), "lossless means bit-identical"


@settings(max_examples=100, deadline=None)
@given(cases(), st.data())
def test_a_subset_of_voxels_gets_the_same_values(case, data):
    original, predicted, bound = case
    blob = residual.encode(original, predicted, bound)
    decoded = residual.GroupResidual(blob, original.shape, original.dtype, bound)
    full = decoded.apply(predicted, np.ix_(*(np.arange(n) for n in original.shape)))
    picks = [
        np.unique(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))
        for n in original.shape
    ]
    part = decoded.apply(predicted[np.ix_(*picks)], np.ix_(*picks))
    assert part.tobytes() == full[np.ix_(*picks)].tobytes()


def test_signed_zeros_and_extremes_survive_lossless_floats():
    original = np.array([[[[0.0, -0.0, 1e-38, -3.4e38, 3.4e38, 1.5e-45]]]], dtype=np.float32)
    predicted = np.zeros_like(original)
    blob = residual.encode(original, predicted, 0.0)
    rebuilt = residual.GroupResidual(blob, original.shape, original.dtype, 0.0).apply(
        predicted, np.ix_(*(np.arange(n) for n in original.shape))
    )
    assert rebuilt.tobytes() == original.tobytes()


def test_residuals_of_a_good_prediction_are_small():
    rng = np.random.default_rng(0)
    original = rng.integers(1000, 2000, (2, 1, 64, 64)).astype(np.uint16)
    close = (original.astype(int) + rng.integers(-2, 3, original.shape)).astype(np.uint16)
    far = rng.integers(0, 65535, original.shape).astype(np.uint16)
    assert len(residual.encode(original, close, 0)) < 0.5 * len(residual.encode(original, far, 0))
