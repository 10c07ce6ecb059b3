"""Ablations of the method's parts, each measured on real images at 100×.

* weight transfer: on (default: a chain's first group 6000 steps, the others 2000 from their
  neighbour), off with every group trained from scratch for 6000 steps, and off at the same
  total number of steps as "on";
* residual coding of weights: one fit coded twice, neighbours as residuals or every group whole
  (same weights, hence the same PSNR: the difference is pure file size), with what an ideal
  memoryless coder and a per-row Laplace coder would need for the same residuals;
* weight precision: one fit decoded at the precision rate control chose, one bit coarser, one
  bit finer and at 14 bits (what quantisation costs), each with and without the output-layer
  refit (refit.py), and fits whose networks were sized for PRECISION_SCALES of the expected coded
  bits per parameter, i.e. larger networks at coarser precision (whether the size/precision split
  is right);
* output-layer refit: one fit per image at 100× and 300×, coded at the same precision with and
  without refitting the output layers after quantisation (the same training, so the difference
  is the refit alone), PSNR and SSIM globally and inside the objects;
* saliency: uniform, threshold and learned (Grad-CAM) sampling, with the PSNR inside two salient
  regions next to the global one: the objects (voxels above the Otsu threshold) and the voxels the
  learned map weighs at least LEARNED_SALIENT (structure: objects, their edges and texture);
* the latent family's parts (`latent_parts`): its defaults against the first axis halving with
  y and x, one tile over the whole image instead of independent tiles, tiles trained apart as
  an image too large to train whole (the networks on one tile; that tile's latents kept as its
  start, or every tile from zeros: the weight transfer of the tiled fit), lambda held at its
  start during training (only the refinements after it land the budget), and the entropy
  model's other context shapes (the coarser level at the parent alone, nothing of the cell's
  own level, more anchors of its own level), with the seam ratio and the full decode's time.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from pathlib import Path

import numpy as np

import napari_sincs as sincs
from napari_sincs.codec import presets
from napari_sincs.codec.config import CompressionConfig
from napari_sincs.codec.decode.decoder import Decoder
from napari_sincs.codec.encode.encoder import prepare
from napari_sincs.codec.encode.rate import coded_size
from napari_sincs.codec.encode.ratio import encode_at_ratio
from napari_sincs.codec.encode.verify import measure_quality
from napari_sincs.codec.families import get_family
from napari_sincs.codec.format.header import ImageMetadata
from napari_sincs.codec.format.quantize import quantise_chain, tensor_bounds, to_residuals
from napari_sincs.codec.layout import ArrayLayout
from napari_sincs.codec.metrics import psnr

from .datasets import Dataset
from .seams import border_ratio

RATIO = 100.0
# Transfer and weight residuals are ablated in the method's own network: with family "auto" a
# 2D+T image gets one feature-grid network per block and no interlaced time groups, so there
# would be no neighbours to transfer from.
PAPER_FAMILY = "pe_mlp"
LEARNED_SALIENT = 0.5


def _compress(
    dataset: Dataset, data: np.ndarray, **settings
) -> tuple[sincs.CompressionReport, np.ndarray]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.sincs"
        report = sincs.compress(data, path, axes=dataset.axes, ratio=RATIO, **settings)
        return report, sincs.decode(path)


def _total_steps(report: sincs.CompressionReport, config: CompressionConfig, transfer: bool) -> int:
    chains = math.ceil(report.groups / config.keyframe_interval)
    if not transfer:
        return report.groups * config.steps
    return chains * config.steps + (report.groups - chains) * config.transfer_steps


def transfer(dataset: Dataset) -> list[dict]:
    data = dataset.load()
    config = CompressionConfig(ratio=RATIO, family=PAPER_FAMILY).resolved()
    rows = []
    on, _ = _compress(dataset, data, family=PAPER_FAMILY)
    same = round(_total_steps(on, config, True) / on.groups)
    for label, settings, steps in (
        ("transfer on", {}, _total_steps(on, config, True)),
        (
            f"transfer off, {config.steps} steps each",
            {"weight_transfer": False},
            on.groups * config.steps,
        ),
        (
            f"transfer off, {same} steps each",
            {"weight_transfer": False, "steps": same},
            on.groups * same,
        ),
    ):
        report = (
            on if not settings else _compress(dataset, data, family=PAPER_FAMILY, **settings)[0]
        )
        rows.append(
            {
                "dataset": dataset.name,
                "variant": label,
                "groups": report.groups,
                "training_steps": steps,
                "compress_s": round(report.seconds, 1),
                "ratio": round(report.ratio, 1),
                "psnr": round(report.psnr, 2),
                "ssim": round(report.ssim, 4),
            }
        )
    return rows


def weight_residuals(dataset: Dataset) -> dict:
    data = dataset.load()
    layout = ArrayLayout(dataset.axes, data.shape)
    array5d = layout.to_canonical(data)
    encoded = _encode_at_ratio(array5d, layout, CompressionConfig(ratio=RATIO, family=PAPER_FAMILY))
    spec, bits = encoded.header.model, encoded.header.bits
    with_residuals = coded_size(encoded.vectors, spec, bits, True, presets.ZSTD_LEVEL)
    whole = coded_size(encoded.vectors, spec, bits, False, presets.ZSTD_LEVEL)
    order0, laplace = _entropy_bounds(encoded.vectors, spec, bits)
    groups = len(encoded.header.plan)
    return {
        "dataset": dataset.name,
        "groups": groups,
        "weights": spec.n_parameters * groups,
        "bits": bits,
        "bytes_residual": with_residuals,
        "bytes_whole": whole,
        "saved": f"{1 - with_residuals / whole:.1%}",
        "bytes_order0_entropy": order0,
        "bytes_laplace_per_row": laplace,
    }


# Side information a per-row Laplace coder would send for each row's scale.
LAPLACE_SCALE_BITS = 5


def _entropy_bounds(vectors, spec, bits: float) -> tuple[int, int]:
    """What better coders could reach on the same residual integers as `bytes_residual`: the
    order-0 entropy of each tensor (keyframe and residual rows apart; no model cost, so a bound
    for any per-tensor memoryless coder), and a realisable coder: a discretised Laplace per
    output row of each tensor, its scale sent in LAPLACE_SCALE_BITS."""
    shapes = spec.parameter_shapes
    order0 = laplace = 0.0
    for chain in vectors:
        stream = to_residuals(quantise_chain(chain, shapes, bits).integers)
        for (lo, hi), shape in zip(tensor_bounds(shapes), shapes):
            rows = shape[0] if len(shape) == 2 else 1
            for part in (stream[:1, lo:hi], stream[1:, lo:hi]):
                if part.size:
                    order0 += _order0_bits(part)
                    laplace += _laplace_bits(part.reshape(-1, rows, (hi - lo) // rows))
    return round(order0 / 8), round(laplace / 8)


def _order0_bits(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum())


def _laplace_bits(values: np.ndarray) -> float:
    """Bits of (groups, rows, columns) integers, each (group, row) with its own Laplace scale."""
    x = values.astype(np.float64)
    scale = np.maximum(np.abs(x).mean(axis=2, keepdims=True), 0.05)

    def cdf(t: np.ndarray) -> np.ndarray:
        return np.where(t < 0, 0.5 * np.exp(t / scale), 1 - 0.5 * np.exp(-t / scale))

    probability = np.maximum(cdf(x + 0.5) - cdf(x - 0.5), 1e-12)
    side = LAPLACE_SCALE_BITS * values.shape[0] * values.shape[1]
    return float(-np.log2(probability).sum()) + side


def saliency(dataset: Dataset, family: str = "auto") -> list[dict]:
    data = dataset.load()
    started = time.perf_counter()
    learned = sincs.saliency_map(data, axes=dataset.axes, method="learned")
    learn_seconds = time.perf_counter() - started
    regions = {
        "objects": sincs.saliency_map(data, axes=dataset.axes) >= 1,
        "learned": learned >= LEARNED_SALIENT,
    }
    span = float(data.max()) - float(data.min())
    rows = []
    for method in ("uniform", "threshold", "learned"):
        started = time.perf_counter()
        report, decoded = _compress(dataset, data, saliency=method, family=family)
        row = {
            "dataset": dataset.name,
            "saliency": method,
            "family": report.family,
            "ratio": round(report.ratio, 1),
            "psnr": round(report.psnr, 2),
            "ssim": round(report.ssim, 4),
        }
        for name, mask in regions.items():
            row[f"psnr_{name}"] = round(psnr(data[mask], decoded[mask], span), 2)
            row[f"{name}_fraction"] = f"{mask.mean():.1%}"
        row["seconds"] = round(time.perf_counter() - started, 1)
        row["learn_map_s"] = round(learn_seconds, 1) if method == "learned" else ""
        rows.append(row)
    return rows


REFIT_RATIOS = (100.0, 300.0)


def refit(dataset: Dataset) -> list[dict]:
    data = dataset.load()
    layout = ArrayLayout(dataset.axes, data.shape)
    array5d = layout.to_canonical(data)
    objects = layout.to_canonical(sincs.saliency_map(data, axes=dataset.axes) >= 1)
    span = float(data.max()) - float(data.min())
    rows = []
    for ratio in REFIT_RATIOS:
        try:
            encoded = _encode_at_ratio(array5d, layout, CompressionConfig(ratio=ratio))
        except sincs.RatioUnreachableError:
            continue
        row = {"dataset": dataset.name, "target": f"{ratio:g}×", "bits": encoded.header.bits}
        plain = dataclasses.replace(encoded, refit=None).recoded(encoded.header.bits)
        for label, variant in (("without", plain), ("with", encoded)):
            quality = measure_quality(variant.source(), array5d, span)
            decoded = Decoder(variant.source()).decode((slice(None),) * 5)
            row[f"ratio_{label}"] = round(data.nbytes / variant.nbytes, 1)
            row[f"psnr_{label}"] = round(quality.psnr, 2)
            row[f"ssim_{label}"] = round(quality.ssim, 4)
            row[f"psnr_objects_{label}"] = round(psnr(array5d[objects], decoded[objects], span), 2)
        rows.append(row)
    return rows


PRECISION_SCALES = (0.85, 0.7)


def precision(dataset: Dataset, family: str = "auto") -> list[dict]:
    data = dataset.load()
    layout = ArrayLayout(dataset.axes, data.shape)
    array5d = layout.to_canonical(data)
    span = float(data.max()) - float(data.min())
    job, config = prepare(
        array5d, layout, ImageMetadata(), CompressionConfig(ratio=RATIO, family=family)
    )
    encoded = encode_at_ratio(job, config)
    chosen = encoded.header.bits
    plain = dataclasses.replace(encoded, refit=None)
    rows = []
    for label, bits in (
        ("chosen", chosen),
        ("chosen - 1 bit", chosen - 1),
        ("chosen + 1 bit", chosen + 1),
        ("14 bits", 14.0),
    ):
        recoded = encoded.recoded(bits)
        quality = measure_quality(recoded.source(), array5d, span, with_ssim=False)
        row = _precision_row(dataset, label, config, recoded, data.nbytes, quality.psnr)
        unrefitted = measure_quality(plain.recoded(bits).source(), array5d, span, with_ssim=False)
        rows.append({**row, "psnr_without_refit": round(unrefitted.psnr, 2)})
    networks = get_family(config.family)
    default_sizing, good_bits = networks.sizing, presets.GOOD_BITS
    # Rate control refits smaller networks below GOOD_BITS; the coarser precisions are the point.
    presets.GOOD_BITS = presets.MIN_BITS
    try:
        for scale in PRECISION_SCALES:
            networks.sizing = dataclasses.replace(
                default_sizing,
                key_bits=default_sizing.key_bits * scale,
                residual_bits=default_sizing.residual_bits * scale,
            )
            larger = encode_at_ratio(job, config)
            quality = measure_quality(larger.source(), array5d, span, with_ssim=False)
            label = f"networks sized for {scale:g}× the coded bits"
            row = _precision_row(dataset, label, config, larger, data.nbytes, quality.psnr)
            rows.append({**row, "psnr_without_refit": ""})
    finally:
        networks.sizing = default_sizing
        presets.GOOD_BITS = good_bits
    return rows


def _encode_at_ratio(array5d, layout, config: CompressionConfig):
    """The networks alone (no residuals, no PSNR search) for a ratio, as `compress` fits them."""
    job, config = prepare(array5d, layout, ImageMetadata(), config)
    return encode_at_ratio(job, config)


def _precision_row(dataset, label, config, encoded, raw_bytes, psnr_db) -> dict:
    return {
        "dataset": dataset.name,
        "variant": label,
        "family": config.family,
        "parameters_per_group": encoded.header.model.n_parameters,
        "groups": len(encoded.header.plan),
        "bits": round(encoded.header.bits, 2),
        "ratio": round(raw_bytes / encoded.nbytes, 1),
        "psnr": round(psnr_db, 2),
    }


LATENT_VARIANTS = {
    "defaults": ({}, {}),
    "d halves with y, x": ({"LATENT_D_LAG": 0}, {}),
    "one tile": ({}, {"block": "whole"}),
    "tiles trained apart (networks on one tile, then each tile)": (
        {"LATENT_WHOLE_MAX_VOXELS": 0, "LATENT_SAMPLE_VOXELS": 0},
        {},
    ),
    "tiles trained apart, every tile from zeros (no weight transfer)": (
        {"LATENT_WHOLE_MAX_VOXELS": 0, "LATENT_SAMPLE_VOXELS": 0, "LATENT_TILE_FROM_SAMPLE": False},
        {},
    ),
    "lambda fixed in training": ({"LATENT_LAMBDA_GAIN": 0.0}, {}),
    "context: parent only of the coarser level": ({"LATENT_CONTEXT": "parent"}, {}),
    "context: none of its own level": ({"LATENT_CONTEXT": "coarse"}, {}),
    "context: wide (more anchors of its own level)": ({"LATENT_CONTEXT": "wide"}, {}),
    "synthesis trained on every voxel": (
        {
            "PRESETS": {
                k: dataclasses.replace(p, latent_stride=1) for k, p in presets.PRESETS.items()
            }
        },
        {},
    ),
}


def _one_tile(shape: tuple[int, ...]) -> bool:
    """Whether the latent family's default tiles already cover the whole image."""
    from napari_sincs.codec.families.latent import plan_for

    block = plan_for(shape, CompressionConfig(family="latent")).block
    return all(b >= n for b, n in zip(block, shape[2:]))


