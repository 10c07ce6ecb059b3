"""What a progress bar shows: the stage, the part of the whole run, elapsed time and time left."""

from __future__ import annotations

from napari_sincs.progress import (
    FIT,
    SALIENCY,
    VERIFY,
    WRITE,
    ProgressClock,
    ProgressEvent,
    clock,
)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_stage_estimates_its_time_left_from_its_own_pace() -> None:
    time = FakeTime()
    bar = ProgressClock(time)
    first = bar.view(ProgressEvent(0, 2, 0, 100, 1.0, FIT))
    assert first.remaining is None and "left" not in first.text
    assert first.text.startswith("fitting group 1/2")
    time.now += 10
    halfway = bar.view(ProgressEvent(0, 2, 100, 100, 1.0, FIT))
    # Half of the stage in 10 s: 10 s left, and the bar is half-way through fitting's span.
    assert halfway.remaining == 10
    assert halfway.text.endswith("loss 1.00e+00 · 0:10 · about 0:10 left in this stage")
    assert halfway.short == "fitting · about 0:10 left"
    assert 0.4 < halfway.fraction < 0.5


def test_a_refit_restarts_the_stage_clock_but_not_the_elapsed_time() -> None:
    time = FakeTime()
    bar = ProgressClock(time)
    bar.view(ProgressEvent(0, 1, 0, 10, 1.0, FIT))
    time.now += 30
    refit = bar.view(ProgressEvent(0, 1, 1, 10, 1.0, FIT, attempt=2))
    assert "(refit 2)" in refit.text and "0:30" in refit.text and refit.remaining is None
    time.now += 2
    later = bar.view(ProgressEvent(0, 1, 5, 10, 1.0, FIT, attempt=2))
    assert later.remaining == 2 and later.short == "fitting · refit 2 · about 0:02 left"


def test_stages_fill_the_bar_in_order() -> None:
    bar = ProgressClock(FakeTime())
    events = [
        ProgressEvent(0, 1, 1, 2, 0.0, SALIENCY),
        ProgressEvent(0, 1, 5, 10, 1.0, FIT),
        ProgressEvent(3, 10, 0, 0, 0.0, VERIFY),
        ProgressEvent(0, 1, 0, 0, 0.0, WRITE),
        ProgressEvent(1, 1, 0, 0, 0.0, WRITE),
    ]
    fractions = [bar.view(event).fraction for event in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    texts = [bar.view(event).text.split(" · ")[0] for event in events]
    assert texts == [
        "saliency 50%",
        "fitting group 1/1",
        "verifying plane 3/10",
        "writing",
        "writing",
    ]


def test_clock() -> None:
    assert [clock(s) for s in (7, 65, 3723)] == ["0:07", "1:05", "1:02:03"]
