"""Progress reports and cancellation, shared by the encoder, the CLI and the napari widgets.

Kept apart from the codec's stages so that reading a file never imports training code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .codec.errors import CompressionCancelled

SALIENCY = "saliency"
FIT = "fit"
RESIDUAL = "residual"
VERIFY = "verify"
WRITE = "write"
DECODE = "decode"
STAGE_WORDS = {
    SALIENCY: "saliency",
    FIT: "fitting",
    RESIDUAL: "residuals",
    VERIFY: "verifying",
    WRITE: "writing",
    DECODE: "decoding",
}
"""Each stage's name as a progress bar shows it."""
STAGE_SPANS = {
    SALIENCY: (0.0, 0.05),
    FIT: (0.05, 0.85),
    RESIDUAL: (0.85, 0.9),
    VERIFY: (0.9, 0.99),
    WRITE: (0.99, 1.0),
}
"""The part of one bar each stage fills, in the order they run (fitting is most of the time)."""
ESTIMATE_AFTER = (0.02, 1.0)
"""A stage's time left is shown once it is this far along and has run this many seconds."""


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    While preparing the saliency map (stage "saliency"): part `group` of `groups` (training,
    then mapping, for a preview) at `step` of `steps`.
    While fitting (stage "fit"): `group` of `groups` is being trained, at `step` of `steps`, with
    the mean loss of the last few steps; `attempt` counts refits after a rate-control resize.
    While coding residuals (stage "residual"): `group` of `groups` residuals are done.
    While verifying (stage "verify"): `group` of `groups` counts (y, x) planes decoded so far.
    While writing (stage "write"): `group` of `groups` is 0 of 1 at the start, 1 of 1 at the end.
    While decoding a region (stage "decode"): `group` of `groups` slabs are decoded.
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


def stage_fraction(event: ProgressEvent) -> float:
    """How far along its own stage an event is, in [0, 1]."""
    if event.stage in (FIT, SALIENCY):
        return (event.group + event.step / max(1, event.steps)) / max(1, event.groups)
    return event.group / max(1, event.groups)


def clock(seconds: float) -> str:
    """0:07, 1:05, 1:02:03."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class ProgressView:
    """What a progress bar shows for one event: the filled part of the whole run and a line."""

    fraction: float
    text: str
    elapsed: float
    remaining: float | None
    short: str = ""
    """The stage and the time left alone, for narrow places (napari's activity dock)."""


class ProgressClock:
    """Turns events into a bar's fraction and a line with the stage, the elapsed time and the
    time left in the stage, estimated from the stage's own pace (a refit under rate control
    starts the stage's clock again, since its pace is new)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._started = now()
        self._stage: tuple[str, int] | None = None
        self._stage_started = self._started

    def view(self, event: ProgressEvent) -> ProgressView:
        now = self._now()
        key = (event.stage, event.attempt)
        if key != self._stage:
            self._stage, self._stage_started = key, now
        done = min(1.0, max(0.0, stage_fraction(event)))
        low, high = STAGE_SPANS.get(event.stage, (0.0, 1.0))
        spent = now - self._stage_started
        remaining = None
        if done >= ESTIMATE_AFTER[0] and spent >= ESTIMATE_AFTER[1]:
            remaining = spent * (1 - done) / done
        parts = [_stage_line(event), clock(now - self._started)]
        short = [STAGE_WORDS.get(event.stage, event.stage)]
        if event.attempt > 1:
            short.append(f"refit {event.attempt}")
        if remaining is not None and done < 1:
            parts.append(f"about {clock(remaining)} left in this stage")
            short.append(f"about {clock(remaining)} left")
        fraction = low + (high - low) * done
        text = " · ".join(parts)
        return ProgressView(fraction, text, now - self._started, remaining, " · ".join(short))


def _stage_line(event: ProgressEvent) -> str:
    word = STAGE_WORDS.get(event.stage, event.stage)
    if event.stage == FIT:
        refit = "" if event.attempt == 1 else f" (refit {event.attempt})"
        return f"{word} group {event.group + 1}/{event.groups}{refit} · loss {event.loss:.2e}"
    if event.stage == SALIENCY:
        return f"{word} {100 * stage_fraction(event):.0f}%"
    if event.stage == WRITE:
        return word
    unit = "plane" if event.stage == VERIFY else "group"
    return f"{word} {unit} {event.group}/{event.groups}"
