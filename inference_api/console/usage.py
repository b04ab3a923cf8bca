"""The console's usage page: usage by key over time, keys near their allowance, flagged keys.

Read from what the audit step persists (UsageDay, one row per key, day and
outcome; ExtractionFlag), never from the shared cache: the page shows the
bill's figures. Queries are bounded: one GROUP BY over the window's days,
one over today's and this month's rows of keys on a plan with allowances.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from ..models import ExtractionFlag, KeyPlan, UsageDay

DAYS = 14
TOP_KEYS = 5
# Outcomes that did not spend an allowance (refused by the counters themselves).
NOT_SPENT = ("rate_limited", "quota_exceeded")
NEAR = 0.8


@dataclass(frozen=True)
class KeySeries:
    """One key's requests per day of the window (or "others", or anonymous)."""

    key: str
    label: str
    values: list[int]


@dataclass(frozen=True)
class AllowanceUse:
    """How much of one allowance a key has used."""

    api_key_id: str
    key_name: str
    plan: str
    allowance: str
    used: float
    limit: int

    @property
    def share(self) -> float:
        return self.used / self.limit if self.limit else 0.0

    @property
    def over(self) -> bool:
        return self.used >= self.limit


def window_days(today: date | None = None) -> list[date]:
    today = today or timezone.now().date()
    return [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]


def usage_by_key(days: list[date]) -> list[KeySeries]:
    """Requests per day for the top keys, the other keys together, and anonymous clients."""
    rows = (
        UsageDay.objects.filter(day__gte=days[0])
        .values("day", "api_key_id")
        .annotate(requests=Sum("requests"))
    )
    per_key: dict[str, dict[date, int]] = {}
    for row in rows:
        per_key.setdefault(row["api_key_id"], {})[row["day"]] = row["requests"]
    keyed = sorted((k for k in per_key if k), key=lambda k: -sum(per_key[k].values()))
    names = dict(APIKey.objects.filter(id__in=keyed[:TOP_KEYS]).values_list("id", "name"))
    series = [
        KeySeries(f"k{n}", names.get(k, k[:8]), [per_key[k].get(d, 0) for d in days])
        for n, k in enumerate(keyed[:TOP_KEYS])
    ]
    others = [sum(per_key[k].get(d, 0) for k in keyed[TOP_KEYS:]) for d in days]
    if any(others):
        series.append(KeySeries("others", "other keys", others))
    if "" in per_key:
        series.append(KeySeries("anonymous", "anonymous", [per_key[""].get(d, 0) for d in days]))
    return series


def allowances_in_use(today: date | None = None) -> list[AllowanceUse]:
    """Every allowance of a key's plan used to NEAR or more, most used first."""
    today = today or timezone.now().date()
    plans = {
        kp.api_key_id: kp
        for kp in KeyPlan.objects.select_related("plan", "api_key").exclude(
            plan__requests_per_day=None,
            plan__requests_per_month=None,
            plan__megapixels_per_day=None,
            plan__megapixels_per_month=None,
        )
    }
    if not plans:
        return []
    month = today.replace(day=1)
    rows = (
        UsageDay.objects.filter(api_key_id__in=plans, day__gte=month)
        .exclude(outcome__in=NOT_SPENT)
        .values("api_key_id", "day")
        .annotate(requests=Sum("requests"), megapixels=Sum("megapixels"))
    )
    totals: dict[str, dict[str, float]] = {}
    for row in rows:
        total = totals.setdefault(row["api_key_id"], dict.fromkeys(USED_BY, 0.0))
        for period in ("day", "month"):
            if period == "month" or row["day"] == today:
                total[f"requests_per_{period}"] += row["requests"]
                total[f"megapixels_per_{period}"] += row["megapixels"]
    found = []
    for key_id, used in totals.items():
        assigned = plans[key_id]
        for allowance in USED_BY:
            limit = getattr(assigned.plan, allowance)
            if limit and used[allowance] >= NEAR * limit:
                found.append(
                    AllowanceUse(
                        key_id, assigned.api_key.name, assigned.plan.name,
                        allowance.replace("_", " "), round(used[allowance], 2), limit,
                    )
                )
    return sorted(found, key=lambda use: -use.share)


USED_BY = ("requests_per_day", "requests_per_month", "megapixels_per_day", "megapixels_per_month")


def open_flags() -> list[tuple[ExtractionFlag, str]]:
    """The extraction flags no one has lifted yet, newest first (at most 50), with who it is."""
    flags = list(ExtractionFlag.objects.filter(lifted_at__isnull=True)[:50])
    names = dict(
        APIKey.objects.filter(id__in=[f.api_key_id for f in flags if f.api_key_id])
        .values_list("id", "name")
    )
    return [(flag, names.get(flag.api_key_id) or flag.subject) for flag in flags]
