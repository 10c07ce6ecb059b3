"""Long work shown in napari's activity dock (a bar with a cancel button) as well as in a widget.

Progress events come from worker threads; everything here runs on the GUI thread, reached
through a Qt signal, since napari's progress objects drive Qt widgets.
"""

from __future__ import annotations

from collections.abc import Callable

from napari.utils import cancelable_progress

from ..progress import ProgressView

STEPS = 1000
"""Resolution of the activity bar (napari's bars count integer steps)."""


class ActivityBar(cancelable_progress):
    """A napari activity bar whose cancel button stops the work at once (napari's own
    cancelable_progress only stops a loop it iterates, and this work is not such a loop)."""

    def __init__(self, title: str, on_cancel: Callable[[], None]) -> None:
        super().__init__(total=STEPS, desc=title, cancel_callback=on_cancel)
        self.title = title

    def cancel(self) -> None:
        super().cancel()
        if self.cancel_callback is not None:
            self.cancel_callback()

    def show(self, view: ProgressView) -> None:
        """Move the bar on to `view`'s fraction of the whole work (a refit does not move it
        back), described by the title and `view`'s short line (the dock is narrow)."""
        self.update(max(0, int(STEPS * view.fraction) - self.n))
        self.set_description(f"{self.title}: {view.short}")
