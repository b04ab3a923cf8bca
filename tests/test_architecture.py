"""The folders' import rules of docs/architecture.md, checked on the source.

Each rule is about where a module's imports point, read with `ast` (no import
runs). A rule broken by a new import fails here with the module and the name.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "inference_api"
FRAMEWORKS = ("django", "rest_framework", "torch", "torchvision", "drf_spectacular")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool = False) -> list[str]:
    """Absolute names of what `path` imports (for `from x import y`: x.y and x)."""
    tree = ast.parse(path.read_text())
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                prefix = package[: len(package) - node.level + 1]
                base = ".".join(prefix + ([node.module] if node.module else []))
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts)


def app_name(name: str) -> str:
    """`inference_api.x.y` -> `x` (the top-level module or folder of the app)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "inference_api" and len(parts) > 1 else ""


def offending(paths: list[Path], allowed, *, top_level_only: bool = False) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in imports(path, top_level_only=top_level_only)
        if not allowed(name)
    ]


def test_the_decoding_packages_load_without_django_torch_or_the_rest_of_the_app():
    # The decoder process imports them: no framework, no secret-holding module.
    decoding = sources(APP / "imaging") + sources(APP / "sandbox")
    app_ok = {"", "errors", "context", "imaging", "sandbox"}

    def allowed(name: str) -> bool:
        return name.split(".")[0] not in FRAMEWORKS and app_name(name) in app_ok

    assert offending(decoding, allowed, top_level_only=True) == []
    assert offending(decoding, lambda name: app_name(name) in app_ok) == []


def test_the_outcomes_load_without_django_like_the_errors_they_list():
    def allowed(name: str) -> bool:
        return name.split(".")[0] not in FRAMEWORKS and app_name(name) in {"", "errors"}

    assert offending([APP / "outcomes.py"], allowed) == []


def test_analysis_knows_nothing_of_http_or_the_api():
    def allowed(name: str) -> bool:
        return not name.startswith(("inference_api", "rest_framework", "django.http"))

    assert offending(sources(ROOT / "analysis"), allowed) == []


def test_the_values_and_errors_depend_on_nothing_of_the_app():
    def allowed(name: str) -> bool:
        return app_name(name) in {"", "context"}

    assert offending([APP / "context.py", APP / "errors.py"], allowed, top_level_only=True) == []


@pytest.mark.parametrize("folder", ["admission", "audit", "upload", "operations", "probes"])
def test_the_steps_never_reach_up_to_the_pipeline_the_views_or_the_console(folder):
    upward = {"pipeline", "views", "classifier", "console", "admin"}
    assert offending(sources(APP / folder), lambda name: app_name(name) not in upward) == []


def test_the_system_checks_and_metrics_serve_no_http():
    # The HTTP probes (/healthz, /readyz, /metrics) are probes/, apart from the checklist.
    def allowed(name: str) -> bool:
        return not name.startswith(("django.http", "django.views", "rest_framework"))

    assert offending(sources(APP / "operations"), allowed) == []


def test_the_console_reads_the_steps_but_never_runs_a_request():
    running = {"pipeline", "views", "classifier", "upload", "sandbox"}
    assert offending(sources(APP / "console"), lambda name: app_name(name) not in running) == []


OWN = ("inference_api", "analysis", "config")


def test_the_app_imports_no_private_module_or_name_of_another_library():
    def allowed(name: str) -> bool:
        parts = name.split(".")
        private = any(part.startswith("_") and not part.startswith("__") for part in parts)
        return parts[0] in OWN or not private

    app = [path for path in sources(APP) if "testing" not in path.parts]
    code = app + sources(ROOT / "analysis") + sources(ROOT / "config")
    assert offending(code, allowed) == []


AUDIT_WRITE = re.compile(
    r"AuditLog\.objects\.(create|bulk_create|get_or_create|update_or_create)\b"
    r"|(?<!class )\bAuditLog\("
)


def test_only_the_audit_step_writes_audit_rows():
    writers = [
        str(path.relative_to(ROOT))
        for path in sources(APP) + sources(ROOT / "config") + sources(ROOT / "analysis")
        if "testing" not in path.parts and AUDIT_WRITE.search(path.read_text())
    ]
    assert writers == ["inference_api/audit/trail.py"]


def test_the_pipeline_never_imports_the_views():
    # The view hands its values to the request's context, not through the answer.
    assert offending([APP / "pipeline.py"], lambda name: app_name(name) != "views") == []


# Underscored names that are public API: Django's documented Model._meta, os._exit.
PUBLIC_UNDERSCORED = {"_meta", "_exit"}


def borrowed_private_names(path: Path) -> list[str]:
    """`x._name` where x is not self/cls and `_name` is no name the project defines."""
    tree = ast.parse(path.read_text())
    return [
        f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and private(node.attr)
        and node.attr not in PUBLIC_UNDERSCORED | OWN_PRIVATE_NAMES
        and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
    ]


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def own_private_names() -> set[str]:
    """Every underscored name the project itself defines (functions, classes, attributes)."""
    names = set()
    for path in sources(APP) + sources(ROOT / "analysis") + sources(ROOT / "config"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"self", "cls"}
            ):
                names.add(node.attr)
    return {name for name in names if name.startswith("_")}


OWN_PRIVATE_NAMES = own_private_names()


def test_the_app_reads_no_private_attribute_of_another_library():
    found = [
        hit
        for path in sources(APP) + sources(ROOT / "analysis") + sources(ROOT / "config")
        if "testing" not in path.parts
        for hit in borrowed_private_names(path)
    ]
    assert found == []
