"""The admin's list filters: outcomes, statuses, one client, kinds of block, blocks in force.

Each offers choices known to the code, never a SELECT DISTINCT over a big
table; a client filter offers only the client in the URL.
"""

from http import HTTPStatus

from django.contrib import admin

from .. import outcomes
from ..audit.autoblock import AUTOMATIC_REASON


def known_outcomes() -> list[tuple[str, str]]:
    """Every outcome a row can hold (outcomes.py), the `http_NNN` family as one choice."""
    family = (outcomes.HTTP_STATUS_FAMILY, f"{outcomes.HTTP_STATUS_FAMILY} (another status >= 400)")
    return [(code, code) for code in outcomes.named()] + [family]


def _known_statuses() -> list[tuple[str, str]]:
    statuses = sorted({int(cls.status) for cls in outcomes.refusals()} | {HTTPStatus.OK})
    return [(str(status), f"{status} {HTTPStatus(status).phrase}") for status in statuses]


class OutcomeFilter(admin.SimpleListFilter):
    """Outcomes known to the code: no SELECT DISTINCT over a big table."""

    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return known_outcomes()

    def queryset(self, request, queryset):
        if self.value() == outcomes.HTTP_STATUS_FAMILY:
            return queryset.filter(outcome__startswith=outcomes.HTTP_STATUS_PREFIX)
        return queryset.filter(outcome=self.value()) if self.value() else queryset


class StatusFilter(admin.SimpleListFilter):
    """HTTP statuses the API answers with."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return _known_statuses()

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(status=int(self.value()))
        return queryset


class ClientFilter(admin.SimpleListFilter):
    """One client's rows (`?client=<address or IPv6 /64>`), as the overview links to them.

    It offers no choices of its own (that would be a SELECT DISTINCT over a big
    table): only the client in the URL, so that the filter shows and applies.
    """

    title = "client"
    parameter_name = "client"
    field = "client_key"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class FlaggedClientFilter(ClientFilter):
    field = "audit__client_key"


class BlockKindFilter(admin.SimpleListFilter):
    """Automatic blocks (reason "automatic", see autoblock.py) apart from a reviewer's."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("automatic", "automatic"), ("manual", "by a reviewer")]

    def queryset(self, request, queryset):
        if self.value() == "automatic":
            return queryset.filter(reason=AUTOMATIC_REASON)
        if self.value() == "manual":
            return queryset.exclude(reason=AUTOMATIC_REASON)
        return queryset


class InForceFilter(admin.SimpleListFilter):
    """Blocks that refuse clients now: active and not expired."""

    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.in_force()
        if self.value() == "no":
            return queryset.not_in_force()
        return queryset
