"""Load shedding over the wire: one gunicorn worker with many threads and the real model.

Requests beyond the inference slots are answered 503 `overloaded` quickly,
with Retry-After, while the ones that got a slot are classified.
"""

import io
import threading
import time
from http import HTTPStatus

import pytest
import requests
from PIL import Image
from skimage import data

from inference_api.testing.servers import gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

CONCURRENT = 10
QUEUE_TIMEOUT = 0.1


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def burst(url: str, payload: bytes, count: int) -> list[tuple[requests.Response, float]]:
    """`count` uploads released at the same instant; each answer with its latency."""
    start = threading.Barrier(count)
    results: list[tuple[requests.Response, float]] = []
    lock = threading.Lock()

    def send() -> None:
        with requests.Session() as session:
            start.wait(timeout=10)
            began = time.monotonic()
            response = session.post(
                url, files={"file": ("cat.jpg", payload, "image/jpeg")}, timeout=60
            )
            with lock:
                results.append((response, time.monotonic() - began))

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return results


def test_requests_beyond_the_slots_get_503_quickly_while_the_others_succeed(exported_model):
    env = {"MAX_CONCURRENT_INFERENCES": "1", "INFERENCE_QUEUE_TIMEOUT": str(QUEUE_TIMEOUT)}
    payload = small_jpeg()
    with gunicorn_server(env=env, workers=1, threads=CONCURRENT) as server:
        url = f"{server.url}/api/v1/analyze/"
        assert requests.post(url, files={"file": ("cat.jpg", payload, "image/jpeg")},
                             timeout=60).status_code == HTTPStatus.OK
        results = burst(url, payload, CONCURRENT)

    statuses = [response.status_code for response, _ in results]
    assert len(results) == CONCURRENT
    assert set(statuses) <= {HTTPStatus.OK, HTTPStatus.SERVICE_UNAVAILABLE}, statuses
    ok = [(r, t) for r, t in results if r.status_code == HTTPStatus.OK]
    shed = [(r, t) for r, t in results if r.status_code == HTTPStatus.SERVICE_UNAVAILABLE]
    assert ok, "the request holding the slot must be served"
    assert shed, f"{CONCURRENT} simultaneous requests on one slot must shed some: {statuses}"
    for response, _ in ok:
        assert response.json()["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    for response, latency in shed:
        assert response.json() == {
            "error": "The service is busy; retry shortly.",
            "code": "overloaded",
            "request_id": response.headers["X-Request-ID"],
        }
        assert response.headers["Retry-After"] == "1"
        # Refused after the short queue wait, not after the others' forward passes.
        assert latency < QUEUE_TIMEOUT + 2.0
