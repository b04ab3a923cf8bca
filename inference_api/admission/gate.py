"""Step 1 of the request pipeline: who may call, and how often.

Runs before the upload is parsed, for every request under the API prefix
whatever its method, so a refused client costs one blocklist lookup, at most
one key lookup and one cache increment. A request that fails authentication
is charged too (to its address), before it is refused: a flood of wrong keys
spends the client's limit like a flood of uploads.
"""

import logging
import time

from django.conf import settings
from django.http import HttpRequest

from .. import errors
from ..context import Admission, Arrival
from . import blockindex, counters
from .apikeys import authenticate_api_key
from .cors import foreign_origin
from .ratelimits import Bucket, enforce, ip_bucket, key_bucket

logger = logging.getLogger(__name__)


def admit_client(request: HttpRequest, arrival: Arrival) -> Admission:
    """Admit the client, or refuse it by raising an ApiError.

    First a browser page on an origin that may not call the API (403
    `origin_not_allowed`, charged to nobody: see cors.py). Then, in order:
    the blocklist (403 `blocked`), then the rate and allowances of
    the valid key's plan or of the address's (429 `rate_limited` or
    `quota_exceeded`, or 503 when the counters are unreachable and the
    service fails closed), then the API key (401 `invalid_api_key` for a
    wrong key, or a missing one when keys are required). A wrong key is
    counted in the address's bucket: it cannot buy a fresh budget. The
    blocklist and the counts come in one round trip to the shared cache
    (`counters.tally`), whatever the number of blocks (`blockindex`). A
    refusal after the count carries the Admission, so its answer still has
    the RateLimit fields.
    """
    ip = arrival.client_ip
    if foreign_origin(request):
        # Before the charge: a hostile page must not spend its visitors' budgets.
        raise errors.OriginNotAllowed()
    try:
        api_key, refusal = authenticate_api_key(request), None
    except errors.InvalidApiKey as exc:
        api_key, refusal = None, exc
    if api_key is not None:
        bucket = key_bucket(api_key.prefix, api_key.pk)
    else:
        bucket = ip_bucket(ip)
    try:
        tally, block, failure = _count(ip, bucket)
    except counters.CACHE_ERRORS as exc:
        tally, block, failure = _count_after_failure(ip, bucket, exc)
    if block is not None:
        raise errors.Blocked()
    admission = Admission(
        api_key_id=api_key.pk if api_key is not None else None,
        bucket=bucket.value,
        terms=bucket.terms,
        tally=tally,
    )
    try:
        enforce(bucket, tally, failure)
        if refusal is not None:
            raise refusal
    except errors.ApiError as exc:
        raise exc.carrying(admission=admission) from None
    return admission


def _count(ip: str, bucket: Bucket) -> tuple[counters.Tally, blockindex.Entry | None, None]:
    """The count and the block, in one round trip to the shared cache; raises CACHE_ERRORS."""
    tally = counters.tally(bucket.value, bucket.terms, blockindex.keys_for(ip))
    return tally, blockindex.lookup(ip, tally.listed), None


def _count_after_failure(
    ip: str, bucket: Bucket, failure: Exception
) -> tuple[counters.Tally | None, blockindex.Entry | None, Exception | None]:
    """The cache failed: the block from the database, and the count asked once more if
    the database took longer to answer than the cache may.

    A database that answers at once while the cache does not is the cache's
    outage: the request is left uncounted (fail closed or open), at no extra
    cost. One that answers only after the cache's timeout has passed is a
    network that stalled both and is back, as when this replica's own link goes
    down for a moment and comes up again while the request waits (the query
    waited for it; tests/e2e/test_multihost.py cuts a replica's link under load):
    the request is counted then, and answered, rather than refused for an outage
    that is over. That second round trip may count the request twice (the
    first one's command can reach Redis once the link is back): a request
    over-counted, never one let through uncounted.
    """
    asked = time.monotonic()
    block = blockindex.lookup_without_cache(ip)
    if block is not None or time.monotonic() - asked <= settings.CACHE_TIMEOUT_SECONDS:
        return None, block, failure
    try:
        counted = _count(ip, bucket)
    except counters.CACHE_ERRORS as again:
        return None, block, again
    logger.warning(
        "Rate-limit cache unavailable (%s), reached again after the database's %.1f s; "
        "counted %s",
        type(failure).__name__, time.monotonic() - asked, bucket.value,
        extra={"rate_limit_failure": "recovered"},
    )
    return counted
