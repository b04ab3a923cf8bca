"""API keys: optional or required, always valid when presented, never logged nor stored raw."""

import logging
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from inference_api.models import AuditLog
from inference_api.testing.http import ANALYZE

pytestmark = pytest.mark.django_db



def post(client, key: str | None = None):
    headers = {"X-Api-Key": key} if key is not None else {}
    return client.post(ANALYZE, {}, headers=headers)


def assert_invalid_key(response) -> None:
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    body = response.json()
    assert body["code"] == "invalid_api_key"
    assert body["request_id"] == response["X-Request-ID"]


def test_anonymous_calls_pass_the_guard_when_keys_are_optional(client, settings):
    settings.REQUIRE_API_KEY = False
    response = post(client)
    # Past the guard, the empty form is the next thing refused.
    assert response.json()["code"] == "no_file"


def test_it_requires_a_key_when_configured(client, settings):
    settings.REQUIRE_API_KEY = True
    assert_invalid_key(post(client))
    assert AuditLog.objects.get().outcome == "invalid_api_key"


def test_a_valid_key_passes_when_required_and_is_audited_by_id(client, settings):
    settings.REQUIRE_API_KEY = True
    api_key, key = APIKey.objects.create_key(name="partner")
    response = post(client, key)
    assert response.json()["code"] == "no_file"
    entry = AuditLog.objects.get()
    assert entry.api_key_id == api_key.pk
    assert key not in entry.api_key_id


@pytest.mark.parametrize("required", [False, True])
def test_a_wrong_key_is_refused_even_when_keys_are_optional(client, settings, required):
    settings.REQUIRE_API_KEY = required
    api_key, key = APIKey.objects.create_key(name="partner")
    assert_invalid_key(post(client, key[:-1] + ("x" if key[-1] != "x" else "y")))
    assert_invalid_key(post(client, "unknown.key"))
    assert_invalid_key(post(client, "no-dot-at-all"))


def test_a_revoked_key_is_refused(client):
    api_key, key = APIKey.objects.create_key(name="partner", revoked=True)
    assert_invalid_key(post(client, key))


def test_an_expired_key_is_refused(client):
    expired = timezone.now() - timedelta(minutes=1)
    _, key = APIKey.objects.create_key(name="partner", expiry_date=expired)
    assert_invalid_key(post(client, key))


def test_an_oversized_key_is_refused_without_a_database_lookup(django_assert_max_num_queries):
    from inference_api.admission.apikeys import find_api_key

    with django_assert_max_num_queries(0):
        assert find_api_key("a." + "b" * 5000) is None


def test_keys_are_stored_hashed():
    api_key, key = APIKey.objects.create_key(name="partner")
    stored = APIKey.objects.values_list("id", "prefix", "hashed_key", "name").get()
    assert all(key not in str(value) for value in stored)
    assert key.startswith(api_key.prefix + ".")


def test_no_log_line_holds_the_key(client, caplog):
    _, key = APIKey.objects.create_key(name="partner")
    secret_part = key.split(".", 1)[1]
    with caplog.at_level(logging.DEBUG):
        post(client, key)
        post(client, key + "x")
    assert caplog.records, "the request log line is expected"
    for record in caplog.records:
        assert secret_part not in record.getMessage()
        assert all(secret_part not in repr(value) for value in vars(record).values())


def test_the_admin_manages_api_keys():
    assert admin.site.is_registered(APIKey)


def test_the_admin_issues_a_key_and_shows_it_once(admin_client):
    # The form as the admin renders it: the key's plan inline, left empty.
    form = {"name": "from-admin", "plan_of_key-TOTAL_FORMS": "0", "plan_of_key-INITIAL_FORMS": "0"}
    response = admin_client.post("/admin/rest_framework_api_key/apikey/add/", form, follow=True)
    assert response.status_code == HTTPStatus.OK
    api_key = APIKey.objects.get(name="from-admin")
    shown = [str(m) for m in response.context["messages"]]
    assert any(api_key.prefix in message for message in shown)


def test_create_api_key_prints_a_working_key_once(capsys):
    call_command("create_api_key", "partner")
    out = capsys.readouterr().out
    key = out.strip().splitlines()[-1]
    assert APIKey.objects.is_valid(key)
    assert APIKey.objects.get().name == "partner"
    assert out.count(key) == 1


def test_create_api_key_can_set_an_expiry(capsys):
    call_command("create_api_key", "temporary", "--expires-in-days", "7")
    api_key = APIKey.objects.get()
    assert api_key.expiry_date is not None
    assert timedelta(days=6) < api_key.expiry_date - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize("args", [[" "], ["x" * 51], ["ok", "--expires-in-days", "0"]])
def test_create_api_key_refuses_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("create_api_key", *args)
    assert not APIKey.objects.exists()


def test_wrong_secrets_for_a_real_key_s_prefix_spend_the_sender_s_budget_not_the_key_s(
    client, settings
):
    # A key's prefix is no secret (it is in logs and the admin); guessing on it must not
    # use up the key owner's rate.
    settings.RATE_LIMIT_PER_KEY = "2/m"
    settings.RATE_LIMIT_PER_IP = "100/m"
    api_key, key = APIKey.objects.create_key(name="partner")
    guesses = [
        client.post(ANALYZE, {}, headers={"X-Api-Key": f"{api_key.prefix}.wrong{n}"},
                    REMOTE_ADDR="203.0.113.66")
        for n in range(5)
    ]
    owner = [
        client.post(ANALYZE, {}, headers={"X-Api-Key": key}, REMOTE_ADDR="198.51.100.5")
        for _ in range(2)
    ]

    assert {r.status_code for r in guesses} == {HTTPStatus.UNAUTHORIZED}
    assert [r.json()["code"] for r in owner] == ["no_file", "no_file"]
