"""The admission's one round trip to the shared cache per request: blocklist, rate, allowances.

Step 1 needs from the cache every worker shares: the blocklist index's few
entries for this client (`blockindex.keys_for`), this request's count in its
rate window, and what its plan's allowances have used (`plans`). With Redis
all of it goes in one pipeline: MGET the index's entries, and one Lua
script that counts the request in its rate window and, only when the
request is within its rate and every allowance, counts it against the
request allowances too. The script runs
atomically on the server, so counts are exact across workers and replicas:
no two requests can both take the last unit of an allowance. Megapixel
allowances are read here and charged once the upload's header is known
(`charge_megapixels`, after the answer). With another backend (the
in-process cache of a quickstart, one process) the same is done through
Django's cache API.

Windows (`windows`): the rate's fixed window per bucket, the UTC day and
month for allowances.
"""

from dataclasses import dataclass

from django.core.cache import caches
from redis import Redis
from redis.exceptions import NoScriptError, RedisError

from . import cache_client, windows
from .plans import Terms

RATELIMIT_CACHE = "ratelimit"
BLOCKLIST_CACHE = "default"
GROUP = "inference_api.analyze"
# What a cache backend raises when its server is down or slow.
CACHE_ERRORS = (RedisError, OSError)
# The verdicts of the count.
ADMITTED, OVER_RATE, OVER_ALLOWANCE = 0, 1, 2

# KEYS[1]: the rate counter; KEYS[2..]: allowance counters.
# ARGV[1], ARGV[2]: the rate's limit and the counter's expiry; then three per
# allowance: limit, expiry, and "1" when admission counts it (requests) or
# "0" when it is only read (megapixels, charged after the decode).
# Returns each counter's value and, last, the verdict.
COUNT_SCRIPT = """
local rate = redis.call('INCR', KEYS[1])
if rate == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local used = {rate}
local verdict = 0
if rate > tonumber(ARGV[1]) then verdict = 1 end
for i = 2, #KEYS do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if verdict == 0 and used[i] >= tonumber(ARGV[3 * i - 3]) then verdict = 2 end
end
if verdict == 0 then
  for i = 2, #KEYS do
    if ARGV[3 * i - 1] == '1' then
      used[i] = redis.call('INCR', KEYS[i])
      if used[i] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3 * i - 2]) end
    end
  end
end
used[#KEYS + 1] = verdict
return used
"""

_script_sha: dict[str, str] = {}


@dataclass(frozen=True)
class Counted:
    """One counter as the round trip left it.

    `name` is the policy's name in the RateLimit fields; `used` what the
    window has counted (this request included, for admitted requests);
    `unit` "requests" or "megapixels" (the counter itself is in kilopixels).
    """

    name: str
    used: int
    limit: int
    seconds_left: int
    period: int
    unit: str = "requests"

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass(frozen=True)
class Tally:
    """What the round trip found: the blocklist index's entries, the counters, the verdict.

    `listed` holds the value of each entry asked for, in order (None where
    it is not cached).
    """

    listed: tuple
    rate: Counted
    allowances: tuple[Counted, ...] = ()
    verdict: int = ADMITTED

    @property
    def over_limit(self) -> bool:
        return self.verdict == OVER_RATE

    @property
    def over_allowance(self) -> bool:
        return self.verdict == OVER_ALLOWANCE

    @property
    def exhausted(self) -> Counted | None:
        """The allowance this request found used up, if it was refused for one."""
        if not self.over_allowance:
            return None
        return next(c for c in self.allowances if c.used >= c.limit)


@dataclass(frozen=True)
class Counter:
    """A counter to touch: its cache key, its policy, and whether admission counts it."""

    key: str
    name: str
    limit: int
    window: windows.Window
    unit: str
    counted: bool


def counters_of(bucket: str, terms: Terms, now: float | None = None) -> list[Counter]:
    """The counters a request in `bucket` on `terms` touches: the rate's, then the allowances'."""
    rate = windows.rate_window(bucket, terms.period, now)
    day, month = windows.day_window(now), windows.month_window(now)
    found = [Counter(f"{GROUP}:{bucket}:{rate.name}", "rate", terms.rate, rate, "requests", True)]
    allowances = (
        ("day", day, terms.requests_per_day, "requests", "req"),
        ("month", month, terms.requests_per_month, "requests", "req"),
        ("day-megapixels", day, terms.megapixels_per_day, "megapixels", "kpx"),
        ("month-megapixels", month, terms.megapixels_per_month, "megapixels", "kpx"),
    )
    for name, window, limit, unit, kind in allowances:
        if limit is None:
            continue
        scaled = limit * 1000 if unit == "megapixels" else limit
        key = f"quota:{bucket}:{kind}:{window.name}"
        found.append(Counter(key, name, scaled, window, unit, counted=unit == "requests"))
    return found


