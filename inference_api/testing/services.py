"""Which outside services the suite can reach, and what to do when one is missing.

Locally a test whose service is missing is skipped with a reason that says
how to get it; in CI (CI=true) the same test fails, because CI has them all.
"""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, headless, as root, on a machine with no network: without
# these it tries (and fails) to reach Google's services at every start.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
NGINX = "/usr/sbin/nginx"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def port_open(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def require(available: bool, what: str, how: str) -> None:
    """Skip (locally) or fail (in CI) when `what` is not available."""
    if available:
        return
    message = f"{what} is not available; {how}"
    if in_ci():
        pytest.fail(f"CI must have it: {message}")
    pytest.skip(message)


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or REDIS_URL


def postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith("postgres") else POSTGRES_URL


def require_redis() -> str:
    url = redis_url()
    require(port_open(url, 6379), f"Redis at {url}", "start redis-server on 127.0.0.1:6379")
    return url


def require_postgres() -> str:
    url = postgres_url()
    require(port_open(url, 5432), f"PostgreSQL at {url}", "start PostgreSQL on 127.0.0.1:5432")
    return url


def require_chromium() -> str:
    found = os.path.exists(CHROMIUM) and shutil.which("chromedriver") is not None
    require(
        found,
        "Debian's Chromium",
        "run `make system-deps` (apt-get install chromium chromium-driver)",
    )
    return CHROMIUM


def require_nginx() -> str:
    require(
        os.path.exists(NGINX), "Debian's nginx", "run `make system-deps` (apt-get install nginx)"
    )
    return NGINX
