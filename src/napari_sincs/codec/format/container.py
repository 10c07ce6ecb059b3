"""The .sincs container: fixed preamble, compressed JSON header, blob index, blobs.

Byte layout (all integers little-endian; docs/format.md is the normative description):

    0   8  magic b"\\x89SINCS\\r\\n"
    8   2  major format version        10  2  minor format version
    12  4  header length H             16  4  CRC-32 of the H header bytes
    20  4  blob count B                24  4  CRC-32 of the 8*B index bytes
    28  H  header: one zstd frame holding UTF-8 JSON (raw-content dictionary HEADER_DICTIONARY)
    ..  8B index: per blob, length (u32) and CRC-32 of its bytes (u32)
    ..     blobs, back to back in index order; the file ends after the last one

Files are written to a temporary file beside the target, fsync'ed and renamed into place, so a
reader sees either the old file or the complete new one.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import zstandard

from .. import presets
from ..errors import CorruptFileError, MissingFileError, OutputError, UnsupportedVersionError
from .packing import MAX_EXPANSION

MAGIC = b"\x89SINCS\r\n"
FORMAT_VERSION = (1, 2)
PREAMBLE = struct.Struct("<8sHHIIII")
INDEX_ENTRY = struct.Struct("<II")
MAX_HEADER_BYTES = 16 << 20
MAX_JSON_BYTES = 64 << 20
MAX_BLOBS = 1 << 24

# Raw-content zstd dictionary for the header (part of format 1, never to be changed): a typical
# header, so that the few hundred bytes of keys cost almost nothing in a file of a few kB.
HEADER_DICTIONARY = (
    b'{"array":{"axes":"tczyx","dtype":"uint16","shape":[10,2,20,256,256]},"codec":{"name":'
    b'"napari-sincs","version":"0.1.0"},"coding":{"bits":7.469,"residual":true},"config":'
    b'{"batch_size":1024,"block":null,"depth":3,"device":"auto","family":"pe_mlp",'
    b'"frequencies":null,"keyframe_interval":16,"learning_rate":0.005,"ratio":100.0,'
    b'"residual_coding":true,"saliency":"threshold","saliency_floor":0.3,"seed":0,"steps":6000,'
    b'"threshold":null,"time_groups":null,"transfer_steps":null,"weight_bits":9.0,'
    b'"weight_transfer":true,"width":null},"intensity":{"max":[255.0],"min":[0.0]},"meta":'
    b'{"channel_names":["channel 0"],"name":"image","scale":{"t":1.0,"x":0.1,"y":0.1,"z":0.5},'
    b'"units":{"t":"s","x":"\\u00b5m","y":"\\u00b5m","z":"\\u00b5m"}},"model":{"axes":["t","z",'
    b'"y","x"],"depth":3,"extents":[4,16,128,128],"family":"pe_mlp","frequencies":[1,3,6,6],'
    b'"width":22},"plan":{"block":[31,61,57],"keyframe_interval":16,"time_groups":1},"stats":'
    b'{"device":"cpu","psnr":30.0,"ssim":0.9}}'
)
_DICTIONARY = zstandard.ZstdCompressionDict(
    HEADER_DICTIONARY, dict_type=zstandard.DICT_TYPE_RAWCONTENT
)


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _head(header: dict[str, Any], blobs: Sequence[bytes]) -> bytes:
    """Preamble, packed header and index: everything before the first blob."""
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False)
    packed_header = zstandard.ZstdCompressor(
        level=presets.ZSTD_LEVEL, dict_data=_DICTIONARY, write_dict_id=False
    ).compress(text.encode("utf-8"))
    index = b"".join(INDEX_ENTRY.pack(len(b), _crc(b)) for b in blobs)
    preamble = PREAMBLE.pack(
        MAGIC,
        *FORMAT_VERSION,
        len(packed_header),
        _crc(packed_header),
        len(blobs),
        _crc(index),
    )
    return preamble + packed_header + index


def pack(header: dict[str, Any], blobs: Sequence[bytes]) -> bytes:
    """The complete bytes of a .sincs file (small files; write_container streams)."""
    return b"".join([_head(header, blobs), *blobs])


def packed_size(header: dict[str, Any], blobs: Sequence[bytes]) -> int:
    """Size of the file `pack` would make, without building it."""
    return len(_head(header, blobs)) + sum(len(b) for b in blobs)


class BlobSource(Protocol):
    """What a Decoder reads: a header, and blobs by position (SincsFile or MemorySource)."""

    header: dict[str, Any]
    n_blobs: int
    path: Path

    def read_blob(self, index: int) -> bytes: ...

    def close(self) -> None: ...


class MemorySource:
    """A file not yet written (header and blobs in memory or spilled), readable by a Decoder."""

    def __init__(self, header: dict[str, Any], blobs: Sequence[bytes]) -> None:
        self.header = header
        self.blobs = blobs
        self.path = Path("<being written>.sincs")
        self.n_blobs = len(blobs)
        self.version = FORMAT_VERSION

    def read_blob(self, index: int) -> bytes:
        return self.blobs[index]

    def close(self) -> None:
        return None


def check_writable(path: Path, overwrite: bool) -> None:
    """Fail early, before any work, if the output cannot be written."""
    if path.exists() and not overwrite:
        raise OutputError(
            f"{path} already exists; choose another name or allow overwriting "
            "(overwrite=True, or --force on the command line)."
        )
    if path.is_dir():
        raise OutputError(f"{path} is a directory; give a file name ending in .sincs.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"the folder {parent} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"the folder {parent} is not writable; choose another output folder.")


def _anonymous_file(folder: Path) -> tuple[int, Path | None]:
    """A file in `folder` with no name yet (Linux O_TMPFILE), else a named temporary file.

    An anonymous file vanishes by itself if the process is killed while writing it. Some file
    systems accept O_TMPFILE but cannot give the file a name afterwards (overlayfs), so that is
    tried first on an empty probe.
    """
    mode = 0o666 & ~_umask()
    if _can_link_anonymous(folder):
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY, mode), None
    fd, name = tempfile.mkstemp(prefix=".sincs-", suffix=".tmp", dir=folder)
    os.fchmod(fd, mode)
    return fd, Path(name)


def _link_anonymous(fd: int, name: Path) -> None:
    """Give an O_TMPFILE file a name (linkat with AT_SYMLINK_FOLLOW through /proc/self/fd)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY)
    try:
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _can_link_anonymous(folder: Path) -> bool:
    probe = folder / f".sincs-probe-{os.getpid()}-{threading.get_ident()}"
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except (AttributeError, OSError):
        return False
    try:
        _link_anonymous(fd, probe)
    except (OSError, NotImplementedError):
        return False
    finally:
        os.close(fd)
    probe.unlink(missing_ok=True)
    return True


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_container(
    path: str | os.PathLike[str],
    header: dict[str, Any],
    blobs: Sequence[bytes],
    overwrite: bool = False,
) -> int:
    """Write a .sincs file (streaming its blobs) so that it appears whole or not at all."""
    return write_atomic(path, itertools.chain([_head(header, blobs)], blobs), overwrite)


