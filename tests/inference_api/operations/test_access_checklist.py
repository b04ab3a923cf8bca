"""The checklist items of the abuse controls, one by one."""

import pytest

from inference_api.operations import access_checklist


@pytest.mark.parametrize(
    ("bind", "host"),
    [
        ("0.0.0.0:8000", "0.0.0.0"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::]:8000", "::"),
        ("localhost", "localhost"),
        ("unix:/run/app.sock", None),
    ],
)
def test_it_reads_the_host_of_a_bind_address(bind, host):
    assert access_checklist.bind_host(bind) == host


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "[::1]:8000", "localhost:8000", "unix:/s"])
def test_gunicorn_on_loopback_passes_without_proxies(settings, bind):
    settings.GUNICORN_BIND = bind
    settings.TRUSTED_PROXIES = []
    assert access_checklist.check_gunicorn_behind_proxy().ok


@pytest.mark.parametrize("bind", ["0.0.0.0:8000", "[::]:8000", "10.1.2.3:8000", "app:8000"])
def test_gunicorn_published_without_a_proxy_fails(settings, bind):
    settings.GUNICORN_BIND = bind
    settings.TRUSTED_PROXIES = []
    verdict = access_checklist.check_gunicorn_behind_proxy()
    assert not verdict.ok
    assert "without a proxy" in verdict.detail
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert access_checklist.check_gunicorn_behind_proxy().ok


def test_the_lockout_passes_as_configured_and_fails_without_a_limit(settings):
    assert access_checklist.check_admin_lockout().ok
    settings.AXES_FAILURE_LIMIT = 0
    assert not access_checklist.check_admin_lockout().ok


@pytest.mark.parametrize("parameters", [["username"], ["ip_address", "username"]])
def test_the_lockout_fails_when_a_username_alone_can_be_locked(settings, parameters):
    settings.AXES_LOCKOUT_PARAMETERS = parameters
    verdict = access_checklist.check_admin_lockout()
    assert not verdict.ok and "username alone" in verdict.detail


def test_the_lockout_fails_without_axes_middleware(settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "axes" not in m]
    assert not access_checklist.check_admin_lockout().ok


def test_two_factor_off_is_a_warning_not_a_failure(settings):
    settings.ADMIN_REQUIRE_2FA = False
    verdict = access_checklist.check_admin_2fa()
    assert verdict.ok and verdict.warning
    settings.ADMIN_REQUIRE_2FA = True
    assert not access_checklist.check_admin_2fa().warning


def test_the_quarantine_budgets_pass_as_configured_and_fail_when_unfair(settings):
    assert access_checklist.check_quarantine_budgets().ok
    settings.QUARANTINE_MAX_BYTES_PER_CLIENT = settings.QUARANTINE_MAX_BYTES + 1
    assert not access_checklist.check_quarantine_budgets().ok
    settings.QUARANTINE_MAX_BYTES_PER_CLIENT = 1
    settings.QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY = 0
    assert not access_checklist.check_quarantine_budgets().ok


def test_the_csp_passes_as_configured_and_fails_with_inline_script(settings):
    assert access_checklist.check_content_security_policy().ok
    inline = {"default-src": ["'self'", "'unsafe-inline'"]}
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": inline}
    assert not access_checklist.check_content_security_policy().ok
