"""Plans: each key's rate, allowances and output policy, the RateLimit fields, the usage rows.

Through the API with Django's test client and the real model; the counters'
clock stands still (`ratelimit_clock`) and moves when a test needs a new
window. In CI the counters are the shared Redis (the Lua script's path);
locally the in-process cache.
"""

import json
from http import HTTPStatus

import pytest
from django.core.management import call_command
from rest_framework_api_key.models import APIKey

from inference_api.admission import windows
from inference_api.models import KeyPlan, Plan, UsageDay
from inference_api.testing.http import ANALYZE, MULTIPART_TYPE, multipart

pytestmark = pytest.mark.django_db


def coffee() -> bytes:
    import io

    from PIL import Image
    from skimage import data

    out = io.BytesIO()
    Image.fromarray(data.coffee()).save(out, "JPEG", quality=90)
    return out.getvalue()


PHOTO = coffee()  # 600 x 400: 0.24 MP


@pytest.fixture
def free() -> Plan:
    return Plan.objects.create(
        name="free", rate_per_minute=10, requests_per_day=100, top_k=1, score_decimals=None
    )


@pytest.fixture
def pro() -> Plan:
    return Plan.objects.create(name="pro", rate_per_minute=600, top_k=5, score_decimals=4)


def key_on(plan: Plan, name: str = "customer") -> str:
    api_key, key = APIKey.objects.create_key(name=name)
    KeyPlan.objects.create(api_key=api_key, plan=plan)
    return key


def upload(client, key: str | None = None, data: bytes = PHOTO, ip: str = "198.51.100.7"):
    headers = {"X-Api-Key": key} if key else {}
    return client.post(
        ANALYZE,
        data=multipart(data, "image/jpeg", "photo.jpg"),
        content_type=MULTIPART_TYPE,
        headers=headers,
        REMOTE_ADDR=ip,
    )


def fields(response) -> dict[str, dict[str, str]]:
    """The RateLimit or RateLimit-Policy field parsed: {policy: {param: value}}."""
    parsed = {}
    for item in response.split(", "):
        name, *params = item.split(";")
        parsed[name.strip('"')] = dict(p.split("=", 1) for p in params)
    return parsed


def test_a_free_key_gets_labels_only_top_1_exactly(client, exported_model, free):
    response = upload(client, key_on(free))
    assert response.status_code == HTTPStatus.OK
    assert response.json()["predictions"] == [{"label": "espresso", "class_index": 967}]


def test_a_pro_key_gets_five_labels_at_four_decimals(client, exported_model, pro):
    response = upload(client, key_on(pro))
    predictions = response.json()["predictions"]
    assert len(predictions) == 5
    assert predictions[0]["label"] == "espresso"
    for prediction in predictions:
        assert set(prediction) == {"label", "class_index", "score"}
        assert prediction["score"] == round(prediction["score"], 4)
    assert any(p["score"] != round(p["score"], 3) for p in predictions)


def test_the_answer_carries_nothing_else_of_the_model(client, exported_model, pro):
    body = upload(client, key_on(pro)).json()
    assert set(body) == {"predictions", "model", "image", "request_id", "timing_ms"}
    assert set(body["model"]) == {"name", "version", "sha256"}


def test_a_key_gets_exactly_its_rate_and_then_rate_limited(client, exported_model, free):
    key = key_on(free)
    statuses = [upload(client, key, data=b"not an image").status_code for _ in range(12)]
    assert statuses == [HTTPStatus.UNSUPPORTED_MEDIA_TYPE] * 10 + [HTTPStatus.TOO_MANY_REQUESTS] * 2
    refused = upload(client, key)
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_past_the_daily_allowance_it_is_quota_exceeded_until_midnight(
    client, exported_model, free, ratelimit_clock
):
    free.requests_per_day, free.rate_per_minute = 3, 100
    free.save()
    key = key_on(free)
    assert [upload(client, key).status_code for _ in range(3)] == [HTTPStatus.OK] * 3
    refused = upload(client, key)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.json()["code"] == "quota_exceeded"
    assert int(refused["Retry-After"]) == windows.day_window().seconds_left
    assert "daily allowance of requests" in refused.json()["error"]
    ratelimit_clock.advance(windows.day_window().seconds_left)
    assert upload(client, key).status_code == HTTPStatus.OK


def test_refusals_for_the_rate_do_not_spend_the_allowance(client, free, ratelimit_clock):
    free.requests_per_day, free.rate_per_minute = 5, 2
    free.save()
    key = key_on(free)
    for _ in range(6):
        upload(client, key, data=b"x")
    state = fields(upload(client, key, data=b"x")["RateLimit"])
    assert state["day"]["r"] == "3"  # two requests inside the rate counted, four over it not


