"""CORS headers in-process: which origins, paths, methods and headers are allowed.

The browser's own enforcement is tests/e2e/test_cors_browser.py.
"""

import pytest

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
