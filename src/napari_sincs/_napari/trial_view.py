"""The trial on a crop in the viewer: where the user is looking, and the decoded crop laid over
the original at the crop's place, so toggling it shows what the settings lose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..trial import Trial
from .camera import camera_of

if TYPE_CHECKING:
    import napari

TRIAL_SUFFIX = " (crop trial)"


def view_centre(viewer: napari.Viewer, layer: Any) -> tuple[float, ...]:
    """The layer's data position at the centre of the view, one value per axis of its data
    (an RGB layer's colours last): the sliders along hidden axes, the camera along shown ones."""
    point = list(viewer.dims.point)
    displayed = list(viewer.dims.displayed)
    for axis, value in zip(displayed, camera_of(viewer).center[-len(displayed) :]):
        point[axis] = value
    centre = [float(v) for v in layer.world_to_data(point[-layer.ndim :])]
    if layer.rgb:
        centre.append(0.0)
    return tuple(centre)


def show_trial(viewer: napari.Viewer, layer: Any, trial: Trial) -> Any:
    """Add the decoded crop as "<name> (crop trial)" over `layer` with its display settings and
    its outline, replacing the previous trial of that layer; returns the new layer."""
    name = layer.name + TRIAL_SUFFIX
    if name in viewer.layers:
        viewer.layers.remove(name)
    start = np.asarray([piece.start for piece in trial.box[: layer.ndim]], dtype=float)
    kwargs: dict[str, Any] = dict(
        name=name,
        rgb=layer.rgb,
        scale=layer.scale,
        translate=np.asarray(layer.translate) + start * np.asarray(layer.scale),
        units=layer.units,
        axis_labels=layer.axis_labels,
        blending=layer.blending,
    )
    if not layer.rgb:
        kwargs |= dict(contrast_limits=layer.contrast_limits, colormap=layer.colormap)
    added = viewer.add_image(trial.decoded, **kwargs)
    added.bounding_box.visible = True
    added.bounding_box.points = False
    viewer.layers.selection.active = layer
    return added
