"""Debian's nginx, configured by deploy/nginx.conf itself, in front of gunicorn on loopback.

The real file is rendered (only its four placeholders filled) into a temporary
folder with its own pid and buffer paths, and nginx runs in the foreground.
The app runs with the production settings and JSON logs, so what it saw of
each request is read from its log line.
"""

import http.client
import io
import json
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import pytest
import requests
from django.conf import settings
from PIL import Image

from inference_api.testing import services
from inference_api.testing.edge import PLACEHOLDERS, TEMPLATE, render
from inference_api.testing.edge import without_comments as _without_comments
from inference_api.testing.http import ANALYZE
from inference_api.testing.servers import LiveServer, eventually, free_port, gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

CLIENT_ADDRESS = "127.0.0.2"  # another loopback address, so client and proxy differ


@dataclass
class Edge:
    """A running nginx: its URL and the JSON access log it writes."""

    url: str
    port: int
    access_log: Path

    def log_entries(self) -> list[dict]:
        lines = self.access_log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def entries_where(self, **fields) -> list[dict]:
        """Matching access-log entries; nginx writes one when the connection is done with."""
        deadline = time.monotonic() + 5
        while True:
            found = [e for e in self.log_entries() if fields.items() <= e.items()]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nginx did not listen")


@contextmanager
def nginx_in_front(app: LiveServer, static_root: Path) -> Iterator[Edge]:
    """Runs nginx with the rendered config before `app` until the block ends."""
    nginx = services.require_nginx()
    with tempfile.TemporaryDirectory(prefix="edge-") as tmpdir:
        run_dir = Path(tmpdir)
        run_dir.chmod(0o755)  # nginx's workers (nobody) create their buffer folders here
        port = free_port()
        config = run_dir / "nginx.conf"
        config.write_text(
            render(
                {
                    "NGINX_LISTEN": f"127.0.0.1:{port}",
                    "APP_UPSTREAM": f"127.0.0.1:{app.port}",
                    "STATIC_ROOT": str(static_root),
                    "NGINX_RUN_DIR": str(run_dir),
                }
            )
        )
        command = [nginx, "-c", str(config), "-e", "stderr"]
        # Debian's build runs workers as nobody:nobody; Debian calls that group nogroup.
        globals_ = "daemon off; master_process on; user nobody nogroup;"
        checked = subprocess.run([*command, "-t", "-g", globals_], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        access_log = run_dir / "access.log"
        with access_log.open("wb") as out, (run_dir / "error.log").open("wb") as err:
            process = subprocess.Popen([*command, "-g", globals_], stdout=out, stderr=err)
        try:
            wait_for_port(port, process)
            yield Edge(f"http://127.0.0.1:{port}", port, access_log)
        finally:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def production_env(**extra: str) -> dict[str, str]:
    """The production profile, with the suite's exported model and a private Redis db."""
    redis = services.require_redis().rsplit("/", 1)[0] + "/4"
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "nginx-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "REDIS_URL": redis,
        "MODEL_STORAGE_DIR": str(settings.MODEL_STORAGE_DIR),
        "MODEL_CACHE_DIR": str(settings.MODEL_CACHE_DIR),
        "RATE_LIMIT_PER_IP": "10000/m",
        "LOG_FORMAT": "json",
        **extra,
    }


@pytest.fixture(scope="module")
def static_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="static-") as tmpdir:
        root = Path(tmpdir)
        root.chmod(0o755)
        (root / "edge-probe.txt").write_text("served by nginx\n")
        (root / "edge-probe.txt").chmod(0o644)
        yield root


@pytest.fixture(scope="module")
def stack(exported_model, static_root) -> Iterator[tuple[LiveServer, Edge]]:
    """gunicorn (3 sync workers, production settings) behind nginx."""
    with gunicorn_server(env=production_env(), workers=3) as app:
        with nginx_in_front(app, static_root) as edge:
            yield app, edge