def test_a_megapixel_allowance_is_charged_by_what_was_decoded(client, exported_model):
    plan = Plan.objects.create(name="pixels", rate_per_minute=100, megapixels_per_day=1)
    key = key_on(plan)
    answers = [upload(client, key) for _ in range(6)]
    # 0.24 MP each: after four, 0.96 MP is still under 1, so the fifth is taken.
    assert [a.status_code for a in answers] == [HTTPStatus.OK] * 5 + [429]
    policy = fields(answers[0]["RateLimit-Policy"])["day-megapixels"]
    assert policy == {"q": "1", "w": "86400", "qu": '"megapixels"'}
    assert answers[5].json()["code"] == "quota_exceeded"
    assert "daily allowance of megapixels" in answers[5].json()["error"]
    # A refused request charges nothing: a thumbnail costs less than a photo.
    assert UsageDay.objects.get(outcome="ok").megapixels == pytest.approx(5 * 0.24)


def test_a_monthly_allowance_counts_across_days(client, free, ratelimit_clock):
    free.requests_per_day, free.requests_per_month = None, 2
    free.save()
    key = key_on(free)
    ratelimit_clock.now = 1_796_904_000  # 10 December 2026, noon UTC: the next day is this month
    upload(client, key, data=b"x")
    ratelimit_clock.advance(windows.day_window().seconds_left)
    upload(client, key, data=b"x")
    assert upload(client, key, data=b"x").json()["code"] == "quota_exceeded"
    ratelimit_clock.advance(windows.month_window().seconds_left)
    assert upload(client, key, data=b"x").json()["code"] == "content_type_mismatch"


def test_every_api_answer_carries_the_ratelimit_fields(client, exported_model, free):
    key = key_on(free)
    answers = [
        upload(client, key),
        upload(client, key, data=b"not an image"),
        client.get(ANALYZE, headers={"X-Api-Key": key}),
        client.options(ANALYZE, headers={"X-Api-Key": key}),
        upload(client, "wrong.key"),
    ]
    for response in answers:
        policy, state = fields(response["RateLimit-Policy"]), fields(response["RateLimit"])
        assert set(policy) == set(state) >= {"rate"}, response
    keyed = fields(answers[0]["RateLimit-Policy"])
    assert keyed == {"rate": {"q": "10", "w": "60"}, "day": {"q": "100", "w": "86400"}}
    assert fields(answers[1]["RateLimit"])["rate"]["r"] == "8"


def test_anonymous_clients_are_on_the_anonymous_plan(client, exported_model, settings):
    Plan.objects.create(name="public", rate_per_minute=2, top_k=2, score_decimals=2)
    settings.ANONYMOUS_PLAN = "public"
    first = upload(client)
    assert len(first.json()["predictions"]) == 2
    assert fields(first["RateLimit-Policy"]) == {"rate": {"q": "2", "w": "60"}}
    upload(client)
    assert upload(client).json()["code"] == "rate_limited"


def test_without_plans_the_answer_is_as_before(client, exported_model):
    predictions = upload(client).json()["predictions"]
    assert len(predictions) == 5
    assert predictions[0]["score"] == round(predictions[0]["score"], 6)


def test_the_usage_rows_match_the_requests_sent(client, exported_model, free, pro):
    free_key, pro_key = key_on(free, "free-customer"), key_on(pro, "pro-customer")
    for _ in range(3):
        upload(client, pro_key)
    upload(client, pro_key, data=b"nope")
    for _ in range(12):
        upload(client, free_key, data=b"nope")
    upload(client)
    rows = {(r.api_key_id, r.outcome): (r.requests, r.megapixels) for r in UsageDay.objects.all()}
    pro_id = APIKey.objects.get(name="pro-customer").pk
    free_id = APIKey.objects.get(name="free-customer").pk
    assert rows[(pro_id, "ok")] == (3, pytest.approx(3 * 0.24))
    assert rows[(pro_id, "content_type_mismatch")] == (1, 0.0)
    assert rows[(free_id, "content_type_mismatch")] == (10, 0.0)
    assert rows[(free_id, "rate_limited")] == (2, 0.0)
    assert rows[("", "ok")][0] == 1


def test_usage_report_prints_each_key_and_day(client, exported_model, pro, capsys):
    key = key_on(pro, "pro-customer")
    upload(client, key)
    upload(client, key, data=b"nope")
    call_command("usage_report", "--format", "json")
    (line,) = json.loads(capsys.readouterr().out)
    prefix = APIKey.objects.get(name="pro-customer").prefix
    assert (line["key"], line["key_name"], line["requests"]) == (prefix, "pro-customer", 2)
    assert (line["answered"], line["refused"]) == (1, 1)
    assert line["outcomes"] == {"content_type_mismatch": 1, "ok": 1}
    call_command("usage_report", "--key", prefix)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split(",")[:4] == ["day", "key", "key_name", "requests"]
    assert out[1].split(",")[1:4] == [prefix, "pro-customer", "2"]


def test_create_api_key_puts_the_key_on_a_plan(pro, capsys):
    call_command("create_api_key", "partner", "--plan", "pro")
    assert "plan pro" in capsys.readouterr().out
    assert KeyPlan.objects.get(api_key__name="partner").plan == pro


def test_create_api_key_refuses_an_unknown_plan():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no plan named 'gold'"):
        call_command("create_api_key", "partner", "--plan", "gold")
    assert not APIKey.objects.exists()
