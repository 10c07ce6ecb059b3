"""Reading a file imports no training code (nor the heavy libraries only compression needs)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

TRAINING = ("napari_sincs.codec.training", "napari_sincs.codec.encode", "napari_sincs.api")
HEAVY = ("skimage", "scipy", "dask", "distributed")


def _loaded_after(statement: str) -> list[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    [
        "import napari_sincs",
        "import napari_sincs.lazy",
        "from napari_sincs import open_sincs",
        "from napari_sincs._napari.reader import napari_get_reader",
    ],
)
def test_the_read_path_imports_no_training_module(statement):
    loaded = _loaded_after(statement)
    leaked = [m for m in loaded if m.startswith(TRAINING) or m.split(".")[0] in HEAVY]
    assert leaked == []


def test_napari_asking_about_a_file_loads_neither_torch_nor_the_decoder():
    statement = (
        "from napari_sincs._napari.reader import napari_get_reader\n"
        "assert napari_get_reader('image.tif') is None"
    )
    loaded = _loaded_after(statement)
    assert [m for m in loaded if m.split(".")[0] in ("torch", "numpy")] == []
    assert "napari_sincs.lazy" not in loaded
    loaded = _loaded_after(statement + "\nnapari_get_reader('image.sincs')")
    assert "napari_sincs.lazy" in loaded


def test_saliency_methods_load_only_when_used():
    loaded = _loaded_after("from napari_sincs.codec import saliency; saliency.choices()")
    assert "napari_sincs.codec.saliency.learned" not in loaded
