"""The quarantine's budgets, spent fairly: bytes in total, bytes and flagged rows per client.

- Per client (an address, an IPv6 /64): at most QUARANTINE_MAX_BYTES_PER_CLIENT
  bytes kept, and at most QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY flagged
  rows in 24 hours; past that a rejection is audited as an ordinary row.
- In total: at most QUARANTINE_MAX_BYTES. When it is spent, the oldest kept
  files are evicted to make room, so a few clients that filled it early
  cannot stop later hostile uploads from being kept. Files a reviewer
  marked malicious are never evicted: they are the evidence.
- At QUARANTINE_WARN_RATIO of the total the quarantine is "nearly full": a
  gauge says how full it is, the log warns, and the admin shows a warning.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.db.models import Sum
from django.utils import timezone

from ..models import KEPT_BYTES, FlaggedUpload, QuarantinedFile
from ..operations import metrics

logger = logging.getLogger(__name__)

QUARANTINE_STORAGE = "quarantine"
QUARANTINE_WARN_RATIO = 0.8
EVICTION_BATCH = 50
FLAGGED_CAP_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Usage:
    """How much of the total budget the kept files take."""

    used: int
    budget: int

    @property
    def ratio(self) -> float:
        return self.used / self.budget if self.budget > 0 else 1.0

    @property
    def nearly_full(self) -> bool:
        return self.ratio >= QUARANTINE_WARN_RATIO


def usage() -> Usage:
    """The quarantine's bytes now, against QUARANTINE_MAX_BYTES."""
    used = QuarantinedFile.objects.aggregate(total=Sum(KEPT_BYTES))["total"] or 0
    return Usage(used=used, budget=settings.QUARANTINE_MAX_BYTES)


def flagged_cap_reached(client_key: str) -> bool:
    """Whether the client already has its day's share of flagged rows."""
    since = timezone.now() - FLAGGED_CAP_WINDOW
    recent = FlaggedUpload.objects.filter(
        audit__client_key=client_key, audit__created_at__gte=since
    )
    return recent.count() >= settings.QUARANTINE_MAX_FLAGGED_PER_CLIENT_PER_DAY


def admit(client_key: str, size: int) -> str:
    """Why `size` more bytes from `client_key` may not be kept, or "" once there is room.

    The client's own budget first (never made room for); then the total,
    evicting the oldest evictable files if needed. The check and the write
    are not one transaction: concurrent uploads can overshoot a budget by at
    most one upload each, which the budgets allow for.
    """
    mine = QuarantinedFile.objects.filter(client_key=client_key).aggregate(total=Sum(KEPT_BYTES))
    if (mine["total"] or 0) + size > settings.QUARANTINE_MAX_BYTES_PER_CLIENT:
        return FlaggedUpload.NotStored.CLIENT_BUDGET
    over = usage().used + size - settings.QUARANTINE_MAX_BYTES
    if over > 0 and evict_oldest(over) < over:
        return FlaggedUpload.NotStored.TOTAL_BUDGET
    return ""


def evict_oldest(wanted: int) -> int:
    """Delete the oldest evictable kept files until `wanted` bytes are freed; bytes freed.

    Their flagged uploads stay, marked `evicted`. A file whose bytes cannot
    be deleted keeps its row (and its bytes count) and is skipped.
    """
    storage = storages[QUARANTINE_STORAGE]
    freed = 0
    candidates = QuarantinedFile.objects.exclude(
        uploads__review_status=FlaggedUpload.Review.MALICIOUS
    ).order_by("created_at", "id")
    for file in candidates[:EVICTION_BATCH]:
        if freed >= wanted:
            break
        try:
            storage.delete(file.storage_name)
            if file.preview_name:
                storage.delete(file.preview_name)
        except Exception:
            logger.exception("could not evict quarantined file %s", file.storage_name)
            continue
        FlaggedUpload.objects.filter(file=file).update(
            file=None, not_stored=FlaggedUpload.NotStored.EVICTED
        )
        file.delete()
        freed += file.size + file.preview_size
    if freed:
        logger.warning("quarantine full: evicted the oldest files, %d bytes", freed)
    return freed


def observe() -> Usage:
    """Publish the quarantine's fill level (gauge, and a log warning when nearly full)."""
    current = usage()
    metrics.QUARANTINE_USED_RATIO.set(current.ratio)
    if current.nearly_full:
        logger.warning(
            "quarantine %.0f%% full (%d of %d bytes)",
            current.ratio * 100,
            current.used,
            current.budget,
            extra={"quarantine_used_ratio": round(current.ratio, 3)},
        )
    return current
