"""The decode budget on the wire: gunicorn workers, their decoder processes, the audit trail."""

import io
import os
import signal
import socket
import statistics
import threading
import time
from http import HTTPStatus

import pytest
import requests
from PIL import Image

from inference_api.sandbox.child import IDLE_TRIM_SECONDS
from inference_api.testing.http import ANALYZE, post_file
from inference_api.testing.images.costly import build, flat_lossless_webp
from inference_api.testing.servers import (
    cpu_seconds,
    database_rows,
    descendants,
    gunicorn_server,
    status_kb,
    worker_pids,
)

pytestmark = [pytest.mark.live, pytest.mark.slow]

MIB = 1024 * 1024


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((640, 480), 40).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def audit_rows(server, where: str = "") -> list[tuple]:
    sql = "SELECT request_id, status, outcome, client_ip, count FROM inference_api_auditlog"
    return database_rows(server.env["DATABASE_URL"], sql + (f" WHERE {where}" if where else ""))


def wait_idle(worker: int, seconds: float = 60) -> None:
    """Wait until none of the worker's decoders is using CPU (the spares have started)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = {pid: cpu_seconds(pid) for pid in descendants(worker)}
        time.sleep(0.3)
        if before and all(cpu_seconds(pid) - used < 0.01 for pid, used in before.items()):
            return
    raise AssertionError("the decoders did not settle")


def busy_decoder(worker: int, seconds: float = 30) -> int:
    """The worker's decoder that is spending CPU now (the one decoding)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = {pid: cpu_seconds(pid) for pid in descendants(worker)}
        time.sleep(0.1)
        for pid, used in before.items():
            if cpu_seconds(pid) - used > 0.03:
                return pid
    raise AssertionError("no decoder got busy")


def test_a_decoder_killed_mid_decode_gives_the_json_contract_and_an_audit_row(exported_model):
    env = {"DECODE_CPU_SECONDS": "60", "DECODE_WALL_SECONDS": "60"}
    with gunicorn_server(env=env, workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        wait_idle(worker)  # a decoder still starting would look busy
        answer: list[requests.Response] = []
        upload = threading.Thread(
            target=lambda: answer.append(
                post_file(server.url, build("jpeg_cmyk_progressive_8000"), "image/jpeg")
            )
        )
        upload.start()
        victim = busy_decoder(worker)
        os.kill(victim, signal.SIGKILL)
        upload.join(timeout=60)
        response = answer[0]
        body = response.json()
        assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
        assert body["code"] == "too_costly"
        assert body["request_id"] == response.headers["X-Request-ID"]
        # The worker is unharmed and answers the next upload at once.
        assert worker_pids(server.process.pid) == [worker]
        assert post_file(server.url, photo(), "image/jpeg").status_code == HTTPStatus.OK
        rows = audit_rows(server, f"request_id = '{body['request_id']}'")
        flagged = database_rows(
            server.env["DATABASE_URL"], "SELECT reason FROM inference_api_flaggedupload"
        )
    assert [(r[1], r[2]) for r in rows] == [(422, "too_costly")]
    assert ("too_costly",) in flagged


def test_a_worker_killed_mid_request_still_leaves_its_audit_row(exported_model):
    with gunicorn_server(env={"GUNICORN_TIMEOUT": "3"}, workers=1) as server:
        (worker,) = worker_pids(server.process.pid)
        body = b"--b\r\nContent-Disposition: form-data; name=file; filename=a.png\r\n\r\n"
        head = (
            f"POST {ANALYZE} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body) + 5000}"
            "\r\nUser-Agent: hanging-client\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as hung:
            hung.sendall(head + body)  # then nothing more: the worker waits for the rest
            deadline = time.monotonic() + 30
            while worker_pids(server.process.pid) == [worker] and time.monotonic() < deadline:
                time.sleep(0.2)
        assert worker_pids(server.process.pid) != [worker], "gunicorn did not replace the worker"
        time.sleep(0.5)
        rows = audit_rows(server, "outcome = 'worker_died'")
        log = server.log()
    assert [(r[1], r[2], str(r[3])) for r in rows] == [(500, "worker_died", "127.0.0.1")]
    assert f"Worker {worker} died serving request {rows[0][0]}" in log


def resident_kb(server) -> int:
    """Resident memory of the workers and their decoders together."""
    workers = worker_pids(server.process.pid)
    pids = workers + [child for worker in workers for child in descendants(worker)]
    return sum(status_kb(pid, "VmRSS") for pid in pids)


def test_memory_returns_to_idle_after_eight_webp_canvases_of_8000_squared(exported_model):
    webp = flat_lossless_webp(8000, 8000)
    with gunicorn_server(workers=1) as server:
        for _ in range(3):
            assert post_file(server.url, photo(), "image/jpeg").status_code == HTTPStatus.OK
        idle = resident_kb(server)
        for _ in range(8):
            response = post_file(server.url, webp, "image/webp")
            assert response.status_code == HTTPStatus.OK, response.text
        time.sleep(IDLE_TRIM_SECONDS + 0.5)  # the decoders give their free heap back
        after = resident_kb(server)
    assert after - idle <= 50 * 1024, (idle, after)


def test_two_clients_sending_the_worst_uploads_leave_others_answered_fast(
    exported_model, require_redis
):
    env = {"TRUSTED_PROXIES": "127.0.0.1/32", "REDIS_URL": require_redis}
    worst = [
        (build("png_rgba16_8000"), "image/png"),
        (build("jpeg_cmyk_progressive_8000"), "image/jpeg"),
    ]
    stop = threading.Event()
    sent: dict[str, int] = {"203.0.113.7": 0, "203.0.113.8": 0}

    def attack(address: str, upload: tuple[bytes, str]) -> None:
        while not stop.is_set():  # at the default limit, 30 a minute
            post_file(server.url, *upload, headers={"X-Forwarded-For": address})
            sent[address] += 1
            stop.wait(2.0)

    with gunicorn_server(env=env, workers=2) as server:
        attackers = [
            threading.Thread(target=attack, args=(address, upload))
            for address, upload in zip(sent, worst, strict=True)
        ]
        for attacker in attackers:
            attacker.start()
        latencies = []
        good = photo()
        for _ in range(20):
            started = time.monotonic()
            forwarded = {"X-Forwarded-For": "198.51.100.1"}
            response = post_file(server.url, good, "image/jpeg", headers=forwarded)
            latencies.append(time.monotonic() - started)
            assert response.status_code == HTTPStatus.OK
            time.sleep(0.5)
        stop.set()
        for attacker in attackers:
            attacker.join()
        time.sleep(0.5)
        counted = {
            address: sum(r[4] for r in audit_rows(server, f"client_ip = '{address}'"))
            for address in sent
        }
    assert statistics.median(latencies) < 1.0, latencies
    assert counted == sent
