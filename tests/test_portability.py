"""The package runs on Linux, macOS and Windows: no Unix-only call outside a guarded fallback.

`test_the_package_uses_no_unguarded_unix_only_call` parses every module under src/ and looks
for uses of what only some systems have:

- attributes of a module that exist only on Unix, or only on Linux (UNIX_ATTRIBUTES: `os.pread`,
  `os.fchmod`, `os.O_TMPFILE`, `os.sched_getaffinity`, `signal.SIGKILL`, ...), used as
  `module.name` or imported with `from module import name`;
- imports of modules that exist only on Unix (UNIX_MODULES: `fcntl`, `pwd`, `resource`, ...);
- string literals naming Unix-only paths (`/proc/...`, `/dev/...`, `/tmp/...`, ...), docstrings
  excepted;
- multiprocessing start methods that Windows lacks (`get_context("fork")`).

A use is *guarded* when one of the statements (or conditional expressions) around it is
1. an `if` whose test is `hasattr(module, "name")` for the very attribute used (alone or as an
   operand of `and`), with the use in its body; or `if not hasattr(...)`, with the use in its
   `else` branch. For a path, a `hasattr` test on any attribute of any module counts: the path
   belongs to the feature tested (e.g. /proc/self/fd to os.O_TMPFILE);
2. an `if` whose test reads the platform (`sys.platform`, `os.name`, `platform.system()`), with
   the use in either branch;
3. a `try` whose handlers catch what the missing feature raises, with the use in the `try`
   body: AttributeError for an attribute, ImportError (or ModuleNotFoundError) for an import or
   `from module import name`, OSError (or a subclass named here) for a path; a
   `with contextlib.suppress(...)` block of the same exceptions counts the same.
`getattr(module, "name", default)` is guarded by itself and is not a use.
"""

from __future__ import annotations

import ast
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

import napari_sincs
from napari_sincs.codec.encode.spill import ArraySpill, Spill
from napari_sincs.codec.errors import OutputError
from napari_sincs.codec.format import container
from napari_sincs.codec.format.container import SincsFile, pack, write_atomic
from napari_sincs.io import TiffPlanes, read_image

SRC = Path(napari_sincs.__file__).parent

# fmt: off
UNIX_ATTRIBUTES = {
    "os": {
        "pread", "pwrite", "preadv", "pwritev", "sendfile", "splice", "copy_file_range",
        "fchmod", "fchown", "chown", "lchown", "lchmod", "chroot", "mkfifo", "mknod",
        "fork", "forkpty", "register_at_fork", "wait3", "wait4", "waitid", "WNOHANG",
        "getuid", "geteuid", "getgid", "getegid", "getgroups", "setuid", "setgid",
        "getpgid", "getpgrp", "setpgrp", "setsid", "killpg", "nice", "getpriority",
        "setpriority", "sched_getaffinity", "sched_setaffinity", "sched_yield",
        "O_TMPFILE", "O_CLOEXEC", "O_NOFOLLOW", "O_DIRECTORY", "O_DIRECT", "O_SYNC",
        "O_DSYNC", "O_NONBLOCK", "O_NOATIME", "fdatasync", "sync", "statvfs", "fstatvfs",
        "posix_fadvise", "posix_fallocate", "memfd_create", "pipe2", "eventfd", "lockf",
        "uname", "getloadavg", "sysconf", "confstr", "pathconf", "fpathconf", "openpty",
        "ttyname", "ctermid", "fwalk", "getxattr", "setxattr", "listxattr", "removexattr",
    },
    "signal": {
        "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD",
        "SIGPIPE", "SIGSTOP", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGWINCH",
        "alarm", "setitimer", "getitimer", "pause", "sigwait", "sigwaitinfo",
        "pthread_kill", "pthread_sigmask", "siginterrupt",
    },
    "select": {"poll", "epoll", "kqueue", "devpoll"},
    "time": {"tzset", "clock_gettime", "clock_gettime_ns", "clock_settime"},
    "socket": {"AF_UNIX"},
}
UNIX_MODULES = {
    "fcntl", "termios", "tty", "pty", "pwd", "grp", "spwd", "resource", "posix", "crypt",
    "syslog", "nis", "readline", "curses",
}
# fmt: on
UNIX_PATH = re.compile(r"^/(proc|sys|dev|tmp|etc|var|run)(/|$)")
UNIX_START_METHODS = {"fork", "forkserver"}
CATCHES = {
    "attribute": {"AttributeError"},
    "import": {"ImportError", "ModuleNotFoundError"},
    "path": {"OSError", "IOError", "EnvironmentError", "FileNotFoundError", "PermissionError"},
    "start method": {"ValueError"},
}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


