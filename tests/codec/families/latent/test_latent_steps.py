"""Learned quantisation steps: each level's latents are rounded in a step of its own, learned
with the networks and folded into the synthesis's first layer when the file is coded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import latent_trainer
from napari_sincs.codec.families.latent.fit import _forward
from napari_sincs.codec.families.latent.reader import network_tensors


@pytest.mark.parametrize("scale", [1.0, 1.3])
def test_the_coded_synthesis_reads_integers_as_the_trained_one_reads_steps(scale):
    """Also where the file lands in its budget with every step scaled."""
    trainer = latent_trainer()
    levels = trainer.spec.levels
    with torch.no_grad():
        trainer.log_steps.copy_(torch.log(torch.linspace(0.1, 1.0, levels)))
    integers = torch.randint(-20, 21, (50, levels)).float()
    steps = trainer.log_steps.exp() * scale
    trained = _forward(trainer.synthesis, (integers * steps).T)[0]
    tensors, _ = network_tensors(trainer.spec, trainer.network_vector(scale).astype(np.float64))
    h = integers.double()
    for i in range(0, len(tensors), 2):
        h = h @ torch.from_numpy(tensors[i]).T + torch.from_numpy(tensors[i + 1])
        if i < len(tensors) - 2:
            h = torch.relu(h)
    torch.testing.assert_close(h[:, 0].float(), trained.detach(), rtol=1e-5, atol=1e-6)


def test_steps_get_finer_when_bits_are_free_and_never_coarser_than_one():
    free = latent_trainer()
    for _ in range(40):
        free.step(1e-8, 1.0, True, measure=False)
    assert max(free.quantisation_steps()) <= 1.0
    assert np.mean(np.log(free.quantisation_steps())) < -0.2, "precision was free"
    dear = latent_trainer()
    for _ in range(40):
        dear.step(10.0, 1.0, True, measure=False)
    assert dear.quantisation_steps() == [1.0] * dear.spec.levels, "dear bits: at the bound"
