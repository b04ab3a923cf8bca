"""Who may import whom: tests and bench share inference_api.testing, never each other.

Read from the source (the AST of every module), so an import inside a
function counts as much as one at the top. Relative imports are resolved
against the importing module's package.
"""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUPPORT = REPO / "inference_api" / "testing"
# What runs in production: the image ships these (see .dockerignore).
APPLICATION = ("inference_api", "analysis", "config")


def modules(folder: Path, *, skip: Path | None = None) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*.py")
        if "migrations" not in path.parts and (skip is None or skip not in path.parents)
    )


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str | None = None) -> set[str]:
    """The full names of the modules `path` imports (`from a import b` gives a and a.b).

    `name` is the module's dotted name (by default, from its place in the repository).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(part for part in [*anchor, base] if part)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def importers(paths: list[Path], forbidden: str) -> dict[str, list[str]]:
    """The modules among `paths` that import `forbidden` or anything under it."""
    offenders = {}
    for path in paths:
        hits = sorted(
            name for name in imported(path) if name == forbidden or name.startswith(forbidden + ".")
        )
        if hits:
            offenders[str(path.relative_to(REPO))] = hits
    return offenders


def test_no_test_module_imports_bench():
    assert importers(modules(REPO / "tests"), "bench") == {}


def test_no_bench_module_imports_tests():
    assert importers(modules(REPO / "bench"), "tests") == {}


def test_the_support_package_imports_neither_tests_nor_bench():
    support = modules(SUPPORT)
    assert support, "inference_api/testing is the shared support package"
    assert importers(support, "tests") == {}
    assert importers(support, "bench") == {}


@pytest.mark.parametrize("package", APPLICATION)
def test_no_application_module_imports_the_support_package(package):
    application = modules(REPO / package, skip=SUPPORT)
    assert application
    assert importers(application, "inference_api.testing") == {}
    assert importers(application, "tests") == {}
    assert importers(application, "bench") == {}


def test_manage_py_imports_none_of_them():
    for forbidden in ("inference_api.testing", "tests", "bench"):
        assert importers([REPO / "manage.py"], forbidden) == {}


def test_the_scan_sees_relative_late_and_aliased_imports(tmp_path):
    """The checks above would pass vacuously if `imported` missed these forms."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import bench.common as c\n"
        "def f():\n"
        "    from ..testing import servers\n"
        "    from . import pool\n"
    )
    found = imported(probe, "inference_api.sandbox.probe")
    assert {"bench.common", "inference_api.testing.servers", "inference_api.sandbox.pool"} <= found
    package = tmp_path / "__init__.py"
    package.write_text("from .testing import http\n")
    assert "inference_api.testing.http" in imported(package, "inference_api")
