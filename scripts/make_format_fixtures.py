"""Write the decode fixtures of tests/data/fixtures: small .sincs files of every kind the codec
writes (every network family, time groups, channels, residuals, latent tiles), and the
checksums of what they decode to.

The fixtures pin the file format: tests/test_format_fixtures.py decodes each with the current
code and compares checksums, so a change that alters how an existing file decodes fails. Run
this only to add a fixture for a new kind of file (existing files are never overwritten):

    python scripts/make_format_fixtures.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tifffile

import napari_sincs as sincs
from napari_sincs.codec import presets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import decoded_checksums  # noqa: E402

DATA = ROOT / "tests" / "data"
FIXTURES = DATA / "fixtures"
SAMPLES = ROOT / "src" / "napari_sincs" / "samples"
QUICK = {"steps": 300, "transfer_steps": 100, "batch_size": 2048, "seed": 0}

# name: (crop, axes, compress keywords, and optionally presets' tuning constants to set)
KINDS = {
    "pe_mlp_3d": ("nuclei3d_crop.tif", "zyx", {"ratio": 40, "family": "pe_mlp"}),
    "grid_2dt": (
        "cell_migration_crop.tif",
        "tyx",
        {"ratio": 30, "family": "grid", "saliency": "uniform"},
    ),
    "pe_mlp_3dt_groups": (
        "fmri_crop.tif",
        "tzyx",
        {"ratio": 30, "time_groups": 2, "family": "pe_mlp"},
    ),
    "channels_bounded": (
        "hela_crop.tif",
        "cyx",
        {"ratio": 20, "max_error": 3.0, "family": "pe_mlp"},
    ),
    "pe_mlp_2d_blocks": (
        "nuclei2d_crop.tif",
        "yx",
        {"ratio": 20, "block": (64, 64), "family": "pe_mlp"},
    ),
    "float_lossless": (
        "beads3d_crop.tif",
        "zyx",
        {"ratio": 30, "max_error": 0.0, "family": "pe_mlp"},
    ),
    "latent_2d_tiles": (
        "nuclei2d_crop.tif",
        "yx",
        {"ratio": 15, "family": "latent", "saliency": "uniform", "block": (64, 64)},
    ),
    "latent_2dt": (
        "cell_migration_crop.tif",
        "tyx",
        {"ratio": 30, "family": "latent", "saliency": "uniform"},
    ),
    "latent_3d_slabs": (
        "nuclei3d_crop.tif",
        "zyx",
        {"ratio": 20, "family": "latent", "saliency": "uniform"},
    ),
    "latent_2d_wide_context": (
        "nuclei2d_crop.tif",
        "yx",
        {"ratio": 15, "family": "latent", "saliency": "uniform", "block": (64, 64)},
        {"LATENT_CONTEXT": "wide"},
    ),
    "latent_3d_wide_context": (
        "nuclei3d_crop.tif",
        "zyx",
        {"ratio": 20, "family": "latent", "saliency": "uniform"},
        {"LATENT_CONTEXT": "wide"},
    ),
    # format 2: the same kinds of content, the header packed with format 2's dictionary
    "format2_pe_mlp_3d": ("nuclei3d_crop.tif", "zyx", {"ratio": 40, "family": "pe_mlp"}),
    "format2_latent_2dt": (
        "cell_migration_crop.tif",
        "tyx",
        {"ratio": 30, "family": "latent", "saliency": "uniform"},
    ),
}


def main() -> int:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    table_path = FIXTURES / "checksums.json"
    table = json.loads(table_path.read_text()) if table_path.is_file() else {}
    for name, (crop, axes, settings, *tuning) in KINDS.items():
        path = FIXTURES / f"{name}.sincs"
        if path.exists():
            continue
        data = tifffile.imread(DATA / crop)
        if name == "float_lossless":
            data = (data.astype(np.float32) / 7.0).astype(np.float32)
        with presets.overridden(**(tuning[0] if tuning else {})):
            report = sincs.compress(data, path, axes=axes, name=name, **QUICK, **settings)
        print(report, file=sys.stderr)
        table[path.name] = decoded_checksums(path)
        table_path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    for sample in sorted(SAMPLES.glob("*.sincs")):
        table.setdefault(f"samples/{sample.name}", decoded_checksums(sample))
    table_path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
