import numpy as np
import torch

from napari_sincs.codec.training.sampler import CoordinateSampler


def test_sampler_draws_in_proportion_to_the_weights():
    weights = np.array([1.0, 0.0, 3.0, 0.5], dtype=np.float32)
    generator = torch.Generator().manual_seed(0)
    sampler = CoordinateSampler(4, weights, generator, torch.device("cpu"))
    counts = np.bincount(sampler.sample(200_000).numpy(), minlength=4) / 200_000
    np.testing.assert_allclose(counts, weights / weights.sum(), atol=0.01)


def test_uniform_sampler_covers_every_voxel():
    generator = torch.Generator().manual_seed(0)
    sampler = CoordinateSampler(10, None, generator, torch.device("cpu"))
    counts = np.bincount(sampler.sample(100_000).numpy(), minlength=10)
    assert counts.min() > 9000
