"""What the live service does when what it depends on fails.

- Redis (the rate-limit counters) is killed while clients are uploading, then
  started again: the configured fail mode holds for every request, nothing
  hangs or drops, the service recovers by itself, and the audit trail still
  counts every request.
- The model storage (R2) is unreachable at start, then serves a corrupted
  file, then the right one: readiness and analyze say 503 until the file
  that matches the pinned hash is there, then the workers load it without
  a restart.
- PostgreSQL becomes unreachable while serving: uploads are still answered,
  and every request of the outage is in the log as a complete audit entry
  (none silently unaudited); rows are written again once it is back.

Each fault is real: a private redis-server killed and restarted on its port,
a moto S3 server started late on the endpoint's port, a TCP proxy in front
of PostgreSQL that closes its port. The shared Redis and PostgreSQL are
never touched.
"""

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
import redis
import requests
from django.conf import settings

from inference_api.testing import http as wire
from inference_api.testing.images import photos
from inference_api.testing.servers import (
    database_rows,
    eventually,
    free_port,
    gunicorn_server,
    moto_server,
    s3_client,
)

pytestmark = [pytest.mark.live, pytest.mark.slow]

JPEG = wire.multipart(photos.jpeg((320, 240)), "image/jpeg", "cat.jpg")
HTML_AS_PNG = wire.multipart(photos.html_page(), "image/png", "page.png")
# Each request must be answered well within this, fault or not.
ANSWER_WITHIN_SECONDS = 5.0


def readiness(url: str) -> tuple[int, dict]:
    response = requests.get(f"{url}/readyz", timeout=30)
    return response.status_code, response.json()


def wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


# --- Redis killed during load ----------------------------------------------------------------