def tally(bucket: str, terms: Terms, listed_keys: tuple[str, ...]) -> Tally:
    """Count one request in `bucket` on `terms` and read the entries `listed_keys`, at once.

    Raises one of CACHE_ERRORS when the cache cannot be reached.
    """
    counters, blocklist = caches[RATELIMIT_CACHE], caches[BLOCKLIST_CACHE]
    wanted = counters_of(bucket, terms)
    if cache_client.same_server(RATELIMIT_CACHE, BLOCKLIST_CACHE):
        raw, values = _redis_round_trip(counters, blocklist, listed_keys, wanted)
        loads = cache_client.raw(BLOCKLIST_CACHE).loads
        listed = tuple(loads(value) for value in raw)
    else:
        found = blocklist.get_many(listed_keys)
        listed = tuple(found.get(key) for key in listed_keys)
        values = _count_in_django_cache(counters, wanted)
    return _tally(listed, wanted, values)


def _tally(listed: tuple, wanted: list[Counter], values: list[int]) -> Tally:
    *used, verdict = values
    counted = [
        Counted(c.name, int(u), c.limit, c.window.seconds_left, c.window.period, c.unit)
        for c, u in zip(wanted, used, strict=True)
    ]
    return Tally(listed=listed, rate=counted[0], allowances=tuple(counted[1:]), verdict=verdict)


def _script_arguments(wanted: list[Counter]) -> list:
    arguments = [wanted[0].limit, wanted[0].window.expiry]
    for counter in wanted[1:]:
        arguments += [counter.limit, counter.window.expiry, "1" if counter.counted else "0"]
    return arguments


def _redis_round_trip(counters, blocklist, listed_keys: tuple[str, ...], wanted: list[Counter]):
    client = cache_client.raw(RATELIMIT_CACHE).client
    keys = [counters.make_and_validate_key(c.key) for c in wanted]
    listed = [blocklist.make_and_validate_key(key) for key in listed_keys]
    arguments = _script_arguments(wanted)
    sha = _script_sha.get("count") or _load_script(client)
    try:
        raw, values = client.pipeline(transaction=False).mget(listed).evalsha(
            sha, len(keys), *keys, *arguments
        ).execute()
    except NoScriptError:  # the server restarted or flushed its scripts
        sha = _load_script(client)
        raw, values = client.pipeline(transaction=False).mget(listed).evalsha(
            sha, len(keys), *keys, *arguments
        ).execute()
    return raw, values


def _load_script(client: Redis) -> str:
    _script_sha["count"] = client.script_load(COUNT_SCRIPT)
    return _script_sha["count"]


def _count_in_django_cache(cache, wanted: list[Counter]) -> list[int]:
    """The script's logic through Django's cache API (atomic within one process only)."""
    rate_counter, allowances = wanted[0], wanted[1:]
    cache.add(rate_counter.key, 0, rate_counter.window.expiry)
    try:
        rate = cache.incr(rate_counter.key)
    except ValueError:  # expired between the add and the incr
        cache.set(rate_counter.key, 1, rate_counter.window.expiry)
        rate = 1
    used = [int(cache.get(c.key) or 0) for c in allowances]
    verdict = OVER_RATE if rate > rate_counter.limit else ADMITTED
    if verdict == ADMITTED and any(u >= c.limit for u, c in zip(used, allowances, strict=True)):
        verdict = OVER_ALLOWANCE
    if verdict == ADMITTED:
        for index, counter in enumerate(allowances):
            if counter.counted:
                used[index] += 1
                cache.set(counter.key, used[index], counter.window.expiry)
    return [rate, *used, verdict]


def charge_megapixels(bucket: str, terms: Terms, width: int, height: int) -> None:
    """Add a decoded upload's megapixels to the bucket's megapixel allowances, if it has any.

    Called after the answer. Raises one of CACHE_ERRORS when the cache cannot be reached.
    """
    wanted = [c for c in counters_of(bucket, terms)[1:] if c.unit == "megapixels"]
    if not wanted:
        return
    kilopixels = max(round(width * height / 1000), 1)
    cache = caches[RATELIMIT_CACHE]
    if cache_client.is_redis(RATELIMIT_CACHE):
        pipe = cache_client.raw(RATELIMIT_CACHE).client.pipeline(transaction=False)
        for counter in wanted:
            key = cache.make_and_validate_key(counter.key)
            pipe.incrby(key, kilopixels).expire(key, counter.window.expiry)
        pipe.execute()
        return
    for counter in wanted:
        cache.set(counter.key, int(cache.get(counter.key) or 0) + kilopixels, counter.window.expiry)