@dataclass(frozen=True)
class _Use:
    """One use of a Unix-only feature: where, what, and what a guard must test or catch."""

    node: ast.AST
    kind: str
    what: str
    module: str = ""
    attr: str = ""


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local names of imported modules: `import os` gives os, `import os as _os` gives _os."""
    return {
        name.asname or name.name: name.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for name in node.names
    }


def _uses(tree: ast.Module, aliases: dict[str, str]) -> list[_Use]:
    """Every use of a Unix-only feature in `tree`, guarded or not (docstrings are prose)."""
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                if name.name.split(".")[0] in UNIX_MODULES:
                    found.append(_Use(node, "import", f"import {name.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in UNIX_MODULES:
                found.append(_Use(node, "import", f"from {node.module} import ..."))
            for name in node.names:
                if name.name in UNIX_ATTRIBUTES.get(node.module, ()):
                    found.append(_Use(node, "import", f"from {node.module} import {name.name}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module is not None and node.attr in UNIX_ATTRIBUTES.get(module, ()):
                what = f"{module}.{node.attr}"
                found.append(_Use(node, "attribute", what, module, node.attr))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and UNIX_PATH.match(node.value):
                found.append(_Use(node, "path", repr(node.value)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            first = node.args[0] if node.args else None
            if (
                called in ("get_context", "set_start_method")
                and isinstance(first, ast.Constant)
                and first.value in UNIX_START_METHODS
            ):
                found.append(_Use(node, "start method", f"{called}({first.value!r})"))
    return found


def _parents(tree: ast.Module) -> dict[int, tuple[ast.AST, str]]:
    """Each node's parent and the field of the parent that holds it."""
    parents = {}
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    parents[id(child)] = (parent, field)
    return parents


