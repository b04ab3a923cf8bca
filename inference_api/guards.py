"""Step 1 of the request flow: who may call, and how often.

Runs before the upload is parsed, for every request under the API prefix
whatever its method, so a refused client costs one blocklist lookup, at most
one key lookup and one cache increment. A request that fails authentication
is charged too (to its address), before it is refused: a flood of wrong keys
spends the client's limit like a flood of uploads.
"""

from django.http import HttpRequest

from . import errors, services
from .apikeys import authenticate_api_key
from .clients import client_ip
from .ratelimits import charge, ip_bucket, key_bucket
from .records import RequestRecord


def guard_client(request: HttpRequest, record: RequestRecord) -> None:
    """Refuse a blocked, unauthenticated or over-limit client by raising an ApiError.

    In order: the blocklist (403 `blocked`), then the rate limit of the
    valid key's bucket or of the address's (429 `rate_limited`, or 503 when
    the counters are unreachable and the service fails closed), then the API
    key (401 `invalid_api_key` for a wrong key, or a missing one when keys
    are required). A wrong key is counted in the address's bucket: it cannot
    buy a fresh budget. Fills `record.api_key_id` and `record.rate_key`.
    """
    ip = record.client_ip or client_ip(request)
    if services.find_block(ip) is not None:
        raise errors.Blocked()
    try:
        api_key = authenticate_api_key(request)
    except errors.InvalidApiKey:
        _charge(request, record, ip_bucket(ip))
        raise
    if api_key is not None:
        record.api_key_id = api_key.pk
        _charge(request, record, key_bucket(api_key.prefix))
    else:
        _charge(request, record, ip_bucket(ip))


def _charge(request: HttpRequest, record: RequestRecord, bucket) -> None:
    record.rate_key = bucket.value
    charge(request, bucket)
