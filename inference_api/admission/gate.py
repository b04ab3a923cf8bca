"""Step 1 of the request pipeline: who may call, and how often.

Runs before the upload is parsed, for every request under the API prefix
whatever its method, so a refused client costs one blocklist lookup, at most
one key lookup and one cache increment. A request that fails authentication
is charged too (to its address), before it is refused: a flood of wrong keys
spends the client's limit like a flood of uploads.
"""

from django.http import HttpRequest

from .. import errors
from ..facts import Admission, Arrival
from .apikeys import authenticate_api_key
from .blocklist import find_block
from .ratelimits import charge, ip_bucket, key_bucket


def admit_client(request: HttpRequest, arrival: Arrival) -> Admission:
    """Admit the client, or refuse it by raising an ApiError.

    In order: the blocklist (403 `blocked`), then the rate limit of the
    valid key's bucket or of the address's (429 `rate_limited`, or 503 when
    the counters are unreachable and the service fails closed), then the API
    key (401 `invalid_api_key` for a wrong key, or a missing one when keys
    are required). A wrong key is counted in the address's bucket: it cannot
    buy a fresh budget.
    """
    if find_block(arrival.client_ip) is not None:
        raise errors.Blocked()
    try:
        api_key = authenticate_api_key(request)
    except errors.InvalidApiKey:
        charge(request, ip_bucket(arrival.client_ip))
        raise
    if api_key is None:
        charge(request, ip_bucket(arrival.client_ip))
        return Admission()
    charge(request, key_bucket(api_key.prefix))
    return Admission(api_key_id=api_key.pk)