@contextmanager
def private_redis(port: int) -> Iterator[subprocess.Popen]:
    """A redis-server of our own on `port`, no persistence; killed on exit."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed (apt-get install redis-server)"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        wait_for(lambda: _pings(client), 10, "the private redis-server")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@dataclass(frozen=True)
class Sent:
    at: float
    status: int
    code: str
    retry_after: str | None
    elapsed: float
    request_id: str


def upload_continuously(url: str, stop: threading.Event, into: list, failures: list) -> None:
    while not stop.is_set():
        at = time.monotonic()
        try:
            reply = wire.post(url, JPEG, timeout=30)
        except Exception as exc:  # a dropped connection is what this test is about
            failures.append(repr(exc))
            continue
        code = "ok" if reply.status == HTTPStatus.OK else reply.json().get("code", "?")
        into.append(
            Sent(
                at,
                reply.status,
                code,
                reply.headers.get("Retry-After"),
                reply.elapsed_ms / 1000,
                reply.request_id,
            )
        )


@pytest.mark.parametrize("fail_open", [False, True], ids=["fails-closed", "fails-open"])
def test_redis_killed_during_load_keeps_the_fail_mode_and_recovers(exported_model, fail_open):
    port = free_port()
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "CACHE_TIMEOUT_SECONDS": "0.5",
        "RATELIMIT_FAIL_OPEN": str(fail_open).lower(),
        "LOG_LEVEL": "WARNING",
    }
    sent: list[Sent] = []
    failures: list[str] = []
    stop = threading.Event()
    with private_redis(port) as first, gunicorn_server(env=env, workers=2) as server:
        clients = [
            threading.Thread(target=upload_continuously, args=(server.url, stop, sent, failures))
            for _ in range(4)
        ]
        for client in clients:
            client.start()
        time.sleep(3)
        killed_at = time.monotonic()
        first.kill()
        first.wait()
        time.sleep(4)
        ready_during_outage = readiness(server.url)
        with private_redis(port):
            back_at = time.monotonic()
            time.sleep(4)
            stop.set()
            for client in clients:
                client.join()
        # The last answers' rows are written once they are sent: wait for every one.
        rows = eventually(lambda: _rows_counting(server, len(sent)))

    assert failures == []
    assert max(s.elapsed for s in sent) < ANSWER_WITHIN_SECONDS
    # Answered before the kill; sent and answered while Redis was down; sent once it was back.
    before = [s for s in sent if s.at + s.elapsed < killed_at]
    during = [s for s in sent if killed_at < s.at and s.at + s.elapsed < back_at]
    after = [s for s in sent if s.at > back_at + 1.5]
    assert before and during and after
    assert {s.status for s in before} == {HTTPStatus.OK}
    assert {s.status for s in after} == {HTTPStatus.OK}
    if fail_open:
        assert {s.status for s in during} == {HTTPStatus.OK}
    else:
        assert {(s.status, s.code, s.retry_after) for s in during} == {
            (HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", "5")
        }
    assert ready_during_outage[0] == HTTPStatus.SERVICE_UNAVAILABLE
    assert ready_during_outage[1]["checks"]["cache"] == "failed"
    # The audit trail counts every upload of the run, refused ones included.
    counted = Counter()
    for status, outcome, count in rows:
        counted[(status, outcome)] += count
    answered = Counter((s.status, s.code) for s in sent)
    assert {k: v for k, v in counted.items() if k[1] != "method_not_allowed"} == answered


def _rows_counting(server, uploads: int) -> list[tuple]:
    """The audit rows (status, outcome, count) once they count `uploads` uploads, else []."""
    rows = database_rows(
        server.env["DATABASE_URL"], "SELECT status, outcome, count FROM inference_api_auditlog"
    )
    counted = sum(count for _, outcome, count in rows if outcome != "method_not_allowed")
    return rows if counted >= uploads else []


# --- model storage unreachable, then corrupt, then back ----------------------------------------

R2_KEY_ID = "fault-test-key"
R2_SECRET = "fault-test-secret"
MODEL_BUCKET = "models"


def analyze(url: str) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/analyze/",
        data=JPEG,
        headers={"Content-Type": f"multipart/form-data; boundary={wire.BOUNDARY}"},
        timeout=60,
    )


def assert_model_unavailable(url: str) -> None:
    response = analyze(url)
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE, response.text
    assert response.json()["code"] == "model_unavailable"
    assert response.headers["Retry-After"]
    status, body = readiness(url)
    assert status == HTTPStatus.SERVICE_UNAVAILABLE and body["checks"]["model"] == "failed"


def test_model_storage_unreachable_then_corrupt_then_back(exported_model, tmp_path):
    model_path = Path(settings.MODEL_STORAGE_DIR) / settings.MODEL_FILE_NAME
    good = model_path.read_bytes()
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2] ^= 0xFF
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "R2_ENDPOINT_URL": endpoint,
        "R2_ACCESS_KEY_ID": R2_KEY_ID,
        "R2_SECRET_ACCESS_KEY": R2_SECRET,
        "R2_MODEL_BUCKET": MODEL_BUCKET,
        "R2_QUARANTINE_BUCKET": "quarantine",
        "MODEL_SHA256": exported_model,
        "MODEL_CACHE_DIR": str(tmp_path / "model-cache"),
    }
    with gunicorn_server(env=env, workers=2) as server:
        # Nothing listens on the endpoint's port: storage unreachable at start.
        assert_model_unavailable(server.url)
        with moto_server(port, tmp_path / "moto.log"):
            bucket = _bucket(endpoint)
            bucket.put_object(
                Bucket=MODEL_BUCKET, Key=settings.MODEL_FILE_NAME, Body=bytes(corrupt)
            )
            # Each readiness probe makes a worker try again (at most every 5 s).
            wait_for(
                lambda: (
                    readiness(server.url)[0] == HTTPStatus.SERVICE_UNAVAILABLE
                    and "does not match the pinned" in server.log()
                ),
                30,
                "the hash check",
            )
            assert_model_unavailable(server.url)
            bucket.put_object(Bucket=MODEL_BUCKET, Key=settings.MODEL_FILE_NAME, Body=good)
            wait_for(lambda: analyze(server.url).status_code == HTTPStatus.OK, 30, "recovery")
            wait_for(lambda: readiness(server.url)[0] == HTTPStatus.OK, 30, "readiness")
        log = server.log()
    assert re.search(r"Model file .* refused: SHA-256 \w+ does not match the pinned", log)
    assert re.search(r"Model efficientnet-lite0\S* loaded", log)


def _bucket(endpoint: str):
    return s3_client(endpoint, R2_KEY_ID, R2_SECRET, buckets=(MODEL_BUCKET, "quarantine"))


# --- PostgreSQL unreachable ---------------------------------------------------------------------


class TcpProxy:
    """A loopback port that forwards to `target`, which the test can close and reopen."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._stop = threading.Event()
        threading.Thread(target=self._accept, args=(listener, self._stop), daemon=True).start()

    def down(self) -> None:
        """Close the port and cut every forwarded connection."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                _close(sock)
            self._sockets.clear()

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(sink)
        _close(source)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@contextmanager
def postgres_behind_proxy(postgres_url: str, monkeypatch) -> Iterator[TcpProxy]:
    """DATABASE_URL through a TcpProxy, so that the launcher's database is reached through it."""
    parsed = urlparse(postgres_url)
    proxy = TcpProxy((parsed.hostname or "127.0.0.1", parsed.port or 5432))
    proxy.up()
    netloc = f"{parsed.username or 'postgres'}@127.0.0.1:{proxy.port}"
    monkeypatch.setenv("DATABASE_URL", urlunparse(parsed._replace(netloc=netloc)))
    try:
        yield proxy
    finally:
        proxy.down()


