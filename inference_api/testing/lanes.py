"""Which markers the running test carries, so that no server or browser starts for an unmarked one.

The quick lane (`make test-fast`) runs the tests not marked `live`,
`browser` or `slow`. A test that started gunicorn, moto, nginx, a replica or
Chromium without its marker would slow that lane down, or fail in it on a
machine without the service, instead of being left to `make test`.
tests/conftest.py tells this module each test's markers before its fixtures
are set up (`running`); the functions that start those processes call
`require`, which raises for a test without the marker. Outside pytest (bench)
nothing is checked.
"""

from collections.abc import Iterable

_markers: frozenset[str] | None = None


class MarkerMissing(RuntimeError):
    """A test started a server or a browser without the marker that keeps it from the quick lane."""


def running(markers: Iterable[str] | None) -> None:
    """Record the markers of the test about to run (None: no test is running)."""
    global _markers
    _markers = None if markers is None else frozenset(markers)


def require(marker: str, what: str) -> None:
    """Raise `MarkerMissing` when the running test, if any, does not carry `marker`."""
    if _markers is not None and marker not in _markers:
        raise MarkerMissing(
            f"this test starts {what}: mark it @pytest.mark.{marker} (or mark its module), "
            "so that `make test-fast` leaves it out"
        )
