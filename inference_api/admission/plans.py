"""Which plan a client is on: its rate, its allowances, and what the answer may carry.

A plan (`models.Plan`, edited in the admin) has a rate per minute, daily and
monthly allowances in requests and in megapixels decoded (None: no
allowance), and an output policy: how many labels (top-k, 1-5) and at what
score precision (None: labels only). An API key's plan is its `KeyPlan`;
a key without one is on DEFAULT_KEY_PLAN, an anonymous client on
ANONYMOUS_PLAN. Either setting may be empty: the built-in plan then has the
rate of RATE_LIMIT_PER_KEY or RATE_LIMIT_PER_IP, no allowance and the full
output (top 5, 6 decimals), which is how the service behaved before plans.

Plans are read through a per-process cache of PLAN_CACHE_SECONDS, so an
edit in the admin reaches every worker and replica within that time and a
request costs no query for its plan.
"""

import time
from dataclasses import dataclass, replace

from django.conf import settings

from .windows import parse_rate

FULL_OUTPUT_LABELS = 5
FULL_OUTPUT_DECIMALS = 6


@dataclass(frozen=True)
class Terms:
    """A plan as the admission and the answer apply it.

    `rate` and `period`: requests per window of `period` seconds. The four
    allowances are None when the plan has none. `decimals` None: labels only.
    """

    name: str
    rate: int
    period: int = 60
    requests_per_day: int | None = None
    requests_per_month: int | None = None
    megapixels_per_day: int | None = None
    megapixels_per_month: int | None = None
    top_k: int = FULL_OUTPUT_LABELS
    decimals: int | None = FULL_OUTPUT_DECIMALS

    @property
    def labels_only(self) -> bool:
        return self.decimals is None

    def downgraded(self) -> "Terms":
        """The same plan with labels only (an extraction flag's downgrade)."""
        return replace(self, decimals=None)


def built_in(name: str, rate: str) -> Terms:
    count, period = parse_rate(rate)
    return Terms(name=name, rate=count, period=period)


def terms_of(plan) -> Terms:
    """The Terms of a `models.Plan` row."""
    return Terms(
        name=plan.name,
        rate=plan.rate_per_minute,
        period=60,
        requests_per_day=plan.requests_per_day,
        requests_per_month=plan.requests_per_month,
        megapixels_per_day=plan.megapixels_per_day,
        megapixels_per_month=plan.megapixels_per_month,
        top_k=plan.top_k,
        decimals=plan.score_decimals,
    )


class _Cache:
    """Values kept for PLAN_CACHE_SECONDS in this process."""

    def __init__(self) -> None:
        self.entries: dict[object, tuple[float, object]] = {}

    def get(self, key: object, load):
        now = time.monotonic()
        found = self.entries.get(key)
        if found is not None and now - found[0] < settings.PLAN_CACHE_SECONDS:
            return found[1]
        value = load()
        if len(self.entries) > 10_000:  # keys are bounded by the database's, but never grow past
            self.entries.clear()
        self.entries[key] = (now, value)
        return value

    def clear(self) -> None:
        self.entries.clear()


_cache = _Cache()


def forget_plans(*args, **kwargs) -> None:
    """Drop this process's cached plans (a signal on an admin edit here, or a test)."""
    _cache.clear()


def named(name: str, fallback_rate: str) -> Terms:
    """The plan called `name`, or the built-in one when `name` is empty or unknown."""
    from ..models import Plan

    def load() -> Terms:
        plan = Plan.objects.filter(name=name).first() if name else None
        return terms_of(plan) if plan is not None else built_in(name or "default", fallback_rate)

    return _cache.get(("plan", name, fallback_rate), load)


def anonymous() -> Terms:
    """The plan of a client without an API key."""
    return named(settings.ANONYMOUS_PLAN, settings.RATE_LIMIT_PER_IP)


def for_key(api_key_id: str) -> Terms:
    """The plan of the API key whose id is `api_key_id`, labels only while a flag downgrades it."""
    from ..models import ExtractionFlag, KeyPlan

    def load() -> tuple[Terms | None, bool]:
        assigned = KeyPlan.objects.select_related("plan").filter(api_key_id=api_key_id).first()
        downgraded = ExtractionFlag.objects.filter(
            api_key_id=api_key_id, downgraded=True, lifted_at__isnull=True
        ).exists()
        return (terms_of(assigned.plan) if assigned else None), downgraded

    own, downgraded = _cache.get(("key", api_key_id), load)
    terms = own or named(settings.DEFAULT_KEY_PLAN, settings.RATE_LIMIT_PER_KEY)
    return terms.downgraded() if downgraded else terms
