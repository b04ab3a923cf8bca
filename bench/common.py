"""What every benchmark shares: the machine, the server, the clock.

The server is the project's own: gunicorn with config/gunicorn.conf.py,
started by inference_api.testing.servers' `gunicorn_server` (a fresh
database of its own). The wire (multipart bodies, posts, floods) is
inference_api.testing.http, shared with the tests.
"""

import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS_DIR = REPO / "bench" / "results"
DOCS_DIR = REPO / "docs"
# The bench's own PostgreSQL database name prefix and Redis database number.
POSTGRES_BASE = "postgres://postgres@127.0.0.1:5432/bench"
REDIS_BASE = "redis://127.0.0.1:6379/5"


def setup_django() -> None:
    """Configure Django in this process with the suite's settings (idempotent).

    With the servers' Redis when it runs, so that steps timed here make the
    same round trips as in the server.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    if _port_open("127.0.0.1", 6379):
        os.environ.setdefault("REDIS_URL", REDIS_BASE)
    import django

    django.setup()


def ensure_model() -> None:
    """Export the model into the suite's models storage (var/test) unless it is there.

    Runs as a command, so this process's Django can be set up later, on the
    database of the server under test.
    """
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    subprocess.run(
        [sys.executable, "manage.py", "export_model", "--if-missing", "--skip-checks"],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


# --- the machine ---------------------------------------------------------------------------


def machine() -> dict:
    """CPU, cores, memory and library versions, for the report's header."""
    import django
    import PIL
    import torch

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    return {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(total_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "pillow": PIL.__version__,
        "django": django.__version__,
    }


def load_average() -> float:
    return os.getloadavg()[0]


# --- the server ------------------------------------------------------------------------------


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), 1):
            return True
    except OSError:
        return False


def backing_services() -> dict:
    """PostgreSQL and Redis when they run here (as in production), else SQLite and locmem.

    Returns the server environment to add and a description for the report.
    PostgreSQL is chosen by pointing DATABASE_URL (this process's) at the
    bench's base URL: `gunicorn_server` then creates a fresh database per server.
    """
    env: dict[str, str] = {}
    described = []
    if _port_open("127.0.0.1", 5432):
        os.environ["DATABASE_URL"] = POSTGRES_BASE
        described.append("PostgreSQL (audit trail)")
    else:
        os.environ.pop("DATABASE_URL", None)
        described.append("SQLite (audit trail; PostgreSQL not running)")
    if _port_open("127.0.0.1", 6379):
        env["REDIS_URL"] = REDIS_BASE
        described.append("Redis db 5 (rate-limit counters)")
    else:
        described.append("in-process cache (Redis not running)")
    return {"env": env, "description": ", ".join(described)}


def flush_bench_redis(url: str) -> None:
    """Empty the bench's own Redis database (never another one)."""
    import redis

    assert url.endswith("/5"), url
    redis.Redis.from_url(url).flushdb()


@contextmanager
def bench_server(workers: int = 2, threads: int = 1, env: dict | None = None) -> Iterator:
    """The API under gunicorn, as deployed: `workers` sync workers, model preloaded."""
    from inference_api.testing.servers import gunicorn_server

    services = backing_services()
    full_env = {**services["env"], "LOG_LEVEL": "INFO", **(env or {})}
    if "REDIS_URL" in full_env:
        flush_bench_redis(full_env["REDIS_URL"])
    with gunicorn_server(env=full_env, workers=workers, threads=threads) as server:
        server.services = services["description"]
        yield server


def with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


# --- numbers ---------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def timed(function, repeats: int) -> list[float]:
    """Wall-clock milliseconds of `repeats` calls."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def per_second(target, args: tuple, processes: int, seconds: float) -> float:
    """How many times per second `processes` forked copies of `target` got through its loop.

    `target(*args, seconds, counts)` loops for `seconds` and puts its count on `counts`.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    counts = context.Queue()
    workers = [
        context.Process(target=target, args=(*args, seconds, counts)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(counts.get() for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds
