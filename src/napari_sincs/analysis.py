"""Why grouping and weight transfer work, measured on a .sincs file.

AWC (the Kolmogorov-Smirnov statistic sup|F1 - F2| between two normalised value distributions)
says how alike neighbouring groups are, in their weights and in their pixels: small values are
what make a transferred start and a weight residual cheap. A t-SNE embedding of all groups'
weights, and the Shannon entropy of its 2D histogram, says whether the groups form one tight
family (low entropy) or scatter (high entropy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .codec.decode.networks import ChainNetworks
from .codec.errors import InvalidConfigError
from .lazy import SincsArray

EMBEDDING_BINS = 8
MIN_GROUPS_FOR_TSNE = 5


def awc(first: np.ndarray, second: np.ndarray) -> float:
    """sup |F1 - F2| of the two samples' empirical distributions, both normalised to [0, 1]
    by their joint range (0: same distribution, 1: disjoint)."""
    a = np.sort(np.asarray(first, dtype=np.float64).ravel())
    b = np.sort(np.asarray(second, dtype=np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise ValueError("AWC needs two non-empty samples.")
    lo, hi = min(a[0], b[0]), max(a[-1], b[-1])
    scale = hi - lo if hi > lo else 1.0
    a, b = (a - lo) / scale, (b - lo) / scale
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / a.size
    cdf_b = np.searchsorted(b, points, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def embedding_entropy(points: np.ndarray, bins: int = EMBEDDING_BINS) -> float:
    """Shannon entropy H = -Σ P log2 P (bits) of a 2D point cloud's histogram on a bins × bins
    grid spanning the cloud."""
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=bins)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def tsne(weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """2D t-SNE of group weight vectors (rows), perplexity suited to few groups."""
    try:
        from sklearn.manifold import TSNE
    except ImportError as exc:
        raise InvalidConfigError(
            "the t-SNE analysis needs scikit-learn; install it with "
            "`pip install 'napari-sincs[analysis]'`."
        ) from exc

    n = weights.shape[0]
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    model = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return model.fit_transform(weights.astype(np.float64))


@dataclass
class GroupAnalysis:
    """AWC of every neighbouring pair of groups (same chain order as the file) and the t-SNE
    embedding of all groups' weights with its entropy."""

    pairs: list[dict] = field(default_factory=list)
    embedding: np.ndarray | None = None
    entropy: float | None = None
    max_entropy: float | None = None

    def summary(self) -> dict:
        weight = [p["weight_awc"] for p in self.pairs]
        pixel = [p["pixel_awc"] for p in self.pairs]
        return {
            "pairs": len(self.pairs),
            "weight_awc_median": float(np.median(weight)) if weight else None,
            "pixel_awc_median": float(np.median(pixel)) if pixel else None,
            "tsne_entropy_bits": self.entropy,
            "tsne_entropy_max_bits": self.max_entropy,
        }


def analyze(lazy: SincsArray, tsne_seed: int = 0) -> GroupAnalysis:
    """AWC between neighbouring groups' weights and decoded pixels, and the weights' t-SNE."""
    decoder = lazy.decoder
    if not isinstance(decoder.values, ChainNetworks):
        raise InvalidConfigError(
            f"{lazy.decoder.source.path.name} uses the {decoder.header.model.family} family, "
            "whose groups have no weights of their own; the analysis compares one network per "
            "group (pe_mlp or grid files)."
        )
    plan = decoder.plan
    groups = list(plan)
    weights = np.stack([decoder.values.group_parameters(g.index) for g in groups])
    result = GroupAnalysis()
    previous = None
    for group in groups:
        pixels = decoder.predict_group(group)
        if previous is not None and previous[0].channel == group.channel:
            result.pairs.append(
                {
                    "groups": f"{previous[0].index}-{group.index}",
                    "weight_awc": awc(weights[previous[0].index], weights[group.index]),
                    "pixel_awc": awc(previous[1], pixels),
                }
            )
        previous = (group, pixels)
    if len(groups) >= MIN_GROUPS_FOR_TSNE:
        result.embedding = tsne(weights, tsne_seed)
        result.entropy = embedding_entropy(result.embedding)
        result.max_entropy = math.log2(min(len(groups), EMBEDDING_BINS**2))
    return result


def plot_analysis(result: GroupAnalysis, path: str, title: str = "") -> None:
    """AWC along the chain of groups, and the t-SNE embedding coloured by group index."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise InvalidConfigError(
            "plots need matplotlib; install it with `pip install 'napari-sincs[analysis]'`."
        ) from exc

    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    x = np.arange(len(result.pairs))
    left.plot(x, [p["weight_awc"] for p in result.pairs], "o-", label="weights")
    left.plot(x, [p["pixel_awc"] for p in result.pairs], "s-", label="pixels")
    left.set(xlabel="neighbouring pair of groups", ylabel="AWC (sup |F1 - F2|)", ylim=(0, 1))
    left.legend()
    if result.embedding is not None:
        points = right.scatter(*result.embedding.T, c=np.arange(len(result.embedding)), s=18)
        figure.colorbar(points, ax=right, label="group")
        right.set(title=f"t-SNE of group weights, H = {result.entropy:.2f} bits")
    else:
        right.text(0.5, 0.5, f"t-SNE needs ≥ {MIN_GROUPS_FOR_TSNE} groups", ha="center")
        right.set_axis_off()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
