import numpy as np
import pytest
import zstandard

from napari_sincs.codec.errors import CorruptFileError
from napari_sincs.codec.format.quantize import from_residuals, quantise_chain, to_residuals
from napari_sincs.codec.format.weights import decode_chain, encode_chain

SHAPES = [(16, 9), (16,), (1, 16), (1,)]


def _chain(groups: int, drift: float) -> np.ndarray:
    rng = np.random.default_rng(3)
    first = rng.normal(0, 0.3, 16 * 9 + 16 + 16 + 1).astype(np.float32)
    steps = rng.normal(0, drift, (groups, first.size)).astype(np.float32)
    return first + np.cumsum(steps, axis=0)


def test_residuals_are_exact_integers():
    ints = np.random.default_rng(0).integers(-500, 500, (5, 40))
    np.testing.assert_array_equal(from_residuals(to_residuals(ints)), ints)


@pytest.mark.parametrize("residual", [True, False])
def test_encode_decode_is_lossless_on_the_integers(residual):
    quantised = quantise_chain(_chain(6, 0.01), SHAPES, 7.0)
    blob = encode_chain(quantised, SHAPES, residual)
    decoded = decode_chain(blob, 6, SHAPES)
    np.testing.assert_array_equal(decoded.integers, quantised.integers)
    np.testing.assert_array_equal(decoded.steps, quantised.steps)


def test_quantisation_error_shrinks_with_bits():
    weights = _chain(3, 0.01)
    errors = []
    for bits in (4, 6, 8, 10):
        quantised = quantise_chain(weights, SHAPES, bits)
        errors.append(np.abs(quantised.dequantise(SHAPES) - weights).max())
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 2e-3


def test_each_tensor_can_have_its_own_precision():
    """A writer may quantise some tensors more finely; the decoder reads every tensor's step."""
    weights = _chain(1, 0.01)
    even = quantise_chain(weights, SHAPES, 8.0)
    finer = quantise_chain(weights, SHAPES, [10.0, 10.0, 8.0, 8.0])
    assert 3 < even.steps[0] / finer.steps[0] < 5 and 3 < even.steps[1] / finer.steps[1] < 5
    np.testing.assert_array_equal(finer.steps[2:], even.steps[2:])
    decoded = decode_chain(encode_chain(finer, SHAPES, False), 1, SHAPES)
    np.testing.assert_array_equal(decoded.dequantise(SHAPES), finer.dequantise(SHAPES))
    with pytest.raises(ValueError, match="3 precisions for 4 tensors"):
        quantise_chain(weights, SHAPES, [8.0, 8.0, 8.0])


def test_residuals_of_similar_groups_code_smaller_than_whole_weights():
    quantised = quantise_chain(_chain(8, 0.002), SHAPES, 8.0)
    assert len(encode_chain(quantised, SHAPES, True)) < 0.8 * len(
        encode_chain(quantised, SHAPES, False)
    )


def test_damaged_blobs_raise_corrupt_file_errors():
    quantised = quantise_chain(_chain(2, 0.01), SHAPES, 8.0)
    blob = encode_chain(quantised, SHAPES, True)
    with pytest.raises(CorruptFileError, match="does not decompress"):
        decode_chain(blob[:-5], 2, SHAPES)
    with pytest.raises(CorruptFileError, match="promises"):
        decode_chain(blob, 3, SHAPES)
    payload = zstandard.ZstdDecompressor().decompress(blob)
    short = zstandard.ZstdCompressor().compress(payload[:-7])
    with pytest.raises(CorruptFileError, match="ends early"):
        decode_chain(short, 2, SHAPES)
    longer = zstandard.ZstdCompressor().compress(payload + b"\0\0")
    with pytest.raises(CorruptFileError, match="too many"):
        decode_chain(longer, 2, SHAPES)


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_integers_of_every_width_round_trip(width):
    from napari_sincs.codec.format.quantize import QuantisedChain

    top = {1: 127, 2: 30000, 4: 2**30, 8: 2**60}[width]
    rng = np.random.default_rng(width)
    integers = rng.integers(-top, top, (3, 16 * 9 + 16 + 16 + 1), dtype=np.int64)
    integers[0, :4] = [top, -top, 0, -1]
    chain = QuantisedChain(np.full(len(SHAPES), 0.5, dtype=np.float32), integers)
    blob = encode_chain(chain, SHAPES, residual=False)
    np.testing.assert_array_equal(decode_chain(blob, 3, SHAPES).integers, integers)
