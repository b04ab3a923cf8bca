"""Through POST /api/v1/analyze/: every outcome leaves exactly one audit row.

These go through the whole middleware stack and view in-process (Django's
test client): the audit middleware, the guards, the validators, the model.
"""

import io
from http import HTTPStatus

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from inference_api.models import AuditLog, BlockedClient, FlaggedUpload, QuarantinedFile
from inference_api.testing.factories import stored_files, use_tmp_quarantine
from inference_api.testing.http import ANALYZE

pytestmark = pytest.mark.django_db

CLIENT_IP = "198.51.100.23"


@pytest.fixture(autouse=True)
def quarantine(settings, tmp_path):
    return use_tmp_quarantine(settings, tmp_path / "quarantine")


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def post(post_upload):
    """Upload as CLIENT_IP with user agent "ua", the client `the_row` expects."""

    def post(payload: bytes, content_type: str = "image/png", name: str = "x.png", **extra):
        return post_upload(
            payload, name, content_type, REMOTE_ADDR=CLIENT_IP, HTTP_USER_AGENT="ua", **extra
        )

    return post


def the_row(response) -> AuditLog:
    row = AuditLog.objects.get()
    assert row.request_id == response["X-Request-ID"]
    assert (row.client_ip, row.user_agent, row.path) == (CLIENT_IP, "ua", ANALYZE)
    assert row.status == response.status_code
    return row


def test_an_accepted_image_is_audited_with_its_result(post, exported_model):
    payload = image_bytes("JPEG", (320, 240))

    response = post(payload, "image/jpeg", "photo.jpg")

    assert response.status_code == HTTPStatus.OK
    row = the_row(response)
    body = response.json()
    assert row.outcome == "ok"
    assert (row.detected_format, row.width, row.height) == ("JPEG", 320, 240)
    assert row.bytes_received == len(payload)
    assert row.top_label == body["predictions"][0]["label"]
    assert row.top_score == pytest.approx(body["predictions"][0]["score"], abs=1e-6)
    assert row.model_version == body["model"]["version"]
    assert row.latency_ms > 0
    assert not FlaggedUpload.objects.exists()


def test_a_request_without_a_file_is_audited(client):
    response = client.post(ANALYZE, {}, REMOTE_ADDR=CLIENT_IP, HTTP_USER_AGENT="ua")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert the_row(response).outcome == "no_file"


def test_a_wrong_method_is_audited(client):
    response = client.get(ANALYZE, REMOTE_ADDR=CLIENT_IP, HTTP_USER_AGENT="ua")

    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert the_row(response).outcome == "method_not_allowed"


def test_a_flood_of_wrong_methods_and_paths_is_counted_not_written_row_by_row(client):
    for _ in range(20):
        client.get(ANALYZE, REMOTE_ADDR=CLIENT_IP)
        client.get("/api/v1/nothing/", REMOTE_ADDR=CLIENT_IP)

    counted = sorted(AuditLog.objects.values_list("outcome", "status", "count"))
    assert counted == [("method_not_allowed", 405, 20), ("not_found", 404, 20)]


def test_an_oversized_declared_body_is_audited_before_it_is_read(post, settings):
    settings.MAX_UPLOAD_BYTES = 1000

    response = post(image_bytes("PNG", (400, 400)) + b"\0" * 40_000)

    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    row = the_row(response)
    assert (row.outcome, row.sha256) == ("file_too_large", "")
    assert not FlaggedUpload.objects.exists()


def test_a_type_not_allowed_is_audited_but_not_quarantined(post, quarantine):
    response = post(b"GIF89a" + b"\0" * 50, "image/gif", "x.gif")

    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert the_row(response).outcome == "unsupported_media_type"
    assert not FlaggedUpload.objects.exists()
    assert stored_files(quarantine) == []


