"""Browsing speed in a real napari viewer (run under xvfb-run on a headless machine).

For each .sincs file: time from `viewer.open` to the first drawn screen, then the median time
of one step along the first non-displayed axis (z or t: the next plane is decoded and drawn),
and, for images larger than the screen at 4 screen pixels per voxel, of one pan by half a
screen (the cache is emptied first, so each pan decodes the 256×256 tiles it newly exposes).
Then a scrub: 30 consecutive planes one after the other, with a pause of DWELL seconds between
(a user reading each plane; neighbours are prefetched meanwhile), the median and the slowest
step; and the 3D view: the time to its first drawn screen and the level it shows.
Each figure is the median of `--repeats` opens of the file.
`--prefetch 0 --volume-voxels 1` measures the behaviour before prefetch and the 3D level
(napari's coarsest level in 3D). `--layer-data dask` opens the same layers with each level as a
dask array over the file (`dask.array.from_array` on the tile grid, napari's other lazy route)
instead of the reader's own array; compare it with `--prefetch 0`, since only the reader's array
tells the prefetcher what is shown.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

PAN_ZOOM = 4.0
SCRUB = 30
DWELL = 0.3


def _drain(app) -> None:
    for _ in range(3):
        app.processEvents()


def warm_up() -> None:
    """Create and close one viewer, so napari's one-time start-up is not counted."""
    import napari

    napari.Viewer().close()


def _clear_caches() -> None:
    """Empty the reader's tile cache and napari's dask cache (which outlives a viewer), so that
    every open, scrub and view decodes what it shows, with either kind of layer data."""
    from napari.utils._dask_utils import _DASK_CACHE

    from napari_sincs._napari.cache import shared_cache

    shared_cache().clear()
    _DASK_CACHE.cache.clear()


def _dwell(app, seconds: float) -> None:
    """Let the event loop and the prefetch thread run, as while a user looks at a plane."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.01)


def _timed_step(viewer, axis: int, plane: int) -> float:
    """Seconds to move to `plane` and draw it."""
    started = time.perf_counter()
    viewer.dims.set_current_step(axis, plane)
    viewer.screenshot(canvas_only=True)
    return time.perf_counter() - started


def _scrub(app, viewer, axis: int) -> dict:
    from napari_sincs._napari.cache import shared_cache

    _clear_caches()
    count = min(SCRUB, viewer.dims.nsteps[axis] - 1)
    viewer.dims.set_current_step(axis, 0)
    viewer.screenshot(canvas_only=True)
    times = []
    misses = shared_cache().misses
    for plane in range(1, count + 1):
        _dwell(app, DWELL)
        times.append(_timed_step(viewer, axis, plane))
    return {
        "scrub_planes": count,
        "scrub_step_ms": round(1000 * statistics.median(times), 1),
        "scrub_slowest_ms": round(1000 * max(times), 1),
        "scrub_misses_per_step": round((shared_cache().misses - misses) / count, 1),
    }


def _view_3d(viewer, layer) -> dict:
    _clear_caches()
    started = time.perf_counter()
    viewer.dims.ndisplay = 3
    viewer.screenshot(canvas_only=True)
    seconds = time.perf_counter() - started
    level = layer.data_level
    viewer.dims.ndisplay = 2
    return {"view_3d_s": round(seconds, 3), "level_3d": level}


def _open_as_dask(viewer, path: Path) -> list:
    """The reader's layers with every level as a dask array of the file's level."""
    import dask.array as da

    from napari_sincs import open_sincs
    from napari_sincs._napari import volume_level
    from napari_sincs._napari.cache import shared_cache
    from napari_sincs._napari.file_layers import layers_for

    volume_level.follow(viewer)
    layers = []
    for data, kwargs, _ in layers_for(open_sincs(path, cache_bytes=0), shared_cache()):
        levels = data if isinstance(data, list) else [data]
        arrays = [da.from_array(a.lazy, chunks=a.chunks, asarray=True) for a in levels]
        layers.append(viewer.add_image(arrays if len(arrays) > 1 else arrays[0], **kwargs))
    return layers


def median_row(rows: list[dict]) -> dict:
    """One row of repeated measurements: the median of each number, the rest as measured."""
    merged = dict(rows[0])
    for key, value in merged.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = round(statistics.median(row[key] for row in rows), 3)
    return merged


def measure_viewer(path: Path, steps: int = 8, layer_data: str = "sincs") -> dict:
    """One file's row; `layer_data` is "sincs" (the reader's arrays) or "dask"."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_sincs import open_sincs
    from napari_sincs._napari.cache import shared_cache

    app = QApplication.instance() or QApplication([])
    _clear_caches()
    viewer = napari.Viewer()
    viewer.window.resize(1200, 800)
    _drain(app)
    started = time.perf_counter()
    if layer_data == "dask":
        layers = _open_as_dask(viewer, path)
    else:
        layers = viewer.open(str(path), plugin="napari-sincs")
    viewer.screenshot(canvas_only=True)
    first = time.perf_counter() - started
    layer = layers[0]
    with open_sincs(path) as lazy:
        shape = lazy.shape
    row = {
        "file": path.name,
        "layer_data": layer_data,
        "shape": "×".join(map(str, shape)),
        "first_screen_s": round(first, 3),
    }
    step_times = []
    if viewer.dims.ndim > 2:
        axis = viewer.dims.not_displayed[0]
        count = viewer.dims.nsteps[axis]
        for i in range(min(steps, count - 1)):
            target = (viewer.dims.current_step[axis] + 1 + i * max(1, count // steps)) % count
            step_times.append(_timed_step(viewer, axis, target))
        row["plane_step_ms"] = round(1000 * statistics.median(step_times), 1)
        row |= _scrub(app, viewer, axis)
        if layer.multiscale and "z" in layer.axis_labels:
            row |= _view_3d(viewer, layer)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    spacing = np.asarray(layer.scale[-2:], dtype=float)
    size = np.asarray(
        layer.level_shapes[0][-2:] if layer.multiscale else layer.data.shape[-2:], dtype=float
    )
    canvas = np.asarray(viewer.window._qt_viewer.canvas.size, dtype=float)
    camera.zoom = PAN_ZOOM / spacing.min()
    view = canvas / PAN_ZOOM
    if np.any(size > 1.5 * view):
        position = view / 2
        camera.center = tuple(position * spacing)
        viewer.screenshot(canvas_only=True)
        pans = []
        _clear_caches()
        viewer.screenshot(canvas_only=True)
        misses = shared_cache().misses
        for _ in range(steps):
            axis = 1 if size[1] - position[1] > view[1] else 0
            if size[axis] - position[axis] <= view[axis] / 2:
                break
            position[axis] += view[axis] / 2
            started = time.perf_counter()
            camera.center = tuple(position * spacing)
            viewer.screenshot(canvas_only=True)
            pans.append(time.perf_counter() - started)
        row["pan_ms"] = round(1000 * statistics.median(pans), 1)
        row["pans"] = len(pans)
        row["tiles_per_pan"] = round((shared_cache().misses - misses) / len(pans), 1)
    viewer.close()
    return row
