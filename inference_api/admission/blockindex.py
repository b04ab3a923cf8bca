"""The blocklist's index in the shared cache: a lookup whose cost does not grow with the blocks.

A block of one client (an IPv4 address or an IPv6 /64: what automatic blocks
and the console's "block this client" make, and the only kind an attacker can
multiply) is one cache entry named for that client, read by name. Every other
block (a reviewer's range: a /24, a /48, a single IPv6 address) is in one
short list read whole; only staff add to it.

So a request reads three entries whatever the number of blocks: the ranges,
the marker that says the client entries were loaded (`built`), and its own
client's entry. `counters.tally` reads them in the same round trip as the
rate counter. While the marker is missing (a cold or flushed cache, or
every BLOCKLIST_INDEX_SECONDS / 2, to drop what changed without a signal),
one worker loads the client entries again and the others ask the database
about their one client meanwhile.

Saves and deletes of a block update its entry at once (the signals are
connected in `InferenceApiConfig.ready`).
"""

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from ..models import BlockedClient, normalize_network
from .clients import IPV6_CLIENT_PREFIX, IPAddress, IPNetwork, client_key_for, parse_address

logger = logging.getLogger(__name__)

RANGES_KEY = "blocklist:v2:ranges"
BUILT_KEY = "blocklist:v2:built"
REBUILDING_KEY = "blocklist:v2:rebuilding"
CLIENT_PREFIX = "blocklist:v2:client:"
# The ranges are re-read this often, for changes that send no signal
# (queryset.update, raw SQL): a short list, so a cheap query.
RANGES_SECONDS = 30
# A client entry lives at most this long; the marker half as long, so the
# entries are written again before they lapse and a change that sent no
# signal (queryset.update; nothing in the app does it) is gone within this
# time. Long, because writing 100,000 entries again takes one request ~3 s.
INDEX_SECONDS = 6 * 3600
REBUILD_CHUNK = 1000


@dataclass(frozen=True)
class Entry:
    """One block as the index keeps it: which row, what it covers, until when (epoch s)."""

    block_id: int
    network: str
    expires: float | None

    @classmethod
    def of(cls, block: BlockedClient) -> "Entry":
        return cls.from_row(block.pk, block.network, block.expires_at)

    @classmethod
    def from_row(cls, block_id: int, network: str, expires_at: datetime | None) -> "Entry":
        return cls(block_id, network, expires_at.timestamp() if expires_at else None)

    def in_force(self, now: float) -> bool:
        return self.expires is None or self.expires > now


# A reviewer's range, parsed once when the list is cached.
Range = tuple[IPNetwork, Entry]


def is_client_network(network: IPNetwork) -> bool:
    """Whether `network` is exactly one client: an IPv4 address, or an IPv6 /64."""
    full = 32 if network.version == 4 else IPV6_CLIENT_PREFIX
    return network.prefixlen == full


def client_entry_key(ip: str) -> str:
    """The name of the entry of the client that `ip` stands for."""
    return CLIENT_PREFIX + normalize_network(client_key_for(ip))


def keys_for(ip: str) -> tuple[str, str, str]:
    """The three entries one lookup for `ip` reads: ranges, built marker, its client's."""
    return RANGES_KEY, BUILT_KEY, client_entry_key(ip)


def lookup(ip: str, found: Sequence | None = None) -> Entry | None:
    """The block in force that covers `ip`, or None.

    `found` is what the cache held for `keys_for(ip)`, in that order (None:
    read them now). A miss is filled from the database; a database that
    cannot be read blocks nobody (logged): a dead database already loses
    the audit, refusing every client on top of that would be an outage.
    """
    address = parse_address(ip)
    if address is None:
        return None
    if found is None:
        try:
            found = _read(keys_for(ip))
        except Exception:
            logger.warning("the blocklist cache is unreachable; asking the database", exc_info=True)
            return lookup_without_cache(ip)
    ranges, built, entry = found
    now = timezone.now().timestamp()
    if not built:
        entry = _entry_after_rebuild(ip) if rebuild() else _client_from_database(ip)
    if entry is not None and entry.in_force(now):
        return entry
    if ranges is None:
        ranges = _cache_ranges()
    return _covering(ranges, address, now)


def lookup_without_cache(ip: str) -> Entry | None:
    """The block in force that covers `ip`, asked of the database (the cache is unreachable)."""
    address = parse_address(ip)
    if address is None:
        return None
    now = timezone.now().timestamp()
    entry = _client_from_database(ip)
    if entry is not None:
        return entry
    return _covering(_ranges_from_database() or (), address, now)


