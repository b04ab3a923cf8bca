"""The blocklist: which clients are refused before anything else is done for them.

Blocks live in the database and are read through an index in the shared
cache (`blockindex`), so a lookup costs the same with no block or 100,000,
and every worker sees a change as soon as a save or delete updates the
index (the signals are connected in `InferenceApiConfig.ready`).
"""

import logging
from datetime import datetime

from ..models import BlockedClient, normalize_network
from . import blockindex
from .clients import client_key_for

logger = logging.getLogger(__name__)


def find_block(ip: str) -> BlockedClient | None:
    """The block in force that covers `ip`, or None (read through the index)."""
    entry = blockindex.lookup(ip)
    return _block_of(entry)


def is_blocked(ip: str) -> bool:
    """Whether a block in force covers `ip`; no database query when the index is warm."""
    return blockindex.lookup(ip) is not None


def _block_of(entry: blockindex.Entry | None) -> BlockedClient | None:
    if entry is None:
        return None
    return BlockedClient.objects.in_force().filter(pk=entry.block_id).first()


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
    existing = BlockedClient.objects.in_force().filter(network=canonical).order_by("id").first()
    if existing is not None:
        return existing, False
    block = BlockedClient.objects.create(
        network=canonical, reason=reason, created_by=user, expires_at=expires_at
    )
    return block, True


def remember_network(sender, instance: BlockedClient, **_kwargs) -> None:
    """pre_save: note the network a block covered before this save (a reviewer may edit it)."""
    if instance.pk is None:
        instance.network_before_save = None
        return
    instance.network_before_save = (
        BlockedClient.objects.filter(pk=instance.pk).values_list("network", flat=True).first()
    )


def update_index(sender, instance: BlockedClient, **_kwargs) -> None:
    """post_save and post_delete: bring the index up to date for the networks this touched."""
    networks = {normalize_network(instance.network)}
    before = instance.network_before_save
    if before:
        networks.add(before)
    for network in networks:
        blockindex.refresh_network(network)


def clear_blocklist_cache() -> None:
    """Drop what the index caches: the next lookup reads the database again."""
    blockindex.forget()
