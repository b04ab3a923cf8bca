"""Rate limits in-process: buckets, rates, Retry-After and what happens when the cache is down.

The wire-level proof (several gunicorn workers sharing Redis) is
tests/e2e/test_ratelimit_live.py; these pin the decisions themselves. The
limiter's clock stands still (`ratelimit_clock`, tests/inference_api/conftest.py),
so no count straddles the end of a window; tests that need time to pass move it.
"""

import logging
import time
from http import HTTPStatus

import pytest
from django.test import RequestFactory
from rest_framework_api_key.models import APIKey

from inference_api import errors
from inference_api.admission.clients import client_ip
from inference_api.admission.gate import admit_client
from inference_api.admission.ratelimits import ip_bucket
from inference_api.context import Admission, Arrival
from inference_api.testing.servers import free_port

pytestmark = pytest.mark.django_db


def call(ip: str = "198.51.100.1", key: str | None = None) -> Admission:
    """Admit one request from `ip`; return the admission (raises what the gate raises)."""
    extra = {"HTTP_X_API_KEY": key} if key else {}
    request = RequestFactory().post("/api/v1/analyze/", REMOTE_ADDR=ip, **extra)
    return admit_client(request, Arrival(request_id="test", client_ip=client_ip(request)))


def successes(n: int, **kwargs) -> int:
    allowed = 0
    for _ in range(n):
        try:
            call(**kwargs)
            allowed += 1
        except errors.RateLimited:
            pass
    return allowed


def unreachable_cache() -> dict:
    """A Redis cache on a port nobody listens on."""
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }


def test_it_allows_exactly_the_configured_number_per_window(settings):
    settings.RATE_LIMIT_PER_IP = "5/m"
    assert successes(12) == 5


def test_it_refuses_with_429_and_a_retry_after_within_the_window(settings, ratelimit_clock):
    settings.RATE_LIMIT_PER_IP = "1/m"
    call()
    with pytest.raises(errors.RateLimited) as refused:
        call()
    assert refused.value.status == HTTPStatus.TOO_MANY_REQUESTS
    assert refused.value.code == "rate_limited"
    # The seconds left in the window, counting the current one.
    window_end = ratelimit_clock.window_end(ip_bucket("198.51.100.1").value, 60)
    assert refused.value.retry_after == window_end - ratelimit_clock.now + 1
    assert 1 <= refused.value.retry_after <= 60


def test_its_retry_after_is_long_enough_and_no_longer_than_needed(settings, ratelimit_clock):
    settings.RATE_LIMIT_PER_IP = "1/m"
    call()
    with pytest.raises(errors.RateLimited) as refused:
        call()
    retry_after = refused.value.retry_after
    ratelimit_clock.advance(retry_after - 1)
    with pytest.raises(errors.RateLimited):
        call()  # a second early: still the same window
    ratelimit_clock.advance(1)
    call()  # a new window: allowed again


@pytest.mark.parametrize("second", ["first", "last"])
def test_a_window_counts_the_same_from_its_first_second_to_its_last(
    settings, ratelimit_clock, second
):
    settings.RATE_LIMIT_PER_IP = "5/m"
    end = ratelimit_clock.window_end(ip_bucket("198.51.100.1").value, 60)
    ratelimit_clock.now = end - 59 if second == "first" else end
    assert successes(12) == 5
    ratelimit_clock.advance(60 if second == "first" else 1)
    assert successes(12) == 5  # the next window, counted afresh


def test_it_counts_each_ipv4_address_on_its_own(settings):
    settings.RATE_LIMIT_PER_IP = "2/m"
    assert successes(3, ip="198.51.100.1") == 2
    assert successes(3, ip="198.51.100.2") == 2