def _entry_after_rebuild(ip: str) -> Entry | None:
    try:
        return cache.get(client_entry_key(ip))
    except Exception:
        return _client_from_database(ip)


def _covering(ranges: Iterable[Range], address: IPAddress, now: float) -> Entry | None:
    for network, entry in ranges:
        if entry.in_force(now) and address in network:
            return entry
    return None


def _read(keys: Sequence[str]) -> tuple:
    values = cache.get_many(keys)
    return tuple(values.get(key) for key in keys)


def _client_from_database(ip: str) -> Entry | None:
    network = normalize_network(client_key_for(ip))
    try:
        block = BlockedClient.objects.in_force().filter(network=network).order_by("id").first()
    except DatabaseError:
        logger.exception("the blocklist could not be read; no client is blocked meanwhile")
        return None
    return Entry.of(block) if block is not None else None


def _ranges_from_database() -> tuple[Range, ...] | None:
    """The blocks in force that are not one client's; None (logged) if the database failed."""
    try:
        blocks = list(BlockedClient.objects.in_force().exclude(_client_networks()).order_by("id"))
    except DatabaseError:
        logger.exception("the blocklist could not be read; no client is blocked meanwhile")
        return None
    return tuple((ipaddress.ip_network(b.network, strict=False), Entry.of(b)) for b in blocks)


def _client_networks() -> Q:
    # Canonical networks (normalize_network): IPv4 ones hold no ':', IPv6 ones do.
    ipv4 = Q(network__endswith="/32") & ~Q(network__contains=":")
    ipv6 = Q(network__endswith=f"/{IPV6_CLIENT_PREFIX}") & Q(network__contains=":")
    return ipv4 | ipv6


def _cache_ranges() -> tuple[Range, ...]:
    ranges = _ranges_from_database()
    if ranges is None:
        return ()  # not cached: the next request asks again
    try:
        cache.set(RANGES_KEY, ranges, RANGES_SECONDS)
    except Exception:
        logger.warning("the blocklist cache is unreachable", exc_info=True)
    return ranges


def rebuild() -> bool:
    """Write every client block in force into the cache, then the marker; whether it was done.

    One worker at a time (a lock entry in the cache); the others go on
    meanwhile, asking the database about their own client.
    """
    try:
        if not cache.add(REBUILDING_KEY, True, timeout=60):
            return False
        try:
            return _rebuild()
        finally:
            cache.delete(REBUILDING_KEY)
    except DatabaseError:
        logger.exception("the blocklist index could not be built; asking the database meanwhile")
    except Exception:
        logger.warning("the blocklist index could not be written", exc_info=True)
    return False


def _rebuild() -> bool:
    rows = (
        BlockedClient.objects.in_force()
        .filter(_client_networks())
        .order_by("-id")
        .values_list("id", "network", "expires_at")
    )
    chunk: dict[str, Entry] = {}
    # The oldest block of a client wins, as in _client_from_database: written last.
    for block_id, network, expires_at in rows.iterator(chunk_size=REBUILD_CHUNK):
        chunk[CLIENT_PREFIX + network] = Entry.from_row(block_id, network, expires_at)
        if len(chunk) >= REBUILD_CHUNK:
            cache.set_many(chunk, INDEX_SECONDS)
            chunk = {}
    if chunk:
        cache.set_many(chunk, INDEX_SECONDS)
    cache.set(BUILT_KEY, True, INDEX_SECONDS // 2)
    return True


def refresh_network(network: str) -> None:
    """Bring the index up to date for one network after its blocks changed.

    A client's entry is written again from the database (the block saved
    or deleted may not be the client's only one); a change to a range drops
    the cached ranges. Never raises: the change is in the database already,
    and the marker's expiry catches up with a missed write.
    """
    try:
        parsed = ipaddress.ip_network(network, strict=False)
        if not is_client_network(parsed):
            cache.delete(RANGES_KEY)
            return
        key = CLIENT_PREFIX + normalize_network(network)
        entry = _client_from_database(str(parsed.network_address))
        if entry is None:
            cache.delete(key)
        else:
            cache.set(key, entry, _entry_seconds(entry))
    except Exception:
        logger.warning("the blocklist index could not be updated for %s", network, exc_info=True)


def _entry_seconds(entry: Entry) -> int:
    if entry.expires is None:
        return INDEX_SECONDS
    left = entry.expires - timezone.now().timestamp()
    return max(1, min(INDEX_SECONDS, int(left) + 1))


def forget() -> None:
    """Drop the ranges and the marker: the next lookup reads the database again."""
    try:
        cache.delete_many([RANGES_KEY, BUILT_KEY])
    except Exception:
        logger.warning("the blocklist cache could not be cleared", exc_info=True)
