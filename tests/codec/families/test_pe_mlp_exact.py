import numpy as np
import pytest
import torch

from napari_sincs.codec.errors import CorruptFileError
from napari_sincs.codec.families.base import unflatten_parameters
from napari_sincs.codec.families.pe_mlp import ExactPeMlp, PeMlpSpec, grid_coordinates
from napari_sincs.codec.format.quantize import quantise_chain

SPEC = PeMlpSpec("pe_mlp", ("t", "y", "x"), (5, 40, 36), width=20, depth=3, frequencies=(2, 4, 4))
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights() -> np.ndarray:
    torch.manual_seed(0)
    vector = torch.cat([p.detach().reshape(-1) for p in SPEC.build().parameters()])
    quantised = quantise_chain(vector.numpy()[None], SPEC.parameter_shapes, 9.0)
    return quantised.dequantise(SPEC.parameter_shapes, np.float64)[0]


def test_exact_evaluation_matches_the_float_network(weights):
    model = SPEC.build()
    unflatten_parameters(model, torch.from_numpy(weights).float())
    positions = [np.arange(5), np.arange(40), np.arange(36)]
    exact = ExactPeMlp(SPEC, weights, CPU).evaluate(positions)
    coords = [grid_coordinates(torch.from_numpy(p), e) for p, e in zip(positions, SPEC.extents)]
    mesh = torch.meshgrid(*coords, indexing="ij")
    with torch.no_grad():
        reference = model(torch.stack([m.reshape(-1) for m in mesh], 1)).reshape(5, 40, 36)
    np.testing.assert_allclose(exact, reference.double().numpy(), atol=1e-4)


def test_every_voxel_is_bit_identical_whatever_else_is_decoded(weights):
    network = ExactPeMlp(SPEC, weights, CPU)
    full = network.evaluate([np.arange(5), np.arange(40), np.arange(36)], chunk=4096)
    rng = np.random.default_rng(1)
    for chunk in (7, 1000, 1 << 16):
        picks = [
            np.sort(rng.choice(n, size=k, replace=False)) for n, k in ((5, 2), (40, 9), (36, 31))
        ]
        part = ExactPeMlp(SPEC, weights, CPU).evaluate(picks, chunk=chunk)
        assert np.array_equal(part, full[np.ix_(*picks)])


def test_weights_that_cannot_be_evaluated_are_refused(weights):
    bad = weights.copy()
    bad[3] = np.nan
    with pytest.raises(CorruptFileError, match="do not fit"):
        ExactPeMlp(SPEC, bad, CPU)
    huge = weights.copy()
    huge[:100] = 1e300
    with pytest.raises(CorruptFileError, match="too large"):
        ExactPeMlp(SPEC, huge, CPU)
    with pytest.raises(CorruptFileError, match="do not fit"):
        ExactPeMlp(SPEC, weights[:-1], CPU)
