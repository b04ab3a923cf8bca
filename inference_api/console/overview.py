"""What the reviewer's overview shows: aggregates of the audit trail over a window.

Every number comes from one GROUP BY over the window's rows, so the page
costs the same dozen queries whatever the table's size; the indexes of
migration 0002 let PostgreSQL answer them from the index alone. Aggregated
rows (floods of refusals) count `count` requests each.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from django.conf import settings
from django.core.files.storage import storages
from django.db.models import Count, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from .. import errors, outcomes
from ..models import AuditLog, FlaggedUpload, QuarantinedFile

TOP_CLIENTS = 10
SHED_OUTCOME = errors.Overloaded.code
RATE_LIMITED_OUTCOME = errors.RateLimited.code


@dataclass(frozen=True)
class Window:
    """A span of time ending now, cut into `slot`-long bars (truncated by `trunc` first)."""

    key: str
    label: str
    span: timedelta
    slot: timedelta
    trunc: str
    slot_label: str


WINDOWS = {
    w.key: w
    for w in (
        Window("1h", "last hour", timedelta(hours=1), timedelta(minutes=5), "minute", "5 minutes"),
        Window("24h", "last 24 hours", timedelta(hours=24), timedelta(hours=1), "hour", "1 hour"),
        Window("7d", "last 7 days", timedelta(days=7), timedelta(hours=6), "hour", "6 hours"),
    )
}
DEFAULT_WINDOW = "24h"


def outcome_family(status: int) -> str:
    """The chart's series a status falls in: accepted, each 4xx status, 429, 5xx."""
    if status < 400:
        return "accepted"
    if status >= 500:
        return "5xx"
    return str(status)


def family_label(family: str) -> str:
    if family in ("accepted", "5xx"):
        return family
    return f"{family} {HTTPStatus(int(family)).phrase}"


@dataclass(frozen=True)
class Series:
    """Requests of one outcome family, one value per slot."""

    family: str
    label: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class ClientCount:
    """A client (address, IPv6 /64 or API key id) and how many requests it stands for."""

    client: str
    count: int


@dataclass(frozen=True)
class Overview:
    """Everything on the overview page, for one window."""

    window: Window
    since: datetime
    slots: tuple[datetime, ...]
    series: tuple[Series, ...]
    top_refused: tuple[ClientCount, ...]
    top_refused_keys: tuple[ClientCount, ...]
    top_flagged: tuple[ClientCount, ...]
    top_flagged_keys: tuple[ClientCount, ...]
    flagged_by_reason: tuple[ClientCount, ...]
    awaiting_review: int
    quarantine_bytes: int
    quarantine_max_bytes: int
    rate_limited: int
    shed: int

    @property
    def total_requests(self) -> int:
        return sum(sum(s.values) for s in self.series)


def overview_for(window: Window, now: datetime | None = None) -> Overview:
    """The overview of the `window` ending at `now` (default: the current time)."""
    since = window_start(window, now or timezone.now())
    rows = AuditLog.objects.filter(created_at__gte=since)
    slots, series = _series(rows, window, since)
    refusals = _outcome_totals(rows, (RATE_LIMITED_OUTCOME, SHED_OUTCOME))
    flagged = FlaggedUpload.objects.filter(audit__created_at__gte=since)
    return Overview(
        window=window,
        since=since,
        slots=slots,
        series=series,
        top_refused=_top(rows.filter(status__gte=400, status__lt=500), "client_key", Sum("count")),
        top_refused_keys=_top(
            rows.filter(status__gte=400, status__lt=500).exclude(api_key_id=""),
            "api_key_id",
            Sum("count"),
        ),
        top_flagged=_top(flagged, "audit__client_key", Count("id")),
        top_flagged_keys=_top(
            flagged.exclude(audit__api_key_id=""), "audit__api_key_id", Count("id")
        ),
        flagged_by_reason=_top(flagged, "reason", Count("id"), limit=None),
        awaiting_review=FlaggedUpload.objects.filter(
            review_status=FlaggedUpload.Review.NEW
        ).count(),
        quarantine_bytes=QuarantinedFile.objects.aggregate(n=Sum("size", default=0))["n"],
        quarantine_max_bytes=settings.QUARANTINE_MAX_BYTES,
        rate_limited=refusals.get(RATE_LIMITED_OUTCOME, 0),
        shed=refusals.get(SHED_OUTCOME, 0),
    )


def window_start(window: Window, now: datetime) -> datetime:
    """The start of the window's first slot, so that its last slot is the one `now` is in.

    Slots are aligned on multiples of their length since the epoch (UTC), so
    every truncated hour or minute falls inside exactly one slot.
    """
    step = int(window.slot.total_seconds())
    current = int(now.timestamp()) // step * step
    end = datetime.fromtimestamp(current, tz=UTC) + window.slot
    return end - window.span


def _slot_of(moment: datetime, since: datetime, slot: timedelta) -> int:
    return int((moment - since) // slot)


def _series(rows, window: Window, since: datetime) -> tuple[tuple, tuple[Series, ...]]:
    """Requests per slot and family: one GROUP BY (truncated time, status)."""
    count = int(window.span // window.slot)
    slots = tuple(since + window.slot * i for i in range(count))
    grouped = (
        rows.annotate(moment=Trunc("created_at", window.trunc))
        .values("moment", "status")
        .annotate(n=Sum("count"))
        .order_by()
    )
    by_family: dict[str, list[int]] = {}
    for row in grouped:
        index = min(max(_slot_of(row["moment"], since, window.slot), 0), count - 1)
        values = by_family.setdefault(outcome_family(row["status"]), [0] * count)
        values[index] += row["n"]
    order = sorted(by_family, key=lambda f: (f != "accepted", f == "5xx", f))
    return slots, tuple(
        Series(family, family_label(family), tuple(by_family[family])) for family in order
    )


def _top(rows, field: str, measure, limit: int | None = TOP_CLIENTS) -> tuple[ClientCount, ...]:
    grouped = rows.values(field).annotate(n=measure).order_by("-n", field)
    if limit:
        grouped = grouped[:limit]
    return tuple(ClientCount(row[field], row["n"]) for row in grouped)


def _outcome_totals(rows, outcomes: tuple[str, ...]) -> dict[str, int]:
    grouped = rows.filter(outcome__in=outcomes).values("outcome").annotate(n=Sum("count"))
    return {row["outcome"]: row["n"] for row in grouped.order_by()}


@dataclass(frozen=True)
class ModelInService:
    """The model this process serves, or the one it would load, and its SHA-256."""

    version: str
    sha256: str
    loaded: bool


def model_in_service() -> ModelInService:
    """What this process serves; without loading anything when it has not loaded it yet.

    Not loaded: the version of the latest accepted request and the pinned hash
    (MODEL_SHA256, or the one recorded at export).
    """
    from analysis import model_store  # torch is imported only where the model is used

    if model_store.model_loaded():
        described = model_store.get_model().describe()
        return ModelInService(described["version"], described["sha256"], loaded=True)
    # Every accepted row names its model: the newest one is read from the
    # (outcome, created_at) index without scanning.
    latest = (
        AuditLog.objects.filter(outcome=outcomes.OK)
        .order_by("-created_at")
        .values_list("model_version", flat=True)
        .first()
    )
    try:
        sha256 = model_store.expected_sha256(storages["models"], settings.MODEL_FILE_NAME)
    except Exception:  # no pinned hash, or the storage is unreachable: shown as unknown
        sha256 = ""
    return ModelInService(latest or "", sha256, loaded=False)
