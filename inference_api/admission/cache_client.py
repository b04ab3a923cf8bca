"""The raw Redis client of a cache alias, made from what settings.CACHES says of it.

The admission's one round trip (`counters.tally`) sends an MGET and a Lua
script in one Redis pipeline, which Django's cache API cannot express, and
Django's RedisCache has no public way to its redis-py client, its pool or its
serializer. So they are made here from the alias's configuration, the one
documented input: LOCATION (servers separated by `;` or `,`, or a list; the
first is written to), OPTIONS (a `serializer`, else Django's RedisSerializer;
the rest are the connection pool's options). Each process makes one client
per cache object, on first use.

This is the one adapter between the app and Django's Redis cache: its tests
(tests/inference_api/admission/test_cache_client.py) write through Django's cache and
read back here, so a Django release that stores values or keys differently
fails them.
"""

import re
import weakref
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisSerializer
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from redis import ConnectionPool, Redis

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
# OPTIONS that Django reads itself and this adapter does not mirror.
UNSUPPORTED_OPTIONS = ("pool_class", "parser_class")


@dataclass(frozen=True)
class RawRedis:
    """A redis-py client on an alias's first server, and how the alias stores values."""

    client: Redis
    serializer: Any

    def loads(self, raw: bytes | None) -> Any:
        """A stored value as Django's cache would return it (None when absent)."""
        return None if raw is None else self.serializer.loads(raw)


_made: "weakref.WeakKeyDictionary[object, RawRedis]" = weakref.WeakKeyDictionary()


def is_redis(alias: str) -> bool:
    """Whether the cache `alias` is Django's RedisCache."""
    return settings.CACHES.get(alias, {}).get("BACKEND") == REDIS_BACKEND


def servers(alias: str) -> list[str]:
    """The alias's server URLs, as Django's RedisCache reads LOCATION."""
    location = settings.CACHES[alias].get("LOCATION", "")
    return re.split("[;,]", location) if isinstance(location, str) else list(location)


def same_server(first: str, second: str) -> bool:
    """Whether two aliases are one Redis with the same options: one round trip reaches both."""
    if not (is_redis(first) and is_redis(second)):
        return False
    options = [settings.CACHES[alias].get("OPTIONS", {}) for alias in (first, second)]
    return servers(first) == servers(second) and options[0] == options[1]


def raw(alias: str) -> RawRedis:
    """The raw client and serializer of the Redis cache `alias` (made once per cache object)."""
    cache = caches[alias]
    made = _made.get(cache)
    if made is None:
        made = _made[cache] = _make(alias)
    return made


def _make(alias: str) -> RawRedis:
    options = dict(settings.CACHES[alias].get("OPTIONS", {}))
    unsupported = [name for name in UNSUPPORTED_OPTIONS if name in options]
    if unsupported:
        raise ImproperlyConfigured(f"CACHES[{alias!r}] OPTIONS {unsupported}: not supported here")
    serializer = options.pop("serializer", None)
    if isinstance(serializer, str):
        serializer = import_string(serializer)
    if callable(serializer):
        serializer = serializer()
    pool = ConnectionPool.from_url(servers(alias)[0], **options)
    return RawRedis(client=Redis(connection_pool=pool), serializer=serializer or RedisSerializer())
