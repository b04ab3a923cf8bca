"""What a request used, persisted for billing: the day's UsageDay row, and its megapixels.

Part of the audit step, after the answer. Every request under the API is
counted in its client's row for the UTC day and the outcome (one UPDATE, an
INSERT for the first of the day), so a usage report does not depend on the
shared cache, which may be flushed. A classified upload's megapixels (the
decoded image's width x height) are added to the row and charged to the
plan's megapixel allowances on the shared cache (`counters.charge_megapixels`).
Never raises: usage must not cost the client its answer or the audit its row.
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from ..admission import counters
from ..context import RequestRecord
from ..models import UsageDay

logger = logging.getLogger(__name__)


def megapixels_of(record: RequestRecord) -> float:
    """The megapixels a request is charged: a classified upload's decoded size, else none."""
    examined = record.examined
    if record.outcome.code != "ok" or examined is None or not examined.width or not examined.height:
        return 0.0
    return examined.width * examined.height / 1_000_000


def count_usage(record: RequestRecord) -> None:
    """Count the request in its UsageDay row and charge its megapixels; logs failures."""
    megapixels = megapixels_of(record)
    try:
        _count_row(record, megapixels)
    except Exception:
        logger.exception("usage not counted for %s", record.arrival.request_id)
    admission = record.admission
    if megapixels and admission.terms is not None and admission.bucket:
        examined = record.examined
        try:
            counters.charge_megapixels(
                admission.bucket, admission.terms, examined.width, examined.height
            )
        except counters.CACHE_ERRORS:
            logger.warning("megapixels not charged for %s", record.arrival.request_id)


def _count_row(record: RequestRecord, megapixels: float) -> None:
    from django.utils import timezone

    day = timezone.now().date()
    key = {
        "day": day,
        "api_key_id": record.admission.api_key_id or "",
        "outcome": (record.outcome.code or "unknown")[:40],
    }
    rows = UsageDay.objects.filter(**key)
    change = {"requests": F("requests") + 1, "megapixels": F("megapixels") + megapixels}
    if rows.update(**change):
        return
    try:
        with transaction.atomic():
            UsageDay.objects.create(**key, requests=1, megapixels=megapixels)
    except IntegrityError:  # another worker inserted the day's row first
        rows.update(**change)