def latent_parts(dataset: Dataset, only: list[str] | None = None) -> list[dict]:
    """The latent variants' rows on one image (`only`: the variants whose label contains one of
    these)."""
    data = dataset.load()
    layout = ArrayLayout(dataset.axes, data.shape)
    whole = layout.canonical_shape[2:]
    span = float(data.max()) - float(data.min())
    rows = []
    for label, (tuning, settings) in LATENT_VARIANTS.items():
        if only and not any(text in label for text in only):
            continue
        if "LATENT_D_LAG" in tuning and whole[0] == 1 and layout.canonical_shape[0] == 1:
            continue
        tiled = "LATENT_WHOLE_MAX_VOXELS" in tuning or settings.get("block") == "whole"
        if tiled and _one_tile(layout.canonical_shape):
            continue
        if settings.get("block") == "whole":
            settings = {"block": tuple(max(2, n) for n in whole)}
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder, presets.overridden(**tuning):
            path = Path(folder) / "a.sincs"
            report = sincs.compress(
                data, path, axes=dataset.axes, ratio=RATIO, family="latent", **settings
            )
            with sincs.open_sincs(path, cache_bytes=0) as lazy:
                block = lazy.header.plan.block
            decoding = time.perf_counter()
            decoded = sincs.decode(path)
            decode_seconds = time.perf_counter() - decoding
        seam = border_ratio(decoded, dataset.axes, block)
        rows.append(
            {
                "dataset": dataset.name,
                "variant": label,
                "ratio": round(report.ratio, 1),
                "psnr": round(psnr(data, decoded, span), 2),
                "ssim": round(report.ssim, 4),
                "seam": "" if seam is None else round(seam, 3),
                "tiles": report.groups,
                "attempts": report.attempts,
                "seconds": round(time.perf_counter() - started, 1),
                "decode s": round(decode_seconds, 2),
            }
        )
    return rows
