"""Rate limits and allowances of the analyze endpoint, and the RateLimit fields of its answers.

A request is counted in exactly one bucket: its API key's when it presents a
valid one, otherwise its client's address (IPv6 per /64), on the bucket's
plan (`plans`): its rate per window, and its daily and monthly allowances
of requests and megapixels. Counters are in the shared "ratelimit" cache
(`counters`), so every worker and replica sees the same count. Over the
rate: 429 `rate_limited`; an allowance used up: 429 `quota_exceeded`; both
with Retry-After, the seconds until the window that refused it ends.

Every counted answer carries the IETF RateLimit-Policy and RateLimit fields
(draft-ietf-httpapi-ratelimit-headers), one policy per counter, so a client
can pace itself: `"rate";q=30;w=60` and `"rate";r=12;t=41`.

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
from . import plans
from .clients import rate_limit_key
from .counters import Counted, Tally

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bucket:
    """What a request is counted under: a cache key value and its plan."""

    value: str
    terms: plans.Terms


def ip_bucket(ip: str) -> Bucket:
    """The bucket of an anonymous client: its address (its /64 for IPv6)."""
    return Bucket(value=f"ip:{rate_limit_key(ip)}", terms=plans.anonymous())


def key_bucket(key_prefix: str, api_key_id: str) -> Bucket:
    """The bucket of an API key, named by its public prefix (never the key itself)."""
    return Bucket(value=f"key:{key_prefix}", terms=plans.for_key(api_key_id))


def enforce(bucket: Bucket, tally: Tally | None, failure: Exception | None = None) -> None:
    """Refuse the request counted in `bucket` when over its rate or an allowance, or uncounted.

    `tally` is the round trip's answer, None when the cache could not be
    reached (`failure`). Uncounted, the service fails closed (503
    `service_unavailable`) unless RATELIMIT_FAIL_OPEN.
    """
    if not getattr(settings, "RATELIMIT_ENABLE", True):
        return
    if tally is None:
        _cache_unavailable(bucket, failure)
        return
    if tally.over_limit:
        raise errors.RateLimited(retry_after=tally.rate.seconds_left)
    exhausted = tally.exhausted
    if exhausted is not None:
        raise errors.QuotaExceeded(
            f"This client's {_allowance_words(exhausted)} is used up; it renews in "
            f"{exhausted.seconds_left} seconds (Retry-After).",
            retry_after=exhausted.seconds_left,
        )


def _allowance_words(counted: Counted) -> str:
    period = "daily" if counted.name.startswith("day") else "monthly"
    return f"{period} allowance of {counted.unit}"


def ratelimit_fields(tally: Tally | None) -> dict[str, str]:
    """The RateLimit-Policy and RateLimit header fields for a counted request ({} if uncounted)."""
    if tally is None:
        return {}
    counted = (tally.rate, *tally.allowances)
    return {
        "RateLimit-Policy": ", ".join(_policy(c) for c in counted),
        "RateLimit": ", ".join(_state(c) for c in counted),
    }


def _state(counted: Counted) -> str:
    return f'"{counted.name}";r={_units(counted, counted.remaining)};t={counted.seconds_left}'


def _policy(counted: Counted) -> str:
    unit = ';qu="megapixels"' if counted.unit == "megapixels" else ""
    return f'"{counted.name}";q={_units(counted, counted.limit)};w={counted.period}{unit}'


def _units(counted: Counted, value: int) -> int:
    """Megapixel counters count kilopixels; the fields speak in whole megapixels."""
    return value // 1000 if counted.unit == "megapixels" else value


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
