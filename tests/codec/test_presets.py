"""Tuning constants overridden for one block (what ablations and format fixtures do)."""

from __future__ import annotations

import pytest

from napari_sincs.codec import presets


def test_constants_are_set_for_the_block_and_restored_after_it_even_on_error():
    with presets.overridden(LATENT_CONTEXT="wide", LATENT_D_LAG=0):
        assert (presets.LATENT_CONTEXT, presets.LATENT_D_LAG) == ("wide", 0)
    assert (presets.LATENT_CONTEXT, presets.LATENT_D_LAG) == ("faces", 1)
    with pytest.raises(RuntimeError), presets.overridden(LATENT_CONTEXT="coarse"):
        raise RuntimeError("a failed measurement")
    assert presets.LATENT_CONTEXT == "faces"


def test_a_misspelt_constant_is_refused_and_nothing_is_set():
    with (
        pytest.raises(AttributeError, match="LATENT_CONTXT"),
        presets.overridden(LATENT_CONTEXT="wide", LATENT_CONTXT="wide"),
    ):
        pass
    assert presets.LATENT_CONTEXT == "faces"
    assert not hasattr(presets, "LATENT_CONTXT")
