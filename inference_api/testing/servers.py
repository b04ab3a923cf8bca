"""Real servers for the tests that need the wire: gunicorn on loopback.

`gunicorn_server()` migrates a database of its own (a temporary SQLite file,
or a fresh PostgreSQL database when DATABASE_URL points at PostgreSQL, as in
CI), starts gunicorn with the project's config, waits until it answers, and
stops it afterwards. Its log is kept for the test to read.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

from . import lanes

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GUNICORN_CONF = REPO / "config" / "gunicorn.conf.py"
MIB = 1024 * 1024
# glibc's malloc with fixed thresholds: allocations under 32 MiB come from the
# heap and are reused, and up to 128 MiB of free heap is kept instead of being
# returned at once (measured against the defaults: docs/decisions.md); the
# Dockerfile and `make run` set the same values (tests/test_dockerfile.py),
# and the bench serves with them.
MALLOC_TUNED = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * MIB),
    "MALLOC_TRIM_THRESHOLD_": str(128 * MIB),
}


@dataclass
class LiveServer:
    """A running server: where it listens and where it logs."""

    url: str
    port: int
    process: subprocess.Popen
    log_path: Path
    env: dict

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _database(tmp: Path) -> Iterator[str]:
    """A fresh database URL: PostgreSQL if the suite runs on it, else SQLite."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        yield f"sqlite:///{tmp / 'live.sqlite3'}"
        return
    with postgres_database(base) as url:
        yield url


@contextmanager
def postgres_database(base: str) -> Iterator[str]:
    """A fresh, empty database on the PostgreSQL server of `base`; dropped afterwards."""
    import psycopg

    name = f"live_{uuid.uuid4().hex[:12]}"
    admin_url = urlunparse(urlparse(base)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(base)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def eventually(read, timeout: float = 10.0, interval: float = 0.05):
    """What `read()` returns once it is truthy, or its last answer after `timeout` seconds.

    The pipeline writes a request's audit row and log line once the answer has
    been sent: a test that reads them right after its response waits here.
    A read that finds SQLite's table locked by that very write (the in-memory
    database a live_server thread shares with the test) reads again.
    """
    from django.db import OperationalError

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = read()
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def database_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` on a server's database (PostgreSQL or SQLite), read directly."""
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql, params).fetchall()
    import sqlite3

    path = urlparse(url).path
    with sqlite3.connect(path) as conn:
        return conn.execute(sql.replace("%s", "?"), params).fetchall()


def worker_pids(master_pid: int) -> list[int]:
    """A process's children: a gunicorn master's workers, a worker's decoders."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        return sorted(int(pid) for pid in children.read_text().split())
    except FileNotFoundError:
        return []


def descendants(pid: int) -> list[int]:
    """Every process below `pid`: a worker's decoders' zygote and the decoders it forked."""
    found = []
    for child in worker_pids(pid):
        found += [child, *descendants(child)]
    return sorted(found)


def status_kb(pid: int, field_name: str) -> int:
    """A memory field of /proc/<pid>/status in KiB (VmRSS, VmHWM), 0 if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def minor_faults(pid: int) -> int:
    """The page faults a process has taken that read nothing from disk (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[7])


def reaped_cpu_seconds(pid: int) -> float:
    """CPU time of a process's children that have ended and been reaped by it (a zygote's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def wait_for_fresh_window(buckets: list[str], period: int, needed: float) -> dict[str, int]:
    """Sleep until each rate-limit bucket has `needed` seconds left in its window; their ends.

    A live server's limiter reads its own process's clock, which a test
    cannot pin: a test whose requests must share one window starts right
    after a window began instead. The counters stagger the windows per
    bucket value (`ip:127.0.0.1`, `ip:2001:db8::/64`, `key:<prefix>`);
    the returned ends are the last second of each window, as it computes them.
    """
    from inference_api.admission.windows import window_end

    while True:
        ends = {bucket: window_end(bucket, period) for bucket in buckets}
        soonest = min(ends.values()) + 1  # the window ends after its last second
        if soonest - time.time() >= needed:
            return ends
        time.sleep(max(0.0, soonest - time.time()) + 0.2)


def server_env(extra: dict | None, tmp: Path, database_url: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "QUARANTINE_DIR": str(tmp / "quarantine"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def wait_until_up(
    url: str, process: subprocess.Popen, log_path: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited early:\n{log_path.read_text(errors='replace')[-4000:]}"
            )
        try:
            # Not the API: every request there counts against 127.0.0.1's rate limit.
            requests.get(url + "/healthz", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(
        f"server did not answer in {timeout}s:\n{log_path.read_text(errors='replace')[-4000:]}"
    )


def stop(process: subprocess.Popen) -> None:
    """Kill a test server and everything it started, at once.

    Nothing a test checks happens at shutdown, and a graceful stop costs
    seconds per server while every worker tears torch down.
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    process.wait()


@contextmanager
def gunicorn_server(
    env: dict | None = None,
    workers: int = 2,
    threads: int = 1,
    args: tuple[str, ...] = (),
    checkout: Path = REPO,
) -> Iterator[LiveServer]:
    """Run the app under gunicorn on a free loopback port for the duration.

    `checkout` is the source tree served (another worktree of the project,
    run by this interpreter: the bench's baseline); by default this one.
    """
    lanes.require("live", "gunicorn")
    with tempfile.TemporaryDirectory(prefix="live-") as tmpdir:
        tmp = Path(tmpdir)
        with _database(tmp) as database_url:
            full_env = server_env(env, tmp, database_url)
            full_env.setdefault("WEB_CONCURRENCY", str(workers))
            full_env.setdefault("GUNICORN_THREADS", str(threads))
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=checkout,
                env=full_env,
                check=True,
            )
            port = free_port()
            log_path = tmp / "server.log"
            command = [str(BIN / "gunicorn")]
            conf = checkout / GUNICORN_CONF.relative_to(REPO)
            if conf.exists():
                command += ["-c", str(conf)]
            command += [
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                *args,
                "config.wsgi:application",
            ]
            with served(command, cwd=checkout, env=full_env, port=port, log_path=log_path) as live:
                yield live


@contextmanager
def served(
    command: list[str], *, cwd: Path, env: dict[str, str], port: int, log_path: Path
) -> Iterator[LiveServer]:
    """Start `command`, a server on 127.0.0.1:`port`, wait until it answers; stop it after."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", port, process, log_path, env)
    try:
        wait_until_up(server.url, process, log_path)
        yield server
    finally:
        stop(process)


@contextmanager
def moto_server(port: int, log_path: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """An S3-compatible server (moto's server mode) on `host`:`port`; yields its URL."""
    lanes.require("live", "moto's S3 server")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", host, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"moto_server did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        stop(process)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
        return True
    except requests.RequestException:
        return False


def s3_client(url: str, key_id: str, secret: str, buckets: tuple[str, ...] = ()):
    """A boto3 client for the S3 server at `url`, with `buckets` created."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    return client
