"""The admin's login in-process: django-axes' lockout, and where staff see it.

The browser's view of the same is tests/e2e/test_admin_login_browser.py.
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


def test_the_right_password_is_refused_once_the_username_is_locked_out(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    wrong = [attempt(client, "reviewer", "guess").status_code for _ in range(3)]
    # From another address: the username itself is locked.
    right = attempt(client, "reviewer", PASSWORD, ip="198.51.100.99")
    assert wrong[:2] == [HTTPStatus.OK, HTTPStatus.OK]
    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "_auth_user_id" not in client.session


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
