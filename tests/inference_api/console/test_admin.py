"""The admin: read-only audit log, review of flagged uploads, download as bytes only."""

import base64
from http import HTTPStatus

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from inference_api import outcomes
from inference_api.admission import blocklist
from inference_api.audit import trail
from inference_api.models import AuditLog, BlockedClient, FlaggedUpload
from inference_api.testing.factories import (
    HOSTILE_BYTES,
    audited,
    hostile_record,
    make_record,
    use_tmp_quarantine,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quarantine(settings, tmp_path):
    return use_tmp_quarantine(settings, tmp_path / "quarantine")


@pytest.fixture
def flagged() -> FlaggedUpload:
    audited(hostile_record(client_ip="198.51.100.66"), HTTPStatus.UNPROCESSABLE_ENTITY)
    return FlaggedUpload.objects.get()


@pytest.fixture
def reviewer(client) -> User:
    """Staff with only the permissions a reviewer needs: no superuser."""
    user = User.objects.create_user("reviewer", password="pw", is_staff=True)
    codenames = ["view_auditlog", "view_flaggedupload", "change_flaggedupload", "add_blockedclient"]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def _download_url(upload: FlaggedUpload) -> str:
    return reverse("admin:inference_api_flaggedupload_download", args=[upload.pk])


def test_the_audit_log_is_read_only_even_for_a_superuser(admin_client):
    audited(make_record(outcome="ok"), 200)
    row = AuditLog.objects.get()
    change_url = reverse("admin:inference_api_auditlog_change", args=[row.pk])

    assert admin_client.get(reverse("admin:inference_api_auditlog_add")).status_code == 403
    page = admin_client.get(change_url)
    assert page.status_code == HTTPStatus.OK
    assert b'name="_save"' not in page.content
    assert admin_client.post(change_url, {"outcome": "forged"}).status_code == 403
    delete_url = reverse("admin:inference_api_auditlog_delete", args=[row.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert AuditLog.objects.get().outcome == "ok"


def test_the_audit_log_list_filters_and_searches_exactly(admin_client):
    wanted = make_record(outcome="invalid_image", client_ip="2001:db8::5", sha256="ab" * 32)
    audited(wanted, 422)
    audited(make_record(outcome="ok"), 200)
    url = reverse("admin:inference_api_auditlog_changelist")

    def listed(**params):
        response = admin_client.get(url, params)
        assert response.status_code == HTTPStatus.OK
        return [row.request_id for row in response.context["cl"].result_list]

    assert listed(q="2001:0db8:0::5") == [wanted.request_id]
    assert listed(q="AB" * 32) == [wanted.request_id]
    assert listed(q=wanted.request_id) == [wanted.request_id]
    assert listed(q="no such thing") == []
    assert listed(outcome="invalid_image") == [wanted.request_id]
    assert listed(status="422") == [wanted.request_id]
    assert len(listed()) == 2


def test_the_outcome_filter_offers_every_outcome_a_row_can_hold(admin_client):
    died = make_record(outcome=outcomes.WORKER_DIED)
    trail.audit(died.finished(HTTPStatus.INTERNAL_SERVER_ERROR, 1))
    bad_gateway = make_record(outcome=outcomes.http_status(HTTPStatus.BAD_GATEWAY))
    trail.audit(bad_gateway.finished(HTTPStatus.BAD_GATEWAY, 1))
    trail.audit(make_record(outcome=outcomes.OK).finished(HTTPStatus.OK, 1))
    url = reverse("admin:inference_api_auditlog_changelist")

    page = admin_client.get(url)
    (choices,) = [f for f in page.context["cl"].filter_specs if f.title == "outcome"]
    offered = {value for value, _ in choices.lookup_choices}
    assert {"worker_died", "options", "http_NNN", "ok", "too_costly"} <= offered

    def listed(outcome: str) -> list[str]:
        return [row.request_id for row in admin_client.get(url, {"outcome": outcome})
                .context["cl"].result_list]

    assert listed("worker_died") == [died.request_id]
    assert listed("http_NNN") == [bad_gateway.request_id]


def test_a_reviewer_marks_uploads_and_blocks_their_client(client, reviewer, flagged):
    url = reverse("admin:inference_api_flaggedupload_changelist")

    client.post(url, {"action": "mark_malicious", "_selected_action": [flagged.pk]})
    selected = {"action": "block_client", "_selected_action": [flagged.pk]}
    confirmation = client.post(url, {**selected, "index": "0"})
    assert confirmation.status_code == HTTPStatus.OK  # a page to confirm on, nothing blocked yet
    assert not BlockedClient.objects.exists()
    form = confirmation.context["form"]
    assert form.initial["networks"] == "198.51.100.66"
    client.post(url, {**selected, "post": "yes", **form.initial, "expires_in": "24h"})

    flagged.refresh_from_db()
    assert flagged.review_status == FlaggedUpload.Review.MALICIOUS
    assert (flagged.reviewed_by, flagged.reviewed_at is not None) == (reviewer, True)
    block = BlockedClient.objects.get()
    assert (block.network, block.created_by) == ("198.51.100.66/32", reviewer)
    assert f"#{flagged.pk}" in block.reason
    assert blocklist.find_block("198.51.100.66") == block


def test_a_reviewer_may_set_the_verdict_and_notes_on_the_page(client, reviewer, flagged):
    url = reverse("admin:inference_api_flaggedupload_change", args=[flagged.pk])

    response = client.post(url, {"review_status": "reviewed-benign", "notes": "a test image"})

    assert response.status_code == HTTPStatus.FOUND
    flagged.refresh_from_db()
    assert (flagged.review_status, flagged.notes) == ("reviewed-benign", "a test image")
    assert flagged.reviewed_by == reviewer


def test_the_download_asks_first_and_then_is_an_opaque_attachment(client, reviewer, flagged):
    confirmation = client.get(_download_url(flagged))
    assert confirmation["Content-Type"].startswith("text/html")
    assert "only in a sandbox" in confirmation.content.decode()
    assert HOSTILE_BYTES not in confirmation.content

    response = client.post(_download_url(flagged))

    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert f"flagged-{flagged.pk}-" in response["Content-Disposition"]
    assert "evil" not in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == HOSTILE_BYTES


def test_the_flagged_upload_page_never_shows_the_file_inline(client, reviewer, flagged):
    page = client.get(reverse("admin:inference_api_flaggedupload_change", args=[flagged.pk]))

    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    download = _download_url(flagged)
    assert html.count(download) == 1
    assert f'<a href="{download}">the raw bytes (.bin)…</a>' in html
    assert "Not decoded for review. The walk found: PNG" in html
    assert "data:" not in html and flagged.file.storage_name not in html
    assert base64.b64encode(HOSTILE_BYTES).decode()[:20] not in html


def test_a_staff_member_without_the_permission_cannot_download(client, flagged):
    user = User.objects.create_user("intern", password="pw", is_staff=True)
    client.force_login(user)

    assert client.get(_download_url(flagged)).status_code == HTTPStatus.FORBIDDEN
    changelist = reverse("admin:inference_api_flaggedupload_changelist")
    assert client.get(changelist).status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("who", ["anonymous", "not staff"])
def test_no_one_but_staff_reaches_the_review(client, flagged, who):
    if who == "not staff":
        user = User.objects.create_user("customer", password="pw")
        user.user_permissions.set(Permission.objects.filter(codename="view_flaggedupload"))
        client.force_login(user)
    urls = [
        _download_url(flagged),
        reverse("admin:inference_api_flaggedupload_changelist"),
        reverse("admin:inference_api_flaggedupload_change", args=[flagged.pk]),
        reverse("admin:inference_api_auditlog_changelist"),
    ]

    for url in urls:
        response = client.get(url)
        assert response.status_code == HTTPStatus.FOUND, url
        assert response["Location"].startswith(reverse("admin:login")), url
    changelist = reverse("admin:inference_api_flaggedupload_changelist")
    client.post(changelist, {"action": "block_client", "_selected_action": [flagged.pk]})
    assert not BlockedClient.objects.exists()


def test_a_blocked_client_is_managed_in_the_admin(admin_client, admin_user):
    url = reverse("admin:inference_api_blockedclient_add")

    bad = admin_client.post(url, {"network": "300.1.2.3/8", "reason": "x", "active": "on"})
    good = admin_client.post(url, {"network": "203.0.113.9/24", "reason": "x", "active": "on"})

    assert bad.status_code == HTTPStatus.OK  # the form again, with its error
    assert good.status_code == HTTPStatus.FOUND
    block = BlockedClient.objects.get()
    assert (block.network, block.created_by) == ("203.0.113.0/24", admin_user)
    assert blocklist.find_block("203.0.113.200") == block


def test_the_big_lists_cost_the_same_few_queries_for_many_rows(
    admin_client, django_assert_max_num_queries
):
    for n in range(40):
        record = hostile_record(HOSTILE_BYTES + bytes([n]), client_ip=f"198.51.100.{n}")
        audited(record, HTTPStatus.UNPROCESSABLE_ENTITY)
        audited(make_record(outcome="ok"), 200)

    for name in ["auditlog", "flaggedupload"]:
        with django_assert_max_num_queries(10):
            response = admin_client.get(reverse(f"admin:inference_api_{name}_changelist"))
        assert response.status_code == HTTPStatus.OK
