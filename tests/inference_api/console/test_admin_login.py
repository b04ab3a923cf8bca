"""The admin's login in-process: django-axes' lockout, and where staff see it.

A failure counts against the address (IPv6: its /64) and the username with
that address, never the username alone (console/lockout.py). The browser's
view is tests/e2e/test_admin_login_browser.py; the same through gunicorn,
with attackers on other addresses and /64s, tests/e2e/test_admin_lockout_live.py.
"""

from http import HTTPStatus

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "a-long-test-password-1"


def attempt(client, username: str, password: str, ip: str = "198.51.100.20"):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def test_failures_for_a_username_never_lock_it_out_from_another_address(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    wrong = [attempt(client, "reviewer", "guess").status_code for _ in range(4)]
    again = attempt(client, "reviewer", PASSWORD)  # the guesser's own address: locked
    right = attempt(client, "reviewer", PASSWORD, ip="198.51.100.99")

    assert wrong == [HTTPStatus.OK] * 2 + [HTTPStatus.TOO_MANY_REQUESTS] * 2
    assert again.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert right.status_code == HTTPStatus.FOUND
    assert client.session["_auth_user_id"]


def test_a_locked_out_attempt_gets_a_page_that_says_why_and_what_to_do(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        attempt(client, "reviewer", "guess")
    page = attempt(client, "reviewer", "guess")
    text = page.content.decode()

    assert page.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert page["Content-Type"].startswith("text/html")
    assert "Login locked for now" in text and "staff signing in from another address" in text
    assert "15 minutes" in text or "0:15:00" in text


def test_an_ipv6_64_is_one_client_however_it_rotates(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    for n in range(3):
        attempt(client, f"name{n}", "guess", ip=f"2001:db8:1:2::{n + 1:x}")

    rotated = attempt(client, "reviewer", PASSWORD, ip="2001:db8:1:2:ffff::1")
    elsewhere = attempt(client, "reviewer", PASSWORD, ip="2001:db8:1:3::1")

    assert rotated.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert elsewhere.status_code == HTTPStatus.FOUND
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"2001:db8:1:2::"}


def test_inside_the_allowed_networks_only_the_username_and_address_pair_locks(client, settings):
    # One office NAT: a colleague's failures for other names do not lock the address.
    settings.AXES_FAILURE_LIMIT = 2
    settings.ADMIN_ALLOWED_NETWORKS = ["198.51.100.0/24"]
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    for name in ["alice", "bob", "carol"]:
        attempt(client, name, "guess")
    pair = attempt(client, "alice", "guess")  # alice's second failure from here

    assert pair.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert attempt(client, "reviewer", PASSWORD).status_code == HTTPStatus.FOUND


def test_an_address_is_locked_out_whatever_username_it_tries(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    for name in ["alice", "bob", "carol"]:
        attempt(client, name, "guess")
    assert attempt(client, "reviewer", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Another address with the right password is not locked out.
    assert attempt(client, "reviewer", PASSWORD, ip="198.51.100.77").status_code == HTTPStatus.FOUND


def test_the_lockout_counts_the_client_behind_a_trusted_proxy(client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXIES = ["10.0.0.1/32"]
    for _ in range(2):
        client.post(LOGIN, {"username": "x", "password": "y"},
                    REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.5")
    assert AccessAttempt.objects.get().ip_address == "198.51.100.5"


def test_staff_see_the_lockouts_in_the_admin(client, admin_client, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        attempt(client, "victim", "guess")
    page = admin_client.get("/admin/axes/accessattempt/")
    assert page.status_code == HTTPStatus.OK
    assert "victim" in page.content.decode()
    assert admin_client.get("/admin/axes/accessfailurelog/").status_code == HTTPStatus.OK
