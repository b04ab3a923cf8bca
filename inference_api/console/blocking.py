"""Blocking from the admin: the confirmation page, its form, and links to it.

A reviewer picks offenders (audit rows, flagged uploads, or a client on the
overview); the confirmation page shows the networks to block, one per line,
which the reviewer may edit (a single address, its /64, a wider CIDR), with
an expiry and a reason. Nothing is blocked before that page is submitted.
"""

import ipaddress
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin, helpers
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from ..admission import blocklist
from ..models import BlockedClient, normalize_network, validate_network

EXPIRIES = {
    "1h": ("1 hour", timedelta(hours=1)),
    "24h": ("24 hours", timedelta(hours=24)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "never": ("never", None),
}
# Wider than this, a typo could refuse a whole provider (or everyone, with
# /0): such blocks are written by hand in the blocked client's add form.
WIDEST_PREFIX = {4: 16, 6: 32}
MAX_NETWORKS = 100
TEMPLATE = "admin/inference_api/block_confirmation.html"


class BlockForm(forms.Form):
    """The networks to block, how long for, and why."""

    networks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 44}),
        help_text="One address or CIDR network per line (203.0.113.7, 203.0.113.0/24, "
        "2001:db8:1:2::/64). Networks wider than /16 (IPv4) or /32 (IPv6) are refused here.",
    )
    expires_in = forms.ChoiceField(
        label="Expires after",
        choices=[(key, label) for key, (label, _) in EXPIRIES.items()],
        initial="24h",
    )
    reason = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 60}))

    def clean_networks(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["networks"].splitlines()]
        lines = list(dict.fromkeys(line for line in lines if line))
        if not lines:
            raise ValidationError("Enter at least one address or network.")
        if len(lines) > MAX_NETWORKS:
            raise ValidationError(f"At most {MAX_NETWORKS} networks at once.")
        for line in lines:
            validate_network(line)
            network = ipaddress.ip_network(line, strict=False)
            if network.prefixlen < WIDEST_PREFIX[network.version]:
                raise ValidationError(f"{line} is wider than /{WIDEST_PREFIX[network.version]}.")
        return [normalize_network(line) for line in lines]

    def expires_at(self):
        delta = EXPIRIES[self.cleaned_data["expires_in"]][1]
        return timezone.now() + delta if delta else None


def block_from_form(request: HttpRequest, form: BlockForm) -> list[BlockedClient]:
    """Create the blocks a valid form asks for; tells the reviewer what was done.

    Returns the blocks created (a network already blocked is not blocked twice).
    """
    created, already = [], 0
    for network in form.cleaned_data["networks"]:
        block, new = blocklist.blocked_network_create(
            network=network,
            reason=form.cleaned_data["reason"],
            user=request.user,
            expires_at=form.expires_at(),
        )
        if new:
            created.append(block)
        else:
            already += 1
    names = ", ".join(block.network for block in created) or "none"
    messages.success(
        request, f"Blocked {len(created)} network(s): {names}; {already} already blocked."
    )
    return created


def confirm_block_action(
    model_admin: ModelAdmin,
    request: HttpRequest,
    *,
    selected: Iterable,
    clients: list[str],
    reason: str,
) -> TemplateResponse | None:
    """An admin action's confirmation step: the form, then the blocks once it is posted.

    Returns the page to show, or None (back to the change list) once blocked.
    """
    if request.POST.get("post") == "yes":
        form = BlockForm(request.POST)
        if form.is_valid():
            block_from_form(request, form)
            return None
    else:
        form = BlockForm(initial={"networks": "\n".join(dict.fromkeys(clients)), "reason": reason})
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Block these clients?",
        "opts": model_admin.model._meta,
        "form": form,
        "action": request.POST.get("action", ""),
        "selected": [obj.pk for obj in selected],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, TEMPLATE, context)


def block_page(model_admin: ModelAdmin, request: HttpRequest) -> TemplateResponse | None:
    """The confirmation page reached by a link (`?networks=...&reason=...`).

    Returns the page, or None once the blocks are made (the caller redirects).
    """
    if request.method == "POST":
        form = BlockForm(request.POST)
        if form.is_valid():
            block_from_form(request, form)
            return None
    else:
        initial = {key: request.GET.get(key, "")[:500] for key in ("networks", "reason")}
        form = BlockForm(initial=initial)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Block this client?",
        "opts": model_admin.model._meta,
        "form": form,
    }
    return TemplateResponse(request, TEMPLATE, context)


def block_url(client: str, reason: str) -> str:
    """The confirmation page for blocking `client` (an address or network)."""
    query = urlencode({"networks": client, "reason": reason[:500]})
    return f"{reverse('admin:inference_api_blockedclient_block')}?{query}"


def evidence_client(block: BlockedClient) -> str | None:
    """The audit rows' client key a block stands for, when it is exactly one client.

    An IPv4 address or an IPv6 /64 is one client (as counted by the rate
    limit and the audit trail); a wider or narrower network is not.
    """
    network = block.ip_network
    if network.version == 4 and network.prefixlen == 32:
        return str(network.network_address)
    if network.version == 6 and network.prefixlen == 64:
        return str(network)
    return None
