"""Discretised Laplace distributions of latents: a smooth rate for training, and integer
probability tables that encoder and decoder compute identically on every machine.

The entropy model gives every latent a location mu and a log-scale s. For coding, mu is
clipped to the latent's alphabet [lo, hi] and rounded to 1/MU_STEPS, s is clipped to
[S_MIN, S_MAX] and rounded to one of SCALES values (b = exp(S_MIN + index / SCALE_STEPS)). The
probability of symbol k is F(k + 1/2) - F(k - 1/2) of the Laplace CDF F, the tails folded into
lo and hi, turned into integer frequencies summing to 2**PRECISION with every symbol at least 1.

Exponentials are computed by `exp_neg` with only additions, multiplications, a floor and a
power-of-two scaling, each correctly rounded in IEEE 754 arithmetic: unlike a math library's
exp (whose last bit differs between platforms and SIMD paths), the tables are then the same
bits everywhere, and a file always decodes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

S_MIN = -3.0
S_MAX = 5.0
SCALE_STEPS = 8
SCALES = int((S_MAX - S_MIN) * SCALE_STEPS) + 1
MU_STEPS = 16
PRECISION = 16
BITS_CAP = 24.0

_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
_INV_LN2 = 1.4426950408889634
# Taylor coefficients of exp(-r) = sum (-r)**n / n!, n = 0..13: exact to float64 on [0, ln 2).
_TAYLOR = [(-1.0) ** n / math.factorial(n) for n in range(14)]


def exp_neg(z: np.ndarray) -> np.ndarray:
    """exp(-z) for z >= 0, bit-identical on every IEEE 754 machine (see module docstring)."""
    z = np.asarray(z, dtype=np.float64)
    n = np.minimum(np.floor(z * _INV_LN2), 1100.0)
    r = (z - n * _LN2_HI) - n * _LN2_LO
    poly = np.full(z.shape, _TAYLOR[-1])
    for c in reversed(_TAYLOR[:-1]):
        poly = poly * r + c
    return np.ldexp(poly, -n.astype(np.int64))


def _inverse_scales() -> np.ndarray:
    """1 / (MU_STEPS * b) for every scale index: what multiplies an offset in 1/MU_STEPS."""
    exponents = S_MIN + np.arange(SCALES, dtype=np.float64) / SCALE_STEPS
    return exp_neg(exponents) / MU_STEPS


_INVERSE = _inverse_scales()
_TAILS: np.ndarray | None = None


def _tails(largest: int) -> np.ndarray:
    """exp(-u / (MU_STEPS * b)) / 2 for every scale index and offset u in [0, largest]: built
    once from `exp_neg` and grown on demand, so that every table entry is the same bits."""
    global _TAILS
    if _TAILS is None or _TAILS.shape[1] <= largest:
        size = max(largest + 1, 2 * MU_STEPS * 64)
        offsets = np.arange(size, dtype=np.float64)
        _TAILS = 0.5 * exp_neg(offsets[None, :] * _INVERSE[:, None])
    return _TAILS


def quantise_parameters(
    mu: np.ndarray, log_scale: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """(mu in 1/MU_STEPS, scale index) as the coder uses them."""
    mu_steps = np.rint(np.clip(mu, lo, hi) * MU_STEPS).astype(np.int64)
    index = np.rint((np.clip(log_scale, S_MIN, S_MAX) - S_MIN) * SCALE_STEPS).astype(np.int64)
    return mu_steps, np.clip(index, 0, SCALES - 1)


def frequencies(mu_steps: np.ndarray, scale_index: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Integer frequencies (latents, hi - lo + 1) summing to 2**PRECISION per row."""
    symbols = hi - lo + 1
    edges = MU_STEPS * np.arange(lo, hi + 2, dtype=np.int64) - MU_STEPS // 2
    offsets = edges[None, :] - mu_steps[:, None]
    distance = np.abs(offsets)
    tails = _tails(int(distance.max()) if distance.size else 0)
    tail = tails.reshape(-1).take(scale_index[:, None] * tails.shape[1] + distance)
    cdf = np.where(offsets < 0, tail, 1.0 - tail)
    cdf[:, 0] = 0.0
    cdf[:, -1] = 1.0
    mass = np.diff(cdf, axis=1)
    total = 1 << PRECISION
    counts = np.floor(mass * (total - symbols)).astype(np.int64) + 1
    rows = np.arange(len(counts))
    counts[rows, np.argmax(mass, axis=1)] += total - counts.sum(axis=1)
    return counts


def probabilities(mu_steps: np.ndarray, scale_index: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The frequencies as exact float64 fractions of 2**PRECISION (what the range coder takes),
    computed once per distinct (mu, scale) pair (found by marking the pairs' keys, which span
    at most 16 * 511 * SCALES values: no sort of the latents)."""
    keys = mu_steps * SCALES + scale_index
    if not keys.size:
        return np.empty((0, hi - lo + 1))
    first = keys.min()
    present = np.zeros(keys.max() - first + 1, dtype=bool)
    present[keys - first] = True
    mu_distinct, scale_distinct = np.divmod(np.flatnonzero(present) + first, SCALES)
    table = frequencies(mu_distinct, scale_distinct, lo, hi) / float(1 << PRECISION)
    return table.take((np.cumsum(present) - 1)[keys - first], axis=0)


def laplace_bits(values: torch.Tensor, mu: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """-log2 of the Laplace mass on [v - 1/2, v + 1/2]: the smooth rate training minimises."""
    b = torch.exp(log_scale.clamp(S_MIN, S_MAX))
    distance = (values - mu).abs()
    far = distance.clamp(min=0.5)
    near = distance.clamp(max=0.5)
    log_far = math.log(0.5) - (far - 0.5) / b + torch.log(-torch.expm1(-1.0 / b))
    mass_near = 1.0 - 0.5 * (torch.exp(-(0.5 - near) / b) + torch.exp(-(0.5 + near) / b))
    log_near = torch.log(mass_near.clamp_min(1e-12))
    log_mass = torch.where(distance >= 0.5, log_far, log_near)
    return (-log_mass / math.log(2.0)).clamp(max=BITS_CAP)
