"""Step 1 of the request pipeline: who may call, and how often.

Runs before the upload is parsed, for every request under the API prefix
whatever its method, so a refused client costs one blocklist lookup, at most
one key lookup and one cache increment. A request that fails authentication
is charged too (to its address), before it is refused: a flood of wrong keys
spends the client's limit like a flood of uploads.
"""

from django.http import HttpRequest

from .. import errors
from ..context import Admission, Arrival
from . import blockindex, counters
from .apikeys import authenticate_api_key
from .cors import foreign_origin
from .ratelimits import enforce, ip_bucket, key_bucket


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
        tally = counters.tally(bucket.value, bucket.terms, blockindex.keys_for(ip))
        block, failure = blockindex.lookup(ip, tally.listed), None
    except counters.CACHE_ERRORS as exc:
        tally, failure = None, exc
        block = blockindex.lookup_without_cache(ip)
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
