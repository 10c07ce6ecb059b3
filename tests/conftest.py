"""Shared fixtures: small real images from tests/data and a fast training configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_sincs import CompressionConfig

DATA = Path(__file__).parent / "data"

# Real training, kept short so the suite stays fast on two CPU cores.
FAST = CompressionConfig(ratio=20, steps=200, transfer_steps=80, batch_size=4096)

IMAGES = {
    "2d": ("nuclei2d_crop.tif", "yx"),
    "2d+t": ("cell_migration_crop.tif", "tyx"),
    "3d": ("nuclei3d_crop.tif", "zyx"),
    "3d+t": ("fmri_crop.tif", "tzyx"),
    "channels": ("hela_crop.tif", "cyx"),
}


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))


def load(name: str) -> np.ndarray:
    return tifffile.imread(DATA / name)


def flat_psnr(data: np.ndarray) -> float:
    """PSNR of the best constant image: what a codec that learned nothing would reach."""
    from napari_sincs.codec.metrics import psnr

    return psnr(data, np.full(data.shape, data.mean()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def nuclei2d() -> np.ndarray:
    return load("nuclei2d_crop.tif")


@pytest.fixture(scope="session")
def fast_config() -> CompressionConfig:
    return FAST
