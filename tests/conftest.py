"""Fixtures shared by every test module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import DATA, FAST, load
from napari_sincs import CompressionConfig


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def nuclei2d() -> np.ndarray:
    return load("nuclei2d_crop.tif")


@pytest.fixture(scope="session")
def fast_config() -> CompressionConfig:
    return FAST
