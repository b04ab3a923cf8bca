"""The admin's lockout through gunicorn (two workers, the suite's database and cache).

127.0.0.1 is the trusted proxy, so each request names its client in
X-Forwarded-For, as nginx would: the attacker, the staff member and the
addresses of one IPv6 /64 are different clients to the server. Each client
is its own requests.Session (its own CSRF cookie), like separate browsers.
"""

import re
import subprocess
import sys
from collections.abc import Iterator
from http import HTTPStatus

import pytest
import requests

from inference_api.testing import services
from inference_api.testing.servers import REPO, LiveServer, gunicorn_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

PASSWORD = "a-long-test-password-1"
LIMIT = 3
STAFF_ADDRESS = "198.51.100.10"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def start(**env: str):
    base = {
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "ADMIN_LOGIN_FAILURE_LIMIT": str(LIMIT),
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return gunicorn_server(env=base, workers=2)


def create_staff(server: LiveServer, username: str = "reviewer") -> None:
    code = (
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({username!r}, password={PASSWORD!r}, is_staff=True)"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=REPO, env=server.env, check=True
    )


def log_in(server: LiveServer, client: str, username: str, password: str) -> requests.Response:
    """One login from `client` (an address), on a session of its own; the POST's answer."""
    with requests.Session() as session:
        session.headers["X-Forwarded-For"] = client
        form = session.get(f"{server.url}/admin/login/?next=/admin/", timeout=30)
        if form.status_code != HTTPStatus.OK:
            return form
        token = CSRF.search(form.text).group(1)
        return session.post(
            f"{server.url}/admin/login/?next=/admin/",
            data={"csrfmiddlewaretoken": token, "username": username, "password": password},
            allow_redirects=False,
            timeout=30,
        )


def logged_in(response: requests.Response) -> bool:
    return response.status_code == HTTPStatus.FOUND and response.headers["Location"] == "/admin/"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    services.require_redis()
    with start() as live:
        create_staff(live)
        yield live


def test_staff_log_in_while_their_name_is_brute_forced_from_an_address(server):
    attacker = "203.0.113.50"
    guesses = [log_in(server, attacker, "reviewer", f"guess-{n}") for n in range(LIMIT + 2)]
    staff = log_in(server, STAFF_ADDRESS, "reviewer", PASSWORD)

    assert [r.status_code for r in guesses[: LIMIT - 1]] == [HTTPStatus.OK] * (LIMIT - 1)
    assert {r.status_code for r in guesses[LIMIT - 1 :]} == {HTTPStatus.TOO_MANY_REQUESTS}
    assert logged_in(staff)
    # The attacker, even with the right password, stays locked out.
    assert log_in(server, attacker, "reviewer", PASSWORD).status_code == 429


def test_a_64_that_rotates_addresses_is_locked_out_after_as_many_attempts_as_one_address(server):
    prefix = "2001:db8:77:1"
    answers = [
        log_in(server, f"{prefix}::{n + 1:x}", "reviewer", f"guess-{n}").status_code
        for n in range(LIMIT)
    ]
    rotated = log_in(server, f"{prefix}:abcd::9", "reviewer", PASSWORD)
    other_names = log_in(server, f"{prefix}:ffff::1", "someone-else", "guess")
    staff = log_in(server, STAFF_ADDRESS, "reviewer", PASSWORD)
    next_64 = log_in(server, "2001:db8:77:2::1", "reviewer", PASSWORD)

    assert answers == [HTTPStatus.OK] * (LIMIT - 1) + [HTTPStatus.TOO_MANY_REQUESTS]
    assert rotated.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert other_names.status_code == HTTPStatus.TOO_MANY_REQUESTS  # the /64 itself is locked
    assert logged_in(staff) and logged_in(next_64)


def test_a_locked_out_attempt_gets_a_page_saying_why(server):
    for n in range(LIMIT):
        log_in(server, "203.0.113.60", f"name-{n}", "guess")
    locked = log_in(server, "203.0.113.60", "reviewer", PASSWORD)

    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert locked.headers["Content-Type"].startswith("text/html")
    assert "Login locked for now" in locked.text
    assert "staff signing in from another address are not affected" in locked.text
    assert "<html" in locked.text and "Back to the login page" in locked.text


def test_staff_log_in_from_an_allowed_network_shared_with_the_attacker(require_redis):
    # One office NAT is the allowed network; an attacker behind it tries names and guesses.
    office_nat = "198.51.100.20"
    with start(ADMIN_ALLOWED_NETWORKS="198.51.100.0/24") as live:
        create_staff(live)
        other_names = [log_in(live, office_nat, f"n{n}", "guess") for n in range(LIMIT + 1)]
        on_staff = [log_in(live, office_nat, "reviewer", "guess") for _ in range(LIMIT)]
        from_nat = log_in(live, office_nat, "reviewer", PASSWORD)
        from_desk = log_in(live, STAFF_ADDRESS, "reviewer", PASSWORD)
        outsider = log_in(live, "203.0.113.9", "reviewer", PASSWORD)

    assert {r.status_code for r in other_names} == {HTTPStatus.OK}  # the address is not locked
    assert on_staff[-1].status_code == HTTPStatus.TOO_MANY_REQUESTS  # the pair is
    assert from_nat.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert logged_in(from_desk)
    assert outsider.status_code == HTTPStatus.NOT_FOUND
