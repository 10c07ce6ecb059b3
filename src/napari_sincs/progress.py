"""Progress reports and cancellation, shared by the encoder, the CLI and the napari widgets.

Kept apart from the codec's stages so that reading a file never imports training code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from .codec.errors import CompressionCancelled

FIT = "fit"
RESIDUAL = "residual"
VERIFY = "verify"
STAGE_WORDS = {FIT: "fitting", RESIDUAL: "residuals", VERIFY: "verifying"}
"""Each stage's name as a progress bar shows it."""


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    While fitting (stage "fit"): `group` of `groups` is being trained, at `step` of `steps`, with
    the mean loss of the last few steps; `attempt` counts refits after a rate-control resize.
    While coding residuals (stage "residual"): `group` of `groups` residuals are done.
    While verifying (stage "verify"): `group` of `groups` counts (y, x) planes decoded so far.
    """

    group: int
    groups: int
    step: int
    steps: int
    loss: float
    stage: str = FIT
    attempt: int = 1


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Shared flag a GUI or signal handler sets to stop a running compression."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CompressionCancelled("compression cancelled by the user; no file was written.")


def check(cancel: CancelToken | None) -> None:
    """Raise CompressionCancelled if `cancel` is set (nothing when there is no token)."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def report(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send `event` to `progress`, if there is a callback."""
    if progress is not None:
        progress(event)
