"""The audit step: one request's record becomes its one audit row.

This is the only place an audit row is built and written, for an answer, a
refusal, or a worker that died mid-request (gunicorn's master calls `audit`
then). Nothing in the record is trusted: each text is cut to its column and
the address checked before it names anything.
"""

import ipaddress
import json
import logging
from dataclasses import asdict

from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from .. import errors, outcomes
from ..admission.clients import client_key_for
from ..context import RequestRecord
from ..models import AuditLog, FlaggedUpload
from ..operations import metrics
from . import autoblock, extraction, quarantine, quarantine_budget
from .inflight import WORKER_DIED
from .usage import count_usage

logger = logging.getLogger(__name__)

# Answers that cost nothing and that a flood is made of: counted, one row per
# client, outcome and window, so writing the audit cannot become the DoS.
# All are decided before the body is read: wrong keys (401), blocks (403),
# unknown paths (404), wrong methods (405), OPTIONS, over-limit (429), and
# during a Redis outage with the limiter failing closed `service_unavailable`.
AGGREGATED_OUTCOMES = frozenset(
    {
        errors.RateLimited.code,
        errors.Blocked.code,
        errors.OriginNotAllowed.code,
        errors.InvalidApiKey.code,
        errors.MethodNotAllowed.code,
        errors.NotFound.code,
        outcomes.OPTIONS,
        errors.LimiterUnavailable.code,
    }
)
AGGREGATE_WINDOW_SECONDS = 60
UNKNOWN_ADDRESS = "0.0.0.0"


def audit(record: RequestRecord) -> None:
    """Persist one request's audit entry; never raises.

    A failure to write must not turn the answer the client is getting into an
    error, so it is caught here. A database error is retried once on a fresh
    connection (a persistent connection may have died with a database
    restart); if that fails too, the whole entry is logged at ERROR as JSON
    (`audit row lost: {...}`), from which it can be replayed, so not even an
    accepted request goes unrecorded. Once the row is in, the request's
    usage is counted and its extraction signals updated (`_after_the_row`);
    a database that refused the row is not asked again for them.
    """
    try:
        if _write_isolated(record):
            _after_the_row(record)
        return
    except Exception as exc:
        failure = exc
    if isinstance(failure, DatabaseError) and not connection.in_atomic_block:
        connection.close()
        try:
            if _write_isolated(record):
                _after_the_row(record)
            return
        except Exception as exc:
            failure = exc
    _log_lost(record, failure)


def _after_the_row(record: RequestRecord) -> None:
    """The usage row and the extraction signals; each never raises."""
    count_usage(record)
    extraction.observe(record, client_key_for(_valid_ip(record.arrival.client_ip)))


def entry_fields(record: RequestRecord) -> dict:
    """The audit row's columns for `record`, each text cut to its column's length.

    The declared content type is the file part's when a file was received,
    else the request's own header.
    """
    arrival, received = record.arrival, record.received
    examined, classified = record.examined, record.classified
    client_ip = _valid_ip(arrival.client_ip)
    fields = {
        "request_id": arrival.request_id,
        "client_ip": client_ip,
        "client_key": client_key_for(client_ip),
        "api_key_id": record.admission.api_key_id or "",
        "path": arrival.path,
        "status": record.outcome.status,
        "outcome": record.outcome.code or outcomes.UNKNOWN,
        "declared_content_type": received.content_type if received else arrival.content_type,
        "bytes_received": max(received.size, 0) if received else 0,
        "upload_via": received.via if received else "",
        "latency_ms": round(record.latency_ms, 3),
        "user_agent": arrival.user_agent,
    }
    if examined is not None:
        fields.update(
            sha256=examined.sha256,
            detected_format=examined.detected_format,
            width=examined.width,
            height=examined.height,
        )
    if classified is not None:
        fields.update(asdict(classified))
    return _fit(fields)


