"""/metrics: what is counted for each API request, and who may read it.

These run in one process, so the default registry is the one /metrics shows
(the multiprocess collection under gunicorn is tested in tests/e2e).
"""

import io
from http import HTTPStatus

import pytest
from PIL import Image
from prometheus_client import REGISTRY

from analysis.model_store import reset_model
from inference_api.testing.http import ANALYZE

PUBLIC_ADDRESS = "203.0.113.7"


def sample(metric: str, /, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def jpeg_upload(name: str = "photo.jpg") -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 40)).save(buffer, "JPEG")
    buffer.seek(0)
    buffer.name = name
    return buffer


@pytest.fixture
def model_ready(exported_model: str):
    reset_model()
    yield exported_model
    reset_model()


def test_metrics_are_served_to_a_local_scraper(client):
    response = client.get("/metrics")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/plain")
    assert b"inference_api_requests_total" in response.content


def test_metrics_are_refused_to_a_public_address(client):
    response = client.get("/metrics", REMOTE_ADDR=PUBLIC_ADDRESS)
    assert response.status_code == HTTPStatus.FORBIDDEN
    body = response.json()
    assert body["code"] == "forbidden"
    assert body["request_id"] == response["X-Request-ID"]
    assert b"inference_api" not in response.content


def test_a_public_client_behind_a_trusted_proxy_is_refused(client, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=PUBLIC_ADDRESS)
    assert response.status_code == HTTPStatus.FORBIDDEN


def test_the_bearer_token_opens_metrics_to_any_address(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    allowed = client.get(
        "/metrics", REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Bearer scrape-token-0123456789"
    )
    wrong = client.get("/metrics", REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Bearer nope")
    assert allowed.status_code == HTTPStatus.OK
    assert wrong.status_code == HTTPStatus.FORBIDDEN


def test_no_token_configured_means_no_token_accepted(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.django_db
def test_a_rejection_is_counted_by_its_reason(client):
    before = sample("inference_api_rejections_total", reason="no_file")
    requests_before = sample("inference_api_requests_total", outcome="no_file", status="400")
    response = client.post(ANALYZE, {"note": "no file here"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert sample("inference_api_rejections_total", reason="no_file") == before + 1
    assert (
        sample("inference_api_requests_total", outcome="no_file", status="400")
        == requests_before + 1
    )


@pytest.mark.django_db
def test_a_classification_records_bytes_timings_and_the_model(client, model_ready):
    counts = {
        name: sample(f"inference_api_{name}_count")
        for name in ("upload_bytes", "decode_seconds", "inference_seconds", "request_seconds")
    }
    ok_before = sample("inference_api_requests_total", outcome="ok", status="200")
    response = client.post(ANALYZE, {"file": jpeg_upload()})
    assert response.status_code == HTTPStatus.OK, response.content
    for name, before in counts.items():
        assert sample(f"inference_api_{name}_count") == before + 1, name
    assert sample("inference_api_requests_total", outcome="ok", status="200") == ok_before + 1
    model = response.json()["model"]
    assert sample("inference_api_model_info", **model) == 1
    assert sample("inference_api_inferences_in_flight") == 0


def test_metrics_and_health_requests_are_not_api_requests(client):
    before = sample("inference_api_request_seconds_count")
    client.get("/metrics")
    client.get("/healthz")
    assert sample("inference_api_request_seconds_count") == before


@pytest.mark.parametrize("forwarded", ["127.0.0.1", "10.0.0.1, 127.0.0.1"])
def test_a_forged_forwarded_for_does_not_open_the_metrics(client, forwarded):
    # No trusted proxy: the peer is the client, whatever the header says.
    response = client.get("/metrics", REMOTE_ADDR=PUBLIC_ADDRESS, HTTP_X_FORWARDED_FOR=forwarded)
    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.django_db
def test_junk_requests_add_no_series_to_the_metrics(client):
    # Every label value comes from the code (outcome codes, statuses), never from the
    # request: a client cannot grow the metrics, and so the scrape, without bound.
    def series() -> set[tuple]:
        return {
            tuple(sorted(s.labels.items()))
            for metric in REGISTRY.collect()
            if metric.name.startswith("inference_api")
            for s in metric.samples
        }

    client.post(ANALYZE, {}, REMOTE_ADDR=PUBLIC_ADDRESS)  # no_file's series, once
    before = series()
    for n in range(40):
        client.generic(
            ["POST", "PUT", "BREW", "PATCH"][n % 4],
            f"{ANALYZE}junk-{n}/?x={n}" if n % 2 else ANALYZE,
            data=f"junk-{n}".encode(),
            content_type=f"image/x-junk-{n}",
            REMOTE_ADDR=f"203.0.113.{n + 10}",
            HTTP_X_API_KEY=f"junk-{n}" if n % 3 == 0 else "",
        )
    added = series() - before

    assert not any("junk" in str(labels) for labels in added)
    assert len(added) <= 12, added  # a few outcome and status pairs, not one per request
