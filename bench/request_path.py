"""The ordinary request: what it costs beyond its decode and its forward pass.

Two servers are measured in the same run, in turns: this checkout ("after")
and, when given, another checkout of the project ("before": make bench uses
the commit before the request path was made lean, BASELINE_COMMIT, checked
out in the temporary folder). Each runs as deployed: gunicorn with 2 workers
and config/gunicorn.conf.py, glibc's malloc thresholds from the Dockerfile,
PostgreSQL and Redis when they run here, its own model file exported by its
own code.

- **Beyond the decode and the forward pass**, per request: the client's time
  (a keep-alive client; gunicorn's sync workers close the connection after
  each answer, so it reconnects then), minus the forward pass the server
  timed (`timing_ms.inference`), minus the unavoidable decode: the same
  `imaging.prepare` run in this process right after. What remains is
  everything else: connection, gunicorn, middleware, the admission's cache
  round trip, multipart parsing, copies and hash, the decoder process's
  round trip, the tensor, the answer's JSON.
- **The stage table**: those steps timed one by one in this process on the
  same bytes; "the rest" is what the server did beyond them.
- **Throughput**: 4 keep-alive clients on the 2 workers, 2 MP JPEG, against
  what 2 processes here do for (decode + forward) alone on the same bytes.

    .venv/bin/python -m bench.request_path [--quick] [--baseline PATH]
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import common
from inference_api.testing import http as wire
from inference_api.testing.images import photos

# The last commit before the request path was made lean (issue 13's "before").
BASELINE_COMMIT = "061df01"
TARGETS_MS = {"2 MP JPEG": 4.0, "2 MP PNG": 8.0}
THROUGHPUT_TARGET = 0.90
CASES = (
    ("0.3 MP JPEG", "JPEG", (640, 480)),
    ("2 MP JPEG", "JPEG", (1632, 1224)),
    ("2 MP PNG", "PNG", (1632, 1224)),
)
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "134217728"}


class Case:
    """One image as sent: its bytes, declared type and multipart body."""

    def __init__(self, label: str, fmt: str, size: tuple[int, int]) -> None:
        self.label = label
        self.data = photos.jpeg(size) if fmt == "JPEG" else photos.png(size)
        self.content_type = f"image/{fmt.lower()}"
        self.filename = f"bench.{'jpg' if fmt == 'JPEG' else 'png'}"
        self.body = wire.multipart(self.data, self.content_type, self.filename)


# --- the servers ---------------------------------------------------------------------------------


@contextmanager
def checkout_server(
    checkout: Path, name: str, extra_env: dict | None = None
) -> Iterator[tuple[str, dict]]:
    """gunicorn serving `checkout` (2 workers, as deployed) on a database of its own.

    Yields its URL, its environment and the gunicorn master's pid.
    """
    checkout = checkout.resolve()
    services = common.backing_services()
    env = {
        **os.environ,
        **services["env"],
        **MALLOC_ENV,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_IP": "1000000/m",
        "PYTHONUNBUFFERED": "1",
        "QUARANTINE_DIR": str(common.RESULTS_DIR / f"quarantine-{name}"),
        **(extra_env or {}),
    }
    database = f"bench_path_{name}_{uuid.uuid4().hex[:6]}"
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        env["DATABASE_URL"] = common.with_database(os.environ["DATABASE_URL"], database)
        _postgres(f'CREATE DATABASE "{database}"')
    else:
        env["DATABASE_URL"] = f"sqlite:///{common.RESULTS_DIR / (database + '.sqlite3')}"
    if "REDIS_URL" in env:
        common.flush_bench_redis(env["REDIS_URL"])
    python = str(checkout / ".venv" / "bin" / "python")
    for command in (["migrate", "--noinput", "-v", "0"], ["export_model", "--if-missing"]):
        subprocess.run(
            [python, "manage.py", *command],
            cwd=checkout,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    port = _free_port()
    log = (common.RESULTS_DIR / f"server-{name}.log").open("wb")
    process = subprocess.Popen(
        [
            str(checkout / ".venv" / "bin" / "gunicorn"),
            "-c",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "config.wsgi:application",
        ],
        cwd=checkout,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(port, process)
        yield url, env, process.pid
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
        if env["DATABASE_URL"].startswith("postgres"):
            _postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _postgres(statement: str) -> None:
    import psycopg

    # Connected to the server's maintenance database, not to the one being made or dropped.
    with psycopg.connect(
        common.with_database(common.POSTGRES_BASE, "postgres"), autocommit=True
    ) as conn:
        conn.execute(statement)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server under test exited; see bench/results/server-*.log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the server under test did not become ready")


def baseline_checkout(commit: str = BASELINE_COMMIT) -> Path:
    """A worktree of `commit` in the temporary folder, with this checkout's virtualenv.

    Outside the repository, so that no scan of the sources (ruff, the import
    rules' tests) reads the old code.
    """
    path = Path(tempfile.gettempdir()) / f"inference-api-baseline-{commit}"
    if not (path / "manage.py").exists():
        subprocess.run(
            ["git", "worktree", "add", "--force", "--detach", str(path), commit],
            cwd=common.REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    venv, ours = path / ".venv", (common.REPO / ".venv").resolve()
    if venv.is_symlink() and venv.resolve() != ours:
        venv.unlink()  # left by another clone's run, maybe since deleted
    if not venv.is_symlink():
        venv.symlink_to(ours)
    return path


# --- the client ----------------------------------------------------------------------------------


class Client:
    """HTTP/1.1 with keep-alive: one connection, reopened only when the server closes it."""

    def __init__(self, url: str) -> None:
        self.host, self.port = url.split("//")[1].split(":")
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> tuple[float, dict]:
        started = time.perf_counter()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {"Content-Type": f"multipart/form-data; boundary={wire.BOUNDARY}"}
        self.conn.request("POST", wire.ANALYZE, body=body, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.will_close:
            self.conn.close()
            self.conn = None
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {payload[:200]!r}")
        return elapsed, json.loads(payload)


# --- beyond the decode and the forward pass ------------------------------------------------------


def beyond(urls: dict[str, str], cases: list[Case], repeats: int) -> dict:
    """For each server and image: medians of the client's time and of what lies beyond.

    Round after round, each image is sent to each server in turn; after each
    request the same decode runs here (`prepare`), so every subtraction is
    between figures taken under the same load.
    """
    from inference_api.imaging.limits import DecodeLimits
    from inference_api.imaging.prepare import prepare
    from inference_api.upload.checks import served_model_input

    clients = {name: Client(url) for name, url in urls.items()}
    limits, shape = DecodeLimits.from_settings(), served_model_input()
    samples = {(n, c.label): [] for n in urls for c in cases}
    for round_ in range(repeats + 3):
        for case in cases:
            for name, client in clients.items():
                api_ms, answer = client.post(case.body)
                started = time.perf_counter()
                prepare(case.data, limits, shape)
                decode_ms = (time.perf_counter() - started) * 1000
                if round_ >= 3:  # the first rounds warm the workers and the decoders
                    forward_ms = answer["timing_ms"]["inference"]
                    samples[(name, case.label)].append((api_ms, forward_ms, decode_ms))
    result: dict = {}
    for (name, label), rows in samples.items():
        api, forward, decode = zip(*rows, strict=True)
        result.setdefault(name, {})[label] = {
            "api_ms": common.median(list(api)),
            "forward_ms": common.median(list(forward)),
            "decode_ms": common.median(list(decode)),
            "beyond_ms": common.median([a - f - d for a, f, d in rows]),
        }
    return result


def stages(case: Case, repeats: int) -> dict[str, float]:
    """Median milliseconds of each step beyond the decode and the forward pass, run here."""
    import hashlib

    from rest_framework.renderers import JSONRenderer

    from analysis.model_store import load_model
    from analysis.preprocessing import to_tensor
    from inference_api import sandbox
    from inference_api.admission import counters, plans
    from inference_api.admission.blockindex import keys_for
    from inference_api.audit.trail import audit
    from inference_api.context import Arrival, Outcome, RequestRecord
    from inference_api.imaging.limits import DecodeLimits, ModelInput
    from inference_api.imaging.prepare import prepare
    from inference_api.operations import metrics
    from inference_api.pipeline import _log
    from inference_api.upload import checks, multipart

    model = load_model()
    limits, shape = DecodeLimits.from_settings(), ModelInput.of(model.metadata)
    prepared = sandbox.decode(case.data, limits, shape)
    square = checks.CheckedUpload(
        data=case.data,
        format="",
        width=0,
        height=0,
        sha256="",
        size=0,
        content_type="",
        filename="",
        pixels=prepared.pixels,
        input_size=prepared.size,
    ).square()
    answer = {
        "predictions": [{"label": "tabby", "class_index": 281, "score": 0.5}] * 5,
        "model": model.describe(),
        "image": {"format": "JPEG", "width": 1, "height": 1},
        "request_id": uuid.uuid4().hex,
        "timing_ms": {"decode": 1.0, "inference": 1.0},
    }
    story = RequestRecord(
        arrival=Arrival(uuid.uuid4().hex, "127.0.0.1", wire.ANALYZE),
        outcome=Outcome("ok", 200),
        latency_ms=1.0,
    )

    def parent_checks() -> None:
        declared = checks.ContentTypeValidator()(case.content_type)
        real = checks.MagicBytesValidator()(case.data, declared)
        checks.FilenameExtensionValidator()(case.filename, real)
        checks.UploadSizeValidator()(case.data)

    terms = plans.anonymous()
    steps = {
        "admission: blocklist + counter (one cache round trip)": lambda: counters.tally(
            "ip:127.0.0.1", terms, keys_for("127.0.0.1")
        ),
        "multipart parse": lambda: multipart.parse_form(case.body, wire.BOUNDARY.encode()),
        "parent checks (type, magic bytes, name, size)": parent_checks,
        "to tensor": lambda: to_tensor(square, model.metadata),
        "answer JSON": lambda: JSONRenderer().render(answer),
    }
    after = {
        "after the answer: audit row": lambda: audit(story),
        "after the answer: log line + metrics": lambda: (
            _log(story),
            metrics.observe_request(story),
        ),
    }
    result = {name: common.median(common.timed(step, repeats)) for name, step in steps.items()}
    sandboxed, here = [], []
    for _ in range(repeats):
        sandboxed.append(common.timed(lambda: sandbox.decode(case.data, limits, shape), 1)[0])
        here.append(common.timed(lambda: prepare(case.data, limits, shape), 1)[0])
    result["decoder process round trip"] = common.median(
        [s - h for s, h in zip(sandboxed, here, strict=True)]
    )
    result["SHA-256 (on a thread, beside the decode)"] = common.median(
        common.timed(lambda: hashlib.sha256(case.data).hexdigest(), repeats)
    )
    result.update({name: common.median(common.timed(s, repeats)) for name, s in after.items()})
    return result


def healthz_ms(url: str, repeats: int) -> float:
    """The least any answer costs here: GET /healthz (touches nothing) with the same client."""
    host, port = url.split("//")[1].split(":")
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        samples.append((time.perf_counter() - started) * 1000)
    return common.median(samples)


# --- throughput ----------------------------------------------------------------------------------


def api_throughput(url: str, case: Case, clients: int, seconds: float, master: int) -> dict:
    """Answers per second to `clients` keep-alive clients sending back to back.

    With the CPU each group of processes spent per answer meanwhile (the
    server's `master` and workers, their decoders, PostgreSQL, Redis, and
    this process, which runs the clients): where the cores went.
    """
    before = cpu_by_group(master)
    done = []
    deadline = time.monotonic() + seconds

    def run() -> None:
        client, count = Client(url), 0
        while time.monotonic() < deadline:
            client.post(case.body)
            count += 1
        done.append(count)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    answers = sum(done)
    spent = {name: seconds - before[name] for name, seconds in cpu_by_group(master).items()}
    return {
        "rps": answers / elapsed,
        "cpu_ms_per_answer": {name: 1000 * s / answers for name, s in spent.items()},
        "idle_ms_per_answer": 1000 * (os.cpu_count() * elapsed - sum(spent.values())) / answers,
    }


def cpu_by_group(master: int) -> dict[str, float]:
    """CPU seconds used so far by each group of processes that serves an answer."""
    from inference_api.testing.servers import cpu_seconds, descendants, worker_pids

    workers = worker_pids(master)
    decoders = [pid for worker in workers for pid in descendants(worker)]
    return {
        "gunicorn workers (HTTP, Django, DRF, tensor, forward pass)": sum(
            cpu_seconds(pid) for pid in [master, *workers]
        ),
        "decoder processes (checks, decode)": sum(cpu_seconds(pid) for pid in decoders),
        "PostgreSQL": sum(cpu_seconds(pid) for pid in _pids_named("postgres")),
        "Redis": sum(cpu_seconds(pid) for pid in _pids_named("redis-server")),
        "the 4 clients (this process)": cpu_seconds(os.getpid()),
    }


def _pids_named(name: str) -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
        except OSError:
            continue
    return found


def _decode_and_forward(data: bytes, seconds: float, counts) -> None:
    import torch
    from PIL import Image

    from analysis.model_store import load_model
    from analysis.preprocessing import to_tensor
    from inference_api.imaging.limits import DecodeLimits, ModelInput
    from inference_api.imaging.prepare import prepare

    torch.set_num_threads(1)
    model = load_model()
    limits, shape = DecodeLimits.from_settings(), ModelInput.of(model.metadata)
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        prepared = prepare(data, limits, shape)
        square = Image.frombytes("RGB", (prepared.size,) * 2, prepared.pixels)
        with torch.inference_mode():
            model.module(to_tensor(square, model.metadata))
        done += 1
    counts.put(done)


def alone_throughput(case: Case, processes: int, seconds: float) -> float:
    """(decode + forward) per second of `processes` processes here, nothing else."""
    return common.per_second(_decode_and_forward, (case.data,), processes, seconds)


# --- all of it -----------------------------------------------------------------------------------


def measure(quick: bool, baseline: Path | None) -> dict:
    """Both servers, the stage table and the throughput; see the module's docstring."""
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    repeats = 10 if quick else 40
    seconds = 4.0 if quick else 10.0
    cases = [Case(*spec) for spec in CASES]
    checkouts = {"after": common.REPO}
    if baseline is not None:
        checkouts["before"] = baseline
    result: dict = {
        "targets_ms": TARGETS_MS,
        "throughput_target": THROUGHPUT_TARGET,
        "baseline": str(baseline) if baseline else None,
        "load_before": common.load_average(),
    }
    with _servers(checkouts) as servers:
        urls = {name: url for name, (url, _, _) in servers.items()}
        _use_database(servers["after"][1]["DATABASE_URL"])
        result["beyond"] = beyond(urls, cases, repeats)
        two_mp = cases[1]
        result["throughput"] = {
            name: api_throughput(url, two_mp, 4, seconds, servers[name][2])
            for name, url in urls.items()
        }
        result["floor_ms"] = {name: healthz_ms(url, repeats * 3) for name, url in urls.items()}
        result["stages"] = {case.label: stages(case, repeats * 5) for case in cases[1:]}
    result["alone_rps"] = alone_throughput(two_mp, 2, seconds)
    result["load_after"] = common.load_average()
    return result


def _use_database(url: str) -> None:
    """Point this process's Django at `url` (the stage timings write audit rows there).

    run_all.py may have set Django up already, on another server's database.
    """
    from urllib.parse import urlparse

    os.environ["DATABASE_URL"] = url
    common.setup_django()
    from django.db import connections

    connection = connections["default"]
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["NAME"] = urlparse(url).path.lstrip("/")


@contextmanager
def _servers(checkouts: dict[str, Path]) -> Iterator[dict[str, tuple[str, dict, int]]]:
    names = list(checkouts)
    if not names:
        yield {}
        return
    first, rest = names[0], {n: checkouts[n] for n in names[1:]}
    with checkout_server(checkouts[first], first) as served, _servers(rest) as others:
        yield {first: served, **others}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args()
    common.ensure_model()
    sys.stdout.write(json.dumps(measure(args.quick, args.baseline), indent=1) + "\n")


if __name__ == "__main__":
    main()
