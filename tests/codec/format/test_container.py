import json
import struct
import zlib

import pytest

from helpers import DATA
from napari_sincs.codec.errors import (
    CorruptFileError,
    MissingFileError,
    OutputError,
    UnsupportedVersionError,
)
from napari_sincs.codec.format.container import (
    FORMAT_VERSION,
    INDEX_ENTRY,
    MAGIC,
    PREAMBLE,
    SincsFile,
    pack,
    write_atomic,
)

HEADER = {"array": {"shape": [4, 4]}, "note": "µm"}
BLOBS = [b"first blob", b"", b"\x00\x01\x02" * 100]


def test_pack_then_read_gives_back_header_and_blobs(tmp_path):
    path = tmp_path / "a.sincs"
    write_atomic(path, pack(HEADER, BLOBS))
    with SincsFile(path) as f:
        assert f.header == HEADER
        assert [f.read_blob(i) for i in range(f.n_blobs)] == BLOBS
        assert f.version == FORMAT_VERSION == (2, 0)
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    magic, major, minor, header_len, header_crc, count, index_crc = PREAMBLE.unpack_from(data)
    assert (major, minor, count) == (2, 0, 3)
    assert zlib.crc32(data[PREAMBLE.size : PREAMBLE.size + header_len]) == header_crc
    index_start = PREAMBLE.size + header_len
    index = data[index_start : index_start + INDEX_ENTRY.size * count]
    assert zlib.crc32(index) == index_crc
    assert [length for length, _ in INDEX_ENTRY.iter_unpack(index)] == [len(b) for b in BLOBS]
    assert b"pickle" not in data


def test_each_major_version_reads_with_its_own_dictionary(tmp_path):
    written_before = DATA / "fixtures" / "latent_2dt.sincs"
    with SincsFile(written_before) as old:
        assert old.version[0] == 1
        header = old.header
    again = tmp_path / "again.sincs"
    write_atomic(again, pack(header, BLOBS))
    with SincsFile(again) as new:
        assert new.version == (2, 0) and new.header == header
    packed_before = PREAMBLE.unpack_from(written_before.read_bytes())[3]
    assert PREAMBLE.unpack_from(again.read_bytes())[3] < 0.6 * packed_before


def test_every_truncation_is_a_corrupt_file_error(tmp_path):
    data = pack(HEADER, BLOBS)
    path = tmp_path / "t.sincs"
    for cut in range(len(data)):
        path.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError), SincsFile(path) as f:
            for i in range(f.n_blobs):
                f.read_blob(i)


def test_every_single_bit_flip_is_caught(tmp_path):
    data = bytearray(pack(HEADER, BLOBS))
    path = tmp_path / "f.sincs"
    caught = 0
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 1 << (position % 8)
        path.write_bytes(bytes(flipped))
        try:
            with SincsFile(path) as f:
                blobs = [f.read_blob(i) for i in range(f.n_blobs)]
                unchanged = f.header == HEADER and blobs == BLOBS
        except CorruptFileError:
            caught += 1
            continue
        assert unchanged, f"a flip at byte {position} changed the content silently"
        assert position in (10, 11), "only the minor version may change without notice"
    assert caught >= len(data) - 2


def test_other_files_and_versions_are_refused_clearly(tmp_path):
    other = tmp_path / "image.tif"
    other.write_bytes(b"II*\x00" + b"\x00" * 100)
    with pytest.raises(CorruptFileError, match="not a .sincs file"):
        SincsFile(other)
    newer = bytearray(pack(HEADER, BLOBS))
    struct.pack_into("<HH", newer, 8, 3, 0)
    (tmp_path / "new.sincs").write_bytes(bytes(newer))
    with pytest.raises(UnsupportedVersionError, match="format 3.0.*reads formats 1.x and 2.x"):
        SincsFile(tmp_path / "new.sincs")
    later_minor = bytearray(pack(HEADER, BLOBS))
    struct.pack_into("<H", later_minor, 10, 7)
    (tmp_path / "minor.sincs").write_bytes(bytes(later_minor))
    with SincsFile(tmp_path / "minor.sincs") as f:
        assert f.version == (2, 7) and f.header == HEADER
    with pytest.raises(MissingFileError, match="does not exist"):
        SincsFile(tmp_path / "missing.sincs")


def test_absurd_counts_do_not_allocate(tmp_path):
    data = bytearray(pack(HEADER, BLOBS))
    struct.pack_into("<I", data, 20, 0xFFFFFFFF)
    (tmp_path / "big.sincs").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="more than the file can hold"):
        SincsFile(tmp_path / "big.sincs")
    data = bytearray(pack(HEADER, BLOBS))
    struct.pack_into("<I", data, 12, 0x7FFFFFFF)
    (tmp_path / "hdr.sincs").write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="header claims"):
        SincsFile(tmp_path / "hdr.sincs")


def test_json_header_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "list.sincs"
    path.write_bytes(pack(["not", "an", "object"], []))  # type: ignore[arg-type]
    with pytest.raises(CorruptFileError, match="not a JSON object"):
        SincsFile(path)
    assert json.loads(json.dumps(HEADER)) == HEADER


def test_atomic_write_refuses_to_overwrite_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.sincs"
    write_atomic(path, b"one")
    with pytest.raises(OutputError, match="already exists"):
        write_atomic(path, b"two")
    assert path.read_bytes() == b"one"
    write_atomic(path, b"three", overwrite=True)
    assert path.read_bytes() == b"three"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sincs"]
    with pytest.raises(OutputError, match="does not exist"):
        write_atomic(tmp_path / "missing" / "x.sincs", b"data")
    with pytest.raises(OutputError, match="is a directory"):
        write_atomic(tmp_path, b"data", overwrite=True)
