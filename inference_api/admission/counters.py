"""The admission's one round trip to the shared cache per request.

Step 1 needs two things from the cache every worker shares: the blocklist
index's few entries for this client (`blockindex.keys_for`) and this
request's count in its rate-limit bucket (`ratelimits`). With Redis both go
in one pipeline: MGET the index entries, SET the counter to 0 with its
expiry if it is missing, INCR it.
With another backend (the in-process cache of a quickstart) the same is
done through Django's cache API.

The windows are django-ratelimit's (a fixed period per bucket, its edge
shifted by a hash of the bucket so that buckets do not all reset at once),
so a limit reads as it always has.
"""

import weakref
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _split_rate
from redis import Redis
from redis.exceptions import RedisError

RATELIMIT_CACHE = "ratelimit"
BLOCKLIST_CACHE = "default"
GROUP = "inference_api.analyze"
# What a cache backend raises when its server is down or slow.
CACHE_ERRORS = (RedisError, OSError)

_clients: "weakref.WeakKeyDictionary[object, Redis]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Tally:
    """What the round trip found: the blocklist index's entries and the bucket's count.

    `listed` holds the value of each entry asked for, in order (None where
    it is not cached); `count` is None when the counter could not be counted.
    """

    listed: tuple
    count: int | None
    limit: int
    time_left: int

    @property
    def over_limit(self) -> bool:
        return self.count is not None and self.count > self.limit


def tally(bucket_value: str, rate: str, listed_keys: tuple[str, ...]) -> Tally:
    """Count one request in `bucket_value` at `rate` and read the entries `listed_keys`, at once.

    Raises one of CACHE_ERRORS when the cache cannot be reached.
    """
    limit, period = _split_rate(rate)
    window = _get_window(bucket_value, period)
    counters, blocklist = caches[RATELIMIT_CACHE], caches[BLOCKLIST_CACHE]
    name = f"{GROUP}:{bucket_value}:{window}"
    # _get_window's own clock (a period of 1 s is the current second): a test pins both.
    time_left = window - _get_window(bucket_value, 1)
    if _same_redis(counters, blocklist):
        key = counters.make_and_validate_key(name)
        listed = [blocklist.make_and_validate_key(k) for k in listed_keys]
        raw, _, count = (
            _client(counters)
            .pipeline(transaction=False)
            .mget(listed)
            .set(key, 0, ex=period + EXPIRATION_FUDGE, nx=True)
            .incr(key)
            .execute()
        )
        loads = blocklist._cache._serializer.loads
        values = tuple(None if value is None else loads(value) for value in raw)
        return Tally(listed=values, count=count, limit=limit, time_left=time_left)
    found = blocklist.get_many(listed_keys)
    counters.add(name, 0, period + EXPIRATION_FUDGE)
    try:
        count = counters.incr(name)
    except ValueError:  # expired between the add and the incr
        count = None
    values = tuple(found.get(k) for k in listed_keys)
    return Tally(listed=values, count=count, limit=limit, time_left=time_left)


def _same_redis(counters, blocklist) -> bool:
    return (
        isinstance(counters, RedisCache)
        and isinstance(blocklist, RedisCache)
        and counters._servers == blocklist._servers
        and counters._options == blocklist._options
    )


def _client(cache: RedisCache) -> Redis:
    """One client per cache object: Django's get_client builds a new one for every call."""
    client = _clients.get(cache._cache)
    if client is None:
        client = Redis(connection_pool=cache._cache._get_connection_pool(write=True))
        _clients[cache._cache] = client
    return client
