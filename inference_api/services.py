"""Database writes of the API: the audit trail, the quarantine, the blocklist.

Nothing here trusts the request record: its values came from the client or
were derived from what it sent. They are truncated to their columns and the
upload's hash is computed again before it names anything.
"""

import hashlib
import ipaddress
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from . import autoblock, quarantine_budget
from .clients import rate_limit_key
from .models import AuditLog, BlockedClient, FlaggedUpload, QuarantinedFile, normalize_network
from .records import OPTIONS_OUTCOME, RequestRecord

logger = logging.getLogger(__name__)

# Answers that cost nothing and that a flood is made of: counted, one row per
# client, outcome and window, so writing the audit cannot become the DoS.
# All are decided before the body is read: wrong keys (401), blocks (403),
# unknown paths (404), wrong methods (405), OPTIONS, over-limit (429), and
# during a Redis outage with the limiter failing closed `service_unavailable`.
AGGREGATED_OUTCOMES = frozenset(
    {
        "rate_limited",
        "blocked",
        "invalid_api_key",
        "method_not_allowed",
        "not_found",
        OPTIONS_OUTCOME,
        "service_unavailable",
    }
)
AGGREGATE_WINDOW_SECONDS = 60
# The blocklist is cached in the shared cache, so every worker sees a change
# as soon as a save or delete drops it; the timeout bounds how stale it gets
# after changes that send no signal (queryset.update, raw SQL).
BLOCKLIST_CACHE_KEY = "blocklist:v1"
BLOCKLIST_CACHE_SECONDS = 30
QUARANTINE_STORAGE = "quarantine"


# --- the audit trail -----------------------------------------------------------------


def audit_request(*, record: RequestRecord, status: int, latency_ms: float) -> None:
    """Persist one request's audit entry; never raises.

    A failure to write must not turn the answer the client is getting into an
    error, so it is caught here. A database error is retried once on a fresh
    connection (a persistent connection may have died with a database
    restart); if that fails too, the whole entry is logged at ERROR as JSON
    (`audit row lost: {...}`), from which it can be replayed, so not even an
    accepted request goes unrecorded.
    """
    try:
        _write_isolated(record, status, latency_ms)
        return
    except Exception as exc:
        failure = exc
    if isinstance(failure, DatabaseError) and not connection.in_atomic_block:
        connection.close()
        try:
            _write_isolated(record, status, latency_ms)
            return
        except Exception as exc:
            failure = exc
    _log_lost(record, status, latency_ms, failure)


def _log_lost(record: RequestRecord, status: int, latency_ms: float, failure: Exception) -> None:
    try:
        entry = json.dumps(_audit_fields(record, status, latency_ms), default=str)
    except Exception:
        entry = repr(record)  # the upload's bytes are left out of the repr
    logger.error("audit row lost: %s", entry, exc_info=failure)


def _write_isolated(record: RequestRecord, status: int, latency_ms: float) -> None:
    # Inside a caller's transaction (ATOMIC_REQUESTS, tests) a failed write must
    # roll back to a savepoint, not poison that transaction. In autocommit, the
    # usual case, no BEGIN/COMMIT is added around the one statement.
    if connection.in_atomic_block:
        with transaction.atomic():
            _write(record, status, latency_ms)
    else:
        _write(record, status, latency_ms)


def _write(record: RequestRecord, status: int, latency_ms: float) -> None:
    if record.outcome in AGGREGATED_OUTCOMES:
        _count_refusal(record, status, latency_ms)
        return
    fields = _audit_fields(record, status, latency_ms)
    if not record.flagged or quarantine_budget.flagged_cap_reached(fields["client_key"]):
        AuditLog.objects.create(**fields)
        return
    placement = _quarantine(record)
    with transaction.atomic():
        entry = AuditLog.objects.create(**_audit_fields(record, status, latency_ms))
        FlaggedUpload.objects.create(
            audit=entry,
            reason=entry.outcome,
            sha256=placement.sha256,
            size=len(record.upload or b"") or record.bytes_received,
            detected_format=entry.detected_format,
            file=placement.file,
            not_stored=placement.not_stored,
        )
    autoblock.count_flagged_upload(client_ip=entry.client_ip)


def client_key_for(ip: str) -> str:
    """The client an address stands for: itself, or its /64 for IPv6."""
    return rate_limit_key(ip)[:64]


def _audit_fields(record: RequestRecord, status: int, latency_ms: float) -> dict:
    return {
        "request_id": record.request_id[:64],
        "client_ip": _valid_ip(record.client_ip),
        "client_key": client_key_for(_valid_ip(record.client_ip)),
        "api_key_id": (record.api_key_id or "")[:150],
        "path": record.path[:200],
        "status": status,
        "outcome": (record.outcome or "unknown")[:40],
        "declared_content_type": record.declared_content_type[:100],
        "detected_format": record.detected_format[:10],
        "bytes_received": max(record.bytes_received, 0),
        "width": record.width,
        "height": record.height,
        "sha256": record.sha256[:64],
        "top_label": record.top_label[:100],
        "top_score": record.top_score,
        "model_version": record.model_version[:40],
        "latency_ms": round(latency_ms, 3),
        "user_agent": record.user_agent[:256],
    }


def _valid_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return "0.0.0.0"