def test_it_counts_an_ipv6_slash_64_as_one_client(settings):
    settings.RATE_LIMIT_PER_IP = "2/m"
    call(ip="2001:db8:1:2::1")
    call(ip="2001:db8:1:2::ffff")
    with pytest.raises(errors.RateLimited):
        call(ip="2001:db8:1:2:abcd::1")
    call(ip="2001:db8:1:3::1")  # the next /64 is another client
    assert ip_bucket("2001:db8:1:3::1").value == "ip:2001:db8:1:3::/64"


def test_it_counts_a_keyed_client_in_its_key_bucket_at_the_key_rate(settings):
    settings.RATE_LIMIT_PER_IP = "1/m"
    settings.RATE_LIMIT_PER_KEY = "3/m"
    api_key, key = APIKey.objects.create_key(name="partner")
    assert successes(5, key=key) == 3
    assert call(ip="198.51.100.9", key=None).api_key_id is None  # its address's own budget
    with pytest.raises(errors.RateLimited):
        call(key=key)


def call_via(remote: str, forwarded: str) -> Admission:
    request = RequestFactory().post(
        "/api/v1/analyze/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded
    )
    return admit_client(request, Arrival(request_id="test", client_ip=client_ip(request)))


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded"),
    [
        ([], "203.0.113.5", "198.51.100.1"),  # no proxy: the header is the client's own words
        (["10.0.0.1/32"], "10.0.0.1", "198.51.100.1, 203.0.113.5"),  # left of what nginx wrote
    ],
)
def test_a_forged_forwarded_for_cannot_spend_another_clients_budget(
    settings, proxies, remote, forwarded
):
    settings.TRUSTED_PROXIES = proxies
    settings.RATE_LIMIT_PER_IP = "2/m"
    outcomes = []
    for _ in range(4):
        try:
            call_via(remote, forwarded)
            outcomes.append("admitted")
        except errors.RateLimited:
            outcomes.append("limited")

    assert outcomes == ["admitted", "admitted", "limited", "limited"]  # the forger's own budget
    assert successes(2, ip="198.51.100.1") == 2  # the victim's is whole


def test_two_keys_from_one_address_have_their_own_budgets(settings):
    settings.RATE_LIMIT_PER_KEY = "1/m"
    _, first = APIKey.objects.create_key(name="first")
    _, second = APIKey.objects.create_key(name="second")
    call(key=first)
    call(key=second)
    with pytest.raises(errors.RateLimited):
        call(key=first)


def test_the_admission_names_the_key_but_not_its_secret(settings):
    api_key, key = APIKey.objects.create_key(name="partner")
    admission = call(key=key)
    assert admission.api_key_id == api_key.pk
    assert key.split(".", 1)[1] not in admission.api_key_id


def test_it_fails_closed_with_503_when_the_cache_is_down(settings, caplog):
    settings.CACHES = {**settings.CACHES, "ratelimit": unreachable_cache()}
    settings.RATELIMIT_FAIL_OPEN = False
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="inference_api.admission.ratelimits"):
        with pytest.raises(errors.LimiterUnavailable) as refused:
            call()
    assert time.monotonic() - started < 2
    assert refused.value.status == HTTPStatus.SERVICE_UNAVAILABLE
    assert refused.value.retry_after == errors.LimiterUnavailable.retry_after == 5
    assert "failing closed" in caplog.text


def _failing_once(monkeypatch, failures: int) -> list[str]:
    """counters.tally raising TimeoutError `failures` times, then counting; the calls made."""
    from inference_api.admission import counters

    real, calls = counters.tally, []

    def tally(*args, **kwargs):
        calls.append("tally")
        if len(calls) <= failures:
            raise TimeoutError("timed out")
        return real(*args, **kwargs)

    monkeypatch.setattr(counters, "tally", tally)
    return calls


def _database_lookup_taking(monkeypatch, seconds: float) -> None:
    from inference_api.admission import blockindex

    real = blockindex.lookup_without_cache

    def lookup(ip):
        time.sleep(seconds)
        return real(ip)

    monkeypatch.setattr(blockindex, "lookup_without_cache", lookup)