def lost_entries(log: str) -> dict[str, dict]:
    """The audit entries the server logged instead of writing, by request id."""
    entries = {}
    for line in log.splitlines():
        if " ERROR " in line and "audit row lost: " in line:
            entry = json.loads(line.split("audit row lost: ", 1)[1])
            entries[entry["request_id"]] = entry
    return entries


def _audited(server, request_ids: set[str]) -> list[tuple]:
    """The audit rows, once those of `request_ids` are all written (else [])."""
    rows = database_rows(
        server.env["DATABASE_URL"], "SELECT request_id, status FROM inference_api_auditlog"
    )
    return rows if request_ids <= {request_id for request_id, _ in rows} else []


@pytest.mark.postgres
def test_postgres_unreachable_still_answers_and_logs_every_audit_entry(
    exported_model, require_postgres, monkeypatch
):
    with postgres_behind_proxy(require_postgres, monkeypatch) as proxy:
        with gunicorn_server(env={"LOG_LEVEL": "INFO"}, workers=2) as server:
            try:
                before = [wire.post(server.url, JPEG) for _ in range(3)]
                # "Before" is whole once its rows are in: they are written after each answer.
                eventually(lambda: _audited(server, {reply.request_id for reply in before}))
                proxy.down()
                outage = [wire.post(server.url, JPEG) for _ in range(6)]
                outage += [wire.post(server.url, HTML_AS_PNG) for _ in range(2)]
                ready_during_outage = readiness(server.url)
                # Each outage row is written after its answer: the database comes
                # back only once every one of them has been given up and logged.
                outage_ids = {reply.request_id for reply in outage}
                eventually(lambda: outage_ids <= set(lost_entries(server.log())), timeout=60)
            finally:
                proxy.up()
            after = [wire.post(server.url, JPEG) for _ in range(3)]
            wait_for(lambda: readiness(server.url)[0] == HTTPStatus.OK, 15, "readiness")
            expected = {reply.request_id for reply in before + after}
            rows = eventually(lambda: _audited(server, expected))
            eventually(lambda: all(reply.request_id in server.log() for reply in outage))
            log = server.log()

    assert [r.status for r in before + after] == [HTTPStatus.OK] * 6
    assert [r.status for r in outage] == [HTTPStatus.OK] * 6 + [
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    ] * 2
    assert max(r.elapsed_ms for r in outage) < ANSWER_WITHIN_SECONDS * 1000
    assert ready_during_outage[0] == HTTPStatus.SERVICE_UNAVAILABLE
    assert ready_during_outage[1]["checks"]["database"] == "failed"
    written = dict(rows)
    for reply in before + after:
        assert written[reply.request_id] == reply.status
    lost = lost_entries(log)
    for reply in outage:
        assert reply.request_id not in written
        entry = lost[reply.request_id]
        assert entry["status"] == reply.status and entry["client_ip"] == "127.0.0.1"
    accepted = [lost[r.request_id] for r in outage if r.status == HTTPStatus.OK]
    assert all(e["outcome"] == "ok" and e["top_label"] for e in accepted)