def _count_refusal(record: RequestRecord, status: int, latency_ms: float) -> None:
    """Count one refusal in its client's row for the current window.

    The common case is one UPDATE with `count = count + 1`. The first refusal
    of a window inserts the row; when two workers race to insert it, the
    unique `aggregate_key` lets one win and the other count in its row.
    """
    now = timezone.now()
    window = int(now.timestamp()) // AGGREGATE_WINDOW_SECONDS * AGGREGATE_WINDOW_SECONDS
    fields = _audit_fields(record, status, latency_ms)
    key = f"{fields['outcome']}|{fields['client_key']}|{window}"
    rows = AuditLog.objects.filter(aggregate_key=key)
    if rows.update(count=F("count") + 1, last_seen_at=now):
        return
    try:
        with transaction.atomic():
            AuditLog.objects.create(**fields, aggregate_key=key, created_at=now, last_seen_at=now)
    except IntegrityError:
        rows.update(count=F("count") + 1, last_seen_at=now)


# --- the quarantine ----------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a flagged upload's bytes went: a file, or why they were not kept."""

    sha256: str
    file: QuarantinedFile | None = None
    not_stored: str = FlaggedUpload.NotStored.STORED


def quarantine_storage():
    """The private storage of flagged bytes. Nothing serves it by URL."""
    return storages[QUARANTINE_STORAGE]


def _quarantine(record: RequestRecord) -> Placement:
    """Keep a flagged upload's bytes once per SHA-256, within the budgets.

    Storage failures are logged and reported in the Placement: the audit row
    is written either way.
    """
    if record.upload is None:
        return Placement(sha256=record.sha256[:64], not_stored=FlaggedUpload.NotStored.NO_BYTES)
    data = record.upload
    sha256 = hashlib.sha256(data).hexdigest()
    existing = QuarantinedFile.objects.filter(sha256=sha256).first()
    if existing is not None:
        return Placement(sha256=sha256, file=existing)
    client_key = client_key_for(_valid_ip(record.client_ip))
    refusal = quarantine_budget.admit(client_key, len(data))
    if refusal:
        return Placement(sha256=sha256, not_stored=refusal)
    try:
        stored = _store(data, sha256, client_key)
        quarantine_budget.observe()
        return Placement(sha256=sha256, file=stored)
    except Exception:
        logger.exception("quarantine storage failed for %s", sha256)
        return Placement(sha256=sha256, not_stored=FlaggedUpload.NotStored.STORAGE_ERROR)


def _store(data: bytes, sha256: str, client_key: str) -> QuarantinedFile:
    storage = quarantine_storage()
    # A random name: the client's filename never reaches the storage.
    name = storage.save(f"{secrets.token_hex(16)}.bin", ContentFile(data))
    try:
        with transaction.atomic():
            return QuarantinedFile.objects.create(
                sha256=sha256, storage_name=name, size=len(data), client_key=client_key
            )
    except IntegrityError:
        # Another worker kept the same bytes first: link to its copy.
        storage.delete(name)
        return QuarantinedFile.objects.get(sha256=sha256)


def quarantined_file_open(file: QuarantinedFile):
    """Open a quarantined file's bytes for reading (binary, never decoded)."""
    return quarantine_storage().open(file.storage_name, "rb")


def quarantined_files_delete(file_ids: list[int]) -> int:
    """Delete the given files that no flagged upload points to any more, bytes first.

    Returns how many were deleted. A file whose bytes cannot be deleted keeps
    its row, so the next run tries again instead of leaving bytes untracked.
    """
    deleted = 0
    storage = quarantine_storage()
    for file in QuarantinedFile.objects.filter(id__in=file_ids, uploads__isnull=True):
        try:
            storage.delete(file.storage_name)
        except Exception:
            logger.exception("could not delete quarantined file %s", file.storage_name)
            continue
        file.delete()
        deleted += 1
    return deleted


# --- review ----------------------------------------------------------------------------------


def flagged_upload_review(*, upload: FlaggedUpload, status: str, user) -> None:
    """Record a reviewer's verdict on a flagged upload."""
    upload.mark_reviewed(status, user)
    upload.save(update_fields=["review_status", "reviewed_by", "reviewed_at"])


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
    for block in _blocks_in_force():
        if block.network == canonical and block.in_force(now):
            return block, False
    block = BlockedClient.objects.create(
        network=canonical, reason=reason, created_by=user, expires_at=expires_at
    )
    return block, True


# --- the blocklist ----------------------------------------------------------------------------


def clear_blocklist_cache(**_kwargs) -> None:
    """Drop the cached blocklist (done on every save and delete of a block)."""
    try:
        cache.delete(BLOCKLIST_CACHE_KEY)
    except Exception:
        logger.warning("the blocklist cache could not be cleared", exc_info=True)


post_save.connect(clear_blocklist_cache, sender=BlockedClient, dispatch_uid="blocklist_save")
post_delete.connect(clear_blocklist_cache, sender=BlockedClient, dispatch_uid="blocklist_delete")


def _blocks_in_force() -> list[BlockedClient]:
    try:
        blocks = cache.get(BLOCKLIST_CACHE_KEY)
    except Exception:
        logger.warning("the blocklist cache is unreachable; reading the database", exc_info=True)
        return _load_blocks() or []
    if blocks is None:
        blocks = _load_blocks()
        if blocks is None:
            return []
        try:
            cache.set(BLOCKLIST_CACHE_KEY, blocks, BLOCKLIST_CACHE_SECONDS)
        except Exception:
            logger.warning("the blocklist cache is unreachable", exc_info=True)
    return blocks


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


def find_block(ip: str) -> BlockedClient | None:
    """The block in force that covers `ip`, or None.

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
    for block in _blocks_in_force():
        if block.in_force(now) and any(a in block.ip_network for a in candidates):
            return block
    return None
