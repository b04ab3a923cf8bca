"""What the edge of a request may claim: HTTPS via a trusted proxy, the admin from its networks."""

from http import HTTPStatus

import pytest

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.1"
OUTSIDER = "203.0.113.7"


@pytest.fixture
def https_behind_a_proxy(settings):
    """Production's HTTPS settings, with one trusted proxy."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = [f"{PROXY}/32"]


def test_a_trusted_proxy_may_say_the_request_was_https(client, https_behind_a_proxy):
    response = client.get("/healthz", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == HTTPStatus.OK


def test_a_client_cannot_claim_https_by_sending_the_header(client, https_behind_a_proxy):
    response = client.get("/healthz", REMOTE_ADDR=OUTSIDER, HTTP_X_FORWARDED_PROTO="https")
    # Not believed: the request is plain HTTP, so it is redirected to HTTPS.
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"].startswith("https://")


def test_the_admin_answers_404_outside_its_networks(client, settings):
    settings.ADMIN_ALLOWED_NETWORKS = ["192.0.2.0/24", "2001:db8:5::/48"]
    response = client.get("/admin/login/", REMOTE_ADDR=OUTSIDER)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["code"] == "not_found"
    inside = client.get("/admin/login/", REMOTE_ADDR="192.0.2.44")
    assert inside.status_code == HTTPStatus.OK
    assert client.get("/admin/login/", REMOTE_ADDR="2001:db8:5:1::9").status_code == HTTPStatus.OK


def test_the_admin_networks_apply_to_the_client_behind_a_trusted_proxy(client, settings):
    settings.ADMIN_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    settings.TRUSTED_PROXIES = [f"{PROXY}/32"]
    outside = client.get("/admin/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=OUTSIDER)
    inside = client.get("/admin/login/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.9")
    assert (outside.status_code, inside.status_code) == (HTTPStatus.NOT_FOUND, HTTPStatus.OK)


def test_a_login_post_from_outside_never_reaches_the_password_check(client, settings):
    settings.ADMIN_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    response = client.post(
        "/admin/login/", {"username": "x", "password": "y"}, REMOTE_ADDR=OUTSIDER
    )
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_the_admin_is_open_to_everyone_by_default(client, settings):
    assert settings.ADMIN_ALLOWED_NETWORKS == []
    assert client.get("/admin/login/", REMOTE_ADDR=OUTSIDER).status_code == HTTPStatus.OK


def test_the_api_is_not_affected_by_the_admin_networks(client, settings):
    settings.ADMIN_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    assert client.get("/healthz", REMOTE_ADDR=OUTSIDER).status_code == HTTPStatus.OK
