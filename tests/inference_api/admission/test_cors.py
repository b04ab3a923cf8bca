"""CORS headers in-process: which origins, paths, methods and headers are allowed.

The browser's own enforcement is tests/e2e/test_cors_browser.py.
"""

import pytest
from django.db.models import Sum

from inference_api import errors, outcomes
from inference_api.models import AuditLog
from inference_api.testing.factories import image_upload
from inference_api.testing.http import ANALYZE

ALLOWED = "https://app.example.com"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def origins(settings):
    settings.CORS_ALLOWED_ORIGINS = [ALLOWED]


def preflight(client, origin: str, path: str = ANALYZE, headers: str = "x-api-key"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def test_an_allowed_origin_may_post_with_an_api_key(client):
    response = preflight(client, ALLOWED)
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert set(response["Access-Control-Allow-Methods"].split(", ")) == {"POST", "OPTIONS"}
    assert "x-api-key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


def test_a_preflight_goes_through_the_pipeline_and_its_audit(client, settings):
    # django-cors-headers answers preflights itself; ApiCorsMiddleware overrides its
    # check_preflight so they are counted and audited. Were the hook renamed, the
    # library's own empty answer (no Allow, no row) would come back instead.
    settings.RATE_LIMIT_PER_IP = "2/m"
    answers = [preflight(client, ALLOWED) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0]["Allow"] == "POST, OPTIONS"
    assert answers[0]["Access-Control-Allow-Origin"] == ALLOWED
    rows = dict(AuditLog.objects.values_list("outcome").annotate(total=Sum("count")))
    assert rows == {outcomes.OPTIONS: 2, errors.RateLimited.code: 1}


def test_another_origin_gets_no_cors_headers(client):
    response = preflight(client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response


def test_the_answer_exposes_the_request_id_retry_after_and_the_ratelimit_fields(client):
    response = client.post(ANALYZE, {}, headers={"Origin": ALLOWED})
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"x-request-id", "retry-after", "ratelimit", "ratelimit-policy"}


@pytest.mark.parametrize("path", ["/admin/login/", "/healthz"])
def test_paths_outside_the_api_allow_no_origin(client, path):
    response = client.get(path, headers={"Origin": ALLOWED})
    assert "Access-Control-Allow-Origin" not in response


def test_the_wildcard_is_never_sent(client):
    response = client.post(ANALYZE, {}, headers={"Origin": "https://evil.example.net"})
    assert response.get("Access-Control-Allow-Origin") != "*"


def test_a_hostile_page_cannot_spend_its_visitors_budget_or_get_them_blocked(client, settings):
    # A form on evil.example.net auto-posting spoofed uploads from each visitor's browser:
    # refused before the charge and the checks, so nothing counts against the visitor.
    from django.core.cache import cache

    from inference_api.audit import autoblock
    from inference_api.models import AuditLog, BlockedClient, FlaggedUpload
    from inference_api.testing.http import upload_file
    from inference_api.testing.images.uploads import encode

    settings.AUTO_BLOCK_FLAGGED = 2
    settings.RATE_LIMIT_PER_IP = "3/m"
    visitor = "198.51.100.44"
    spoofed = encode("PNG")  # declared a JPEG below: a flagged content_type_mismatch
    answers = [
        client.post(
            ANALYZE,
            {"file": upload_file(spoofed, "x.jpg", "image/jpeg")},
            headers={"Origin": "https://evil.example.net"},
            REMOTE_ADDR=visitor,
        )
        for _ in range(6)
    ]
    own = client.post(ANALYZE, {"file": image_upload()}, REMOTE_ADDR=visitor)

    assert {r.status_code for r in answers} == {403}
    assert {r.json()["code"] for r in answers} == {"origin_not_allowed"}
    assert own.status_code != 429 and own.json().get("code") != "blocked"
    assert not BlockedClient.objects.exists() and not FlaggedUpload.objects.exists()
    assert cache.get(autoblock.COUNTER_PREFIX + visitor) is None
    # Counted in one aggregated row: a flood of them is no flood of INSERTs.
    assert AuditLog.objects.get(outcome="origin_not_allowed").count == 6


@pytest.mark.parametrize("origin", [ALLOWED, "http://testserver", None])
def test_the_allowed_origins_the_api_s_own_and_non_browsers_are_not_refused(client, origin):
    headers = {"Origin": origin} if origin else {}
    response = client.post(ANALYZE, {}, headers=headers)
    assert response.json()["code"] == "no_file"


def test_a_null_origin_is_refused(client):
    response = client.post(ANALYZE, {}, headers={"Origin": "null"})
    assert response.json()["code"] == "origin_not_allowed"
