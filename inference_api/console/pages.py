"""The reviewer's console: the overview page and the landing's review queue.

Everything shown came from clients (addresses, API key ids, reasons): the
template escapes it, and the charts are built by `charts` with format_html.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ..admission.blocklist import is_blocked
from ..audit.autoblock import AUTOMATIC_REASON
from ..models import BlockedClient, ExtractionFlag, FlaggedUpload
from . import charts, overview
from .blocking import block_url

TEMPLATE = "admin/inference_api/overview.html"


@dataclass(frozen=True)
class ClientRow:
    """A top client as the page lists it: count, links to its rows, a block link."""

    client: str
    count: int
    rows_url: str
    block_url: str
    blocked: bool


def overview_view(model_admin: ModelAdmin, request: HttpRequest) -> TemplateResponse:
    """GET the overview for `?window=1h|24h|7d` (default 24h); staff who may view audit rows."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    window = overview.WINDOWS.get(request.GET.get("window", ""), overview.WINDOWS["24h"])
    data = overview.overview_for(window)
    may_block = request.user.has_perm("inference_api.add_blockedclient")
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Overview: {window.label}",
        "opts": model_admin.model._meta,
        "windows": overview.WINDOWS.values(),
        "window": window,
        "data": data,
        "chart": _chart(data),
        "legend": [(s.family, s.label, sum(s.values)) for s in data.series],
        "top_refused": _rows(data.top_refused, "refusals", window, may_block),
        "top_refused_keys": _key_rows(data.top_refused_keys),
        "top_flagged_keys": _key_rows(data.top_flagged_keys),
        "top_flagged": _rows(data.top_flagged, "flagged uploads", window, may_block),
        "flagged_by_reason": [
            (row, _flagged_url(reason=row.client)) for row in data.flagged_by_reason
        ],
        "awaiting_url": _flagged_url(review_status__exact=FlaggedUpload.Review.NEW),
        "model": overview.model_in_service(),
    }
    return TemplateResponse(request, TEMPLATE, context)


def _chart(data: overview.Overview):
    fmt = "%a %Hh" if data.window.span.days >= 2 else "%H:%M"
    labels = [timezone.localtime(slot).strftime(fmt) for slot in data.slots]
    bars = [charts.Bars(s.family, s.label, s.values) for s in data.series]
    return charts.stacked_bars(
        slot_labels=labels, series=bars, title=f"Requests by outcome, {data.window.label}"
    )


def _rows(counts, what: str, window, may_block: bool) -> list[ClientRow]:
    # is_blocked reads the blocklist's index in the cache: no query per row.
    return [
        ClientRow(
            client=row.client,
            count=row.count,
            rows_url=_audit_url(client=row.client),
            block_url=block_url(row.client, f"{row.count} {what} in the {window.label}")
            if may_block
            else "",
            blocked=is_blocked(row.client.split("/")[0]),
        )
        for row in counts
    ]


def _key_rows(counts) -> list[tuple[overview.ClientCount, str, str]]:
    """(count, its audit rows, the key's admin page where it is revoked) per API key."""
    return [
        (
            row,
            _audit_url(api_key_id=row.client),
            reverse("admin:rest_framework_api_key_apikey_change", args=[quote(row.client)]),
        )
        for row in counts
    ]


def _audit_url(**params) -> str:
    return f"{reverse('admin:inference_api_auditlog_changelist')}?{urlencode(params)}"


def _flagged_url(**params) -> str:
    return f"{reverse('admin:inference_api_flaggedupload_changelist')}?{urlencode(params)}"


def review_queue(request: HttpRequest) -> list[tuple[str, int, str]]:
    """What needs a reviewer first, as (what, how many, where): for the admin's landing.

    Only what this user may see; two COUNT queries on indexed columns.
    """
    items = []
    if request.user.has_perm("inference_api.view_flaggedupload"):
        waiting = FlaggedUpload.objects.filter(review_status=FlaggedUpload.Review.NEW).count()
        url = _flagged_url(review_status__exact=FlaggedUpload.Review.NEW)
        items.append(("flagged uploads await review", waiting, url))
    if request.user.has_perm("inference_api.view_blockedclient"):
        automatic = BlockedClient.objects.in_force().filter(reason=AUTOMATIC_REASON).count()
        query = urlencode({"kind": "automatic", "in_force": "yes"})
        url = f"{reverse('admin:inference_api_blockedclient_changelist')}?{query}"
        items.append(("automatic blocks in force", automatic, url))
    if request.user.has_perm("inference_api.view_extractionflag"):
        flagged = ExtractionFlag.objects.filter(lifted_at__isnull=True).count()
        url = reverse("admin:inference_api_usage")
        items.append(("clients flagged for extraction", flagged, url))
    return items
