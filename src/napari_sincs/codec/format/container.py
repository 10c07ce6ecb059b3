"""The .sincs container: fixed preamble, compressed JSON header, blob index, blobs.

Byte layout (all integers little-endian; docs/format.md is the normative description):

    0   8  magic b"\\x89SINCS\\r\\n"
    8   2  major format version        10  2  minor format version
    12  4  header length H             16  4  CRC-32 of the H header bytes
    20  4  blob count B                24  4  CRC-32 of the 8*B index bytes
    28  H  header: one zstd frame holding UTF-8 JSON (dictionary of its major version)
    ..  8B index: per blob, length (u32) and CRC-32 of its bytes (u32)
    ..     blobs, back to back in index order; the file ends after the last one

Files are written to a temporary file beside the target, fsync'ed, closed and renamed into place
(portable to Linux, macOS and Windows), so a reader sees either the old file or the complete new
one.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import secrets
import struct
import threading
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import zstandard

from .. import presets
from ..errors import CorruptFileError, MissingFileError, OutputError, UnsupportedVersionError
from .dictionaries import DICTIONARIES
from .packing import MAX_EXPANSION

MAGIC = b"\x89SINCS\r\n"
FORMAT_VERSION = (2, 0)
PREAMBLE = struct.Struct("<8sHHIIII")
INDEX_ENTRY = struct.Struct("<II")
MAX_HEADER_BYTES = 16 << 20
MAX_JSON_BYTES = 64 << 20
MAX_BLOBS = 1 << 24


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _head(header: dict[str, Any], blobs: Sequence[bytes]) -> bytes:
    """Preamble, packed header and index: everything before the first blob."""
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False)
    packed_header = zstandard.ZstdCompressor(
        level=presets.ZSTD_LEVEL, dict_data=DICTIONARIES[FORMAT_VERSION[0]], write_dict_id=False
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


# Linux can create a file with no name (O_TMPFILE) and name it once complete (linkat through
# /proc/self/fd), so a writer killed mid-way leaves nothing behind. Elsewhere (macOS, Windows)
# the temporary file has a hidden name from the start.
if hasattr(os, "O_TMPFILE"):

    def _open_nameless(folder: Path) -> BinaryIO | None:
        """A nameless file in `folder`, or None where the file system cannot name it later.

        Some file systems accept O_TMPFILE but cannot link the file (overlayfs), so an empty
        probe is created and named first. The kernel applies the umask to the mode.
        """
        probe = folder / f".sincs-probe-{os.getpid()}-{threading.get_ident()}"
        try:
            fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError:
            return None
        try:
            _name_nameless(fd, probe)
        except (OSError, NotImplementedError):
            return None
        finally:
            os.close(fd)
        probe.unlink(missing_ok=True)
        return os.fdopen(os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o666), "wb")

    def _name_nameless(fd: int, name: Path) -> None:
        """Give a file from `_open_nameless` the name `name` (linkat, AT_SYMLINK_FOLLOW)."""
        proc = os.open("/proc/self/fd", os.O_RDONLY)
        try:
            os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
        finally:
            os.close(proc)

else:

    def _open_nameless(folder: Path) -> BinaryIO | None:
        """None: this system has no nameless files, so `_name_nameless` is never needed."""
        return None


def _temporary_name(target: Path) -> Path:
    """A hidden name beside `target` that no other writer picks (random, not the process id,
    which a later process can reuse)."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")


def _open_temporary(target: Path) -> tuple[BinaryIO, Path | None]:
    """A new file beside `target` and its name (None while it has none, on Linux).

    A named file is created exclusively with the default mode (0o666 less the umask, like any
    new file, not mkstemp's 0o600) in binary mode, which Windows needs to keep bytes as written.
    """
    nameless = _open_nameless(target.parent)
    if nameless is not None:
        return nameless, None
    name = _temporary_name(target)
    return open(name, "xb"), name


def replace_file(source: Path, target: Path) -> None:
    """Rename `source` over `target` in one step (os.replace is atomic on POSIX and Windows).

    Windows refuses to replace a file another program (or this one) holds open, so that case
    gets an error that says what to do.
    """
    try:
        os.replace(source, target)
    except PermissionError as exc:
        raise OutputError(
            f"{target} cannot be replaced ({exc.strerror}); if it is open in another program "
            "(or in napari), close it there and try again, or choose another name."
        ) from exc


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

    The bytes go to a temporary file beside the target, are flushed and fsync'ed, the file is
    closed (Windows cannot rename an open file) and renamed over the target, then the folder is
    fsync'ed where the system allows it. A crash leaves the old file or the complete new one. On
    Linux the temporary file has no name until it is complete, so a killed writer leaves nothing
    behind; elsewhere it can leave a hidden `.<name>.<random>.tmp`. An error removes it.
    """
    target = Path(path)
    check_writable(target, overwrite)
    if isinstance(chunks, bytes):
        chunks = [chunks]
    handle, temporary = _open_temporary(target)
    size = 0
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
            if temporary is None:
                name = _temporary_name(target)
                _name_nameless(handle.fileno(), name)
                temporary = name
        if not overwrite and target.exists():
            raise OutputError(f"{target} appeared while writing; not overwriting it.")
        replace_file(temporary, target)
        temporary = None
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
    _sync_folder(target.parent)
    return size


def _sync_folder(folder: Path) -> None:
    """Make the rename durable on POSIX by fsync'ing the folder. Windows cannot open a folder
    (PermissionError) and NTFS journals the rename itself; some file systems refuse the fsync:
    both leave nothing to do."""
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
        if major not in DICTIONARIES:
            known = " and ".join(f"{m}.x" for m in DICTIONARIES)
            raise UnsupportedVersionError(
                f"{self.path.name} uses .sincs format {major}.{minor}, this napari-sincs reads "
                f"formats {known}; install a matching napari-sincs version."
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
            text = zstandard.ZstdDecompressor(dict_data=DICTIONARIES[major]).decompress(
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
