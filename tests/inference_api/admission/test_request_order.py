"""The order of the gate: who may call is decided before anything about the body.

So a client flooding the API with oversized or malformed uploads spends its
rate limit like any other, and a blocked client learns nothing about caps.
"""

from http import HTTPStatus

import pytest

from inference_api.admission.blocklist import blocked_client_create
from inference_api.testing.http import ANALYZE

OVERSIZED = {
    "CONTENT_LENGTH": str(50 * 1024 * 1024),
    "CONTENT_TYPE": "multipart/form-data; boundary=x",
}

pytestmark = pytest.mark.django_db


def test_oversized_uploads_count_against_the_rate_limit(client, settings):
    settings.RATE_LIMIT_PER_IP = "2/m"
    statuses = [client.generic("POST", ANALYZE, b"", **OVERSIZED).status_code for _ in range(4)]
    assert statuses == [413, 413, 429, 429]


def test_a_blocked_client_is_refused_before_the_size_is_looked_at(client):
    blocked_client_create(ip="127.0.0.1", reason="test")
    response = client.generic("POST", ANALYZE, b"", **OVERSIZED)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json()["code"] == "blocked"


def test_other_methods_spend_the_limit_like_uploads(client, settings):
    settings.RATE_LIMIT_PER_IP = "1/m"
    assert client.get(ANALYZE).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    response = client.generic("POST", ANALYZE, b"", **OVERSIZED)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
