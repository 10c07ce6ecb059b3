"""Shared test data and settings: small real images from tests/data, fast real training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from napari_sincs import CompressionConfig
from napari_sincs.codec.metrics import psnr

DATA = Path(__file__).parent / "data"

# Real training, kept short so the suite stays fast on two CPU cores. The PE-MLP, whose groups,
# chains and weight transfer most tests exercise; family "auto" picks the latent family for
# images without z, and tests/codec/families/latent trains that one with its own settings.
FAST = CompressionConfig(family="pe_mlp", ratio=20, steps=200, transfer_steps=80, batch_size=4096)

IMAGES = {
    "2d": ("nuclei2d_crop.tif", "yx"),
    "2d+t": ("cell_migration_crop.tif", "tyx"),
    "3d": ("nuclei3d_crop.tif", "zyx"),
    "3d+t": ("fmri_crop.tif", "tzyx"),
    "channels": ("hela_crop.tif", "cyx"),
}


def load(name: str) -> np.ndarray:
    return tifffile.imread(DATA / name)


def flat_psnr(data: np.ndarray) -> float:
    """PSNR of the best constant image: what a codec that learned nothing would reach."""
    return psnr(data, np.full(data.shape, data.mean()))


def decoded_checksums(path: Path) -> dict:
    """sha256 of a file's full decode, of its level 1 and of a central region (C-order bytes),
    with the shape and dtype: what tests/data/fixtures/checksums.json pins."""
    import hashlib

    import napari_sincs as sincs

    with sincs.open_sincs(path, cache_bytes=0) as lazy:
        region = tuple(slice(n // 4, n // 4 + max(1, n // 2)) for n in lazy.shape)
        views = {"full": lazy[...], "level1": lazy.at_level(1)[...], "region": lazy[region]}
        return {
            key: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
            for key, v in views.items()
        } | {"shape": list(lazy.shape), "dtype": str(lazy.dtype)}


def latent_trainer(synthesis: tuple[int, ...] | None = None, tile=None, depth: int = 1):
    """A latent trainer over the 2D crop normalised to [0, 1] (patches of 4096 voxels), with
    the family's spec or another synthesis width; `tile`: the volume is that tile's; `depth`:
    a z stack of that many copies of the crop."""
    import dataclasses

    import torch

    from napari_sincs.codec.families.latent import FAMILY, plan_for
    from napari_sincs.codec.families.latent.fit import LatentTrainer, _Volume

    image = load("nuclei2d_crop.tif").astype(np.float32)
    image = (image - image.min()) / (image.max() - image.min())
    image = np.repeat(image[None], depth, axis=0)
    plan = plan_for((1, 1, *image.shape), CompressionConfig(family="latent"))
    spec = FAMILY.spec_for(plan)
    if synthesis is not None:
        spec = dataclasses.replace(spec, synthesis=synthesis)
    geometry = spec.geometry(plan)
    volume = _Volume(torch.from_numpy(image.reshape(geometry.extents)), None, tile=tile)
    return LatentTrainer(spec, geometry, [volume], torch.device("cpu"), 4096, 0, 1e-2)
