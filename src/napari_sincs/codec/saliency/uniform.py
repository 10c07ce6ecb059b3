"""Uniform sampling: every voxel alike."""

from __future__ import annotations

from .base import SaliencyMap, SaliencyMethod


class _Uniform(SaliencyMap):
    def weights(self, values, channel, index):
        return None


class UniformMethod(SaliencyMethod):
    name = "uniform"
    summary = "every voxel alike"

    def prepare(self, array5d, lo, hi, config) -> SaliencyMap:
        return _Uniform()


METHOD = UniformMethod()
