"""config/environment.py is the one list of environment variables: the code and the
Dockerfile agree with it (README's table: tests/test_readme.py).

The code is scanned, not imported: every call that reads the environment with a literal
name (`env.<type>("X")`, `os.environ.get("X")`, `os.environ["X"]`, `os.getenv("X")`, or a
helper of the module that itself reads the environment, like gunicorn.conf.py's `_int`)
counts as a read by the reader its file stands for.
"""

import ast
from pathlib import Path

import pytest

from config import environment
from config.environment import ENVIRONMENT, SCANNED_READERS, variables_read_by
from tests.test_dockerfile import env_values, final_stage

ROOT = Path(__file__).resolve().parents[2]
# Where each scanned reader's reads are.
READER_FILES = {
    environment.BASE: [ROOT / "config" / "settings" / "base.py"],
    environment.LOCAL: [ROOT / "config" / "settings" / "local.py"],
    environment.PRODUCTION: [ROOT / "config" / "settings" / "production.py"],
    environment.TEST: [ROOT / "config" / "settings" / "test.py"],
    environment.GUNICORN_CONF: [ROOT / "config" / "gunicorn.conf.py"],
    # inference_api/testing is the tests' and benchmarks' support, not the service.
    environment.APP: sorted(
        path
        for folder in ("inference_api", "analysis")
        for path in (ROOT / folder).rglob("*.py")
        if "testing" not in path.relative_to(ROOT).parts
    ),
}
# The Dockerfile's own plumbing, not the service's configuration.
IMAGE_PLUMBING = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _reads_environment(function: ast.FunctionDef) -> bool:
    return any(
        _dotted(node).startswith(("os.environ", "os.getenv", "env."))
        for node in ast.walk(function)
    )


def _literal_name(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def environment_reads(source: str) -> set[str]:
    """Names read from the environment with a literal name in this module's source."""
    tree = ast.parse(source)
    helpers = {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and _reads_environment(node)
    }
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = _dotted(node.func)
            reader = (
                func in {"os.environ.get", "os.getenv"}
                or (func.startswith("env.") and func.count(".") == 1)
                or func in helpers
            )
            if reader and (name := _literal_name(node)):
                names.add(name)
        elif isinstance(node, ast.Subscript) and _dotted(node.value) == "os.environ":
            if isinstance(node.slice, ast.Constant):
                names.add(node.slice.value)
    return names


def scanned(reader: str) -> set[str]:
    return set().union(*(environment_reads(path.read_text()) for path in READER_FILES[reader]))


def test_the_scan_sees_every_way_the_code_reads_a_variable():
    source = '''
import os
def _int(name, default):
    return int(os.environ.get(name, default))
A = env.int("A", default=1)
B = os.environ.get("B")
C = os.environ["C"]
D = os.getenv("D")
E = _int("E", 3)
os.environ.setdefault("NOT_A_READ", "x")
F = settings.FOO("NOT_A_READ_EITHER")
'''
    assert environment_reads(source) == {"A", "B", "C", "D", "E"}


@pytest.mark.parametrize("reader", SCANNED_READERS)
def test_each_reader_reads_exactly_what_the_table_says(reader):
    read = scanned(reader)
    listed = variables_read_by(reader)
    assert not read - listed, f"{reader} reads, the list lacks: {sorted(read - listed)}"
    assert not listed - read, f"listed as read by {reader}, never read: {sorted(listed - read)}"


def test_every_variable_is_listed_once():
    names = [variable.name for variable in ENVIRONMENT]
    assert len(names) == len(set(names))


def test_every_value_the_image_sets_is_the_one_the_table_says():
    image = {
        name: value
        for name, value in env_values(final_stage()).items()
        if name not in IMAGE_PLUMBING
    }
    listed = {variable.name: variable.image for variable in ENVIRONMENT if variable.image}
    assert image == listed


def test_the_settings_read_no_environment_outside_the_listed_helpers():
    """A read through a name computed at run time would escape the scan: only the helpers
    that take the name as their argument may do it."""
    for path in [path for reader in SCANNED_READERS[:-1] for path in READER_FILES[reader]]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func).startswith(
                ("os.environ.get", "os.getenv", "env.")
            ):
                argument = node.args[0] if node.args else None
                assert isinstance(argument, ast.Constant | ast.Name), (
                    f"{path.name}:{node.lineno} reads the environment with a computed name"
                )


def test_the_deploy_guide_links_to_the_table_instead_of_repeating_it():
    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert "../README.md#configuration" in guide
    listed = {variable.name for variable in ENVIRONMENT}
    rows = [line for line in guide.splitlines() if line.startswith("| `")]
    repeated = [row for row in rows if row.split("`")[1] in listed]
    assert not repeated, "docs/deploy.md repeats rows of README's configuration table"


ARITHMETIC = {ast.Mult: float.__mul__, ast.Add: float.__add__, ast.Sub: float.__sub__}


def constant_value(node: ast.expr) -> float:
    """A default written as constants and * + - (768 * 1024 * 1024); anything else fails."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -constant_value(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        return ARITHMETIC[type(node.op)](constant_value(node.left), constant_value(node.right))
    raise AssertionError(f"not a constant default: {ast.unparse(node)}")


def numeric_defaults_in_base() -> dict[str, float]:
    """{name: default} of every `env.int`/`env.float` read in base.py with a literal default."""
    tree = ast.parse((ROOT / "config" / "settings" / "base.py").read_text())
    found = {}
    for node in ast.walk(tree):
        reads = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "env"
            and node.func.attr in ("int", "float")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        )
        for keyword in node.keywords if reads else ():
            if keyword.arg == "default":
                found[node.args[0].value] = constant_value(keyword.value)
    return found


def test_the_readme_states_each_numeric_default_the_settings_have():
    # The limits (MAX_IMAGE_DIMENSION's 8000, ...) are defined in base.py; the
    # table only says them, and must say the same.
    documented = {variable.name: variable.default for variable in ENVIRONMENT}
    defaults = numeric_defaults_in_base()
    assert {"MAX_IMAGE_DIMENSION", "MAX_UPLOAD_BYTES", "DECODE_MEMORY_BYTES"} <= set(defaults)
    for name, value in defaults.items():
        stated = documented[name].split("`")[1]
        assert float(stated) == value, f"{name}: README says {stated}, base.py {value}"
