"""Rate limits of the analyze endpoint, counted in the shared "ratelimit" cache.

A request is counted in exactly one bucket: its API key's when it presents a
valid one (RATE_LIMIT_PER_KEY, a key's own higher rate), otherwise its
client's address (RATE_LIMIT_PER_IP, IPv6 per /64). Counters are fixed
windows in the shared cache (`counters`), so every worker sees the same count.

When the cache cannot be reached, RATELIMIT_FAIL_OPEN decides: false (the
default) refuses the request with 503 `service_unavailable` and a
Retry-After, since without counters nothing bounds what a client may send;
true lets it through. A 429 is not used for this: the client is not over
its limit, the service is failing, and monitoring should see a 5xx. Either
way a warning is logged.
"""

import logging
from dataclasses import dataclass

from django.conf import settings

from .. import errors
from .clients import rate_limit_key
from .counters import Tally

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class Bucket:
    """What a request is counted under: a cache key value and its rate ("30/m")."""

    value: str
    rate: str


def ip_bucket(ip: str) -> Bucket:
    """The bucket of an anonymous client: its address (its /64 for IPv6)."""
    return Bucket(value=f"ip:{rate_limit_key(ip)}", rate=settings.RATE_LIMIT_PER_IP)


def key_bucket(key_prefix: str) -> Bucket:
    """The bucket of an API key, named by its public prefix (never the key itself)."""
    return Bucket(value=f"key:{key_prefix}", rate=settings.RATE_LIMIT_PER_KEY)


def enforce(bucket: Bucket, tally: Tally | None, failure: Exception | None = None) -> None:
    """Refuse the request counted in `bucket` when over its rate (429), or when uncounted.

    `tally` is the round trip's answer, None when the cache could not be
    reached (`failure`). Uncounted, the service fails closed (503
    `service_unavailable`) unless RATELIMIT_FAIL_OPEN. Retry-After is the
    whole seconds until the bucket's current window ends.
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return
    if tally is None or tally.count is None:
        _cache_unavailable(bucket, failure)
        return
    if tally.over_limit:
        # The window ends after the second `time_left` counts down to; +1 rounds up.
        raise errors.RateLimited(retry_after=tally.time_left + 1)


def _cache_unavailable(bucket: Bucket, exc: Exception | None) -> None:
    fail_open = settings.RATELIMIT_FAIL_OPEN
    logger.warning(
        "Rate-limit cache unavailable (%s); failing %s for %s",
        type(exc).__name__ if exc else "no answer",
        "open" if fail_open else "closed",
        bucket.value,
        extra={"rate_limit_failure": "open" if fail_open else "closed"},
    )
    if not fail_open:
        raise errors.LimiterUnavailable()