def test_a_count_lost_while_the_network_stalled_is_asked_again_once_it_is_back(
    settings, monkeypatch
):
    """The replica's link down for a moment (test_multihost's cut): the database fallback
    waited for it to come back, so the request is counted and admitted, not refused."""
    settings.RATELIMIT_FAIL_OPEN = False
    settings.CACHE_TIMEOUT_SECONDS = 0.05
    calls = _failing_once(monkeypatch, failures=1)
    _database_lookup_taking(monkeypatch, 0.2)
    admission = call()
    assert admission.tally is not None and not admission.tally.over_limit
    assert calls == ["tally", "tally"]


def test_a_cache_outage_with_the_database_answering_at_once_is_not_asked_again(
    settings, monkeypatch
):
    settings.RATELIMIT_FAIL_OPEN = False
    settings.CACHE_TIMEOUT_SECONDS = 0.5
    calls = _failing_once(monkeypatch, failures=99)
    with pytest.raises(errors.LimiterUnavailable):
        call()
    assert calls == ["tally"]


def test_a_count_that_fails_again_after_the_stall_fails_closed(settings, monkeypatch):
    settings.RATELIMIT_FAIL_OPEN = False
    settings.CACHE_TIMEOUT_SECONDS = 0.05
    calls = _failing_once(monkeypatch, failures=99)
    _database_lookup_taking(monkeypatch, 0.2)
    with pytest.raises(errors.LimiterUnavailable):
        call()
    assert calls == ["tally", "tally"]


def test_it_fails_open_when_configured_and_still_logs_it(settings, caplog):
    settings.CACHES = {**settings.CACHES, "ratelimit": unreachable_cache()}
    settings.RATELIMIT_FAIL_OPEN = True
    settings.RATE_LIMIT_PER_IP = "1/m"
    with caplog.at_level(logging.WARNING, logger="inference_api.admission.ratelimits"):
        assert successes(3) == 3
    assert "failing open" in caplog.text


def test_the_dummy_cache_counts_nothing_so_a_system_check_forbids_it(settings):
    # Documented here because it is the silent way to lose rate limiting:
    # the check lives in inference_api.operations.checklist
    # (tests/inference_api/operations/test_checklist.py).
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    settings.RATE_LIMIT_PER_IP = "1/m"
    from inference_api.operations.checklist import check_shared_rate_limit_cache

    assert not check_shared_rate_limit_cache().ok


@pytest.mark.redis
def test_it_counts_in_redis_shared_by_separate_connections(settings, require_redis):
    """Two cache clients (as two workers would hold) see one counter."""
    from django.core.cache import caches

    url = require_redis.rsplit("/", 1)[0] + "/3"
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url},
    }
    caches["ratelimit"].clear()
    settings.RATE_LIMIT_PER_IP = "4/m"
    assert successes(2) == 2
    caches["ratelimit"].close()  # a fresh connection, like another process
    assert successes(5) == 2


def test_the_failure_log_line_holds_no_cache_credentials(settings, caplog):
    cache = unreachable_cache()
    cache["LOCATION"] = cache["LOCATION"].replace("redis://", "redis://:s3cret-pass@")
    settings.CACHES = {**settings.CACHES, "ratelimit": cache}
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(errors.LimiterUnavailable):
            call()
    assert caplog.records
    assert all("s3cret-pass" not in record.getMessage() for record in caplog.records)


def test_a_blocked_client_is_refused_from_the_database_while_the_cache_is_down(settings):
    from inference_api.models import BlockedClient

    BlockedClient.objects.create(network="198.51.100.66")
    BlockedClient.objects.create(network="203.0.113.0/24")
    settings.RATELIMIT_FAIL_OPEN = True
    settings.CACHES = {"default": unreachable_cache(), "ratelimit": unreachable_cache()}

    with pytest.raises(errors.Blocked):
        call(ip="198.51.100.66")
    with pytest.raises(errors.Blocked):
        call(ip="203.0.113.9")
    assert call(ip="198.51.100.67").tally is None  # admitted, uncounted (fail open)
