"""admission/cache_client.py: the one adapter to Django's Redis cache, held to Django's behaviour.

Values and keys are written through Django's cache API and read back through
the adapter's raw client: a Django release that stores them differently (its
serializer, its key format, its reading of LOCATION) fails here.
"""

import pytest
from django.core.cache import caches

from inference_api.admission import cache_client

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_caches(settings, require_redis) -> str:
    """`default` and `ratelimit` on one test Redis database, as production has them."""
    url = require_redis.rsplit("/", 1)[0] + "/4"
    config = {"BACKEND": cache_client.REDIS_BACKEND, "LOCATION": url,
              "OPTIONS": {"socket_timeout": 2.0}}
    settings.CACHES = {"default": {**config, "KEY_PREFIX": "ia"},
                       "ratelimit": {**config, "KEY_PREFIX": "rl"}}
    caches["default"].clear()
    return url


@pytest.mark.parametrize("value", [7, -3, "entry", {"block_id": 1, "expires": None}, (1, 2.5)])
def test_a_value_django_stored_reads_back_the_same_through_the_raw_client(redis_caches, value):
    cache = caches["default"]
    cache.set("blockindex:probe", value)

    raw = cache_client.raw("default")
    stored = raw.client.get(cache.make_and_validate_key("blockindex:probe"))
    assert raw.loads(stored) == value


def test_a_counter_the_raw_client_increments_is_the_one_django_reads(redis_caches):
    cache = caches["ratelimit"]
    key = cache.make_and_validate_key("rate:probe")
    raw = cache_client.raw("ratelimit")
    raw.client.incrby(key, 5)

    assert cache.get("rate:probe") == 5
    assert raw.loads(None) is None


def test_one_server_with_the_same_options_is_one_round_trip(redis_caches, settings):
    assert cache_client.same_server("default", "ratelimit")
    elsewhere = redis_caches.rsplit("/", 1)[0] + "/5"
    settings.CACHES = {**settings.CACHES,
                       "ratelimit": {**settings.CACHES["ratelimit"], "LOCATION": elsewhere}}
    assert not cache_client.same_server("default", "ratelimit")


def test_it_reads_the_servers_as_django_does(settings):
    settings.CACHES = {**settings.CACHES, "spare": {
        "BACKEND": cache_client.REDIS_BACKEND,
        "LOCATION": "redis://leader:6379/0;redis://replica:6379/0",
    }}
    assert cache_client.servers("spare") == ["redis://leader:6379/0", "redis://replica:6379/0"]
    assert caches["spare"]._servers == cache_client.servers("spare")  # noqa: SLF001 - pinning Django


def test_a_local_cache_is_not_redis(settings):
    settings.CACHES = {**settings.CACHES, "local": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not cache_client.is_redis("local")
    assert not cache_client.same_server("local", "local")
