import numpy as np
import pytest
import tifffile

from napari_sincs.codec.errors import InvalidInputError, MissingFileError, OutputError
from napari_sincs.codec.format.header import ImageMetadata
from napari_sincs.io import read_image, write_tiff


def test_imagej_tiff_keeps_axes_voxel_size_and_unit(data_dir):
    image = read_image(data_dir / "nuclei3d_crop.tif")
    assert image.axes == "zyx" and image.data.shape == (16, 48, 48)
    assert image.metadata.scale == pytest.approx({"x": 0.5, "y": 0.5, "z": 1.0})
    assert image.metadata.units == {"x": "µm", "y": "µm", "z": "µm"}
    movie = read_image(data_dir / "cell_migration_crop.tif")
    assert movie.axes == "tyx"
    assert movie.metadata.scale == {"t": 60.0}


def test_ome_tiff_keeps_channel_names(data_dir):
    image = read_image(data_dir / "hela_crop.tif")
    assert image.axes == "cyx"
    assert image.metadata.channel_names == ["lysosomes", "mitochondria", "nucleus"]
    assert image.metadata.scale == pytest.approx({"x": 0.0515, "y": 0.0515})


def test_png_and_explicit_axes(data_dir):
    image = read_image(data_dir / "cell_phase_crop.png")
    assert image.axes == "yx" and image.data.dtype == np.uint8
    plain = read_image(data_dir / "nuclei3d_crop.tif", axes="tyx")
    assert plain.axes == "tyx"


def test_ome_tiff_round_trip(tmp_path):
    data = np.arange(2 * 3 * 8 * 9, dtype=np.int16).reshape(2, 3, 8, 9)
    meta = ImageMetadata(
        "x", {"z": 2.0, "y": 0.5, "x": 0.5, "t": 3.0}, {"z": "µm", "y": "µm", "x": "µm", "t": "s"}
    )
    path = tmp_path / "out.tif"
    write_tiff(path, data, "tzyx", meta)
    back = read_image(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.axes == "tzyx"
    assert back.metadata.scale == pytest.approx(meta.scale)
    with pytest.raises(OutputError, match="already exists"):
        write_tiff(path, data, "tzyx", meta)
    assert [p.name for p in tmp_path.iterdir()] == ["out.tif"]


def test_unreadable_inputs_fail_clearly(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        read_image(tmp_path / "nope.tif")
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff at all")
    with pytest.raises(InvalidInputError, match="cannot read broken.tif"):
        read_image(broken)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(InvalidInputError, match="cannot read notes.png"):
        read_image(text)
    tifffile.imwrite(tmp_path / "odd.tif", np.zeros((2, 3, 4, 5, 6, 7), np.uint8))
    with pytest.raises(InvalidInputError):
        read_image(tmp_path / "odd.tif")
