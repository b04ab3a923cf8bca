"""Automatic temporary blocks for clients that keep sending hostile uploads.

Each flagged upload costs its request one counter increment on the shared
cache (Redis in production, so every worker counts together). Only the
upload that brings a client's count to AUTO_BLOCK_FLAGGED within
AUTO_BLOCK_WINDOW writes anything to the database: a `BlockedClient` with
reason "automatic" that expires after AUTO_BLOCK_FOR. The block is dropped
from the cached blocklist on save, so the client's next request is refused
with 403 `blocked`.

The window is fixed, starting at the client's first flagged upload: the
counter's expiry is set when it is created and increments do not move it.

At most AUTO_BLOCK_MAX_IN_FORCE automatic blocks are in force at once: an
attacker with many addresses can make many blocks, and each is a row and a
cache entry. Past the bound a client at the threshold is not blocked (a
warning is logged, and the caller publishes the `Capacity` as a metric;
the console warns from 80%): the rate limit and the checks still apply to it.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from ..admission import blocklist
from ..admission.clients import client_key_for
from ..models import BlockedClient

logger = logging.getLogger(__name__)

AUTOMATIC_REASON = "automatic"
COUNTER_PREFIX = "autoblock:v1:"


def enabled() -> bool:
    """Whether automatic blocks are on (every one of the three settings above 0)."""
    return min(settings.AUTO_BLOCK_FLAGGED, settings.AUTO_BLOCK_WINDOW, settings.AUTO_BLOCK_FOR) > 0


NEARLY_FULL = 0.8


@dataclass(frozen=True)
class Capacity:
    """How many automatic blocks are in force, against AUTO_BLOCK_MAX_IN_FORCE."""

    in_force: int
    limit: int

    @property
    def full(self) -> bool:
        return self.in_force >= self.limit

    @property
    def ratio(self) -> float:
        return self.in_force / self.limit if self.limit else 1.0

    @property
    def nearly_full(self) -> bool:
        return self.ratio >= NEARLY_FULL


@dataclass(frozen=True)
class Counted:
    """What counting one flagged upload did: the block made (or None), and the
    capacity when the client reached the threshold (None otherwise)."""

    block: BlockedClient | None = None
    capacity: Capacity | None = None
    refused: bool = False


def capacity() -> Capacity:
    """The automatic blocks in force now (one COUNT on the in-force index)."""
    in_force = BlockedClient.objects.in_force().filter(reason=AUTOMATIC_REASON).count()
    return Capacity(in_force=in_force, limit=settings.AUTO_BLOCK_MAX_IN_FORCE)


def count_flagged_upload(*, client_ip: str) -> Counted:
    """Count one flagged upload from `client_ip`; block its client when it reaches the threshold.

    Returns what was done. The client is its address, or its /64 for IPv6,
    as for the rate limit. Never raises: this runs while the audit row is
    written, which must not fail because of it; an unreachable cache only
    means nobody is blocked automatically meanwhile (logged).
    """
    if not enabled():
        return Counted()
    client = client_key_for(client_ip)
    try:
        count = _increment(COUNTER_PREFIX + client)
        if count != settings.AUTO_BLOCK_FLAGGED:
            return Counted()
        current = capacity()
        if current.full:
            logger.warning(
                "client %s reached %d flagged uploads but is not blocked: %d automatic "
                "blocks in force, AUTO_BLOCK_MAX_IN_FORCE=%d",
                client, count, current.in_force, current.limit,
            )
            return Counted(capacity=current, refused=True)
        block = _block(client_ip)
        made = Capacity(current.in_force + (block is not None), current.limit)
        return Counted(block=block, capacity=made)
    except Exception:
        logger.warning("automatic block check failed for %s", client, exc_info=True)
        return Counted()


def _increment(key: str) -> int:
    # add() creates the counter with the window as its expiry and is a no-op
    # when it exists; incr() is atomic in Redis, so two workers never both
    # see the threshold.
    cache.add(key, 0, timeout=settings.AUTO_BLOCK_WINDOW)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=settings.AUTO_BLOCK_WINDOW)
        return 1


def _block(client_ip: str) -> BlockedClient | None:
    block, created = blocklist.blocked_client_create(
        ip=client_ip,
        reason=AUTOMATIC_REASON,
        expires_at=timezone.now() + timedelta(seconds=settings.AUTO_BLOCK_FOR),
    )
    if not created:
        return None
    logger.warning(
        "client %s blocked automatically until %s: %d flagged uploads within %ds",
        block.network,
        block.expires_at,
        settings.AUTO_BLOCK_FLAGGED,
        settings.AUTO_BLOCK_WINDOW,
    )
    return block
