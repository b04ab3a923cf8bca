"""Rate limits over the wire: several gunicorn workers counting in one Redis.

Uses Redis db 3 on 127.0.0.1:6379 (flushed here, never another db), and for
the failure modes a private redis-server that the test stops.
"""

import io
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http import HTTPStatus

import pytest
import redis
import requests
from PIL import Image
from skimage import data

from inference_api.testing.http import post_file
from inference_api.testing.servers import free_port, gunicorn_server, wait_for_fresh_window

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.slow]

REDIS_DB = 3
WORKERS = 3
LIMIT = 10


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).resize((256, 171)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


PAYLOAD = small_jpeg()


def upload(url: str, forwarded_for: str | None = None) -> requests.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return post_file(url, PAYLOAD, "image/jpeg", name="cat.jpg", headers=headers)


@pytest.fixture
def redis_db3(require_redis) -> str:
    """Our own Redis database, emptied."""
    url = require_redis.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def timed_upload(url: str, forwarded_for: str | None = None) -> tuple[requests.Response, float]:
    response = upload(url, forwarded_for)
    return response, time.time()


def test_one_ip_gets_exactly_the_limit_across_workers_and_forging_does_not_help(
    exported_model, redis_db3
):
    """100 uploads from 127.0.0.1, 8 at a time, to 3 workers: exactly LIMIT are served.

    Then a forged X-Forwarded-For (no trusted proxies configured) does not
    open a new budget.
    """
    env = {"REDIS_URL": redis_db3, "RATE_LIMIT_PER_IP": f"{LIMIT}/m", "TRUSTED_PROXIES": "",
           "INFERENCE_QUEUE_TIMEOUT": "30"}
    with gunicorn_server(env=env, workers=WORKERS, threads=2) as server:
        window_end = wait_for_fresh_window(["ip:127.0.0.1"], 60, needed=20)["ip:127.0.0.1"] + 1
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: timed_upload(server.url), range(100)))
        forged = [upload(server.url, f"203.0.113.{n}") for n in range(1, 4)]
    statuses = Counter(response.status_code for response, _ in results)
    assert statuses == {HTTPStatus.OK: LIMIT, HTTPStatus.TOO_MANY_REQUESTS: 100 - LIMIT}
    for response, answered_at in results:
        if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            assert response.json()["code"] == "rate_limited"
            retry_after = int(response.headers["Retry-After"])
            # The seconds left in the window, rounded up (one more for clock granularity).
            assert window_end - answered_at - 1 <= retry_after <= window_end - answered_at + 2
    assert [response.status_code for response in forged] == [HTTPStatus.TOO_MANY_REQUESTS] * 3


def test_forwarded_for_is_honoured_from_a_trusted_proxy(exported_model, redis_db3):
    env = {"REDIS_URL": redis_db3, "RATE_LIMIT_PER_IP": "2/h", "TRUSTED_PROXIES": "127.0.0.1/32"}
    with gunicorn_server(env=env, workers=2) as server:
        # Each client's uploads must fall in one hour-long window of its own.
        buckets = ["ip:198.51.100.1", "ip:198.51.100.2", "ip:2001:db8:5:6::/64"]
        wait_for_fresh_window(buckets, 3600, needed=60)
        first = [upload(server.url, "198.51.100.1").status_code for _ in range(3)]
        # The client forges a left-most hop; the proxy appended the real one.
        forged = upload(server.url, "192.0.2.99, 198.51.100.1").status_code
        second = [upload(server.url, "198.51.100.2").status_code for _ in range(2)]
        ipv6 = [upload(server.url, f"2001:db8:5:6::{n}").status_code for n in (1, 2, 3)]
    assert first == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]
    assert forged == HTTPStatus.TOO_MANY_REQUESTS
    assert second == [HTTPStatus.OK, HTTPStatus.OK]
    assert ipv6 == [HTTPStatus.OK, HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS]


# --- Redis goes away -------------------------------------------------------------------


@contextmanager
def private_redis() -> Iterator[tuple[str, subprocess.Popen]]:
    """A redis-server of our own on a free port (never the shared one)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for the fault tests"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "private redis-server did not start"
                time.sleep(0.1)
        yield url, process
    finally:
        stop_redis(process)


def stop_redis(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def test_with_redis_stopped_it_fails_closed_by_default(exported_model):
    with private_redis() as (url, redis_process):
        env = {"REDIS_URL": url, "CACHE_TIMEOUT_SECONDS": "0.5"}
        with gunicorn_server(env=env, workers=2) as server:
            assert upload(server.url).status_code == HTTPStatus.OK
            stop_redis(redis_process)
            started = time.monotonic()
            refused = [upload(server.url) for _ in range(4)]
            elapsed = time.monotonic() - started
            log = server.log()
    for response in refused:
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert response.json()["code"] == "service_unavailable"
        assert response.headers["Retry-After"] == "5"
    assert elapsed < 4 * 2.0  # each refusal within the cache timeouts, no hang
    assert "Rate-limit cache unavailable" in log
    assert "failing closed" in log


def test_with_redis_stopped_it_fails_open_when_configured(exported_model):
    with private_redis() as (url, redis_process):
        env = {"REDIS_URL": url, "RATELIMIT_FAIL_OPEN": "true", "RATE_LIMIT_PER_IP": "1/h"}
        with gunicorn_server(env=env, workers=2) as server:
            wait_for_fresh_window(["ip:127.0.0.1"], 3600, needed=30)  # both in one window
            assert upload(server.url).status_code == HTTPStatus.OK
            assert upload(server.url).status_code == HTTPStatus.TOO_MANY_REQUESTS
            stop_redis(redis_process)
            served = [upload(server.url).status_code for _ in range(3)]
            log = server.log()
    assert served == [HTTPStatus.OK] * 3
    assert "failing open" in log
