"""Rate control of a fit: the weight precision that fills the byte budget, and what a fit coded
at one precision is (Encoded)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .. import presets
from ..families import ModelSpec
from ..format.container import MemorySource, packed_size
from ..format.header import FileHeader
from ..format.quantize import quantise_chain
from ..format.weights import encode_chain
from ..training.refit import OutputRefit
from .spill import ArraySpill, Spill


@dataclass
class Encoded:
    """Everything `compress` writes, and how it was obtained (weights and blobs may be spilled
    to a temporary file, so memory does not grow with the input)."""

    header: FileHeader
    blobs: Spill
    attempts: int
    fit_seconds: float
    device: str
    vectors: ArraySpill | None = None
    """Network families: every chain's trained weights, to code them at another precision."""
    refit: OutputRefit | None = None

    def close(self) -> None:
        """Free the temporary files behind the blobs and weights."""
        self.blobs.close()
        if self.vectors is not None:
            self.vectors.close()

    def source(self) -> MemorySource:
        """The file as a Decoder can read it, before it is written."""
        return MemorySource(self.header.to_dict(), self.blobs)

    @property
    def nbytes(self) -> int:
        return packed_size(self.header.to_dict(), self.blobs)

    def recoded(self, bits: float) -> Encoded:
        """The same fit coded at another weight precision (no training; network families)."""
        if self.vectors is None:
            raise ValueError(f"a {self.header.model.family} encoding cannot be recoded.")
        spec = self.header.model
        residual_coding = self.header.config.residual_coding
        blobs = code_chains(self.vectors, spec, bits, residual_coding, self.refit)
        header = dataclasses.replace(self.header, bits=round(bits, 3))
        return dataclasses.replace(self, header=header, blobs=blobs)


def code_chains(
    vectors: ArraySpill,
    spec: ModelSpec,
    bits: float,
    residual_coding: bool,
    refit: OutputRefit | None = None,
) -> Spill:
    """Every chain quantised (output layers refitted to the data when `refit` is given) and
    entropy-coded at one precision, in a Spill."""
    blobs = Spill()
    for index, chain in enumerate(vectors):
        quantised = quantise_chain(chain, spec.parameter_shapes, bits)
        if refit is not None:
            quantised = refit(index, quantised)
        blobs.append(encode_chain(quantised, spec.parameter_shapes, residual_coding))
    return blobs


def coded_size(
    vectors: Iterable[np.ndarray],
    spec: ModelSpec,
    bits: float,
    residual: bool,
    level: int = presets.SEARCH_ZSTD_LEVEL,
) -> int:
    """Bytes of every chain quantised and entropy-coded at one precision (one chain at a time)."""
    shapes = spec.parameter_shapes
    return sum(
        len(encode_chain(quantise_chain(v, shapes, bits), shapes, residual, level)) for v in vectors
    )


def search_bits(
    size_at: Callable[[float], int],
    budget: float,
    max_bits: float,
    min_bits: float = presets.MIN_BITS,
) -> float | None:
    """Highest precision in [min_bits, max_bits] whose coded size fits the budget (None if none)."""
    if size_at(max_bits) <= budget:
        return max_bits
    if size_at(min_bits) > budget:
        return None
    lo, hi = min_bits, max_bits
    while hi - lo > presets.BITS_RESOLUTION:
        mid = (lo + hi) / 2
        if size_at(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo
