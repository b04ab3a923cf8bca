"""The reviewer's console: the overview, blocking with a confirmation, automatic blocks apart."""

import re
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlencode

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from analysis import model_store
from inference_api.admission import blocklist
from inference_api.console import overview
from inference_api.models import AuditLog, BlockedClient, FlaggedUpload
from inference_api.testing.factories import (
    HOSTILE_BYTES,
    audit_rows_create,
    audited,
    hostile_record,
    make_record,
    reviewer_user,
    use_tmp_quarantine,
)

pytestmark = pytest.mark.django_db

OVERVIEW = "/admin/inference_api/auditlog/overview/"
BLOCK = "/admin/inference_api/blockedclient/block/"


@pytest.fixture(autouse=True)
def quarantine(settings, tmp_path):
    return use_tmp_quarantine(settings, tmp_path / "quarantine")


@pytest.fixture
def reviewer(client) -> User:
    user = reviewer_user(password="pw")
    client.force_login(user)
    return user


def audit(status: int, outcome: str, ip: str = "203.0.113.7", **fields) -> None:
    audited(make_record(outcome=outcome, client_ip=ip, **fields), status)


def flag(ip: str, n: int = 0, outcome: str = "invalid_image") -> FlaggedUpload:
    record = hostile_record(HOSTILE_BYTES + bytes([n]), outcome=outcome, client_ip=ip)
    audited(record, 422)
    return FlaggedUpload.objects.get(audit__request_id=record.request_id)


def mixed_traffic() -> None:
    for _ in range(3):
        audit(200, "ok", ip="192.0.2.1", top_label="cup", top_score=0.9, model_version="v1")
    audit(415, "unsupported_media_type", ip="198.51.100.9")
    audit(429, "rate_limited", ip="198.51.100.9")
    audit(503, "overloaded", ip="192.0.2.1")
    for n in range(4):
        flag("198.51.100.66", n, "decompression_bomb")
    flag("2001:db8:5:5::1", 9)


def assert_no_inline_script_or_style(html: str) -> None:
    """What a CSP of script-src 'self' and style-src 'self' would refuse."""
    assert " style=" not in html
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)  # no event handler attributes


def test_the_overview_shows_outcomes_offenders_and_the_service(client, reviewer):
    mixed_traffic()

    page = client.get(OVERVIEW, {"window": "1h"})

    assert page.status_code == HTTPStatus.OK
    html = page.content.decode()
    assert_no_inline_script_or_style(html)
    chart = page.context["chart"]
    for family in ("accepted", "415", "422", "429", "5xx"):
        assert f'class="bar s-{family}"' in chart
    assert dict((f, total) for f, _, total in page.context["legend"]) == {
        "accepted": 3,
        "415": 1,
        "422": 5,
        "429": 1,
        "5xx": 1,
    }
    data = page.context["data"]
    assert (data.rate_limited, data.shed, data.awaiting_review) == (1, 1, 5)
    assert [(r.client, r.count) for r in data.top_flagged] == [
        ("198.51.100.66", 4),
        ("2001:db8:5:5::/64", 1),
    ]
    assert [(r.client, r.count) for r in data.flagged_by_reason] == [
        ("decompression_bomb", 4),
        ("invalid_image", 1),
    ]
    assert data.quarantine_bytes == sum(len(HOSTILE_BYTES) + 1 for _ in range(5))
    assert "/admin/inference_api/auditlog/?client=198.51.100.66" in html
    assert f"{BLOCK}?networks=198.51.100.66" in html
    # The model this process serves, or else the version last served.
    served = model_store.get_model().metadata.version if model_store.model_loaded() else "v1"
    assert served in html


def test_the_windows_count_what_falls_in_them(client, reviewer):
    audit(200, "ok")
    AuditLog.objects.update(created_at=timezone.now() - timedelta(hours=3))
    audit(404, "not_found")

    def total(window: str) -> int:
        return client.get(OVERVIEW, {"window": window}).context["data"].total_requests

    assert (total("1h"), total("24h"), total("7d")) == (1, 2, 2)


def test_each_request_lands_in_the_bar_of_its_time():
    now = timezone.now()
    audit(200, "ok")
    audit(422, "invalid_image")
    AuditLog.objects.filter(status=422).update(created_at=now - timedelta(minutes=32))

    data = overview.overview_for(overview.WINDOWS["1h"], now)

    series = {s.family: s.values for s in data.series}
    slot = overview.WINDOWS["1h"].slot
    assert len(data.slots) == 12 and data.slots[-1] <= now < data.slots[-1] + slot
    assert series["accepted"].index(1) == 11
    hostile = series["422"].index(1)
    assert data.slots[hostile] <= now - timedelta(minutes=32) < data.slots[hostile] + slot
    assert sum(series["422"]) == sum(series["accepted"]) == 1


def test_an_aggregated_row_counts_every_request_it_stands_for(client, reviewer):
    for _ in range(7):
        audit(429, "rate_limited", ip="198.51.100.70")

    data = client.get(OVERVIEW, {"window": "1h"}).context["data"]

    assert AuditLog.objects.count() == 1
    assert (data.rate_limited, data.top_refused[0].count) == (7, 7)


@pytest.mark.slow
def test_the_overview_renders_in_bounded_queries_over_100000_rows(
    client, reviewer, django_assert_max_num_queries
):
    now = timezone.now()
    statuses = (200, 200, 200, 415, 422, 429, 503, 404)
    audit_rows_create(
        100_000,
        lambda n: {
            "created_at": now - timedelta(seconds=5 * n),
            "request_id": f"r{n}",
            "client_ip": f"198.51.{n % 200}.{n % 250}",
            "status": statuses[n % len(statuses)],
        },
    )

    for window in ("1h", "24h", "7d"):
        # session, user, 2 permissions, 9 aggregates, the model's version, the blocklist's
        # index (client blocks, ranges) when the cache is cold
        with django_assert_max_num_queries(16):
            page = client.get(OVERVIEW, {"window": window})
        assert page.status_code == HTTPStatus.OK
    assert page.context["data"].total_requests == 100_000  # 5 s apart: all within 6 days


def test_api_keys_are_listed_with_their_rows_and_their_admin_page(client, reviewer, admin_client):
    from rest_framework_api_key.models import APIKey

    key, _ = APIKey.objects.create_key(name="partner")
    for n in range(2):
        record = hostile_record(HOSTILE_BYTES + bytes([n]), api_key_id=str(key.pk))
        audited(record, 422)

    page = client.get(OVERVIEW, {"window": "1h"})

    data = page.context["data"]
    assert [(r.client, r.count) for r in data.top_flagged_keys] == [(str(key.pk), 2)]
    assert [(r.client, r.count) for r in data.top_refused_keys] == [(str(key.pk), 2)]
    html = page.content.decode()
    key_page = reverse("admin:rest_framework_api_key_apikey_change", args=[quote(key.pk)])
    assert key_page in html
    assert admin_client.get(key_page).status_code == HTTPStatus.OK  # where a key is revoked
    assert "?" + urlencode({"api_key_id": key.pk}) in html


def test_without_the_permission_to_block_there_is_no_block_button(client):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_auditlog", "view_flaggedupload"])
    )
    client.force_login(user)
    upload = flag("198.51.100.66")

    html = client.get(OVERVIEW).content.decode()
    change = client.get(reverse("admin:inference_api_flaggedupload_change", args=[upload.pk]))

    assert "198.51.100.66" in html and BLOCK not in html
    assert change.status_code == HTTPStatus.OK and BLOCK not in change.content.decode()


def test_only_staff_who_may_read_the_audit_see_the_overview(client):
    intern = User.objects.create_user("intern", password="pw", is_staff=True)
    client.force_login(intern)
    assert client.get(OVERVIEW).status_code == HTTPStatus.FORBIDDEN
    client.logout()
    response = client.get(OVERVIEW)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_block_is_confirmed_before_it_is_made(client, reviewer):
    upload = flag("198.51.100.66")
    change = client.get(reverse("admin:inference_api_flaggedupload_change", args=[upload.pk]))
    link = re.search(r'href="([^"]+)">Block 198\.51\.100\.66', change.content.decode())[1]

    confirmation = client.get(link.replace("&amp;", "&"))

    assert confirmation.status_code == HTTPStatus.OK
    assert_no_inline_script_or_style(confirmation.content.decode())
    assert not BlockedClient.objects.exists()
    form = confirmation.context["form"]
    assert form.initial["networks"] == "198.51.100.66"
    assert f"#{upload.pk}" in form.initial["reason"]
    response = client.post(
        BLOCK, {"networks": "198.51.100.0/24", "expires_in": "7d", "reason": "bombs"}
    )
    assert response.status_code == HTTPStatus.FOUND
    block = BlockedClient.objects.get()
    assert (block.network, block.reason, block.created_by) == ("198.51.100.0/24", "bombs", reviewer)
    assert timedelta(days=7) - (block.expires_at - timezone.now()) < timedelta(minutes=1)
    assert blocklist.find_block("198.51.100.200") == block