def write_atomic(
    path: str | os.PathLike[str], chunks: bytes | Iterable[bytes], overwrite: bool = False
) -> int:
    """Write `chunks` to `path` so that it appears whole or not at all; returns the size.

    The bytes go to a nameless file beside the target, are fsync'ed, given a temporary name and
    renamed over the target: a crash leaves the old file or the complete new one, and (on Linux)
    no temporary file.
    """
    target = Path(path)
    check_writable(target, overwrite)
    if isinstance(chunks, bytes):
        chunks = [chunks]
    fd, linked = _anonymous_file(target.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb", closefd=False) as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(fd)
        if not overwrite and target.exists():
            raise OutputError(f"{target} appeared while writing; not overwriting it.")
        if linked is None:
            linked = target.parent / f".{target.name}.{os.getpid()}.tmp"
            _link_anonymous(fd, linked)
        os.replace(linked, target)
        linked = None
    finally:
        os.close(fd)
        if linked is not None:
            linked.unlink(missing_ok=True)
    _sync_folder(target.parent)
    return size


def _sync_folder(folder: Path) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class SincsFile:
    """A .sincs file opened for reading: validated preamble, header and index; blobs on demand."""

    def __init__(self, path: str | os.PathLike[str] | bytes) -> None:
        if isinstance(path, bytes):
            self.path = Path("<in memory>.sincs")
            self._handle: BinaryIO = io.BytesIO(path)
        else:
            self.path = Path(path)
            self._handle = self._open()
        self._lock = threading.Lock()
        try:
            self._read_layout()
        except BaseException:
            self._handle.close()
            raise

    def _open(self) -> BinaryIO:
        try:
            return open(self.path, "rb")
        except FileNotFoundError as exc:
            raise MissingFileError(f"{self.path} does not exist; check the path.") from exc
        except OSError as exc:
            raise MissingFileError(f"{self.path} cannot be read ({exc.strerror}).") from exc

    def _fail(self, what: str) -> CorruptFileError:
        return CorruptFileError(
            f"{self.path.name} is not a valid .sincs file: {what}. It may be truncated or damaged; "
            "compress the original again."
        )

    def _read_layout(self) -> None:
        size = self._handle.seek(0, io.SEEK_END)
        self._handle.seek(0)
        raw = self._handle.read(PREAMBLE.size)
        if raw[:8] != MAGIC:
            raise CorruptFileError(
                f"{self.path.name} is not a .sincs file (it does not start with the .sincs "
                "signature); open it with a reader meant for its format."
            )
        if len(raw) < PREAMBLE.size:
            raise self._fail(f"the file is only {size} bytes long")
        _, major, minor, header_len, header_crc, n_blobs, index_crc = PREAMBLE.unpack(raw)
        if major != FORMAT_VERSION[0]:
            raise UnsupportedVersionError(
                f"{self.path.name} uses .sincs format {major}.{minor}, this napari-sincs reads "
                f"format {FORMAT_VERSION[0]}.x; install a matching napari-sincs version."
            )
        self.version = (major, minor)
        if header_len > MAX_HEADER_BYTES or header_len > size - PREAMBLE.size:
            raise self._fail(f"the header claims {header_len} bytes in a {size}-byte file")
        if n_blobs > MAX_BLOBS or PREAMBLE.size + header_len + INDEX_ENTRY.size * n_blobs > size:
            raise self._fail(f"the index claims {n_blobs} blobs, more than the file can hold")
        packed = self._handle.read(header_len)
        if _crc(packed) != header_crc:
            raise self._fail("the header checksum does not match")
        cap = min(MAX_JSON_BYTES, MAX_EXPANSION * len(packed) + 65536)
        try:
            text = zstandard.ZstdDecompressor(dict_data=_DICTIONARY).decompress(
                packed, max_output_size=cap
            )
            self.header: dict[str, Any] = json.loads(text.decode("utf-8"))
        except (
            zstandard.ZstdError,
            UnicodeDecodeError,
            json.JSONDecodeError,
            RecursionError,
        ) as exc:
            raise self._fail(f"the header cannot be decoded ({exc})") from exc
        if not isinstance(self.header, dict):
            raise self._fail("the header is not a JSON object")
        index = self._handle.read(INDEX_ENTRY.size * n_blobs)
        if _crc(index) != index_crc:
            raise self._fail("the index checksum does not match")
        offset = PREAMBLE.size + header_len + len(index)
        self._blobs: list[tuple[int, int, int]] = []
        for length, crc in INDEX_ENTRY.iter_unpack(index):
            self._blobs.append((offset, length, crc))
            offset += length
        if offset != size:
            raise self._fail(f"the index accounts for {offset} bytes but the file has {size}")
        self.file_size = size

    @property
    def n_blobs(self) -> int:
        return len(self._blobs)

    def read_blob(self, index: int) -> bytes:
        """One blob's bytes, after checking its CRC-32."""
        if not 0 <= index < len(self._blobs):
            raise self._fail(f"blob {index} is missing from the index")
        offset, length, crc = self._blobs[index]
        with self._lock:
            if self._handle.closed:
                raise CorruptFileError(f"{self.path.name} was closed; open it again.")
            self._handle.seek(offset)
            data = self._handle.read(length)
        if len(data) != length or _crc(data) != crc:
            raise self._fail(f"blob {index} fails its checksum")
        return data

    def close(self) -> None:
        with self._lock:
            self._handle.close()

    def __enter__(self) -> SincsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
