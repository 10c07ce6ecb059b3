"""The networks' weight precision: the synthesis's chosen by measuring the coded file's error
after landing, the entropy model's coarser, which frees bytes for the latents of small files."""

from __future__ import annotations

import numpy as np

import napari_sincs as sincs
from helpers import DATA, FAST, load
from napari_sincs.codec import presets
from napari_sincs.codec.format.weights import decode_chain
from napari_sincs.io import read_image

LATENT = FAST.replace(family="latent", saliency="uniform", steps=300, batch_size=None)


def _network_steps(path) -> np.ndarray:
    with sincs.open_sincs(path) as lazy:
        shapes = lazy.header.model.parameter_shapes
        return decode_chain(lazy.decoder.values.source.read_blob(0), 1, shapes).steps


def test_finer_synthesis_weights_are_kept_where_they_lower_the_error(tmp_path):
    """cell_phase's crop at 6x: the same fit landed with its synthesis at 8 bits and with the
    search (finer weights win there): the same budget, a lower error, finer synthesis steps and
    the entropy model's unchanged."""
    data = read_image(DATA / "cell_phase_crop.png").data
    config = LATENT.replace(ratio=6)
    with presets.overridden(LATENT_SYNTHESIS_BITS=()):
        even = sincs.compress(data, tmp_path / "even.sincs", config=config)
    searched = sincs.compress(data, tmp_path / "searched.sincs", config=config)
    assert even.ratio >= 6 and searched.ratio >= 6
    assert searched.psnr > even.psnr + 0.1
    even_steps, searched_steps = (
        _network_steps(tmp_path / f"{n}.sincs") for n in ("even", "searched")
    )
    with sincs.open_sincs(tmp_path / "even.sincs") as lazy:
        synthesis = len(lazy.header.model.synthesis_shapes)
    hidden = slice(2, synthesis, 2)
    assert np.all(searched_steps[hidden] < even_steps[hidden] / 3)
    np.testing.assert_array_equal(searched_steps[synthesis:], even_steps[synthesis:])


def test_the_entropy_model_is_coded_coarser_where_that_codes_the_file_smaller(tmp_path):
    """The 3D crop at 60x (about 1.2 kB, over a third of it the networks'): coded with its
    entropy model's weights at one of presets.LATENT_ARM_BITS instead of the synthesis's 8, the
    networks' blob is smaller and the file, still at its ratio, gives the bytes to the latents."""
    data = load("nuclei3d_crop.tif")
    config = LATENT.replace(ratio=60, steps=200)
    with presets.overridden(LATENT_ARM_BITS=()):
        even = sincs.compress(data, tmp_path / "even.sincs", axes="zyx", config=config)
    coarse = sincs.compress(data, tmp_path / "coarse.sincs", axes="zyx", config=config)
    assert even.ratio >= 60 and coarse.ratio >= 60
    blobs, bits = {}, {}
    for name in ("even", "coarse"):
        with sincs.open_sincs(tmp_path / f"{name}.sincs") as lazy:
            source = lazy.decoder.values.source
            sizes = [len(source.read_blob(i)) for i in range(source.n_blobs)]
            synthesis = len(lazy.header.model.synthesis_shapes)
            bits[name] = lazy.header.bits
        blobs[name] = (sizes[0], sum(sizes[1:]))
    assert bits["even"] == presets.LATENT_NETWORK_BITS and bits["coarse"] in presets.LATENT_ARM_BITS
    even_steps, coarse_steps = (_network_steps(tmp_path / f"{n}.sincs") for n in ("even", "coarse"))
    arm = slice(synthesis, None, 2)
    coarser = bits["even"] - bits["coarse"]
    assert np.all(coarse_steps[arm] > even_steps[arm] * 2 ** (coarser - 1))
    assert blobs["coarse"][0] < blobs["even"][0] - 30
    assert blobs["coarse"][1] > blobs["even"][1]


def test_the_entropy_model_stays_at_8_bits_where_the_networks_are_a_small_share(tmp_path):
    """At 6x the crop's networks take a small share of its budget: a coarser entropy model would
    code it smaller (chosen where the share is not asked), but it stays at 8 bits."""
    data = load("nuclei3d_crop.tif")
    config = LATENT.replace(ratio=6, steps=100)
    bits = {}
    for name, share in (("kept", presets.LATENT_ARM_SHARE), ("any", 0.0)):
        with presets.overridden(LATENT_ARM_SHARE=share):
            sincs.compress(data, tmp_path / f"{name}.sincs", axes="zyx", config=config)
        with sincs.open_sincs(tmp_path / f"{name}.sincs") as lazy:
            bits[name] = lazy.header.bits
    assert bits["kept"] == presets.LATENT_NETWORK_BITS
    assert bits["any"] in presets.LATENT_ARM_BITS
