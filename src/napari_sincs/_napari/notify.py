"""Errors reach napari users as notifications carrying the codec's message, not tracebacks."""

from __future__ import annotations


def notify_error(message: str) -> None:
    from napari.utils.notifications import show_error

    show_error(message)
