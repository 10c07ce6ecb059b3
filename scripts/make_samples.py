"""Rebuild the .sincs samples shipped in src/napari_sincs/samples from ../shared/data.

    python scripts/make_samples.py [--data ../shared/data]

Each sample is compressed with default settings (fixed seed) at the ratio below; the files
stay a few tens of kB so the package stays small.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_sincs import compress_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {
    "cells3d_nuclei.tif": ("zyx", 100.0),
    "cell_migration_2dt.tif": ("tyx", 100.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    target = ROOT / "src" / "napari_sincs" / "samples"
    for name, (axes, ratio) in SAMPLES.items():
        output = target / f"{Path(name).stem}.sincs"
        report = compress_file(args.data / name, output, axes=axes, ratio=ratio, overwrite=True)
        print(report)


if __name__ == "__main__":
    main()
