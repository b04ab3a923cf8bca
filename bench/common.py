"""What every benchmark shares: the machine, the server, the wire, the clock.

The server is the project's own: gunicorn with config/gunicorn.conf.py,
started by tests/servers.py's `gunicorn_server` (a fresh database of its
own). Requests are sent with http.client on a new connection each time, as
gunicorn's sync workers close the connection after every response; the
multipart body is built once per image, so the client spends almost no CPU
of the two cores the workers need.
"""

import http.client
import os
import platform
import re
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from tests.servers import (  # noqa: F401 - bench helpers
    cpu_seconds,
    database_rows,
    status_kb,
    worker_pids,
)

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS_DIR = REPO / "bench" / "results"
DOCS_DIR = REPO / "docs"
# The bench's own PostgreSQL database name prefix and Redis database number.
POSTGRES_BASE = "postgres://postgres@127.0.0.1:5432/bench"
REDIS_BASE = "redis://127.0.0.1:6379/5"
BOUNDARY = "benchboundary7d1f0c"
ANALYZE = "/api/v1/analyze/"


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
    from tests.servers import gunicorn_server

    services = backing_services()
    full_env = {**services["env"], "LOG_LEVEL": "INFO", **(env or {})}
    if "REDIS_URL" in full_env:
        flush_bench_redis(full_env["REDIS_URL"])
    with gunicorn_server(env=full_env, workers=workers, threads=threads) as server:
        server.services = services["description"]
        yield server


def with_database(url: str, name: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


# --- the wire ----------------------------------------------------------------------------------


def multipart(data: bytes, content_type: str, filename: str) -> bytes:
    """One multipart/form-data body with `data` in the field `file`."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


@dataclass
class Reply:
    """One response as the client saw it."""

    status: int
    elapsed_ms: float
    request_id: str = ""
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    def json(self) -> dict:
        import json

        return json.loads(self.body or b"{}")


def post(url: str, body: bytes, headers: dict | None = None, timeout: float = 60) -> Reply:
    """POST a prepared multipart body on a fresh connection; the time is the whole exchange."""
    parsed = urlparse(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    try:
        conn.connect()
        # As curl, browsers and requests do: no Nagle delay on the last segment.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request(
            "POST",
            ANALYZE,
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                **(headers or {}),
            },
        )
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    elapsed = (time.perf_counter() - started) * 1000
    return Reply(
        status=response.status,
        elapsed_ms=elapsed,
        request_id=response.getheader("X-Request-ID", ""),
        body=payload,
        headers=dict(response.getheaders()),
    )


@dataclass
class Flood:
    """An oversized body sent until the server answered: what it cost."""

    status: int
    elapsed_ms: float
    bytes_sent: int
    request_id: str


def flood(
    url: str,
    total: int,
    *,
    declare_length: bool,
    chunk: int = 64 * 1024,
    headers: dict | None = None,
    timeout: float = 30,
) -> Flood:
    """Send a `total`-byte multipart body, stopping as soon as the server answers.

    With `declare_length` the head carries Content-Length: total; without,
    the body is sent chunked. `bytes_sent` counts the body bytes the kernel
    accepted before the answer came (an upper bound on what the server read).
    """
    parsed = urlparse(url)
    head_lines = [
        f"POST {ANALYZE} HTTP/1.1",
        f"Host: {parsed.hostname}:{parsed.port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
        f"Content-Length: {total}" if declare_length else "Transfer-Encoding: chunked",
    ]
    preamble = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    sent = 0
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode())
        block = preamble + b"\x89PNG\r\n\x1a\n" + bytes(chunk - len(preamble) - 8)
        filler = bytes(chunk)
        while sent < total and not _readable(sock):
            piece = block if sent == 0 else filler
            piece = piece[: total - sent]
            framed = piece if declare_length else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            try:
                sock.sendall(framed)
            except OSError:
                break
            sent += len(piece)
        raw = _read_response(sock)
    elapsed = (time.perf_counter() - started) * 1000
    status, request_id = _status_and_id(raw)
    return Flood(status=status, elapsed_ms=elapsed, bytes_sent=sent, request_id=request_id)


def _readable(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


def _read_response(sock: socket.socket) -> bytes:
    raw = b""
    try:
        while b"\r\n\r\n" not in raw:
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    except OSError:
        pass
    return raw


def _status_and_id(raw: bytes) -> tuple[int, str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    match = re.match(r"HTTP/1\.\d (\d{3})", head)
    found = re.search(r"^X-Request-ID: (\S+)", head, re.MULTILINE | re.IGNORECASE)
    return (int(match.group(1)) if match else 0), (found.group(1) if found else "")


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
