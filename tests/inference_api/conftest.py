"""Fixtures of the boundary's tests."""

import time
from collections.abc import Iterator

import pytest

from inference_api.admission import windows
from inference_api.sandbox.pool import DecoderPool


@pytest.fixture
def fresh_pool() -> Iterator[DecoderPool]:
    """A pool of one decoder that has decoded nothing yet, so its peak memory is the test's."""
    pool = DecoderPool(spare=0)
    pool.warm()
    yield pool
    pool.close()


class RateLimitClock:
    """The clock the counters read (admission.windows), standing still until a test moves it."""

    def __init__(self, now: int) -> None:
        self.now = now

    def time(self) -> float:
        return float(self.now)

    def advance(self, seconds: int) -> None:
        self.now += seconds

    def window_end(self, bucket_value: str, period: int) -> int:
        """The last second of `bucket_value`'s current window."""
        return windows.window_end(bucket_value, period, self.now)


@pytest.fixture(autouse=True)
def ratelimit_clock(monkeypatch) -> RateLimitClock:
    """The counters' clock, pinned for every in-process test.

    Their fixed windows (and so the counts and Retry-After) come from
    `windows.clock()`; a test counting "5/m" that straddled a window's end
    would see its count restart and flake. Only that function is replaced
    (time.time itself, which everything else reads, is untouched).
    Live-server tests cannot pin a clock in another process:
    tests/e2e/test_ratelimit_live.py waits for a fresh window instead.
    """
    clock = RateLimitClock(int(time.time()))
    monkeypatch.setattr(windows, "clock", clock.time)
    return clock
