"""The gate (admission/gate.py): who may call is decided, and charged, before anything else.

Before anything about the body: a client flooding the API with oversized or
malformed uploads spends its rate limit like any other, and a blocked client
learns nothing about caps. Before anything expensive or logged: wrong keys,
missing keys, OPTIONS and wrong methods spend the client's limit like uploads
do, and their answers are counted into one audit row per client, outcome and
minute, so a flood of them costs neither the workers nor the table.
"""

from http import HTTPStatus

import pytest
from django.db.models import Sum

from inference_api import errors, outcomes
from inference_api.admission.blocklist import blocked_client_create
from inference_api.models import AuditLog
from inference_api.testing.http import ANALYZE

WRONG_KEY = "Abcd1234.not-a-key-that-was-ever-issued-00"
ORIGIN = "https://app.example.com"
OVERSIZED = {
    "CONTENT_LENGTH": str(50 * 1024 * 1024),
    "CONTENT_TYPE": "multipart/form-data; boundary=x",
}

pytestmark = pytest.mark.django_db


def statuses(responses) -> list[int]:
    return [response.status_code for response in responses]


def test_a_flood_of_wrong_keys_and_options_is_rate_limited_and_counted_not_logged(
    client, settings
):
    settings.RATE_LIMIT_PER_IP = "5/m"
    wrong_keys = [
        client.post(ANALYZE, {}, headers={"X-Api-Key": WRONG_KEY}) for _ in range(20)
    ]
    options = [client.options(ANALYZE) for _ in range(20)]

    assert statuses(wrong_keys) == [HTTPStatus.UNAUTHORIZED] * 5 + [
        HTTPStatus.TOO_MANY_REQUESTS
    ] * 15
    assert set(statuses(options)) == {HTTPStatus.TOO_MANY_REQUESTS}
    assert wrong_keys[-1].json()["code"] == "rate_limited"
    assert int(wrong_keys[-1]["Retry-After"]) >= 1
    # One row per outcome and minute (two if the flood straddled a minute).
    rows = AuditLog.objects.all()
    assert {row.outcome for row in rows} == {"invalid_api_key", "rate_limited"}
    assert rows.count() <= 4
    assert rows.aggregate(total=Sum("count"))["total"] == 40


def test_options_spend_the_limit_and_are_counted_as_options(client, settings):
    settings.RATE_LIMIT_PER_IP = "3/m"
    answers = [client.options(ANALYZE) for _ in range(5)]

    assert statuses(answers) == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS] * 2
    assert answers[0].content == b""
    counted = dict(AuditLog.objects.values_list("outcome").annotate(total=Sum("count")))
    assert counted == {outcomes.OPTIONS: 3, errors.RateLimited.code: 2}


def test_a_missing_key_where_one_is_required_spends_the_limit(client, settings):
    settings.RATE_LIMIT_PER_IP = "2/m"
    settings.REQUIRE_API_KEY = True
    answers = [client.post(ANALYZE, {}) for _ in range(4)]

    assert statuses(answers) == [HTTPStatus.UNAUTHORIZED] * 2 + [HTTPStatus.TOO_MANY_REQUESTS] * 2


def test_a_cors_preflight_is_charged_and_still_answered_with_cors_headers(client, settings):
    settings.RATE_LIMIT_PER_IP = "1/m"
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    first = client.options(ANALYZE, headers=headers)
    second = client.options(ANALYZE, headers=headers)

    assert first.status_code == HTTPStatus.OK
    assert first["Access-Control-Allow-Origin"] == ORIGIN
    assert second.status_code == HTTPStatus.TOO_MANY_REQUESTS
    # The refusal is readable by the page: it carries the CORS headers too.
    assert second["Access-Control-Allow-Origin"] == ORIGIN


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
    settings.RATE_LIMIT_PER_IP = "2/m"
    answers = [
        client.get(ANALYZE),
        client.put(ANALYZE),
        client.generic("POST", ANALYZE, b"", **OVERSIZED),
        client.get(ANALYZE),
    ]

    assert statuses(answers) == [
        HTTPStatus.METHOD_NOT_ALLOWED,
        HTTPStatus.METHOD_NOT_ALLOWED,
        HTTPStatus.TOO_MANY_REQUESTS,  # the upload's budget is the one the methods spent
        HTTPStatus.TOO_MANY_REQUESTS,
    ]