def _feature_tests(test: ast.AST) -> list[tuple[str, str]]:
    """The (module, attribute) pairs that `test` requires by hasattr (alone or under `and`)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return [pair for value in test.values for pair in _feature_tests(value)]
    if (
        isinstance(test, ast.Call)
        and _dotted(test.func) == "hasattr"
        and len(test.args) == 2
        and isinstance(test.args[1], ast.Constant)
    ):
        return [(_dotted(test.args[0]), str(test.args[1].value))]
    return []


def _reads_platform(test: ast.AST) -> bool:
    return any(
        _dotted(node) in ("sys.platform", "os.name")
        or (isinstance(node, ast.Call) and _dotted(node.func) == "platform.system")
        for node in ast.walk(test)
    )


def _caught(handler_type: ast.AST | None) -> set[str]:
    if handler_type is None:
        return set()
    if isinstance(handler_type, ast.Tuple):
        return {_dotted(e).split(".")[-1] for e in handler_type.elts}
    return {_dotted(handler_type).split(".")[-1]}


def _suppressed(item: ast.withitem) -> set[str]:
    call = item.context_expr
    if isinstance(call, ast.Call) and _dotted(call.func).split(".")[-1] == "suppress":
        return {_dotted(arg).split(".")[-1] for arg in call.args}
    return set()


def _matches(use: _Use, pairs: list[tuple[str, str]], aliases: dict[str, str]) -> bool:
    if use.kind == "path":
        return bool(pairs)
    return any(
        aliases.get(module, module) == use.module and attr == use.attr for module, attr in pairs
    )


def _guards(parent: ast.AST, field: str, use: _Use, aliases: dict[str, str]) -> bool:
    """Whether `parent` guards a use held in its `field` (rules 1-3 of the module docstring)."""
    if isinstance(parent, ast.If | ast.IfExp) and field in ("body", "orelse"):
        if _reads_platform(parent.test):
            return True
        test = parent.test
        if field == "orelse":
            if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
                return False
            test = test.operand
        return _matches(use, _feature_tests(test), aliases)
    if isinstance(parent, ast.Try | ast.TryStar) and field == "body":
        caught = set().union(*(_caught(h.type) for h in parent.handlers))
        return bool(caught & CATCHES[use.kind])
    if isinstance(parent, ast.With) and field == "body":
        caught = set().union(*(_suppressed(item) for item in parent.items))
        return bool(caught & CATCHES[use.kind])
    return False


def unguarded(source: str) -> list[str]:
    """`line: what` for each use of a Unix-only feature in `source` that nothing guards."""
    tree = ast.parse(source)
    parents = _parents(tree)
    aliases = _aliases(tree)
    bare = []
    for use in sorted(_uses(tree, aliases), key=lambda use: use.node.lineno):
        node, guarded = use.node, False
        while id(node) in parents and not guarded:
            parent, field = parents[id(node)]
            guarded = _guards(parent, field, use, aliases)
            node = parent
        if not guarded:
            bare.append(f"{use.node.lineno}: {use.what}")
    return bare


def test_the_package_uses_no_unguarded_unix_only_call():
    problems = [
        f"{path.relative_to(SRC.parent)}:{line}"
        for path in sorted(SRC.rglob("*.py"))
        for line in unguarded(path.read_text(encoding="utf-8"))
    ]
    assert problems == [], (
        "Unix-only calls outside a guarded fallback (Windows or macOS would fail there); use a "
        "portable call, or guard it as this module's docstring describes:\n" + "\n".join(problems)
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\nos.pread(3, 1, 0)", ["2: os.pread"]),
        ("import os as o\no.fchmod(3, 0)", ["2: os.fchmod"]),
        ("from os import pread", ["1: from os import pread"]),
        ("import fcntl", ["1: import fcntl"]),
        ("x = '/proc/self/fd'", ["1: '/proc/self/fd'"]),
        ("x = f'/proc/self/fd/{3}'", ["1: '/proc/self/fd/'"]),
        ("import multiprocessing as m\nm.get_context('fork')", ["2: get_context('fork')"]),
        ('def f():\n    """Reads /proc/self/fd."""', []),
        ("import os\nif hasattr(os, 'pread'):\n    os.pread(3, 1, 0)", []),
        ("import os\nif hasattr(os, 'pread') and True:\n    os.pread(3, 1, 0)", []),
        ("import os\nif hasattr(os, 'pwrite'):\n    os.pread(3, 1, 0)", ["3: os.pread"]),
        (
            "import os\nif hasattr(os, 'pread'):\n    pass\nelse:\n    os.pread(3, 1, 0)",
            ["5: os.pread"],
        ),
        ("import os\nif not hasattr(os, 'pread'):\n    pass\nelse:\n    os.pread(3, 1, 0)", []),
        ("import os\nif hasattr(os, 'pread') or True:\n    os.pread(3, 1, 0)", ["3: os.pread"]),
        (
            "import os\nn = os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else 1",
            [],
        ),
        ("import os, sys\nif sys.platform != 'win32':\n    os.fchmod(3, 0)", []),
        ("import os\nif os.name == 'posix':\n    os.getuid()", []),
        ("import os\ntry:\n    os.getuid()\nexcept AttributeError:\n    pass", []),
        ("import os\ntry:\n    os.getuid()\nexcept (ValueError, AttributeError):\n    pass", []),
        ("import os\ntry:\n    os.getuid()\nexcept ValueError:\n    pass", ["3: os.getuid"]),
        ("import os\ntry:\n    pass\nexcept AttributeError:\n    os.getuid()", ["5: os.getuid"]),
        ("try:\n    import fcntl\nexcept ImportError:\n    fcntl = None", []),
        ("try:\n    import fcntl\nexcept AttributeError:\n    fcntl = None", ["2: import fcntl"]),
        ("try:\n    open('/proc/cpuinfo')\nexcept OSError:\n    pass", []),
        ("import os\nif hasattr(os, 'O_TMPFILE'):\n    x = '/proc/self/fd'", []),
        ("import contextlib, os\nwith contextlib.suppress(AttributeError):\n    os.getuid()", []),
        ("import os\nn = getattr(os, 'O_BINARY', 0) | os.O_RDONLY", []),
    ],
)
def test_the_scan_finds_bare_uses_and_accepts_guarded_ones(source, expected):
    assert unguarded(source) == expected


@pytest.fixture
def no_pread(monkeypatch):
    """This Linux machine without os.pread, as on Windows."""
    monkeypatch.delattr(os, "pread", raising=False)


def _records() -> list[bytes]:
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, int(n), dtype=np.uint8).tobytes() for n in rng.integers(0, 5000, 40)
    ]


def test_a_spill_reads_back_what_was_written_without_pread(no_pread):
    records = _records()
    spill = Spill(memory_limit=10_000)
    try:
        for record in records:
            spill.append(record)
        assert spill._file is not None, "the records did not move to the temporary file"
        assert list(spill) == records
        assert [spill[i] for i in (5, 0, 39, 5)] == [records[i] for i in (5, 0, 39, 5)]
        spill.append(b"tail")
        assert spill[len(records)] == b"tail" and spill[3] == records[3]
    finally:
        spill.close()


def test_a_spill_read_from_many_threads_gives_every_record_intact():
    records = _records()
    spill = Spill(memory_limit=0)
    for record in records:
        spill.append(record)
    failures = []

    def read(seed: int) -> None:
        order = np.random.default_rng(seed).permutation(len(records))
        failures.extend(int(i) for i in order if spill[int(i)] != records[i])

    threads = [threading.Thread(target=read, args=(s,)) for s in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spill.close()
    assert failures == []


def test_an_array_spill_round_trips_without_pread(no_pread):
    arrays = [np.full((3, 1000), i, dtype=np.float32) for i in range(5)]
    spill = ArraySpill(memory_limit=1)
    for array in arrays:
        spill.append(array)
    for got, want in zip(spill, arrays):
        np.testing.assert_array_equal(got, want)
    spill.close()


def test_a_lazy_tiff_reads_the_same_rows_without_pread(tmp_path, no_pread):
    data = np.arange(3 * 4 * 20 * 30, dtype=np.uint16).reshape(3, 4, 20, 30)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX"})
    image = read_image(path, lazy=True)
    planes = image.data
    assert isinstance(planes, TiffPlanes) and planes.memory_mapped
    try:
        for key in [(...,), (1, 2), (0, 3, 5), (2, 1, slice(3, 17, 2)), (slice(None), 0, 7)]:
            np.testing.assert_array_equal(np.asarray(planes[key]), data[key])
    finally:
        planes.close()


def test_a_compressed_tiff_is_read_page_by_page_with_the_same_values(tmp_path):
    data = np.arange(3 * 4 * 20 * 30, dtype=np.uint16).reshape(3, 4, 20, 30)
    path = tmp_path / "zlib.tif"
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TZYX"}, compression="zlib")
    planes = read_image(path, lazy=True).data
    try:
        assert not planes.memory_mapped
        for key in [(1, 2), (0, 3, 5), (2, slice(1, 3), slice(3, 17, 2)), (slice(None), 0, 7)]:
            np.testing.assert_array_equal(np.asarray(planes[key]), data[key])
    finally:
        planes.close()


def test_a_big_endian_tiff_reads_the_same_without_pread(tmp_path, no_pread):
    data = np.arange(2 * 12 * 10, dtype=">u2").reshape(2, 12, 10)
    path = tmp_path / "big_endian.tif"
    tifffile.imwrite(path, data, byteorder=">")
    planes = TiffPlanes(path)
    try:
        assert planes.memory_mapped
        np.testing.assert_array_equal(planes[1, 4:9], data[1, 4:9])
        assert planes[1, 4:9].dtype.isnative
    finally:
        planes.close()


def test_the_thread_count_falls_back_to_cpu_count_without_affinity(monkeypatch):
    from napari_sincs.codec.training.cluster import threads_per_worker

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if affinity is not None:
        assert threads_per_worker(1) == affinity
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert (threads_per_worker(1), threads_per_worker(4), threads_per_worker(12)) == (6, 1, 1)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert threads_per_worker(2) == 1


@pytest.fixture(params=["nameless", "named"])
def temporary_kind(request, monkeypatch):
    """The writer as on Linux (nameless temporary file where available) and as elsewhere."""
    if request.param == "named":
        monkeypatch.setattr(container, "_open_nameless", lambda folder: None)
    return request.param


def _open_names() -> set[str]:
    """What this process has open (Linux), to show the writer closes before renaming."""
    fds = Path("/proc/self/fd")
    return {os.path.realpath(fd) for fd in fds.iterdir()} if fds.is_dir() else set()


def test_the_writer_closes_the_temporary_before_renaming_it(tmp_path, monkeypatch, temporary_kind):
    renames = []
    rename = os.replace

    def windows_like_replace(source, target):
        renames.append(str(source))
        if os.path.realpath(source) in _open_names():
            raise PermissionError(13, "the file is open")
        rename(source, target)

    monkeypatch.setattr(os, "replace", windows_like_replace)
    target = tmp_path / "out.sincs"
    target.write_bytes(b"old")
    header = {"array": {"shape": [1]}}
    assert write_atomic(target, [pack(header, [b"a", b"bc"])], overwrite=True) > 0
    assert SincsFile(target).header == header
    assert len(renames) == 1 and Path(renames[0]).name.startswith(".out.sincs.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sincs"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_new_file_gets_the_usual_permissions_not_mkstemps(tmp_path, temporary_kind):
    umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "out.sincs", b"data")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.sincs").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, temporary_kind):
    target = tmp_path / "out.sincs"
    target.write_bytes(b"old")

    def chunks():
        yield b"x" * 100_000
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        write_atomic(target, chunks(), overwrite=True)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sincs"]


def test_a_target_that_cannot_be_replaced_says_what_to_do(tmp_path, monkeypatch, temporary_kind):
    def refuse(source, target):
        raise PermissionError(13, "Access is denied")

    monkeypatch.setattr(os, "replace", refuse)
    target = tmp_path / "out.sincs"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="open in another program"):
        write_atomic(target, b"new", overwrite=True)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.sincs"]


def test_the_bytes_arrive_unchanged(tmp_path, temporary_kind):
    data = bytes(range(256)) * 64 + b"\r\n\n\r\x1a"
    write_atomic(tmp_path / "raw.bin", data)
    assert (tmp_path / "raw.bin").read_bytes() == data


NAMED_WRITER = """
import sys, time
from napari_sincs.codec.format import container
container._open_nameless = lambda folder: None
def chunks():
    for i in range(400):
        time.sleep(0.002)
        yield bytes([i % 256]) * 65536
container.write_atomic(sys.argv[1], chunks(), overwrite=True)
"""


@pytest.mark.slow
def test_killing_a_writer_with_a_named_temporary_never_tears_the_target(tmp_path):
    """The writer as on macOS and Windows: old file or complete new one, never a mix. Each kill
    comes at a random moment after the temporary file appears (the write takes about 0.8 s)."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"old contents")
    new = b"".join(bytes([i % 256]) * 65536 for i in range(400))
    rng = random.Random(5)
    seen = set()
    for _ in range(5):
        process = subprocess.Popen([sys.executable, "-c", NAMED_WRITER, str(target)])
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".big.bin.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        process.kill()
        process.wait()
        contents = target.read_bytes()
        assert contents in (b"old contents", new), "a torn file"
        seen.add(contents == new)
        stray = [p.name for p in tmp_path.iterdir() if p.name != "big.bin"]
        assert all(re.fullmatch(r"\.big\.bin\.[0-9a-f]{12}\.tmp", n) for n in stray), stray
        for name in stray:
            (tmp_path / name).unlink()
        target.write_bytes(b"old contents")
    assert False in seen, "at least one kill landed during the write"