def _fit(fields: dict) -> dict:
    """Cut every text to its column's max_length: the model is the one source of them."""
    for name, value in fields.items():
        column = AuditLog._meta.get_field(name)
        if isinstance(column, models.CharField) and isinstance(value, str):
            fields[name] = value[: column.max_length]
    return fields


def _valid_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return UNKNOWN_ADDRESS


def _log_lost(record: RequestRecord, failure: Exception) -> None:
    try:
        entry = json.dumps(entry_fields(record), default=str)
    except Exception:
        entry = repr(record)  # the upload's bytes are left out of the repr
    logger.error("audit row lost: %s", entry, exc_info=failure)


def _write_isolated(record: RequestRecord) -> bool:
    # Inside a caller's transaction (ATOMIC_REQUESTS, tests) a failed write must
    # roll back to a savepoint, not poison that transaction. In autocommit, the
    # usual case, no BEGIN/COMMIT is added around the one statement.
    if connection.in_atomic_block:
        with transaction.atomic():
            return _write(record)
    return _write(record)


def _write(record: RequestRecord) -> bool:
    """Write the record's row; False when it was already in the trail."""
    if _written_before_its_worker_died(record):
        return False
    fields = entry_fields(record)
    if record.outcome.code in AGGREGATED_OUTCOMES:
        _count_refusal(fields)
        return True
    if not record.outcome.flagged:
        AuditLog.objects.create(**fields)
        return True
    if quarantine_budget.flagged_cap_reached(fields["client_key"]):
        AuditLog.objects.create(**fields)
    else:
        _write_flagged(record, fields)
    # Every flagged refusal counts towards an automatic block, kept or not:
    # the quarantine's caps decide what is stored, never who is blocked.
    counted = autoblock.count_flagged_upload(client_ip=fields["client_ip"])
    if counted.capacity is not None:
        metrics.observe_auto_blocks(counted.capacity, refused=counted.refused)
    return True


def _write_flagged(record: RequestRecord, fields: dict) -> None:
    """The audit row and its FlaggedUpload, with the bytes kept if the quarantine has room."""
    received = record.received
    placement = quarantine.keep(
        received.data if received else None,
        client_key=fields["client_key"],
        outcome=record.outcome.code,
    )
    with transaction.atomic():
        entry = AuditLog.objects.create(**fields)
        FlaggedUpload.objects.create(
            audit=entry,
            reason=entry.outcome,
            sha256=placement.sha256 or entry.sha256,
            size=entry.bytes_received,
            detected_format=entry.detected_format,
            file=placement.file,
            not_stored=placement.not_stored,
        )


def _written_before_its_worker_died(record: RequestRecord) -> bool:
    """Whether gunicorn's master hands in a request its worker had already audited.

    A worker clears its in-flight record after writing the row; killed in
    between (seen in tests/e2e/test_multihost.py), it leaves the master a
    record of a request already in the trail, which is then not written twice.
    """
    return record.outcome == WORKER_DIED and AuditLog.objects.filter(
        request_id=record.arrival.request_id
    ).exists()


def _count_refusal(fields: dict) -> None:
    """Count one refusal in its client's row for the current window.

    The common case is one UPDATE with `count = count + 1`. The first refusal
    of a window inserts the row; when two workers race to insert it, the
    unique `aggregate_key` lets one win and the other count in its row.
    """
    now = timezone.now()
    window = int(now.timestamp()) // AGGREGATE_WINDOW_SECONDS * AGGREGATE_WINDOW_SECONDS
    key = f"{fields['outcome']}|{fields['client_key']}|{window}"
    rows = AuditLog.objects.filter(aggregate_key=key)
    if rows.update(count=F("count") + 1, last_seen_at=now):
        return
    try:
        with transaction.atomic():
            AuditLog.objects.create(**fields, aggregate_key=key, created_at=now, last_seen_at=now)
    except IntegrityError:
        rows.update(count=F("count") + 1, last_seen_at=now)