def test_a_reviewer_who_may_only_add_blocks_lands_where_they_can_read_the_message(client):
    user = User.objects.create_user("adder", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="add_blockedclient"))
    client.force_login(user)

    response = client.post(
        BLOCK, {"networks": "198.51.100.1", "expires_in": "1h", "reason": "x"}, follow=True
    )

    assert response.status_code == HTTPStatus.OK
    assert "Blocked 1 network(s): 198.51.100.1/32" in response.content.decode()


@pytest.mark.parametrize("networks", ["0.0.0.0/0", "10.0.0.0/8", "2001:db8::/16", "not-an-ip", ""])
def test_a_block_too_wide_or_malformed_is_refused_on_the_page(client, reviewer, networks):
    response = client.post(BLOCK, {"networks": networks, "expires_in": "1h", "reason": "x"})

    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors["networks"]
    assert not BlockedClient.objects.exists()


def test_blocking_needs_the_permission(client):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_auditlog"))
    client.force_login(user)

    response = client.post(BLOCK, {"networks": "198.51.100.1", "expires_in": "1h", "reason": "x"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not BlockedClient.objects.exists()


def test_audit_rows_block_their_clients_ipv6_by_its_64(client, reviewer):
    audit(415, "content_type_mismatch", ip="2001:db8:9:9::abcd")
    row = AuditLog.objects.get()
    url = reverse("admin:inference_api_auditlog_changelist")
    selected = {"action": "block_client", "_selected_action": [row.pk]}

    confirmation = client.post(url, {**selected, "index": "0"})
    initial = confirmation.context["form"].initial
    client.post(url, {**selected, "post": "yes", **initial, "expires_in": "1h"})

    assert initial["networks"] == "2001:db8:9:9::/64"
    assert BlockedClient.objects.get().network == "2001:db8:9:9::/64"
    assert blocklist.find_block("2001:db8:9:9::1") is not None


def test_a_block_links_back_to_its_evidence(client, reviewer):
    flag("198.51.100.66")
    audit(200, "ok", ip="192.0.2.1")
    block, _ = blocklist.blocked_client_create(ip="198.51.100.66", reason="x")

    page = client.get(reverse("admin:inference_api_blockedclient_change", args=[block.pk]))
    links = re.findall(r'href="([^"]+\?client=[^"]+)"', page.content.decode())
    audit_rows = client.get(links[0]).context["cl"].result_list
    flagged = client.get(links[1]).context["cl"].result_list

    assert [row.client_ip for row in audit_rows] == ["198.51.100.66"]
    assert [upload.audit.client_ip for upload in flagged] == ["198.51.100.66"]


def test_automatic_blocks_are_listed_apart_and_lifted(client, reviewer):
    automatic, _ = blocklist.blocked_client_create(
        ip="198.51.100.1", reason="automatic", expires_at=timezone.now() + timedelta(hours=1)
    )
    blocklist.blocked_client_create(ip="198.51.100.2", reason="by hand")
    url = reverse("admin:inference_api_blockedclient_changelist")

    listed = client.get(url, {"kind": "automatic", "in_force": "yes"}).context["cl"].result_list
    client.post(url, {"action": "lift", "_selected_action": [automatic.pk], "index": "0"})

    assert list(listed) == [automatic]
    automatic.refresh_from_db()
    assert not automatic.active
    assert blocklist.find_block("198.51.100.1") is None
    assert blocklist.find_block("198.51.100.2") is not None


def test_the_landing_names_the_service_and_lists_what_needs_review(client, reviewer):
    flag("198.51.100.66")
    flag("198.51.100.67", 1)
    blocklist.blocked_client_create(
        ip="198.51.100.1", reason="automatic", expires_at=timezone.now() + timedelta(hours=1)
    )

    page = client.get(reverse("admin:index"))

    html = page.content.decode()
    assert "Image classification API: review console" in html
    assert page.context["site_title"] == "Image classification API review"
    assert ("flagged uploads await review", 2) in [(w, n) for w, n, _ in _queue(page)]
    assert ("automatic blocks in force", 1) in [(w, n) for w, n, _ in _queue(page)]
    assert OVERVIEW in html
    assert html.index("Needs review first") < html.index("app-inference_api")


def _queue(page):
    return next(c["items"] for c in page.context if "items" in c)
