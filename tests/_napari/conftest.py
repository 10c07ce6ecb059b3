"""Fixtures for the napari plugin tests: small real .sincs files and a big-enough 2D one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, load


@pytest.fixture(autouse=True)
def remembered_settings(tmp_path_factory):
    """Each test's widgets remember into a folder of their own, never the user's settings."""
    from qtpy.QtCore import QSettings

    folder = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_prefetch():
    """Tests count what napari itself decodes; the prefetch test turns it on for itself."""
    from napari_sincs._napari.prefetch import prefetch_planes, shared_prefetcher

    before = shared_prefetcher().planes
    prefetch_planes(0)
    yield
    shared_prefetcher().wait_idle(30)
    prefetch_planes(before)


@pytest.fixture(scope="session")
def sincs_files(tmp_path_factory) -> dict[str, Path]:
    """.sincs files of the test crops: 3D with voxel size, 2D+T, and three named channels."""
    folder = tmp_path_factory.mktemp("napari")
    files = {}
    for key, name in (
        ("3d", "nuclei3d_crop.tif"),
        ("2d+t", "cell_migration_crop.tif"),
        ("channels", "hela_crop.tif"),
    ):
        files[key] = folder / f"{key}.sincs"
        sincs.compress_file(Path(__file__).parents[1] / "data" / name, files[key], config=FAST)
    return files


@pytest.fixture(scope="session")
def mosaic(tmp_path_factory) -> tuple[np.ndarray, Path]:
    """A 1024×1024 image tiled from the real 2D crop: many tiles and pyramid levels."""
    data = np.tile(load("nuclei2d_crop.tif"), (8, 8))
    path = tmp_path_factory.mktemp("mosaic") / "mosaic.sincs"
    sincs.compress(data, path, config=FAST.replace(ratio=50, steps=100), name="mosaic")
    return data, path
