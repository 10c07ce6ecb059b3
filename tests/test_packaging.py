"""The package as PyPI and the napari hub see it: every import declared where it belongs, every
declared dependency used, no caps without a known break, the manifest and markers in the package."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "napari_sincs"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# import name -> distribution name, where they differ
DISTRIBUTION = {"PIL": "pillow", "skimage": "scikit-image", "sklearn": "scikit-learn"}
# extras that a user installs for a feature of the package; the others serve development
FEATURE_EXTRAS = ("napari", "analysis", "dask")
# where each extra's distributions are imported
IMPORTED_IN = {extra: ("src",) for extra in FEATURE_EXTRAS} | {"bench": ("benchmarks",)}
# distributions declared although nothing imports them, with the reason
NOT_IMPORTED: dict[str, str] = {}
# upper bounds (<, <=, ==, ~=) allowed, with the known break each one avoids
KNOWN_BREAKS: dict[str, str] = {}


def _names(requirements: list[str]) -> dict[str, Requirement]:
    parsed = (Requirement(r) for r in requirements)
    return {canonicalize_name(r.name): r for r in parsed if r.name != PROJECT["name"]}


CORE = _names(PROJECT["dependencies"])
EXTRAS = {name: _names(reqs) for name, reqs in PROJECT["optional-dependencies"].items()}


def _distribution(module: str) -> str:
    return canonicalize_name(DISTRIBUTION.get(module, module))


def _third_party(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        modules = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        modules = [node.module]
    else:
        return []
    tops = {m.split(".")[0] for m in modules}
    return sorted(t for t in tops if t not in sys.stdlib_module_names and t != "napari_sincs")


def _imports(*folders: str) -> dict[str, set[str]]:
    """distribution -> files (relative to the repository) that import it anywhere."""
    found: dict[str, set[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                for module in _third_party(node):
                    found.setdefault(_distribution(module), set()).add(
                        path.relative_to(ROOT).as_posix()
                    )
    return found


def _module_level_imports(path: Path) -> set[str]:
    """Distributions a module imports when it is imported: its top-level statements, `if` and
    `try` blocks included, `if TYPE_CHECKING:` blocks excluded."""
    found: set[str] = set()
    pending = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                pending.extend(handler.body)
        else:
            found.update(_distribution(m) for m in _third_party(node))
    return found


def test_every_import_in_src_is_declared_as_a_dependency_or_in_a_feature_extra():
    declared = set(CORE).union(*(EXTRAS[e] for e in FEATURE_EXTRAS))
    undeclared = {d: sorted(f) for d, f in _imports("src").items() if d not in declared}
    assert undeclared == {}


def test_only_the_plugin_imports_an_extra_at_import_time():
    """`pip install napari-sincs` can import every module outside _napari/; the optional
    libraries of the other extras are imported inside the functions that need them."""
    wrong = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        plugin = "_napari" in path.relative_to(PACKAGE).parts
        allowed = set(CORE) | (set(EXTRAS["napari"]) if plugin else set())
        extra = _module_level_imports(path) - allowed
        if extra:
            wrong[path.relative_to(ROOT).as_posix()] = sorted(extra)
    assert wrong == {}


def test_benchmarks_import_only_declared_distributions():
    declared = set(CORE).union(*EXTRAS.values())
    undeclared = {d: sorted(f) for d, f in _imports("benchmarks").items() if d not in declared}
    assert undeclared == {}


@pytest.mark.parametrize("extra", ["dependencies", *IMPORTED_IN])
def test_every_declared_dependency_is_imported(extra):
    requirements = CORE if extra == "dependencies" else EXTRAS[extra]
    imported = _imports(*IMPORTED_IN.get(extra, ("src",)))
    unused = sorted(d for d in requirements if d not in imported and d not in NOT_IMPORTED)
    assert unused == []


def test_no_upper_bound_without_a_known_break():
    capped = sorted(
        str(r)
        for requirements in [CORE, *EXTRAS.values()]
        for name, r in requirements.items()
        if name not in KNOWN_BREAKS
        and any(s.operator in ("<", "<=", "==", "~=", "===") for s in r.specifier)
    )
    assert capped == []


def test_the_napari_extra_brings_a_qt_binding_and_the_tests_use_it():
    """A napari without a Qt binding exits at start; napari 0.9 deprecates PyQt5."""
    napari = EXTRAS["napari"]["napari"]
    assert napari.extras & {"pyqt6", "pyqt", "qt", "all"}, napari
    testing = [Requirement(r) for r in PROJECT["optional-dependencies"]["testing"]]
    itself = [r for r in testing if r.name == PROJECT["name"]]
    assert len(itself) == 1 and "napari" in itself[0].extras
    assert "napari" not in EXTRAS["testing"], "the tests would not run on the users' binding"


def test_the_manifest_and_markers_are_real_files_in_the_package():
    manifest = PACKAGE / "napari.yaml"
    assert manifest.is_file() and not manifest.is_symlink()
    top = ROOT / "napari.yaml"
    assert top.is_file() and not top.is_symlink()
    assert top.read_bytes() == manifest.read_bytes(), (
        "napari.yaml at the top level (where the project's layout keeps it) and the copy that "
        "ships in the package must be the same: edit one, copy it over the other"
    )
    entry = PROJECT["entry-points"]["napari.manifest"][PROJECT["name"]]
    assert entry == "napari_sincs:napari.yaml"
    assert (PACKAGE / "py.typed").is_file()
    assert PROJECT["license"] == "BSD-3-Clause"
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")], "PEP 639"
    for pattern in PROJECT["license-files"]:
        assert list(ROOT.glob(pattern)), pattern
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
