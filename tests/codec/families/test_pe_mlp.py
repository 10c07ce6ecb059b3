import dataclasses

import torch

from napari_sincs.codec.families.base import flatten_parameters, unflatten_parameters
from napari_sincs.codec.families.pe_mlp import (
    PeMlpSpec,
    auto_frequencies,
    encode_axis,
    grid_coordinates,
    width_for_parameters,
)

SPEC = PeMlpSpec("pe_mlp", ("t", "y", "x"), (4, 16, 12), width=12, depth=3, frequencies=(2, 3, 3))


def test_table_path_equals_the_plain_definition():
    torch.manual_seed(0)
    model = SPEC.build()
    coords = [grid_coordinates(torch.arange(n), e) for n, e in zip((3, 16, 12), SPEC.extents)]
    tables = [encode_axis(c, f) for c, f in zip(coords, SPEC.frequencies)]
    picks = [(1, 5, 7), (0, 0, 0), (2, 15, 11)]
    features = torch.cat([torch.stack([t[p[a]] for p in picks]) for a, t in enumerate(tables)], 1)
    points = torch.tensor([[coords[a][p[a]] for a in range(3)] for p in picks])
    torch.testing.assert_close(model.forward_features(features), model(points))


def test_positional_encoding_is_sin_cos_of_octaves():
    v = torch.tensor([0.25])
    encoded = encode_axis(v, 2)[0]
    expected = [0.25, *(torch.sin(torch.tensor([torch.pi / 4, torch.pi / 2]))).tolist()]
    expected += torch.cos(torch.tensor([torch.pi / 4, torch.pi / 2])).tolist()
    torch.testing.assert_close(encoded, torch.tensor(expected))


def test_parameter_count_and_width_sizing_agree():
    model = SPEC.build()
    assert SPEC.n_parameters == sum(p.numel() for p in model.parameters())
    assert [tuple(p.shape) for p in model.parameters()] == SPEC.parameter_shapes
    for budget in (500, 2000, 9000):
        width = width_for_parameters(SPEC, budget)
        fits = dataclasses.replace(SPEC, width=width)
        wider = dataclasses.replace(SPEC, width=width + 1)
        assert fits.n_parameters <= budget < wider.n_parameters


def test_flatten_unflatten_round_trip():
    torch.manual_seed(1)
    a, b = SPEC.build(), SPEC.build()
    unflatten_parameters(b, flatten_parameters(a))
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


def test_frequencies_follow_the_grid_size():
    assert auto_frequencies(512, None) == 8
    assert auto_frequencies(512, 5) == 5
    assert auto_frequencies(2, None) == 1
