"""Fixtures shared by the whole suite."""

import fcntl
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.files.storage import storages
from PIL import Image

from inference_api.admission.plans import forget_plans
from inference_api.testing import corpus, lanes, services
from inference_api.testing.http import ANALYZE, upload_file

# The fixtures that start a server or a browser, and the marker a test using one must carry.
# (The functions that start them, in inference_api.testing, check the same at run time.)
MARKED_FIXTURES = {
    "live_server": "live",
    "require_nginx": "live",
    "require_chromium": "browser",
}


def pytest_collection_modifyitems(config, items) -> None:
    """Fail the collection when a test uses a server's or a browser's fixture without its marker.

    `make test-fast` selects by marker: an unmarked one would start the
    server in the quick lane.
    """
    unmarked = [
        f"{item.nodeid} uses {fixture} but is not marked {marker}"
        for item in items
        for fixture, marker in MARKED_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    ]
    if unmarked:
        raise pytest.UsageError("tests without their marker:\n  " + "\n  ".join(unmarked))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    """Before a test's fixtures start anything, tell the support package the test's markers."""
    lanes.running(marker.name for marker in item.iter_markers())


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem) -> None:
    lanes.running(None)


# A test over this (its call alone, on an idle machine a few seconds less) belongs in `slow`.
SLOW_SECONDS = 5.0
_unmarked_slow: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.when == "call" and report.duration > SLOW_SECONDS and "slow" not in report.keywords:
        _unmarked_slow.append(f"{report.duration:.1f}s {report.nodeid}")


def pytest_terminal_summary(terminalreporter) -> None:
    """Name the tests that took long without the `slow` marker (the quick lane runs them)."""
    if _unmarked_slow:
        terminalreporter.section(f"over {SLOW_SECONDS:.0f} s without the slow marker")
        for line in _unmarked_slow:
            terminalreporter.line(line)


@pytest.fixture(scope="session")
def exported_model() -> str:
    """The real model, exported once into the suite's models storage; its SHA-256.

    The export is kept between runs (var/test/models), made again when
    `analysis/export.py` has changed since, and guarded by a file lock, since
    several test processes may start at once.
    """
    from analysis import export

    name = settings.MODEL_FILE_NAME
    storage = storages["models"]
    lock_path = Path(settings.VAR_DIR) / "export.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (storage.exists(name) and storage.exists(export.sidecar_name(name))) or (
            storage.get_modified_time(name).timestamp() < Path(export.__file__).stat().st_mtime
        ):
            export.export_model(storage=storage, name=name)
        with storage.open(export.sidecar_name(name), "rb") as sidecar:
            return sidecar.read().decode().strip()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Pillow's hostile and valid images, from ../shared/corpus (never copied here)."""
    services.require(
        corpus.available(),
        f"the corpus at {corpus.CORPUS}",
        "set CORPUS_DIR to shared/corpus/pillow",
    )
    return corpus.CORPUS


@pytest.fixture(autouse=True)
def _fresh_caches():
    """Rate-limit counters and cached state never leak from one test into another."""
    for alias in settings.CACHES:
        try:
            caches[alias].clear()
        except Exception:  # noqa: S110 - an unreachable cache is some tests' very subject
            pass
    forget_plans()
    yield


@pytest.fixture(autouse=True)
def _pillow_limit(monkeypatch):
    """Pillow's global pixel cap, which the app's decode sets, is restored after every test."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture
def post_upload(client) -> Callable:
    """POST one file to the analyze endpoint with Django's test client.

    `post_upload(payload, name="photo.png", content_type="image/png", **extra)`;
    `extra` goes to `client.post` (REMOTE_ADDR, headers...).
    """

    def post(payload: bytes, name: str = "photo.png", content_type: str = "image/png", **extra):
        return client.post(ANALYZE, {"file": upload_file(payload, name, content_type)}, **extra)

    return post


@pytest.fixture
def require_redis() -> str:
    return services.require_redis()


@pytest.fixture
def require_postgres() -> str:
    return services.require_postgres()


@pytest.fixture
def require_chromium() -> str:
    return services.require_chromium()


@pytest.fixture
def require_nginx() -> str:
    return services.require_nginx()
