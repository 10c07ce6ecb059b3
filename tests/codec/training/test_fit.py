import numpy as np
import pytest
import torch

from helpers import load
from napari_sincs.codec.errors import CompressionCancelled
from napari_sincs.codec.families.pe_mlp import ExactPeMlp, PeMlpSpec
from napari_sincs.codec.training.fit import FitSettings, fit_chain, fit_group
from napari_sincs.progress import CancelToken

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    movie = load("cell_migration_crop.tif").astype(np.float32)
    return (movie - movie.min()) / np.ptp(movie)


def _spec(shape) -> PeMlpSpec:
    return PeMlpSpec("pe_mlp", ("y", "x"), shape, width=24, depth=2, frequencies=(4, 4))


def _fit(image: np.ndarray, **changes):
    """fit_group from scratch with uniform sampling, unless `changes` say otherwise."""
    kwargs = dict(
        weights=None, init=None, steps=150, learning_rate=5e-3, batch_size=2048, seed=0, device=CPU
    )
    return fit_group(_spec(image.shape), image, **{**kwargs, **changes})


def test_training_lowers_the_loss_and_is_reproducible(frames):
    first = _fit(frames[0], seed=3)
    again = _fit(frames[0], seed=3)
    assert first.losses[-1] < 0.3 * first.losses[0]
    torch.testing.assert_close(first.parameters, again.parameters)


def test_weight_transfer_starts_closer_to_the_next_group(frames):
    spec = _spec(frames.shape[1:])
    settings = FitSettings(150, 60, 5e-3, 2048, True, 0)
    transferred = fit_chain(spec, [0, 1], lambda g: (frames[g], None), settings, CPU)
    scratch = _fit(frames[1], steps=60, seed=1)
    assert transferred[1].losses[0] < 0.5 * scratch.losses[0]
    assert transferred[1].loss < scratch.loss


def test_progress_reports_real_steps_and_cancel_stops_training(frames):
    token = CancelToken()
    seen: list[tuple[int, float]] = []

    def on_step(step: int, loss: float) -> None:
        seen.append((step, loss))
        if step >= 30:
            token.cancel()

    with pytest.raises(CompressionCancelled, match="no file was written"):
        _fit(frames[0], steps=1000, batch_size=1024, on_step=on_step, cancel=token)
    assert [s for s, _ in seen] == [10, 20, 30]
    assert all(loss > 0 for _, loss in seen)


def test_saliency_weights_pull_samples_to_the_foreground(frames):
    image = frames[0]
    mask = image > np.quantile(image, 0.8)
    weights = np.where(mask, 1.0, 0.05).astype(np.float32)
    salient = _fit(image, weights=weights, steps=200)
    uniform = _fit(image, steps=200)

    def foreground_error(fit):
        network = ExactPeMlp(_spec(image.shape), fit.parameters.double().numpy(), CPU)
        out = network.evaluate([np.arange(n) for n in image.shape])
        return float(np.mean((out - image)[mask] ** 2))

    assert foreground_error(salient) < foreground_error(uniform)