def jpeg_bytes(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 140, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def app_request_lines(app: LiveServer) -> list[dict]:
    """The app's JSON request lines (logger inference_api.requests)."""
    entries = []
    for line in app.log().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("name") == "inference_api.requests":
                entries.append(entry)
    return entries


def test_a_20_mb_upload_is_refused_at_the_edge(stack):
    app, edge = stack
    body = b"\0" * (20 * 1024 * 1024)
    response = requests.post(
        edge.url + ANALYZE, files={"file": ("big.jpg", body, "image/jpeg")}, timeout=30
    )
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.json()["code"] == "file_too_large"
    request_id = response.headers["X-Request-ID"]
    assert response.json()["request_id"] == request_id
    [entry] = edge.entries_where(request_id=request_id)
    assert entry["status"] == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert entry["upstream_addr"] in {"", "-"}, "the app must never see it"
    assert not [e for e in app_request_lines(app) if e["outcome"] == "file_too_large"]


def test_a_chunked_20_mb_upload_is_refused_at_the_edge(stack):
    app, edge = stack

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"\0" * (1024 * 1024)

    try:
        response = requests.post(
            edge.url + ANALYZE,
            data=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=x"},
            timeout=30,
        )
    except requests.ConnectionError:
        response = None  # nginx may close while the client is still sending
    if response is not None:
        assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    refused = edge.entries_where(status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE, method="POST")
    assert any(e["upstream_addr"] in {"", "-"} for e in refused)
    assert not [e for e in app_request_lines(app) if e["outcome"] == "file_too_large"]


def test_a_valid_image_is_classified_through_the_proxy(stack, exported_model):
    app, edge = stack
    response = requests.post(
        edge.url + ANALYZE, files={"file": ("photo.jpg", jpeg_bytes(), "image/jpeg")}, timeout=60
    )
    assert response.status_code == HTTPStatus.OK, response.text
    body = response.json()
    assert body["predictions"] and body["model"]["sha256"] == exported_model
    assert body["request_id"] == response.headers["X-Request-ID"]
    proxied = edge.entries_where(uri=ANALYZE, upstream_status="200")
    assert proxied and all(e["upstream_addr"] == f"127.0.0.1:{app.port}" for e in proxied)


def post_from(edge: Edge, address: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    """A multipart upload sent from a chosen loopback source address."""
    boundary = "edge-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + jpeg_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection(
        "127.0.0.1", edge.port, timeout=60, source_address=(address, 0)
    )
    connection.request(
        "POST",
        ANALYZE,
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **headers},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_the_app_sees_the_client_address_from_the_proxy_headers(stack):
    app, edge = stack
    # The spoofed header is the client's: nginx overwrites it with the address it saw.
    response = post_from(edge, CLIENT_ADDRESS, {"X-Forwarded-For": "198.51.100.9"})
    assert response.status == HTTPStatus.OK
    request_id = response.getheader("X-Request-ID")
    [line] = eventually(
        lambda: [e for e in app_request_lines(app) if e["request_id"] == request_id]
    )
    assert line["client_ip"] == CLIENT_ADDRESS
    [entry] = edge.entries_where(uri=ANALYZE, remote_addr=CLIENT_ADDRESS)
    assert entry["upstream_status"] == "200"


def test_production_logs_one_json_line_per_request(stack):
    app, edge = stack
    response = requests.post(
        edge.url + ANALYZE, files={"file": ("notes.txt", b"hello", "text/plain")}, timeout=30
    )
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    request_id = response.headers["X-Request-ID"]
    [line] = eventually(
        lambda: [e for e in app_request_lines(app) if e["request_id"] == request_id]
    )
    assert line["client_ip"] == "127.0.0.1"
    assert line["outcome"] == response.json()["code"]
    assert line["status"] == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert isinstance(line["latency_ms"], float | int) and line["latency_ms"] >= 0
    assert line["levelname"] == "INFO"


def test_static_files_are_served_by_nginx(stack):
    _, edge = stack
    response = requests.get(edge.url + "/static/edge-probe.txt", timeout=10)
    assert response.status_code == HTTPStatus.OK
    assert response.text == "served by nginx\n"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_metrics_are_not_reachable_through_the_edge(stack):
    _, edge = stack
    assert requests.get(edge.url + "/metrics", timeout=10).status_code == HTTPStatus.NOT_FOUND


def dribble(port: int, stop: threading.Event, sent: list[int]) -> None:
    """A client that declares a body and sends it a few bytes at a time."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {ANALYZE} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            "Content-Type: multipart/form-data; boundary=slow\r\n\r\n".encode()
        )
        while not stop.is_set():
            sock.sendall(b"--slow\r\n"[:4])
            sent[0] += 4
            time.sleep(0.2)


def test_a_slow_sender_does_not_hold_the_only_worker(exported_model, static_root):
    with gunicorn_server(env=production_env(), workers=1) as app:
        with nginx_in_front(app, static_root) as edge:
            stop, sent = threading.Event(), [0]
            slow = threading.Thread(target=dribble, args=(edge.port, stop, sent), daemon=True)
            slow.start()
            try:
                time.sleep(1.0)  # the slow body is well under way
                started = time.monotonic()
                response = requests.get(edge.url + "/healthz", timeout=10)
                elapsed = time.monotonic() - started
                still_sending = slow.is_alive()
            finally:
                stop.set()
                slow.join(timeout=5)
    assert response.status_code == HTTPStatus.OK
    assert still_sending and sent[0] > 0
    # gunicorn's only sync worker answered at once: nginx was holding the slow body.
    assert elapsed < 3.0, elapsed


def test_the_rendered_config_fills_only_its_placeholders():
    text = TEMPLATE.read_text()
    used = set(re.findall(r"\$\{(\w+)\}", _without_comments(text)))
    assert used == set(PLACEHOLDERS)
