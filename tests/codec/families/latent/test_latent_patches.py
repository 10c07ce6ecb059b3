"""Training patches: every epoch cuts each volume into equal pieces and visits them all."""

from __future__ import annotations

import numpy as np
import torch

from helpers import load
from napari_sincs import CompressionConfig
from napari_sincs.codec.families.latent import FAMILY, plan_for
from napari_sincs.codec.families.latent.fit import LatentTrainer, _stride, _Volume


def _trainer(patch_voxels: int, stride: int = 1) -> LatentTrainer:
    image = load("nuclei3d_crop.tif").astype(np.float32)
    image = (image - image.min()) / (image.max() - image.min())
    plan = plan_for((1, 1, *image.shape), CompressionConfig(family="latent"))
    spec = FAMILY.spec_for(plan)
    geometry = spec.geometry(plan)
    volume = _Volume(torch.from_numpy(image.reshape(geometry.extents)), None)
    device = torch.device("cpu")
    return LatentTrainer(spec, geometry, [volume], device, patch_voxels, 0, 1e-2, stride)


def test_an_epoch_trains_every_voxel_once_in_patches_about_the_size_asked():
    trainer = _trainer(patch_voxels=8 * 20 * 20)
    extents = trainer.geometry.extents
    assert trainer.patches_per_epoch > 1
    for _ in range(2):
        seen = np.zeros(extents, dtype=int)
        order = []
        for _ in range(trainer.patches_per_epoch):
            volume, box = trainer._patch()
            assert volume == 0 and all(s <= 1.25 * p for s, p in zip(box.shape, (8, 20, 20)))
            seen[box.slices] += 1
            order.append(box.starts)
        assert (seen == 1).all(), "every voxel exactly once an epoch, the borders included"
    assert len(set(order)) == len(order)


def test_refining_from_a_saved_state_sees_the_same_patches():
    trainer = _trainer(patch_voxels=8 * 20 * 20)
    for _ in range(3):
        trainer._patch()
    state = trainer.state()
    first = [trainer._patch() for _ in range(trainer.patches_per_epoch)]
    trainer.restore(state)
    assert [trainer._patch() for _ in range(trainer.patches_per_epoch)] == first


def test_a_step_trains_the_synthesis_on_every_other_voxel_of_y_and_x_from_a_random_phase():
    trainer = _trainer(patch_voxels=8 * 20 * 20, stride=2)
    seen = np.zeros(trainer.geometry.extents, dtype=int)
    phases = set()
    for _ in range(30 * trainer.patches_per_epoch):
        _, box = trainer._patch()
        picked = trainer._picked(box)
        assert picked[0] == slice(*box.ranges[0]), "every plane along d"
        for cut, (start, stop) in zip(picked[1:], box.ranges[1:]):
            assert cut.step == 2 and start <= cut.start < start + 2 and cut.stop == stop
        phases.add(tuple(cut.start - start for cut, (start, _) in zip(picked[1:], box.ranges[1:])))
        seen[picked] += 1
    assert phases == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert (seen > 0).all(), "over a few epochs every voxel is trained on"
    every = _trainer(patch_voxels=8 * 20 * 20)._picked(box)
    assert [(c.start, c.stop, c.step or 1) for c in every] == [(a, b, 1) for a, b in box.ranges]


def test_the_voxel_stride_is_the_presets_from_100x_and_every_voxel_below():
    assert _stride(CompressionConfig(family="latent", ratio=30)) == 1
    assert _stride(CompressionConfig(family="latent", ratio=100)) == 2
    assert _stride(CompressionConfig(family="latent", ratio=300, preset="best")) == 2
    assert _stride(CompressionConfig(family="latent", ratio=300, preset="fast")) == 1