@pytest.mark.parametrize(
    ("payload", "declared", "status", "code", "limits"),
    [
        (image_bytes("PNG"), "image/jpeg", 415, "content_type_mismatch", {}),
        (image_bytes("PNG")[:60], "image/png", 422, "invalid_image", {}),
        (image_bytes("PNG", (200, 20)), "image/png", 422, "image_too_large", {"DIM": 100}),
        (image_bytes("PNG", (90, 90)), "image/png", 422, "decompression_bomb", {"PIX": 1000}),
    ],
)
def test_a_hostile_upload_is_audited_and_quarantined(
    post, settings, quarantine, payload, declared, status, code, limits
):
    settings.MAX_IMAGE_DIMENSION = limits.get("DIM", settings.MAX_IMAGE_DIMENSION)
    settings.MAX_IMAGE_PIXELS = limits.get("PIX", settings.MAX_IMAGE_PIXELS)

    response = post(payload, declared)

    assert response.status_code == status
    assert response.json()["code"] == code
    row = the_row(response)
    flagged = FlaggedUpload.objects.get()
    assert (row.outcome, flagged.audit, flagged.reason) == (code, row, code)
    assert flagged.sha256 == row.sha256 and flagged.size == len(payload)
    kept = {file.name: file for file in stored_files(quarantine)}
    assert kept.pop(flagged.file.storage_name).read_bytes() == payload
    # A type lie whose bytes decode also keeps what the model saw, as our own PNG.
    previews = [flagged.file.preview_name] if code == "content_type_mismatch" else []
    assert list(kept) == previews
    assert flagged.file.preview_size == sum(f.stat().st_size for f in kept.values())


def test_a_hostile_upload_past_the_budget_is_audited_but_not_kept(post, settings, quarantine):
    settings.QUARANTINE_MAX_BYTES = 10

    response = post(image_bytes("PNG"), "image/jpeg")

    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert the_row(response).outcome == "content_type_mismatch"
    flagged = FlaggedUpload.objects.get()
    assert (flagged.file, flagged.not_stored) == (None, "total_budget")
    assert stored_files(quarantine) == []


def test_a_blocked_client_gets_403_and_an_audit_row(post, quarantine):
    BlockedClient.objects.create(network="198.51.100.0/24", reason="test")

    response = post(image_bytes("PNG"), "image/jpeg")

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "blocked"
    row = the_row(response)
    assert (row.outcome, row.count, row.bytes_received) == ("blocked", 1, 0)
    assert not FlaggedUpload.objects.exists()
    assert stored_files(quarantine) == []


def test_a_flood_of_rate_limited_requests_is_one_counted_row(client, settings):
    settings.RATE_LIMIT_PER_IP = "2/m"
    responses = [client.post(ANALYZE, {}, REMOTE_ADDR=CLIENT_IP) for _ in range(12)]

    assert [r.status_code for r in responses].count(HTTPStatus.TOO_MANY_REQUESTS) == 10
    limited = AuditLog.objects.get(outcome="rate_limited")
    assert (limited.count, limited.status, limited.client_key) == (10, 429, CLIENT_IP)
    assert AuditLog.objects.filter(outcome="no_file").count() == 2


def test_no_url_outside_the_admin_can_address_a_quarantined_file(
    client, settings, quarantine, post
):
    post(image_bytes("PNG"), "image/jpeg")
    name = QuarantinedFile.objects.get().storage_name

    for url in [
        f"/{name}",
        f"/media/{name}",
        f"/static/{name}",
        f"/quarantine/{name}",
        f"{settings.STATIC_URL}{name}",
        f"/api/v1/{name}",
        f"/var/quarantine/{name}",
    ]:
        response = client.get(url if url.startswith("/") else f"/{url}")
        assert response.status_code == HTTPStatus.NOT_FOUND, url
    # Outside the admin, no route takes a parameter that could name a file.
    for pattern in get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            assert str(pattern.pattern) == "admin/"
            continue
        assert isinstance(pattern, URLPattern)
        assert not pattern.pattern.converters, str(pattern.pattern)
