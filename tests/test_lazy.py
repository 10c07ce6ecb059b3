"""SincsArray behaves like the numpy array it decodes to, and decodes only what is asked."""

from __future__ import annotations

import numpy as np
import pytest

import napari_sincs as sincs
from helpers import FAST, load
from napari_sincs.lazy import TileCache


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    data = load("cell_migration_crop.tif")
    path = tmp_path_factory.mktemp("lazy") / "movie.sincs"
    sincs.compress(data, path, axes="tyx", config=FAST, time_groups=2, block=(32, 32))
    return path, sincs.decode(path)


@pytest.mark.parametrize(
    "key",
    [
        (3,),
        (slice(1, 5), slice(10, 40), slice(0, 64, 3)),
        (Ellipsis, 5),
        (-1, Ellipsis, slice(-10, None)),
        (np.int64(2), 7, 9),
        (slice(None, None, 2),),
        (slice(5, 2),),
    ],
)
def test_indexing_matches_numpy(movie, key):
    path, full = movie
    with sincs.open_sincs(path) as lazy:
        np.testing.assert_array_equal(lazy[key], full[key])
        assert lazy.shape == full.shape and lazy.dtype == full.dtype and lazy.ndim == 3
        np.testing.assert_array_equal(np.asarray(lazy), full)


def test_bad_keys_say_what_is_supported(movie):
    path, _ = movie
    with sincs.open_sincs(path) as lazy:
        with pytest.raises(IndexError, match="out of bounds"):
            lazy[8]
        with pytest.raises(IndexError, match="too many indices"):
            lazy[0, 0, 0, 0]
        with pytest.raises(IndexError, match="integers, slices"):
            lazy[[0, 1]]
        with pytest.raises(IndexError, match="negative steps"):
            lazy[::-1]


def test_levels_form_a_pyramid_of_subsamplings(movie):
    path, full = movie
    with sincs.open_sincs(path) as lazy:
        levels = lazy.levels
        assert [level.shape for level in levels] == [(8, 64, 64)]
        coarse = lazy.at_level(1)
        assert coarse.shape == (8, 32, 32)
        np.testing.assert_array_equal(coarse[2], full[2, ::2, ::2])


def test_tiles_are_cached_and_reused(movie):
    path, _ = movie
    with sincs.open_sincs(path, cache_bytes=1 << 20) as lazy:
        lazy[0, :20, :20]
        evaluated = lazy.decoder.groups_evaluated
        assert lazy.cache.misses == 1
        lazy[0, 5:30, 10:20]
        assert lazy.cache.hits == 1
        assert lazy.decoder.groups_evaluated == evaluated
        lazy[1, :20, :20]
        assert lazy.cache.misses == 2


def test_cache_stays_within_its_budget():
    cache = TileCache(max_bytes=1000)
    for i in range(10):
        cache.put(i, np.zeros(300, np.uint8))
    assert cache.bytes <= 1000
    assert cache.get(9) is not None and cache.get(0) is None


def test_dask_and_zarr_conventions_hold(movie):
    import dask.array as da

    path, whole = movie
    with sincs.open_sincs(path) as lazy:
        assert isinstance(lazy.chunks, tuple) and len(lazy.chunks) == lazy.ndim
        assert (lazy.shape, lazy.dtype, lazy.ndim) == (whole.shape, whole.dtype, whole.ndim)
        array = da.from_array(lazy, chunks=lazy.chunks)
        assert array.chunksize == lazy.chunks
        np.testing.assert_array_equal(array[2:6, 5:40].compute(), whole[2:6, 5:40])


def test_a_damaged_blob_blanks_only_the_voxels_that_depend_on_it(tmp_path):
    """A chain's weights are one blob: damage blanks that chain's groups and nothing else."""
    path = tmp_path / "chains.sincs"
    movie = load("cell_migration_crop.tif")
    config = FAST.replace(time_groups=2, block=(32, 32), keyframe_interval=2, steps=60)
    sincs.compress(movie, path, axes="tyx", config=config)
    full = sincs.decode(path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    damaged = tmp_path / "damaged.sincs"
    damaged.write_bytes(bytes(data))
    met = []
    with sincs.open_sincs(damaged, cache_bytes=0) as lazy:
        with pytest.raises(sincs.CorruptFileError, match="checksum"):
            lazy[...]
        salvaged = lazy.salvage(..., lambda where, exc: met.append((where, str(exc))))
        plan = lazy.header.plan
    blank = salvaged != full
    assert blank.any() and not blank.all()
    np.testing.assert_array_equal(salvaged[~blank], full[~blank])
    assert (salvaged[blank] == 0).all()
    assert met and all("checksum" in message for _, message in met)
    # What the callback names is exactly what came back blank.
    named = np.zeros(full.shape, dtype=bool)
    for where, _ in met:
        index = []
        for part in where.split("; "):
            axis, _, value = part.partition(" ")
            if axis == "t":
                first = int(value.split(",")[0])
                index.append(slice(first, None, plan.time_groups))
            else:
                lo, hi = value.split(":")
                index.append(slice(int(lo), int(hi)))
        named[tuple(index)] = True
    assert not (blank & ~named).any(), "nothing blank that the callback did not name"
    assert named.sum() < full.size / 2, "a damaged blob blanks a part, not the movie"
