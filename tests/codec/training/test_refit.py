"""Output-layer refit after quantisation: real fits on real crops, measured on their voxels."""

import numpy as np
import pytest
import torch

from helpers import FAST, load
from napari_sincs import compress
from napari_sincs.codec.encode.encoder import encode, prepare
from napari_sincs.codec.encode.source import canonical
from napari_sincs.codec.families.base import unflatten_parameters
from napari_sincs.codec.format.header import ImageMetadata
from napari_sincs.codec.format.quantize import quantise_chain, tensor_bounds
from napari_sincs.codec.layout import ArrayLayout


def _weighted_error(refit, chain, quantised) -> float:
    """Saliency-weighted squared error of a quantised chain over every voxel of its groups."""
    spec = refit.spec
    parameters = quantised.dequantise(spec.parameter_shapes, np.float64)
    total = 0.0
    for row, group in enumerate(refit.chains[chain]):
        values, saliency = refit.load(group)
        model = spec.build()
        unflatten_parameters(model, torch.as_tensor(parameters[row], dtype=torch.float32))
        grid = np.stack(np.unravel_index(np.arange(values.size), values.shape), axis=1)
        with torch.inference_mode():
            predicted = model.forward_indices(torch.as_tensor(grid)).double().numpy()
        weight = np.ones(values.size) if saliency is None else saliency.reshape(-1)
        total += float(np.sum(weight * (predicted - values.reshape(-1)) ** 2))
    return total


def test_refit_changes_only_the_output_layer_and_lowers_the_weighted_error():
    data = load("cell_migration_crop.tif")
    layout = ArrayLayout("tyx", data.shape)
    metadata = ImageMetadata(name="crop")
    encoded = encode(
        *prepare(canonical(data, layout), layout, metadata, FAST.replace(time_groups=3))
    )
    refit = encoded.refit
    shapes = refit.spec.parameter_shapes
    chain = encoded.vectors[0]
    assert chain.shape[0] == 3
    quantised = quantise_chain(chain, shapes, 4.0)
    refitted = refit(0, quantised)
    np.testing.assert_array_equal(refitted.steps, quantised.steps)
    output_start = tensor_bounds(shapes)[-2][0]
    np.testing.assert_array_equal(
        refitted.integers[:, :output_start], quantised.integers[:, :output_start]
    )
    assert not np.array_equal(refitted.integers, quantised.integers)
    assert _weighted_error(refit, 0, refitted) < 0.9 * _weighted_error(refit, 0, quantised)
    encoded.blobs.close()
    encoded.vectors.close()


@pytest.mark.slow
def test_refit_raises_psnr_at_the_same_size(tmp_path):
    data = load("beads3d_crop.tif")
    config = FAST.replace(weight_bits=5.0)
    plain = compress(data, tmp_path / "plain.sincs", axes="zyx", output_refit=False, config=config)
    refit = compress(data, tmp_path / "refit.sincs", axes="zyx", config=config)
    assert refit.bits == plain.bits
    assert abs(refit.file_bytes - plain.file_bytes) < 0.05 * plain.file_bytes
    assert refit.psnr > plain.psnr + 0.2
