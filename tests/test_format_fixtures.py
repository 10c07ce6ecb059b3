"""Files written by earlier versions decode to the same bits: the format is a contract.

tests/data/fixtures holds small files of every kind the codec writes (made by
scripts/make_format_fixtures.py with the code of their time) and the checksums of what they
decoded to then; the bundled samples are checked the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import DATA, decoded_checksums

FIXTURES = DATA / "fixtures"
SAMPLES = Path(__file__).parents[1] / "src" / "napari_sincs" / "samples"
EXPECTED = json.loads((FIXTURES / "checksums.json").read_text())


def _path(name: str) -> Path:
    return SAMPLES / name.split("/", 1)[1] if name.startswith("samples/") else FIXTURES / name


def test_every_fixture_and_sample_is_pinned():
    on_disk = {p.name for p in FIXTURES.glob("*.sincs")}
    on_disk |= {f"samples/{p.name}" for p in SAMPLES.glob("*.sincs")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_file_decodes_to_the_same_bits(name):
    assert decoded_checksums(_path(name)) == EXPECTED[name]
