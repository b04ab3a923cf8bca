"""Fixtures of the boundary's tests."""

import time
from collections.abc import Iterator

import django_ratelimit.core
import pytest

from inference_api.sandbox.pool import DecoderPool


@pytest.fixture
def fresh_pool() -> Iterator[DecoderPool]:
    """A pool of one decoder that has decoded nothing yet, so its peak memory is the test's."""
    pool = DecoderPool(spare=0)
    pool.warm()
    yield pool
    pool.close()


class RateLimitClock:
    """The clock django-ratelimit reads, standing still until a test moves it."""

    def __init__(self, now: int) -> None:
        self.now = now

    def time(self) -> float:
        return float(self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds

    def window_end(self, bucket_value: str, period: int) -> int:
        """The last second of `bucket_value`'s current window, as django-ratelimit computes it."""
        return django_ratelimit.core._get_window(bucket_value, period)


@pytest.fixture(autouse=True)
def ratelimit_clock(monkeypatch) -> RateLimitClock:
    """django-ratelimit's clock, pinned for every in-process test.

    Its fixed windows (and so the counts and Retry-After) come from
    `time.time()` read in django_ratelimit.core; a test counting "5/m" that
    straddled a window's end would see its count restart and flake. The
    module's `time` is replaced by this clock (time.time itself, which
    everything else reads, is untouched). Live-server tests cannot pin a
    clock in another process: tests/e2e/test_ratelimit_live.py waits for a
    fresh window instead.
    """
    clock = RateLimitClock(int(time.time()))
    monkeypatch.setattr(django_ratelimit.core, "time", clock)
    return clock
