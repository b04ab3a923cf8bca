"""The admin's login in Debian's headless Chromium: lockouts, and the TOTP second factor.

Django's ORM is used only before and after the browser runs (Playwright's
sync API keeps an event loop in this thread, where Django refuses ORM calls).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import User
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from inference_api.testing.pages import chromium

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-1"


@contextmanager
def chromium_page(executable: str) -> Iterator:
    """A page in a headless browser; started after the test's own ORM calls (see the docstring)."""
    with chromium(executable) as browser:
        yield browser.new_page()


def submit_login(page, base_url: str, username: str, password: str, token: str | None = None):
    """Fill and send the admin's login form; the response to the POST."""
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if token is not None:
        page.fill("#id_otp_token", token)
    with page.expect_navigation() as navigation:
        page.click("input[type=submit][value='Log in']")
    return navigation.value


def test_a_username_at_an_address_is_locked_out_after_failures_even_with_the_right_password(
    live_server, settings, require_chromium
):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    with chromium_page(require_chromium) as page:
        wrong = [
            submit_login(page, live_server.url, "reviewer", f"guess-{n}").status for n in range(3)
        ]
        right = submit_login(page, live_server.url, "reviewer", PASSWORD)
        locked_page = page.content()

    assert wrong[:2] == [HTTPStatus.OK, HTTPStatus.OK]  # the form again, with an error
    assert HTTPStatus.TOO_MANY_REQUESTS in {wrong[2], right.status}
    assert right.status == HTTPStatus.TOO_MANY_REQUESTS
    assert "locked" in locked_page.lower()
    assert "/admin/login/" in right.url, "the right password must not get in while locked"
    attempt = AccessAttempt.objects.get(username="reviewer")
    assert attempt.failures_since_start >= 3
    assert AccessFailureLog.objects.filter(username="reviewer").count() >= 3


def test_an_address_is_locked_out_across_usernames(live_server, settings, require_chromium):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
    with chromium_page(require_chromium) as page:
        for name in ["alice", "bob", "carol"]:
            submit_login(page, live_server.url, name, "guess")
        right = submit_login(page, live_server.url, "reviewer", PASSWORD)

    assert right.status == HTTPStatus.TOO_MANY_REQUESTS


def second_step(page, password: str, token: str):
    """On the re-rendered login form: the password again, the device and its token."""
    page.fill("#id_password", password)
    page.select_option("#id_otp_device", label="phone")
    page.fill("#id_otp_token", token)
    with page.expect_navigation() as navigation:
        page.click("input[type=submit][value='Log in']")
    return navigation.value


def test_staff_log_in_with_a_totp_token_when_two_factor_is_required(
    live_server, settings, require_chromium
):
    settings.ADMIN_REQUIRE_2FA = True
    user = User.objects.create_superuser("reviewer", password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    good_token = f"{totp(device.bin_key, step=device.step, digits=device.digits):06d}"
    bad_token = f"{(int(good_token) + 1) % 1_000_000:06d}"

    with chromium_page(require_chromium) as page:
        # The password alone gets the form back, now asking for the device and token.
        first = submit_login(page, live_server.url, "reviewer", PASSWORD)
        first_text, first_url = page.inner_text("body"), page.url
        wrong = second_step(page, PASSWORD, bad_token)
        wrong_text = page.inner_text("body")
        time.sleep(1.5)  # django-otp throttles a device for 1 s after a failure
        right = second_step(page, PASSWORD, good_token)
        right_url, right_text = page.url, page.inner_text("body")

    assert first.status == HTTPStatus.OK and "/admin/login/" in first_url
    assert "Please enter your OTP token" in first_text
    assert wrong.status == HTTPStatus.OK and "Invalid token" in wrong_text
    assert right.status == HTTPStatus.OK
    assert right_url.rstrip("/").endswith("/admin"), right_url
    assert "Review console" in right_text


def test_a_staff_user_without_a_device_cannot_log_in_when_two_factor_is_required(
    live_server, settings, require_chromium
):
    settings.ADMIN_REQUIRE_2FA = True
    User.objects.create_superuser("reviewer", password=PASSWORD)
    with chromium_page(require_chromium) as page:
        submit_login(page, live_server.url, "reviewer", PASSWORD)
        text = page.inner_text("body")
        page.goto(f"{live_server.url}/admin/")
        landed = page.url
    assert "Review console" not in text
    assert "/admin/login/" in landed


def test_without_two_factor_the_password_alone_logs_in(live_server, settings, require_chromium):
    settings.ADMIN_REQUIRE_2FA = False
    User.objects.create_superuser("reviewer", password=PASSWORD)
    with chromium_page(require_chromium) as page:
        submit_login(page, live_server.url, "reviewer", PASSWORD)
        text = page.inner_text("body")
    assert "Review console" in text
