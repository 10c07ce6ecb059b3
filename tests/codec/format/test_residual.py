"""Error-bounded and lossless residuals: the bound holds for every voxel, always."""

from __future__ import annotations

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from napari_sincs.codec.errors import CorruptFileError
from napari_sincs.codec.format import residual

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


def _stretched(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """12-bit counts stretched to 16 bits (what rescaled microscopy TIFFs hold), and a noisy
    prediction of them that lands between the values the data can take."""
    counts = rng.integers(100, 1100, (3, 1, 48, 48))
    original = (counts * 65535 // 4095).astype(np.uint16)
    noise = rng.normal(0, 40, original.shape)
    predicted = np.clip(original + noise, 0, 65535).astype(np.uint16)
    return original, predicted


def test_data_on_a_sparse_set_of_values_codes_in_palette_positions():
    original, predicted = _stretched(np.random.default_rng(1))
    blob = residual.encode(original, predicted, 0)
    decoded = residual.GroupResidual(blob, original.shape, original.dtype, 0)
    assert decoded.palette is not None and decoded.palette.size <= 1000
    index = np.ix_(*(np.arange(n) for n in original.shape))
    assert decoded.apply(predicted, index).tobytes() == original.tobytes()
    plain = residual.integer_bin(0) * (original.astype(np.int64) - predicted)
    zigzag = (plain << 1) ^ (plain >> 63)
    assert len(blob) < 0.7 * len(zstandard.compress(zigzag.astype(np.uint16).tobytes(), 19))


def test_a_palette_out_of_order_is_refused():
    original, predicted = _stretched(np.random.default_rng(2))
    payload = bytearray(zstandard.decompress(residual.encode(original, predicted, 0)))
    first = 17 + 1 + 8  # header (mode, count, exceptions), width, palette size: first entry
    payload[first : first + 4] = payload[first + 2 : first + 4] + payload[first : first + 2]
    blob = zstandard.ZstdCompressor().compress(bytes(payload))
    with pytest.raises(CorruptFileError, match="palette"):
        residual.GroupResidual(blob, original.shape, original.dtype, 0)


def test_values_the_prediction_does_not_help_are_stored_verbatim():
    rng = np.random.default_rng(3)
    original = np.where(rng.random((2, 1, 64, 64)) < 0.9, 7, 9).astype(np.uint8)
    useless = rng.integers(0, 255, original.shape).astype(np.uint8)
    blob = residual.encode(original, useless, 0)
    decoded = residual.GroupResidual(blob, original.shape, original.dtype, 0)
    assert decoded.verbatim is not None
    assert len(blob) <= len(zstandard.compress(original.tobytes(), 19)) + 64
    picks = np.ix_([1], [0], np.arange(10, 20), np.arange(64))
    assert decoded.apply(useless[picks], picks).tobytes() == original[picks].tobytes()
