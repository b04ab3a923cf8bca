"""The blocklist: which clients are refused before anything else is done for them.

Blocks live in the database and are read through the shared cache, so every
worker sees a change as soon as a save or delete drops the cached list (the
signals are connected in `InferenceApiConfig.ready`).
"""

import ipaddress
import logging
from datetime import datetime

from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

from ..models import BlockedClient, normalize_network
from .clients import client_key_for

logger = logging.getLogger(__name__)

# The timeout bounds how stale the cached list gets after changes that send
# no signal (queryset.update, raw SQL).
BLOCKLIST_CACHE_KEY = "blocklist:v1"
BLOCKLIST_CACHE_SECONDS = 30


def find_block(ip: str) -> BlockedClient | None:
    """The block in force that covers `ip`, or None (the blocklist read through the cache)."""
    return block_covering(blocks_in_force(), ip)


def block_covering(blocks: list[BlockedClient], ip: str) -> BlockedClient | None:
    """The block among `blocks` in force now that covers `ip`, or None.

    IPv4 and IPv6; an IPv4-mapped IPv6 address is also matched against IPv4
    networks. An unparsable address matches nothing.
    """
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    now = timezone.now()
    for block in blocks:
        if block.in_force(now) and any(a in block.ip_network for a in candidates):
            return block
    return None


def blocked_client_create(
    *, ip: str, reason: str, user=None, expires_at: datetime | None = None
) -> tuple[BlockedClient, bool]:
    """Block the client `ip` stands for (its address, its /64 for IPv6).

    Returns the block in force for it and whether it was created: an address
    already covered by a block in force is not blocked twice.
    """
    existing = find_block(ip)
    if existing is not None:
        return existing, False
    block = BlockedClient.objects.create(
        network=normalize_network(client_key_for(ip)),
        reason=reason,
        created_by=user,
        expires_at=expires_at,
    )
    return block, True


def blocked_network_create(
    *, network: str, reason: str, user=None, expires_at: datetime | None = None
) -> tuple[BlockedClient, bool]:
    """Block `network` (an address or a CIDR network, as a reviewer wrote it).

    Returns the block and whether it was created: a block in force for the
    very same network is returned instead of a second one.
    """
    canonical = normalize_network(network)
    now = timezone.now()
    for block in blocks_in_force():
        if block.network == canonical and block.in_force(now):
            return block, False
    block = BlockedClient.objects.create(
        network=canonical, reason=reason, created_by=user, expires_at=expires_at
    )
    return block, True


def clear_blocklist_cache(**_kwargs) -> None:
    """Drop the cached blocklist (done on every save and delete of a block)."""
    try:
        cache.delete(BLOCKLIST_CACHE_KEY)
    except Exception:
        logger.warning("the blocklist cache could not be cleared", exc_info=True)


def blocks_in_force() -> list[BlockedClient]:
    """The blocks in force, from the cache if it holds them, else from the database."""
    try:
        cached = cache.get(BLOCKLIST_CACHE_KEY)
    except Exception:
        logger.warning("the blocklist cache is unreachable; reading the database", exc_info=True)
        return _load_blocks() or []
    return blocks_from(cached)


def blocks_from(cached: list[BlockedClient] | None) -> list[BlockedClient]:
    """`cached` as read from the cache, or on a miss the database's blocks (then cached)."""
    if cached is not None:
        return cached
    blocks = _load_blocks()
    if blocks is None:
        return []
    try:
        cache.set(BLOCKLIST_CACHE_KEY, blocks, BLOCKLIST_CACHE_SECONDS)
    except Exception:
        logger.warning("the blocklist cache is unreachable", exc_info=True)
    return blocks


def blocks_without_cache() -> list[BlockedClient]:
    """The blocks in force read from the database, when the cache is unreachable."""
    return _load_blocks() or []


def _load_blocks() -> list[BlockedClient] | None:
    """The blocks in force from the database; None (and a log line) if it failed.

    The caller fails open on None: a dead database already loses the audit,
    and refusing every client on top of that would turn it into an outage.
    """
    try:
        return list(
            BlockedClient.objects.filter(active=True)
            .exclude(expires_at__lte=timezone.now())
            .order_by("id")
        )
    except DatabaseError:
        logger.exception("the blocklist could not be read; no client is blocked meanwhile")
        return None
